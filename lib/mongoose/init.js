'use strict';
// Model.init (autoCreate, autoIndex) runs when a model is compiled or the connection opens,
// often where no tenant is in context. For models on a tenantfence connection it runs outside
// any tenant context, and only its own builds are lifted: the createCollection of the model's
// collection and its createIndex(es) each run in an audited `runAsSystem({ reason })`, so they
// work as they did on the plain driver, the app's onSystemAccess hook sees each one, and under
// strategy 'field' each index gets the tenant field first (unique per tenant). The app's code
// that Model.init runs (schema 'init' listeners, createCollection middleware) gets no context
// at all: its reads and writes are refused with TENANT_MISSING, never run unscoped (red-team
// round 27: wrapped whole in runAsSystem, a plugin's 'init' listener read every tenant's data).
// Models on other drivers' connections are untouched. Under strategy 'database' there is nothing
// a system context may build, so init does nothing.

const { AsyncLocalStorage } = require('node:async_hooks');
const context = require('../context');

const REASON = 'mongoose: autoCreate / autoIndex of model';
const PATCHED = Symbol.for('tenantfence.mongoose.init');
/** The Model.init in progress on this async chain: { fence, collection, reason }. */
const initStore = new AsyncLocalStorage();

/**
 * Runs `call` (a createCollection or createIndex of collection `name`) in an audited runAsSystem
 * when the Model.init of that collection's model made it; as it is otherwise.
 */
function liftForInit(name, call) {
  const init = initStore.getStore();
  if (!init || init.collection !== name) return call();
  return init.fence.runAsSystem({ reason: init.reason }, call);
}

/** Wraps `Model.init` of the Mongoose copy `base` belongs to (once per copy). */
function wrapModelInit(base, isFenceConnection) {
  const Model = base && base.Model;
  if (!Model || typeof Model.init !== 'function' || Model.init[PATCHED]) return;
  const original = Model.init;
  function init(...rest) {
    const conn = this && this.db;
    // `$init` set on this model (not inherited from a discriminator's base): already started.
    if (!isFenceConnection(conn) || Object.prototype.hasOwnProperty.call(this, '$init') && this.$init != null) {
      return original.apply(this, rest);
    }
    const model = this;
    const started = (async () => {
      await conn._waitForConnect(true);
      if (!conn.fence) {
        // Closed before it connected: Mongoose's own init reports what it reports.
        model.$init = null;
        return original.apply(model, rest);
      }
      // Under strategy 'database' each tenant has its own database, which no system context
      // reaches: a collection is created by its first write, and indexes are built per tenant
      // (`Model.syncIndexes()` inside `runAs`), docs/mongoose.md.
      if (conn.fence.strategy === 'database') return undefined;
      const init = { fence: conn.fence, collection: model.collection.collectionName || model.collection.name, reason: `${REASON} ${model.modelName}` };
      // No tenant (and no system) context: only the builds above are lifted, one by one.
      return context.store.exit(() =>
        initStore.run(init, () => {
          model.$init = null;
          const inner = original.apply(model, rest);
          model.$init = started;
          return inner;
        }),
      );
    })();
    // As Model.init's own promise: a caller's .catch() marks the model `$caught`, so an index
    // build that fails is reported to that catch, not emitted as an 'error' nobody listens to
    // (which would throw: Mongoose itself calls `model.init().catch(noop)`).
    const ownCatch = started.catch;
    started.catch = function (...handlers) {
      model.$caught = true;
      return ownCatch.apply(started, handlers);
    };
    model.$init = started;
    return started;
  }
  init[PATCHED] = true;
  Model.init = init;
}

module.exports = { wrapModelInit, liftForInit };
