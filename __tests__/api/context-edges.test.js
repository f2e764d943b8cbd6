'use strict';
// The tenant across the Node APIs that schedule work: util.promisify, stream.pipeline (with async
// generator transforms), setInterval, queueMicrotask, setImmediate, AbortSignal.timeout, async
// generators, events.once; and fence.bind() for work that someone else runs later (a job queue).
// Each case runs two tenants at once and checks what was stored through the raw driver.

const util = require('node:util');
const { pipeline, Readable, Writable } = require('node:stream');
const { pipeline: pipelineAsync } = require('node:stream/promises');
const { EventEmitter, once } = require('node:events');
const express = require('express');
const { TenantError } = require('../..');
const { useSuite, sleep, settleAll, syncError, expectTenantError } = require('../helpers/fixtures');

const suite = useSuite('edge');
const C = 'edges';
const col = () => suite.fence.collection(C);
const tenant = () => suite.fence.currentTenant();

/** The tenant of every stored document whose `mark` is `mark`, sorted by `n`. */
async function stored(mark) {
  const docs = await suite.rdb.collection(C).find({ mark }).sort({ n: 1 }).toArray();
  return docs.map((d) => `${d.tenantId}:${d.n}`);
}

/** Runs `work(tenantId)` as tenants a and b at the same time. */
const both = (work) => settleAll(['a', 'b'].map((t) => suite.as(t, () => work(t))));

describe('callback and stream APIs keep the tenant', () => {
  test('util.promisify: the callback and the awaited continuation are in the tenant', async () => {
    // A callback API that calls back later, from its own timer.
    const legacy = (value, cb) => setTimeout(() => cb(null, { value, inCallback: tenant() }), 3);
    const promised = util.promisify(legacy);
    const seen = await both(async (t) => {
      const r = await promised(t);
      await col().insertOne({ mark: 'promisify', n: 1 });
      return { ...r, after: tenant() };
    });
    expect(seen).toEqual([
      { value: 'a', inCallback: 'a', after: 'a' },
      { value: 'b', inCallback: 'b', after: 'b' },
    ]);
    expect(await stored('promisify')).toEqual(expect.arrayContaining(['a:1', 'b:1']));
    expect(await stored('promisify')).toHaveLength(2);
  });

  test('stream.pipeline (callback form) with an async generator transform writes as the tenant', async () => {
    const run = (t) =>
      new Promise((resolve, reject) => {
        const seenInTransform = [];
        pipeline(
          Readable.from([1, 2, 3]),
          async function* transform(source) {
            for await (const n of source) {
              await sleep(1);
              seenInTransform.push(tenant());
              yield { mark: 'pipeline-cb', n };
            }
          },
          new Writable({
            objectMode: true,
            write(doc, _enc, done) {
              col().insertOne(doc).then(() => done(), done);
            },
          }),
          (err) => (err ? reject(err) : resolve({ t, seenInTransform, end: tenant() })),
        );
      });
    const out = await both(run);
    for (const { t, seenInTransform, end } of out) {
      expect(seenInTransform).toEqual([t, t, t]);
      expect(end).toBe(t);
    }
    expect((await stored('pipeline-cb')).sort()).toEqual(['a:1', 'a:2', 'a:3', 'b:1', 'b:2', 'b:3']);
  });

  test('stream/promises pipeline: a fence cursor as source, async generator transform, writes as the tenant', async () => {
    await both((t) => col().insertMany([1, 2].map((n) => ({ mark: 'src', n, owner: t }))));
    await both((t) =>
      pipelineAsync(
        Readable.from(col().find({ mark: 'src' }, { sort: { n: 1 } })),
        async function* copy(source) {
          for await (const d of source) {
            if (d.owner !== t || tenant() !== t) throw new Error(`${t} saw ${d.owner} in ${tenant()}`);
            yield { mark: 'pipeline-promise', n: d.n };
          }
        },
        async function sink(source) {
          for await (const doc of source) await col().insertOne(doc);
        },
      ),
    );
    expect((await stored('pipeline-promise')).sort()).toEqual(['a:1', 'a:2', 'b:1', 'b:2']);
  });

  test('setInterval: every tick sees the tenant that started it', async () => {
    const ticks = await both(
      (t) =>
        new Promise((resolve) => {
          const seen = [];
          const timer = setInterval(() => {
            seen.push(tenant());
            if (seen.length === 3) {
              clearInterval(timer);
              col()
                .insertOne({ mark: 'interval', n: 1 })
                .then(() => resolve(seen));
            }
          }, 2);
          return t;
        }),
    );
    expect(ticks).toEqual([['a', 'a', 'a'], ['b', 'b', 'b']]);
    expect((await stored('interval')).sort()).toEqual(['a:1', 'b:1']);
  });

  test('queueMicrotask and setImmediate callbacks see the tenant', async () => {
    const seen = await both(
      () =>
        new Promise((resolve) => {
          const got = {};
          queueMicrotask(() => {
            got.microtask = tenant();
          });
          setImmediate(() => {
            got.immediate = tenant();
            col()
              .insertOne({ mark: 'immediate', n: 1 })
              .then(() => resolve(got));
          });
        }),
    );
    expect(seen).toEqual([
      { microtask: 'a', immediate: 'a' },
      { microtask: 'b', immediate: 'b' },
    ]);
    expect((await stored('immediate')).sort()).toEqual(['a:1', 'b:1']);
  });

  test('AbortSignal.timeout: abort listeners run in the context where the signal was created', async () => {
    const seen = await both(
      () =>
        new Promise((resolve) => {
          const signal = AbortSignal.timeout(5);
          // The signal's timer does not keep the process alive; this keeps the test honest.
          const keep = setTimeout(() => resolve({ listener: 'never fired' }), 5000);
          signal.addEventListener(
            'abort',
            () => {
              clearTimeout(keep);
              const listener = tenant();
              col()
                .insertOne({ mark: 'abort', n: 1 })
                .then(() => resolve({ listener, reason: signal.reason.name }));
            },
            { once: true },
          );
        }),
    );
    expect(seen).toEqual([
      { listener: 'a', reason: 'TimeoutError' },
      { listener: 'b', reason: 'TimeoutError' },
    ]);
    expect((await stored('abort')).sort()).toEqual(['a:1', 'b:1']);
  });

  test('AbortSignal.timeout: the listener follows the signal, not the code that added the listener', async () => {
    // Documented AsyncLocalStorage behaviour: the abort is dispatched from the signal's own timer.
    const signal = suite.as('a', () => AbortSignal.timeout(5));
    const keep = setTimeout(() => {}, 5000);
    const listener = await suite.as('b', () => new Promise((resolve) => signal.addEventListener('abort', () => resolve(tenant()))));
    clearTimeout(keep);
    expect(listener).toBe('a');
  });

  test('an awaited timers/promises sleep cancelled by AbortSignal.timeout continues in the tenant', async () => {
    const { setTimeout: sleepFor } = require('node:timers/promises');
    const seen = await both(async () => {
      const err = await sleepFor(10_000, null, { signal: AbortSignal.timeout(5) }).catch((e) => e);
      return { name: err.name, after: tenant() };
    });
    expect(seen).toEqual([
      { name: 'AbortError', after: 'a' },
      { name: 'AbortError', after: 'b' },
    ]);
  });
});

describe('async generators and events', () => {
  test('async generators and for await: body and loop keep the tenant across awaits and yields', async () => {
    async function* numbers() {
      for (let n = 1; n <= 3; n++) {
        await sleep(1);
        await col().insertOne({ mark: 'gen', n });
        yield { n, inBody: tenant() };
      }
    }
    const out = await both(async (t) => {
      const got = [];
      for await (const v of numbers()) got.push(`${v.inBody}/${tenant()}`);
      return got.every((s) => s === `${t}/${t}`);
    });
    expect(out).toEqual([true, true]);
    expect((await stored('gen')).sort()).toEqual(['a:1', 'a:2', 'a:3', 'b:1', 'b:2', 'b:3']);
  });

  test('an async generator runs in the context of whoever iterates it; a fence cursor keeps its own', async () => {
    async function* gen() {
      await sleep(1);
      yield tenant();
    }
    const g = suite.as('a', () => gen());
    const cursor = suite.as('a', () => col().find({ mark: 'gen' }, { sort: { n: 1 } }));
    const read = await suite.as('b', async () => {
      const fromGen = [];
      for await (const v of g) fromGen.push(v);
      const fromCursor = [];
      for await (const d of cursor) fromCursor.push(d.tenantId);
      return { fromGen, fromCursor };
    });
    expect(read.fromGen).toEqual(['b']);
    expect(read.fromCursor).toEqual(['a', 'a', 'a']);
  });

  test('events.once: the awaiting chain keeps its tenant whoever emits', async () => {
    const bus = new EventEmitter();
    const waiting = both(async (t) => {
      const [payload] = await once(bus, `ready-${t}`);
      await col().insertOne({ mark: 'once', n: payload });
      return tenant();
    });
    await sleep(2);
    // Emitted from another tenant's context, and from none.
    suite.as('b', () => bus.emit('ready-a', 1));
    bus.emit('ready-b', 2);
    expect(await waiting).toEqual(['a', 'b']);
    expect((await stored('once')).sort()).toEqual(['a:1', 'b:2']);
  });

  test('an EventEmitter listener runs in the emitter\'s context unless bound with fence.bind', async () => {
    const bus = new EventEmitter();
    const seen = {};
    suite.as('a', () => {
      bus.on('plain', () => {
        seen.plain = tenant();
      });
      bus.on('bound', suite.fence.bind(() => {
        seen.bound = tenant();
      }));
    });
    suite.as('b', () => {
      bus.emit('plain');
      bus.emit('bound');
    });
    expect(seen).toEqual({ plain: 'b', bound: 'a' });
  });
});

describe('fence.bind(fn)', () => {
  test('runs fn in the captured tenant, with its arguments, this and return value', async () => {
    const bound = suite.as('a', () =>
      suite.fence.bind(function add(x, y) {
        return { sum: x + y, self: this, tenant: tenant() };
      }),
    );
    expect(bound.name).toBe('bound add');
    const self = { me: 1 };
    expect(bound.call(self, 2, 3)).toEqual({ sum: 5, self, tenant: 'a' });
    expect(suite.as('b', () => bound(1, 1)).tenant).toBe('a');
    // Outside the bound call the caller's context is untouched.
    expect(tenant()).toBeUndefined();
    // An async fn: the returned promise and its continuations are in the captured tenant.
    const write = suite.as('a', () => suite.fence.bind(async (n) => (await col().insertOne({ mark: 'bind', n })).insertedId));
    const id = await suite.as('b', () => write(1));
    expect(await suite.rdb.collection(C).findOne({ _id: id })).toMatchObject({ tenantId: 'a', mark: 'bind', n: 1 });
  });

  test('throws TENANT_MISSING at bind time outside any context, and TypeError for a non-function', () => {
    const err = syncError(() => suite.fence.bind(() => 1));
    expect(err).toBeInstanceOf(TenantError);
    expect(err.code).toBe('TENANT_MISSING');
    for (const bad of [undefined, null, 5, 'fn', {}]) {
      const e = syncError(() => suite.as('a', () => suite.fence.bind(bad)));
      expect({ bad, name: e.name, message: e.message }).toEqual({ bad, name: 'TypeError', message: expect.stringMatching(/fn/) });
    }
  });

  test('captures a runAsSystem context: audited while the callback runs, refused once it has settled', async () => {
    const events = [];
    const f = suite.closeAfter(
      await require('../..').TenantFence.connect(require('../helpers/fixtures').uri(), {
        database: suite.DB,
        onSystemAccess: (e) => events.push(e),
      }),
    );
    let count;
    await f.runAsSystem({ reason: 'nightly report' }, async () => {
      count = f.bind(() => f.collection(C).countDocuments({ mark: 'bind' }));
      // Called from another tenant's chain while runAsSystem is still running: system, audited.
      expect(await suite.as('b', () => count())).toBe(1);
    });
    expect(events).toEqual([{ reason: 'nightly report', collection: C, operation: 'countDocuments' }]);
    // System access ended with the callback: a bound function, a timer or a server started
    // inside it cannot keep using it.
    await expectTenantError(count(), 'TENANT_MISSING');
    await expectTenantError(suite.as('b', () => count()), 'TENANT_MISSING');
    expect(events).toHaveLength(1);
  });

  test('a job queue: work queued by one request runs later, from another request or a timer, as its own tenant', async () => {
    const queue = [];
    const enqueue = (job) => queue.push(suite.fence.bind(job));
    const drain = async () => {
      const results = [];
      while (queue.length) results.push(await queue.shift()());
      return results;
    };
    const app = express();
    app.use(suite.fence.middleware());
    app.post('/orders/:n', (req, res) => {
      const n = Number(req.params.n);
      // Two concurrent captures per request; each must keep its own request's tenant.
      enqueue(async () => {
        await sleep(1);
        await col().insertOne({ mark: 'job', n });
        return `${tenant()}:${n}`;
      });
      enqueue(() => col().countDocuments({ mark: 'job' }).then((c) => `${tenant()} count ${c}`));
      res.status(202).json({ queued: queue.length });
    });
    app.post('/drain', async (req, res, next) => {
      try {
        res.json({ by: tenant(), results: await drain() });
      } catch (e) {
        next(e);
      }
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${server.address().port}`;
    const post = (path, t) => fetch(`${url}${path}`, { method: 'POST', headers: { 'x-tenant-id': t } }).then((r) => r.json());
    try {
      await Promise.all([post('/orders/1', 'a'), post('/orders/2', 'b'), post('/orders/3', 'a')]);
      expect(queue).toHaveLength(6);
      // Drained by tenant c's request: every job still runs as the tenant that queued it.
      const drained = await post('/drain', 'c');
      expect(drained.by).toBe('c');
      const jobs = drained.results.filter((r) => /:\d$/.test(r)).sort();
      expect(jobs).toEqual(['a:1', 'a:3', 'b:2']);
      for (const r of drained.results.filter((x) => x.includes('count'))) expect(r).toMatch(/^[ab] count [0-2]$/);
      // Queued again, then run from a timer (no request context at all).
      await post('/orders/4', 'b');
      const fromTimer = await new Promise((resolve, reject) => setTimeout(() => drain().then(resolve, reject), 2));
      expect(fromTimer).toEqual(['b:4', 'b count 2']);
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
    expect((await stored('job')).sort((x, y) => x.localeCompare(y))).toEqual(['a:1', 'a:3', 'b:2', 'b:4']);
    // A job bound outside any context is refused at enqueue time, not run unscoped later.
    await expectTenantError(() => enqueue(() => col().insertOne({ mark: 'job', n: 99 })), 'TENANT_MISSING');
    expect(queue).toHaveLength(0);
  });
});
