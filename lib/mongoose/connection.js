'use strict';
// The Connection of `tenantfence/mongoose`: Mongoose's own node-mongodb-native Connection with
// the MongoClient swapped for a TenantFence. `connection.db` and `connection.client` are small
// stand-ins (./db.js) that reach the fence only; nothing here holds a raw driver handle.

const { TenantFence } = require('../fence');
const { TenantError } = require('../errors');
const { FenceDbAdapter, FenceClientAdapter } = require('./db');

// Options Mongoose reads for itself (as its own driver does); the rest go to TenantFence.connect,
// which names any it does not know.
const MONGOOSE_CONFIG = ['autoCreate', 'sanitizeFilter', 'autoSearchIndex', 'bufferTimeoutMS'];
const CONNECTED = 1;
const CONNECTING = 2;
const DISCONNECTED = 0;

function connectionClass(NativeConnection, BRAND) {
  class FenceConnection extends NativeConnection {
    get [BRAND]() {
      return 'connection';
    }

    /**
     * `mongoose.connect(uri, options)`: connects a fence with the tenantfence options among
     * `options` (tenantField, strategy, database …), or adopts `options.fence`.
     */
    async createClient(uri, options) {
      if (typeof uri !== 'string') {
        throw new TypeError(`The \`uri\` parameter to \`openUri()\` must be a string, got "${typeof uri}"`);
      }
      if (this.readyState === CONNECTING || this.readyState === CONNECTED) {
        if (this._connectionString !== uri) throw new TypeError('Can\'t call `openUri()` on an active connection with a different connection string');
      }
      const o = { ...(options || {}) };
      const autoIndex = o.config?.autoIndex ?? o.autoIndex;
      if (autoIndex != null) this.config.autoIndex = autoIndex !== false;
      delete o.config;
      delete o.autoIndex;
      for (const k of MONGOOSE_CONFIG) {
        if (k in o) {
          this.config[k] = k === 'autoCreate' ? !!o[k] : o[k];
          delete o[k];
        }
      }
      if (o.bufferCommands != null) this.config.bufferCommands = o.bufferCommands;
      delete o.bufferCommands;
      // dbName is Mongoose's name for the fence's `database`.
      if (o.dbName != null && o.database === undefined) o.database = o.dbName;
      delete o.dbName;
      const given = o.fence;
      delete o.fence;
      if (given !== undefined) {
        if (!(given instanceof TenantFence)) throw new TypeError('options.fence must be a TenantFence (from TenantFence.connect)');
        const extra = Object.keys(o);
        if (extra.length) throw new TypeError(`options.${extra[0]} cannot be given with options.fence: the fence was connected with its own options`);
      }
      this.readyState = CONNECTING;
      this._connectionString = uri;
      let fence;
      try {
        fence = given ?? (await TenantFence.connect(uri, o));
      } catch (e) {
        this.readyState = DISCONNECTED;
        throw e;
      }
      this.fence = fence;
      this._ownsFence = given === undefined;
      this.db = new FenceDbAdapter(fence);
      this.client = new FenceClientAdapter(fence);
      this.name = fence.databaseName;
      this.onOpen();
      for (const name of Object.keys(this.collections)) this.collections[name].onOpen();
      return this;
    }

    /** Closes the fence this connection connected (a fence given as `options.fence` stays open). */
    async doClose() {
      if (this.fence && this._ownsFence) await this.fence.close();
      return this;
    }

    /** The fence lives in one database (per tenant under strategy 'database'). */
    useDb() {
      throw new TenantError('TENANT_VIOLATION', 'useDb() is not available through tenantfence: the fence decides the database (strategy \'database\' gives each tenant its own)');
    }

    async listDatabases() {
      throw new TenantError('TENANT_VIOLATION', 'listDatabases() is not available through tenantfence: it lists every tenant\'s databases');
    }

    aggregate() {
      throw new TenantError('TENANT_VIOLATION', 'connection.aggregate() (a database-level aggregation) is not available through tenantfence; use Model.aggregate()');
    }

    setClient() {
      throw new TypeError('setClient() takes a MongoClient, which would bypass the fence: connect with mongoose.connect(uri, { fence })');
    }
  }
  return FenceConnection;
}

module.exports = { connectionClass };
