'use strict';
// collection.watch(): a tenant's change stream carries only that tenant's events, deletes
// included, while other tenants write to the same collection. The npm driver's own change
// stream on the same collection is the oracle: its events, attributed by document and
// pre-image, filtered to one tenant, are what the scoped stream must deliver.

const { TenantFence, ObjectId } = require('../..');
const { useSuite, uri, captureError, syncError } = require('../helpers/fixtures');

const suite = useSuite('watch');
const { as } = suite;

const COLL = 'notes';
const FAST = { maxAwaitTimeMS: 200 };

/** Opens `fence.collection(name).watch(...)` as `tenant` and waits until it is open on the server. */
async function watchAs(tenant, pipeline = [], options = {}, name = COLL, fence = suite.fence) {
  const s = fence.runAs(tenant, () => fence.collection(name).watch(pipeline, { ...FAST, ...options }));
  // Nothing has been written since: the first read only proves the stream is open.
  expect(await s.tryNext()).toBeNull();
  return s;
}

/** The next `n` events of `stream` (fails after `ms`). */
async function take(stream, n, ms = 15000) {
  const out = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    if (Date.now() > deadline) throw new Error(`only ${out.length} of ${n} events within ${ms} ms: ${JSON.stringify(out)}`);
    const e = await stream.tryNext();
    if (e) out.push(e);
  }
  return out;
}

/** Writes one marker document as `tenant` and reads `stream` up to it: every event before it. */
async function upToMarker(stream, tenant, ms = 15000) {
  const marker = `marker-${new ObjectId().toHexString()}`;
  await as(tenant, () => suite.fence.collection(COLL).insertOne({ marker }));
  const out = [];
  const deadline = Date.now() + ms;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`marker not seen within ${ms} ms after ${JSON.stringify(out)}`);
    const e = await stream.tryNext();
    if (!e) continue;
    if (e.fullDocument && e.fullDocument.marker === marker) return out;
    out.push(e);
  }
}

/** What identifies an event across streams. */
const shape = (e) => `${e.operationType}:${String(e.documentKey && e.documentKey._id)}`;

/** Writes every operation type as `tenant` (tagging docs with `n`), returns nothing. */
async function workload(tenant, rounds) {
  const c = suite.fence.collection(COLL);
  await as(tenant, async () => {
    for (let i = 0; i < rounds; i++) {
      const { insertedId } = await c.insertOne({ n: i, s: `${i + 1}`, who: tenant });
      await c.updateOne({ _id: insertedId }, { $set: { n: i + 100 } });
      await c.replaceOne({ _id: insertedId }, { n: i + 200, s: 'x', who: tenant });
      if (i % 2 === 0) await c.deleteOne({ _id: insertedId });
    }
    await c.insertMany([{ n: -1, s: '0', who: tenant }, { n: -2, s: 'y', who: tenant }]);
    await c.deleteMany({ n: { $lt: 0 } });
  });
}

beforeAll(async () => {
  await suite.fence.runAsSystem({ reason: 'test setup' }, () =>
    suite.fence.db.createCollection(COLL, { changeStreamPreAndPostImages: { enabled: true } }),
  );
});

describe('a tenant sees its own events and no one else’s', () => {
  test('every operation type, with three tenants writing at once, matches the oracle stream', async () => {
    const oracle = suite.rdb.collection(COLL).watch([], { fullDocumentBeforeChange: 'whenAvailable', maxAwaitTimeMS: 200 });
    expect(await oracle.tryNext()).toBeNull();
    const streams = {};
    for (const t of ['a', 'b', 'c']) streams[t] = await watchAs(t);
    await Promise.all(['a', 'b', 'c'].map((t) => workload(t, 6)));
    // Every tenant's marker, so each stream (and the oracle) is read to the end of the workload.
    const got = {};
    for (const t of ['a', 'b', 'c']) got[t] = await upToMarker(streams[t], t);
    const all = [];
    for (;;) {
      const e = await oracle.tryNext();
      if (!e) {
        if (all.filter((x) => x.fullDocument && String(x.fullDocument.marker).startsWith('marker-')).length === 3) break;
        continue;
      }
      all.push(e);
    }
    await oracle.close();
    const owner = (e) => (e.operationType === 'insert' ? e.fullDocument.tenantId : e.fullDocumentBeforeChange && e.fullDocumentBeforeChange.tenantId);
    for (const t of ['a', 'b', 'c']) {
      const want = all.filter((e) => owner(e) === t && !(e.fullDocument && e.fullDocument.marker)).map(shape);
      expect(got[t].map(shape)).toEqual(want);
      // 6 inserts + 6 updates + 6 replaces + 3 deletes + 2 inserts + 2 deletes.
      expect(want).toHaveLength(25);
      const kinds = new Set(got[t].map((e) => e.operationType));
      expect([...kinds].sort()).toEqual(['delete', 'insert', 'replace', 'update']);
      for (const e of got[t]) {
        if (e.fullDocument) expect(e.fullDocument.tenantId).toBe(t);
        // The pre-image was the fence's, not asked for.
        expect(e).not.toHaveProperty('fullDocumentBeforeChange');
      }
      await streams[t].close();
    }
  });

  test('asked for, the pre-image and the looked-up document are delivered, the tenant’s only', async () => {
    const s = await watchAs('a', [], { fullDocument: 'updateLookup', fullDocumentBeforeChange: 'whenAvailable' });
    const c = suite.fence.collection(COLL);
    const id = new ObjectId();
    await as('a', () => c.insertOne({ _id: id, v: 1 }));
    await as('a', () => c.updateOne({ _id: id }, { $set: { v: 2 } }));
    await as('a', () => c.deleteOne({ _id: id }));
    // Another tenant takes the freed _id: the update's lookup (made when it is read) finds its document.
    await as('b', () => c.insertOne({ _id: id, v: 'B-SECRET' }));
    const [ins, upd, del] = await take(s, 3);
    expect([ins.operationType, upd.operationType, del.operationType]).toEqual(['insert', 'update', 'delete']);
    expect(upd.fullDocumentBeforeChange).toMatchObject({ tenantId: 'a', v: 1 });
    expect(upd.fullDocument).toBeNull();
    expect(JSON.stringify([ins, upd, del])).not.toContain('B-SECRET');
    expect(del.fullDocumentBeforeChange).toMatchObject({ tenantId: 'a', v: 2 });
    expect(await upToMarker(s, 'a')).toEqual([]);
    await s.close();
  });
});

describe('the caller’s pipeline cannot widen the stream', () => {
  const WIDENERS = [
    [{ $match: { $or: [{}, { 'fullDocument.tenantId': 'b' }] } }],
    [{ $match: { 'fullDocumentBeforeChange.tenantId': 'b' } }],
    [{ $match: { $or: [{ operationType: 'delete' }, { operationType: { $ne: 'delete' } }] } }],
    [{ $replaceRoot: { newRoot: { $mergeObjects: ['$$ROOT', { fullDocument: { tenantId: 'a' } }] } } }],
    [{ $set: { fullDocumentBeforeChange: { tenantId: 'a' }, operationType: 'insert' } }],
    [{ $match: { $expr: { $or: [true, { $eq: ['$fullDocument.tenantId', 'b'] }] } } }],
  ];
  test.each(WIDENERS.map((p) => [JSON.stringify(p), p]))('%s', async (_label, pipeline) => {
    const s = await watchAs('a', pipeline);
    const c = suite.fence.collection(COLL);
    const b = await as('b', () => c.insertOne({ v: 'B-SECRET' }));
    await as('b', () => c.deleteOne({ _id: b.insertedId }));
    const cc = await as('c', () => c.insertOne({ v: 'C-SECRET' }));
    const mine = await as('a', () => c.insertOne({ v: 'mine' }));
    // Every write above is majority-committed: one server round trip sees them all. (A filter
    // may hide a's own event too, so nothing of a's is awaited.)
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const e = await s.tryNext();
      if (e) seen.push(e);
    }
    const text = JSON.stringify(seen);
    expect(text).not.toContain('SECRET');
    for (const id of [b.insertedId, cc.insertedId]) expect(text).not.toContain(id.toHexString());
    expect(seen.length).toBeLessThanOrEqual(1);
    if (seen.length) expect(JSON.stringify(seen[0].documentKey)).toContain(mine.insertedId.toHexString());
    await s.close();
  });

  test('a caller’s expression never runs on another tenant’s event (it would fail there)', async () => {
    const pipelines = [
      [{ $match: { $expr: { $gt: [{ $divide: [1, '$fullDocument.n'] }, 0] } } }],
      [{ $match: { $expr: { $gt: [{ $toInt: '$fullDocument.s' }, 0] } } }],
      [{ $addFields: { inv: { $divide: [1, '$fullDocument.n'] } } }],
      [{ $replaceWith: { $cond: [{ $eq: ['$fullDocument.n', 0] }, 'not an object', '$$ROOT'] } }],
    ];
    const streams = [];
    for (const p of pipelines) streams.push(await watchAs('a', p));
    const c = suite.fence.collection(COLL);
    // Other tenants' documents on which each expression fails: n 0, s not a number, a delete
    // (no fullDocument for $replaceWith).
    const { insertedId } = await as('b', () => c.insertOne({ n: 0, s: 'not a number' }));
    await as('b', () => c.updateOne({ _id: insertedId }, { $set: { k: 1 } }));
    await as('b', () => c.deleteOne({ _id: insertedId }));
    await as('a', () => c.insertOne({ n: 1, s: '5', mine: true }));
    for (const s of streams) {
      const [e] = await take(s, 1);
      expect(JSON.stringify(e)).toContain('"mine":true');
      await s.close();
    }
  });

  test('stages a change stream cannot take, and server-side JavaScript, are refused', async () => {
    for (const p of [[{ $lookup: { from: 'x', localField: 'a', foreignField: 'b', as: 'j' } }], [{ $unionWith: 'x' }], [{ $match: { $where: 'true' } }]]) {
      const err = await captureError(suite.fence.runAs('a', () => suite.fence.collection(COLL).watch(p)).next());
      expect(err.code).toBe('TENANT_VIOLATION');
    }
  });
});

describe('resume tokens', () => {
  test('an own token resumes the own stream after that event', async () => {
    const s = await watchAs('a');
    const c = suite.fence.collection(COLL);
    await as('a', () => c.insertOne({ step: 1 }));
    const [first] = await take(s, 1);
    expect(s.resumeToken).toEqual(first._id);
    await s.close();
    await as('b', () => c.insertOne({ step: 'b' }));
    await as('a', () => c.insertOne({ step: 2 }));
    const r = suite.fence.runAs('a', () => c.watch([], { ...FAST, resumeAfter: first._id }));
    const [next] = await take(r, 1);
    expect(next.fullDocument.step).toBe(2);
    await r.close();
  });

  test('another tenant’s token, another collection’s, a raw server token and a tampered one are refused before anything is sent', async () => {
    const s = await watchAs('a');
    const c = suite.fence.collection(COLL);
    await as('a', () => c.insertOne({ t: 1 }));
    const [e] = await take(s, 1);
    await s.close();
    const token = e._id;
    const [server] = token._data.split('.');
    const tampered = { _data: `${server.slice(0, -2)}00.${token._data.split('.')[1]}` };
    const cases = [
      ['b', COLL, { resumeAfter: token }],
      ['b', COLL, { startAfter: token }],
      ['a', 'other', { resumeAfter: token }],
      ['a', COLL, { resumeAfter: { _data: server } }],
      ['a', COLL, { resumeAfter: tampered }],
    ];
    for (const [tenant, name, options] of cases) {
      const err = await captureError(suite.fence.runAs(tenant, () => suite.fence.collection(name).watch([], options)).next());
      expect(err.code).toBe('TENANT_VIOLATION');
      expect(err.message).toMatch(/resume token was not issued to this tenant/);
    }
  });

  test('a fence with another resumeTokenKey does not take the token', async () => {
    const key = 'k'.repeat(40);
    const f1 = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, resumeTokenKey: key }));
    const f2 = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, resumeTokenKey: key }));
    const f3 = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, resumeTokenKey: 'z'.repeat(40) }));
    const s = await watchAs('a', [], {}, COLL, f1);
    await as('a', () => suite.fence.collection(COLL).insertOne({ keyed: 1 }));
    const [e] = await take(s, 1);
    await s.close();
    // The same key (another process after a restart, say) takes it; another key does not.
    const same = f2.runAs('a', () => f2.collection(COLL).watch([], { ...FAST, startAfter: e._id }));
    expect(await same.tryNext()).toBeNull();
    await same.close();
    const err = await captureError(f3.runAs('a', () => f3.collection(COLL).watch([], { startAfter: e._id })).next());
    expect(err.code).toBe('TENANT_VIOLATION');
    const short = await captureError(TenantFence.connect(uri(), { database: suite.DB, resumeTokenKey: 'short' }));
    expect(short).toBeInstanceOf(TypeError);
    expect(short.message).toMatch(/resumeTokenKey/);
  });
});

describe('refusals', () => {
  test('without pre-images the watch is refused, saying how to enable them', async () => {
    await suite.fence.runAsSystem({ reason: 'test' }, () => suite.fence.db.createCollection('plain'));
    const err = await captureError(suite.fence.runAs('a', () => suite.fence.collection('plain').watch()).next());
    expect(err.code).toBe('TENANT_VIOLATION');
    expect(err.message).toContain('changeStreamPreAndPostImages: { enabled: true }');
    expect(err.message).toContain('runAsSystem');
  });

  test('no tenant in context: TENANT_MISSING at once', () => {
    const err = syncError(() => suite.fence.collection(COLL).watch());
    expect(err.code).toBe('TENANT_MISSING');
  });

  test('options that would look outside the tenant are refused with a reason', async () => {
    const { Timestamp } = require('../..');
    const cases = [
      [{ startAtOperationTime: new Timestamp({ t: 1, i: 1 }) }, /oplog/],
      [{ showExpandedEvents: true }, /every tenant/],
      [{ fullDocument: 'required' }, /post-images/],
    ];
    for (const [options, why] of cases) {
      const err = await captureError(suite.fence.runAs('a', () => suite.fence.collection(COLL).watch([], options)).next());
      expect(err.code).toBe('TENANT_VIOLATION');
      expect(err.message).toMatch(why);
    }
    const err = await captureError(suite.fence.runAs('a', () => suite.fence.collection(COLL).watch([], { readPreference: 'secondary' })).next());
    expect(err).toBeInstanceOf(TypeError);
  });
});

describe('stream surface', () => {
  test('on("change") delivers, close() ends it with "close"', async () => {
    const s = await watchAs('a');
    const c = suite.fence.collection(COLL);
    const seen = [];
    const changed = new Promise((resolve) => {
      s.on('change', (e) => {
        seen.push(e);
        if (seen.length === 2) resolve();
      });
    });
    await as('b', () => c.insertOne({ ev: 'b' }));
    await as('a', () => c.insertOne({ ev: 1 }));
    await as('a', () => c.insertOne({ ev: 2 }));
    await changed;
    expect(seen.map((e) => e.fullDocument.ev)).toEqual([1, 2]);
    const closed = new Promise((resolve) => s.once('close', resolve));
    await s.close();
    await closed;
    expect(s.closed).toBe(true);
  });

  test('close() while a next() waits resolves it with null', async () => {
    const s = await watchAs('a');
    const pending = s.next();
    await new Promise((r) => setTimeout(r, 300));
    await s.close();
    expect(await pending).toBeNull();
  });

  test('for await, and leaving the loop closes the stream', async () => {
    const s = await watchAs('a');
    const c = suite.fence.collection(COLL);
    await as('c', () => c.insertOne({ loop: 'c' }));
    await as('a', () => c.insertOne({ loop: 1 }));
    for await (const e of s) {
      expect(e.fullDocument.loop).toBe(1);
      break;
    }
    expect(s.closed).toBe(true);
  });

  test('dropping the collection ends the stream without delivering the drop', async () => {
    await suite.fence.runAsSystem({ reason: 'test' }, () => suite.fence.db.createCollection('gone', { changeStreamPreAndPostImages: { enabled: true } }));
    const s = await watchAs('a', [], {}, 'gone');
    await suite.fence.runAsSystem({ reason: 'test' }, () => suite.fence.collection('gone').drop());
    expect(await s.next()).toBeNull();
    expect(s.closed).toBe(true);
  });
});

describe("strategy 'database'", () => {
  test('the tenant’s database: its events, deletes included, no pre-images needed', async () => {
    const f = suite.closeAfter(await TenantFence.connect(uri(), { database: `${suite.DB}d`, strategy: 'database' }));
    const c = f.collection('items');
    const s = f.runAs('a', () => c.watch([], FAST));
    expect(await s.tryNext()).toBeNull();
    const { insertedId } = await f.runAs('a', () => c.insertOne({ v: 1 }));
    await f.runAs('b', () => c.insertOne({ v: 'b' }));
    await f.runAs('a', () => c.deleteOne({ _id: insertedId }));
    const [ins, del] = await take(s, 2);
    expect([ins.operationType, del.operationType]).toEqual(['insert', 'delete']);
    expect(String(del.documentKey._id)).toBe(String(insertedId));
    expect(ins.ns.db).toBe(f.databaseFor('a'));
    await s.close();
    for (const t of ['a', 'b']) suite.dropAfter(f.databaseFor(t));
  });
});

describe('the isolation probe judges change streams', () => {
  test('a scoped stream’s commands pass the probe; a bare $changeStream does not', async () => {
    const { isolationProbe, probeCommand } = require('../../lib/testing');
    const f = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, monitorCommands: true }));
    const probe = isolationProbe(f);
    probe.reset();
    const s = await watchAs('a', [{ $match: { $expr: { $gte: ['$fullDocument.n', 0] } } }], { fullDocument: 'updateLookup' }, COLL, f);
    await as('a', () => suite.fence.collection(COLL).insertOne({ n: 1 }));
    await take(s, 1);
    await s.close();
    const aggregates = probe.commands.filter((c) => c.command === 'aggregate');
    expect(aggregates.map((c) => [c.tenant, c.scoped])).toEqual([['a', true]]);
    expect(probe.violations()).toEqual([]);
    const bare = probeCommand({ aggregate: COLL, pipeline: [{ $changeStream: {} }], cursor: {} }, { tenant: 'a', database: suite.DB });
    expect(bare.scoped).toBe(false);
  });
});
