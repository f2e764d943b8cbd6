'use strict';
// "Not one bit": a tenant learns nothing about another tenant's documents, and cannot change
// or block them, through results, errors, the success of its own calls, or shared counters.
// Each test here reproduces a red-team finding (issue 12) through the public API.

const { MinKey } = require('bson');
const { TenantError, Timestamp } = require('../..');
const { useSuite, captureError, expectTenantError } = require('../helpers/fixtures');

const suite = useSuite('bit');
const { as } = suite;

/** An expression that fails on a document holding `secret`, quoting it in the message. */
const QUOTES_SECRET = { $toInt: { $concat: ['#', '$secret'] } };
/**
 * An expression that fails only when another tenant's secret has a chosen value: a one-bit
 * oracle. (The failing branch reads a field, so the server cannot fold it into a constant.)
 */
const ONE_BIT = { $cond: [{ $eq: ['$secret', '078-05-1120'] }, { $toInt: { $concat: ['x', { $toString: '$_id' }] } }, false] };

describe("a caller's expressions never run on another tenant's document", () => {
  beforeAll(async () => {
    await suite.rdb.collection('vault').insertMany([
      { _id: 1, tenantId: 'acme', n: 1 },
      { _id: 2, tenantId: 'globex', secret: '078-05-1120', card: '4111111111111111' },
      { _id: 3, tenantId: 'acme', n: 3 },
    ]);
  });

  // An _id predicate and an _id hint make the plan scan the shared _id index and evaluate the
  // rest of the filter on every tenant's documents, before the tenant equality.
  const byId = (e) => ({ _id: { $gte: new MinKey() }, $expr: e });
  // `o` is {} or an _id hint; an _id hint is refused under a tenant since finding 9 (bounds.test.js).
  const calls = {
    find: (c, e, o) => c.find(byId(e), o).toArray(),
    findOne: (c, e, o) => c.findOne(byId(e), o),
    countDocuments: (c, e, o) => c.countDocuments(byId(e), o),
    // MongoDB 6.0's distinct takes no hint; the _id predicate alone picks the _id index.
    distinct: (c, e) => c.distinct('n', byId(e)),
    updateMany: (c, e, o) => c.updateMany(byId(e), { $set: { seen: 1 } }, o),
    deleteMany: (c, e, o) => c.deleteMany(byId(e), o),
    findOneAndUpdate: (c, e, o) => c.findOneAndUpdate(byId(e), { $set: { seen: 1 } }, o),
    'aggregate leading $match': (c, e, o) => c.aggregate([{ $match: byId(e) }], o).toArray(),
    'aggregate later $match': (c, e, o) => c.aggregate([{ $sort: { _id: 1 } }, { $match: byId(e) }], o).toArray(),
    'aggregate $lookup pipeline': (c, e) =>
      c.aggregate([{ $limit: 1 }, { $lookup: { from: 'vault', pipeline: [{ $match: byId(e) }], as: 'j' } }]).toArray(),
    updateOne: (c, e, o) => c.updateOne(byId(e), { $set: { u: 1 } }, o),
  };
  const hinted = new Set(['find', 'findOne', 'countDocuments', 'updateMany', 'deleteMany', 'findOneAndUpdate', 'aggregate leading $match', 'aggregate later $match', 'updateOne']);

  for (const [name, call] of Object.entries(calls)) {
    for (const [what, e] of [['an error quoting it', QUOTES_SECRET], ['an error or not', ONE_BIT]]) {
      test(`${name}: another tenant's document gives ${what} no say`, async () => {
        const c = suite.fence.collection('vault');
        let error;
        try {
          await as('acme', () => call(c, e, {}));
        } catch (err) {
          error = err;
        }
        // acme's own documents have no secret: the expression is null or false there.
        expect(error && `${error.code} ${error.message}`).toBeUndefined();
        if (hinted.has(name)) {
          const refused = await captureError(as('acme', () => call(c, e, { hint: { _id: 1 } })));
          expect(`${refused.code} ${refused.message}`).toMatch(/^TENANT_VIOLATION hint must name an index that leads with 'tenantId' in the simple collation/);
        }
      });
    }
  }

  test('server-side JavaScript is refused under a tenant, not run on every document', async () => {
    const c = suite.fence.collection('vault');
    await expectTenantError(as('acme', () => c.find({ $where: 'this.secret && sleep(10)' }).toArray()), 'TENANT_VIOLATION');
    const fn = { $function: { body: 'function(s) { return s === "x"; }', args: ['$secret'], lang: 'js' } };
    await expectTenantError(as('acme', () => c.countDocuments({ $expr: fn })), 'TENANT_VIOLATION');
    await expectTenantError(as('acme', () => c.aggregate([{ $project: { y: fn } }]).toArray()), 'TENANT_VIOLATION');
  });

  test('a later $match after a reshaping stage still sees what the caller built', async () => {
    const c = suite.fence.collection('vault');
    const got = await as('acme', () =>
      c.aggregate([{ $group: { _id: '$tenantId', n: { $sum: 1 } } }, { $match: { $expr: { $gte: ['$n', 2] } } }]).toArray(),
    );
    expect(got).toEqual([{ _id: 'acme', n: 2 }]);
  });
});

describe('a document names each field once', () => {
  test('a Map naming the tenant field twice is refused and writes nothing, on every write path', async () => {
    const c = suite.fence.collection('twice');
    // js-bson writes both keys; mongod reads the first, a parsed tree the last.
    const planted = () => new Map([[new String('tenantId'), 'globex'], ['tenantId', 'acme'], ['v', 1]]); // eslint-disable-line no-new-wrappers
    const writes = {
      insertOne: () => c.insertOne(planted()),
      insertMany: () => c.insertMany([{ v: 0 }, planted()]),
      'bulkWrite insertOne': () => c.bulkWrite([{ insertOne: { document: planted() } }]),
      'replaceOne upsert': () => c.replaceOne({ v: 9 }, planted(), { upsert: true }),
      'findOneAndReplace upsert': () => c.findOneAndReplace({ v: 9 }, planted(), { upsert: true }),
      '$setOnInsert upsert': () => c.updateOne({ v: 9 }, { $setOnInsert: planted() }, { upsert: true }),
    };
    for (const [name, write] of Object.entries(writes)) {
      const e = await captureError(as('acme', write));
      expect([name, e instanceof TenantError && e.code]).toEqual([name, 'TENANT_VIOLATION']);
    }
    expect(await suite.rdb.collection('twice').countDocuments()).toBe(0);
  });

  test('any other repeated key is a TypeError naming it', async () => {
    const c = suite.fence.collection('twice2');
    const e = await captureError(as('acme', () => c.insertOne(new Map([['v', 1], [new String('v'), 2]])))); // eslint-disable-line no-new-wrappers
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toMatch(/'v' more than once/);
  });
});

describe('createIndex', () => {
  test("a tenant's index build succeeds or fails the same whatever another tenant's documents hold", async () => {
    await suite.rdb.collection('pins').insertOne({ tenantId: 'globex', user: 'ceo', pin: '5821' });
    const c = suite.fence.collection('pins');
    const outcome = (p) => p.then(() => 'built', (e) => `${e.code}`);
    // A partial 2dsphere index fails exactly when some document matches (a binary search on the PIN).
    const geo = (lower) => as('acme', () => c.createIndex({ pin: '2dsphere' }, { name: `g${lower}`, partialFilterExpression: { user: 'ceo', pin: { $gte: lower } } }));
    expect([await outcome(geo('5')), await outcome(geo('6'))]).toEqual(['TENANT_VIOLATION', 'TENANT_VIOLATION']);
    // A unique index would fail on another tenant's duplicates, and then block their inserts.
    await suite.rdb.collection('pins').insertOne({ tenantId: 'globex', user: 'ceo', pin: '5821' });
    expect(await outcome(as('acme', () => c.createIndex({ pin: 1 }, { unique: true })))).toBe('TENANT_VIOLATION');
    // Plain indexes build whatever the data.
    const plain = (lower) => as('acme', () => c.createIndex({ pin: 1 }, { name: `p${lower}`, partialFilterExpression: { user: 'ceo', pin: { $gte: lower } } }));
    expect([await outcome(plain('5')), await outcome(plain('6'))]).toEqual(['built', 'built']);
    await suite.rdb.collection('pins').insertOne({ tenantId: 'globex', user: 'ceo', pin: '5821' });
    expect(await suite.rdb.collection('pins').countDocuments({ tenantId: 'globex' })).toBe(3);
  });
});

describe('bulkWrite collation', () => {
  test("collation: null or undefined on an operation is pinned like a missing one: acme never touches ACME's documents", async () => {
    // The fence first sees the collection with the simple collation (and pins that on every call),
    // then it is re-created with a case-insensitive default behind the fence's back.
    await suite.rdb.createCollection('ci');
    await as('acme', () => suite.fence.collection('ci').countDocuments({}));
    await suite.rdb.collection('ci').drop();
    await suite.rdb.createCollection('ci', { collation: { locale: 'en', strength: 2 } });
    await suite.rdb.collection('ci').insertMany([
      { _id: 1, tenantId: 'acme', x: 1 },
      { _id: 2, tenantId: 'ACME', x: 1 },
      { _id: 3, tenantId: 'ACME', x: 2 },
    ]);
    const c = suite.fence.collection('ci');
    const r = await as('acme', () =>
      c.bulkWrite([
        { updateMany: { filter: {}, update: { $set: { hit: 1 } }, collation: null } },
        { deleteMany: { filter: { x: 2 }, collation: undefined } },
      ]),
    );
    expect([r.matchedCount, r.deletedCount]).toEqual([1, 0]);
    expect(await suite.rdb.collection('ci').find({ tenantId: 'ACME' }, { collation: { locale: 'simple' } }).toArray()).toEqual([
      { _id: 2, tenantId: 'ACME', x: 1 },
      { _id: 3, tenantId: 'ACME', x: 2 },
    ]);
  });
});

describe('generated _ids', () => {
  test("a tenant's ids count only its own inserts, and share nothing with another tenant's", async () => {
    const c = suite.fence.collection('ids');
    const counter = (id) => id.id.readUIntBE(9, 3);
    const first = (await as('acme', () => c.insertOne({}))).insertedId;
    const theirs = await as('globex', () => c.insertMany(Array.from({ length: 50 }, () => ({}))));
    const next = (await as('acme', () => c.insertOne({}))).insertedId;
    // Consecutive for acme, whatever globex did in between (the counter wraps at 2^24).
    expect((counter(next) - counter(first) + 0x1000000) % 0x1000000).toBe(1);
    const prefix = (id) => id.id.subarray(4, 9).toString('hex');
    expect(prefix(next)).toBe(prefix(first));
    for (const id of Object.values(theirs.insertedIds)) expect(prefix(id)).not.toBe(prefix(first));
    // Still ObjectIds that carry their second.
    expect(Math.abs(next.getTimestamp().getTime() - Date.now())).toBeLessThan(60_000);
  });
});

describe('upserts', () => {
  test("the _id of an upsert that names none is random, not the server's counter another tenant can read", async () => {
    const c = suite.fence.collection('ups');
    const ids = [];
    for (let k = 0; k < 3; k++) ids.push((await as('acme', () => c.updateOne({ k }, { $set: { v: 1 } }, { upsert: true }))).upsertedId);
    ids.push((await as('acme', () => c.findOneAndUpdate({ k: 9 }, { $set: { v: 1 } }, { upsert: true, returnDocument: 'after' })))._id);
    // mongod's own ids share their 5 process bytes and count up; these share nothing after the second.
    const middle = ids.map((id) => id.id.subarray(4, 9).toString('hex'));
    expect(new Set(middle).size).toBe(ids.length);
    // The caller's own _id is kept.
    const named = await as('acme', () => c.updateOne({ _id: 'mine' }, { $set: { v: 1 } }, { upsert: true }));
    expect(named.upsertedId).toBe('mine');
  });
});

describe('a later $match after $unionWith', () => {
  test("sees the union's rows as the caller built them (they carry no tenant field of their own)", async () => {
    await suite.rdb.collection('uw_a').insertOne({ tenantId: 'acme', k: 1 });
    await suite.rdb.collection('uw_b').insertMany([{ tenantId: 'acme', k: 2 }, { tenantId: 'globex', k: 3 }]);
    const got = await as('acme', () =>
      suite.fence
        .collection('uw_a')
        .aggregate([{ $unionWith: { coll: 'uw_b', pipeline: [{ $group: { _id: '$k' } }] } }, { $match: { $expr: { $ne: ['$_id', 0] } } }, { $project: { _id: 1 } }])
        .toArray(),
    );
    expect(got.map((d) => d._id).filter((v) => typeof v === 'number')).toEqual([2]);
  });
});

describe('cursor reads', () => {
  test('reads queued around close() return nothing after it', async () => {
    await suite.rdb.collection('closing').insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i, tenantId: 'acme' })));
    const cursor = as('acme', () => suite.fence.collection('closing').find({}, { batchSize: 2 }));
    const first = cursor.next();
    const closed = cursor.close();
    const [a, , b, rest] = await Promise.all([first, closed, cursor.next(), cursor.toArray()]);
    expect([b, rest]).toEqual([null, []]);
    expect(a === null || a._id === 0).toBe(true);
  });

  test('next() and toArray() at the same time return every document once, in order', async () => {
    await suite.rdb.collection('seq').insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i, tenantId: 'acme' })));
    const cursor = as('acme', () => suite.fence.collection('seq').find({}, { sort: { _id: 1 }, batchSize: 3 }));
    const [one, rest] = await Promise.all([cursor.next(), cursor.toArray()]);
    expect([one, ...rest].map((d) => d._id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await cursor.next()).toBeNull();
  });
});

describe('counters every tenant moves', () => {
  test.each([
    ['find projection $meta recordId', (c) => c.find({}, { projection: { r: { $meta: 'recordId' } } }).toArray()],
    ['findOne projection $meta recordId', (c) => c.findOne({}, { projection: { r: { $meta: 'recordId' } } })],
    ['aggregate $meta indexKey', (c) => c.aggregate([{ $project: { k: { $meta: 'indexKey' } } }]).toArray()],
    ['aggregate $$CLUSTER_TIME', (c) => c.aggregate([{ $set: { t: '$$CLUSTER_TIME' } }]).toArray()],
    ['pipeline update $$CLUSTER_TIME', (c) => c.updateOne({}, [{ $set: { t: '$$CLUSTER_TIME' } }])],
    // The server fills these two with the oplog clock.
    ['an empty Timestamp inserted', (c) => c.insertOne({ t: new Timestamp({ t: 0, i: 0 }) })],
    ['$currentDate as a timestamp', (c) => c.updateOne({}, { $currentDate: { t: { $type: 'timestamp' } } })],
  ])('%s is refused', async (_, call) => {
    await expectTenantError(as('acme', () => call(suite.fence.collection('seq'))), 'TENANT_VIOLATION');
  });

  test('runAsSystem may still read them', async () => {
    const fence = suite.fence;
    const got = await fence.runAsSystem({ reason: 'test' }, () =>
      fence.collection('seq').find({ _id: 0 }, { projection: { r: { $meta: 'recordId' } } }).toArray(),
    );
    expect(got).toHaveLength(1);
    expect(got[0].r).toBeDefined();
  });
});
