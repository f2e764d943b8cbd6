'use strict';
const { startReplSet } = require('../../scripts/mongod');

/** Jest globalSetup: starts a throwaway replica set unless MONGODB_URI is already provided. */
module.exports = async function globalSetup() {
  if (process.env.MONGODB_URI) return;
  // Test commands: lanes.test.js holds a command with a failCommand fail point.
  const mongod = await startReplSet({ testCommands: true });
  // Workers are spawned after globalSetup, so they inherit this.
  process.env.MONGODB_URI = mongod.uri;
  globalThis.__TENANTFENCE_MONGOD__ = mongod;
  // Best effort if Jest exits without running globalTeardown; the forked mongod would outlive us.
  process.once('exit', () => {
    if (globalThis.__TENANTFENCE_MONGOD__ === mongod) {
      try { process.kill(mongod.pid, 'SIGTERM'); } catch {}
    }
  });
};
