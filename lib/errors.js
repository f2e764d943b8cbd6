'use strict';
// Turns native rejections (`CODE\x1fbody`, see src/binding/error.rs) into the
// errors users expect: TenantError, TypeError (code ERR_INVALID_ARG), TenantFenceError
// (ERR_INTERNAL, ERR_CANCELLED), or Mongo*Error with code/codeName.

const SEP = '\x1f';

/**
 * A refusal by the tenant rules; `code` is TENANT_MISSING | TENANT_INVALID | TENANT_VIOLATION |
 * TENANT_QUOTA. A quota refusal says when to retry (`retryAfterMs`, and a `Retry-After` header).
 */
class TenantError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TenantError';
    this.code = code;
    if (code === 'TENANT_QUOTA') {
      // Express's own error handler answers with `status` and sets `headers`: a quota
      // refusal that reaches it is a 429 with Retry-After, with no handler of the app's.
      const m = /retry after (\d+) ms$/.exec(message);
      this.retryAfterMs = m ? Number(m[1]) : 1000;
      const hidden = (k, value) => Object.defineProperty(this, k, { value, enumerable: false, writable: true, configurable: true });
      hidden('status', 429);
      hidden('statusCode', 429);
      hidden('headers', { 'Retry-After': String(Math.max(1, Math.ceil(this.retryAfterMs / 1000))) });
    }
  }
}

// The driver's error classes, with its hierarchy, names and members (`errorLabels`,
// `hasErrorLabel`, `errmsg`, `errorResponse`; a bulk error's counts), exported so that
// `err instanceof MongoServerError` works as it does with the driver.
const LABELS = Symbol('errorLabels');

/** The base of every MongoDB error. */
class MongoError extends Error {
  constructor(message) {
    super(message);
    this.name = 'MongoError';
    Object.defineProperty(this, LABELS, { value: new Set(), enumerable: false });
  }

  /** The error's labels (`TransientTransactionError`, `RetryableWriteError`, ...). */
  get errorLabels() {
    return [...this[LABELS]];
  }

  /** True when the error carries `label`. */
  hasErrorLabel(label) {
    return this[LABELS].has(label);
  }

  /** Adds a label, as the driver's errors allow. */
  addErrorLabel(label) {
    this[LABELS].add(label);
  }

  /** The legacy name of `message`. */
  get errmsg() {
    return this.message;
  }
}

/** The server's details of a write error arrive as canonical extended JSON: back to BSON values. */
const DETAILS = ['errInfo', 'keyPattern', 'keyValue'];
function withDetails(entry) {
  if (!entry || typeof entry !== 'object') return entry;
  const out = { ...entry };
  for (const k of DETAILS) {
    if (out[k] !== undefined && out[k] !== null) out[k] = require('bson').EJSON.deserialize(out[k]);
  }
  return out;
}

/** An error reported by MongoDB (keeps the server's numeric `code` and `codeName`). */
class MongoServerError extends MongoError {
  constructor(body) {
    super(body.message);
    this.name = 'MongoServerError';
    for (const label of body.labels || []) this.addErrorLabel(label);
    // The server's answer as the fence passes it on (its message may be withheld, docs/errors.md).
    this.errorResponse = body;
    const b = withDetails(body);
    for (const k of ['code', 'codeName', 'errInfo', 'keyPattern', 'keyValue', 'writeErrors', 'result']) {
      if (b[k] !== undefined && b[k] !== null) this[k] = b[k];
    }
  }
}

/** A subclass of `Base` that only names itself (`Base` takes the error body). */
function named(Base, name) {
  const Cls = class extends Base {
    constructor(body) {
      super(body);
      this.name = name;
    }
  };
  Object.defineProperty(Cls, 'name', { value: name });
  return Cls;
}

/** A write concern the server could not satisfy. */
const MongoWriteConcernError = named(MongoServerError, 'MongoWriteConcernError');

/** A batch write (`insertMany`, `bulkWrite`) some of whose writes failed; the rest may have applied. */
class MongoBulkWriteError extends MongoServerError {
  constructor(body) {
    super(body);
    this.name = 'MongoBulkWriteError';
    // As the driver's: each failed write a WriteError, and `result` a BulkWriteResult of what
    // went in before (or besides) the failures.
    const { BulkWriteResult, WriteError } = require('./results');
    const raw = (this.writeErrors || []).map(withDetails);
    this.writeErrors = raw.filter((w) => w.index !== null && w.index !== undefined).map((w) => new WriteError(w));
    this.result = new BulkWriteResult(this.result || {}, raw);
  }

  /** Replaces the counts of `result` (insertMany knows which of its documents went in). */
  setResult(counts) {
    const { BulkWriteResult } = require('./results');
    this.result = new BulkWriteResult({ ...counts }, this.result.getRawResponse().writeErrors.concat(this.result.getRawResponse().writeConcernErrors));
  }

  get insertedCount() {
    return this.result.insertedCount ?? 0;
  }

  get matchedCount() {
    return this.result.matchedCount ?? 0;
  }

  get modifiedCount() {
    return this.result.modifiedCount ?? 0;
  }

  get deletedCount() {
    return this.result.deletedCount ?? 0;
  }

  get upsertedCount() {
    return this.result.upsertedCount ?? 0;
  }

  get insertedIds() {
    return this.result.insertedIds ?? {};
  }

  get upsertedIds() {
    return this.result.upsertedIds ?? {};
  }
}

/** A driver-side failure: the base of the network, server-selection and closed-client errors. */
class MongoDriverError extends MongoError {
  constructor(body) {
    super(body.message);
    this.name = 'MongoDriverError';
    for (const label of body.labels || []) this.addErrorLabel(label);
  }
}

/** A connection to MongoDB broke mid-call. */
const MongoNetworkError = named(MongoDriverError, 'MongoNetworkError');

/** No server could be reached in time. */
const MongoServerSelectionError = named(MongoDriverError, 'MongoServerSelectionError');

/** A misuse of the API the driver names so (a `map()` that returns `null`, ...). */
class MongoAPIError extends MongoDriverError {
  constructor(message) {
    super({ message });
    this.name = 'MongoAPIError';
  }
}

/** The subclass of MongoAPIError named `name`, made from a message or an error body. */
function apiNamed(name) {
  const Cls = class extends MongoAPIError {
    constructor(body) {
      super(typeof body === 'string' ? body : body.message);
      this.name = name;
      for (const label of (body && body.labels) || []) this.addErrorLabel(label);
    }
  };
  Object.defineProperty(Cls, 'name', { value: name });
  return Cls;
}

/** A transaction misused: committed when none was started, started twice, ... */
const MongoTransactionError = apiNamed('MongoTransactionError');

/** An option the connected server is too old for (`sort` on `updateOne` before MongoDB 8.0). */
const MongoCompatibilityError = apiNamed('MongoCompatibilityError');

/** A session used after `endSession()`. */
const MongoExpiredSessionError = apiNamed('MongoExpiredSessionError');

/** A call that did not finish within its `timeoutMS`. */
const MongoOperationTimeoutError = named(MongoDriverError, 'MongoOperationTimeoutError');

/** A call on a fence after `close()`. */
const MongoClientClosedError = named(MongoDriverError, 'MongoClientClosedError');

const SERVER = { MongoServerError, MongoWriteConcernError, MongoBulkWriteError };
const DRIVER = { MongoNetworkError, MongoServerSelectionError, MongoClientClosedError, MongoTransactionError, MongoExpiredSessionError, MongoCompatibilityError };

/** The class for a native error body (`body.name`), with its fields. */
function mongoError(kind, body) {
  if (kind === 'MONGO_SERVER') return new (SERVER[body.name] || MongoServerError)(body);
  if (body.name === 'MongoAPIError') return new MongoAPIError(body.message);
  const Cls = DRIVER[body.name];
  if (Cls) return new Cls(body);
  const e = new MongoDriverError(body);
  e.name = body.name || 'MongoError';
  return e;
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
    case 'TENANT_QUOTA':
      return new TenantError(code, rest);
    case 'ERR_INVALID_ARG':
      return invalidArg(rest);
    case 'ERR_INTERNAL':
    case 'ERR_CANCELLED':
      return new TenantFenceError(code, rest);
    default:
      // MONGO_SERVER or MONGO_DRIVER: the body names the class.
      return mongoError(code, parseBody(rest));
  }
}

module.exports = {
  TenantError,
  TenantFenceError,
  MongoError,
  MongoServerError,
  MongoWriteConcernError,
  MongoBulkWriteError,
  MongoDriverError,
  MongoNetworkError,
  MongoServerSelectionError,
  MongoClientClosedError,
  MongoAPIError,
  MongoTransactionError,
  MongoExpiredSessionError,
  MongoOperationTimeoutError,
  MongoCompatibilityError,
  fromNative,
  invalidArg,
};
