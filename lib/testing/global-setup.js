'use strict';
// Jest globalSetup for apps that use tenantfence: a throwaway MongoDB replica set for the
// whole run (the same provisioning as tenantfence's own tests), and command monitoring
// switched on so isolationProbe() works on the app's own fences.

const { startReplSet } = require('../../scripts/mongod');
const { MONITOR_ENV } = require('../fence');

const KEY = Symbol.for('tenantfence.testing.mongod');

/** Starts mongod unless MONGODB_URI is set; workers inherit MONGODB_URI and monitoring. */
module.exports = async function globalSetup() {
  // An explicit '0' from the user wins; otherwise every fence connected in the tests monitors.
  if (process.env[MONITOR_ENV] === undefined) process.env[MONITOR_ENV] = '1';
  if (process.env.MONGODB_URI) return;
  const mongod = await startReplSet();
  // Jest spawns its workers after globalSetup, so they inherit these.
  process.env.MONGODB_URI = mongod.uri;
  globalThis[KEY] = mongod;
  // If Jest exits without running globalTeardown, the forked mongod would outlive it.
  process.once('exit', () => {
    if (globalThis[KEY] === mongod) {
      try {
        process.kill(mongod.pid, 'SIGTERM');
      } catch {}
    }
  });
};

module.exports.KEY = KEY;
