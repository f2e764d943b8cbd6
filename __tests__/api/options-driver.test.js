'use strict';
// The driver options of issue 14 item 3, run through the official driver and through tenantfence
// and compared: what each call answers, and (through the server's profiler) what each sends.
// Strategy 'database' so commands reach the server as the driver's would (no tenant field added).

const { BSON } = require('bson');
const { MongoClient } = require('mongodb');
const {
  TenantFence, TenantError, MongoServerError, MongoOperationTimeoutError, MongoCompatibilityError,
} = require('../..');
const { uri, dbName, captureError } = require('../helpers/fixtures');

const DB = dbName('optdrv');
let driver;
let fence;
let tenantDb;

beforeAll(async () => {
  driver = new MongoClient(uri());
  await driver.connect();
  fence = await TenantFence.connect(uri(), { database: DB, strategy: 'database' });
  tenantDb = fence.databaseFor('acme');
  await driver.db(tenantDb).command({ profile: 2 });
});

afterAll(async () => {
  await fence.close();
  await driver.db(tenantDb).dropDatabase();
  await driver.db(DB).dropDatabase();
  await driver.close();
});

const as = (fn) => fence.runAs('acme', fn);
const raw = (name) => driver.db(tenantDb).collection(name);
const ours = (name) => fence.collection(name);

let calls = 0;
/** The first command named `name` sent while `run` ran, as the profiler recorded it. */
async function profiled(name, run) {
  const mark = `optdrv-${++calls}`;
  await driver.db(tenantDb).collection('marks').insertOne({ mark });
  await run();
  const all = await driver.db(tenantDb).collection('system.profile').find({}).sort({ $natural: 1 }).toArray();
  const from = all.findIndex((e) => e.command?.documents?.[0]?.mark === mark);
  expect(from).toBeGreaterThanOrEqual(0);
  const found = all.slice(from + 1).find((e) => e.command && name in e.command);
  return found && found.command;
}

/** The fields of a command that `keys` names, for comparing what two clients sent. */
const pick = (cmd, keys) => Object.fromEntries(keys.filter((k) => cmd && cmd[k] !== undefined).map((k) => [k, cmd[k]]));

describe('BSON read options', () => {
  beforeAll(async () => {
    await raw('docs').insertMany([
      { _id: 1, s: 'x', arr: [{ a: 1 }, { a: 2 }], n: 2 },
      { _id: 2, s: 'y', arr: [], n: 1 },
    ]);
  });

  test('raw gives the same bytes as the driver for findOne, find, aggregate and findOneAndUpdate', async () => {
    const mine = await as(() => ours('docs').findOne({ _id: 1 }, { raw: true }));
    expect(Buffer.isBuffer(mine)).toBe(true);
    expect(mine.equals(await raw('docs').findOne({ _id: 1 }, { raw: true }))).toBe(true);
    expect(BSON.deserialize(mine)).toEqual(await raw('docs').findOne({ _id: 1 }));
    const list = await as(() => ours('docs').find({}, { raw: true, sort: { _id: 1 } }).toArray());
    const theirs = await raw('docs').find({}, { raw: true, sort: { _id: 1 } }).toArray();
    expect(list.map((b) => Buffer.from(b).toString('hex'))).toEqual(theirs.map((b) => Buffer.from(b).toString('hex')));
    const agg = await as(() => ours('docs').aggregate([{ $sort: { _id: 1 } }], { raw: true }).toArray());
    expect(agg.map((b) => BSON.deserialize(b))).toEqual(await raw('docs').find({}, { sort: { _id: 1 } }).toArray());
    const before = await as(() => ours('docs').findOneAndUpdate({ _id: 2 }, { $inc: { n: 1 } }, { raw: true }));
    expect(BSON.deserialize(before)).toEqual({ _id: 2, s: 'y', arr: [], n: 1 });
    // Counts and write results are read as usual (the driver's countDocuments would say 0).
    expect(await as(() => ours('docs').countDocuments({}, { raw: true }))).toBe(2);
    expect(await as(() => ours('docs').updateOne({ _id: 2 }, { $inc: { n: -1 } }, { raw: true }))).toMatchObject({ matchedCount: 1 });
    expect(await as(() => ours('docs').findOne({ _id: 404 }, { raw: true }))).toBeNull();
  });

  test('fieldsAsRaw and enableUtf8Validation read as the driver reads them', async () => {
    const opts = { fieldsAsRaw: { arr: true }, enableUtf8Validation: false };
    const mine = await as(() => ours('docs').findOne({ _id: 1 }, opts));
    const theirs = await raw('docs').findOne({ _id: 1 }, opts);
    expect(mine.arr.map((b) => Buffer.from(b).toString('hex'))).toEqual(theirs.arr.map((b) => Buffer.from(b).toString('hex')));
    expect(mine.s).toBe('x');
  });
});

describe('BSON write options', () => {
  test('ignoreUndefined and serializeFunctions store what the driver stores', async () => {
    const fn = function plusOne(x) {
      return x + 1;
    };
    for (const [id, options, doc] of [
      [10, { ignoreUndefined: true }, { u: undefined, n: { u: undefined, k: 1 } }],
      [11, {}, { u: undefined }],
      [12, { serializeFunctions: true }, { f: fn }],
    ]) {
      await as(() => ours('w').insertOne({ _id: id, ...doc }, options));
      await raw('w_driver').insertOne({ _id: id, ...doc }, options);
    }
    const mine = await raw('w').find({}, { sort: { _id: 1 } }).toArray();
    expect(mine).toEqual(await raw('w_driver').find({}, { sort: { _id: 1 } }).toArray());
    // ignoreUndefined applies to the filter too, as in the driver: { u: undefined } matches all.
    expect(await as(() => ours('w').countDocuments({ u: undefined }, { ignoreUndefined: true }))).toBe(3);
    // Without serializeFunctions a function in a request is refused: the driver would drop it silently.
    await expect(as(() => ours('w').deleteMany({ _id: fn }))).rejects.toThrow(TypeError);
    // With it, a Symbol or a BigInt past 64 bits is still refused (red-team round 21).
    await expect(as(() => ours('w').deleteMany({ _id: Symbol('x') }, { serializeFunctions: true }))).rejects.toThrow(/Symbol/);
    await expect(as(() => ours('w').findOne({ n: 2n ** 64n + 1n }, { serializeFunctions: true }))).rejects.toThrow(/64 bits/);
    expect(await raw('w').countDocuments()).toBe(3);
  });

  test('checkKeys refuses a stored key with a dot or a leading $, with js-bson\'s error, and nothing is written', async () => {
    for (const doc of [{ 'a.b': 1 }, { $x: 1 }, { ok: { 'deep.er': 1 } }]) {
      const mine = await captureError(() => as(() => ours('keys').insertOne({ ...doc }, { checkKeys: true })));
      const theirs = await captureError(() => raw('keys').insertOne({ ...doc }, { checkKeys: true }));
      expect([mine.name, mine.message]).toEqual([theirs.name, theirs.message]);
    }
    await expect(as(() => ours('keys').replaceOne({ _id: 1 }, { 'x.y': 1 }, { checkKeys: true, upsert: true }))).rejects.toThrow(/must not contain/);
    await expect(as(() => ours('keys').insertMany([{ ok: 1 }, { 'x.y': 1 }], { checkKeys: true }))).rejects.toThrow(/must not contain/);
    await expect(as(() => ours('keys').bulkWrite([{ insertOne: { document: { $bad: 1 } } }], { checkKeys: true }))).rejects.toThrow(/must not start/);
    expect(await raw('keys').countDocuments()).toBe(0);
    // Filters and updates keep their operators (the driver's checkKeys fails on them).
    await as(() => ours('keys').updateOne({ n: { $gt: 0 } }, { $set: { 'a.b': 1 } }, { checkKeys: true }));
  });
});

describe('options sent as the driver sends them', () => {
  const SENT = ['maxTimeMS', 'comment', 'let', 'allowDiskUse', 'noCursorTimeout', 'allowPartialResults', 'singleBatch', 'commitQuorum'];

  test.each([
    ['insertOne', 'insert', (c) => c.insertOne({ x: 1 }, { maxTimeMS: 4321, comment: 'w' })],
    ['insertMany', 'insert', (c) => c.insertMany([{ x: 1 }, { x: 2 }], { maxTimeMS: 4321 })],
    ['countDocuments', 'aggregate', (c) => c.countDocuments({}, { let: { v: 1 }, allowDiskUse: true, maxTimeMS: 4321 })],
    ['find', 'find', (c) => c.find({}, { noCursorTimeout: true, allowPartialResults: true }).toArray()],
    ['find timeout', 'find', (c) => c.find({}, { timeout: false }).toArray()],
    ['createIndex', 'createIndexes', (c) => c.createIndex({ q: 1 }, { comment: 'ix', maxTimeMS: 4321, commitQuorum: 'votingMembers' })],
  ])('%s', async (_label, command, run) => {
    const mine = await profiled(command, () => as(() => run(ours('sent'))));
    const theirs = await profiled(command, () => run(raw('sent_driver')));
    expect(mine).toBeDefined();
    expect(pick(mine, SENT)).toEqual(pick(theirs, SENT));
    expect(Object.keys(pick(mine, SENT)).length).toBeGreaterThan(0);
  });

  test('a write\'s maxTimeMS reaches the server: the same MaxTimeMSExpired as the driver\'s', async () => {
    // The profiler does not show a write's maxTimeMS: a filter that sleeps shows it takes effect.
    // Server-side JavaScript is refused to tenants, so this runs inside runAsSystem on 'field'.
    const sys = await TenantFence.connect(uri(), { database: `${DB}j` });
    try {
      const c = sys.collection('slow');
      await sys.runAsSystem({ reason: 'test' }, () => c.insertMany([{ _id: 1, tenantId: 'acme' }, { _id: 2, tenantId: 'acme' }]));
      await driver.db(`${DB}j`).collection('slow_driver').insertMany([{ _id: 1 }, { _id: 2 }]);
      const sleepy = { $where: 'sleep(200) || true' };
      const writes = [
        (x) => x.updateOne(sleepy, { $set: { y: 1 } }, { maxTimeMS: 50 }),
        (x) => x.updateMany(sleepy, { $set: { y: 1 } }, { maxTimeMS: 50 }),
        (x) => x.replaceOne(sleepy, { tenantId: 'acme', r: 1 }, { maxTimeMS: 50 }),
        (x) => x.deleteOne(sleepy, { maxTimeMS: 50 }),
        (x) => x.deleteMany(sleepy, { maxTimeMS: 50 }),
        (x) => x.bulkWrite([{ deleteOne: { filter: sleepy } }], { maxTimeMS: 50 }),
      ];
      for (const w of writes) {
        const mine = await captureError(() => sys.runAsSystem({ reason: 'test' }, () => w(c)));
        const theirs = await captureError(() => w(driver.db(`${DB}j`).collection('slow_driver')));
        expect([mine && mine.name, mine && mine.code]).toEqual([theirs.name, theirs.code]);
        expect(mine.code).toBe(50);
      }
      expect(await driver.db(`${DB}j`).collection('slow').countDocuments()).toBe(2);
    } finally {
      await driver.db(`${DB}j`).dropDatabase();
      await sys.close();
    }
  });

  test('a write with maxTimeMS answers and fails as the method does', async () => {
    const c = ours('mt');
    const r = await as(() => c.insertOne({ _id: 1, x: 1 }, { maxTimeMS: 5000 }));
    expect(r).toEqual(await raw('mt_driver').insertOne({ _id: 1, x: 1 }, { maxTimeMS: 5000 }));
    const mine = await captureError(() => as(() => c.insertOne({ _id: 1 }, { maxTimeMS: 5000 })));
    const theirs = await captureError(() => raw('mt_driver').insertOne({ _id: 1 }, { maxTimeMS: 5000 }));
    expect(mine).toBeInstanceOf(MongoServerError);
    expect([mine.name, mine.code]).toEqual([theirs.name, theirs.code]);
    // The fence fills in a write error's codeName on every path (docs/errors.md).
    expect(mine.codeName).toBe('DuplicateKey');
    expect((await captureError(() => as(() => c.insertOne({ _id: 1 })))).codeName).toBe('DuplicateKey');
    const up = { $set: { y: 1 } };
    expect(await as(() => c.updateOne({ _id: 2 }, up, { maxTimeMS: 5000, upsert: true }))).toEqual(
      await raw('mt_driver').updateOne({ _id: 2 }, up, { maxTimeMS: 5000, upsert: true }),
    );
    expect(await as(() => c.deleteMany({}, { maxTimeMS: 5000 }))).toEqual(await raw('mt_driver').deleteMany({}, { maxTimeMS: 5000 }));
  });

  test('singleBatch ends a find after its first batch; cursor.batchSize is an aggregation\'s batch size', async () => {
    await raw('batches').insertMany([1, 2, 3, 4, 5].map((i) => ({ _id: i })));
    const opts = { batchSize: 2, singleBatch: true, sort: { _id: 1 } };
    expect(await as(() => ours('batches').find({}, opts).toArray())).toEqual(await raw('batches').find({}, opts).toArray());
    const agg = await profiled('aggregate', () => as(() => ours('batches').aggregate([], { cursor: { batchSize: 3 } }).toArray()));
    expect(agg.cursor).toEqual({ batchSize: 3 });
  });

  test('sort on updateOne and replaceOne names the server version it needs', async () => {
    for (const run of [
      () => ours('sorted').updateOne({}, { $set: { x: 1 } }, { sort: { _id: -1 } }),
      () => ours('sorted').replaceOne({}, { x: 1 }, { sort: ['_id', 'desc'] }),
    ]) {
      const e = await captureError(() => as(run));
      expect(e).toBeInstanceOf(MongoCompatibilityError);
      expect(e.message).toMatch(/not supported on servers < 8\.0 \(this server: MongoDB 6\.x, maxWireVersion 17\)/);
    }
    expect(await raw('sorted').countDocuments()).toBe(0);
  });
});

describe('timeoutMS and signal', () => {
  let slow;
  let admin;
  const APP = `tf-timeout-${process.pid}`;

  beforeAll(async () => {
    const u = new URL(uri());
    u.searchParams.set('appName', APP);
    slow = await TenantFence.connect(u.toString(), { database: `${DB}s`, strategy: 'database' });
    admin = driver.db('admin');
    await slow.runAs('acme', () => slow.collection('t').insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }]));
  });

  afterAll(async () => {
    await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
    await driver.db(slow.databaseFor('acme')).dropDatabase();
    await slow.close();
  });

  /** Holds every `commands` of this test's fence (only it has this appName) for `ms`. */
  const block = (commands, ms) =>
    admin.command({ configureFailPoint: 'failCommand', mode: 'alwaysOn', data: { failCommands: commands, blockConnection: true, blockTimeMS: ms, appName: APP } });

  test('a call past its timeoutMS rejects with MongoOperationTimeoutError, and sends maxTimeMS', async () => {
    await block(['find', 'aggregate'], 1500);
    try {
      const t0 = Date.now();
      const e = await captureError(() => slow.runAs('acme', () => slow.collection('t').findOne({ _id: 1 }, { timeoutMS: 200 })));
      expect(e).toBeInstanceOf(MongoOperationTimeoutError);
      expect(Date.now() - t0).toBeLessThan(1400);
      const c = await captureError(() => slow.runAs('acme', () => slow.collection('t').find({}, { timeoutMS: 200 }).toArray()));
      expect(c).toBeInstanceOf(MongoOperationTimeoutError);
    } finally {
      await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
    }
    const sent = await profiled('find', () => as(() => ours('docs').findOne({ _id: 1 }, { timeoutMS: 9000 })));
    expect(sent.maxTimeMS).toBe(9000);
    // Within the limit, the answer is the same as without it.
    expect(await slow.runAs('acme', () => slow.collection('t').find({}, { timeoutMS: 5000, sort: { _id: 1 } }).toArray())).toEqual([{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
  });

  test("a cursor's timeoutMS covers its lifetime, or each read with timeoutMode 'iteration'", async () => {
    const c = slow.collection('t');
    // Lifetime: 400 ms for the whole cursor; each getMore is held 250 ms, so the second one is late.
    const cur = slow.runAs('acme', () => c.find({}, { batchSize: 1, timeoutMS: 400 }));
    expect(await cur.next()).toEqual({ _id: 1 });
    await block(['getMore'], 250);
    try {
      const e = await captureError(async () => {
        for (;;) if ((await cur.next()) === null) break;
      });
      expect(e).toBeInstanceOf(MongoOperationTimeoutError);
      expect(cur.closed).toBe(true);
      // Iteration: each read gets its own 400 ms, so every batch arrives.
      const it = slow.runAs('acme', () => c.find({}, { batchSize: 1, timeoutMS: 400, timeoutMode: 'iteration', sort: { _id: 1 } }));
      expect(await it.toArray()).toEqual([{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
    } finally {
      await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
    }
    await expect(slow.runAs('acme', () => c.findOne({}, { timeoutMode: 'iteration', timeoutMS: 5 }))).rejects.toThrow(TypeError);
  });

  test('nothing is sent once the signal is aborted or the deadline has passed, and a late failure crashes nothing (red-team round 21)', async () => {
    const c = slow.collection('t');
    const unhandled = [];
    const onUnhandled = (e) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const reason = new Error('gone');
      const aborted = AbortSignal.abort(reason);
      expect(await captureError(() => slow.runAs('acme', () => c.insertOne({ x: 'aborted' }, { signal: aborted })))).toBe(reason);
      expect(await captureError(() => slow.runAs('acme', () => c.updateMany({}, { $set: { y: 1 } }, { signal: aborted })))).toBe(reason);
      // A refused call with an aborted signal: the refusal must not surface later as unhandled.
      expect(await captureError(() => slow.runAs('acme', () => c.insertOne({ tenantId: 'b' }, { signal: aborted })))).toBe(reason);
      // A deadline already past when the (slow to encode) request is ready: not sent.
      const many = Array.from({ length: 20000 }, (_, i) => ({ i, pad: 'x'.repeat(20) }));
      const e = await captureError(() => slow.runAs('acme', () => c.insertMany(many, { timeoutMS: 1 })));
      expect(e).toBeInstanceOf(MongoOperationTimeoutError);
      // A call given up while in flight that then fails: handled, not unhandled.
      await block(['insert'], 300);
      try {
        const late = await captureError(() => slow.runAs('acme', () => c.insertOne({ _id: 1 }, { timeoutMS: 50 })));
        expect(late).toBeInstanceOf(MongoOperationTimeoutError);
        await new Promise((r) => setTimeout(r, 600));
      } finally {
        await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
      }
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    const stored = await driver.db(slow.databaseFor('acme')).collection('t').find({ _id: { $nin: [1, 2, 3] } }).toArray();
    expect(stored.filter((d) => d.x === 'aborted' || d.y === 1 || d.i !== undefined)).toEqual([]);
  });

  test('a cursor stops listening to its signal once it is closed or read to the end', async () => {
    const c = slow.collection('t');
    const long = new AbortController();
    let listeners = 0;
    const add = long.signal.addEventListener.bind(long.signal);
    const remove = long.signal.removeEventListener.bind(long.signal);
    long.signal.addEventListener = (...a) => { listeners++; add(...a); };
    long.signal.removeEventListener = (...a) => { listeners--; remove(...a); };
    for (let i = 0; i < 20; i++) await slow.runAs('acme', () => c.find({}, { signal: long.signal }).toArray());
    const open = slow.runAs('acme', () => c.find({}, { signal: long.signal, batchSize: 1 }));
    await open.next();
    await open.close();
    expect(listeners).toBe(0);
  });

  test('an aborted signal rejects with its reason; a cursor is closed', async () => {
    const c = slow.collection('t');
    const done = new AbortController();
    const reason = new Error('client went away');
    done.abort(reason);
    expect(await captureError(() => slow.runAs('acme', () => c.findOne({}, { signal: done.signal })))).toBe(reason);
    await block(['find'], 1000);
    try {
      const later = new AbortController();
      const p = slow.runAs('acme', () => c.find({}, { signal: later.signal }).toArray());
      setTimeout(() => later.abort(reason), 100);
      expect(await captureError(() => p)).toBe(reason);
    } finally {
      await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
    }
    await expect(slow.runAs('acme', () => c.findOne({}, { signal: {} }))).rejects.toThrow(TypeError);
  });
});

describe('collection members', () => {
  test('dbName, namespace and db follow the context, as the driver\'s name the collection\'s database', async () => {
    const c = fence.collection('members');
    expect(c.dbName).toBe(DB);
    expect(await as(() => c.dbName)).toBe(tenantDb);
    expect(await as(() => c.namespace)).toBe(`${tenantDb}.members`);
    expect(c.db).toBe(fence.db);
    const field = await TenantFence.connect(uri(), { database: `${DB}f` });
    try {
      expect(await field.runAs('acme', () => field.collection('m').namespace)).toBe(`${DB}f.m`);
    } finally {
      await field.close();
    }
  });

  test('refused options say why', async () => {
    const e = await captureError(() => as(() => ours('docs').find({}, { dbName: 'elsewhere' }).toArray()));
    expect(e).toBeInstanceOf(TenantError);
    expect(e.message).toMatch(/^options\.dbName is refused: /);
  });
});

describe("batch results and write errors as the driver's", () => {
  const { BulkWriteResult, WriteError, MongoBulkWriteError } = require('../..');

  test('a bulkWrite resolves to a BulkWriteResult with the driver\'s methods and answers', async () => {
    const ops = [
      { insertOne: { document: { _id: 1, k: 'a' } } },
      { updateOne: { filter: { _id: 9 }, update: { $set: { k: 'u' } }, upsert: true } },
      { deleteOne: { filter: { _id: 404 } } },
    ];
    const mine = await as(() => ours('bw').bulkWrite(ops));
    const theirs = await raw('bw_driver').bulkWrite(ops);
    expect(mine).toBeInstanceOf(BulkWriteResult);
    for (const m of ['isOk', 'hasWriteErrors', 'getWriteErrorCount', 'getWriteErrors']) expect([m, mine[m]()]).toEqual([m, theirs[m]()]);
    expect(mine.ok).toBe(theirs.ok);
    expect(mine.getUpsertedIdAt(0)).toEqual(theirs.getUpsertedIdAt(0));
    expect(mine.getWriteConcernError()).toBe(theirs.getWriteConcernError());
    const counts = (r) => {
      const { nInserted, nUpserted, nMatched, nModified, nRemoved, upserted, writeErrors } = r.getRawResponse();
      return { nInserted, nUpserted, nMatched, nModified, nRemoved, upserted, writeErrors };
    };
    expect(counts(mine)).toEqual(counts(theirs));
    expect(String(mine)).toMatch(/^BulkWriteResult\(\{"ok":1,/);
  });

  test('a failed batch carries WriteErrors and a BulkWriteResult of what went in; a single write keeps keyPattern / keyValue', async () => {
    await as(() => ours('dup').createIndex({ email: 1 }, { unique: true }));
    await raw('dup_driver').createIndex({ email: 1 }, { unique: true });
    const ops = [{ insertOne: { document: { email: 'x' } } }, { insertOne: { document: { email: 'x' } } }];
    const mine = await captureError(() => as(() => ours('dup').bulkWrite(ops.map((o) => structuredClone(o)))));
    const theirs = await captureError(() => raw('dup_driver').bulkWrite(ops.map((o) => structuredClone(o))));
    expect(mine).toBeInstanceOf(MongoBulkWriteError);
    expect(mine.result).toBeInstanceOf(BulkWriteResult);
    expect([mine.result.insertedCount, mine.result.getWriteErrorCount()]).toEqual([theirs.result.insertedCount, theirs.result.getWriteErrorCount()]);
    const [w] = mine.writeErrors;
    expect(w).toBeInstanceOf(WriteError);
    expect([w.index, w.code]).toEqual([theirs.writeErrors[0].index, theirs.writeErrors[0].code]);
    expect([w.err.keyPattern, w.err.keyValue]).toEqual([theirs.writeErrors[0].err.keyPattern, theirs.writeErrors[0].err.keyValue]);
    // A write with maxTimeMS is sent as a command too: its error has them, as the driver's.
    const one = await captureError(() => as(() => ours('dup').insertOne({ email: 'x' }, { maxTimeMS: 5000 })));
    const driverOne = await captureError(() => raw('dup_driver').insertOne({ email: 'x' }, { maxTimeMS: 5000 }));
    expect([one.keyPattern, one.keyValue]).toEqual([driverOne.keyPattern, driverOne.keyValue]);
  });

  test('a document validation failure carries errInfo, as the driver\'s', async () => {
    const validator = { n: { $type: 'int' } };
    await as(() => fence.db.createCollection('valid', { validator }));
    await driver.db(tenantDb).createCollection('valid_driver', { validator });
    const mine = await captureError(() => as(() => ours('valid').insertOne({ _id: 1, n: 'no' })));
    const theirs = await captureError(() => raw('valid_driver').insertOne({ _id: 1, n: 'no' }));
    expect(mine.code).toBe(121);
    expect(mine.errInfo).toEqual(theirs.errInfo);
  });
});

describe('documents whose keys look like extended JSON are stored as sent, on every path (red-team round 22)', () => {
  test('{ k, $date } / { k, $numberLong } / { k, $oid } and top-level $ fields: insertOne, with maxTimeMS, bulkWrite, $set, as the driver stores them', async () => {
    const shapes = [
      { x: { k: 1, $date: '2020-01-01T00:00:00Z' } },
      { x: { k: 1, $numberLong: '7' } },
      { x: { a: 1, $oid: '0123456789ab0123456789ab' } },
      { $numberLong: '5', y: 1 },
    ];
    const paths = [
      (c, d, i) => c.insertOne({ _id: `one${i}`, ...d }),
      (c, d, i) => c.insertOne({ _id: `mt${i}`, ...d }, { maxTimeMS: 5000 }),
      (c, d, i) => c.bulkWrite([{ insertOne: { document: { _id: `bulk${i}`, ...d } } }]),
      (c, d, i) => c.updateOne({ _id: `set${i}` }, { $set: d.x ? { x: d.x } : { y: 1 } }, { upsert: true }),
    ];
    for (let i = 0; i < shapes.length; i++) {
      for (const p of paths) {
        await as(() => p(ours('ejson'), structuredClone(shapes[i]), i));
        await p(raw('ejson_driver'), structuredClone(shapes[i]), i);
      }
    }
    const mine = await raw('ejson').find({}, { sort: { _id: 1 } }).toArray();
    const theirs = await raw('ejson_driver').find({}, { sort: { _id: 1 } }).toArray();
    expect(mine).toEqual(theirs);
    expect(mine.find((d) => d._id === 'mt0').x).toEqual({ k: 1, $date: '2020-01-01T00:00:00Z' });
  });
});
