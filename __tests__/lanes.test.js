'use strict';
// Calls that queue behind one on the wire share a command (src/binding/lanes.rs):
// findOne({_id}) as one find (id_batch.rs), insertOne as one unordered insert (insert_batch.rs).
// A shared find carries other tenants' _ids, so each caller must still get only a document its
// own tenant owns; a shared insert must give each caller exactly what a lone insertOne gives.

const { ObjectId, TenantFence } = require('..');
const { useSuite, uri } = require('./helpers/fixtures');

const suite = useSuite('lanes');
const TENANTS = ['a', 'b', 'c'];

/** The same read through the general scoped filter (a sort turns the _id shortcut off). */
const general = (c, id) => c.findOne({ _id: id }, { sort: { _id: 1 } });

/** The commands (`op` as the profiler names it) the server ran on `coll` while `fn` ran. */
async function profiled(coll, fn, op = 'query') {
  await suite.rdb.command({ profile: 2 });
  const since = new Date();
  try {
    await fn();
  } finally {
    await suite.rdb.command({ profile: 0 });
  }
  return suite.rdb
    .collection('system.profile')
    .find({ ns: `${suite.DB}.${coll}`, op, ts: { $gte: since } })
    .toArray();
}

describe('findOne by _id under concurrency', () => {
  const ids = {};
  beforeAll(async () => {
    const docs = [];
    for (const t of TENANTS) {
      ids[t] = Array.from({ length: 40 }, () => new ObjectId());
      ids[t].forEach((_id, i) => docs.push({ _id, tenantId: t, i }));
    }
    const shared = new ObjectId();
    ids.shared = [shared];
    docs.push({ _id: shared, tenantId: ['a', 'b'], i: -1 }, { _id: 'str-a', tenantId: 'a', i: -2 });
    await suite.rdb.collection('orders').insertMany(docs);
  });

  test('a burst of 900 lookups (own, foreign, missing, repeated) gives each tenant what the scoped query gives', async () => {
    const c = suite.fence.collection('orders');
    const all = [...TENANTS.flatMap((t) => ids[t]), ...ids.shared, 'str-a'];
    const missing = Array.from({ length: 20 }, () => new ObjectId());
    const results = [];
    const finds = await profiled('orders', async () => {
      const calls = [];
      for (let k = 0; k < 900; k++) {
        const t = TENANTS[k % 3];
        const id = k % 10 === 9 ? missing[k % 20] : all[(k * 7) % all.length];
        calls.push(suite.as(t, async () => ({ t, id, got: await c.findOne({ _id: id }) })));
      }
      results.push(...(await Promise.all(calls)));
    });
    expect(results).toHaveLength(900);
    let own = 0;
    for (const { t, id, got } of results) {
      const expected = await suite.as(t, () => general(c, id));
      expect(got).toEqual(expected);
      if (got) {
        expect([got.tenantId].flat()).toContain(t);
        own++;
      }
    }
    // Each tenant owns about a third of the ids asked for: both answers occur.
    expect(own).toBeGreaterThan(200);
    expect(own).toBeLessThan(700);
    // Shared: far fewer commands than calls (the lone string _id goes on its own).
    expect(finds.length).toBeGreaterThan(0);
    expect(finds.length).toBeLessThan(100);
    expect(finds.some((p) => Array.isArray(p.command.filter._id?.$in))).toBe(true);
  });

  test('a lookup after an insert in the same async chain sees it, while other lookups keep the lane busy', async () => {
    const c = suite.fence.collection('chain');
    let stop = false;
    const noise = (async () => {
      while (!stop) await suite.as('b', () => c.findOne({ _id: new ObjectId() }));
    })();
    const chains = Array.from({ length: 200 }, (_, k) =>
      suite.as(TENANTS[k % 3], async () => {
        const { insertedId } = await c.insertOne({ k });
        return c.findOne({ _id: insertedId });
      }),
    );
    const got = await Promise.all(chains);
    stop = true;
    await noise;
    got.forEach((doc, k) => expect(doc).toMatchObject({ k, tenantId: TENANTS[k % 3] }));
  });

  test('a shared find that fails on one tenant\'s documents: each caller gets what its own lookup gives', async () => {
    // The view's $divide fails only on tenant b's documents; a lone lookup of a's never reaches one.
    const pipeline = [{ $addFields: { bad: { $divide: [1, { $cond: [{ $eq: ['$tenantId', 'b'] }, 0, 1] }] } } }];
    await suite.rdb.createCollection('broken', { viewOn: 'orders', pipeline });
    const c = suite.fence.collection('broken');
    const plan = Array.from({ length: 160 }, (_, k) => (k % 2 ? ['a', ids.a[k % 40]] : ['b', ids.b[k % 40]]));
    const outcomes = [];
    // The profiler files a query on a view under the view's source collection.
    const finds = await profiled('orders', async () =>
      outcomes.push(...(await Promise.allSettled(plan.map(([t, id]) => suite.as(t, () => c.findOne({ _id: id })))))),
    );
    // Some lookups did go out together (and failed) before each was sent alone.
    expect(finds.some((p) => p.command.find === 'broken' && Array.isArray(p.command.filter._id?.$in) && p.errMsg)).toBe(true);
    expect(outcomes).toHaveLength(160);
    outcomes.forEach((o, k) => {
      const [t, id] = plan[k];
      if (t === 'a') {
        expect(o.status).toBe('fulfilled');
        expect(o.value).toMatchObject({ _id: id, tenantId: 'a', bad: 1 });
      } else {
        expect(o.status).toBe('rejected');
        expect(o.reason.name).toBe('MongoServerError');
        expect(o.reason.message).toMatch(/divide by zero/);
      }
    });
    const ok = suite.fence.collection('orders');
    const after = await Promise.all(ids.a.map((id) => suite.as('a', () => ok.findOne({ _id: id }))));
    after.forEach((doc, i) => expect(doc).toMatchObject({ _id: ids.a[i], tenantId: 'a' }));
  });

  test('options that change the command (comment, maxTimeMS) are never shared with other calls', async () => {
    const c = suite.fence.collection('orders');
    const finds = await profiled('orders', () =>
      Promise.all(
        ids.b.slice(0, 30).map((id, k) =>
          suite.as('b', () => c.findOne({ _id: id }, k % 2 ? { comment: `c${k}` } : { maxTimeMS: 5000 })),
        ),
      ),
    );
    expect(finds).toHaveLength(30);
    expect(finds.every((p) => !p.command.filter._id?.$in)).toBe(true);
  });

  test('with the isolation probe on, every lookup is its own command, attributed to its tenant', async () => {
    const fence = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, monitorCommands: true }));
    const c = fence.collection('orders');
    const finds = await profiled('orders', () =>
      Promise.all(ids.c.map((id) => fence.runAs('c', () => c.findOne({ _id: id })))),
    );
    expect(finds).toHaveLength(ids.c.length);
  });
});

describe('insertOne under concurrency', () => {
  /** What a call gave: ok, or the error's name, code and codeName. */
  const outcome = (p) =>
    p.then(
      () => 'ok',
      (e) => ({ name: e.name, code: e.code, codeName: e.codeName, message: e.message }),
    );

  test('a burst of 600 inserts with duplicates and validator failures: each caller gets what a lone insertOne gets', async () => {
    await suite.rdb.createCollection('strict', { validator: { qty: { $gte: 0 } } });
    const taken = new ObjectId();
    await suite.rdb.collection('strict').insertOne({ _id: taken, tenantId: 'a', qty: 1 });
    const c = suite.fence.collection('strict');
    const twice = new ObjectId();
    const plan = Array.from({ length: 600 }, (_, k) => {
      const t = TENANTS[k % 3];
      if (k % 50 === 7) return { t, doc: { _id: taken, qty: 1 }, want: 'dup' };
      if (k % 50 === 11) return { t, doc: { qty: -1 }, want: 'invalid' };
      if (k === 300 || k === 301) return { t, doc: { _id: twice, qty: 2 }, want: 'once' };
      return { t, doc: { k, qty: k }, want: 'ok' };
    });
    const got = [];
    const inserts = await profiled(
      'strict',
      async () => got.push(...(await Promise.all(plan.map(({ t, doc }) => outcome(suite.as(t, () => c.insertOne(doc))))))),
      'insert',
    );
    // What a lone insertOne gives for the same two failures.
    const loneDup = await outcome(suite.as('a', () => c.insertOne({ _id: taken, qty: 1 })));
    const loneInvalid = await outcome(suite.as('a', () => c.insertOne({ qty: -1 })));
    expect(loneDup).toMatchObject({ name: 'MongoServerError', code: 11000, codeName: 'DuplicateKey' });
    expect(loneInvalid).toMatchObject({ name: 'MongoServerError', code: 121, codeName: 'DocumentValidationFailure' });
    plan.forEach(({ want }, k) => {
      if (want === 'ok') expect(got[k]).toBe('ok');
      if (want === 'dup') expect(got[k]).toEqual(loneDup);
      if (want === 'invalid') expect(got[k]).toEqual(loneInvalid);
    });
    expect([got[300], got[301]].filter((g) => g === 'ok')).toHaveLength(1);
    // Every accepted document is there once, stamped with its caller's tenant.
    const stored = await suite.rdb.collection('strict').find({ k: { $exists: true } }).toArray();
    expect(stored).toHaveLength(plan.filter((p) => p.want === 'ok').length);
    for (const d of stored) expect(d.tenantId).toBe(TENANTS[d.k % 3]);
    expect(await suite.rdb.collection('strict').countDocuments({ _id: twice })).toBe(1);
    // Shared: far fewer commands than calls, some carrying many documents.
    expect(inserts.length).toBeLessThan(300);
    expect(inserts.some((p) => p.ninserted > 1)).toBe(true);
  });

  test('calls with options or large documents are always sent alone', async () => {
    const c = suite.fence.collection('alone');
    const big = 'x'.repeat(70 * 1024);
    const inserts = await profiled(
      'alone',
      () =>
        Promise.all(
          Array.from({ length: 30 }, (_, k) =>
            suite.as('a', () =>
              k % 3 === 0 ? c.insertOne({ k, big }) : c.insertOne({ k }, k % 3 === 1 ? { comment: `c${k}` } : { writeConcern: { w: 1 } }),
            ),
          ),
        ),
      'insert',
    );
    expect(inserts).toHaveLength(30);
    expect(inserts.every((p) => p.ninserted === 1)).toBe(true);
  });

  test('a write concern error of a shared insert reaches each caller as a lone insertOne reports it', async () => {
    // w: 5 cannot be met by one node: the server inserts and reports a write concern error.
    const fence = suite.closeAfter(await TenantFence.connect(`${uri()}${uri().includes('?') ? '&' : '?'}w=5`, { database: suite.DB }));
    const c = fence.collection('wce');
    const lone = await outcome(fence.runAs('a', () => c.insertOne({ k: -1 })));
    expect(lone).toMatchObject({ name: 'MongoWriteConcernError' });
    const shared = [];
    const inserts = await profiled(
      'wce',
      async () => shared.push(...(await Promise.all(Array.from({ length: 100 }, (_, k) => outcome(fence.runAs('b', () => c.insertOne({ k }))))))),
      'insert',
    );
    expect(inserts.some((p) => p.ninserted > 1)).toBe(true);
    expect(shared).toHaveLength(100);
    for (const s of shared) expect(s).toEqual(lone);
    expect(await suite.rdb.collection('wce').countDocuments({ tenantId: 'b' })).toBe(100);
  });

  test('with the isolation probe on, every insert is its own command', async () => {
    const fence = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, monitorCommands: true }));
    const c = fence.collection('probed');
    const inserts = await profiled(
      'probed',
      () => Promise.all(Array.from({ length: 40 }, (_, k) => fence.runAs('c', () => c.insertOne({ k })))),
      'insert',
    );
    expect(inserts).toHaveLength(40);
  });
});
