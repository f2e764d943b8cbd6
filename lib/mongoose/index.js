'use strict';
// `tenantfence/mongoose`: a driver for `mongoose.setDriver()`. Its Connection connects a
// TenantFence instead of a MongoClient and its Collection is the fence's scoped collection, so
// every Model, Query and Document call goes through the Rust core. The driver only translates
// Mongoose's calls; it decides nothing about tenants.

const { Connection, Collection } = require('./family');

/** The fence of a Mongoose connection made with this driver (`mongoose.connection`). */
function fenceOf(connection) {
  const fence = connection && connection.fence;
  if (!fence) throw new TypeError('fenceOf(connection): not connected through tenantfence/mongoose (await mongoose.connect(uri, options) first)');
  return fence;
}

module.exports = {
  Connection,
  Collection,
  fenceOf,
};
// `export default` for TypeScript's CommonJS interop (mongoose.d.ts).
module.exports.default = module.exports;
