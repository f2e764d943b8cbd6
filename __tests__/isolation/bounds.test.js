'use strict';
// Red-team finding 9 (issue 12): the documents the server examines for a tenant's query are the
// tenant's own, whatever the caller's filter, hint or index. MongoDB's profiler records, for each
// operation, how many index keys and documents its plan examined: that is what a timing oracle
// measures, so it is what these tests bound.

const { MinKey, Long, Double, Decimal128 } = require('bson');
const { auditCommand } = require('../../lib/testing');
const { useSuite, captureError, expectTenantError, uri } = require('../helpers/fixtures');
const { TenantFence } = require('../..');

const suite = useSuite('bounds');
const { as } = suite;

const ACME = 5;
const GLOBEX = 400;

/** Seeds `name`: acme's few documents, globex's many, and an index that does not lead with the tenant. */
async function seed(name, { tenantIndex = true } = {}) {
  const c = suite.rdb.collection(name);
  const docs = [];
  for (let i = 0; i < ACME; i += 1) docs.push({ _id: `a${i}`, tenantId: 'acme', apiKey: `ak-${i}`, n: i });
  for (let i = 0; i < GLOBEX; i += 1) docs.push({ _id: `g${i}`, tenantId: 'globex', apiKey: `PREFIX-${i}`, n: i });
  await c.insertMany(docs);
  await c.createIndex({ apiKey: 1 });
  if (tenantIndex) await c.createIndex({ tenantId: 1, n: 1 });
  return c;
}

/** `seed`, then one array in the tenant field written and removed outside the fence: the tenant index stays multikey. */
async function seedMultikey(name) {
  const raw = await seed(name);
  await raw.insertOne({ _id: 'arr', tenantId: ['globex', 'old'] });
  await raw.deleteOne({ _id: 'arr' });
  return raw;
}

/** Profiler entries for `name` written while `fn` ran. */
async function profiled(name, fn) {
  const db = suite.rdb;
  await db.command({ profile: 0 });
  await db.collection('system.profile').drop().catch(() => {});
  await db.command({ profile: 2 });
  try {
    await fn();
  } finally {
    await db.command({ profile: 0 });
  }
  const ns = `${suite.DB}.${name}`;
  // The fence's own commands (its appName), minus index metadata it reads or builds.
  const entries = await db.collection('system.profile').find({ ns, appName: 'tenantfence' }).toArray();
  return entries.filter((e) => !(e.command && (e.command.listIndexes || e.command.createIndexes)));
}

// The finding's shape: an _id window (which made the plan walk the shared _id index) and an
// expensive predicate on a field other tenants hold.
const window = () => ({ _id: { $gte: new MinKey() }, apiKey: { $in: [/^PREFIX(.+.+)+[\n\r]/, /^PREFIX-1/] } });
const calls = {
  find: (c) => c.find(window()).toArray(),
  findOne: (c) => c.findOne(window()),
  countDocuments: (c) => c.countDocuments(window()),
  distinct: (c) => c.distinct('n', window()),
  estimatedDocumentCount: (c) => c.estimatedDocumentCount(),
  updateOne: (c) => c.updateOne(window(), { $set: { seen: 1 } }),
  updateMany: (c) => c.updateMany(window(), { $set: { seen: 1 } }),
  replaceOne: (c) => c.replaceOne(window(), { n: -1 }),
  deleteOne: (c) => c.deleteOne(window()),
  deleteMany: (c) => c.deleteMany(window()),
  findOneAndUpdate: (c) => c.findOneAndUpdate(window(), { $set: { seen: 1 } }),
  findOneAndReplace: (c) => c.findOneAndReplace(window(), { n: -1 }),
  findOneAndDelete: (c) => c.findOneAndDelete(window()),
  'aggregate leading $match': (c) => c.aggregate([{ $match: window() }]).toArray(),
  'aggregate $group first': (c) => c.aggregate([{ $group: { _id: null, n: { $sum: 1 } } }]).toArray(),
  'bulkWrite update and delete': (c) =>
    c.bulkWrite([
      { updateMany: { filter: window(), update: { $set: { seen: 2 } } } },
      { deleteMany: { filter: window() } },
    ]),
  'a field with its own index': (c) => c.find({ apiKey: /^PREFIX/ }).toArray(),
  // The planner's own pick without a hint: an equality on another tenant's value of an indexed
  // field, and an _id of theirs beside another clause, walk their keys on an unbounded plan.
  'an equality on a field with its own index': (c) => c.countDocuments({ apiKey: 'PREFIX-7' }),
  'an _id of theirs and another clause': (c) => c.find({ _id: 'g3', n: { $gte: 0 } }).toArray(),
  'updateOne by an equality on a field with its own index': (c) => c.updateOne({ apiKey: 'PREFIX-8' }, { $set: { seen: 1 } }),
  // Round 4: string _ids under a collation that is not the _id index's cannot use that index.
  '_id values with a collation of their own': (c) => c.find({ _id: { $in: ['a1', 'g1', 'g2'] } }, { collation: { locale: 'en', strength: 2 } }).toArray(),
};

describe('a tenant query examines only the tenant’s keys and documents', () => {
  let i = 0;
  for (const [name, call] of Object.entries(calls)) {
    for (const tenantIndex of [true, false]) {
      test(`${name} (${tenantIndex ? 'with a tenant index' : 'no tenant index yet: the fence builds one'})`, async () => {
        i += 1;
        const coll = `w${i}`;
        await seed(coll, { tenantIndex });
        const c = suite.fence.collection(coll);
        const entries = await profiled(coll, () => as('acme', () => call(c)));
        const ops = entries.filter((e) => e.op !== 'insert');
        expect(ops.length).toBeGreaterThan(0);
        for (const e of ops) {
          // (A distinct the server refused for its hint, before 7.1, examined nothing.)
          const seen = { plan: e.planSummary, keys: e.keysExamined ?? 0, docs: e.docsExamined ?? 0 };
          expect([name, seen.keys <= ACME + 1, seen.docs <= ACME, e]).toEqual([name, true, true, e]);
          if (e.planSummary && !/^IDHACK/.test(e.planSummary)) expect(e.planSummary).toMatch(/^(IXSCAN|COUNT_SCAN|DISTINCT_SCAN) \{ tenantId: 1/);
        }
        // Nothing of globex's was read or changed.
        expect(await suite.rdb.collection(coll).countDocuments({ tenantId: 'globex', seen: { $exists: true } })).toBe(0);
        expect(await suite.rdb.collection(coll).countDocuments({ tenantId: 'globex' })).toBe(GLOBEX);
      });
    }
  }

  test('point lookups by _id may use the _id index: it examines one document per value', async () => {
    await seed('ids');
    const c = suite.fence.collection('ids');
    const entries = await profiled('ids', () => as('acme', () => c.find({ _id: { $in: ['a1', 'g1', 'g2'] } }).toArray()));
    const finds = entries.filter((e) => e.op === 'query');
    expect(finds.length).toBe(1);
    expect(finds[0].docsExamined).toBeLessThanOrEqual(3);
    expect(finds[0].nreturned).toBe(1);
  });
});

describe('a caller condition on the tenant field (round 4)', () => {
  test('cannot shape the plan, even on a tenant index made multikey outside the fence', async () => {
    const raw = await seedMultikey('multikey');
    const c = suite.fence.collection('multikey');
    const theirs = () => ({ tenantId: { $gte: 'globex', $lte: 'globex' }, apiKey: /^PREFIX/ });
    const probes = {
      find: () => c.find(theirs()).toArray(),
      countDocuments: () => c.countDocuments({ $or: [{ tenantId: 'globex' }, { tenantId: 'initech' }] }),
      distinct: () => c.distinct('n', { tenantId: { $in: ['globex', 'x'] } }),
      aggregate: () => c.aggregate([{ $match: theirs() }, { $match: { tenantId: 'globex' } }]).toArray(),
      updateMany: () => c.updateMany(theirs(), { $set: { seen: 1 } }),
      deleteMany: () => c.deleteMany(theirs()),
      findOneAndUpdate: () => c.findOneAndUpdate({ tenantId: 'globex' }, { $set: { seen: 1 } }),
    };
    for (const [name, call] of Object.entries(probes)) {
      const entries = await profiled('multikey', () => as('acme', call));
      for (const e of entries.filter((x) => x.planSummary)) {
        expect([name, e.keysExamined <= ACME + 1, e.docsExamined <= ACME]).toEqual([name, true, true]);
      }
    }
    expect(await raw.countDocuments({ tenantId: 'globex', seen: { $exists: true } })).toBe(0);
    expect(await raw.countDocuments({ tenantId: 'globex' })).toBe(GLOBEX);
  });
});

describe('round 6: the shield', () => {
  test('a later $match on a copy of the tenant field cannot shape the plan on a multikey tenant index', async () => {
    await seedMultikey('copied');
    const c = suite.fence.collection('copied');
    const pipelines = [
      [{ $addFields: { t2: '$tenantId' } }, { $match: { t2: { $gte: 'globex', $lte: 'globex' } } }, { $count: 'n' }],
      [{ $project: { o: { t: '$tenantId' } } }, { $match: { 'o.t': 'globex' } }],
      [{ $group: { _id: '$tenantId' } }, { $match: { _id: { $in: ['globex', 'zz'] } } }],
    ];
    for (const p of pipelines) {
      const entries = await profiled('copied', () => as('acme', () => c.aggregate(p).toArray()));
      for (const e of entries.filter((x) => x.planSummary)) {
        expect([p, e.keysExamined <= ACME + 1, e.docsExamined <= ACME]).toEqual([p, true, true]);
      }
    }
  });

  test('only the clauses naming the tenant field are wrapped: positional updates, $text and $near still work', async () => {
    const raw = suite.rdb.collection('posn');
    await raw.insertMany([
      { _id: 1, tenantId: 'acme', arr: [{ v: 1 }, { v: 2 }], tags: ['a', 'b'], body: 'hello world', loc: { type: 'Point', coordinates: [0, 0] } },
      { _id: 2, tenantId: 'globex', arr: [{ v: 2 }], tags: ['a'], body: 'hello', loc: { type: 'Point', coordinates: [0, 0] } },
    ]);
    const c = suite.fence.collection('posn');
    expect((await as('acme', () => c.updateOne({ tenantId: { $exists: true }, 'arr.v': 2 }, { $set: { 'arr.$.w': 7 } }))).modifiedCount).toBe(1);
    expect(await as('acme', () => c.findOneAndUpdate({ tenantId: { $ne: 'x' }, tags: 'a' }, { $set: { 'tags.$': 'A' } }, { returnDocument: 'after' }))).toMatchObject({ tags: ['A', 'b'] });
    expect(await as('acme', () => c.find({ tenantId: { $in: ['acme'] }, 'arr.v': 2 }, { projection: { 'arr.$': 1 } }).toArray())).toEqual([{ _id: 1, arr: [{ v: 2, w: 7 }] }]);
    await suite.fence.runAsSystem({ reason: 'test: tenant-first text and geo indexes' }, async () => {
      await c.createIndex({ body: 'text' });
      await c.createIndex({ loc: '2dsphere' });
    });
    expect(await as('acme', () => c.countDocuments({ tenantId: { $in: ['acme'] }, $text: { $search: 'hello' } }))).toBe(1);
    // Round 7: the same inside one $and item beside the tenant condition.
    expect(await as('acme', () => c.countDocuments({ $and: [{ tenantId: { $in: ['acme'] }, $text: { $search: 'hello' } }] }))).toBe(1);
    expect((await as('acme', () => c.updateOne({ $and: [{ tenantId: { $in: ['acme'] }, 'arr.v': 1 }] }, { $set: { 'arr.$.w': 8 } }))).modifiedCount).toBe(1);
    expect(await as('acme', () => c.find({ tenantId: { $in: ['acme'] }, loc: { $near: { $geometry: { type: 'Point', coordinates: [0, 0] } } } }).toArray())).toHaveLength(1);
  });
});

describe('round 7', () => {
  test("the shield's never-true branch is never true, whatever a tenant's documents hold", async () => {
    const c = suite.fence.collection('neverf');
    await as('acme', () => c.insertOne({ _id: 'n1', '\u0001tenantfence': 1 }));
    expect(await as('acme', () => c.find({ tenantId: { $in: ['globex'] } }).toArray())).toEqual([]);
    expect(await as('acme', () => c.countDocuments({ tenantId: { $in: ['acme'] } }))).toBe(1);
  });

  // The server moves a later $match on a join's output into the join's foreign query, renamed to
  // the foreign field. There a condition on the tenant field becomes a bound of the foreign
  // query, which carries no hint: on a multikey tenant index the planner takes the smaller of the
  // two tenants' ranges. The server keeps no key counts for a join it merged with its $unwind
  // (explain says 0 and serverStatus counts nothing), so what this checks is the plan itself: the
  // server's explain of the very command the fence sent must keep the caller's $match out of
  // every foreign query.
  test("a later $match on a join's output is never moved into the join's foreign query", async () => {
    const foreign = await seedMultikey('joined');
    expect(foreign).toBeDefined();
    await suite.rdb.collection('joiner').insertMany([{ _id: 'o1', tenantId: 'acme', x: 1, k: 'a1' }]);
    const c = suite.fence.collection('joiner');
    const pipelines = [
      [{ $lookup: { from: 'joined', localField: 'x', foreignField: 'n', as: 'j' } }, { $unwind: '$j' }, { $match: { 'j.tenantId': 'globex' } }],
      [{ $lookup: { from: 'joined', localField: 'x', foreignField: 'n', as: 'j' } }, { $unwind: '$j' }, { $match: { 'j.tenantId': { $gte: 'globex', $lte: 'globex' }, 'j.apiKey': /^PREFIX/ } }],
      [{ $lookup: { from: 'joined', let: { v: '$x' }, pipeline: [{ $match: { $expr: { $eq: ['$n', '$$v'] } } }], as: 'j' } }, { $unwind: '$j' }, { $match: { 'j.tenantId': 'globex' } }],
      [{ $graphLookup: { from: 'joined', startWith: '$k', connectFromField: 'apiKey', connectToField: 'apiKey', as: 'j' } }, { $unwind: '$j' }, { $match: { 'j.tenantId': 'globex' } }],
      [{ $unionWith: { coll: 'joined', pipeline: [{ $project: { tenantId: 1, apiKey: 1 } }] } }, { $match: { tenantId: 'globex', apiKey: /^PREFIX/ } }],
      // Round 8: the same inside a $facet branch, which the server optimizes as a pipeline of its own.
      [{ $facet: { f: [{ $lookup: { from: 'joined', localField: 'x', foreignField: 'n', as: 'j' } }, { $unwind: '$j' }, { $match: { 'j.tenantId': { $gte: 'globex', $lte: 'globex' } } }] } }],
      [{ $facet: { f: [{ $unionWith: 'joined' }, { $match: { tenantId: { $gte: 'globex', $lte: 'globex' }, apiKey: /^PREFIX/ } }] } }],
      [{ $facet: { f: [{ $unionWith: 'joined' }, { $match: { _id: { $gte: new MinKey() }, apiKey: /^PREFIX/ } }] } }],
    ];
    for (const p of pipelines) {
      const entries = await profiled('joiner', () => as('acme', () => c.aggregate(p).toArray()));
      const sent = entries.find((e) => e.command && e.command.aggregate === 'joiner');
      expect(sent).toBeDefined();
      const explained = await suite.rdb.collection('joiner').aggregate(sent.command.pipeline).explain('queryPlanner');
      // Every $match the server put inside a join or union names the tenant only as the fence
      // wrote it: 'acme', or the never-true shield.
      const inner = [];
      const walk = (v, inJoin) => {
        if (Array.isArray(v)) return v.forEach((x) => walk(x, inJoin));
        if (!v || typeof v !== 'object' || v._bsontype) return;
        for (const [k, x] of Object.entries(v)) {
          if (k === '$match' && inJoin) inner.push(x);
          walk(x, inJoin || ['$lookup', '$graphLookup', '$unionWith'].includes(k));
        }
      };
      walk(explained.stages || explained, false);
      // A shielded clause ({$or: [<clause>, <never true>]}) bounds nothing: leave it out.
      const unshielded = JSON.stringify(inner, (k, v) =>
        v && Array.isArray(v.$or) && JSON.stringify(v.$or).includes('\\u0001tenantfence') ? undefined : v,
      );
      expect([p, unshielded.includes('globex') || unshielded.includes('MinKey'), inner]).toEqual([p, false, inner]);
    }
  });
});

describe('round 8', () => {
  // A $facet branch's $match was sent as written: the server copied it into a $unionWith of the
  // same branch, merged with the fence's tenant match there, and ran its expression on other
  // tenants' documents while choosing a plan. Error or no error told one bit per call (a whole
  // API key in 434 calls).
  test("a $facet branch's expression never runs on another tenant's document", async () => {
    const raw = suite.rdb.collection('facetx');
    await raw.insertMany([{ _id: 'g1', tenantId: 'globex', apiKey: 'sk_live' }]);
    await raw.insertMany(Array.from({ length: 150 }, (_, i) => ({ _id: `h${i}`, tenantId: 'acme', apiKey: `ak-${i}` })));
    await raw.createIndex({ tenantId: 1, _id: 1 });
    const c = suite.fence.collection('facetx');
    // Divides by zero on any document not acme's whose key starts with 's'.
    const boom = { $gt: [{ $divide: [1, { $cond: [{ $and: [{ $ne: ['$tenantId', 'acme'] }, { $eq: [{ $substrCP: ['$apiKey', 0, 1] }, 's'] }] }, 0, 1] }] }, 0] };
    for (let shape = 0; shape < 5; shape += 1) {
      // A new field each time: a cached plan would hide the planner's trial runs.
      const branch = [{ $unionWith: 'facetx' }, { $match: { _id: { $gte: new MinKey() }, [`f${shape}`]: { $exists: false }, $expr: boom } }];
      const out = await as('acme', () => c.aggregate([{ $limit: 1 }, { $facet: { f: branch } }]).toArray());
      expect(out[0].f).toHaveLength(151);
    }
  });

  test('a 2dsphere index in another collation bounds no one: $near and $geoNear are refused on it', async () => {
    // The collection's default collation is inherited by an index built without one.
    await suite.rdb.createCollection('geofr', { collation: { locale: 'fr' } });
    const raw = suite.rdb.collection('geofr');
    const pt = (x) => ({ type: 'Point', coordinates: [x, 0] });
    await raw.insertMany([
      { _id: 'a1', tenantId: 'acme', loc: pt(0) },
      ...Array.from({ length: 50 }, (_, i) => ({ _id: `g${i}`, tenantId: 'globex', loc: pt(i / 10000) })),
    ]);
    const c = suite.fence.collection('geofr');
    await suite.fence.runAsSystem({ reason: 'test: a geo index in the default collation' }, () => c.createIndex({ loc: '2dsphere' }));
    const near = { loc: { $near: { $geometry: pt(0), $maxDistance: 3000 } } };
    const geoNear = [{ $geoNear: { near: pt(0), distanceField: 'd', maxDistance: 3000 } }];
    for (const options of [{}, { collation: { locale: 'en', strength: 2 } }]) {
      const entries = await profiled('geofr', async () => {
        const e1 = await expectTenantError(as('acme', () => c.find(near, options).toArray()), 'TENANT_VIOLATION');
        expect(e1.message).toMatch(/in the simple collation/);
        await expectTenantError(as('acme', () => c.aggregate(geoNear, options).toArray()), 'TENANT_VIOLATION');
      });
      expect(entries).toEqual([]);
    }
    // Built in the simple collation, it serves both in the simple collation. Under any other
    // (the collection's default included), only the regex twin would bound it, and a geo scan
    // fetches the documents of tenants whose id extends the caller's (round 9): refused.
    await suite.fence.runAsSystem({ reason: 'test: the same index in the simple collation' }, async () => {
      await raw.dropIndex('tenantId_1_loc_2dsphere');
      await c.createIndex({ loc: '2dsphere' }, { collation: { locale: 'simple' } });
    });
    await raw.insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: `e${i}`, tenantId: 'acme-eu', loc: pt(i / 10000) })));
    for (const options of [{}, { collation: { locale: 'en', strength: 2 } }]) {
      const entries = await profiled('geofr', async () => {
        const e = await expectTenantError(as('acme', () => c.find(near, options).toArray()), 'TENANT_VIOLATION');
        expect(e.message).toMatch(/runs only in the simple collation/);
        await expectTenantError(as('acme', () => c.aggregate(geoNear, options).toArray()), 'TENANT_VIOLATION');
      });
      expect(entries).toEqual([]);
    }
    for (const options of [{ collation: { locale: 'simple' } }]) {
      const entries = await profiled('geofr', async () => {
        expect(await as('acme', () => c.find(near, options).toArray())).toHaveLength(1);
        expect(await as('acme', () => c.aggregate(geoNear, options).toArray())).toHaveLength(1);
      });
      // (A near search fetches a document once per ring it falls in: 2 for acme's one, where
      // globex's 50 were fetched too on the fr index, and acme-eu's under the regex twin.)
      for (const e of entries.filter((x) => x.planSummary)) {
        expect([options, e.planSummary, e.docsExamined <= 2]).toEqual([options, expect.stringMatching(/^GEO_NEAR_2DSPHERE \{ tenantId: 1/), true]);
      }
    }
  });

  test('a Decimal128 twin of the fence’s key blocks no one, and a hidden one is refused even to runAsSystem', async () => {
    await seed('dectwin', { tenantIndex: false });
    const c = suite.fence.collection('dectwin');
    expect(await as('globex', () => c.countDocuments({}))).toBe(GLOBEX);
    await suite.rdb.collection('dectwin').createIndex({ tenantId: 1, _id: Decimal128.fromString('1') }, { name: 'dec', collation: { locale: 'fr' } });
    // A fence that never listed the collection before the twin came.
    const fresh = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB }));
    for (const f of [suite.fence, fresh]) {
      expect(await f.runAs('globex', () => f.collection('dectwin').countDocuments({ n: { $gte: 0 } }))).toBe(GLOBEX);
      expect((await f.runAs('acme', () => f.collection('dectwin').updateMany({}, { $set: { seen: 0 } }))).matchedCount).toBe(ACME);
    }
    // A tenant's Decimal128 direction is stored as Int32.
    await as('acme', () => c.createIndex({ n: Decimal128.fromString('-1') }, { name: 'ndec' }));
    expect((await suite.rdb.collection('dectwin').indexes()).find((x) => x.name === 'ndec').key).toEqual({ tenantId: 1, n: -1 });
    await seed('hidtwin', { tenantIndex: false });
    const h = suite.fence.collection('hidtwin');
    await expectTenantError(suite.fence.runAsSystem({ reason: 'test: hidden fence key' }, () => h.createIndex({ _id: 1 }, { hidden: true })), 'TENANT_VIOLATION');
    expect(await as('acme', () => h.countDocuments({}))).toBe(ACME);
  });

  test('a message that merely quotes the stale-hint text never makes a call run twice', async () => {
    const c = suite.fence.collection('bait');
    const bait = 'Hint matched multiple indexes, must hint by index name';
    await as('acme', () => c.insertMany([{ k: 1, c: 0 }, { k: 2, c: 0, s: bait }]));
    // Fails on the second document, after the first was updated (as the driver does).
    const update = [{ $set: { c: { $add: ['$c', 1] } } }, { $set: { d: { $toInt: { $ifNull: ['$s', '5'] } } } }];
    const e = await captureError(as('acme', () => c.updateMany({}, update, { sort: undefined })));
    expect(e.code).toBe(241);
    expect((await suite.rdb.collection('bait').findOne({ k: 1 })).c).toBe(1);
    const gone = 'hint provided does not correspond to an existing index';
    await as('acme', () => c.insertOne({ _id: gone }));
    const dup = await captureError(as('acme', () => c.insertMany([{ _id: 'x1' }, { _id: gone }])));
    expect([dup.code, dup.writeErrors.map((w) => w.index)]).toEqual([11000, [1]]);
  });

  test('a $natural sort is refused, never sent', async () => {
    await seed('natural');
    const c = suite.fence.collection('natural');
    const entries = await profiled('natural', async () => {
      for (const call of [() => c.find({}, { sort: { $natural: -1 } }).toArray(), () => c.findOne({ n: 1 }, { sort: { $natural: 1 } }), () => c.findOneAndUpdate({}, { $set: { x: 1 } }, { sort: { $natural: 1 } })]) {
        const e = await expectTenantError(as('acme', call), 'TENANT_VIOLATION');
        expect(e.message).toMatch(/\$natural/);
      }
    });
    expect(entries).toEqual([]);
    expect(await suite.fence.runAsSystem({ reason: 'test: storage order' }, () => c.find({}, { sort: { $natural: -1 }, limit: 1 }).toArray())).toHaveLength(1);
  });
});

describe('the index listing the fence keeps', () => {
  // The fence plans from a cached listing of each collection's indexes. Two collections hold an
  // index of the same name: a tenant index in 'ca' (its key shared with a twin in another
  // collation, so it is hinted by name) and a plain {n: 1} in 'cb'. A listing kept under too loose
  // a key would send 'ca''s hint by name to 'cb', where it names an index every tenant shares.
  test("one collection's listing never plans another's call, with tenants of both strategies in flight", async () => {
    const docs = [];
    for (let i = 0; i < ACME; i += 1) docs.push({ _id: `a${i}`, tenantId: 'acme', n: i });
    for (let i = 0; i < GLOBEX; i += 1) docs.push({ _id: `g${i}`, tenantId: 'globex', n: i });
    const ca = suite.rdb.collection('ca');
    const cb = suite.rdb.collection('cb');
    await ca.insertMany(docs);
    await cb.insertMany(docs);
    await ca.createIndex({ tenantId: 1, n: 1 }, { name: 'tn' });
    await ca.createIndex({ tenantId: 1, n: 1 }, { name: 'tn_en', collation: { locale: 'en' } });
    await cb.createIndex({ n: 1 }, { name: 'tn' });
    const other = suite.closeAfter(await TenantFence.connect(uri(), { database: `${suite.DB}_d`, strategy: 'database' }));
    suite.dropAfter(`${suite.DB}_d`);
    const count = (f, coll, tenant) => f.runAs(tenant, () => f.collection(coll).countDocuments({ n: { $gte: 0 } }));
    const expected = { acme: ACME, globex: GLOBEX };
    const entries = await profiled('cb', async () => {
      // In order first (the listing of 'ca' is fresh when 'cb' is planned), then all at once.
      expect(await count(suite.fence, 'ca', 'acme')).toBe(ACME);
      expect(await count(suite.fence, 'cb', 'acme')).toBe(ACME);
      const calls = [];
      for (let round = 0; round < 10; round += 1) {
        for (const t of ['acme', 'globex']) {
          for (const coll of ['ca', 'cb']) {
            calls.push(count(suite.fence, coll, t).then((n) => expect([coll, t, n]).toEqual([coll, t, expected[t]])));
            calls.push(count(other, coll, `${t}${round % 3}`));
          }
        }
      }
      await Promise.all(calls);
    });
    const counts = entries.filter((e) => e.command && e.command.aggregate === 'cb');
    expect(counts.length).toBeGreaterThanOrEqual(21);
    for (const e of counts) expect([e.command.hint, e.planSummary]).toEqual([e.command.hint, expect.stringMatching(/^(IXSCAN|COUNT_SCAN) \{ tenantId: 1/)]);
  });
});

describe("a caller's hint", () => {
  beforeAll(() => seed('hints'));

  test('naming an index that does not lead with the tenant field is refused, never sent', async () => {
    const c = suite.fence.collection('hints');
    for (const hint of [{ _id: 1 }, '_id_', { apiKey: 1 }, 'apiKey_1', { $natural: 1 }, 'no_such_index']) {
      const entries = await profiled('hints', async () => {
        const e = await captureError(as('acme', () => c.countDocuments({ _id: { $gte: new MinKey() } }, { hint })));
        expect([hint, e.code]).toEqual([hint, 'TENANT_VIOLATION']);
        expect(e.message).toMatch(/hint must name an index that leads with 'tenantId' in the simple collation/);
      });
      expect(entries).toEqual([]);
    }
    await expectTenantError(as('acme', () => c.find({}, { hint: { _id: 1 } }).toArray()), 'TENANT_VIOLATION');
    await expectTenantError(as('acme', () => c.bulkWrite([{ deleteMany: { filter: {}, hint: { _id: 1 } } }])), 'TENANT_VIOLATION');
    expect(await suite.rdb.collection('hints').countDocuments({ tenantId: 'acme' })).toBe(ACME);
  });

  test('naming a tenant index, by key or by name, is kept', async () => {
    const c = suite.fence.collection('hints');
    expect(await as('acme', () => c.countDocuments({ n: { $gte: 2 } }, { hint: { tenantId: 1, n: 1 } }))).toBe(3);
    expect(await as('acme', () => c.countDocuments({ n: { $gte: 2 } }, { hint: 'tenantId_1_n_1' }))).toBe(3);
  });

  test('runAsSystem keeps any hint', async () => {
    const c = suite.fence.collection('hints');
    const n = await suite.fence.runAsSystem({ reason: 'test' }, () => c.countDocuments({}, { hint: { _id: 1 } }));
    expect(n).toBe(ACME + GLOBEX);
  });
});

describe('the index the fence builds', () => {
  const names = async (coll) => (await suite.rdb.collection(coll).indexes()).map((x) => x.name).sort();

  test('a collection with no tenant index gets (tenantId, _id) once, and a dropped one is rebuilt', async () => {
    await seed('built', { tenantIndex: false });
    const c = suite.fence.collection('built');
    expect(await as('acme', () => c.countDocuments({ apiKey: /^ak/ }))).toBe(ACME);
    expect(await names('built')).toEqual(['_id_', 'apiKey_1', 'tenantfence_tenantId_1__id_1']);
    // Dropped behind the fence's back: the next call's hint fails, the fence lists again and retries.
    await suite.rdb.collection('built').dropIndex('tenantfence_tenantId_1__id_1');
    expect(await as('acme', () => c.countDocuments({ apiKey: /^ak/ }))).toBe(ACME);
    expect(await as('acme', () => c.find({ apiKey: /^ak/ }).toArray())).toHaveLength(ACME);
    expect(await names('built')).toEqual(['_id_', 'apiKey_1', 'tenantfence_tenantId_1__id_1']);
  });

  test('under any collation the simple tenant index bounds the call, through the regex twin', async () => {
    await suite.rdb.createCollection('folded', { collation: { locale: 'en', strength: 2 } });
    await suite.rdb.collection('folded').insertMany([
      { tenantId: 'acme', k: 'x' },
      { tenantId: 'ACME', k: 'x' },
      { tenantId: 'Acme', k: 'x' },
      ...Array.from({ length: 50 }, (_, n) => ({ tenantId: 'globex', k: 'x', n })),
    ]);
    const c = suite.fence.collection('folded');
    const collations = [undefined, { locale: 'en', strength: 2 }, { locale: 'fr', strength: 1 }, { locale: 'en', strength: 1, alternate: 'shifted' }, { locale: 'simple' }];
    for (const collation of collations) {
      const entries = await profiled('folded', () => as('acme', () => c.find({ k: 'X' }, collation ? { collation } : {}).toArray()));
      const finds = entries.filter((e) => e.op === 'query');
      // Not even ACME's documents are fetched: the twin drops their keys on the index.
      const want = collation && collation.locale === 'simple' ? 0 : 1;
      expect([collation, finds.map((e) => [e.nreturned, e.docsExamined, e.keysExamined <= 2, e.planSummary])]).toEqual([
        collation,
        [[want, 1, true, 'IXSCAN { tenantId: 1, _id: 1 }']],
      ]);
    }
    // One index for all of them, in the simple collation.
    const own = (await suite.rdb.collection('folded').indexes()).filter((x) => x.name.startsWith('tenantfence_'));
    expect(own.map((x) => [x.name, x.collation])).toEqual([['tenantfence_tenantId_1__id_1', undefined]]);
  });

  test("another tenant's index with the same key in another collation blocks no one (red-team round 3)", async () => {
    await seed('twins');
    const c = suite.fence.collection('twins');
    expect(await as('globex', () => c.countDocuments({}))).toBe(GLOBEX);
    // The key becomes { tenantId: 1, _id: 1 }: the fence's own key, in another collation. A
    // tenant may not build it (round 11: a twin appearing under calls already hinted by key made
    // a bulkWrite of another tenant fail); made outside the fence, it blocks no one either.
    await suite.rdb.collection('twins').createIndex({ tenantId: 1, _id: 1 }, { name: 'app_tenant_id' });
    for (const [key, name, locale] of [[{ _id: 1 }, 'evil', 'en'], [{ n: 1 }, 'evil2', 'fr']]) {
      const e = await expectTenantError(as('acme', () => c.createIndex(key, { name, collation: { locale, strength: 3 } })), 'TENANT_VIOLATION');
      expect(e.message).toMatch(/an index on this key already exists/);
      await suite.rdb.collection('twins').createIndex({ tenantId: 1, ...key }, { name, collation: { locale, strength: 3 } });
    }
    expect(await as('globex', () => c.countDocuments({}))).toBe(GLOBEX);
    expect(await as('globex', () => c.find({ n: 7 }).toArray())).toHaveLength(1);
    expect((await as('globex', () => c.updateMany({ n: { $lt: 3 } }, { $set: { seen: 0 } }))).matchedCount).toBe(3);
    expect(await as('globex', () => c.distinct('n', { n: { $lt: 3 } }))).toHaveLength(3);
    expect(await as('globex', () => c.countDocuments({}, { hint: 'tenantId_1_n_1' }))).toBe(GLOBEX);
    // Its key pattern names two indexes now: a hint by key still works, sent by the usable one's name (round 6).
    expect(await as('globex', () => c.countDocuments({}, { hint: { tenantId: 1, n: 1 } }))).toBe(GLOBEX);
  });

  test("a tenant's own indexes cannot use up the room the fence's index needs (round 4)", async () => {
    await seed('fill', { tenantIndex: false });
    const c = suite.fence.collection('fill');
    // Partial indexes are never hinted: acme builds them until the collection holds 64 indexes.
    let full = null;
    for (let i = 0; i < 70 && !full; i += 1) {
      full = await as('acme', () => c.createIndex({ [`f${i}`]: 1 }, { partialFilterExpression: { [`f${i}`]: { $exists: true } } })).then(() => null, (e) => e);
    }
    expect(full).toMatchObject({ code: 67 });
    expect(await names('fill')).toHaveLength(64);
    expect(await as('globex', () => c.countDocuments({ n: { $lt: 10 } }))).toBe(10);
    expect(await names('fill')).toContain('tenantfence_tenantId_1__id_1');
  });

  test('an index still being built is not hinted (round 4)', async () => {
    await seed('building', { tenantIndex: true });
    const admin = suite.raw.db('admin');
    await admin.command({ configureFailPoint: 'hangAfterStartingIndexBuild', mode: 'alwaysOn' });
    let build;
    try {
      build = suite.rdb.collection('building').createIndex({ tenantId: 1, apiKey: 1 }).catch((e) => e);
      const deadline = Date.now() + 10_000;
      while (!(await suite.rdb.command({ listIndexes: 'building', includeBuildUUIDs: true })).cursor.firstBatch.some((x) => x.buildUUID) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      // A fence that lists the indexes now (no cached listing) would pick the unfinished index.
      const fresh = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB }));
      const k = fresh.collection('building');
      expect(await fresh.runAs('globex', () => k.countDocuments({ apiKey: 'PREFIX-3' }))).toBe(1);
    } finally {
      await admin.command({ configureFailPoint: 'hangAfterStartingIndexBuild', mode: 'off' });
      await build;
    }
  });

  test('a twin key written with another number type blocks no one either, and unique: 1 is unique (round 5)', async () => {
    await seed('numtwin', { tenantIndex: false });
    const c = suite.fence.collection('numtwin');
    expect(await as('globex', () => c.countDocuments({}))).toBe(GLOBEX);
    // A tenant's twins are refused (round 11); made outside the fence they block no one.
    for (const [dir, name, opts] of [[Long.fromNumber(1), 'evil', { collation: { locale: 'fr', strength: 3 } }], [new Double(1), 'evil2', { partialFilterExpression: { v: { $exists: true } } }]]) {
      await expectTenantError(as('acme', () => c.createIndex({ _id: dir }, { name, ...opts })), 'TENANT_VIOLATION');
      await suite.rdb.collection('numtwin').createIndex({ tenantId: 1, _id: dir }, { name, ...opts });
    }
    expect(await as('globex', () => c.countDocuments({}))).toBe(GLOBEX);
    expect((await as('globex', () => c.updateMany({ n: { $lt: 2 } }, { $set: { seen: 0 } }))).matchedCount).toBe(2);
    // A tenant's index is stored with an Int32 direction: one key pattern to the fence as to the server.
    await as('acme', () => c.createIndex({ n: Long.fromNumber(-1) }, { name: 'longdir' }));
    expect((await suite.rdb.collection('numtwin').indexes()).find((x) => x.name === 'longdir').key).toEqual({ tenantId: 1, n: -1 });
    for (const unique of [1, 0.5, 'yes', true]) {
      await expectTenantError(as('acme', () => c.createIndex({ apiKey: 1 }, { name: `u${unique}`, unique })), 'TENANT_VIOLATION');
    }
  });

  test("a tenant may not take the name of the fence's index", async () => {
    await seed('squat', { tenantIndex: false });
    const c = suite.fence.collection('squat');
    await expectTenantError(as('acme', () => c.createIndex({ apiKey: 1 }, { name: 'tenantfence_tenantId_1__id_1', collation: { locale: 'en' } })), 'TENANT_VIOLATION');
    expect(await as('globex', () => c.countDocuments({}))).toBe(GLOBEX);
  });
});

describe('distinct before MongoDB 7.1 (no hint on distinct): an aggregation', () => {
  test("gives the server's own distinct for arrays, nested arrays, nulls and dotted keys", async () => {
    const docs = [
      { k: 1 }, { k: 1.0 }, { k: [1, 2] }, { k: [[1, 2], 3] }, { k: null }, {}, { k: [] }, { k: [null] }, { k: { x: 1 } },
      { k: [{ x: 1 }, { x: [2, [3]] }] }, { a: [{ b: 1 }, { b: [2, 3] }] }, { a: { b: [[4], 5] } }, { a: [[{ b: 6 }]] },
      { a: 5 }, { a: null }, { a: [{ b: null }, {}] }, { a: [] }, { a: { b: { c: [7, [8]] } } },
      { a: [{ b: [{ c: 9 }, { c: [10] }] }] }, { a: [1, { b: 11 }] }, { a: [[[{ b: 12 }]], { b: [[13]] }] },
    ];
    const raw = suite.rdb.collection('dist');
    await raw.insertMany(docs.map((d) => ({ ...d, tenantId: 'acme' })));
    await raw.insertMany(docs.map((d) => ({ ...d, tenantId: 'globex', k: 99, a: { b: { c: 98 } } })));
    const c = suite.fence.collection('dist');
    const norm = (xs) => xs.map((x) => JSON.stringify(x)).sort();
    for (const key of ['k', 'k.x', 'a', 'a.b', 'a.b.c', 'tenantId', '_id']) {
      const want = await raw.distinct(key, { tenantId: 'acme' });
      const got = await as('acme', () => c.distinct(key, {}));
      expect([key, norm(got)]).toEqual([key, norm(want)]);
    }
    const e = await captureError(as('acme', () => c.distinct('a.0', {})));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toMatch(/numeric path segment/);
  });
});

describe('the isolation probe', () => {
  test('flags a tenant command whose plan is not bounded by the tenant', () => {
    const filter = { tenantId: 'acme', apiKey: { $regex: '^PREFIX' } };
    const audit = (cmd) => auditCommand(cmd, { tenant: 'acme' });
    expect(audit({ find: 'c', filter }).scoped).toBe(false);
    expect(audit({ find: 'c', filter, hint: { _id: 1 } }).reason).toMatch(/plan may examine other tenants' documents/);
    expect(audit({ find: 'c', filter, hint: { tenantId: 1 } }).scoped).toBe(true);
    expect(audit({ find: 'c', filter: { tenantId: 'acme', _id: 'a1' } }).scoped).toBe(true);
  });
});

describe('round 9', () => {
  // Divides by zero on any document whose apiKey starts with 's' (only globex's here).
  const boom = { $gt: [{ $divide: [1, { $cond: [{ $eq: [{ $substrCP: ['$apiKey', 0, 1] }, 's'] }, 0, 1] }] }, 0] };

  test('an expression $match after a second join is held behind a barrier of its own', async () => {
    await suite.rdb.collection('r9o').insertOne({ _id: 'o1', tenantId: 'acme' });
    await suite.rdb.collection('r9v').insertMany([{ _id: 'g1', tenantId: 'globex', apiKey: 'sk_live' }, { _id: 'a1', tenantId: 'acme', apiKey: 'ak' }]);
    const c = suite.fence.collection('r9o');
    const twice = [{ $unionWith: 'r9v' }, { $match: { $expr: true } }, { $unionWith: 'r9v' }, { $match: { $expr: boom } }];
    const pipelines = [twice, [{ $facet: { f: twice } }], [{ $lookup: { from: 'r9o', as: 'j', pipeline: twice } }]];
    for (const p of pipelines) {
      const out = await as('acme', () => c.aggregate(p).toArray());
      expect([p, out.length > 0]).toEqual([p, true]);
    }
  });

  test("a join into a collection with no tenant index gets one: the caller's conditions never run on every tenant's documents", async () => {
    // Written only through the fence: inserts build no index.
    await as('acme', () => suite.fence.collection('r9l').insertOne({ _id: 'o1', x: 1 }));
    const joinedInto = (name) => suite.fence.collection(name);
    const shapes = {
      later: (v) => [{ $unionWith: v }, { $match: { apiKey: /^sk/ } }],
      facet: (v) => [{ $facet: { f: [{ $unionWith: v }, { $match: { apiKey: /^sk/ } }] } }],
      union: (v) => [{ $unionWith: { coll: v, pipeline: [{ $match: { $or: [{ apiKey: /^sk/ }, { tenantId: 'nobody' }] } }] } }],
      lookup: (v) => [{ $lookup: { from: v, pipeline: [{ $match: { $or: [{ apiKey: /^sk/ }, { tenantId: 'nobody' }] } }], as: 'j' } }],
      graph: (v) => [{ $graphLookup: { from: v, startWith: 1, connectFromField: 'n', connectToField: 'n', as: 'j', restrictSearchWithMatch: { $or: [{ apiKey: /^sk/ }, { tenantId: 'nobody' }] } } }],
    };
    let i = 0;
    for (const [name, shape] of Object.entries(shapes)) {
      i += 1;
      const v = `r9v${i}`;
      await as('acme', () => joinedInto(v).insertOne({ _id: 'a1', n: 1, apiKey: 'ak' }));
      await as('globex', () => joinedInto(v).insertMany(Array.from({ length: 20 }, (_, k) => ({ _id: `g${k}`, n: 1, apiKey: 'sk_live' }))));
      expect((await suite.rdb.collection(v).indexes()).map((x) => x.name)).toEqual(['_id_']);
      const entries = await profiled('r9l', () => as('acme', () => suite.fence.collection('r9l').aggregate(shape(v)).toArray()));
      const sent = entries.find((e) => e.command && e.command.aggregate === 'r9l');
      // The plan the server makes for the command the fence sent reads the joined collection
      // through its tenant index, never by a scan of every tenant's documents.
      const explained = JSON.stringify(await suite.rdb.collection('r9l').aggregate(sent.command.pipeline).explain('executionStats'));
      expect([name, /COLLSCAN/.test(explained.replace(/"namespace":"[^"]*r9l"[^]*?(?="namespace"|$)/g, ''))]).toEqual([name, false]);
      expect([name, (await suite.rdb.collection(v).indexes()).map((x) => x.name)]).toEqual([name, ['_id_', 'tenantfence_tenantId_1__id_1']]);
    }
  });

  test('$text, $near and $geoNear inside a join are refused: their index there is not checked', async () => {
    const c = suite.fence.collection('r9o');
    const gn = { near: { type: 'Point', coordinates: [0, 0] }, distanceField: 'd', key: 'loc' };
    for (const p of [
      [{ $unionWith: { coll: 'r9v', pipeline: [{ $geoNear: gn }] } }],
      [{ $lookup: { from: 'r9v', as: 'j', pipeline: [{ $geoNear: gn }] } }],
      [{ $lookup: { from: 'r9v', as: 'j', pipeline: [{ $match: { $text: { $search: 'x' } } }] } }],
      [{ $facet: { f: [{ $unionWith: { coll: 'r9v', pipeline: [{ $match: { loc: { $near: { $geometry: gn.near } } } }] } }] } }],
    ]) {
      const e = await expectTenantError(as('acme', () => c.aggregate(p).toArray()), 'TENANT_VIOLATION');
      expect(e.message).toMatch(/is not allowed inside \$lookup, \$unionWith or \$graphLookup under a tenant/);
    }
  });

  test('a stale-hint message that ends with a value the caller chose never makes a write run twice', async () => {
    const c = suite.fence.collection('r9bait');
    await as('acme', () => c.insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: `a${i}`, n: 0 }))));
    const tail = ' planner returned error :: caused by :: hint provided does not correspond to an existing index';
    // `$convert` to an unknown type fails with code 2 and "Unknown type name: <to>", on a3 only.
    const update = (to) => [{ $set: { n: { $add: ['$n', 1] } } }, { $set: { z: { $convert: { input: 1, to: { $cond: [{ $eq: ['$_id', 'a3'] }, to, 'int'] } } } } }];
    const e = await captureError(as('acme', () => c.updateMany({}, update(`x${tail}`))));
    expect([e.code, e.message.endsWith(tail)]).toEqual([2, true]);
    const ns = (await suite.rdb.collection('r9bait').find({}, { sort: { _id: 1 } }).toArray()).map((d) => d.n);
    // The driver's answer on the same data: the documents before a3 updated once.
    expect(ns).toEqual([1, 1, 1, 0, 0]);
  });

  test('a hidden index built outside in the place of the fence’s is named in the refusal', async () => {
    await seed('hiddenout', { tenantIndex: false });
    await suite.rdb.collection('hiddenout').createIndex({ tenantId: 1, _id: 1 }, { name: 'outside_hidden', hidden: true });
    const e = await expectTenantError(as('acme', () => suite.fence.collection('hiddenout').countDocuments({})), 'TENANT_VIOLATION');
    expect(e.message).toMatch(/the index 'outside_hidden' on \(tenantId, _id\) is hidden or partial/);
  });
});

describe('round 10', () => {
  // Backtracking on a matching key: 40 of these on globex's documents take seconds, on none a
  // few milliseconds. A join's sub-query takes no hint, and MongoDB tries each plan a filter
  // allows: on the `_id` index the trial fetched globex's documents and ran these on them.
  const slow = (prefix) => Array.from({ length: 40 }, (_, k) => new RegExp(`^${prefix}(.+.+)+[\\n\\r]${'(?:)'.repeat(k)}`));
  let shape = 0;
  const probe = () => {
    shape += 1;
    return { $or: [{ apiKey: { $in: slow('sk_live_') } }, { [`d${shape}`]: 1 }] };
  };

  beforeAll(async () => {
    await as('globex', () => suite.fence.collection('keys10').insertMany(Array.from({ length: 30 }, (_, i) => ({ _id: `user:${i}@globex.com`, n: 1, apiKey: 'sk_live_Q7fZk2Lm9PxW4rTb8NcV1yHs' }))));
    await as('acme', () => suite.fence.collection('keys10').insertMany(Array.from({ length: 300 }, (_, i) => ({ n: 1, apiKey: `ak-${i}` }))));
    await as('acme', () => suite.fence.collection('mine10').insertOne({ _id: 'm1', ref: 'user:1@globex.com' }));
  });

  test('no _id condition in a join can put the sub-query on the shared _id index', async () => {
    const c = suite.fence.collection('mine10');
    const idConditions = [
      { _id: { $gte: new MinKey() } },
      { _id: { $exists: true } },
      { _id: { $type: 'string' } },
      // Round 11: the same path spelled through the root, and a schema that requires it.
      { $expr: { $gte: ['$$ROOT._id', new MinKey()] } },
      { $expr: { $gte: ['$$CURRENT._id', new MinKey()] } },
      { $jsonSchema: { required: ['_id'] } },
    ];
    for (const id of idConditions) {
      const p = [{ $unionWith: { coll: 'keys10', pipeline: [{ $match: { ...id, ...probe() } }] } }];
      const entries = await profiled('mine10', () => as('acme', () => c.aggregate(p).toArray()));
      const sent = entries.find((e) => e.command && e.command.aggregate === 'mine10');
      await suite.rdb.command({ planCacheClear: 'keys10' });
      const explained = JSON.stringify(await suite.rdb.collection('mine10').aggregate(sent.command.pipeline).explain('allPlansExecution'));
      expect([id, explained.includes('"indexName":"_id_"')]).toEqual([id, false]);
    }
    // The same through every join form, by the one-bit oracle the round found: whether a
    // maxTimeMS expires (the code before: ~2 s against 1 s; after: milliseconds).
    const forms = [
      () => [{ $lookup: { from: 'keys10', as: 'j', pipeline: [{ $match: { _id: { $gte: new MinKey() }, ...probe() } }] } }],
      () => [{ $lookup: { from: 'keys10', as: 'j', pipeline: [{ $sort: { n: 1 } }, { $match: { _id: { $exists: true }, ...probe() } }] } }],
      () => [{ $graphLookup: { from: 'keys10', startWith: 1, connectFromField: 'n', connectToField: 'n', as: 'j', restrictSearchWithMatch: { _id: { $gte: new MinKey() }, ...probe() } } }],
      // The join key itself on _id: a known _id of globex's (round 10's variant A2).
      () => [{ $lookup: { from: 'keys10', localField: 'ref', foreignField: '_id', as: 'j', pipeline: [{ $match: probe() }] } }],
      () => [{ $lookup: { from: 'keys10', let: { r: '$ref' }, as: 'j', pipeline: [{ $match: { $expr: { $eq: ['$_id', '$$r'] }, ...probe() } }] } }],
      () => [{ $lookup: { from: 'keys10', let: { r: '$ref' }, as: 'j', pipeline: [{ $match: { $expr: { $eq: ['$$ROOT._id', '$$r'] }, ...probe() } }] } }],
      () => [{ $lookup: { from: 'keys10', as: 'j', pipeline: [{ $sort: { n: 1 } }, { $match: { $expr: { $gte: ['$$CURRENT._id', new MinKey()] }, ...probe() } }] } }],
      () => [{ $graphLookup: { from: 'keys10', startWith: 1, connectFromField: 'n', connectToField: 'n', as: 'j', restrictSearchWithMatch: { $jsonSchema: { required: ['_id'] }, ...probe() } } }],
    ];
    for (const form of forms) {
      const p = form();
      const out = await as('acme', () => c.aggregate(p, { maxTimeMS: 1000 }).toArray());
      expect([p, out.length]).toEqual([p, 1]);
    }
    // $graphLookup on _id cannot hold the caller's conditions, nor its own values, back: refused
    // (round 14: 400 regexes in startWith, or stored in the caller's documents, were scanned as
    // ranges of the _id index, another tenant's keys among them).
    const regexes = slow('user:1@');
    for (const g of [
      { startWith: '$ref', connectFromField: 'p', connectToField: '_id', restrictSearchWithMatch: probe() },
      { startWith: regexes, connectFromField: 'nope', connectToField: '_id' },
      { startWith: '$ref', connectFromField: 'next', connectToField: '_id.k' },
    ]) {
      await expectTenantError(as('acme', () => c.aggregate([{ $graphLookup: { from: 'keys10', as: 'g', ...g } }]).toArray()), 'TENANT_VIOLATION');
    }
  });

  test('a sort on _id in a join waits behind a barrier: under a collation the tenant index cannot sort in, the _id index was a candidate (round 11)', async () => {
    await suite.rdb.createCollection('keysfr10', { collation: { locale: 'fr' } });
    await as('globex', () => suite.fence.collection('keysfr10').insertMany(Array.from({ length: 30 }, () => ({ n: 1, apiKey: 'sk_live_Q7fZk2Lm9PxW4rTb8NcV1yHs' }))));
    await as('acme', () => suite.fence.collection('keysfr10').insertMany(Array.from({ length: 300 }, (_, i) => ({ n: 1, apiKey: `ak-${i}` }))));
    const c = suite.fence.collection('mine10');
    await as('acme', () => c.aggregate([{ $unionWith: 'keysfr10' }]).toArray()); // builds the tenant index
    for (const sort of [{ _id: 1 }, { _id: -1 }, { '_id.k': 1 }]) {
      const p = [{ $unionWith: { coll: 'keysfr10', pipeline: [{ $match: probe() }, { $sort: sort }] } }];
      const out = await as('acme', () => c.aggregate(p, { collation: { locale: 'fr' }, maxTimeMS: 1000 }).toArray());
      expect([sort, out.length]).toEqual([sort, 1]);
    }
  });

  test('nothing but its leading $match reaches a join sub-query: renamed _id copies and stages that sort inside (round 12)', async () => {
    const c = suite.fence.collection('mine10');
    const pipelines = [
      () => [{ $unionWith: { coll: 'keys10', pipeline: [{ $set: { x: '$_id' } }, { $match: { x: { $gte: new MinKey() }, ...probe() } }] } }],
      () => [{ $lookup: { from: 'keys10', as: 'j', pipeline: [{ $addFields: { 'a.b': '$_id' } }, { $match: { 'a.b': { $exists: true }, ...probe() } }] } }],
      () => [{ $unionWith: { coll: 'keys10', pipeline: [{ $set: { x: '$_id' } }, { $set: { y: '$x' } }, { $match: { y: 'user:1@globex.com', ...probe() } }] } }],
    ];
    for (const p of pipelines.map((f) => f())) {
      const out = await as('acme', () => c.aggregate(p, { maxTimeMS: 1000 }).toArray());
      expect([p, out.length > 0]).toEqual([p, true]);
    }
    const fr = [
      (m) => [{ $unionWith: { coll: 'keysfr10', pipeline: [{ $match: m }, { $setWindowFields: { sortBy: { _id: 1 }, output: { r: { $documentNumber: {} } } } }] } }],
      (m) => [{ $unionWith: { coll: 'keysfr10', pipeline: [{ $match: m }, { $setWindowFields: { partitionBy: '$_id', output: { r: { $count: {} } } } }] } }],
      (m) => [{ $unionWith: { coll: 'keysfr10', pipeline: [{ $match: m }, { $fill: { sortBy: { _id: 1 }, output: { n: { method: 'locf' } } } }] } }],
      (m) => [{ $lookup: { from: 'keysfr10', as: 'j', pipeline: [{ $match: m }, { $setWindowFields: { sortBy: { _id: 1 }, output: { r: { $documentNumber: {} } } } }] } }],
    ];
    for (const f of fr) {
      const p = f(probe());
      const out = await as('acme', () => c.aggregate(p, { collation: { locale: 'fr' }, maxTimeMS: 1000 }).toArray());
      expect([p, out.length > 0]).toEqual([p, true]);
    }
  });

  test("a tenant's second index on a key is refused even while the first is being built; twins of unusable indexes are allowed (round 12)", async () => {
    const c = suite.fence.collection('twins12');
    await as('acme', () => c.insertOne({ status: 'x' }));
    // (Builds in progress count too: scope::indexes' table test; a fence checks and builds one
    // at a time per collection. Which of two concurrent calls goes first is not fixed: a twin in
    // another collation built first is never hinted, so the simple one may follow it.)
    expect(await as('acme', () => c.createIndex({ status: 1 }, { name: 's_simple' }))).toBe('s_simple');
    await expectTenantError(as('acme', () => c.createIndex({ status: 1 }, { name: 's_fr', collation: { locale: 'fr', strength: 3 } })), 'TENANT_VIOLATION');
    const both = await as('acme', () => Promise.allSettled([c.createIndex({ v: 1 }, { name: 'v_simple' }), c.createIndex({ v: 1 }, { name: 'v_simple2' })]));
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    // A partial index, or one in another collation, is never hinted: its twin is no danger.
    await as('globex', () => c.createIndex({ z: 1 }, { name: 'gz', partialFilterExpression: { z: { $gt: 5 } } }));
    expect(await as('acme', () => c.createIndex({ z: 1 }, { name: 'az' }))).toBe('az');
    await as('globex', () => c.createIndex({ w: 1 }, { name: 'gw', collation: { locale: 'fr', strength: 3 } }));
    expect(await as('acme', () => c.createIndex({ w: 1 }, { name: 'aw' }))).toBe('aw');
  });

  test("a tenant's later index does not win a tie for other tenants' calls by its name (round 12)", async () => {
    const c = suite.fence.collection('tie12');
    await as('acme', () => c.insertMany(Array.from({ length: 20 }, (_, i) => ({ customerId: `c${i}`, status: 'open' }))));
    await as('acme', () => c.createIndex({ customerId: 1 }));
    await as('evil', () => c.createIndex({ status: 1 }, { name: '0' }));
    const fresh = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB }));
    const entries = await profiled('tie12', () => fresh.runAs('acme', () => fresh.collection('tie12').find({ customerId: 'c7', status: 'open' }).toArray()));
    const found = entries.find((e) => e.op === 'query');
    expect(found.command.hint).toEqual({ tenantId: 1, customerId: 1 });
  });

  test('round 13: a second leading $match in a join waits behind the barrier; no index may serve the shield', async () => {
    const c = suite.fence.collection('mine10');
    const pt = { _id: 'user:1@globex.com' };
    const forms = [
      () => [{ $lookup: { from: 'keys10', as: 'j', pipeline: [{ $match: pt }, { $match: probe() }] } }],
      () => [{ $unionWith: { coll: 'keys10', pipeline: [{ $match: pt }, { $skip: 0 }, { $match: probe() }] } }],
      () => [{ $lookup: { from: 'keys10', let: { r: '$ref' }, as: 'j', pipeline: [{ $match: { $expr: { $eq: ['$_id', '$$r'] } } }, { $match: probe() }] } }],
    ];
    for (const p of forms.map((f) => f())) {
      const out = await as('acme', () => c.aggregate(p, { maxTimeMS: 1000 }).toArray());
      expect([p, out.length]).toEqual([p, 1]);
    }
    for (const key of [{ '\u0001tenantfence': 1 }, { '\u0001tenantfence.x': 1 }]) {
      await expectTenantError(as('acme', () => suite.fence.collection('keys10').createIndex(key)), 'TENANT_VIOLATION');
    }
  });

  test("round 13: one tenant's index builds hold no other collection's builds", async () => {
    const app = `b13_${Date.now()}`;
    const f = suite.closeAfter(await TenantFence.connect(`${uri()}${uri().includes('?') ? '&' : '?'}appName=${app}`, { database: suite.DB }));
    const big = f.collection('big13');
    const vc = f.collection('vc13');
    // The fence's index on each, and a cached listing: the next listIndexes is a build's own check.
    await f.runAs('evil', () => big.insertOne({ f1: 1 }).then(() => big.countDocuments({ f1: 1 })));
    await f.runAs('victim', () => vc.insertOne({ a: 1 }).then(() => vc.countDocuments({ a: 1 })));
    const admin = suite.raw.db('admin');
    await admin.command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data: { failCommands: ['listIndexes'], blockConnection: true, blockTimeMS: 3000, appName: app } });
    try {
      const order = [];
      const evil = f.runAs('evil', () => big.createIndex({ f1: 1 })).then(() => order.push('evil'));
      while ((await admin.aggregate([{ $currentOp: {} }, { $match: { appName: app, 'command.listIndexes': 'big13' } }]).toArray()).length === 0);
      const victim = f.runAs('victim', () => vc.createIndex({ a: 1 })).then(() => order.push('victim'));
      await Promise.all([evil, victim]);
      expect(order).toEqual(['victim', 'evil']);
    } finally {
      await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
    }
  });

  test('a view is refused to a tenant, the _id fast path included', async () => {
    await suite.rdb.createCollection('ordersView10', { viewOn: 'mine10', pipeline: [{ $lookup: { from: 'keys10', localField: 'ref', foreignField: '_id', as: 'customer' } }] });
    const v = suite.fence.collection('ordersView10');
    for (const call of [() => v.findOne({ _id: 'm1' }), () => v.find({}).toArray(), () => v.countDocuments({}), () => suite.fence.collection('mine10').aggregate([{ $unionWith: 'ordersView10' }]).toArray()]) {
      const e = await expectTenantError(as('acme', call), 'TENANT_VIOLATION');
      expect(e.message).toMatch(/'ordersView10' is a view/);
    }
    const all = await suite.fence.runAsSystem({ reason: 'test: a view' }, () => v.findOne({ _id: 'm1' }));
    expect(all.customer).toHaveLength(1);
  });
});
