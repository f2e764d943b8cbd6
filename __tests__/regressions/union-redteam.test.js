'use strict';
// Red team of multi-tenant read contexts (runAsTenants; docs/red-team.md round 26). Each test
// failed on the code it was written against and states the guarantee it checks. (A union's
// quotas are tested in api/quotas.test.js.)

const http = require('node:http');
const crypto = require('node:crypto');
const express = require('express');
const { MongoClient } = require('mongodb');
const { TenantFence } = require('../..');

const URI = process.env.MONGODB_URI;
const DB = `rt2_union_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
let raw;
let rdb;
let fence;
const fences = [];
const connect = async (options = {}) => {
  const f = await TenantFence.connect(URI, { database: DB, ...options });
  fences.push(f);
  return f;
};
const notes = (f = fence) => f.collection('notes');

beforeAll(async () => {
  raw = new MongoClient(URI);
  await raw.connect();
  rdb = raw.db(DB);
  fence = await connect();
  await rdb.collection('notes').insertMany([
    { tenantId: 'a', t: 'a1' },
    { tenantId: 'b', t: 'b1' },
    { tenantId: 'c', t: 'c1', secret: 'c-secret' },
  ]);
});

afterAll(async () => {
  for (const f of fences) await f.close().catch(() => {});
  if (raw) {
    await rdb.dropDatabase().catch(() => {});
    await raw.close();
  }
});

/** Runs fn; returns the TenantError code it throws/rejects with, or 'ok'. */
async function outcome(fn) {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    return e.code || e.message;
  }
}

describe('a runAs inside a union must name one of its tenants (docs/multi-tenant-reads.md)', () => {
  // "A runAs of any other tenant inside is refused ... so a handler given several tenants cannot
  // write to a tenant outside them." One level of nesting through a member defeats it: the
  // member's single-tenant context forgets the union's ceiling, and may_narrow only looks at the
  // innermost context.
  test('runAs(member) then runAs(non-member) writes to the non-member', async () => {
    const before = await rdb.collection('notes').countDocuments({ tenantId: 'c' });
    const got = await fence.runAsTenants(['a', 'b'], () =>
      outcome(() => fence.runAs('a', () => fence.runAs('c', () => notes().insertOne({ t: 'written-from-union' })))),
    );
    const after = await rdb.collection('notes').countDocuments({ tenantId: 'c' });
    expect({ got, wroteToC: after - before }).toEqual({ got: 'TENANT_VIOLATION', wroteToC: 0 });
  });

  test('runAs(member) then runAs(non-member) reads the non-member', async () => {
    // (runAs refuses at once, before fn runs: caught either way.)
    const got = await fence.runAsTenants(['a', 'b'], () =>
      fence.runAs('a', () => Promise.resolve().then(() => fence.runAs('c', () => notes().findOne({})))).then(
        (d) => d,
        (e) => e.code,
      ),
    );
    expect(got).toBe('TENANT_VIOLATION');
  });

  // runAsTenants inside a union is not checked at all: a union of {a,b} reads c by opening a
  // union of {c}, and then (c being a member of the inner union) writes to c.
  test('a nested runAsTenants reaches tenants outside the union', async () => {
    const read = await fence.runAsTenants(['a', 'b'], () =>
      outcome(() => fence.runAsTenants(['c'], () => notes().find({}).toArray())),
    );
    expect(read).toBe('TENANT_VIOLATION');
    const write = await fence.runAsTenants(['a', 'b'], () =>
      outcome(() => fence.runAsTenants(['c'], () => fence.runAs('c', () => notes().deleteMany({ t: 'written-from-union' })))),
    );
    expect(write).toBe('TENANT_VIOLATION');
  });
});

describe('union access ends when it should', () => {
  // The middleware registers res.once('close', end) only once resolve has settled. A client
  // that disconnects while an async resolve is pending has already fired 'close': the union
  // context is never ended, and the handler (Express still runs it) keeps reading the union
  // forever, e.g. through a callback it bound.
  test('middleware: a response closed before resolve settles leaves the union open forever', async () => {
    let bound;
    let entered;
    const handlerRan = new Promise((r) => {
      entered = r;
    });
    const app = express();
    app.use(
      fence.middleware({
        resolve: async () => {
          await new Promise((r) => setTimeout(r, 150));
          return ['a', 'b'];
        },
      }),
    );
    let closedBeforeHandler;
    app.get('/x', (req, res) => {
      closedBeforeHandler = res.destroyed || req.destroyed;
      bound = fence.bind(() => notes().countDocuments({}));
      entered();
    });
    const server = http.createServer(app);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try {
      const req = http.get(`http://127.0.0.1:${server.address().port}/x`);
      req.on('error', () => {});
      setTimeout(() => req.destroy(), 20); // the client goes away while resolve is pending
      await handlerRan;
      expect(closedBeforeHandler).toBe(true); // structural: the response was already gone
      // The response is closed (the socket is gone) before and after the handler ran.
      const got = await bound().then(
        (n) => `read ${n} documents after the response closed`,
        (e) => e.code,
      );
      expect(got).toBe('TENANT_MISSING');
    } finally {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    }
  });

  // runUntilSettled reads result.then outside its try: an fn whose result's `then` getter throws
  // makes runAsTenants throw without ending the context (same code path as runAsSystem).
  test("fn's result with a throwing `then` getter: the context is never ended", async () => {
    let later;
    expect(() =>
      fence.runAsTenants(['a', 'b'], () => {
        later = fence.bind(() => notes().countDocuments({}));
        return {
          get then() {
            throw new Error('boom');
          },
        };
      }),
    ).toThrow('boom');
    const got = await later().then(
      (n) => `read ${n}`,
      (e) => e.code,
    );
    expect(got).toBe('TENANT_MISSING');
  });
});

describe('union access ends when it should (narrowed contexts)', () => {
  // "Access ends when fn settles: a function fence.bind captured inside ... is refused". A
  // callback bound inside a runAs(member) inside the union keeps that tenant's full read AND write
  // access forever: the narrowed context is not tied to the union's end (nor, from the
  // middleware, to the response's close).
  test('a callback bound inside runAs(member) outlives the union, writes included', async () => {
    const later = await fence.runAsTenants(['a', 'b'], async () => fence.runAs('a', () => fence.bind(() => notes().insertOne({ t: 'after-end' }))));
    const got = await outcome(() => later());
    await rdb.collection('notes').deleteMany({ t: 'after-end' });
    expect(got).toBe('TENANT_MISSING');
  });
});

describe('failure modes', () => {
  // A $text query on a tenant-prefixed text index ({tenantId: 1, body: 'text'}, the index the
  // fence requires for $text) cannot run with {tenantId: {$in: [...]}}: the server needs an
  // equality on the prefix. The caller gets a raw MongoServerError 291 ("error processing
  // query ... NoQueryExecutionPlans") instead of a TenantError that says why.
  test('$text under a union fails with a clear TenantError, not a raw planner error', async () => {
    await rdb.collection('txt').insertMany([
      { tenantId: 'a', body: 'hello' },
      { tenantId: 'b', body: 'hello' },
    ]);
    await rdb.collection('txt').createIndex({ tenantId: 1, body: 'text' });
    expect(await fence.runAs('a', () => fence.collection('txt').countDocuments({ $text: { $search: 'hello' } }))).toBe(1);
    const err = await fence
      .runAsTenants(['a', 'b'], () => fence.collection('txt').find({ $text: { $search: 'hello' } }).toArray())
      .then(() => null, (e) => e);
    // Either it works (e.g. one $text query per tenant) or it is refused with a TenantError.
    expect(err === null || err.name === 'TenantError').toBe(true);
  });
});

