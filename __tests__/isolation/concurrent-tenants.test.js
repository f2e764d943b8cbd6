'use strict';
// The contract: "Concurrency never changes the answer: a call made while others are in flight
// (any tenants, any fences, either strategy) reads and writes exactly what it would have alone."
// Concurrent insertOne and findOne({_id}) calls share commands (src/binding/lanes/); these
// bursts keep hundreds of calls of many tenants, and of several fences, in flight on one
// collection name at once, and check with the npm driver (the oracle) where every document went
// and that every read answered for its own tenant only. Issue 11: under strategy 'database' a
// lane keyed by collection name alone sent other tenants' inserts to the first tenant's database.
// Nothing here counts commands or depends on timing: any interleaving must give the same answer.
// The fences connect with monitorCommands: false so shared commands are on whatever
// TENANTFENCE_MONITOR_COMMANDS says (before issue 11 the probe turned them off).

const express = require('express');
const { ObjectId, TenantFence } = require('../..');
const { useSuite, uri, dbName } = require('../helpers/fixtures');

const TENANTS = ['t1', 't2', 't3', 't4', 't5', 't6'];
const PER_TENANT = 120;

const key = (id) => (typeof id === 'string' ? id : id.toHexString());

/** Compares two sets of _ids; on a mismatch the failure shows counts and a few of each, not every id. */
function expectSameIds(label, got, want) {
  const g = new Set(got.map(key));
  const w = new Set(want.map(key));
  const missing = [...w].filter((x) => !g.has(x));
  const extra = [...g].filter((x) => !w.has(x));
  expect({ ...label, count: got.length, missing: missing.length, extra: extra.length, sample: [...missing, ...extra].slice(0, 3) }).toEqual({
    ...label,
    count: want.length,
    missing: 0,
    extra: 0,
    sample: [],
  });
}

/**
 * Where a fence's tenant keeps `coll`, and the filter that selects that tenant's documents there
 * (the oracle's view of the contract's storage rules; under 'database' the spec's `fence` says
 * which database, `fence.databaseFor(tenant)`).
 */
function placeOf(raw, { database, strategy, tenantField = 'tenantId', fence }, tenant, coll) {
  if (strategy === 'database') return { coll: raw.db(fence.databaseFor(tenant)).collection(coll), filter: {} };
  return { coll: raw.db(database).collection(coll), filter: { [tenantField]: tenant } };
}

/** Starts `burst` inserts per tenant at once; resolves to { tenant: [insertedId, …] } in call order. */
async function insertBurst(fence, coll, tenants, burst, mark = {}) {
  const c = fence.collection(coll);
  const calls = [];
  for (let k = 0; k < burst; k++) {
    for (const t of tenants) {
      const doc = { by: t, k, ...mark };
      calls.push(
        fence.runAs(t, async () => {
          const r = await c.insertOne(doc);
          expect(r).toEqual({ acknowledged: true, insertedId: doc._id });
          return [t, r.insertedId];
        }),
      );
    }
  }
  const ids = Object.fromEntries(tenants.map((t) => [t, []]));
  for (const [t, id] of await Promise.all(calls)) ids[t].push(id);
  return ids;
}

/**
 * The oracle: `coll` of each tenant holds exactly `ids[tenant]`, every document says it was
 * written by that tenant (`by`), and under 'field' carries that tenant in the tenant field.
 */
async function expectStored(raw, spec, coll, ids) {
  const { strategy, tenantField = 'tenantId' } = spec;
  for (const [t, own] of Object.entries(ids)) {
    const { coll: c, filter } = placeOf(raw, spec, t, coll);
    const docs = await c.find(filter).toArray();
    const wrong = docs.filter((d) => d.by !== t).map((d) => d.by);
    expect({ tenant: t, foreignDocs: wrong.length, foreignWriters: [...new Set(wrong)].sort() }).toEqual({
      tenant: t,
      foreignDocs: 0,
      foreignWriters: [],
    });
    expectSameIds({ stored: t }, docs.map((d) => d._id), own);
    if (strategy === 'database') {
      for (const d of docs) expect(d).not.toHaveProperty(tenantField);
    } else {
      for (const d of docs) expect(d[tenantField]).toBe(t);
    }
  }
  const total = Object.values(ids).reduce((n, own) => n + own.length, 0);
  if (strategy === 'database') {
    // Nothing in the base database, nothing in any database but the writers' own.
    expect(await raw.db(spec.database).collection(coll).countDocuments()).toBe(0);
  } else {
    expect(await raw.db(spec.database).collection(coll).countDocuments()).toBe(total);
  }
}

/**
 * One burst per tenant of findOne({_id}) over every id in `ids` (each tenant asks for its own
 * and for every other tenant's), mixed with `extra` new inserts per tenant, all in flight at once.
 * Every lookup must give the tenant's own document or null; returns the new inserts' ids.
 */
async function lookupBurst(fence, coll, ids, extra) {
  const c = fence.collection(coll);
  const tenants = Object.keys(ids);
  const everyId = tenants.flatMap((owner) => ids[owner].map((id) => [owner, id]));
  const missing = Array.from({ length: 10 }, () => new ObjectId());
  const calls = [];
  const added = Object.fromEntries(tenants.map((t) => [t, []]));
  for (let k = 0; k < everyId.length; k++) {
    // Each tenant's turn asks for an id of a different owner, so every batch mixes own and foreign.
    for (const [i, t] of tenants.entries()) {
      const [owner, id] = everyId[(k + i * 37) % everyId.length];
      calls.push(
        fence.runAs(t, async () => {
          const got = await c.findOne({ _id: id });
          return { t, owner, id, got };
        }),
      );
      if (k % 7 === 0 && k / 7 < extra) {
        const doc = { by: t, k: -1 - k };
        calls.push(
          fence.runAs(t, async () => {
            await c.insertOne(doc);
            added[t].push(doc._id);
            return null;
          }),
        );
      }
    }
    if (k < missing.length) calls.push(fence.runAs(tenants[k % tenants.length], async () => ({ none: await c.findOne({ _id: missing[k] }) })));
  }
  const wrong = [];
  for (const r of await Promise.all(calls)) {
    if (!r) continue;
    if ('none' in r) {
      expect(r.none).toBeNull();
      continue;
    }
    const { t, owner, id, got } = r;
    const ok = owner === t ? got !== null && got._id.equals(id) && got.by === t : got === null;
    if (!ok) wrong.push(`${t} asked for ${owner}'s ${key(id)}, got ${got ? `a document by ${got.by}` : 'null'}`);
  }
  expect({ wrongAnswers: wrong.length, first: wrong.slice(0, 5) }).toEqual({ wrongAnswers: 0, first: [] });
  return added;
}

/** Each tenant's find({}) gives exactly its own ids. */
async function expectFindsOwn(fence, coll, ids) {
  const c = fence.collection(coll);
  const got = await Promise.all(
    Object.keys(ids).map((t) => fence.runAs(t, async () => [t, await c.find({}).toArray(), await c.countDocuments({})])),
  );
  for (const [t, docs, count] of got) {
    expect({ tenant: t, writers: [...new Set(docs.map((d) => d.by))].sort() }).toEqual({ tenant: t, writers: [t] });
    expectSameIds({ found: t }, docs.map((d) => d._id), ids[t]);
    expect(count).toBe(ids[t].length);
  }
}

const merge = (a, b) => Object.fromEntries(Object.keys(a).map((t) => [t, [...a[t], ...b[t]]]));

describe.each(['field', 'database'])("strategy '%s': many tenants in flight on one collection name", (strategy) => {
  const suite = useSuite(`cc${strategy[0]}`, { strategy, monitorCommands: false });
  const spec = () => ({ database: suite.DB, strategy, fence: suite.fence });

  test(`${TENANTS.length} tenants × ${PER_TENANT} concurrent insertOne: each tenant's documents land in its own place only`, async () => {
    const ids = await insertBurst(suite.fence, 'notes', TENANTS, PER_TENANT);
    await expectStored(suite.raw, spec(), 'notes', ids);
  });

  test('find and findOne({_id}) bursts mixed with inserts: each tenant reads exactly its own documents', async () => {
    // Seeded through the oracle, so the reads are checked apart from the inserts.
    const first = {};
    for (const t of TENANTS) {
      const docs = Array.from({ length: 40 }, (_, k) => ({ _id: new ObjectId(), by: t, k, ...(strategy === 'field' ? { tenantId: t } : {}) }));
      const { coll } = placeOf(suite.raw, spec(), t, 'mixed');
      await coll.insertMany(docs);
      first[t] = docs.map((d) => d._id);
    }
    await expectFindsOwn(suite.fence, 'mixed', first);
    const added = await lookupBurst(suite.fence, 'mixed', first, 20);
    const all = merge(first, added);
    await expectStored(suite.raw, spec(), 'mixed', all);
    await expectFindsOwn(suite.fence, 'mixed', all);
  });

  test('through Express: 100 concurrent POSTs per tenant, then each tenant GETs exactly its own notes', async () => {
    const { fence } = suite;
    const app = express();
    app.use(express.json());
    app.use(fence.middleware());
    app.post('/notes', async (req, res, next) => {
      try {
        const doc = { by: req.get('x-tenant-id'), text: req.body.text };
        const r = await fence.collection('web').insertOne(doc);
        res.status(201).json({ tenant: fence.currentTenant(), id: String(r.insertedId) });
      } catch (e) {
        next(e);
      }
    });
    app.get('/notes', async (req, res, next) => {
      try {
        res.json({ tenant: fence.currentTenant(), notes: await fence.collection('web').find({}).toArray() });
      } catch (e) {
        next(e);
      }
    });
    const server = await new Promise((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const base = `http://127.0.0.1:${server.address().port}`;
    try {
      const tenants = TENANTS.slice(0, 5);
      const posts = [];
      for (let k = 0; k < 100; k++) {
        for (const t of tenants) {
          posts.push(
            fetch(`${base}/notes`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-tenant-id': t },
              body: JSON.stringify({ text: `${t}-${k}` }),
            }).then(async (r) => ({ t, status: r.status, body: await r.json() })),
          );
        }
      }
      const ids = Object.fromEntries(tenants.map((t) => [t, []]));
      for (const { t, status, body } of await Promise.all(posts)) {
        expect({ status, tenant: body.tenant }).toEqual({ status: 201, tenant: t });
        ids[t].push(new ObjectId(body.id));
      }
      const gets = await Promise.all(
        tenants.map((t) => fetch(`${base}/notes`, { headers: { 'x-tenant-id': t } }).then(async (r) => [t, r.status, await r.json()])),
      );
      for (const [t, status, body] of gets) {
        expect(status).toBe(200);
        const foreign = body.notes.filter((n) => n.by !== t).length;
        expect({ tenant: body.tenant, notes: body.notes.length, foreign }).toEqual({ tenant: t, notes: 100, foreign: 0 });
        expectSameIds({ got: t }, body.notes.map((n) => n._id), ids[t]);
      }
      await expectStored(suite.raw, spec(), 'web', ids);
    } finally {
      await new Promise((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    }
  });
});

describe('two fences in one process on the same collection name', () => {
  const suite = useSuite('cc2f');
  const TWO = ['t1', 't2', 't3'];

  /** Connects a fence per spec (dropping its databases after the run). */
  async function connectAll(specs) {
    const fences = [];
    for (const s of specs) {
      const { database, ...rest } = s;
      suite.dropAfter(database);
      const fence = suite.closeAfter(await TenantFence.connect(uri(), { database, monitorCommands: false, ...rest }));
      if (s.strategy === 'database') TWO.forEach((t) => suite.dropAfter(fence.databaseFor(t)));
      s.fence = fence; // placeOf asks it where each tenant lives
      fences.push(fence);
    }
    return fences;
  }

  const pairs = () => ({
    'different databases (field)': [{ database: dbName('ccA') }, { database: dbName('ccB') }],
    'different databases (database)': [
      { database: dbName('ccA'), strategy: 'database' },
      { database: dbName('ccB'), strategy: 'database' },
    ],
    'one database, different tenantField': [
      { database: suite.DB, tenantField: 'tenantId' },
      { database: suite.DB, tenantField: 'org' },
    ],
    'one base database, different strategy': [
      { database: suite.DB, tenantField: 'owner' },
      { database: suite.DB, strategy: 'database' },
    ],
  });

  test.each(['different databases (field)', 'different databases (database)', 'one database, different tenantField', 'one base database, different strategy'])(
    '%s: concurrent inserts and _id lookups on both; each fence writes and reads only its own',
    async (label) => {
      const specs = pairs()[label];
      const fences = await connectAll(specs);
      // Both fences' bursts in flight at once, same tenant ids, same collection name.
      const [idsA, idsB] = await Promise.all(fences.map((f, i) => insertBurst(f, 'shared', TWO, 60, { fence: i })));
      // Each fence looks up its own ids and the other fence's ids (same tenants), all at once.
      const both = Object.fromEntries(TWO.map((t) => [t, [...idsA[t], ...idsB[t]]]));
      const looked = await Promise.all(
        fences.map((f, i) =>
          Promise.all(
            TWO.flatMap((t) =>
              both[t].map((id) =>
                f.runAs(t, async () => {
                  const got = await f.collection('shared').findOne({ _id: id });
                  return { i, t, id, got };
                }),
              ),
            ),
          ),
        ),
      );
      const ownOf = [idsA, idsB];
      const wrong = [];
      for (const { i, t, id, got } of looked.flat()) {
        const mine = ownOf[i][t].some((x) => x.equals(id));
        const ok = mine ? got !== null && got._id.equals(id) && got.fence === i && got.by === t : got === null;
        if (!ok) wrong.push(`fence ${i} tenant ${t} ${key(id)} (${mine ? 'own' : "other fence's"}): ${got ? `fence ${got.fence} by ${got.by}` : 'null'}`);
      }
      expect({ wrongAnswers: wrong.length, first: wrong.slice(0, 5) }).toEqual({ wrongAnswers: 0, first: [] });
      // The oracle: each fence's documents sit where that fence keeps them, none elsewhere.
      for (const [i, s] of specs.entries()) {
        for (const t of TWO) {
          const { coll, filter } = placeOf(suite.raw, s, t, 'shared');
          const docs = await coll.find({ ...filter, fence: i }).toArray();
          expectSameIds({ stored: t, fence: i }, docs.map((d) => d._id), ownOf[i][t]);
          expect(docs.every((d) => d.by === t)).toBe(true);
          if (s.strategy === 'database') {
            // Only this fence's documents in a database of its own tenant.
            expect(await coll.countDocuments({ fence: { $ne: i } })).toBe(0);
          }
        }
      }
      // And each fence's find sees exactly its own.
      for (const [i, f] of fences.entries()) {
        for (const t of TWO) {
          const docs = await f.runAs(t, () => f.collection('shared').find({}).toArray());
          expectSameIds({ found: t, fence: i }, docs.map((d) => d._id), ownOf[i][t]);
        }
      }
    },
  );
});
