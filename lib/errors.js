'use strict';
// Turns native rejections (`CODE\x1fbody`, see src/binding/error.rs) into the
// errors users expect: TenantError, TypeError (code ERR_INVALID_ARG), TenantFenceError
// (ERR_INTERNAL, ERR_CANCELLED), or Mongo*Error with code/codeName.

const SEP = '\x1f';

/** A refusal by the tenant rules; `code` is TENANT_MISSING | TENANT_INVALID | TENANT_VIOLATION. */
class TenantError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TenantError';
    this.code = code;
  }
}

/** An error reported by MongoDB (keeps the server's numeric `code` and `codeName`). */
class MongoServerError extends Error {
  constructor(body) {
    super(body.message);
    this.name = body.name || 'MongoServerError';
    if (body.code !== undefined) this.code = body.code;
    if (body.codeName) this.codeName = body.codeName;
    if (body.writeErrors) this.writeErrors = body.writeErrors;
    if (body.result) this.result = body.result;
    if (body.labels && body.labels.length) this.errorLabels = body.labels;
  }
}

/** A driver-side failure (server selection timeout, network, closed client). */
class MongoDriverError extends Error {
  constructor(body) {
    super(body.message);
    this.name = body.name || 'MongoError';
    if (body.labels && body.labels.length) this.errorLabels = body.labels;
  }
}

/** A bad argument: a `TypeError` carrying `code` `ERR_INVALID_ARG`, as Node's own carry theirs. */
function invalidArg(message) {
  const e = new TypeError(message);
  e.code = 'ERR_INVALID_ARG';
  return e;
}

/**
 * A failure of tenantfence itself, not of the call's arguments or of MongoDB: `code` is
 * `ERR_INTERNAL` (a panic in the addon, caught and stopped; nothing of it reached Node) or
 * `ERR_CANCELLED` (the addon's runtime shut down before the call finished).
 */
class TenantFenceError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TenantFenceError';
    this.code = code;
  }
}

function parseBody(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** Maps an error thrown by the native addon to the public error classes. */
function fromNative(err) {
  const message = err && typeof err.message === 'string' ? err.message : String(err);
  const at = message.indexOf(SEP);
  if (at < 0) return err;
  const code = message.slice(0, at);
  const rest = message.slice(at + 1);
  switch (code) {
    case 'TENANT_MISSING':
    case 'TENANT_INVALID':
    case 'TENANT_VIOLATION':
      return new TenantError(code, rest);
    case 'ERR_INVALID_ARG':
      return invalidArg(rest);
    case 'ERR_INTERNAL':
    case 'ERR_CANCELLED':
      return new TenantFenceError(code, rest);
    case 'MONGO_SERVER':
      return new MongoServerError(parseBody(rest));
    default:
      return new MongoDriverError(parseBody(rest));
  }
}

module.exports = { TenantError, TenantFenceError, MongoServerError, MongoDriverError, fromNative, invalidArg };
