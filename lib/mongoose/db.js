'use strict';
// What Mongoose's Connection reaches as `connection.db` and `connection.client`: the fence's
// database-level methods and sessions, and a clear refusal for the rest (no raw handle).

const { TenantError } = require('../errors');
const { liftForInit } = require('./init');

const refused = (what, why) => new TenantError('TENANT_VIOLATION', `${what} is not available through tenantfence: ${why}`);

class FenceDbAdapter {
  #fence;

  constructor(fence) {
    this.#fence = fence;
  }

  get databaseName() {
    return this.#fence.databaseName;
  }

  /** The scoped collection `name`. */
  collection(name) {
    return this.#fence.collection(name);
  }

  createCollection(name, options) {
    return liftForInit(name, () => this.#fence.db.createCollection(name, options));
  }

  dropCollection(name, options) {
    return this.#fence.db.dropCollection(name, options);
  }

  listCollections(filter, options) {
    return this.#fence.db.listCollections(filter, options);
  }

  async dropDatabase() {
    throw refused('dropDatabase()', 'it drops every tenant\'s data; drop collections inside runAsSystem');
  }

  aggregate() {
    throw refused('db.aggregate()', 'use Model.aggregate()');
  }

  watch() {
    throw refused('connection.watch()', 'a database-wide change stream would show every tenant\'s changes; use Model.watch()');
  }

  admin() {
    throw refused('db.admin()', 'server administration is outside the fence');
  }
}

class FenceClientAdapter {
  #fence;

  constructor(fence) {
    this.#fence = fence;
  }

  /** A fence session: every call that passes it runs in its tenant's transaction. */
  startSession(options) {
    return this.#fence.startSession(options);
  }

  async withSession(optionsOrFn, maybeFn) {
    const fn = typeof optionsOrFn === 'function' ? optionsOrFn : maybeFn;
    const session = await this.#fence.startSession(typeof optionsOrFn === 'object' ? optionsOrFn : undefined);
    try {
      return await fn(session);
    } finally {
      await session.endSession();
    }
  }

  db() {
    throw refused('connection.client.db()', 'the client reaches every database');
  }

  async bulkWrite() {
    throw refused('connection.bulkWrite() (a client-level bulk write)', 'use Model.bulkWrite()');
  }

  async close() {
    await this.#fence.close();
  }
}

module.exports = { FenceDbAdapter, FenceClientAdapter };
