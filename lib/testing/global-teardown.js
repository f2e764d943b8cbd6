'use strict';

const { KEY } = require('./global-setup');

/** Jest globalTeardown: stops the mongod that globalSetup started, if it started one. */
module.exports = async function globalTeardown() {
  const mongod = globalThis[KEY];
  if (!mongod) return;
  delete globalThis[KEY];
  delete process.env.MONGODB_URI;
  await mongod.stop();
};
