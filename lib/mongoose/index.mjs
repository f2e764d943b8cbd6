// ESM entry of tenantfence/mongoose: the same objects as the CommonJS entry.
import cjs from './index.js';

export const { Connection, Collection, fenceOf } = cjs;
export default cjs;
