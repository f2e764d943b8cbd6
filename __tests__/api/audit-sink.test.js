'use strict';
// The audit sink (issue 17 item 4): system access and refusals as structured events, to a
// function or as JSON lines to a stream, without wrapping any call.

const { PassThrough } = require('node:stream');
const express = require('express');
const { TenantFence, TenantError } = require('../..');
const { useSuite, uri } = require('../helpers/fixtures');

const suite = useSuite('audit');

async function fenceWith(options) {
  return suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, ...options }));
}

const settled = (p) => p.then(() => null, (e) => e);

test('a function sink hears every system call and every refusal, with who, where and why', async () => {
  const events = [];
  const hooked = [];
  const f = await fenceWith({ audit: (e) => events.push(e), onSystemAccess: (e) => hooked.push(e) });
  const c = f.collection('au');
  await f.runAsSystem({ reason: 'nightly report' }, () => c.countDocuments({}));
  await f.runAs('acme', () => c.insertOne({ a: 1 }));
  const violation = await settled(f.runAs('acme', () => c.insertOne({ tenantId: 'globex' })));
  expect(violation).toBeInstanceOf(TenantError);
  const missing = await settled(c.findOne({}));
  let cursorMissing;
  try {
    c.find({});
  } catch (e) {
    cursorMissing = e;
  }
  const piped = await settled(f.runAs('acme', () => c.aggregate([{ $out: 'elsewhere' }]).toArray()));
  expect(piped.code).toBe('TENANT_VIOLATION');

  expect(hooked).toEqual([{ reason: 'nightly report', collection: 'au', operation: 'countDocuments' }]);
  for (const e of events) expect(new Date(e.time).toISOString()).toBe(e.time);
  const shape = events.map(({ time, message, ...rest }) => rest);
  expect(shape).toEqual([
    { type: 'system', reason: 'nightly report', collection: 'au', operation: 'countDocuments' },
    { type: 'refusal', code: 'TENANT_VIOLATION', tenant: 'acme', collection: 'au', operation: 'insertOne' },
    { type: 'refusal', code: 'TENANT_MISSING', tenant: undefined, collection: 'au', operation: 'findOne' },
    { type: 'refusal', code: 'TENANT_MISSING', tenant: undefined, collection: 'au', operation: 'find' },
    { type: 'refusal', code: 'TENANT_VIOLATION', tenant: 'acme', collection: 'au', operation: 'aggregate' },
  ]);
  expect(events[1].message).toBe(violation.message);
  expect(events[2].message).toBe(missing.message);
  expect(events[3].message).toBe(cursorMissing.message);
});

test('a stream sink gets one JSON line per event; quota refusals carry their wait', async () => {
  const out = new PassThrough();
  const lines = [];
  out.on('data', (b) => lines.push(...String(b).split('\n').filter(Boolean)));
  const f = await fenceWith({ audit: out, quotas: { opsPerSecond: 1, maxQueue: 0 } });
  const c = f.collection('au');
  const results = await Promise.all([0, 1].map(() => settled(f.runAs('acme', () => c.findOne({})))));
  // Which of the two goes first is the runtime's choice: one goes, one is refused.
  expect(results.map((e) => e && e.code).sort()).toEqual(['TENANT_QUOTA', null].sort());
  await new Promise((r) => setImmediate(r));
  const events = lines.map((l) => JSON.parse(l));
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ type: 'refusal', code: 'TENANT_QUOTA', tenant: 'acme', collection: 'au', operation: 'findOne' });
  expect(events[0].retryAfterMs).toBeGreaterThan(0);
});

test("the middleware's 400 answers are refusals too", async () => {
  const events = [];
  const f = await fenceWith({ audit: (e) => events.push(e) });
  const app = express();
  app.use(f.middleware());
  app.get('/x', (req, res) => res.json({ ok: true }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    expect((await fetch(`${base}/x?q=1`)).status).toBe(400);
    expect((await fetch(`${base}/x`, { headers: { 'x-tenant-id': 'a b' } })).status).toBe(400);
    expect((await fetch(`${base}/x`, { headers: { 'x-tenant-id': 'acme' } })).status).toBe(200);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  expect(events.map(({ type, code, operation, method, path }) => ({ type, code, operation, method, path }))).toEqual([
    { type: 'refusal', code: 'TENANT_MISSING', operation: 'middleware', method: 'GET', path: '/x?q=1' },
    { type: 'refusal', code: 'TENANT_INVALID', operation: 'middleware', method: 'GET', path: '/x' },
  ]);
});

test('a sink (or an onSystemAccess hook) whose promise rejects does not stop Node', async () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const f = await fenceWith({
      audit: async () => {
        throw new Error('log store down');
      },
      onSystemAccess: async () => {
        throw new Error('hook store down');
      },
    });
    const c = f.collection('au');
    await settled(f.runAs('acme', () => c.insertOne({ tenantId: 'globex' })));
    await f.runAsSystem({ reason: 'r' }, () => c.countDocuments({ tenantId: 'acme' }));
    await new Promise((r) => setTimeout(r, 50));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('a sink that throws changes no call; a bad sink is a TypeError at connect', async () => {
  const f = await fenceWith({
    audit: () => {
      throw new Error('sink down');
    },
  });
  const c = f.collection('au');
  expect(await f.runAsSystem({ reason: 'r' }, () => c.countDocuments({ tenantId: 'acme' }))).toBeGreaterThanOrEqual(0);
  const e = await settled(f.runAs('acme', () => c.insertOne({ tenantId: 'globex' })));
  expect(e.code).toBe('TENANT_VIOLATION');
  await expect(TenantFence.connect(uri(), { audit: 'file.log' })).rejects.toThrow(/options\.audit must be a function/);
  await expect(TenantFence.connect(uri(), { audit: {} })).rejects.toThrow(TypeError);
});
