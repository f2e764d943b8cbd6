'use strict';
// Per-tenant metrics (issue 17 item 1): every call is counted in Rust under its tenant
// (`$system`, `$none` without a context, `$other` past the cardinality limit), and read as an
// object, as Prometheus text, or through a prom-client registry.

const promClient = require('prom-client');
const { TenantFence, TenantError } = require('../..');
const { useSuite, uri } = require('../helpers/fixtures');

const suite = useSuite('metrics');

async function fresh(options = {}) {
  return suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, ...options }));
}

/** The value of one sample line of Prometheus text, or undefined. */
function sample(text, name, labels) {
  const want = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}} `;
  const line = text.split('\n').find((l) => l.startsWith(want));
  return line === undefined ? undefined : Number(line.slice(want.length));
}

describe('what is counted', () => {
  let f;
  let snap;
  beforeAll(async () => {
    f = await fresh();
    const c = f.collection('m');
    await f.runAs('acme', async () => {
      await c.insertMany([{ _id: 'a1', n: 1 }, { _id: 'a2', n: 2 }, { _id: 'a3', n: 3 }]);
      await c.findOne({ n: 1 });
      await c.find({ n: { $gte: 2 } }).toArray();
      await c.updateMany({ n: { $gte: 2 } }, { $inc: { n: 10 } });
      await c.deleteOne({ _id: 'a1' });
      await expect(c.insertOne({ _id: 'a2' })).rejects.toMatchObject({ code: 11000 });
      await expect(c.insertOne({ tenantId: 'globex' })).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
    });
    await f.runAs('globex', async () => {
      // A document shaped like a write result is a document read, not a write.
      await c.insertOne({ _id: 'g1', insertedCount: 1e18, modifiedCount: 9e18 });
      await c.findOne({ _id: 'g1' });
    });
    await f.runAsSystem({ reason: 'metrics test' }, () => c.countDocuments({}));
    await expect(c.findOne({})).rejects.toMatchObject({ code: 'TENANT_MISSING' });
    snap = f.metrics();
  });

  test('per tenant and operation: calls, documents, bytes, times', () => {
    const acme = snap.tenants.acme;
    expect(Object.keys(snap.tenants).sort()).toEqual(['acme', 'globex']);
    expect(acme.insertMany).toMatchObject({ calls: 1, documentsWritten: 3, documentsRead: 0, errors: {} });
    expect(acme.insertMany.bytesIn).toBeGreaterThan(3 * 20);
    expect(acme.findOne).toMatchObject({ calls: 1, documentsRead: 1 });
    expect(acme.findOne.bytesOut).toBeGreaterThan(20);
    expect(acme.find).toMatchObject({ calls: 1 });
    expect(acme.getMore).toMatchObject({ documentsRead: 2 });
    expect(acme.updateMany).toMatchObject({ calls: 1, documentsWritten: 2 });
    expect(acme.deleteOne).toMatchObject({ calls: 1, documentsWritten: 1 });
    for (const st of Object.values(acme)) {
      expect(st.latency.count).toBe(st.calls);
      expect(st.latency.counts.reduce((a, b) => a + b, 0)).toBe(st.calls);
      expect(st.latency.counts).toHaveLength(st.latency.bounds.length + 1);
      expect(st.latency.sum).toBeGreaterThan(0);
      expect(st.serverSeconds).toBeLessThanOrEqual(st.latency.sum);
    }
    expect(snap.since).toBeInstanceOf(Date);
    expect(snap.limit).toBe(100);
    expect(snap.tenants.globex.findOne).toMatchObject({ calls: 1, documentsRead: 1, documentsWritten: 0 });
    // One getMore per batch handed over; the read that finds the cursor exhausted is not one.
    expect(acme.getMore.calls).toBe(1);
  });

  test('errors by code, refusals included; system and context-less calls have series of their own', () => {
    expect(snap.tenants.acme.insertOne).toMatchObject({ calls: 2, errors: { 11000: 1, TENANT_VIOLATION: 1 }, documentsWritten: 0 });
    expect(snap.system.countDocuments.calls).toBe(1);
    expect(snap.none.findOne).toMatchObject({ calls: 1, errors: { TENANT_MISSING: 1 } });
    expect(snap.other).toEqual({});
  });

  test('the Prometheus text says the same', () => {
    const text = f.metrics({ format: 'prometheus' });
    expect(text).toMatch(/^# HELP tenantfence_calls_total /m);
    expect(text).toMatch(/^# TYPE tenantfence_call_duration_seconds histogram$/m);
    expect(sample(text, 'tenantfence_calls_total', { tenant: 'acme', operation: 'insertMany' })).toBe(1);
    expect(sample(text, 'tenantfence_documents_written_total', { tenant: 'acme', operation: 'insertMany' })).toBe(3);
    expect(sample(text, 'tenantfence_errors_total', { tenant: 'acme', operation: 'insertOne', code: 'TENANT_VIOLATION' })).toBe(1);
    expect(sample(text, 'tenantfence_errors_total', { tenant: '$none', operation: 'findOne', code: 'TENANT_MISSING' })).toBe(1);
    expect(sample(text, 'tenantfence_calls_total', { tenant: '$system', operation: 'countDocuments' })).toBe(1);
    expect(sample(text, 'tenantfence_call_duration_seconds_bucket', { tenant: 'acme', operation: 'findOne', le: '+Inf' })).toBe(1);
    expect(sample(text, 'tenantfence_call_duration_seconds_count', { tenant: 'acme', operation: 'findOne' })).toBe(1);
  });

  test('a prom-client registry serves them', async () => {
    const registry = new promClient.Registry();
    expect(f.registerMetrics(registry)).toBe(registry);
    const text = await registry.metrics();
    expect(sample(text, 'tenantfence_calls_total', { tenant: 'acme', operation: 'insertMany' })).toBe(1);
    expect(sample(text, 'tenantfence_errors_total', { tenant: 'acme', operation: 'insertOne', code: '11000' })).toBe(1);
    expect(sample(text, 'tenantfence_call_duration_seconds_bucket', { tenant: 'acme', operation: 'findOne', le: '+Inf' })).toBe(1);
    const json = await registry.getMetricsAsJSON();
    expect(json.map((m) => m.name)).toContain('tenantfence_call_duration_seconds');
    expect(() => f.registerMetrics({})).toThrow(TypeError);
    // A scrape inside a tenant's request is refused, as fence.metrics() is.
    await expect(f.runAs('acme', () => registry.metrics())).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
  });

  test('a tenant cannot read them: they count every tenant', () => {
    let err;
    try {
      f.runAs('acme', () => f.metrics());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TenantError);
    expect(err.code).toBe('TENANT_VIOLATION');
    expect(() => f.runAs('acme', () => f.resetMetrics())).toThrow(TenantError);
    expect(f.runAsSystem({ reason: 'ops' }, () => f.metrics()).tenants.acme).toBeDefined();
  });
});

describe('bounded cardinality', () => {
  test('past the limit, the tenants with the fewest calls are folded into $other; no call is lost', async () => {
    const f = await fresh({ metrics: { limit: 3 } });
    const c = f.collection('m');
    for (const [t, n] of [['heavy1', 5], ['heavy2', 4], ['heavy3', 3]]) {
      for (let i = 0; i < n; i++) await f.runAs(t, () => c.findOne({ x: i }));
    }
    for (let i = 0; i < 8; i++) await f.runAs(`once${i}`, () => c.findOne({}));
    const s = f.metrics();
    expect(Object.keys(s.tenants).length).toBeLessThanOrEqual(3);
    expect(s.tenants.heavy1.findOne.calls).toBe(5);
    expect(s.tenants.heavy2.findOne.calls).toBe(4);
    expect(s.folded).toBeGreaterThan(0);
    const total = Object.values(s.tenants).reduce((a, ops) => a + ops.findOne.calls, 0) + s.other.findOne.calls;
    expect(total).toBe(5 + 4 + 3 + 8);
  });

  test('resetMetrics starts again; metrics: false turns them off', async () => {
    const f = await fresh();
    await f.runAs('acme', () => f.collection('m').findOne({}));
    const before = f.metrics().since;
    f.resetMetrics();
    const after = f.metrics();
    expect(after.tenants).toEqual({});
    expect(after.since.getTime()).toBeGreaterThanOrEqual(before.getTime());
    const off = await fresh({ metrics: false });
    await off.runAs('acme', () => off.collection('m').findOne({}));
    expect(off.metrics()).toBeNull();
    expect(off.metrics({ format: 'prometheus' })).toBeNull();
  });

  test.each([
    [{ metrics: 'yes' }, /options\.metrics must be true, false or \{ limit \}/],
    [{ metrics: { limit: 0 } }, /options\.metrics\.limit must be an integer/],
    [{ metrics: { size: 3 } }, /options\.metrics\.size is not known/],
  ])('%j is a TypeError', async (options, message) => {
    await expect(TenantFence.connect(uri(), { database: suite.DB, ...options })).rejects.toThrow(message);
  });

  test('metrics(options) is checked', async () => {
    const f = await fresh();
    expect(() => f.metrics({ format: 'xml' })).toThrow(/format must be 'prometheus' or 'json'/);
    expect(() => f.metrics({ fromat: 'prometheus' })).toThrow(/option 'fromat' is not known/);
    expect(() => f.metrics('prometheus')).toThrow(TypeError);
  });
});
