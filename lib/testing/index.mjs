// ESM entry of tenantfence/testing: the same objects as the CommonJS entry.
import cjs from './index.js';

export const { globalSetup, globalTeardown, withTenant, isolationProbe, useIsolationProbe, auditCommand } = cjs;
export default cjs;
