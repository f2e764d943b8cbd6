'use strict';
// withTenant(id, fn): run test code as a tenant without a fence at hand. The context is
// process-wide (lib/context.js), so one call scopes the collections of every fence.

const { invalidArg } = require('../errors');
const context = require('../context');

/** Runs fn as tenant `tenantId` (default id rule, or options.tenantIdPattern) and returns what fn returns. */
function withTenant(tenantId, fn, options) {
  if (typeof fn !== 'function') throw invalidArg('withTenant(tenantId, fn): fn must be a function');
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw invalidArg('withTenant(tenantId, fn, options): options must be an object');
  }
  let pattern;
  const custom = options && options.tenantIdPattern;
  if (custom !== undefined) {
    if (Object.prototype.toString.call(custom) !== '[object RegExp]') {
      throw invalidArg('options.tenantIdPattern must be a RegExp');
    }
    pattern = new RegExp(custom.source, custom.flags.replace(/[gy]/g, ''));
  }
  let ctx = context.tenantContext(tenantId, pattern);
  // Inside runAsTenants, as fence.runAs: only one of its tenants, ending with it.
  const outer = context.current();
  const about = context.describe(outer);
  if (about && about.limited) ctx = context.narrowed(outer, tenantId, pattern);
  return context.store.run(ctx, fn);
}

module.exports = { withTenant };
