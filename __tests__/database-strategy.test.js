'use strict';
// strategy: 'database' — one database per tenant, named `<database>_<tenantId>`.

const { TenantError, ObjectId } = require('..');
const { useSuite, captureError, expectTenantError, expectSyncTenantError, ids } = require('./helpers/fixtures');

const events = [];
// suite.DB is the base name; afterAll also drops the tenant databases `<base>_<tenant>`
const suite = useSuite('dbs', { strategy: 'database', onSystemAccess: (e) => events.push(e) });

const { as } = suite;
const tdb = (tenant) => suite.raw.db(`${suite.DB}_${tenant}`);

describe("strategy: 'database'", () => {
  test('documents land in <database>_<tenantId> and are not stamped', async () => {
    const doc = { name: 'from-a', n: 1 };
    const r = await as('a', () => suite.fence.collection('items').insertOne(doc));
    expect(r).toEqual({ acknowledged: true, insertedId: expect.any(ObjectId) });
    expect(doc._id.equals(r.insertedId)).toBe(true);
    const stored = await tdb('a').collection('items').findOne({ _id: r.insertedId });
    expect(stored).toEqual({ _id: r.insertedId, name: 'from-a', n: 1 });
    expect(stored).not.toHaveProperty('tenantId');
    expect(await suite.rdb.collection('items').countDocuments()).toBe(0);

    await as('b', () =>
      suite.fence.collection('items').insertMany([
        { name: 'from-b', n: 1 },
        { name: 'from-b', n: 2 },
      ]),
    );
    const inB = await tdb('b').collection('items').find({}, { projection: { _id: 0 } }).sort({ n: 1 }).toArray();
    expect(inB).toEqual([
      { name: 'from-b', n: 1 },
      { name: 'from-b', n: 2 },
    ]);
    const upserted = await as('b', () =>
      suite.fence.collection('items').updateOne({ name: 'upserted' }, { $set: { n: 3 } }, { upsert: true }),
    );
    expect(await tdb('b').collection('items').findOne({ _id: upserted.upsertedId })).toEqual({
      _id: upserted.upsertedId,
      name: 'upserted',
      n: 3,
    });
  });

  test('tenants cannot see each other', async () => {
    await tdb('c').collection('items').insertMany([
      { _id: 'c-1', n: 1 },
      { _id: 'c-2', n: 2 },
    ]);
    await tdb('d').collection('items').insertOne({ _id: 'd-1', n: 1 });
    const col = suite.fence.collection('items');
    await as('c', async () => {
      expect(ids(await col.find({}).toArray())).toEqual(['c-1', 'c-2']);
      expect(await col.countDocuments({})).toBe(2);
      expect(await col.estimatedDocumentCount()).toBe(2);
      expect(await col.findOne({ _id: 'd-1' })).toBeNull();
      expect([...(await col.distinct('n'))].sort()).toEqual([1, 2]);
      expect(ids(await col.aggregate([{ $sort: { _id: 1 } }]).toArray())).toEqual(['c-1', 'c-2']);
      expect(await col.updateMany({}, { $set: { seen: true } })).toMatchObject({ matchedCount: 2 });
      expect(await col.deleteOne({ _id: 'd-1' })).toEqual({ acknowledged: true, deletedCount: 0 });
    });
    expect(await tdb('d').collection('items').findOne({ _id: 'd-1' })).toEqual({ _id: 'd-1', n: 1 });
    // same _id in two tenant databases is fine under this strategy
    await as('d', () => col.insertOne({ _id: 'c-1', n: 9 }));
    expect(await tdb('d').collection('items').findOne({ _id: 'c-1' })).toEqual({ _id: 'c-1', n: 9 });
    expect(await tdb('c').collection('items').findOne({ _id: 'c-1' })).toEqual({ _id: 'c-1', n: 1, seen: true });
  });

  test('$lookup, $unionWith and $graphLookup stay in the tenant database', async () => {
    for (const t of ['e', 'f']) {
      await tdb(t).collection('orders').insertMany([
        { _id: `${t}-o1`, k: 1 },
        { _id: `${t}-o2`, k: 2 },
      ]);
      await tdb(t).collection('lines').insertMany([
        { _id: `${t}-l1`, k: 1 },
        { _id: `${t}-l2`, k: 2 },
      ]);
    }
    const r = await as('e', () =>
      suite.fence
        .collection('orders')
        .aggregate([
          { $lookup: { from: 'lines', localField: 'k', foreignField: 'k', as: 'j' } },
          { $graphLookup: { from: 'lines', startWith: '$k', connectFromField: 'k', connectToField: 'k', as: 'g' } },
          { $unionWith: 'lines' },
          { $sort: { _id: 1 } },
        ])
        .toArray(),
    );
    expect(ids(r)).toEqual(['e-l1', 'e-l2', 'e-o1', 'e-o2']);
    const o1 = r.find((d) => d._id === 'e-o1');
    expect(ids(o1.j)).toEqual(['e-l1']);
    expect(ids(o1.g)).toEqual(['e-l1']);
  });

  test.each([
    ['$lookup with object from', (t) => [{ $lookup: { from: { db: `${suite.DB}_${t}`, coll: 'items' }, localField: 'n', foreignField: 'n', as: 'j' } }]],
    ['$out to another database', (t) => [{ $out: { db: `${suite.DB}_${t}`, coll: 'stolen' } }]],
    ['$merge into another database', (t) => [{ $merge: { into: { db: `${suite.DB}_${t}`, coll: 'stolen' } } }]],
    ['$currentOp', () => [{ $currentOp: {} }]],
    ['$unionWith with a $lookup object from', (t) => [{ $unionWith: { coll: 'items', pipeline: [{ $lookup: { from: { db: `${suite.DB}_${t}`, coll: 'items' }, pipeline: [], as: 'x' } }] } }]],
  ])('%s is refused with TENANT_VIOLATION', async (label, pipeline) => {
    await tdb('h').collection('items').replaceOne({ _id: 'h-1' }, { n: 1 }, { upsert: true });
    await tdb('g').collection('items').replaceOne({ _id: 'g-1' }, { n: 1 }, { upsert: true });
    const err = await captureError(() =>
      as('g', () => suite.fence.collection('items').aggregate(pipeline('h')).toArray()),
    );
    expect({ tenantError: err instanceof TenantError, code: err.code }).toEqual({ tenantError: true, code: 'TENANT_VIOLATION' });
    const names = (await tdb('h').listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).not.toContain('stolen');
    expect(await tdb('h').collection('items').find({}).toArray()).toEqual([{ _id: 'h-1', n: 1 }]);
  });

  test('$out / $merge to a collection of the same database: refused, or written there only', async () => {
    await tdb('i').collection('src').insertOne({ _id: 'i-1', n: 1 });
    for (const [stage, target] of [
      [{ $out: 'copy_out' }, 'copy_out'],
      [{ $merge: { into: 'copy_merge' } }, 'copy_merge'],
    ]) {
      let refused = false;
      try {
        await as('i', () => suite.fence.collection('src').aggregate([stage]).toArray());
      } catch (err) {
        expect(err).toBeInstanceOf(TenantError);
        expect(err.code).toBe('TENANT_VIOLATION');
        refused = true;
      }
      if (!refused) {
        expect(await tdb('i').collection(target).find({}).toArray()).toEqual([{ _id: 'i-1', n: 1 }]);
      }
      // never outside the tenant database
      expect(await suite.rdb.listCollections({ name: target }).toArray()).toEqual([]);
    }
  });

  test('no context: TENANT_MISSING', async () => {
    const col = suite.fence.collection('items');
    await expectTenantError(() => col.insertOne({ x: 1 }), 'TENANT_MISSING');
    await expectTenantError(() => col.countDocuments({}), 'TENANT_MISSING');
    expectSyncTenantError(() => col.find({}), 'TENANT_MISSING');
    expect(await suite.rdb.collection('items').countDocuments()).toBe(0);
  });

  test('createIndex is per tenant database, unique per tenant', async () => {
    const col = suite.fence.collection('users');
    const name = await as('j', () => col.createIndex({ email: 1 }, { unique: true }));
    expect(typeof name).toBe('string');
    const ix = (await tdb('j').collection('users').listIndexes().toArray()).find((i) => i.name === name);
    expect(ix).toBeDefined();
    expect(ix.unique).toBe(true);
    expect(ix.key).toMatchObject({ email: 1 });
    await as('j', () => col.insertOne({ email: 'x' }));
    await as('k', () => col.insertOne({ email: 'x' }));
    const err = await captureError(() => as('j', () => col.insertOne({ email: 'x' })));
    expect(err.code).toBe(11000);
  });

  test('runAsSystem gives no cross-database access', async () => {
    await tdb('m').collection('items').insertOne({ _id: 'm-1', secret: true });
    await tdb('n').collection('items').insertOne({ _id: 'n-1', secret: true });
    const col = suite.fence.collection('items');

    // reads: refused, or they see nothing of any tenant database
    let docs = [];
    try {
      docs = await suite.fence.runAsSystem({ reason: 'probe' }, () => col.find({}).toArray());
    } catch (err) {
      expect(err).toBeInstanceOf(TenantError);
    }
    expect(docs.filter((d) => d.secret)).toEqual([]);

    let count = 0;
    try {
      count = await suite.fence.runAsSystem({ reason: 'probe' }, () =>
        col.aggregate([{ $unionWith: 'items' }, { $match: { secret: true } }, { $count: 'n' }]).toArray(),
      );
    } catch (err) {
      expect(err).toBeInstanceOf(TenantError);
    }
    expect(Array.isArray(count) ? count : []).toEqual([]);

    // cross-database stages stay refused
    const err = await captureError(() =>
      suite.fence.runAsSystem({ reason: 'probe' }, () =>
        col.aggregate([{ $lookup: { from: { db: `${suite.DB}_m`, coll: 'items' }, pipeline: [], as: 'x' } }]).toArray(),
      ),
    );
    expect(err).toBeInstanceOf(TenantError);

    // writes naming a tenant do not land in any tenant database
    try {
      await suite.fence.runAsSystem({ reason: 'probe' }, () => col.insertOne({ tenantId: 'n', sys: true }));
    } catch (e) {
      expect(e).toBeInstanceOf(TenantError);
    }
    try {
      await suite.fence.runAsSystem({ reason: 'probe' }, () => col.updateMany({}, { $set: { touched: true } }));
    } catch (e) {
      expect(e).toBeInstanceOf(TenantError);
    }
    expect(await tdb('n').collection('items').find({}).toArray()).toEqual([{ _id: 'n-1', secret: true }]);
    expect(await tdb('m').collection('items').find({}).toArray()).toEqual([{ _id: 'm-1', secret: true }]);
  });
});
