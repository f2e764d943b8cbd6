'use strict';
// `fence.db`: the database-level methods of the driver's `Db` that administer collections.
// Which database they reach is the context's (the tenant's own under strategy 'database');
// who may run them is decided in Rust (`scope::admin`).

const { invalidArg } = require('./errors');
const args = require('./args');
const { call, listing } = require('./collection');

function collectionName(name, method) {
  if (typeof name !== 'string' || name === '') throw invalidArg(`${method}(name): name must be a non-empty string`);
  return name;
}

class FenceDb {
  #fence;
  #native;

  constructor(fence, native) {
    this.#fence = fence;
    this.#native = native;
  }

  /** The (base) database name, as `fence.databaseName`. */
  get databaseName() {
    return this.#fence.databaseName;
  }

  /** The scoped collection `name`, as `fence.collection(name)`. */
  collection(name) {
    return this.#fence.collection(name);
  }

  /** A cursor over the collections of the context's database. */
  listCollections(filter, opts) {
    const request = { filter: args.optionalObject(filter, 'filter'), options: { ...args.optionalObject(opts, 'options') } };
    // Not a collection call: the audit hook sees an empty collection name.
    return listing(this.#fence, this.#native, '', 'listCollections', request);
  }

  /** Creates collection `name` with the driver's options and returns its scoped handle. */
  async createCollection(name, opts) {
    collectionName(name, 'createCollection');
    const handle = this.#fence.collection(name);
    await call(this.#fence, this.#native, name, 'createCollection', { options: args.optionalObject(opts, 'options') });
    return handle;
  }

  /** Drops collection `name`; true once dropped. */
  async dropCollection(name, opts) {
    collectionName(name, 'dropCollection');
    this.#fence.collection(name); // the same name checks as a handle's
    return call(this.#fence, this.#native, name, 'dropCollection', { options: args.optionalObject(opts, 'options') });
  }
}

module.exports = { FenceDb };
