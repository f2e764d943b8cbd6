'use strict';
// Index and collection administration (issue 14 item 6): what a tenant may list and build,
// what needs runAsSystem under strategy 'field', what a tenant may do in its own database
// under 'database', and the same answers and errors as the official driver's.

const { TenantFence, TenantError, MongoServerError, MongoAPIError } = require('../..');
const { isolationProbe } = require('../../lib/testing');
const { useSuite, uri, captureError, expectTenantError } = require('../helpers/fixtures');

const events = [];
const suite = useSuite('admin', { onSystemAccess: (e) => events.push(e) });
const sys = (fn) => suite.fence.runAsSystem({ reason: 'administration test' }, fn);
const as = (t, fn) => suite.fence.runAs(t, fn);

/** A server reply without the cluster's clock, which the fence does not hand back. */
const withoutClock = ({ $clusterTime, operationTime, ...rest }) => rest;

/** Whether two calls ended alike: the same value, or errors of the same class, code and message. */
async function outcome(p) {
  try {
    return { value: await p };
  } catch (e) {
    return { error: e.name, code: e.code, message: e.message };
  }
}

describe('listing indexes under a tenant (strategy field)', () => {
  test('listIndexes, indexes, indexInformation and indexExists give what the driver gives', async () => {
    const c = suite.fence.collection('listed');
    await as('a', () => c.insertOne({ x: 1 }));
    await as('a', () => c.createIndex({ x: 1 }));
    const raw = suite.rdb.collection('listed');
    const [cursor, full, info, fullInfo, short] = await as('a', () =>
      Promise.all([
        c.listIndexes().toArray(),
        c.indexes(),
        c.indexInformation(),
        c.indexInformation({ full: true }),
        c.indexes({ full: false }),
      ]),
    );
    const rawFull = await raw.indexes();
    expect(cursor).toEqual(rawFull);
    expect(full).toEqual(rawFull);
    expect(fullInfo).toEqual(rawFull);
    expect(info).toEqual(await raw.indexInformation());
    expect(short).toEqual(await raw.indexes({ full: false }));
    const names = rawFull.map((i) => i.name);
    expect(names).toContain('tenantId_1_x_1');
    await as('a', async () => {
      expect(await c.indexExists(names)).toBe(true);
      expect(await c.indexExists(names[0])).toBe(true);
      expect(await c.indexExists([...names, 'nope'])).toBe(false);
      // Cursor members work as on any cursor.
      expect(await c.listIndexes().map((i) => i.name).toArray()).toEqual(names);
      const it = c.listIndexes();
      expect(await it.hasNext()).toBe(true);
      expect((await it.next()).name).toBe('_id_');
      await it.close();
    });
  });

  test("a tenant's listing does not depend on whether another tenant has written to the collection", async () => {
    const c = suite.fence.collection('untouched');
    const before = await as('a', () => c.indexes());
    await as('b', () => c.insertMany([{ y: 1 }, { y: 2 }]));
    const after = await as('a', () => c.indexes());
    // The same listing both times, never NamespaceNotFound before the first write.
    expect(after).toEqual(before);
    expect(before.map((i) => i.name)).toEqual(['_id_', 'tenantfence_tenantId_1__id_1']);
  });

  test('after a drop elsewhere, a listing still does not say whether another tenant has written since (red-team round 20)', async () => {
    // Two fences on one database, as two instances of an app: the second drops the collection
    // behind the first's cached index listing.
    const other = await TenantFence.connect(uri(), { database: suite.DB });
    suite.closeAfter(other);
    const answers = [];
    for (const bWrites of [false, true]) {
      const name = `dropped_${bWrites}`;
      const c = suite.fence.collection(name);
      await as('a', () => c.insertOne({ mine: 1 }));
      await as('a', () => c.indexes());
      await other.runAsSystem({ reason: 'cleanup' }, () => other.collection(name).drop());
      if (bWrites) await as('b', () => c.insertOne({ theirs: 1 }));
      answers.push(await outcome(as('a', () => c.indexes().then((l) => l.map((i) => i.name)))));
    }
    expect(answers[0]).toEqual({ value: ['_id_', 'tenantfence_tenantId_1__id_1'] });
    expect(answers[1]).toEqual(answers[0]);
  });

  test('without a tenant, a listing is refused like every call', async () => {
    const e = await captureError(() => suite.fence.collection('listed').listIndexes().toArray());
    expect(e).toBeInstanceOf(TenantError);
    expect(e.code).toBe('TENANT_MISSING');
  });
});

describe('createIndexes', () => {
  test('builds every index in one command, each led by the tenant field, and returns the names', async () => {
    const c = suite.fence.collection('many');
    const names = await as('a', () =>
      c.createIndexes([{ key: { x: 1 } }, { key: new Map([['y', -1]]), name: 'by_y' }, { key: { z: 1 }, sparse: true }]),
    );
    expect(names).toEqual(['tenantId_1_x_1', 'by_y', 'tenantId_1_z_1']);
    const keys = Object.fromEntries((await suite.rdb.collection('many').indexes()).map((i) => [i.name, i.key]));
    expect(keys.by_y).toEqual({ tenantId: 1, y: -1 });
    expect(keys.tenantId_1_z_1).toEqual({ tenantId: 1, z: 1 });
  });

  test('one refused index refuses the whole batch: nothing is built', async () => {
    const c = suite.fence.collection('refusedbatch');
    await as('a', () => c.insertOne({ x: 1 }));
    // The fence's own index may be built on the way (as by any tenant call): the rest stays.
    const theirs = async () =>
      (await suite.rdb.collection('refusedbatch').indexes()).filter((i) => !i.name.startsWith('tenantfence_'));
    const before = await theirs();
    await expectTenantError(as('a', () => c.createIndexes([{ key: { x: 1 } }, { key: { y: 1 }, unique: true }])), 'TENANT_VIOLATION');
    // Two indexes of one batch with one key would make every tenant's hint by it ambiguous.
    await expectTenantError(as('a', () => c.createIndexes([{ key: { w: 1 } }, { key: { w: 1 }, name: 'w2' }])), 'TENANT_VIOLATION');
    expect(await theirs()).toEqual(before);
  });

  test('bad descriptions are TypeErrors naming the argument', async () => {
    const c = suite.fence.collection('many');
    await as('a', async () => {
      await expect(c.createIndexes({ key: { x: 1 } })).rejects.toThrow(TypeError);
      await expect(c.createIndexes([{ name: 'nokey' }])).rejects.toThrow(/indexSpecs\[0\]\.key/);
      await expect(c.createIndexes([])).rejects.toThrow(/at least one index/);
      await expect(c.createIndexes([{ key: { x: 1 }, uniqe: true }])).rejects.toThrow(/uniqe/);
    });
  });
});

describe('changing collections needs runAsSystem under strategy field', () => {
  test('every changing or collection-listing method is refused to a tenant, and nothing changes', async () => {
    const c = suite.fence.collection('kept');
    await as('a', () => c.insertOne({ _id: 1 }));
    await as('a', () => c.createIndex({ k: 1 }));
    const indexes = await suite.rdb.collection('kept').indexes();
    const refused = [
      ['dropIndex', () => c.dropIndex('tenantId_1_k_1')],
      ['dropIndexes', () => c.dropIndexes()],
      ['drop', () => c.drop()],
      ['rename', () => c.rename('kept2')],
      ['options', () => c.options()],
      ['isCapped', () => c.isCapped()],
      ['listCollections', () => suite.fence.db.listCollections().toArray()],
      ['createCollection', () => suite.fence.db.createCollection('newone')],
      ['dropCollection', () => suite.fence.db.dropCollection('kept')],
    ];
    for (const [name, run] of refused) {
      const e = await captureError(() => as('a', run));
      expect([name, e && e.code]).toEqual([name, 'TENANT_VIOLATION']);
      expect(e.message).toMatch(/runAsSystem/);
    }
    expect(await suite.rdb.collection('kept').indexes()).toEqual(indexes);
    expect(await suite.rdb.collection('kept').countDocuments()).toBe(1);
    expect(await suite.rdb.listCollections({ name: { $in: ['kept2', 'newone'] } }).toArray()).toEqual([]);
  });
});

describe('runAsSystem under strategy field: the driver\'s answers', () => {
  test('options, isCapped, dropIndex, dropIndexes, rename, drop and the db methods match the driver', async () => {
    const validator = { n: { $type: 'int' } };
    const f = suite.fence;
    events.length = 0;
    // The same steps through the fence (fence_*) and through the driver (raw_*).
    const made = await sys(() => f.db.createCollection('fence_a', { validator }));
    expect(made.collectionName).toBe('fence_a');
    await suite.rdb.createCollection('raw_a', { validator });
    const fa = f.collection('fence_a');
    const ra = suite.rdb.collection('raw_a');
    expect(await sys(() => fa.options())).toEqual(await ra.options());
    expect(await sys(() => fa.isCapped())).toBe(await ra.isCapped());
    await sys(() => fa.createIndex({ q: 1 }, { name: 'q' }));
    await ra.createIndex({ tenantId: 1, q: 1 }, { name: 'q' });
    expect(await sys(() => fa.dropIndex('q'))).toEqual(withoutClock(await ra.dropIndex('q')));
    expect(await outcome(sys(() => fa.dropIndex('q')))).toEqual(await outcome(ra.dropIndex('q')));
    expect(await outcome(sys(() => fa.dropIndex('q')))).toMatchObject({ error: 'MongoServerError', code: 27 });
    expect(await sys(() => fa.dropIndexes())).toBe(await ra.dropIndexes());
    expect(await sys(() => f.collection('fence_none').dropIndexes())).toBe(await suite.rdb.collection('raw_none').dropIndexes());
    expect(await outcome(sys(() => f.db.createCollection('fence_a')))).toEqual(
      JSON.parse(JSON.stringify(await outcome(suite.rdb.createCollection('raw_a')))
        .replace(/raw_a/g, 'fence_a')),
    );
    const renamed = await sys(() => fa.rename('fence_b'));
    expect(renamed.collectionName).toBe('fence_b');
    expect((await ra.rename('raw_b')).collectionName).toBe('raw_b');
    const listed = await sys(() => f.db.listCollections({ name: { $in: ['fence_a', 'fence_b'] } }, { nameOnly: true }).toArray());
    expect(listed).toEqual([{ name: 'fence_b', type: 'collection' }]);
    const e = await captureError(() => sys(() => f.collection('fence_a').options()));
    expect(e).toBeInstanceOf(MongoAPIError);
    expect(e.message).toBe(`collection ${suite.DB}.fence_a not found`);
    expect(await sys(() => f.collection('fence_b').drop())).toBe(await suite.rdb.collection('raw_b').drop());
    const missing = [await outcome(sys(() => f.db.dropCollection('fence_b'))), await outcome(suite.rdb.dropCollection('raw_b'))];
    expect(missing[0]).toEqual(missing[1]);
    // Every call passed the audit hook, named as the driver's method.
    expect(new Set(events.map((ev) => ev.operation))).toEqual(
      new Set(['createCollection', 'options', 'createIndex', 'dropIndex', 'dropIndexes', 'rename', 'listCollections', 'drop', 'dropCollection']),
    );
    expect(events.find((ev) => ev.operation === 'listCollections').collection).toBe('');
  });

  test('a capped, time-series or id-equating collection is refused even to the system', async () => {
    for (const options of [
      { capped: true, size: 4096 },
      { timeseries: { timeField: 't' } },
      { collation: { locale: 'en', strength: 1 } },
    ]) {
      await expectTenantError(sys(() => suite.fence.db.createCollection('shapes', options)), 'TENANT_VIOLATION');
    }
    await expect(sys(() => suite.fence.db.createCollection('shapes', { autoIndexId: false }))).rejects.toThrow(/autoIndexId/);
    expect(await suite.rdb.listCollections({ name: 'shapes' }).toArray()).toEqual([]);
  });

  test('a collection the system replaced with a view is seen as a view by the next tenant call', async () => {
    // The fence caches what it learnt of a collection; its own drop and create must clear it,
    // or a tenant would read the view's pipeline over every tenant's documents.
    const f = suite.fence;
    const c = f.collection('swapped');
    await as('a', () => c.insertOne({ _id: 'a1' }));
    await as('b', () => f.collection('source').insertOne({ _id: 'b1', secret: 'of b' }));
    expect(await as('a', () => c.find({}).toArray())).toEqual([{ _id: 'a1', tenantId: 'a' }]);
    await sys(() => c.drop());
    await sys(() => f.db.createCollection('swapped', { viewOn: 'source', pipeline: [{ $set: { tenantId: 'a' } }] }));
    const e = await captureError(() => as('a', () => c.find({}).toArray()));
    expect(e && e.code).toBe('TENANT_VIOLATION');
    expect(e.message).toMatch(/is a view/);
  });

  test('the audit hook sees the collection a rename replaces; a parsed write concern is sent (red-team round 20)', async () => {
    const f = suite.fence;
    events.length = 0;
    await sys(() => f.collection('ren_a').insertOne({ tenantId: 'a' }));
    await sys(() => f.collection('ren_b').insertOne({ tenantId: 'a' }));
    await sys(() => f.collection('ren_a').rename('ren_b', { dropTarget: true }));
    expect(events.find((e) => e.operation === 'rename')).toEqual({ reason: 'administration test', collection: 'ren_a', operation: 'rename', target: 'ren_b' });
    expect(events.find((e) => e.operation === 'insertOne')).not.toHaveProperty('target');
    // `wtimeoutMS` is the driver's name; the server's is `wtimeout`: the indexes are dropped.
    await sys(() => f.collection('ren_b').createIndex({ k: 1 }));
    expect(await sys(() => f.collection('ren_b').dropIndexes({ writeConcern: { w: 1, wtimeoutMS: 1000 } }))).toBe(true);
    expect((await suite.rdb.collection('ren_b').indexes()).map((i) => i.name)).toEqual(['_id_']);
  });

  test('after the system drops the indexes, tenant calls rebuild the fence index and still answer', async () => {
    const c = suite.fence.collection('rebuilt');
    await as('a', () => c.insertMany([{ n: 1 }, { n: 2 }]));
    await as('b', () => c.insertOne({ n: 3 }));
    expect(await as('a', () => c.countDocuments({}))).toBe(2);
    expect(await sys(() => c.dropIndexes())).toBe(true);
    expect((await suite.rdb.collection('rebuilt').indexes()).map((i) => i.name)).toEqual(['_id_']);
    expect(await as('a', () => c.find({}, { sort: { n: 1 }, projection: { _id: 0 } }).toArray())).toEqual([
      { n: 1, tenantId: 'a' },
      { n: 2, tenantId: 'a' },
    ]);
    expect((await suite.rdb.collection('rebuilt').indexes()).map((i) => i.name)).toContain('tenantfence_tenantId_1__id_1');
  });
});

describe("a tenant's own database under strategy 'database'", () => {
  let fence;
  let probe;
  const tdb = (t) => suite.raw.db(fence.databaseFor(t));

  beforeAll(async () => {
    fence = await TenantFence.connect(uri(), { database: `${suite.DB}d`, strategy: 'database', monitorCommands: true });
    suite.closeAfter(fence);
    suite.dropAfter(fence.databaseFor('a'), fence.databaseFor('b'));
    probe = isolationProbe(fence);
  });

  test('every method works in its own database, never in another tenant\'s, and every command is scoped', async () => {
    probe.reset();
    const c = fence.collection('things');
    await fence.runAs('b', () => c.insertOne({ _id: 'b' }));
    await fence.runAs('b', () => c.createIndex({ k: 1 }));
    const bIndexes = await tdb('b').collection('things').indexes();
    await fence.runAs('a', async () => {
      await c.insertOne({ _id: 'a' });
      expect(await c.createIndexes([{ key: { k: 1 } }, { key: { j: -1 } }])).toEqual(['k_1', 'j_-1']);
      expect(await c.indexes()).toEqual(await tdb('a').collection('things').indexes());
      expect(await c.dropIndex('k_1')).toEqual({ nIndexesWas: 3, ok: 1 });
      expect(await c.dropIndexes()).toBe(true);
      expect(await c.options()).toEqual({});
      expect(await c.isCapped()).toBe(false);
      const capped = await fence.db.createCollection('ring', { capped: true, size: 4096 });
      expect(await capped.isCapped()).toBe(true);
      expect((await fence.db.listCollections({}, { nameOnly: true }).toArray()).map((x) => x.name).sort()).toEqual(['ring', 'things']);
      expect((await c.rename('renamed')).collectionName).toBe('renamed');
      expect(await fence.collection('renamed').findOne({})).toEqual({ _id: 'a' });
      expect(await fence.db.dropCollection('ring')).toBe(true);
      expect(await fence.collection('renamed').drop()).toBe(true);
      await expectTenantError(fence.db.createCollection('v', { viewOn: 'renamed', pipeline: [] }), 'TENANT_VIOLATION');
      // Storage engine settings reach the whole server (red-team round 20: cache_resident).
      const wt = { wiredTiger: { configString: 'cache_resident=true' } };
      await expectTenantError(fence.db.createCollection('pinned', { storageEngine: wt }), 'TENANT_VIOLATION');
      await expectTenantError(fence.db.createCollection('pinned', { indexOptionDefaults: { storageEngine: wt } }), 'TENANT_VIOLATION');
      await expectTenantError(c.createIndex({ p: 1 }, { storageEngine: wt }), 'TENANT_VIOLATION');
      await expectTenantError(c.createIndexes([{ key: { p: 1 }, storageEngine: wt }]), 'TENANT_VIOLATION');
      await expect(c.rename('system.views')).rejects.toThrow(TypeError);
      expect(await fence.db.listCollections().toArray()).toEqual([]);
    });
    // Tenant b's collection, documents and indexes are untouched.
    expect(await tdb('b').collection('things').find().toArray()).toEqual([{ _id: 'b' }]);
    expect(await tdb('b').collection('things').indexes()).toEqual(bIndexes);
    const unscoped = probe.commands.filter((x) => x.scoped === false);
    expect(unscoped).toEqual([]);
    const names = new Set(probe.commands.map((x) => x.command));
    for (const n of ['create', 'drop', 'dropIndexes', 'renameCollection', 'listIndexes', 'listCollections', 'createIndexes']) {
      expect([n, names.has(n)]).toEqual([n, true]);
    }
  });

  test('runAsSystem reaches no tenant database', async () => {
    const e = await captureError(() =>
      fence.runAsSystem({ reason: 't' }, () => fence.db.listCollections().toArray()),
    );
    expect(e && e.code).toBe('TENANT_MISSING');
  });
});

describe('transactions', () => {
  test('listIndexes in a transaction fails as the driver\'s does (263), and the transaction retries nothing', async () => {
    const c = suite.fence.collection('txlist');
    await as('a', () => c.insertOne({ x: 1 }));
    const e = await captureError(() =>
      as('a', () => suite.fence.withTransaction(() => c.listIndexes().toArray())),
    );
    expect(e).toBeInstanceOf(MongoServerError);
    const session = suite.raw.startSession();
    const raw = await captureError(() =>
      session.withTransaction(() => suite.rdb.collection('txlist').listIndexes({ session }).toArray()),
    );
    await session.endSession();
    expect([e.code, e.codeName]).toEqual([raw.code, raw.codeName]);
  });
});
