'use strict';
// Quotas (issue 17 item 2): each tenant's calls pass its own gate in Rust before they are sent;
// over the limit they wait in a bounded per-tenant queue or fail with TENANT_QUOTA, which
// Express answers with 429 and Retry-After. Slow calls are made slow by the server's
// `failCommand` fail point, keyed to one fence's appName, so the counts are exact.

const express = require('express');
const { TenantFence, TenantError } = require('../..');
const { useSuite, uri, sleep } = require('../helpers/fixtures');

const suite = useSuite('quota');

/** A fence of this suite's database with its own appName (for fail points) and `options`. */
async function fenceWith(options, app = `q_${Date.now()}_${Math.random().toString(36).slice(2, 7)}`) {
  const f = await TenantFence.connect(`${uri()}${uri().includes('?') ? '&' : '?'}appName=${app}`, { database: suite.DB, ...options });
  suite.closeAfter(f);
  return { f, app };
}

/** Blocks the next `times` `find` commands of `app` for `ms` on the server. */
async function blockFinds(app, times, ms) {
  await suite.raw.db('admin').command({
    configureFailPoint: 'failCommand',
    mode: { times },
    data: { failCommands: ['find'], blockConnection: true, blockTimeMS: ms, appName: app },
  });
}

async function failPointOff() {
  await suite.raw.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
}

/** Resolves once `n` find commands of `app` are running on the server. */
async function running(app, n) {
  const admin = suite.raw.db('admin');
  for (;;) {
    const ops = await admin.aggregate([{ $currentOp: {} }, { $match: { appName: app, 'command.find': { $exists: true } } }]).toArray();
    if (ops.length >= n) return;
    await sleep(10);
  }
}

/** Settles every promise: [{ ok, value | error }]. */
const settle = (ps) => Promise.all(ps.map((p) => p.then((value) => ({ ok: true, value }), (error) => ({ ok: false, error }))));

const quotaRefusals = (results) => results.filter((r) => !r.ok && r.error instanceof TenantError && r.error.code === 'TENANT_QUOTA');

beforeAll(async () => {
  const docs = [];
  for (const t of ['noisy', 'quiet', 'gold']) for (let i = 0; i < 20; i++) docs.push({ tenantId: t, i });
  await suite.rdb.collection('q').insertMany(docs);
});

afterEach(failPointOff);

describe('options', () => {
  test.each([
    [{ maxConcurrent: 0 }, /quotas\.maxConcurrent must be a positive integer/],
    [{ maxConcurrent: 1.5 }, /quotas\.maxConcurrent/],
    [{ opsPerSecond: -1 }, /quotas\.opsPerSecond must be a number from 0\.000001 to 1e9/],
    [{ opsPerSecond: Infinity }, /quotas\.opsPerSecond/],
    // So small its schedule would overflow: it would mean no limit at all.
    [{ opsPerSecond: 1e-12 }, /quotas\.opsPerSecond/],
    // The server takes maxTimeMS as a 32-bit integer: every read would fail.
    [{ maxTimeMS: 2592000000 }, /quotas\.maxTimeMS must be at most 2147483647/],
    [{ maxTimeMS: '5' }, /quotas\.maxTimeMS must be a number/],
    [{ maxQueue: -1 }, /quotas\.maxQueue must be a non-negative integer/],
    [{ maxConcurent: 2 }, /quotas\.maxConcurent is not a quota/],
    [[], /options\.quotas must be an object/],
    ['fast', /options\.quotas must be an object/],
  ])('%j is a TypeError at connect, before anything is dialled', async (quotas, message) => {
    // An unreachable server: a bad option must fail first, and fast.
    const err = await TenantFence.connect('mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=5000', { quotas }).catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(message);
  });

  test('a function whose answer is bad fails the call with a TypeError naming the tenant', async () => {
    const { f } = await fenceWith({ quotas: (t) => (t === 'acme' ? { maxConcurrent: -2 } : { maxTimeMS: '5' }) });
    const err = await f.runAs('acme', () => f.collection('q').findOne({})).catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('quotas("acme").maxConcurrent must be a positive integer');
    const other = await f.runAs('globex', () => f.collection('q').findOne({})).catch((e) => e);
    expect(other.message).toBe('quotas("globex").maxTimeMS must be a number');
    // A cursor: find() itself does not throw; its first read rejects, as any failure of the query.
    const cursor = f.runAs('acme', () => f.collection('q').find({}));
    await expect(cursor.toArray()).rejects.toThrow(TypeError);
  });

  test('a function that returns a promise fails the call; a later rejection of it does not stop Node', async () => {
    const unhandled = [];
    const onUnhandled = (e) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { f } = await fenceWith({ quotas: () => new Promise((_, reject) => setTimeout(() => reject(new Error('plan store down')), 20)) });
      const err = await f.runAs('acme', () => f.collection('q').findOne({})).catch((e) => e);
      expect(err.message).toMatch(/must return the limits, not a promise/);
      await sleep(100);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('maxConcurrent and maxQueue', () => {
  test('over the limit a call waits in its tenant queue; past the queue it is refused at once with TENANT_QUOTA; another tenant is not held', async () => {
    const { f, app } = await fenceWith({ quotas: { maxConcurrent: 2, maxQueue: 2 } });
    const q = f.collection('q');
    await blockFinds(app, 2, 1500);
    const noisy = [];
    for (let i = 0; i < 6; i++) noisy.push(f.runAs('noisy', () => q.find({ i }).toArray()));
    // Which of noisy's calls have settled so far. The six start in one tick: which two take the
    // slots is the runtime's choice, so the test counts, it does not name them.
    const settledNow = new Map();
    noisy.forEach((p, i) => p.then(() => settledNow.set(i, null), (e) => settledNow.set(i, e)));
    await running(app, 2);
    while (settledNow.size < 2) await sleep(5);
    // Two are refused while two are held on the server and two wait their turn.
    const refused = [...settledNow.values()];
    expect(refused.every((e) => e instanceof TenantError && e.code === 'TENANT_QUOTA')).toBe(true);
    const e = refused[0];
    expect(e.message).toMatch(/tenant "noisy" is over its quota \(2 calls in flight\); retry after 1000 ms/);
    expect(e.retryAfterMs).toBe(1000);
    expect(e.status).toBe(429);
    expect(e.headers).toEqual({ 'Retry-After': '1' });
    // Another tenant's call goes straight through while noisy's are held.
    const quiet = await f.runAs('quiet', () => q.find({ i: 3 }).toArray());
    expect(quiet.map((d) => d.tenantId)).toEqual(['quiet']);
    expect(settledNow.size).toBe(2);
    // The queued two run once a slot frees, and every accepted call answers correctly.
    const all = await settle(noisy);
    const accepted = all.map((r, i) => [r, i]).filter(([r]) => r.ok);
    expect(accepted).toHaveLength(4);
    for (const [r, i] of accepted) expect(r.value.map((d) => [d.tenantId, d.i])).toEqual([['noisy', i]]);
  });

  test('maxQueue 0 refuses at once whatever would wait; system calls pass no gate', async () => {
    const { f, app } = await fenceWith({ quotas: { maxConcurrent: 1, maxQueue: 0 } });
    const q = f.collection('q');
    await blockFinds(app, 1, 1000);
    const first = f.runAs('noisy', () => q.find({}).toArray());
    await running(app, 1);
    const second = await settle([f.runAs('noisy', () => q.findOne({}))]);
    expect(quotaRefusals(second)).toHaveLength(1);
    // runAsSystem is not a tenant: it is never limited.
    const sys = await settle([0, 1, 2].map(() => f.runAsSystem({ reason: 'quota test' }, () => q.countDocuments({ tenantId: 'noisy' }))));
    expect(sys.map((r) => r.value)).toEqual([20, 20, 20]);
    expect((await first).length).toBe(20);
  });

  test('a refused call writes nothing', async () => {
    const { f, app } = await fenceWith({ quotas: { maxConcurrent: 1, maxQueue: 0 } });
    const q = f.collection('qw');
    await blockFinds(app, 1, 800);
    const first = f.runAs('noisy', () => q.find({}).toArray());
    await running(app, 1);
    const r = await settle([f.runAs('noisy', () => q.insertMany([{ a: 1 }, { a: 2 }]))]);
    expect(quotaRefusals(r)).toHaveLength(1);
    await first;
    expect(await suite.rdb.collection('qw').countDocuments({})).toBe(0);
  });
});

describe('a call given up while it waits', () => {
  test('timeoutMS or an aborted signal at the gate: the caller is told, and the call is never sent', async () => {
    const { f, app } = await fenceWith({ quotas: { maxConcurrent: 1 } });
    const c = f.collection('given_up');
    await blockFinds(app, 1, 1200);
    const held = f.runAs('noisy', () => c.find({}).toArray());
    await running(app, 1);
    const timedOut = await settle([f.runAs('noisy', () => c.insertOne({ k: 'timeoutMS' }, { timeoutMS: 150 }))]);
    expect(timedOut[0].error.name).toBe('MongoOperationTimeoutError');
    const ac = new AbortController();
    const aborted = f.runAs('noisy', () => c.insertOne({ k: 'signal' }, { signal: ac.signal }));
    const cursor = f.runAs('noisy', () => c.find({ k: 'x' }, { timeoutMS: 150 }).toArray());
    setTimeout(() => ac.abort(new Error('user gave up')), 50);
    expect((await settle([aborted]))[0].error.message).toBe('user gave up');
    expect((await settle([cursor]))[0].error.name).toBe('MongoOperationTimeoutError');
    await held;
    // The slot is free now: had they been kept, they would have gone out by now.
    await f.runAs('noisy', () => c.insertOne({ k: 'after' }));
    await sleep(100);
    expect((await suite.rdb.collection('given_up').find({}).toArray()).map((d) => d.k)).toEqual(['after']);
  });
});

describe('opsPerSecond', () => {
  test("a burst of one second's calls goes, the queue takes the next ones, the rest are refused with the wait", async () => {
    const { f } = await fenceWith({ quotas: { opsPerSecond: 5, maxQueue: 3 } });
    const q = f.collection('q');
    const results = await settle(Array.from({ length: 15 }, (_, i) => f.runAs('noisy', () => q.findOne({ i }))));
    const ok = results.filter((r) => r.ok);
    expect(ok).toHaveLength(8);
    const refused = quotaRefusals(results);
    expect(refused).toHaveLength(7);
    for (const r of refused) {
      expect(r.error.message).toMatch(/over its quota \(5 calls a second\)/);
      expect(r.error.retryAfterMs).toBeGreaterThan(0);
      expect(r.error.retryAfterMs).toBeLessThanOrEqual(1000);
    }
    // Another tenant has its own schedule.
    const quiet = await settle(Array.from({ length: 5 }, (_, i) => f.runAs('quiet', () => q.findOne({ i }))));
    expect(quiet.every((r) => r.ok)).toBe(true);
  });
});

describe('maxTimeMS', () => {
  /** The `maxTimeMS` of each `name` command `app` sent, from the database profiler. */
  async function sentLimits(app, name) {
    const log = await suite.rdb.collection('system.profile').find({ appName: app, [`command.${name}`]: { $exists: true } }).sort({ ts: 1 }).toArray();
    return log.map((e) => e.command.maxTimeMS);
  }

  test('caps every read, findOneAnd*, updateMany and deleteMany at the quota, keeps a smaller limit of the caller, leaves retryable writes alone', async () => {
    const { f, app } = await fenceWith({ quotas: { maxTimeMS: 250 } });
    const q = f.collection('q');
    await suite.rdb.command({ profile: 2 });
    try {
      await f.runAs('noisy', async () => {
        await q.find({ i: 1 }).toArray();
        await q.find({ i: 1 }, { maxTimeMS: 40 }).toArray();
        await q.find({ i: 1 }, { maxTimeMS: 60000 }).toArray();
        await q.aggregate([{ $match: { i: 2 } }]).toArray();
        await q.countDocuments({ i: 2 });
        await q.distinct('i', {});
      });
    } finally {
      await suite.rdb.command({ profile: 0 });
    }
    expect(await sentLimits(app, 'find')).toEqual([250, 40, 250]);
    // The aggregation, the count and distinct (tried as the command, then as an aggregation
    // before 7.1): every one of them capped.
    const reads = [...(await sentLimits(app, 'aggregate')), ...(await sentLimits(app, 'distinct'))];
    expect(reads.length).toBeGreaterThanOrEqual(3);
    expect(reads.every((ms) => ms === 250)).toBe(true);
    // The profiler logs a write's statements, not its command: read those off $currentOp while
    // the server holds them. updateOne stays retryable and uncapped; the others are capped.
    const admin = suite.raw.db('admin');
    const sent = async (command, call) => {
      await admin.command({ configureFailPoint: 'failCommand', mode: { times: 1 }, data: { failCommands: [command], blockConnection: true, blockTimeMS: 400, appName: app } });
      const done = f.runAs('noisy', call).catch(() => {});
      let op;
      while (!op) [op] = await admin.aggregate([{ $currentOp: {} }, { $match: { appName: app, [`command.${command}`]: { $exists: true } } }]).toArray();
      await done;
      return op.command.maxTimeMS;
    };
    expect(await sent('update', () => q.updateOne({ i: 19 }, { $set: { touched: true } }))).toBeUndefined();
    expect(await sent('update', () => q.updateMany({ i: 18 }, { $set: { touched: true } }))).toBe(250);
    expect(await sent('delete', () => q.deleteMany({ i: 1000 }))).toBe(250);
    expect(await sent('findAndModify', () => q.findOneAndUpdate({ i: 17 }, { $set: { touched: true } }))).toBe(250);
  });
});

describe('quotas as a function of the tenant id', () => {
  test('each tenant gets its own limits, asked once, and null means none', async () => {
    const asked = [];
    const { f, app } = await fenceWith({
      quotas: (tenantId) => {
        asked.push(tenantId);
        return tenantId === 'gold' ? null : { maxConcurrent: 1, maxQueue: 0 };
      },
    });
    const q = f.collection('q');
    await blockFinds(app, 2, 1000);
    const held = [f.runAs('noisy', () => q.find({}).toArray()), f.runAs('gold', () => q.find({}).toArray())];
    await running(app, 2);
    const noisy = await settle([f.runAs('noisy', () => q.findOne({}))]);
    expect(quotaRefusals(noisy)).toHaveLength(1);
    // gold has no limit: a second call goes while its first is held.
    expect((await f.runAs('gold', () => q.findOne({ i: 5 }))).tenantId).toBe('gold');
    await Promise.all(held);
    expect(asked.sort()).toEqual(['gold', 'noisy']);
  });

  test('a runAsTenants read is held to the strictest limits of its members; members without limits add none', async () => {
    const { f, app } = await fenceWith({ quotas: (tenantId) => (tenantId === 'noisy' ? { maxConcurrent: 1, maxQueue: 0 } : null) });
    const q = f.collection('q');
    await blockFinds(app, 1, 1000);
    const held = f.runAsTenants(['noisy', 'quiet'], () => q.find({ i: 1 }).toArray());
    await running(app, 1);
    // noisy's limit binds the union: its second call is refused, naming the set.
    const [r] = await settle([f.runAsTenants(['noisy', 'quiet'], () => q.findOne({}))]);
    expect(quotaRefusals([r])).toHaveLength(1);
    expect(r.error.message).toMatch(/tenant "noisy, quiet" is over its quota \(1 calls in flight\)/);
    expect((await held).map((d) => d.tenantId).sort()).toEqual(['noisy', 'quiet']);
    // A union of members without limits is not limited: two calls at once both go.
    await blockFinds(app, 1, 1000);
    const first = f.runAsTenants(['gold', 'quiet'], () => q.find({ i: 2 }).toArray());
    await running(app, 1);
    expect((await f.runAsTenants(['gold', 'quiet'], () => q.find({ i: 3 }).toArray())).length).toBe(2);
    await first;
  });
});

describe("a union's gate is its own", () => {
  test("neither a member's gate nor another union's: each goes while the others are held", async () => {
    const { f, app } = await fenceWith({ quotas: { maxConcurrent: 1, maxQueue: 0 } });
    const q = f.collection('q');
    // Every principal below holds its only slot on the server; then each makes a second call.
    const principals = [
      ['noisy', (fn) => f.runAs('noisy', fn)],
      ['noisy+quiet', (fn) => f.runAsTenants(['noisy', 'quiet'], fn)],
      ['noisy+gold', (fn) => f.runAsTenants(['noisy', 'gold'], fn)],
      ['gold+quiet', (fn) => f.runAsTenants(['gold', 'quiet'], fn)],
    ];
    for (const [name, as] of principals) {
      await blockFinds(app, 1, 1500);
      const held = as(() => q.find({ i: 4 }).toArray());
      await running(app, 1);
      // The held principal is at its limit ...
      expect([name, quotaRefusals(await settle([as(() => q.findOne({}))])).length]).toEqual([name, 1]);
      // ... and every other one still has its own slot.
      for (const [other, otherAs] of principals) {
        if (other === name) continue;
        const d = await otherAs(() => q.findOne({ i: 5 }));
        expect([name, other, d.i]).toEqual([name, other, 5]);
      }
      await held;
    }
  });
});

describe('Express', () => {
  test("a refused call is a 429 with Retry-After from Express's own error handler", async () => {
    const { f, app: appName } = await fenceWith({ quotas: { maxConcurrent: 1, maxQueue: 0 } });
    const app = express();
    app.use(f.middleware());
    app.get('/items', async (req, res) => res.json(await f.collection('q').find({}).toArray()));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${server.address().port}/items`;
    try {
      await blockFinds(appName, 1, 1000);
      const first = fetch(url, { headers: { 'x-tenant-id': 'noisy' } });
      await running(appName, 1);
      const res = await fetch(url, { headers: { 'x-tenant-id': 'noisy' } });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('1');
      await res.text();
      const other = await fetch(url, { headers: { 'x-tenant-id': 'quiet' } });
      expect(other.status).toBe(200);
      expect((await other.json()).every((d) => d.tenantId === 'quiet')).toBe(true);
      expect((await first).status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
