'use strict';
// Shared collections (`shared: [...]` at connect, issue 16): every tenant reads them, only
// runAsSystem writes them, their documents carry no tenant field, a join into one is not
// scoped and a join from one into a tenant collection is. The isolation probe audits every
// command these tests send (`useIsolationProbe`), so a read of tenant data that reached
// MongoDB unscoped fails the test even when its answer happens to look right.

const { TenantFence } = require('../..');
const { useIsolationProbe } = require('../../lib/testing');
const { useSuite, uri, expectTenantError, captureError } = require('../helpers/fixtures');

const SHARED = ['plans', 'countries'];
const suite = useSuite('shr', { shared: SHARED, monitorCommands: true });
useIsolationProbe(() => suite.fence, { allowSystem: true });

const sys = (fn) => suite.fence.runAsSystem({ reason: 'seed shared data' }, fn);
const plans = () => suite.fence.collection('plans');
const notes = () => suite.fence.collection('notes');

beforeAll(async () => {
  await sys(() =>
    plans().insertMany([
      { _id: 'free', seats: 1 },
      { _id: 'pro', seats: 10 },
      { _id: 'team', seats: 50 },
    ]),
  );
  // Each tenant's notes name a plan; globex's second note divides by zero in an $expr below.
  await suite.rdb.collection('notes').insertMany([
    { tenantId: 'acme', title: 'a1', plan: 'pro', n: 1 },
    { tenantId: 'acme', title: 'a2', plan: 'free', n: 2 },
    { tenantId: 'globex', title: 'g1', plan: 'pro', n: 3, secret: 'g-secret' },
    { tenantId: 'globex', title: 'g2', plan: 'pro', n: 0 },
  ]);
});

describe('reads', () => {
  test('every tenant reads the whole shared collection, unstamped', async () => {
    for (const t of ['acme', 'globex']) {
      await suite.as(t, async () => {
        expect(await plans().find({}).sort({ _id: 1 }).toArray()).toEqual([
          { _id: 'free', seats: 1 },
          { _id: 'pro', seats: 10 },
          { _id: 'team', seats: 50 },
        ]);
        expect(await plans().findOne({ _id: 'pro' })).toEqual({ _id: 'pro', seats: 10 });
        expect(await plans().countDocuments({ seats: { $gt: 5 } })).toBe(2);
        expect(await plans().estimatedDocumentCount()).toBe(3);
        expect((await plans().distinct('seats')).sort((a, b) => a - b)).toEqual([1, 10, 50]);
      });
    }
    const stored = await suite.rdb.collection('plans').find({}).toArray();
    expect(stored.every((d) => !('tenantId' in d))).toBe(true);
  });

  test('server-side JavaScript stays refused to a tenant on a shared collection', async () => {
    await suite.as('acme', async () => {
      await expectTenantError(plans().findOne({ $where: 'true' }), 'TENANT_VIOLATION');
      await expectTenantError(plans().aggregate([{ $match: { $where: 'true' } }]).toArray(), 'TENANT_VIOLATION');
    });
  });

  test('a view declared shared is refused to tenants: its pipeline could read tenant data', async () => {
    await suite.rdb.createCollection('countries', {
      viewOn: 'notes',
      pipeline: [{ $project: { title: 1, secret: 1 } }],
    });
    try {
      await suite.as('acme', () => expectTenantError(suite.fence.collection('countries').find({}).toArray(), 'TENANT_VIOLATION'));
    } finally {
      await suite.rdb.collection('countries').drop();
    }
  });
});

describe('writes', () => {
  test('a tenant writes no shared collection, by any method, and nothing changes', async () => {
    const before = await suite.rdb.collection('plans').find({}).sort({ _id: 1 }).toArray();
    await suite.as('acme', async () => {
      const p = plans();
      const attempts = [
        () => p.insertOne({ _id: 'mine', seats: 2 }),
        () => p.insertMany([{ seats: 3 }]),
        () => p.updateOne({ _id: 'pro' }, { $set: { seats: 0 } }),
        () => p.updateMany({}, { $set: { seats: 0 } }),
        () => p.replaceOne({ _id: 'pro' }, { seats: 0 }),
        () => p.deleteOne({ _id: 'pro' }),
        () => p.deleteMany({}),
        () => p.findOneAndUpdate({ _id: 'pro' }, { $set: { seats: 0 } }),
        () => p.findOneAndReplace({ _id: 'pro' }, { seats: 0 }),
        () => p.findOneAndDelete({ _id: 'pro' }),
        () => p.bulkWrite([{ insertOne: { document: { seats: 4 } } }]),
        () => p.createIndex({ seats: 1 }),
        () => p.dropIndexes(),
        () => p.drop(),
      ];
      for (const attempt of attempts) {
        const err = await expectTenantError(attempt(), 'TENANT_VIOLATION');
        expect(err.message).toMatch(/shared collection|runAsSystem/);
      }
    });
    expect(await suite.rdb.collection('plans').find({}).sort({ _id: 1 }).toArray()).toEqual(before);
  });

  test('runAsSystem writes them unstamped and refuses a tenant field', async () => {
    await sys(async () => {
      await plans().insertOne({ _id: 'tmp', seats: 5 });
      await plans().updateOne({ _id: 'tmp' }, { $inc: { seats: 1 } });
      await plans().updateOne({ _id: 'tmp2' }, { $set: { seats: 7 } }, { upsert: true });
      await expectTenantError(plans().insertOne({ _id: 'bad', tenantId: 'acme' }), 'TENANT_VIOLATION');
      await expectTenantError(plans().updateOne({ _id: 'tmp' }, { $set: { tenantId: 'acme' } }), 'TENANT_VIOLATION');
      await expectTenantError(plans().updateOne({ tenantId: 'acme' }, { $set: { seats: 1 } }, { upsert: true }), 'TENANT_VIOLATION');
      await expectTenantError(plans().replaceOne({ _id: 'tmp' }, { tenantId: 'acme' }), 'TENANT_VIOLATION');
      const name = await plans().createIndex({ seats: 1 });
      expect(name).toBe('seats_1');
    });
    const raw = suite.rdb.collection('plans');
    expect(await raw.findOne({ _id: 'tmp' })).toEqual({ _id: 'tmp', seats: 6 });
    expect(await raw.findOne({ _id: 'tmp2' })).toEqual({ _id: 'tmp2', seats: 7 });
    expect(await raw.countDocuments({ tenantId: { $exists: true } })).toBe(0);
    const keys = (await raw.indexes()).map((i) => i.key);
    expect(keys).toContainEqual({ seats: 1 });
    await raw.deleteMany({ _id: { $in: ['tmp', 'tmp2'] } });
  });
});

describe('joins', () => {
  test('a join from a tenant collection into a shared one is not scoped', async () => {
    await suite.as('acme', async () => {
      const out = await notes()
        .aggregate([
          { $sort: { title: 1 } },
          { $lookup: { from: 'plans', localField: 'plan', foreignField: '_id', as: 'p' } },
          { $project: { _id: 0, title: 1, seats: { $first: '$p.seats' } } },
        ])
        .toArray();
      expect(out).toEqual([
        { title: 'a1', seats: 10 },
        { title: 'a2', seats: 1 },
      ]);
      const union = await notes()
        .aggregate([{ $project: { _id: 0, title: 1 } }, { $unionWith: { coll: 'plans', pipeline: [{ $project: { _id: 1 } }] } }])
        .toArray();
      expect(union.map((d) => d.title ?? d._id).sort()).toEqual(['a1', 'a2', 'free', 'pro', 'team']);
    });
  });

  test('a join from a shared collection into a tenant one sees only the tenant', async () => {
    const byPlan = (t) =>
      suite.as(t, () =>
        plans()
          .aggregate([
            { $sort: { _id: 1 } },
            { $lookup: { from: 'notes', localField: '_id', foreignField: 'plan', as: 'n' } },
            { $project: { titles: '$n.title', secrets: '$n.secret' } },
          ])
          .toArray(),
      );
    expect(await byPlan('acme')).toEqual([
      { _id: 'free', titles: ['a2'], secrets: [] },
      { _id: 'pro', titles: ['a1'], secrets: [] },
      { _id: 'team', titles: [], secrets: [] },
    ]);
    expect((await byPlan('globex')).find((d) => d._id === 'pro')).toEqual({ _id: 'pro', titles: ['g1', 'g2'], secrets: ['g-secret'] });
    await suite.as('acme', async () => {
      const union = await plans()
        .aggregate([{ $project: { _id: 1 } }, { $unionWith: { coll: 'notes', pipeline: [{ $project: { _id: 0, title: 1 } }] } }])
        .toArray();
      expect(union.map((d) => d.title ?? d._id).sort()).toEqual(['a1', 'a2', 'free', 'pro', 'team']);
      const graph = await plans()
        .aggregate([
          { $match: { _id: 'pro' } },
          { $graphLookup: { from: 'notes', startWith: '$_id', connectFromField: 'plan', connectToField: 'plan', as: 'g' } },
          { $project: { titles: '$g.title' } },
        ])
        .toArray();
      expect(graph).toEqual([{ _id: 'pro', titles: ['a1'] }]);
    });
  });

  test("a caller's expression after a join from a shared collection never runs on another tenant's document", async () => {
    // globex's g2 has n: 0; dividing by it fails. Were the $match moved into the join ahead of
    // its tenant match, acme's call would fail because of globex's data.
    const out = await suite.as('acme', () =>
      plans()
        .aggregate([
          { $lookup: { from: 'notes', localField: '_id', foreignField: 'plan', as: 'n' } },
          { $unwind: '$n' },
          { $match: { $expr: { $gt: [{ $divide: [1, '$n.n'] }, 0] } } },
          { $project: { _id: 0, title: '$n.title' } },
        ])
        .toArray(),
    );
    expect(out.map((d) => d.title).sort()).toEqual(['a1', 'a2']);
  });

  test('nested: shared → tenant → shared → tenant stays scoped at each tenant step', async () => {
    const out = await suite.as('globex', () =>
      plans()
        .aggregate([
          { $match: { _id: 'pro' } },
          {
            $lookup: {
              from: 'notes',
              localField: '_id',
              foreignField: 'plan',
              as: 'n',
              pipeline: [
                { $lookup: { from: 'plans', localField: 'plan', foreignField: '_id', as: 'p', pipeline: [{ $lookup: { from: 'notes', localField: '_id', foreignField: 'plan', as: 'back' } }] } },
                { $project: { _id: 0, title: 1, back: { $first: '$p.back.title' } } },
              ],
            },
          },
        ])
        .toArray(),
    );
    expect(out[0].n).toEqual([
      { title: 'g1', back: ['g1', 'g2'] },
      { title: 'g2', back: ['g1', 'g2'] },
    ]);
  });
});

describe('options', () => {
  test('shared must be an array of usable collection names', async () => {
    for (const bad of ['plans', [1], [''], ['system.views'], ['a$b'], [{}]]) {
      const err = await captureError(TenantFence.connect(uri(), { database: suite.DB, shared: bad }));
      expect(err).toBeInstanceOf(TypeError);
      expect(err.message).toMatch(/shared/);
    }
  });
});

describe("strategy 'database'", () => {
  const db = useSuite('shrdb', { strategy: 'database', shared: ['plans'], monitorCommands: true });
  useIsolationProbe(() => db.fence, { allowSystem: true });

  test('shared collections live in the base database: system writes them, tenants read them', async () => {
    await db.fence.runAsSystem({ reason: 'seed' }, () => db.fence.collection('plans').insertOne({ _id: 'pro', seats: 10 }));
    expect(await db.rdb.collection('plans').findOne({ _id: 'pro' })).toEqual({ _id: 'pro', seats: 10 });
    for (const t of ['acme', 'globex']) {
      await db.as(t, async () => {
        expect(await db.fence.collection('plans').find({}).toArray()).toEqual([{ _id: 'pro', seats: 10 }]);
        await expectTenantError(db.fence.collection('plans').insertOne({ _id: 'x' }), 'TENANT_VIOLATION');
        await expectTenantError(db.fence.collection('plans').drop(), 'TENANT_VIOLATION');
        await expectTenantError(db.fence.db.dropCollection('plans'), 'TENANT_VIOLATION');
        await expectTenantError(db.fence.db.createCollection('plans'), 'TENANT_VIOLATION');
        // Its own collection renamed onto the shared one would replace every tenant's plans.
        await db.fence.collection('scratch').insertOne({ x: 1 });
        await expectTenantError(db.fence.collection('scratch').rename('plans', { dropTarget: true }), 'TENANT_VIOLATION');
      });
    }
    // runAsSystem still reaches no tenant database.
    await db.fence.runAsSystem({ reason: 'x' }, () => expectTenantError(db.fence.collection('notes').findOne({}), 'TENANT_MISSING'));
  });

  test('a join between a shared and a tenant collection is refused: they are in different databases', async () => {
    await db.as('acme', async () => {
      await db.fence.collection('notes').insertOne({ title: 'n', plan: 'pro' });
      const into = db.fence.collection('notes').aggregate([{ $lookup: { from: 'plans', localField: 'plan', foreignField: '_id', as: 'p' } }]);
      const err = await expectTenantError(into.toArray(), 'TENANT_VIOLATION');
      expect(err.message).toMatch(/strategy 'database'/);
      const from = db.fence.collection('plans').aggregate([{ $unionWith: 'notes' }]);
      await expectTenantError(from.toArray(), 'TENANT_VIOLATION');
    });
  });
});
