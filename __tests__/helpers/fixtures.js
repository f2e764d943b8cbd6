'use strict';
// Shared helpers for the acceptance suites. The npm `mongodb` driver is used here only as an
// independent ORACLE: to seed other tenants' documents and to look at what is really stored.

const crypto = require('node:crypto');
const { MongoClient } = require('mongodb');
const { TenantFence, TenantError } = require('../..');

/** The URI of the replica set started by the Jest global setup. */
function uri() {
  const u = process.env.MONGODB_URI;
  if (!u) throw new Error('MONGODB_URI is not set: run the suites through jest (globalSetup starts mongod)');
  return u;
}

/** `uri()` with `name` as the database in its path (keeps the query string). */
function uriWithDb(name) {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)\/?([^?]*)(\?.*)?$/.exec(uri());
  if (!m) throw new Error(`cannot parse MONGODB_URI ${uri()}`);
  return `${m[1]}/${name}${m[3] || ''}`;
}

/**
 * A database name unique to this test file and run (short: under strategy 'database' the tenant
 * database `fence.databaseFor(tenant)` (`<name>~<escaped tenant>`) must stay under 64 bytes).
 */
function dbName(prefix) {
  return `tf_${prefix}_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
}

/** A connected npm MongoClient (the oracle). Close it in afterAll. */
async function rawClient() {
  const client = new MongoClient(uri());
  await client.connect();
  return client;
}

/**
 * The setup every suite shares. Registers a beforeAll that picks a fresh database `DB`
 * (`dbName(prefix)`), connects the oracle client `raw` (`rdb` is `raw.db(DB)`) and
 * `fence = await TenantFence.connect(uri(), { database: DB, ...connectOptions })`, and an afterAll
 * that closes every fence given to `closeAfter`, then `fence`, drops `DB`, every `<DB>~…` tenant
 * database (strategy 'database', `fence.databaseFor(tenant)`) and every database given to `dropAfter`, and closes `raw`.
 * Call it at the top level of a test file; read `fence`, `raw`, `rdb` and `DB` through the
 * returned object's getters (they are undefined until the beforeAll has run).
 */
function useSuite(prefix, connectOptions = {}) {
  let DB;
  let raw;
  let rdb;
  let fence;
  const extraFences = [];
  const extraDbs = [];

  beforeAll(async () => {
    DB = dbName(prefix);
    raw = await rawClient();
    rdb = raw.db(DB);
    fence = await TenantFence.connect(uri(), { database: DB, ...connectOptions });
  });

  afterAll(async () => {
    for (const f of extraFences) await f.close().catch(() => {});
    if (fence) await fence.close();
    if (raw) {
      const { databases } = await raw
        .db('admin')
        .admin()
        .listDatabases({ nameOnly: true })
        .catch(() => ({ databases: [] }));
      const tenantDbs = databases.map((d) => d.name).filter((name) => name.startsWith(`${DB}~`));
      for (const name of [DB, ...tenantDbs, ...extraDbs]) await raw.db(name).dropDatabase().catch(() => {});
      await raw.close();
    }
  });

  return {
    get DB() {
      return DB;
    },
    get raw() {
      return raw;
    },
    get rdb() {
      return rdb;
    },
    get fence() {
      return fence;
    },
    /** `fence.runAs(tenant, fn)`. */
    as: (tenant, fn) => fence.runAs(tenant, fn),
    /** Closes `f` (another fence a test connected) in afterAll, before `fence`; returns `f`. */
    closeAfter(f) {
      extraFences.push(f);
      return f;
    },
    /** Drops the database `name` in afterAll; returns `name`. */
    dropAfter(name) {
      extraDbs.push(name);
      return name;
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `target` (a promise, or a function returning a value or a promise) and returns the
 * error it throws synchronously or rejects with. Fails when it succeeds.
 */
async function captureError(target) {
  let pending = target;
  if (typeof target === 'function') {
    try {
      pending = target();
    } catch (err) {
      return err;
    }
  }
  let value;
  try {
    value = await pending;
  } catch (err) {
    return err;
  }
  const shown = (() => {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  })();
  throw new Error(`expected the call to fail, but it succeeded with ${shown}`);
}

/** Returns the error `fn()` throws synchronously; fails when it returns (even a rejected promise). */
function syncError(fn) {
  let result;
  try {
    result = fn();
  } catch (err) {
    return err;
  }
  if (result && typeof result.catch === 'function') result.catch(() => {});
  throw new Error('expected a synchronous throw, but the call returned');
}

/**
 * Calls `fn()`, which must RETURN a promise (not throw synchronously), and returns the error the
 * promise rejects with. The contract: "Methods that return a promise reject on errors".
 */
async function rejection(fn) {
  let p;
  try {
    p = fn();
  } catch (err) {
    throw new Error(`expected a rejected promise, but the call threw synchronously: ${err && err.message}`);
  }
  if (!p || typeof p.then !== 'function') throw new Error('expected the call to return a promise');
  return captureError(p);
}

function assertTenantError(err, code) {
  if (!(err instanceof TenantError)) {
    throw new Error(
      `expected a TenantError${code ? ` ${code}` : ''}, got ${err && err.name} ${err && err.code}: ${err && err.message}`,
    );
  }
  expect(err).toBeInstanceOf(TenantError);
  if (code) expect(err.code).toBe(code);
  expect(typeof err.message).toBe('string');
  return err;
}

/** The call (sync throw or rejection) fails with a TenantError with `code`. */
async function expectTenantError(target, code) {
  return assertTenantError(await captureError(target), code);
}

/** `fn()` throws a TenantError with `code` synchronously (find/aggregate/runAs). */
function expectSyncTenantError(fn, code) {
  return assertTenantError(syncError(fn), code);
}

/** `fn()` returns a promise that rejects with a TenantError with `code`. */
async function expectRejectsTenant(fn, code) {
  return assertTenantError(await rejection(fn), code);
}

/** The call fails with a TypeError (compared by name: addon errors may come from another realm) naming `arg`. */
async function expectTypeError(target, argPattern) {
  const err = await captureError(target);
  expect(err && err.name).toBe('TypeError');
  if (argPattern) expect(String(err.message)).toMatch(argPattern);
  return err;
}

/**
 * A document returned through the fence, without its tenant field. The contract does not say
 * whether reads return the tenant field; if present it must name `tenant`.
 */
function own(doc, tenant, field = 'tenantId') {
  expect(doc).toBeTruthy();
  const copy = { ...doc };
  if (Object.prototype.hasOwnProperty.call(copy, field)) {
    expect(copy[field]).toBe(tenant);
    delete copy[field];
  }
  return copy;
}

/** `own` over an array. */
const ownAll = (docs, tenant, field = 'tenantId') => docs.map((d) => own(d, tenant, field));

/** Sorted string forms of the `_id`s of `docs`. */
const ids = (docs) => docs.map((d) => String(d._id)).sort();

/** Every `_id` found anywhere inside `value` (nested arrays and documents), as strings. */
function collectIds(value, out = []) {
  if (Array.isArray(value)) {
    for (const v of value) collectIds(v, out);
    return out;
  }
  // Plain documents only (compared by tag: the addon may build them in another realm);
  // BSON values, dates and buffers are leaves.
  if (
    value &&
    typeof value === 'object' &&
    !('_bsontype' in value) &&
    !ArrayBuffer.isView(value) &&
    Object.prototype.toString.call(value) === '[object Object]'
  ) {
    if (value._id !== null && value._id !== undefined) out.push(String(value._id));
    for (const v of Object.values(value)) collectIds(v, out);
  }
  return out;
}

/** All documents of a collection through the oracle, sorted by _id (a deep-equal snapshot). */
async function snapshot(coll, filter = {}) {
  return coll.find(filter).sort({ _id: 1 }).toArray();
}

/** Is `v` a Date (also one created in another realm by the addon)? */
const isDate = (v) => Object.prototype.toString.call(v) === '[object Date]';

/** Awaits every promise, then rethrows the first failure (so no rejection is left unhandled). */
async function settleAll(promises) {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => r.value);
}

module.exports = {
  uri,
  uriWithDb,
  dbName,
  rawClient,
  useSuite,
  sleep,
  captureError,
  syncError,
  rejection,
  expectTenantError,
  expectSyncTenantError,
  expectRejectsTenant,
  expectTypeError,
  own,
  ownAll,
  ids,
  collectIds,
  snapshot,
  isDate,
  settleAll,
};
