'use strict';
// The Mongoose contender's tenancy: the usual hand-written plugin, tenant taken from an
// AsyncLocalStorage store set per request. mongo-tenant (the published plugin) fails under
// Mongoose 9 ("next is not a function"); see bench/README.md.

const { AsyncLocalStorage } = require('node:async_hooks');

const store = new AsyncLocalStorage();
const QUERY_HOOKS = [
  'find', 'findOne', 'countDocuments', 'distinct', 'updateOne', 'updateMany',
  'deleteOne', 'deleteMany', 'findOneAndUpdate', 'findOneAndDelete', 'findOneAndReplace', 'replaceOne',
];

function tenantOrThrow() {
  const t = store.getStore();
  if (!t) throw new Error('no tenant in context');
  return t;
}

/** Mongoose plugin: adds the tenant to queries and pipelines, stamps it on new documents. */
function tenancyPlugin(schema) {
  schema.pre(QUERY_HOOKS, function scopeQuery() {
    this.where({ tenantId: tenantOrThrow() });
  });
  schema.pre('aggregate', function scopePipeline() {
    this.pipeline().unshift({ $match: { tenantId: tenantOrThrow() } });
  });
  schema.pre('validate', function stamp() {
    this.tenantId = tenantOrThrow();
  });
  // Mongoose 9 passes the documents as the hook's first argument (no `next`).
  schema.pre('insertMany', function stampMany(docs) {
    const t = tenantOrThrow();
    for (const d of docs) d.tenantId = t;
  });
}

module.exports = { store, tenancyPlugin };
