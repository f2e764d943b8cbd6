'use strict';

/** Jest globalTeardown: stops the mongod started by global-setup.js, if any. */
module.exports = async function globalTeardown() {
  const mongod = globalThis.__TENANTFENCE_MONGOD__;
  if (!mongod) return;
  await mongod.stop();
  delete globalThis.__TENANTFENCE_MONGOD__;
};
