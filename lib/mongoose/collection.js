'use strict';
// The Collection of `tenantfence/mongoose`: Mongoose's own node-mongodb-native Collection (its
// buffering, debug output and operation events) over an adapter of the fence's scoped
// collection. The adapter only translates Mongoose's calling conventions; every call it makes
// is a scoped collection method, so the Rust core sees and decides each one.

const { EventEmitter } = require('node:events');
const { TenantError } = require('../errors');
const { converterFor, readBsonFor } = require('./bson');
const { READ_BSON } = require('../codec');
const { liftForInit } = require('./init');

// Mongoose's own options that it leaves in what it hands the driver (query, populate and cursor
// options: the Node driver ignores them; the fence names any option it does not know, so they
// are dropped here). An option of the app's own invention is still named by the fence.
const MONGOOSE_ONLY = [
  'skipValidation', 'throwOnValidationError', 'model', 'strict', 'strictQuery', 'timestamps', 'lean', 'populate',
  'runValidators', 'overwriteDiscriminatorKey', 'overwriteImmutable', 'translateAliases', 'sanitizeProjection',
  'sanitizeFilter', 'new', 'defaults', 'overwrite', 'rawResult', 'retainNullValues', 'getters', 'transform',
  'setDefaultsOnInsert', 'context', 'multipleCastError', 'omitUndefined', 'middleware', 'requireFilter',
  'updatePipeline', 'virtuals', 'autopopulate', 'clone', 'validateBeforeSave', 'minimize', 'validateModifiedOnly',
];
// Options the Node driver ignores on these methods, which Mongoose may pass to them.
const IGNORED_BY = {
  findOneAndDelete: ['returnDocument', 'returnOriginal', 'upsert', 'arrayFilters'],
  deleteOne: ['projection'],
  deleteMany: ['projection'],
  updateOne: ['projection'],
  updateMany: ['projection'],
  replaceOne: ['projection'],
  countDocuments: ['projection'],
  distinct: ['projection'],
  insertOne: ['projection'],
  insertMany: ['projection'],
  bulkWrite: ['projection'],
};

/** Options as the scoped collection takes them for `method`: Mongoose passes `session: undefined` freely. */
function opts(o, method) {
  if (o == null || typeof o !== 'object' || Array.isArray(o)) return o;
  let out = o;
  const drop = (k) => {
    if (out === o) out = { ...o };
    delete out[k];
  };
  if ('session' in o && o.session == null) drop('session');
  for (const k of MONGOOSE_ONLY) if (k in o) drop(k);
  for (const k of IGNORED_BY[method] || []) if (k in o) drop(k);
  // Mongoose's internal flags (`_skipCastBulkWrite` …); no driver option starts with '_'.
  for (const k of Object.keys(o)) if (k.startsWith('_')) drop(k);
  return out;
}

const noExplain = () => Promise.reject(new TenantError('TENANT_VIOLATION', 'explain is not available under a tenant: the plan shows other tenants\' index entries'));

/**
 * What Model.watch() gets when the fence refuses a change stream: a stream that reports the
 * TenantError as its 'error' event once Mongoose has listened (Mongoose 8 would otherwise emit
 * it before anyone listens, and crash the process).
 */
function refusedStream(error) {
  const s = new EventEmitter();
  s.closed = false;
  setImmediate(() => {
    if (!s.closed) s.emit('error', error);
  });
  const fail = () => Promise.reject(error);
  Object.assign(s, {
    next: fail,
    tryNext: fail,
    hasNext: fail,
    close: async () => {
      s.closed = true;
      s.emit('close');
    },
    [Symbol.asyncIterator]: async function* () {
      throw error;
    },
  });
  return s;
}

/**
 * The driver's `includeResultMetadata: true` result (`{ value, ok, lastErrorObject }`), built
 * from the document the fence returns. Without an upsert, `updatedExisting` is whether a
 * document matched; with one (and the new document asked for) that cannot be told, so refused.
 */
async function withMetadata(run, o, kind) {
  const { includeResultMetadata, ...rest } = o;
  if (!includeResultMetadata) return run(rest);
  if (rest.upsert && kind !== 'delete' && rest.returnDocument !== 'before' && rest.returnOriginal !== true && rest.new !== false) {
    throw new TypeError('includeResultMetadata with upsert is not supported by tenantfence/mongoose (whether the document was inserted cannot be told); use returnDocument: \'before\'');
  }
  const value = await run(rest);
  const lastErrorObject = { n: value ? 1 : rest.upsert ? 1 : 0 };
  if (kind !== 'delete') lastErrorObject.updatedExisting = value != null;
  return { value, ok: 1, lastErrorObject };
}

class ScopedAdapter {
  #scoped;

  /**
   * `toFenceBson`: what makes the Mongoose copy's values the fence's (identity on bson 6);
   * `readBson`: the bson its replies are read with (Mongoose 9's own), or undefined.
   */
  constructor(scoped, toFenceBson, readBson) {
    this.#scoped = scoped;
    this._bson = toFenceBson;
    this._readBson = readBson;
  }

  /** `opts(o, method)` of a call that reads documents, told which bson to read them with. */
  _reading(o, method) {
    const out = opts(o, method);
    if (!this._readBson) return out;
    return { ...(out == null || typeof out !== 'object' || Array.isArray(out) ? {} : out), [READ_BSON]: this._readBson };
  }

  get collectionName() {
    return this.#scoped.collectionName;
  }

  get dbName() {
    return this.#scoped.dbName;
  }

  get namespace() {
    return this.#scoped.namespace;
  }

  find(filter, o) {
    const cursor = this.#scoped.find(this._bson(filter), this._bson(this._reading(o)));
    // Query#explain() calls the cursor's explain: refused as the fence refuses the option.
    cursor.explain = noExplain;
    return cursor;
  }

  aggregate(pipeline, o) {
    const cursor = this.#scoped.aggregate(this._bson(pipeline), this._bson(this._reading(o)));
    cursor.explain = noExplain;
    return cursor;
  }

  findOneAndUpdate(filter, update, o) {
    return withMetadata((r) => this.#scoped.findOneAndUpdate(this._bson(filter), this._bson(update), r), { ...this._bson(this._reading(o, 'findOneAndUpdate')) }, 'update');
  }

  findOneAndReplace(filter, replacement, o) {
    return withMetadata((r) => this.#scoped.findOneAndReplace(this._bson(filter), this._bson(replacement), r), { ...this._bson(this._reading(o, 'findOneAndReplace')) }, 'replace');
  }

  findOneAndDelete(filter, o) {
    return withMetadata((r) => this.#scoped.findOneAndDelete(this._bson(filter), r), { ...this._bson(this._reading(o, 'findOneAndDelete')) }, 'delete');
  }

  /** Model.bulkWrite: Mongoose's per-operation options (`timestamps`, `setDefaultsOnInsert` …) dropped. */
  bulkWrite(operations, o) {
    const ops = Array.isArray(operations)
      ? operations.map((op) => {
          if (op === null || typeof op !== 'object' || Array.isArray(op)) return op;
          const out = {};
          for (const [kind, body] of Object.entries(op)) out[kind] = opts(body, 'bulkWrite.' + kind);
          return out;
        })
      : operations;
    return this.#scoped.bulkWrite(this._bson(ops), this._bson(opts(o, 'bulkWrite')));
  }

  /** Change streams follow the fence's rules (`collection.watch`); a refusal is the stream's 'error'. */
  watch(pipeline, o) {
    if (typeof this.#scoped.watch !== 'function') {
      return refusedStream(new TenantError('TENANT_VIOLATION', 'watch() is not available through tenantfence yet: change streams are refused until the fence offers scoped ones'));
    }
    try {
      return this.#scoped.watch(this._bson(pipeline), this._bson(this._reading(o)));
    } catch (e) {
      return refusedStream(e);
    }
  }
}

// Every other method of the driver's Collection: the scoped collection's own, with the options
// cleaned; one it does not have is refused by name. The number of data arguments each takes
// before its options: only an argument past them is options (`Model.collection.deleteMany({_id})`
// called without options must keep its `_id`, red-team round 27).
const DATA_ARGS = {
  insertOne: 1, insertMany: 1, findOne: 1, countDocuments: 1, estimatedDocumentCount: 0, distinct: 2,
  updateOne: 2, updateMany: 2, replaceOne: 2, deleteOne: 1, deleteMany: 1, bulkWrite: 1, createIndex: 1, createIndexes: 1,
  dropIndex: 1, dropIndexes: 0, listIndexes: 0, indexes: 0, indexExists: 1, indexInformation: 0, drop: 0, rename: 1, options: 0, isCapped: 0,
};
const LAST_OPTIONS = new Set(Object.keys(DATA_ARGS));
// Delegated methods whose replies hold the caller's documents (or values of them).
const READS_DOCUMENTS = new Set(['findOne', 'distinct']);
// What Model.init builds for its model: lifted into an audited runAsSystem (./init.js).
const INIT_BUILDS = new Set(['createIndex', 'createIndexes']);

function delegate(name) {
  return function (...a) {
    const scoped = this._scoped();
    if (typeof scoped[name] !== 'function') {
      throw new TenantError('TENANT_VIOLATION', `collection.${name}() is not available through tenantfence (docs/mongoose.md lists what is)`);
    }
    if (READS_DOCUMENTS.has(name) && this._readBson) {
      // Its documents are read with Mongoose's bson: options past the data arguments, always.
      const at = DATA_ARGS[name];
      a[at] = this._reading(a.length > at ? a[at] : undefined, name);
      a.length = at + 1;
    } else if (LAST_OPTIONS.has(name) && a.length > DATA_ARGS[name]) a[a.length - 1] = opts(a[a.length - 1], name);
    const run = () => scoped[name](...a.map((x) => this._bson(x)));
    return INIT_BUILDS.has(name) ? liftForInit(scoped.collectionName, run) : run();
  };
}

function adapterClass(names) {
  class Adapter extends ScopedAdapter {
    #scoped;

    constructor(scoped, toFenceBson, readBson) {
      super(scoped, toFenceBson, readBson);
      this.#scoped = scoped;
    }

    _scoped() {
      return this.#scoped;
    }
  }
  for (const name of names) {
    if (name === 'constructor' || Object.prototype.hasOwnProperty.call(ScopedAdapter.prototype, name)) continue;
    Object.defineProperty(Adapter.prototype, name, { value: delegate(name), writable: true, configurable: true });
  }
  return Adapter;
}

function collectionClass(NativeCollection, BRAND) {
  const names = new Set([...Object.getOwnPropertyNames(NativeCollection.prototype), ...LAST_OPTIONS]);
  const Adapter = adapterClass(names);

  class FenceCollection extends NativeCollection {
    get [BRAND]() {
      return 'collection';
    }

    onOpen() {
      this.collection = new Adapter(this.conn.db.collection(this.name), converterFor(this.conn.base), readBsonFor(this.conn.base));
      // Mongoose's abstract Collection#onOpen (buffering off, queue flushed).
      Object.getPrototypeOf(NativeCollection.prototype).onOpen.call(this);
      return this.collection;
    }

    _getCollection() {
      if (this.collection) return this.collection;
      if (this.conn.db != null) this.collection = new Adapter(this.conn.db.collection(this.name), converterFor(this.conn.base), readBsonFor(this.conn.base));
      return this.collection;
    }
  }
  return FenceCollection;
}

module.exports = { collectionClass };
