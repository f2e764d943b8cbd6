'use strict';
// mocha --require for Mongoose's own test files on tenantfence/mongoose (run.sh): every
// connection gets a fence, every hook and test runs as one tenant, and what the tests do that a
// tenant may not (drop the test databases, ask the server's version through a raw client) is
// done around them. docs/mongoose.md has the last results.

const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const mongoose = require(path.join(ROOT, 'node_modules', 'mongoose'));
mongoose.setDriver(require(path.join(ROOT, 'lib', 'mongoose')));

const createConnection = mongoose.createConnection;
mongoose.createConnection = function (uri, options, ...rest) {
  if (options && 'enableUtf8Validation' in options) {
    options = { ...options };
    delete options.enableUtf8Validation; // a Node driver option the fence does not take
  }
  return createConnection.call(this, ...[uri, options, ...rest].slice(0, arguments.length));
};

// Each hook and test runs as tenant 'mgtest'.
const context = require(path.join(ROOT, 'lib', 'context'));
const tenant = context.tenantContext('mgtest');
const Runnable = require(require.resolve('mocha/lib/runnable', { paths: [process.cwd()] }));
const run = Runnable.prototype.run;
Runnable.prototype.run = function (fn) {
  return context.store.run(tenant, () => run.call(this, fn));
};

// The tests' cleanup drops databases: refused to a tenant (it drops every tenant's data), so here
// it drops each collection inside runAsSystem instead, as an operator would.
const Connection = require(path.join(ROOT, 'node_modules', 'mongoose', 'lib', 'connection'));
Connection.prototype.dropDatabase = async function dropDatabase() {
  await this.asPromise();
  const fence = this.fence;
  await fence.runAsSystem({ reason: "Mongoose's tests: drop the test database" }, async () => {
    for (const { name } of await fence.db.listCollections().toArray()) await fence.db.dropCollection(name).catch(() => {});
  });
};

// common.js asks the server's version through connection.client.db().admin(), a raw handle the
// driver does not offer.
exports.mochaHooks = {
  beforeAll() {
    require(path.resolve('test', 'common')).mongodVersion = async () => JSON.parse(process.env.MONGOD_VERSION).slice(0, 3);
  },
};
