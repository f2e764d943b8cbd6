'use strict';
// The differential isolation fuzzer's CI run (issue 3): a fixed seed, 2,000 cases, as tenant A
// through the fence against a database that also holds the neighbours' documents, compared with
// the same operations run unscoped on a database holding only A's (fuzz/oracle.js).
// The long run is `npm run fuzz` (100,000 cases by default).

const { MinKey } = require('bson');
const { uri } = require('../helpers/fixtures');
const { openWorld, closeWorld } = require('../../fuzz/world');
const { runCampaign } = require('../../fuzz/campaign');
const { runCase } = require('../../fuzz/oracle');
const { generate, METHODS } = require('../../fuzz/generator');

const SEED = 20261126;
const CASES = 2000;

describe('differential isolation fuzzer', () => {
  const worlds = [];

  beforeAll(async () => {
    // Three worlds take turns (latency-bound: the server, not this process, is the bottleneck).
    for (let i = 0; i < 3; i++) worlds.push(await openWorld(uri()));
  });

  afterAll(async () => {
    for (const w of worlds) await closeWorld(w);
  });

  test(`seed ${SEED}: ${CASES} cases agree with the unscoped reference or are refused`, async () => {
    const r = await runCampaign(worlds, { seed: SEED, cases: CASES, maxFailures: 1, shrinkBudget: 300 });
    console.log(
      `fuzz: seed ${r.seed}, ${r.cases} cases in ${(r.ms / 1000).toFixed(1)} s, outcomes ${JSON.stringify(r.outcomes)}` +
        (r.failures.length ? `\n${r.failures.map((f) => f.text).join('\n')}` : ''),
    );
    expect(r.failures.map((f) => f.text)).toEqual([]);
    expect(r.cases).toBe(CASES);
    // Not vacuous: most cases ran on both sides and agreed, and every method had agreeing cases.
    expect(r.outcomes.agree).toBeGreaterThan(CASES * 0.6);
    for (const method of Object.keys(METHODS)) expect([method, (r.byMethod[method] || {}).agree > 0]).toEqual([method, true]);
    // Issue 12's shapes ran: leak probes agreed (no error where the reference has none), and
    // server-side JavaScript, shared counters and documents naming a key twice were refused.
    expect((r.byShape.leak || {}).agree).toBeGreaterThan(50);
    for (const family of ['js', 'counter', 'twice']) expect([family, (r.byShape[family] || {}).refused > 0]).toEqual([family, true]);
  }, 600000);

  // Issue 12: each shape, judged on the real fence and on a stand-in that forgot the tenant (the
  // raw driver on the shared database, where the neighbours' documents hold `secret`).
  test('issue-12 shapes: the oracle passes the fence and fails a stand-in that forgot the tenant', async () => {
    const world = worlds[0];
    const byId = (e) => ({ _id: { $gte: new MinKey() }, $expr: e });
    const quotes = { $toInt: { $concat: ['#', '$secret'] } };
    const oneBit = { $cond: [{ $eq: ['$secret', '078-05-1120'] }, { $toInt: { $concat: ['x', { $toString: '$_id' }] } }, false] };
    const planted = () => new Map([[new String('tenantId'), 'B'], ['tenantId', 'A'], ['x', 1]]); // eslint-disable-line no-new-wrappers
    const cases = [
      { method: 'find', args: [byId(quotes), { hint: { _id: 1 } }], mustAgree: true },
      { method: 'countDocuments', args: [byId(oneBit), { hint: { _id: 1 } }], mustAgree: true },
      { method: 'updateMany', args: [byId(quotes), { $set: { seen: 1 } }, { hint: { _id: 1 } }], mustAgree: true },
      { method: 'aggregate', args: [[{ $sort: { _id: 1 } }, { $match: byId(oneBit) }], { hint: { _id: 1 } }], mustAgree: true },
      { method: 'aggregate', args: [[{ $limit: 1 }, { $lookup: { from: 'other', pipeline: [{ $match: byId(quotes) }], as: 'j' } }], {}], mustAgree: true },
      { method: 'find', args: [{ $where: 'this.x > 3' }, {}], tenantRefuse: 'js' },
      { method: 'find', args: [{}, { projection: { r: { $meta: 'recordId' } } }], tenantRefuse: 'counter' },
      { method: 'updateOne', args: [{ _id: 1 }, [{ $set: { t: '$$CLUSTER_TIME' } }], {}], tenantRefuse: 'counter' },
      { method: 'insertOne', args: [planted()], mustFail: { kind: 'tenant', code: 'TENANT_VIOLATION' } },
      { method: 'insertMany', args: [[{ x: 2 }, new Map([['x', 1], [new String('x'), 2]])], { ordered: false }], mustFail: { kind: 'type', code: null } }, // eslint-disable-line no-new-wrappers
    ];
    for (const c of cases) {
      const v = await runCase(world, { seed: 0, index: 0, ...c });
      expect([c.method, v.problems]).toEqual([c.method, []]);
    }
    world.broken = true;
    try {
      for (const c of cases) expect([c.method, (await runCase(world, { seed: 0, index: 0, ...c })).pass]).toEqual([c.method, false]);
    } finally {
      world.broken = false;
    }
  });

  test('the oracle fails a fence that forgot the tenant (reads, writes, joins)', async () => {
    const world = worlds[0];
    world.broken = true;
    try {
      const cases = [
        { method: 'find', args: [{ x: 1 }, {}] },
        { method: 'countDocuments', args: [{}, {}] },
        { method: 'updateMany', args: [{ y: 'apple' }, { $set: { z: 1 } }, {}] },
        { method: 'deleteMany', args: [{ x: { $gte: 3 } }, {}] },
        { method: 'aggregate', args: [[{ $match: { _id: 1 } }, { $lookup: { from: 'other', localField: 'ref', foreignField: 'k', as: 'j' } }], {}] },
      ];
      for (const c of cases) {
        const v = await runCase(world, { seed: 0, index: 0, ...c });
        expect([c.method, v.pass]).toEqual([c.method, false]);
      }
      // And the same cases pass through the real fence.
      world.broken = false;
      for (const c of cases) expect([c.method, (await runCase(world, { seed: 0, index: 0, ...c })).problems]).toEqual([c.method, []]);
    } finally {
      world.broken = false;
    }
  });

  // Found by the fuzzer (seed 424242, case 20100): the fence put its own tenant equality next to
  // the caller's repeat of it inside $and, and the server refused the upsert ("path 'tenantId'
  // is matched twice", code 54) although the contract allows naming the tenant there.
  test('regression: an upsert may repeat the current tenant by equality under $and', async () => {
    const world = worlds[0];
    const filter = { $and: [{ tenantId: { $eq: 'A' }, parent: 101 }, { _id: 50 }] };
    for (const c of [
      { method: 'updateOne', args: [filter, { $set: { z: 1 } }, { upsert: true }] },
      { method: 'replaceOne', args: [filter, { y: 'r' }, { upsert: true }] },
      { method: 'bulkWrite', args: [[{ updateOne: { filter, update: [{ $set: { z: 1 } }], upsert: true } }], {}] },
    ]) {
      expect([c.method, await runCase(world, { seed: 0, index: 0, ...c })]).toMatchObject([c.method, { pass: true, outcome: 'agree' }]);
    }
    const r = await world.fence.runAs('A', () => world.fence.collection('items').updateOne(filter, { $set: { z: 1 } }, { upsert: true }));
    try {
      expect(r).toMatchObject({ upsertedCount: 1, upsertedId: 50 });
      expect(await world.scoped.collection('items').findOne({ _id: 50 })).toEqual({ _id: 50, tenantId: 'A', parent: 101, z: 1 });
    } finally {
      await world.scoped.collection('items').deleteOne({ _id: 50 });
    }
  });

  test('cases are a pure function of (seed, index)', () => {
    expect(JSON.stringify(generate(7, 123))).toBe(JSON.stringify(generate(7, 123)));
    expect(JSON.stringify(generate(7, 123))).not.toBe(JSON.stringify(generate(8, 123)));
  });
});
