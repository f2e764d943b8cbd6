'use strict';
// Faults at the server: mongod SIGKILLed with operations in flight through the fence, then
// restarted on the same port and dbpath; and a server that is not there at connect. Each test
// runs its own mongod (never the shared one) and removes it, also when the test fails.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { MongoClient } = require('mongodb');
const { TenantFence, TenantError } = require('../..');
const { startReplSet, freePort, isAlive } = require('../../scripts/mongod');

// Generous: a loaded two-core machine may take tens of seconds to start or recover a mongod.
jest.setTimeout(240_000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => process.stderr.write(`[faults] ${msg}\n`);

/** Resolves to the settled outcome of every promise, or rejects naming how many never settled. */
async function settleWithin(promises, ms) {
  let done = 0;
  const tracked = promises.map((p) =>
    p.then(
      (value) => ({ ok: true, value }),
      (error) => ({ ok: false, error }),
    ).finally(() => done++),
  );
  let timer;
  const hang = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${promises.length - done} of ${promises.length} operations never settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([Promise.all(tracked), hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `fn` until it resolves or `ms` pass; resolves to { value, attempts, ms } or throws the last error. */
async function retryUntil(fn, ms) {
  const t0 = Date.now();
  let last;
  for (let attempts = 1; Date.now() - t0 < ms; attempts++) {
    try {
      return { value: await fn(), attempts, ms: Date.now() - t0 };
    } catch (e) {
      last = e;
      await sleep(200);
    }
  }
  throw new Error(`still failing after ${ms} ms: ${last && last.message}`);
}

/** An error a driver failure should look like: an Error, not a tenant refusal, with a message. */
function expectClearDriverError(err) {
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(TenantError);
  expect(err).not.toBeInstanceOf(TypeError);
  expect(typeof err.message).toBe('string');
  expect(err.message.length).toBeGreaterThan(0);
  expect(err.name).toMatch(/^Mongo/);
}

describe('mongod killed with operations in flight', () => {
  let dbpath;
  let mongod;
  let fence;

  afterAll(async () => {
    if (fence) await fence.close().catch(() => {});
    if (mongod) await mongod.stop().catch(() => {});
    if (dbpath) fs.rmSync(dbpath, { recursive: true, force: true });
  });

  test('every operation settles with a result or a clear error; the same fence works after a restart', async () => {
    dbpath = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantfence-faults-kill-'));
    const port = await freePort();
    mongod = await startReplSet({ port, dbpath, replSet: 'rsKill' });
    fence = await TenantFence.connect(mongod.uri, {
      database: 'faults',
      serverSelectionTimeoutMS: 2_000,
      connectTimeoutMS: 2_000,
      // A small pool keeps most of the 200 operations queued or on the wire when the server dies.
      maxPoolSize: 4,
    });
    const col = fence.collection('inflight');
    // Enough documents that scans and full reads keep the server busy for a while.
    const SEED = 2000;
    await fence.runAs('t1', () => col.insertMany(Array.from({ length: SEED }, (_, i) => ({ i: i % 50, pad: 'x'.repeat(200) }))));

    // Eight kinds of call, 25 of each.
    const kinds = [
      (i) => col.insertOne({ i: 1000 + i }),
      (i) => col.findOne({ i: i % 50 }),
      () => col.find({}).toArray(),
      () => col.countDocuments({}),
      (i) => col.updateMany({ i: i % 50 }, { $inc: { n: 1 } }),
      () => col.aggregate([{ $group: { _id: null, n: { $sum: 1 } } }]).toArray(),
      (i) => col.deleteOne({ i: 2000 + i }),
      (i) => col.findOneAndUpdate({ i: i % 50 }, { $set: { seen: true } }),
    ];
    const ops = [];
    const issue = (from, to) =>
      fence.runAs('t1', () => {
        for (let i = from; i < to; i++) ops.push(kinds[i % kinds.length](i));
      });
    // Half before the first reply is back (connections open, some calls done), half right before
    // the kill: those cannot have finished, however fast the machine, so calls are surely cut off.
    issue(0, 100);
    await Promise.race(ops.map((p) => p.catch(() => {})));
    issue(100, 200);
    const killedAt = Date.now();
    process.kill(mongod.pid, 'SIGKILL');
    while (isAlive(mongod.pid)) await sleep(20);

    const outcomes = await settleWithin(ops, 120_000);
    const settledMs = Date.now() - killedAt;
    const failed = outcomes.filter((o) => !o.ok);
    const names = {};
    for (const { error } of failed) {
      expectClearDriverError(error);
      // A call cut off mid-flight is a network error; one queued behind it cannot select a server.
      expect(['MongoNetworkError', 'MongoServerSelectionError']).toContain(error.name);
      names[error.name] = (names[error.name] || 0) + 1;
    }
    log(
      `kill: ${outcomes.length - failed.length} of 200 succeeded, ${failed.length} failed ` +
        `(${JSON.stringify(names)}), all settled ${settledMs} ms after SIGKILL; e.g. "${failed[0] && failed[0].error.message}"`,
    );
    expect(outcomes).toHaveLength(200);
    // The kill happened with work outstanding, so something must have failed.
    expect(failed.length).toBeGreaterThan(0);

    // While the server is down a call fails within the selection timeout instead of hanging.
    const down = await settleWithin([fence.runAs('t1', () => col.countDocuments({}))], 60_000);
    expect(down[0].ok).toBe(false);
    expectClearDriverError(down[0].error);
    expect(['MongoNetworkError', 'MongoServerSelectionError']).toContain(down[0].error.name);

    // Same port, same dbpath: the journal replays and the fence reconnects on its own.
    const restartAt = Date.now();
    mongod = await startReplSet({ port, dbpath, replSet: 'rsKill' });
    const back = await retryUntil(() => fence.runAs('t1', () => col.countDocuments({})), 90_000);
    log(`restart: mongod up and the same fence answering after ${Date.now() - restartAt} ms (${back.attempts} attempts)`);
    expect(back.value).toBeGreaterThanOrEqual(SEED);

    // Reads and writes through the old fence object work and stay scoped.
    const r = await fence.runAs('t1', () => col.insertOne({ after: true }));
    expect(r.acknowledged).toBe(true);
    expect(await fence.runAs('t2', () => col.countDocuments({}))).toBe(0);
    const raw = new MongoClient(mongod.uri);
    try {
      const stored = await raw.db('faults').collection('inflight').findOne({ _id: r.insertedId });
      expect(stored).toMatchObject({ tenantId: 't1', after: true });
      // Every insert the fence acknowledged before the kill survived it (journaled writes).
      const acked = outcomes
        .map((o, i) => (o.ok && i % kinds.length === 0 ? 1000 + i : null))
        .filter((i) => i !== null);
      const found = await raw.db('faults').collection('inflight').countDocuments({ i: { $in: acked } });
      expect(found).toBe(acked.length);
    } finally {
      await raw.close();
    }
  });
});

describe('unreachable server at connect', () => {
  test.each([
    ['a single server', (port) => `mongodb://127.0.0.1:${port}/?directConnection=true`],
    ['a replica set', (port) => `mongodb://127.0.0.1:${port}/?replicaSet=rsGone`],
  ])('%s on a closed port: a server-selection error within the configured timeout', async (_, uriFor) => {
    // freePort() closes the port again: nothing listens there.
    const port = await freePort();
    const timeoutMs = 500;
    const t0 = Date.now();
    let made;
    const [outcome] = await settleWithin(
      [TenantFence.connect(uriFor(port), { database: 'faults', serverSelectionTimeoutMS: timeoutMs })],
      timeoutMs + 10_000,
    );
    if (outcome.ok) made = outcome.value;
    await (made && made.close());
    const ms = Date.now() - t0;
    log(`unreachable (${_}): rejected after ${ms} ms: ${outcome.error && outcome.error.message}`);
    expect(outcome.ok).toBe(false);
    expect(outcome.error.name).toBe('MongoServerSelectionError');
    expectClearDriverError(outcome.error);
    expect(outcome.error.message).toMatch(/server selection|could not reach|refused|timed out/i);
  });
});
