'use strict';
// Model.init (autoCreate, autoIndex) runs when a model is compiled or the connection opens,
// where no tenant is in context. For models on a tenantfence connection it runs as an audited
// system call instead: `runAsSystem({ reason })`, so createCollection / createIndex work as they
// did on the plain driver, the app's onSystemAccess hook sees each one, and under strategy
// 'field' each index gets the tenant field first (unique per tenant). Nothing else a model does
// is lifted, and models on other drivers' connections are untouched. Under strategy 'database'
// there is nothing a system context may build, so init does nothing.

const REASON = 'mongoose: autoCreate / autoIndex of model';
const PATCHED = Symbol.for('tenantfence.mongoose.init');

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
      return conn.fence.runAsSystem({ reason: `${REASON} ${model.modelName}` }, () => {
        model.$init = null;
        const inner = original.apply(model, rest);
        model.$init = started;
        return inner;
      });
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

module.exports = { wrapModelInit };
