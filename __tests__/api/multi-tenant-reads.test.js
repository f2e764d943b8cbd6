'use strict';
// Multi-tenant read contexts (issue 16): fence.runAsTenants(['a', 'b'], fn) reads the union of
// those tenants, refuses every write unless a runAs inside names one of them, passes the same
// audit hook as runAsSystem, and ends when fn settles. The isolation probe audits every command
// the fence sends (a union read must carry exactly its set).

const http = require('node:http');
const express = require('express');
const { useIsolationProbe } = require('../../lib/testing');
const { useSuite, uri, expectTenantError, captureError } = require('../helpers/fixtures');
const { TenantFence } = require('../..');

const events = [];
const sink = [];
const suite = useSuite('mtr', {
  monitorCommands: true,
  shared: ['plans'],
  onSystemAccess: (e) => events.push(e),
  audit: (e) => sink.push(e),
});
useIsolationProbe(() => suite.fence, { allowSystem: true });

const notes = () => suite.fence.collection('notes');
const titles = (docs) => docs.map((d) => d.title).sort();

beforeAll(async () => {
  await suite.rdb.collection('notes').insertMany([
    { tenantId: 'acme', title: 'a1', n: 1, plan: 'pro' },
    { tenantId: 'acme', title: 'a2', n: 2, plan: 'free' },
    { tenantId: 'globex', title: 'g1', n: 3, plan: 'pro' },
    { tenantId: 'initech', title: 'i1', n: 0, secret: 'i-secret', plan: 'pro' },
  ]);
  await suite.rdb.collection('plans').insertMany([{ _id: 'pro' }, { _id: 'free' }]);
});

beforeEach(() => {
  events.length = 0;
  sink.length = 0;
});

describe('reads see the union, and only it', () => {
  test('every read method', async () => {
    await suite.fence.runAsTenants(['acme', 'globex'], async () => {
      expect(titles(await notes().find({}).toArray())).toEqual(['a1', 'a2', 'g1']);
      expect(await notes().countDocuments({})).toBe(3);
      expect(await notes().estimatedDocumentCount()).toBe(3);
      expect((await notes().distinct('tenantId')).sort()).toEqual(['acme', 'globex']);
      expect((await notes().findOne({ title: 'i1' }))).toBeNull();
      expect(await notes().findOne({ title: 'g1' })).toMatchObject({ tenantId: 'globex' });
      const byTenant = await notes().aggregate([{ $group: { _id: '$tenantId', n: { $sum: 1 } } }, { $sort: { _id: 1 } }]).toArray();
      expect(byTenant).toEqual([
        { _id: 'acme', n: 2 },
        { _id: 'globex', n: 1 },
      ]);
      // A caller's own condition on the tenant field only narrows the union.
      expect(titles(await notes().find({ tenantId: 'globex' }).toArray())).toEqual(['g1']);
      expect(titles(await notes().find({ tenantId: { $in: ['initech', 'acme'] } }).toArray())).toEqual(['a1', 'a2']);
      // A join into a tenant collection sees the union too; into a shared one, everything.
      const joined = await suite.fence
        .collection('plans')
        .aggregate([{ $match: { _id: 'pro' } }, { $lookup: { from: 'notes', localField: '_id', foreignField: 'plan', as: 'n' } }, { $project: { t: '$n.title' } }])
        .toArray();
      expect(joined[0].t.sort()).toEqual(['a1', 'g1']);
    });
  });

  test("a caller's expression never runs on a document outside the union", async () => {
    // initech's note has n: 0; dividing by it would fail.
    const out = await suite.fence.runAsTenants(['acme', 'globex'], () =>
      notes().find({ $expr: { $gt: [{ $divide: [1, '$n'] }, 0] } }).toArray(),
    );
    expect(titles(out)).toEqual(['a1', 'a2', 'g1']);
  });

  test('one id is a union of one; ids are sorted and repeats dropped', async () => {
    await suite.fence.runAsTenants(['globex', 'globex'], async () => {
      expect(titles(await notes().find({}).toArray())).toEqual(['g1']);
    });
    expect(events.every((e) => JSON.stringify(e.tenants) === '["globex"]')).toBe(true);
  });
});

describe('writes', () => {
  test('every write is refused, and nothing changes', async () => {
    const before = await suite.rdb.collection('notes').find({}).sort({ title: 1 }).toArray();
    await suite.fence.runAsTenants(['acme', 'globex'], async () => {
      const c = notes();
      for (const attempt of [
        () => c.insertOne({ title: 'x', tenantId: 'acme' }),
        () => c.insertMany([{ title: 'x' }]),
        () => c.updateOne({ title: 'a1' }, { $set: { n: 9 } }),
        () => c.updateMany({}, { $set: { n: 9 } }),
        () => c.replaceOne({ title: 'a1' }, { title: 'z' }),
        () => c.deleteOne({ title: 'a1' }),
        () => c.deleteMany({}),
        () => c.findOneAndUpdate({ title: 'a1' }, { $set: { n: 9 } }),
        () => c.findOneAndDelete({ title: 'a1' }),
        () => c.bulkWrite([{ deleteMany: { filter: {} } }]),
        () => c.createIndex({ n: 1 }),
        () => c.drop(),
      ]) {
        const err = await expectTenantError(attempt(), 'TENANT_VIOLATION');
        expect(err.message).toMatch(/runAsTenants/);
      }
    });
    expect(await suite.rdb.collection('notes').find({}).sort({ title: 1 }).toArray()).toEqual(before);
  });

  test('a runAs inside names one of its tenants, and then writes as that tenant', async () => {
    await suite.fence.runAsTenants(['acme', 'globex'], async () => {
      const id = await suite.fence.runAs('acme', async () => (await notes().insertOne({ title: 'a3' })).insertedId);
      expect(await suite.rdb.collection('notes').findOne({ _id: id })).toMatchObject({ tenantId: 'acme', title: 'a3' });
      await suite.fence.runAs('acme', () => notes().deleteOne({ _id: id }));
      // Not a member: refused before fn runs.
      let ran = false;
      const err = await captureError(() => suite.fence.runAs('initech', () => {
        ran = true;
      }));
      expect(err.code).toBe('TENANT_VIOLATION');
      expect(ran).toBe(false);
      // tenantfence/testing's withTenant keeps to the union too.
      const { withTenant } = require('../../lib/testing');
      expect(() => withTenant('initech', () => 1)).toThrow(/outside runAsTenants/);
      expect(await withTenant('globex', () => notes().countDocuments({}))).toBe(1);
    });
  });
});

describe('audit, end, refusals', () => {
  test('every call passes onSystemAccess and the audit sink with its tenants and reason', async () => {
    await suite.fence.runAsTenants(['globex', 'acme'], { reason: 'agency dashboard' }, () => notes().countDocuments({}));
    expect(events).toEqual([{ reason: 'agency dashboard', collection: 'notes', operation: 'countDocuments', tenants: ['acme', 'globex'] }]);
    expect(sink).toEqual([expect.objectContaining({ type: 'tenants', reason: 'agency dashboard', collection: 'notes', operation: 'countDocuments', tenants: ['acme', 'globex'] })]);
  });

  test('a hook that throws refuses the call', async () => {
    const denied = await TenantFence.connect(uri(), {
      database: suite.DB,
      onSystemAccess: (e) => {
        if (e.tenants) throw new Error('no agencies today');
      },
    });
    try {
      const err = await captureError(denied.runAsTenants(['acme', 'globex'], () => denied.collection('notes').find({}).toArray()));
      expect(err.message).toBe('no agencies today');
      expect(await denied.runAs('acme', () => denied.collection('notes').countDocuments({}))).toBeGreaterThan(0);
    } finally {
      await denied.close();
    }
  });

  test('access ends when fn settles: a callback bound inside cannot read later', async () => {
    const later = await suite.fence.runAsTenants(['acme', 'globex'], async () => suite.fence.bind(() => notes().countDocuments({})));
    await expectTenantError(later(), 'TENANT_MISSING');
  });

  test('bad ids and options', async () => {
    for (const bad of [[], 'acme', ['acme', 'a.b'], ['acme', 7], Array.from({ length: 101 }, (_, i) => `t${i}`)]) {
      const err = await captureError(() => suite.fence.runAsTenants(bad, () => 1));
      expect(err.code).toBe('TENANT_INVALID');
    }
    expect(() => suite.fence.runAsTenants(['acme'], { reason: '' }, () => 1)).toThrow(TypeError);
    expect(() => suite.fence.runAsTenants(['acme'])).toThrow(TypeError);
    expect(suite.fence.runAsTenants(['acme'], () => suite.fence.currentTenant())).toBeUndefined();
  });

  test("fence.metrics() is refused inside", async () => {
    await suite.fence.runAsTenants(['acme'], () => expect(() => suite.fence.metrics()).toThrow(/runAsTenants/));
  });
});

describe('the middleware: a resolve that returns a list', () => {
  test("each request reads its list's union until its response is done", async () => {
    const app = express();
    app.use(suite.fence.middleware({ resolve: (req) => (req.headers['x-agency'] ? req.headers['x-agency'].split(',') : req.headers['x-tenant-id']) }));
    app.get('/notes', async (req, res, next) => {
      try {
        // The handler's awaits run after the middleware's callback returned.
        await new Promise((r) => setTimeout(r, 5));
        res.json(titles(await notes().find({}).toArray()));
      } catch (e) {
        next(e);
      }
    });
    app.post('/notes', async (req, res) => {
      try {
        await notes().insertOne({ title: 'via-agency' });
        res.json({ ok: true });
      } catch (e) {
        res.status(403).json({ code: e.code });
      }
    });
    const server = http.createServer(app);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${server.address().port}`;
    try {
      const get = async (headers) => (await fetch(`${base}/notes`, { headers })).json();
      expect(await get({ 'x-agency': 'acme,globex' })).toEqual(['a1', 'a2', 'g1']);
      expect(await get({ 'x-tenant-id': 'initech' })).toEqual(['i1']);
      const bad = await fetch(`${base}/notes`, { headers: { 'x-agency': 'acme,a.b' } });
      expect(bad.status).toBe(400);
      expect((await bad.json()).error.code).toBe('TENANT_INVALID');
      const write = await fetch(`${base}/notes`, { method: 'POST', headers: { 'x-agency': 'acme,globex' } });
      expect(await write.json()).toEqual({ code: 'TENANT_VIOLATION' });
      expect(events.some((e) => e.reason === 'GET /notes' && JSON.stringify(e.tenants) === '["acme","globex"]')).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe("strategy 'database'", () => {
  const db = useSuite('mtrdb', { strategy: 'database' });
  test('a union read is refused: one call reads one database', async () => {
    await db.as('acme', () => db.fence.collection('notes').insertOne({ title: 'a' }));
    const err = await db.fence.runAsTenants(['acme', 'globex'], () => expectTenantError(db.fence.collection('notes').find({}).toArray(), 'TENANT_VIOLATION'));
    expect(err.message).toMatch(/strategy 'database'/);
  });
});
