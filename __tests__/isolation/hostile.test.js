'use strict';
// Hostile input catalogue: every entry point × every kind of garbage (hostile-kinds.js), one test
// per cell. Each cell asserts the outcome class, that the collection (documents byte for byte,
// indexes, the database's collection list) is exactly as before unless the cell is a legitimate
// write (then exactly what was stored), and that a normal scoped operation still works after.

const util = require('node:util');
const BSON = require('bson');
const { TenantError } = require('../..');
const { useSuite, captureError, collectIds } = require('../helpers/fixtures');
const { KINDS, make } = require('../helpers/hostile-kinds');
const { COLLECTION_ROWS, CONTEXT_ROWS, SEED_A } = require('../helpers/hostile-entries');

const suite = useSuite('hostile');
const C = 'hostile';
const SEED_B = { _id: 'b-1', tenantId: 'b', v: 2 };
const READ = { useBigInt64: true };

/**
 * How the garbage field `f` reads back when a write succeeds: a BigInt that fits as a 64-bit
 * integer, a lone surrogate as U+FFFD (what the official driver stores too). Functions, Symbols
 * and BigInts beyond int64, which js-bson would drop or wrap without a word, are refused.
 */
const STORED = {
  smallBigint: { f: 42n },
  loneSurrogate: { f: 'x\uFFFDy' },
  operatorId: { f: { $ne: 'a' } },
  operatorString: { f: '$ne' },
  dollarKey: { $where: 1 },
};

/**
 * Every cell that does not end in a TypeError naming the argument (the default), by row then
 * outcome: 'ok' (succeeds, writes nothing), 'write' (succeeds, stores exactly row.stores),
 * 'server:<code>' (MongoDB refuses it; nothing written), 'driver' (the Rust driver refuses a
 * document over 16 MiB before sending), 'partial:<code>' (a bulkWrite whose first operation the
 * server applied before refusing the second, as the driver does), or a TenantError code.
 */
const OUTCOMES = {
  'insertOne doc whole': { write: ['operatorId'], driver: ['over16MiB'] },
  'insertOne doc nested': { write: ['smallBigint', 'loneSurrogate', 'dollarKey', 'operatorId', 'operatorString'], driver: ['over16MiB'] },
  'insertOne options nested': { write: ['smallBigint', 'over16MiB', 'loneSurrogate', 'dollarKey', 'operatorId', 'operatorString'] },
  'insertMany docs nested': { write: ['smallBigint', 'loneSurrogate', 'dollarKey', 'operatorId', 'operatorString'], driver: ['over16MiB'] },
  'insertMany docs element': { write: ['operatorId'], driver: ['over16MiB'] },
  'findOne filter whole': { 'server:16493': ['over16MiB'], 'server:2': ['operatorId'] },
  'findOne filter nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'operatorId', 'operatorString'], TENANT_VIOLATION: ['dollarKey'] },
  'findOne options nested': { ok: ['smallBigint', 'loneSurrogate', 'operatorString'], 'server:16493': ['over16MiB'], 'server:16020': ['operatorId'], TENANT_VIOLATION: ['dollarKey'] },
  'find filter whole': { 'server:16493': ['over16MiB'], 'server:2': ['operatorId'] },
  'find filter nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'operatorId', 'operatorString'], TENANT_VIOLATION: ['dollarKey'] },
  'find options nested': { TENANT_VIOLATION: ['dollarKey'] },
  'countDocuments filter whole': { 'server:16493': ['over16MiB'], 'server:2': ['operatorId'] },
  'countDocuments filter nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'operatorId', 'operatorString'], TENANT_VIOLATION: ['dollarKey'] },
  'countDocuments options nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'dollarKey', 'operatorId', 'operatorString'] },
  'distinct key whole': { ok: ['loneSurrogate'], 'server:16410': ['dollarKey', 'operatorString'], 'server:31032': ['nulKey'] },
  'distinct filter nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'operatorId', 'operatorString'], TENANT_VIOLATION: ['dollarKey'] },
  'updateOne filter whole': { 'server:16493': ['over16MiB'], 'server:2': ['operatorId'] },
  // {f: {$ne: 'a'}} matches the target, which has no f.
  'updateOne filter nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'operatorString'], write: ['operatorId'], TENANT_VIOLATION: ['dollarKey'] },
  'updateOne update nested': { write: ['smallBigint', 'loneSurrogate', 'operatorId', 'operatorString'], 'server:17419': ['over16MiB'], 'server:52': ['dollarKey'] },
  'updateOne options nested': { write: ['smallBigint', 'over16MiB', 'loneSurrogate', 'dollarKey', 'operatorId', 'operatorString'] },
  'updateMany update pipeline': { write: ['smallBigint', 'loneSurrogate'], ok: ['operatorString'], 'server:16493': ['over16MiB'], 'server:16020': ['operatorId'], TENANT_VIOLATION: ['dollarKey'] },
  'replaceOne replacement whole': { 'server:17419': ['over16MiB'] },
  'replaceOne replacement nested': { write: ['smallBigint', 'loneSurrogate', 'operatorId', 'operatorString'], 'server:17419': ['over16MiB'] },
  'deleteOne filter whole': { 'server:16493': ['over16MiB'], 'server:2': ['operatorId'] },
  'deleteMany filter nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'operatorString'], write: ['operatorId'], TENANT_VIOLATION: ['dollarKey'] },
  'findOneAndUpdate update nested': { write: ['smallBigint', 'loneSurrogate', 'operatorId', 'operatorString'], 'server:17419': ['over16MiB'], 'server:52': ['dollarKey'] },
  'findOneAndReplace replacement nested': { write: ['smallBigint', 'loneSurrogate', 'operatorId', 'operatorString'], 'server:17419': ['over16MiB'] },
  'findOneAndDelete filter whole': { 'server:16493': ['over16MiB'], 'server:2': ['operatorId'] },
  'findOneAndDelete options nested': { TENANT_VIOLATION: ['dollarKey'] },
  'bulkWrite operations nested': { write: ['smallBigint', 'loneSurrogate', 'dollarKey', 'operatorId', 'operatorString'], 'partial:2': ['over16MiB'] },
  'bulkWrite operations update': { write: ['smallBigint', 'loneSurrogate', 'operatorId', 'operatorString'], 'partial:17419': ['over16MiB'], 'partial:52': ['dollarKey'] },
  'aggregate pipeline nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'operatorId', 'operatorString'], TENANT_VIOLATION: ['dollarKey'] },
  'aggregate pipeline element': { TENANT_VIOLATION: ['operatorId'] },
  'aggregate options nested': { ok: ['smallBigint', 'over16MiB', 'loneSurrogate', 'dollarKey', 'operatorId', 'operatorString'] },
  'createIndex spec whole': { write: ['loneSurrogate'], 'server:67': ['dollarKey', 'operatorString'], TENANT_VIOLATION: ['over16MiB', 'operatorId'] },
  'createIndex spec nested': { 'server:67': ['dollarKey'], TENANT_VIOLATION: ['smallBigint', 'over16MiB', 'loneSurrogate', 'operatorId', 'operatorString'] },
  'createIndex options nested': { write: ['loneSurrogate', 'dollarKey', 'operatorString'], 'server:67': ['nulKey'] },
  'find().sort spec whole': { ok: ['loneSurrogate'], 'server:16410': ['operatorString'], TENANT_VIOLATION: ['dollarKey'] },
  'find().project projection whole': { 'server:16493': ['over16MiB'], 'server:16410': ['operatorId'] },
  'find().project projection nested': { ok: ['smallBigint', 'loneSurrogate', 'operatorString'], 'server:16493': ['over16MiB'], 'server:16020': ['operatorId'], TENANT_VIOLATION: ['dollarKey'] },
  'aggregate().sort spec nested': { TENANT_VIOLATION: ['dollarKey'] },
  'aggregate().project projection nested': { ok: ['smallBigint', 'loneSurrogate', 'operatorString'], 'server:16493': ['over16MiB'], 'server:16020': ['operatorId'], TENANT_VIOLATION: ['dollarKey'] },
  'runAs tenantId whole': { TENANT_INVALID: Object.keys(KINDS) },
  'runAs fn whole': { ok: ['function'] },
  // The reason is only text for the audit hook; any string is fine.
  'runAsSystem options reason': { write: ['loneSurrogate', 'dollarKey', 'nulKey', 'operatorString'] },
  'runAsSystem fn whole': { ok: ['function'] },
  'runAsSystem doc tenantField': {
    TENANT_INVALID: ['smallBigint', 'over16MiB', 'loneSurrogate', 'dollarKey', 'nulKey', 'operatorId', 'operatorString'],
  },
  // '$where' and '$ne' are valid HTTP header names.
  'middleware options header': { ok: ['dollarKey', 'operatorString'] },
  'middleware options resolve': { ok: ['function'] },
  'bind fn whole': { ok: ['function'] },
};

function outcome(row, kind) {
  const found = Object.entries(OUTCOMES[row] || {}).find(([, kinds]) => kinds.includes(kind));
  return found ? found[0] : 'type';
}

// Every row named in OUTCOMES exists, so a renamed row cannot silently fall back to 'type'.
const ROW_NAMES = new Set([...COLLECTION_ROWS, ...CONTEXT_ROWS].map(([e, a, p]) => `${e} ${a} ${p}`));

/** Everything a call could change: documents (raw bytes and decoded), indexes, collections. */
async function state() {
  const coll = suite.rdb.collection(C);
  const bytes = await coll.find({}, { raw: true, sort: { _id: 1 } }).toArray();
  const docs = bytes.map((b) => BSON.deserialize(b, READ));
  const indexes = (await coll.listIndexes({ ...READ }).toArray()).filter((i) => i.name !== '_id_').map((i) => i.key);
  const collections = (await suite.rdb.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  return { bytes: Buffer.concat(bytes), docs, indexes, collections };
}

async function reset() {
  const coll = suite.rdb.collection(C);
  await coll.dropIndexes().catch(() => {});
  await coll.deleteMany({});
  await coll.insertMany([{ ...SEED_A }, { ...SEED_B }]);
  // The index the fence builds on a tenant's first query of a collection without one
  // (src/scope/bounds.rs): part of the state every cell starts from.
  await coll.createIndex(TENANT_INDEX);
  for (const name of (await suite.rdb.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)) {
    if (name !== C) await suite.rdb.collection(name).drop();
  }
}

/** What a write changed: documents added (without _id), the target after, indexes added. */
function diff(before, after) {
  const known = new Map(before.docs.map((d) => [String(d._id), d]));
  const added = [];
  for (const d of after.docs) {
    const id = String(d._id);
    if (known.has(id)) continue;
    const { _id, ...rest } = d;
    expect(_id).toBeDefined();
    added.push(rest);
  }
  added.sort((x, y) => (x.cell ?? 99) - (y.cell ?? 99));
  const target = after.docs.find((d) => d._id === SEED_A._id) || null;
  // Nothing else may change: the other tenant's document above all.
  for (const d of after.docs) {
    if (d._id !== SEED_A._id && known.has(String(d._id))) expect(d).toEqual(known.get(String(d._id)));
  }
  expect(after.docs.find((d) => d._id === SEED_B._id)).toEqual(SEED_B);
  expect(after.collections).toEqual(before.collections);
  return { added, target, indexes: after.indexes };
}

/** A read that succeeded saw nothing of tenant b. */
function checkRead(result) {
  if (typeof result === 'number') expect(result).toBeLessThanOrEqual(1);
  if (Array.isArray(result) && result.every((v) => typeof v !== 'object')) expect(result).not.toContain(SEED_B.v);
  expect(collectIds(result)).not.toContain(SEED_B._id);
}

/** The fence still serves a normal scoped write and read for tenant a. */
async function stillServing() {
  const c = suite.fence.collection(C);
  await suite.as('a', async () => {
    const { insertedId } = await c.insertOne({ health: 1 });
    expect(await c.findOne({ _id: insertedId })).toEqual({ _id: insertedId, health: 1, tenantId: 'a' });
    expect((await c.deleteOne({ _id: insertedId })).deletedCount).toBe(1);
  });
}

/** Runs one cell and checks its outcome, what it left behind, and that the fence still serves. */
async function runCell(rows, inContext, [entry, arg, place, call, argPattern, stores], kind) {
  const row = `${entry} ${arg} ${place}`;
  const expected = outcome(row, kind);
  let before = await state();
  if (!pristine(before)) {
    // A cell that failed midway may have left its write behind; start every cell from the seed.
    await reset();
    before = await state();
  }
  const env = { fence: suite.fence, C, uri: require('../helpers/fixtures').uri(), DB: suite.DB, connected: [] };
  const { value, thrown } = make(kind);
  let result;
  let error;
  try {
    result = await (inContext ? suite.as('a', () => call(value, kind, env)) : call(value, kind, env));
  } catch (e) {
    error = e;
  } finally {
    for (const f of env.connected) await f.close();
  }
  const after = await state();
  const got = error ? `${error.name} ${error.code}: ${error.message}`.slice(0, 300) : 'success';

  if (expected === 'ok' || expected === 'write') {
    if (error) throw new Error(`${row} × ${kind}: expected success, got ${got}`);
    if (expected === 'ok') {
      checkRead(result);
      expect(after.bytes.equals(before.bytes)).toBe(true);
      expect(after.indexes).toEqual(before.indexes);
      expect(after.collections).toEqual(before.collections);
    } else {
      const want = stores(STORED[kind], value);
      const changed = diff(before, after);
      expect(changed.added).toEqual(want.added || []);
      expect(changed.target).toEqual(want.target === undefined ? SEED_A : want.target);
      expect(changed.indexes).toEqual([TENANT_INDEX, ...(want.indexes || [])]);
    }
  } else {
    if (!error) throw new Error(`${row} × ${kind}: expected ${expected}, but it succeeded`);
    if (expected === 'type') {
      // A TypeError naming the argument, or the very error the hostile getter / Proxy threw.
      if (error !== thrown) {
        expect({ name: error.name, message: error.message }).toEqual({ name: 'TypeError', message: expect.stringMatching(argPattern) });
      }
    } else if (expected.startsWith('TENANT_')) {
      expect(error).toBeInstanceOf(TenantError);
      expect(error.code).toBe(expected);
    } else if (expected === 'driver') {
      expect(error).not.toBeInstanceOf(TenantError);
      expect(error.message).toMatch(/16777216/);
    } else {
      const code = Number(expected.split(':')[1]);
      expect({ row, kind, code: error.code, tenantError: error instanceof TenantError }).toEqual({ row, kind, code, tenantError: false });
    }
    if (expected.startsWith('partial:')) {
      // The server applied the first operation before refusing the second; nothing else.
      const changed = diff(before, after);
      expect(changed.added).toEqual([{ tenantId: 'a', cell: 1 }]);
      expect(changed.target).toEqual(SEED_A);
    } else {
      expect(after.bytes.equals(before.bytes)).toBe(true);
      expect(after.indexes).toEqual(before.indexes);
      expect(after.collections).toEqual(before.collections);
    }
  }
  await stillServing();
}

/** True when the collection holds exactly the seed, with no extra index or collection. */
const TENANT_INDEX = { tenantId: 1, _id: 1 };

function pristine(s) {
  return (
    util.isDeepStrictEqual(s.docs, [SEED_A, SEED_B]) &&
    util.isDeepStrictEqual(s.indexes, [TENANT_INDEX]) &&
    util.isDeepStrictEqual(s.collections, [C])
  );
}

beforeAll(async () => {
  await reset();
});

test('the outcome table names only rows that exist', () => {
  expect(Object.keys(OUTCOMES).filter((r) => !ROW_NAMES.has(r))).toEqual([]);
});

const kinds = Object.keys(KINDS);
const cells = (rows) => rows.flatMap((row) => kinds.map((kind) => [`${row[0]}(${row[1]}, ${row[2]})`, kind, row]));

describe('collection methods and cursors (as tenant a)', () => {
  test.each(cells(COLLECTION_ROWS))('%s × %s', async (label, kind, row) => {
    await runCell(COLLECTION_ROWS, true, row, kind);
  });
});

describe('connect, contexts, middleware, collection(), bind()', () => {
  test.each(cells(CONTEXT_ROWS))('%s × %s', async (label, kind, row) => {
    await runCell(CONTEXT_ROWS, false, row, kind);
  });
});

test('after the whole catalogue: tenant b untouched, the process still serves', async () => {
  expect(await suite.rdb.collection(C).findOne({ _id: SEED_B._id })).toEqual(SEED_B);
  await stillServing();
  expect(await captureError(() => suite.fence.collection(C).findOne({}))).toBeInstanceOf(TenantError);
});
