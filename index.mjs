// ESM entry: the same objects as the CommonJS entry, so classes are identical either way.
import cjs from './index.js';

export const { TenantFence, TenantError, TenantFenceError, FenceSession, BulkWriteResult, WriteError, sendJSON, ObjectId, Decimal128, Long, Binary, Timestamp } = cjs;
export const { MongoError, MongoServerError, MongoWriteConcernError, MongoBulkWriteError, MongoDriverError, MongoNetworkError, MongoServerSelectionError, MongoClientClosedError, MongoAPIError, MongoTransactionError, MongoExpiredSessionError, MongoOperationTimeoutError, MongoCompatibilityError } = cjs;
export default cjs;
