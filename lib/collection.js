'use strict';
// Scoped collection handle: checks arguments, reads the tenant context at each
// call, and makes one native call per method. No tenant rule lives here; Rust
// applies them all.

const { newObjectId } = require('./ids');
const { encode, decode, splitReadOptions, splitWriteOptions, checkKeys, READ, READ_BSON } = require('./codec');
const { splitLimits, bounded, callDeadline, timedOut } = require('./limits');
const { fromNative, TenantError, invalidArg, MongoBulkWriteError } = require('./errors');
const { CallCancel } = require('../binding.js');
const context = require('./context');
const args = require('./args');
const { FenceCursor } = require('./cursor');
const { FenceChangeStream } = require('./change-stream');
const { BulkWriteResult } = require('./results');
const { FenceSession, boundSession } = require('./session');

function withId(doc, name) {
  args.object(doc, name);
  if (doc._id === undefined) {
    // Each tenant's ids come from its own generator (lib/ids.js).
    const _id = newObjectId(context.describe(context.current())?.tenantId ?? '');
    // As the driver does: the generated _id is written back into the caller's object.
    try {
      doc._id = _id;
    } catch {
      return { _id, ...doc };
    }
    if (doc._id === undefined) return { _id, ...doc };
  }
  return doc;
}

// Request keys that differ from the argument names users see in errors.
const ARGUMENT_NAMES = { document: 'doc', documents: 'docs', keys: 'indexSpec', indexes: 'indexSpecs' };

const WRITES = new Set([
  'insertOne', 'insertMany', 'updateOne', 'updateMany', 'replaceOne', 'bulkWrite',
  'findOneAndUpdate', 'findOneAndReplace',
]);

/**
 * The `_id`s a failed insertMany did insert, by index, as the driver reports them: ordered, the
 * documents before the first failure; unordered, every document that did not fail.
 */
function insertedIds(documents, writeErrors, ordered) {
  const failed = new Set((writeErrors || []).map((w) => w.index));
  const first = ordered && failed.size ? Math.min(...failed) : documents.length;
  const out = {};
  for (let i = 0; i < first; i++) if (!failed.has(i)) out[i] = documents[i]._id;
  return out;
}

function options(value) {
  return args.optionalObject(value, 'options');
}

/** A copy of the options with `sort` in the one form Rust takes. */
function sortedOptions(value) {
  const o = { ...options(value) };
  if (o.sort !== undefined) o.sort = args.sort(o.sort);
  if (o.sort === undefined) delete o.sort;
  return o;
}

// Options the driver takes on a method and does not send (or sends to no effect): taken and
// ignored alike, so code moving over keeps working (docs/options.md). `retryWrites` is unused by
// the driver everywhere.
const WRITE_IGNORES = ['readConcern', 'readPreference'];
const IGNORED = {
  insertOne: WRITE_IGNORES,
  insertMany: [...WRITE_IGNORES, 'let'],
  updateOne: WRITE_IGNORES,
  updateMany: WRITE_IGNORES,
  replaceOne: WRITE_IGNORES,
  deleteOne: [...WRITE_IGNORES, 'ordered'],
  deleteMany: [...WRITE_IGNORES, 'ordered'],
  findOneAndUpdate: WRITE_IGNORES,
  findOneAndReplace: WRITE_IGNORES,
  findOneAndDelete: WRITE_IGNORES,
  bulkWrite: WRITE_IGNORES,
  distinct: ['writeConcern'],
  estimatedDocumentCount: ['collation', 'writeConcern'],
  // The driver's count is an aggregation: these change nothing in a count.
  countDocuments: ['writeConcern', 'bypassDocumentValidation'],
  // Without $out or $merge (refused) an aggregation writes nothing.
  aggregate: ['writeConcern', 'bypassDocumentValidation'],
  // The driver's findOne reads one document in a single batch whatever these say; a sort that
  // keeps one document never spills, so allowDiskUse changes nothing.
  findOne: ['batchSize', 'limit', 'noCursorTimeout', 'singleBatch', 'allowDiskUse', 'timeout'],
  createIndex: ['readConcern', 'readPreference'],
  listIndexes: ['noCursorTimeout'],
};
// `rawData` (time-series buckets as stored): the driver sends it only to MongoDB 8.2+, and a
// bucket holds every tenant's measurements, so the fence never sends it.
const EVERYWHERE_IGNORED = ['retryWrites', 'rawData'];

// Methods whose reply is a document, or null: the ones `raw` gives as bytes.
const DOCUMENT_RESULT = new Set(['findOne', 'findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete']);
// Methods that take maxTimeMS: a timeoutMS bounds the server's side too, as the driver's does.
const MAX_TIME = new Set([
  'findOne', 'countDocuments', 'distinct', 'estimatedDocumentCount', 'findOneAndUpdate', 'findOneAndReplace',
  'findOneAndDelete', 'bulkWrite', 'find', 'aggregate', 'listIndexes',
]);

/** `o` with the driver's aggregation option `cursor: { batchSize }` read as `batchSize`. */
function withCursorBatchSize(o) {
  if (!o || o.cursor === undefined) return o;
  const { cursor, ...rest } = o;
  if (cursor !== null && (typeof cursor !== 'object' || Array.isArray(cursor))) throw invalidArg('options.cursor must be an object');
  return cursor && cursor.batchSize !== undefined && rest.batchSize === undefined ? { ...rest, batchSize: cursor.batchSize } : rest;
}

/** The counts of a BulkWriteResult, as plain fields. */
function countsOf(r) {
  const { insertedCount, matchedCount, modifiedCount, deletedCount, upsertedCount, insertedIds, upsertedIds } = r;
  return { insertedCount, matchedCount, modifiedCount, deletedCount, upsertedCount, insertedIds, upsertedIds };
}

/** `options` without what the driver ignores on `operation`. */
function withoutIgnored(operation, options) {
  if (!options) return options;
  const drop = [...EVERYWHERE_IGNORED, ...(IGNORED[operation] || [])].filter((k) => options[k] !== undefined);
  if (!drop.length) return options;
  const rest = { ...options };
  for (const k of drop) delete rest[k];
  return rest;
}

/** The documents a request stores (inserted and replacement documents), for `checkKeys`. */
function storedDocuments(request) {
  const out = [];
  if (request.document) out.push(request.document);
  if (request.documents) out.push(...request.documents);
  if (request.replacement) out.push(request.replacement);
  for (const op of request.operations || []) {
    if (op && op.insertOne) out.push(op.insertOne.document);
    if (op && op.replaceOne) out.push(op.replaceOne.replacement);
  }
  return out;
}

/**
 * Splits the driver's client-side options off `request.options` (BSON write and read options,
 * `timeoutMS` and `signal`, what the driver ignores): [how to decode, how to encode, the limits].
 */
function clientOptions(operation, request, { cursor = false } = {}) {
  const given = request.options;
  // Most calls pass no options: nothing to split (this runs on every call).
  if (given && typeof given === 'object' && !Array.isArray(given) && Object.getPrototypeOf(given) === Object.prototype) {
    let any = false;
    for (const _k in given) {
      any = true;
      break;
    }
    if (!any && given[READ_BSON] === undefined) return [READ, null, null];
  }
  let read;
  let write;
  let limits;
  [request.options, limits] = splitLimits(request.options, { cursor });
  [request.options, write] = splitWriteOptions(request.options);
  [request.options, read] = splitReadOptions(withoutIgnored(operation, request.options));
  if (read.raw && !cursor && !DOCUMENT_RESULT.has(operation)) {
    // As the driver: `raw` gives documents as bytes; counts and write results are still read.
    const { raw: _raw, ...rest } = read;
    read = rest;
  }
  // A cursor's maxTimeMS bounds the server's time over its whole life: not sent for 'iteration'.
  const lifetime = !cursor || (limits && limits.mode !== 'iteration');
  if (limits && limits.timeoutMS && lifetime && MAX_TIME.has(operation) && request.options && request.options.maxTimeMS === undefined) {
    request.options = { ...request.options, maxTimeMS: limits.timeoutMS };
    // The server's MaxTimeMSExpired is then this limit's: reported as the timeout (lib/limits.js).
    limits.serverSide = true;
  }
  if (write && write.checkKeys) for (const d of storedDocuments(request)) checkKeys(d);
  return [read, write, limits];
}

/** The context of a call on `fence` (Rust calls the audit hook for system work). */
function contextFor(fence) {
  const ctx = context.current();
  const about = context.describe(ctx);
  if (!about) return null; // Rust refuses a call without a context (TENANT_MISSING).
  // Rust's word on what the context is, not the JS label.
  if (!ctx.isSystem && !fence._accepts(about)) {
    throw new TenantError('TENANT_INVALID', `tenant id ${JSON.stringify(about.tenantId)} is not valid for this fence`);
  }
  return ctx;
}

/**
 * Takes `options.session` out of the options (it is not sent as BSON): the session the call
 * runs in, or the one `fence.withTransaction` bound to this async chain.
 */
function takeSession(fence, request) {
  const o = request.options;
  if (!o || o.session === undefined) return boundSession(fence);
  const { session, ...rest } = o;
  request.options = rest;
  if (session === null) return undefined;
  if (!(session instanceof FenceSession)) {
    throw invalidArg('options.session must be a session from fence.startSession() (a session of the Node driver cannot be used)');
  }
  return session;
}

/** One native call of `operation` on collection `name` of `fence`; resolves to the decoded reply. */
async function call(fence, native, name, operation, request) {
  const session = takeSession(fence, request);
  // The driver takes its BSON options on every method: they decide how the request is encoded
  // and the reply's documents decoded, and where it holds none they change nothing.
  const [read, write, limits] = clientOptions(operation, request);
  const ctx = contextFor(fence);
  const payload = encode(request, ARGUMENT_NAMES, write);
  let refusedId;
  if (ctx && WRITES.has(operation) && fence._customIds() && ctx.isSystem) {
    // Checked on the bytes that will be sent: a getter or Proxy cannot show one id here and
    // serialize another. Rust applies the hard rules; the custom pattern lives only in JS, and
    // Rust refuses the call with it after the audit hook has seen the call.
    refusedId = native.storedTenantIds(payload).find((id) => !fence._accepts({ tenantId: id }));
  }
  const quota = fence._quotaFor(ctx);
  const deadline = callDeadline(limits);
  const inSession = session && (await bounded(() => session._forCall(fence), limits, deadline));
  // A call given up (timeoutMS, signal) while it waits at its tenant's quota gate is dropped
  // there in Rust, never sent: the caller was told it failed.
  const cancel = limits ? new CallCancel() : undefined;
  let reply;
  try {
    reply = await bounded(() => native.run(ctx, name, operation, payload, refusedId, inSession, quota, cancel), limits, deadline, cancel && (() => cancel.cancel()));
  } catch (e) {
    throw fence._refused(timedOut(fromNative(e), limits), ctx, name, operation);
  }
  return decode(reply, read);
}

/**
 * A cursor over a metadata listing (`listIndexes`, `listCollections`), as the driver's: Rust
 * reads the listing whole when it is first read (one collection has at most 64 indexes).
 */
function listing(fence, native, name, kind, request) {
  const session = takeSession(fence, request);
  const [read, write, limits] = clientOptions(kind, request, { cursor: true });
  const ctx = contextFor(fence);
  const open = async (k, payload) => {
    const inSession = session && (await session._forCall(fence));
    let reply;
    try {
      reply = await native.run(ctx, name, k, payload, undefined, inSession, fence._quotaFor(ctx));
    } catch (e) {
      throw fence._refused(fromNative(e), ctx, name, k);
    }
    let batch = decode(reply, { promoteBuffers: true });
    return {
      async nextBatch() {
        const b = batch;
        batch = null;
        return b && b.length ? b : null;
      },
      // toJSONBuffer(): a listing is small; its batch goes the JS way (JSON.stringify).
      async nextBatchJson() {
        const b = await this.nextBatch();
        return b && { bson: b };
      },
      async close() {
        batch = null;
      },
    };
  };
  return new FenceCursor(open, kind, request, read, limits, write, namespaceOf(fence, name));
}

/**
 * `{ db, collection }` of a cursor made now on `fence`'s collection `name` (the current tenant's
 * database under strategy 'database'), as the driver's `MongoDBNamespace` reads.
 */
function namespaceOf(fence, name) {
  const tenant = fence.currentTenant();
  const db = tenant !== undefined && fence.strategy === 'database' ? fence.databaseFor(tenant) : fence.databaseName;
  const collection = name || undefined;
  return Object.freeze({ db, collection, toString: () => (collection ? `${db}.${collection}` : db) });
}

class ScopedCollection {
  #fence;
  #native;

  constructor(fence, native, name) {
    this.#fence = fence;
    this.#native = native;
    this.collectionName = name;
  }

  #run(operation, request) {
    return call(this.#fence, this.#native, this.collectionName, operation, request);
  }

  /** `fence.db`, as the driver's `collection.db`. */
  get db() {
    return this.#fence.db;
  }

  /**
   * The database this collection's calls reach now: under strategy 'database' the current
   * tenant's (`fence.databaseFor`), else (and outside any tenant) the fence's.
   */
  get dbName() {
    return namespaceOf(this.#fence, this.collectionName).db;
  }

  /** `<dbName>.<collectionName>`. */
  get namespace() {
    return `${this.dbName}.${this.collectionName}`;
  }

  #cursor(kind, request) {
    const session = takeSession(this.#fence, request);
    if (kind === 'aggregate') request.options = withCursorBatchSize(request.options);
    if (kind === 'find' && request.options && typeof request.options.timeout === 'boolean') {
      // As the driver: `timeout: false` is `noCursorTimeout: true` (and wins over it).
      const { timeout, ...rest } = request.options;
      request.options = { ...rest, noCursorTimeout: !timeout };
    }
    const [read, write, limits] = clientOptions(kind, request, { cursor: true });
    const ctx = contextFor(this.#fence);
    const name = this.collectionName;
    const fence = this.#fence;
    if (!ctx) {
      throw fence._refused(new TenantError('TENANT_MISSING', `${kind}() needs a tenant in context: call it inside runAs() or the middleware`), ctx, name, kind);
    }
    const native = this.#native;
    const refused = (e) => {
      throw fence._refused(fromNative(e), ctx, name, kind);
    };
    // The tenant's limits are looked up when the query is sent: a quotas function that throws
    // rejects the first read, as any failure of the query does.
    const open = session
      ? async (k, payload, cancel) => native.openCursor(ctx, name, k, payload, await session._forCall(fence), fence._quotaFor(ctx), cancel).catch(refused)
      : async (k, payload, cancel) => native.openCursor(ctx, name, k, payload, undefined, fence._quotaFor(ctx), cancel).catch(refused);
    return new FenceCursor(open, kind, request, read, limits, write, namespaceOf(fence, name));
  }

  /** Inserts one document stamped with the current tenant. */
  async insertOne(doc, opts) {
    const document = withId(doc, 'doc');
    return this.#run('insertOne', { document, options: options(opts) });
  }

  /** Inserts documents; one refused document refuses the whole batch. */
  async insertMany(docs, opts) {
    args.array(docs, 'docs');
    const documents = docs.map((d, i) => withId(d, `docs[${i}]`));
    const o = options(opts);
    let result;
    try {
      result = await this.#run('insertMany', { documents, options: o });
    } catch (e) {
      if (e instanceof MongoBulkWriteError) {
        // As the driver's: what did go in, by index (the ids are the ones this call sent).
        const ids = insertedIds(documents, e.writeErrors, o.ordered !== false);
        e.setResult({ ...countsOf(e.result), insertedCount: Object.keys(ids).length, insertedIds: ids });
      }
      throw e;
    }
    // Rust leaves insertedIds out when every document went in: they are the _ids sent, and
    // handing back the caller's own values (as the driver does) saves decoding one per document.
    if (result.insertedIds === undefined) {
      result.insertedIds = {};
      for (let i = 0; i < documents.length; i++) result.insertedIds[i] = documents[i]._id;
    }
    return result;
  }

  /** The first matching document of the current tenant, or null. */
  async findOne(filter, opts) {
    return this.#run('findOne', { filter: args.optionalObject(filter, 'filter'), options: sortedOptions(opts) });
  }

  /** A cursor over the current tenant's matching documents. */
  find(filter, opts) {
    return this.#cursor('find', { filter: args.optionalObject(filter, 'filter'), options: sortedOptions(opts) });
  }

  /**
   * `find(filter, opts).toJSONBuffer()`: the matching documents as the JSON bytes
   * `res.json(docs)` would send, rendered in Rust (send them with `sendJSON(res, …)`).
   */
  findJSON(filter, opts) {
    return this.find(filter, opts).toJSONBuffer();
  }

  /** A cursor over an aggregation of the current tenant's documents. */
  aggregate(pipeline, opts) {
    const stages = pipeline === undefined ? [] : args.array(pipeline, 'pipeline');
    return this.#cursor('aggregate', { pipeline: stages, options: { ...options(opts) } });
  }

  /**
   * A change stream of the current tenant's changes to this collection (docs/change-streams.md):
   * it keeps the context it is opened in; without one it throws TENANT_MISSING at once.
   */
  watch(pipeline, opts) {
    const stages = pipeline === undefined ? [] : args.array(pipeline, 'pipeline');
    let o = { ...options(opts) };
    // BSON read and write options are the JS face's; those refused (raw, session, timeoutMS,
    // signal …) go on to Rust by name, which refuses them with the reason (scope::change_stream).
    const refusedHere = {};
    for (const k of ['raw', 'fieldsAsRaw', 'session', 'timeoutMS', 'signal']) {
      if (o[k] !== undefined) refusedHere[k] = null;
      delete o[k];
    }
    for (const k of EVERYWHERE_IGNORED) delete o[k];
    let write;
    let read;
    [o, write] = splitWriteOptions(o);
    [o, read] = splitReadOptions(o);
    o = { ...o, ...refusedHere };
    const fence = this.#fence;
    const native = this.#native;
    const name = this.collectionName;
    const ctx = contextFor(fence);
    if (!ctx) {
      throw fence._refused(new TenantError('TENANT_MISSING', 'watch() needs a tenant in context: call it inside runAs() or the middleware'), ctx, name, 'watch');
    }
    const payload = encode({ pipeline: stages, options: o }, {}, write);
    const open = async () => {
      try {
        return await native.watch(ctx, name, payload, fence._quotaFor(ctx));
      } catch (e) {
        throw fence._refused(fromNative(e), ctx, name, 'watch');
      }
    };
    const startToken = o.resumeAfter ?? o.startAfter ?? null;
    return new FenceChangeStream(open, { read, namespace: namespaceOf(fence, name), startToken });
  }

  /** Counts the current tenant's matching documents. */
  async countDocuments(filter, opts) {
    // The driver's count is an aggregation: it takes the aggregation's `cursor` option too.
    return this.#run('countDocuments', { filter: args.optionalObject(filter, 'filter'), options: withCursorBatchSize(options(opts)) });
  }

  /** Counts the current tenant's documents (exactly, under strategy 'field'). */
  async estimatedDocumentCount(opts) {
    return this.#run('estimatedDocumentCount', { options: options(opts) });
  }

  /** Distinct values of `key` among the current tenant's matching documents. */
  async distinct(key, filter, opts) {
    if (typeof key !== 'string' || key === '') throw invalidArg('key must be a non-empty string');
    return this.#run('distinct', { key, filter: args.optionalObject(filter, 'filter'), options: options(opts) });
  }

  /** Updates one document of the current tenant. */
  async updateOne(filter, update, opts) {
    return this.#update('updateOne', filter, update, opts);
  }

  /** Updates all matching documents of the current tenant. */
  async updateMany(filter, update, opts) {
    return this.#update('updateMany', filter, update, opts);
  }

  #update(operation, filter, update, opts) {
    args.object(filter, 'filter');
    args.update(update);
    return this.#run(operation, { filter, update, options: sortedOptions(opts) });
  }

  /** Replaces one document of the current tenant. */
  async replaceOne(filter, replacement, opts) {
    args.object(filter, 'filter');
    args.object(replacement, 'replacement');
    return this.#run('replaceOne', { filter, replacement, options: sortedOptions(opts) });
  }

  /** Deletes one document of the current tenant. */
  async deleteOne(filter, opts) {
    const f = args.optionalObject(filter, 'filter');
    return this.#run('deleteOne', { filter: f, options: options(opts) });
  }

  /** Deletes all matching documents of the current tenant. */
  async deleteMany(filter, opts) {
    const f = args.optionalObject(filter, 'filter');
    return this.#run('deleteMany', { filter: f, options: options(opts) });
  }

  /** Updates one document and returns it (before or after). */
  async findOneAndUpdate(filter, update, opts) {
    args.object(filter, 'filter');
    args.update(update);
    return this.#run('findOneAndUpdate', { filter, update, options: modifyOptions(opts) });
  }

  /** Replaces one document and returns it (before or after). */
  async findOneAndReplace(filter, replacement, opts) {
    args.object(filter, 'filter');
    args.object(replacement, 'replacement');
    return this.#run('findOneAndReplace', { filter, replacement, options: modifyOptions(opts) });
  }

  /** Deletes one document and returns it. */
  async findOneAndDelete(filter, opts) {
    args.object(filter, 'filter');
    return this.#run('findOneAndDelete', { filter, options: modifyOptions(opts) });
  }

  /** Runs a batch of writes; one refused operation refuses the whole batch. */
  async bulkWrite(operations, opts) {
    args.array(operations, 'operations');
    const ops = operations.map((op, i) => {
      args.object(op, `operations[${i}]`);
      if (op.insertOne) {
        args.object(op.insertOne, `operations[${i}].insertOne`);
        const document = withId(op.insertOne.document, `operations[${i}].insertOne.document`);
        return { insertOne: { ...op.insertOne, document } };
      }
      return op;
    });
    return new BulkWriteResult(await this.#run('bulkWrite', { operations: ops, options: options(opts) }));
  }

  /**
   * A cursor over the collection's indexes. Under strategy 'field' every tenant sees the same
   * list (index metadata is shared by all tenants and holds no document): docs/administration.md.
   */
  listIndexes(opts) {
    return listing(this.#fence, this.#native, this.collectionName, 'listIndexes', { options: { ...options(opts) } });
  }

  /** The collection's indexes: descriptions (`full`, the default), or name -> key pairs. */
  async indexes(opts) {
    const { full = true, ...rest } = options(opts);
    const list = await this.listIndexes(rest).toArray();
    if (full) return list;
    return Object.fromEntries(list.map(({ name, key }) => [name, Object.entries(key)]));
  }

  /** True when every index named exists. */
  async indexExists(names, opts) {
    const wanted = Array.isArray(names) ? names : [names];
    const all = new Set((await this.listIndexes(opts).toArray()).map(({ name }) => name));
    return wanted.every((n) => all.has(n));
  }

  /** The indexes as name -> key pairs (`full: true`: descriptions), as the driver's. */
  async indexInformation(opts) {
    const o = options(opts);
    return this.indexes({ ...o, full: o.full ?? false });
  }

  /** Creates several indexes in one command; one refused index refuses them all. */
  async createIndexes(indexSpecs, opts) {
    args.array(indexSpecs, 'indexSpecs');
    const indexes = indexSpecs.map((d, i) => {
      args.object(d, `indexSpecs[${i}]`);
      const { key, version, ...rest } = d;
      if (key === null || typeof key !== 'object' || Array.isArray(key)) throw invalidArg(`indexSpecs[${i}].key must be an object or a Map`);
      const out = { key: args.indexKeys(key), ...rest };
      // As the driver: `version` is sent as the server's `v`.
      if (version !== undefined) out.v = version;
      return out;
    });
    return this.#run('createIndexes', { indexes, options: options(opts) });
  }

  /** Drops an index by name (runAsSystem, or a tenant's own database under 'database'). */
  async dropIndex(indexName, opts) {
    if (typeof indexName !== 'string' && (indexName === null || typeof indexName !== 'object')) {
      throw invalidArg('indexName must be an index name or key pattern');
    }
    return this.#run('dropIndex', { index: indexName, options: options(opts) });
  }

  /** Drops every index but `_id`'s; false when the server refused, as the driver answers. */
  async dropIndexes(opts) {
    return this.#run('dropIndexes', { options: options(opts) });
  }

  /** Drops the collection (runAsSystem, or a tenant's own database under 'database'). */
  async drop(opts) {
    return this.#run('drop', { options: options(opts) });
  }

  /** Renames the collection within its database and returns the renamed collection's handle. */
  async rename(newName, opts) {
    if (typeof newName !== 'string' || newName === '') throw invalidArg('newName must be a non-empty string');
    await this.#run('rename', { to: newName, options: options(opts) });
    return this.#fence.collection(newName);
  }

  /** The collection's creation options. */
  async options(opts) {
    return this.#run('options', { options: options(opts) });
  }

  /** True when the collection is capped. */
  async isCapped(opts) {
    const { capped } = await this.options(opts);
    return Boolean(capped);
  }

  /** Creates an index; under strategy 'field' the tenant field leads it. */
  async createIndex(spec, opts) {
    if (spec === null || (typeof spec !== 'string' && typeof spec !== 'object')) throw invalidArg('indexSpec must be a field name, an array or an object');
    let o = options(opts);
    if (o.version !== undefined) {
      // As the driver: `version` is sent as the server's `v`.
      const { version, ...rest } = o;
      o = { ...rest, v: version };
    }
    return this.#run('createIndex', { keys: args.indexKeys(spec), options: o });
  }
}

function modifyOptions(opts) {
  const o = sortedOptions(opts);
  if (o.returnOriginal !== undefined && o.returnDocument === undefined) {
    o.returnDocument = o.returnOriginal ? 'before' : 'after';
  }
  delete o.returnOriginal;
  if (o.includeResultMetadata) throw invalidArg('options.includeResultMetadata is not supported');
  delete o.includeResultMetadata;
  return o;
}

module.exports = { ScopedCollection, call, listing, IGNORED, EVERYWHERE_IGNORED };
