// The ESM entry resolves to the same declarations (the exports map's "types" condition).
import { TenantFence, TenantError, ObjectId, Decimal128, Long, Binary, Timestamp, type TenantErrorCode } from 'tenantfence';
import * as bson from 'bson';
import { check, type Equal } from './assert.js';

check<Equal<typeof ObjectId, typeof bson.ObjectId>>(true);
check<Equal<typeof Decimal128, typeof bson.Decimal128>>(true);
check<Equal<typeof Long, typeof bson.Long>>(true);
check<Equal<typeof Binary, typeof bson.Binary>>(true);
check<Equal<typeof Timestamp, typeof bson.Timestamp>>(true);
check<Equal<TenantError['code'], TenantErrorCode>>(true);
export const connect: typeof TenantFence.connect = TenantFence.connect;
