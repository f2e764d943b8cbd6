'use strict';
// Concurrent findOne({_id}) calls on one collection share one find (src/binding/id_batch.rs):
// the command carries other tenants' _ids, so each caller must still get only a document its
// own tenant owns, exactly what the scoped query would give, and errors must reach every caller.

const { ObjectId, TenantFence } = require('..');
const { useSuite, uri } = require('./helpers/fixtures');

const suite = useSuite('idbatch');
const TENANTS = ['a', 'b', 'c'];

/** The same read through the general scoped filter (a sort turns the _id shortcut off). */
const general = (c, id) => c.findOne({ _id: id }, { sort: { _id: 1 } });

/** The `find` commands the server ran on `coll` of this suite's database while `fn` ran. */
async function findsDuring(coll, fn) {
  await suite.rdb.command({ profile: 2 });
  const since = new Date();
  try {
    await fn();
  } finally {
    await suite.rdb.command({ profile: 0 });
  }
  return suite.rdb
    .collection('system.profile')
    .find({ ns: `${suite.DB}.${coll}`, op: 'query', ts: { $gte: since } })
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
    const finds = await findsDuring('orders', async () => {
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

  test('a failing shared find rejects every caller with the server error, and the lane recovers', async () => {
    // Evaluating the view's $divide fails for every document it reaches.
    await suite.rdb.createCollection('broken', { viewOn: 'orders', pipeline: [{ $addFields: { bad: { $divide: [1, 0] } } }] });
    const c = suite.fence.collection('broken');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 120 }, (_, k) => suite.as('a', () => c.findOne({ _id: ids.a[k % 40] }))),
    );
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect(o.reason.name).toBe('MongoServerError');
      expect(o.reason.message).toMatch(/divide by zero/);
    }
    const ok = suite.fence.collection('orders');
    const after = await Promise.all(ids.a.map((id) => suite.as('a', () => ok.findOne({ _id: id }))));
    after.forEach((doc, i) => expect(doc).toMatchObject({ _id: ids.a[i], tenantId: 'a' }));
  });

  test('options that change the command (comment, maxTimeMS) are never shared with other calls', async () => {
    const c = suite.fence.collection('orders');
    const finds = await findsDuring('orders', () =>
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
    const finds = await findsDuring('orders', () =>
      Promise.all(ids.c.map((id) => fence.runAs('c', () => c.findOne({ _id: id })))),
    );
    expect(finds).toHaveLength(ids.c.length);
  });
});
