'use strict';
// strategy: 'database' — one database per tenant, `fence.databaseFor(tenantId)`: `<database>~<escaped id>`.

const { TenantFence, TenantError, ObjectId } = require('../..');
const { useSuite, uri, uriWithDb, captureError, expectTenantError, expectSyncTenantError, expectTypeError, ids, snapshot } = require('../helpers/fixtures');

const events = [];
// suite.DB is the base name; afterAll also drops the tenant databases `<base>~…`
const suite = useSuite('dbs', { strategy: 'database', onSystemAccess: (e) => events.push(e) });

const { as } = suite;
// Where the fence keeps a tenant's collections: asked of the fence, never spelled out here.
const tdb = (tenant) => suite.raw.db(suite.fence.databaseFor(tenant));

describe("strategy: 'database'", () => {
  test('documents land in fence.databaseFor(tenantId) and are not stamped', async () => {
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
    ['$lookup with object from', (t) => [{ $lookup: { from: { db: suite.fence.databaseFor(t), coll: 'items' }, localField: 'n', foreignField: 'n', as: 'j' } }]],
    ['$out to another database', (t) => [{ $out: { db: suite.fence.databaseFor(t), coll: 'stolen' } }]],
    ['$merge into another database', (t) => [{ $merge: { into: { db: suite.fence.databaseFor(t), coll: 'stolen' } } }]],
    ['$currentOp', () => [{ $currentOp: {} }]],
    ['$unionWith with a $lookup object from', (t) => [{ $unionWith: { coll: 'items', pipeline: [{ $lookup: { from: { db: suite.fence.databaseFor(t), coll: 'items' }, pipeline: [], as: 'x' } }] } }]],
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
        col.aggregate([{ $lookup: { from: { db: suite.fence.databaseFor('m'), coll: 'items' }, pipeline: [], as: 'x' } }]).toArray(),
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

// The old name `<database>_<tenantId>` was not injective: tenant 'billing' opened the app's own
// `<database>_billing`, (app, 'eu_x') and (app_eu, 'x') were one database, and 'acme' and 'ACME'
// blocked each other (MongoDB compares database names case-insensitively, code 13297).
describe("strategy: 'database': tenant database names never meet", () => {
  /** Every name of the server's databases. */
  const databaseNames = async () =>
    (await suite.raw.db('admin').admin().listDatabases({ nameOnly: true })).databases.map((d) => d.name);

  test("tenant 'billing' does not touch the app's own database <database>_billing", async () => {
    const own = suite.raw.db(suite.dropAfter(`${suite.DB}_billing`));
    await own.collection('items').insertMany([
      { _id: 'secret-1', secret: 'payroll' },
      { _id: 'secret-2', secret: 'cards' },
    ]);
    const before = await snapshot(own.collection('items'));
    expect(suite.fence.databaseFor('billing')).not.toBe(`${suite.DB}_billing`);

    const col = suite.fence.collection('items');
    await as('billing', async () => {
      expect(await col.find({}).toArray()).toEqual([]);
      expect(await col.findOne({ _id: 'secret-1' })).toBeNull();
      expect(await col.countDocuments({})).toBe(0);
      expect(await col.aggregate([{ $unionWith: 'items' }]).toArray()).toEqual([]);
      await col.insertOne({ _id: 'billing-1', n: 1 });
      expect(await col.updateMany({}, { $set: { touched: true } })).toMatchObject({ matchedCount: 1 });
      expect(await col.deleteMany({ _id: 'secret-2' })).toEqual({ acknowledged: true, deletedCount: 0 });
      expect(await col.replaceOne({ _id: 'secret-1' }, { stolen: true })).toMatchObject({ matchedCount: 0 });
      expect(ids(await col.find({}).toArray())).toEqual(['billing-1']);
    });
    expect(await snapshot(own.collection('items'))).toEqual(before);
    expect(await tdb('billing').collection('items').find({}).toArray()).toEqual([{ _id: 'billing-1', n: 1, touched: true }]);
  });

  test("fences on bases X and X_eu keep tenants 'eu_x' and 'x' apart", async () => {
    const eu = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.dropAfter(`${suite.DB}_eu`), strategy: 'database' }));
    suite.dropAfter(eu.databaseFor('x'));
    expect(suite.fence.databaseFor('eu_x')).not.toBe(eu.databaseFor('x'));

    await suite.fence.runAs('eu_x', () => suite.fence.collection('pair').insertOne({ _id: 1, who: 'X/eu_x' }));
    await eu.runAs('x', () => eu.collection('pair').insertOne({ _id: 2, who: 'X_eu/x' }));
    // Same _id in both: were they one database, the second insert would be a duplicate key.
    await suite.fence.runAs('eu_x', () => suite.fence.collection('pair').insertOne({ _id: 3, who: 'X/eu_x' }));
    await eu.runAs('x', () => eu.collection('pair').insertOne({ _id: 3, who: 'X_eu/x' }));

    const a = await suite.fence.runAs('eu_x', () => suite.fence.collection('pair').find({}).sort({ _id: 1 }).toArray());
    const b = await eu.runAs('x', () => eu.collection('pair').find({}).sort({ _id: 1 }).toArray());
    expect(a).toEqual([{ _id: 1, who: 'X/eu_x' }, { _id: 3, who: 'X/eu_x' }]);
    expect(b).toEqual([{ _id: 2, who: 'X_eu/x' }, { _id: 3, who: 'X_eu/x' }]);
    expect(await suite.raw.db(eu.databaseFor('x')).collection('pair').countDocuments()).toBe(2);
    expect(await tdb('eu_x').collection('pair').countDocuments()).toBe(2);
  });

  test("tenants 'acme', 'ACME' and 'Acme' each get a database and read only their own", async () => {
    const tenants = ['acme', 'ACME', 'Acme'];
    const names = tenants.map((t) => suite.fence.databaseFor(t));
    // MongoDB compares database names case-insensitively: the names must differ even so.
    expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(tenants.length);
    const col = suite.fence.collection('case');
    for (const t of tenants) {
      const r = await as(t, () => col.insertOne({ who: t }));
      expect(r.acknowledged).toBe(true);
    }
    for (const t of tenants) {
      const docs = await as(t, () => col.find({}, { projection: { _id: 0 } }).toArray());
      expect({ t, docs }).toEqual({ t, docs: [{ who: t }] });
      expect(await as(t, () => col.countDocuments({ who: { $ne: t } }))).toBe(0);
      expect(await tdb(t).collection('case').find({}, { projection: { _id: 0 } }).toArray()).toEqual([{ who: t }]);
    }
    const present = await databaseNames();
    for (const n of names) expect(present).toContain(n);
  });

  test('fence.databaseFor returns the documented names', async () => {
    // Connecting creates no database; databaseFor only computes the name.
    const app = await TenantFence.connect(uri(), { database: 'app', strategy: 'database' });
    const appEu = await TenantFence.connect(uri(), { database: 'app_eu', strategy: 'database' });
    const odd = await TenantFence.connect(uri(), { database: 'app', strategy: 'database', tenantIdPattern: /^[^\s]{1,64}$/u });
    const field = await TenantFence.connect(uri(), { database: 'app' });
    try {
      expect(
        Object.fromEntries(['acme', 'ACME', 'Acme', 'billing', 'eu_x', 'x', 'a-b', 'a-B', 'a_b', 'T42'].map((t) => [t, app.databaseFor(t)])),
      ).toEqual({
        acme: 'app~acme',
        ACME: 'app~-a-c-m-e',
        Acme: 'app~-acme',
        billing: 'app~billing',
        eu_x: 'app~eu_x',
        x: 'app~x',
        'a-b': 'app~a--b',
        'a-B': 'app~a---b',
        a_b: 'app~a_b',
        T42: 'app~-t42',
      });
      expect(appEu.databaseFor('x')).toBe('app_eu~x');
      expect(odd.databaseFor('\u00e9')).toBe('app~-0000e9');
      expect(odd.databaseFor('e\u0301')).toBe('app~e-000301');
      expect(odd.databaseFor('a*b')).toBe('app~a-00002ab');
      // Under 'field' every tenant lives in the shared database.
      expect(field.databaseFor('acme')).toBe('app');
      expect(field.databaseFor('ACME')).toBe('app');
      // Ids the hard rules refuse, or whose database name would pass 63 bytes ('x' * 65: 69 bytes).
      for (const bad of ['', 'a.b', 'a b', 'x'.repeat(65)]) {
        const err = await expectTenantError(() => app.databaseFor(bad), 'TENANT_INVALID');
        expect(err.message).toBeTruthy();
      }
      await expectTypeError(() => app.databaseFor(42), /tenantId/);
      await expectTypeError(() => app.databaseFor(), /tenantId/);
    } finally {
      for (const f of [app, appEu, odd, field]) await f.close();
    }
    expect(await databaseNames()).not.toContain('app~acme');
  });

  test("a base containing '~' is a TypeError at connect, under either strategy", async () => {
    // Names with '~' are tenant databases: a 'field' fence on `<base>~a` would read tenant a's.
    const base = `${suite.DB}~x`;
    await expectTypeError(TenantFence.connect(uri(), { database: base, strategy: 'database' }), /database/);
    await expectTypeError(TenantFence.connect(uriWithDb(base), { strategy: 'database' }), /database/);
    await expectTypeError(TenantFence.connect(uri(), { database: base }), /database/);
    expect((await suite.raw.db('admin').admin().listDatabases({ nameOnly: true })).databases.map((d) => d.name)).not.toContain(base);
  });

  test("a database name is held to MongoDB's own rule, whether the option or the connection string names it", async () => {
    // `:` and `*` are valid on Linux (a connection string may name them); `.` never is, and
    // MongoDB counts bytes, so 32 emoji (128 bytes) are too long though 32 characters.
    for (const ok of [`${suite.DB}:x`, `${suite.DB}*x`]) {
      const byOption = await TenantFence.connect(uri(), { database: ok });
      const byUri = await TenantFence.connect(uriWithDb(encodeURIComponent(ok)));
      try {
        expect([byOption.databaseName, byUri.databaseName]).toEqual([ok, ok]);
      } finally {
        await byOption.close();
        await byUri.close();
      }
    }
    await expectTypeError(TenantFence.connect(uri(), { database: '\u{1F600}'.repeat(32) }), /options\.database must be a valid database name/);
    await expectTypeError(TenantFence.connect(uriWithDb(encodeURIComponent('\u{1F600}'.repeat(32)))), /the connection string names the database/);
  });

  test('a tenant id whose database name would pass 63 bytes is TENANT_INVALID, and nothing is created', async () => {
    // The longest all-lower-case id that fits, and one character more.
    const fits = 'a'.repeat(63 - suite.DB.length - 1);
    expect(Buffer.byteLength(suite.fence.databaseFor(fits))).toBe(63);
    await as(fits, () => suite.fence.collection('items').insertOne({ _id: 'fits' }));
    expect(await tdb(fits).collection('items').findOne({})).toEqual({ _id: 'fits' });

    const col = suite.fence.collection('items');
    for (const tooLong of [`${fits}a`, 'A'.repeat(40), 'Z'.repeat(64)]) {
      await expectTenantError(() => suite.fence.databaseFor(tooLong), 'TENANT_INVALID');
      await expectTenantError(() => as(tooLong, () => col.insertOne({ x: 1 })), 'TENANT_INVALID');
      await expectTenantError(() => as(tooLong, () => col.countDocuments({})), 'TENANT_INVALID');
    }
    const err = await expectTenantError(() => as(`${fits}a`, () => col.findOne({})), 'TENANT_INVALID');
    expect(err.message).toMatch(/63/);
    const mine = (await databaseNames()).filter((n) => n.startsWith(`${suite.DB}~`));
    expect(mine.filter((n) => Buffer.byteLength(n) > 63)).toEqual([]);
  });
});
