'use strict';
// Model.init (autoCreate, autoIndex) runs when a model is compiled or the connection opens,
// where no tenant is in context. This plugin runs it as an audited system call instead:
// `runAsSystem({ reason })`, so createCollection / createIndex work as they did on the plain
// driver, the app's onSystemAccess hook sees each one, and under strategy 'field' each index
// gets the tenant field first (unique per tenant). Nothing else a model does is lifted.

const REASON = 'mongoose: autoCreate / autoIndex of model';

function systemInit(schema) {
  schema.on('init', (model) => {
    if (model.$__tenantfenceInit || model.$init != null) return;
    const conn = model.db;
    if (!conn || typeof conn._waitForConnect !== 'function') return;
    const original = model.init;
    model.$__tenantfenceInit = true;
    // Model.init returns `this.$init` when set: this promise is what every caller awaits.
    const init = (async () => {
      await conn._waitForConnect(true);
      const fence = conn.fence;
      if (!fence) return undefined;
      return fence.runAsSystem({ reason: `${REASON} ${model.modelName}` }, () => {
        model.$init = null;
        const inner = original.call(model);
        model.$init = init;
        return inner;
      });
    })();
    model.$init = init;
  });
}

module.exports = { systemInit };
