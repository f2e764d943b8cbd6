'use strict';
// The tenant context: runAs, currentTenant, nesting, id validation, runAsSystem and its audit
// hook, and isolation between many concurrent async chains.

const { EventEmitter, once } = require('node:events');
const timersPromises = require('node:timers/promises');
const { TenantFence, TenantError } = require('../..');
const {
  uri,
  dbName,
  useSuite,
  sleep,
  captureError,
  expectTenantError,
  expectSyncTenantError,
  own,
  ids,
  settleAll,
} = require('../helpers/fixtures');

const suite = useSuite('ctx');
const DB2 = suite.dropAfter(dbName('ctx2'));

const { as } = suite;

describe('runAs / currentTenant', () => {
  test('currentTenant() is undefined outside any context', () => {
    expect(suite.fence.currentTenant()).toBeUndefined();
  });

  test('returns what fn returns (sync)', () => {
    const obj = { x: 1 };
    expect(as('a', () => 42)).toBe(42);
    expect(as('a', () => obj)).toBe(obj);
    expect(as('a', () => undefined)).toBeUndefined();
    expect(as('a', () => suite.fence.currentTenant())).toBe('a');
    expect(suite.fence.currentTenant()).toBeUndefined();
  });

  test('returns what fn returns (async): the same promise value', async () => {
    const p = as('b', async () => {
      await sleep(2);
      return { t: suite.fence.currentTenant() };
    });
    expect(typeof p.then).toBe('function');
    await expect(p).resolves.toEqual({ t: 'b' });
    expect(suite.fence.currentTenant()).toBeUndefined();
  });

  test('errors from fn propagate (sync throw and rejection) and the context is restored', async () => {
    const boom = new Error('boom');
    expect(() =>
      as('a', () => {
        throw boom;
      }),
    ).toThrow(boom);
    expect(suite.fence.currentTenant()).toBeUndefined();
    await expect(
      as('a', async () => {
        await sleep(1);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(suite.fence.currentTenant()).toBeUndefined();
  });

  test('contexts nest: inner wins, outer restored (sync and across awaits)', async () => {
    const seen = [];
    await as('outer', async () => {
      seen.push(suite.fence.currentTenant());
      as('inner', () => seen.push(suite.fence.currentTenant()));
      seen.push(suite.fence.currentTenant());
      await as('inner2', async () => {
        await sleep(1);
        seen.push(suite.fence.currentTenant());
        await as('innermost', async () => {
          await sleep(1);
          seen.push(suite.fence.currentTenant());
        });
        seen.push(suite.fence.currentTenant());
      });
      await sleep(1);
      seen.push(suite.fence.currentTenant());
    });
    expect(seen).toEqual(['outer', 'inner', 'outer', 'inner2', 'innermost', 'inner2', 'outer']);
    expect(suite.fence.currentTenant()).toBeUndefined();
  });

  test('nested contexts scope the collection calls', async () => {
    const col = suite.fence.collection('nest');
    await as('a', async () => {
      await col.insertOne({ who: 'outer-a' });
      await as('b', () => col.insertOne({ who: 'inner-b' }));
      await col.insertOne({ who: 'outer-a-again' });
    });
    const stored = await suite.rdb.collection('nest').find({}, { projection: { _id: 0 } }).sort({ who: 1 }).toArray();
    expect(stored).toEqual([
      { who: 'inner-b', tenantId: 'b' },
      { who: 'outer-a', tenantId: 'a' },
      { who: 'outer-a-again', tenantId: 'a' },
    ]);
  });

  test('callbacks scheduled inside keep the context; nothing leaks outside', async () => {
    let fromTimer;
    let fromImmediate;
    as('a', () => {
      fromTimer = new Promise((resolve) => setTimeout(() => resolve(suite.fence.currentTenant()), 5));
      fromImmediate = new Promise((resolve) => setImmediate(() => resolve(suite.fence.currentTenant())));
    });
    expect(suite.fence.currentTenant()).toBeUndefined();
    expect(await fromTimer).toBe('a');
    expect(await fromImmediate).toBe('a');
    expect(suite.fence.currentTenant()).toBeUndefined();
  });

  test('the context is per process: one runAs scopes every fence', async () => {
    const f2 = suite.closeAfter(await TenantFence.connect(uri(), { database: DB2 }));
    expect(f2.currentTenant()).toBeUndefined();
    const r = await as('a', async () => {
      expect(f2.currentTenant()).toBe('a');
      return f2.collection('perproc').insertOne({ x: 1 });
    });
    expect(await suite.raw.db(DB2).collection('perproc').findOne({ _id: r.insertedId })).toEqual({
      _id: r.insertedId,
      x: 1,
      tenantId: 'a',
    });
    await f2.runAs('b', async () => {
      expect(suite.fence.currentTenant()).toBe('b');
      await suite.fence.collection('perproc').insertOne({ x: 2 });
    });
    expect((await suite.rdb.collection('perproc').findOne({ x: 2 })).tenantId).toBe('b');
  });
});

describe('tenant ids', () => {
  test.each([
    ['a'],
    ['A'],
    ['0'],
    ['tenant_1-X'],
    ['x'.repeat(64)],
    ['-'],
    ['_'],
  ])('valid id %p', async (id) => {
    expect(as(id, () => suite.fence.currentTenant())).toBe(id);
    const r = await as(id, () => suite.fence.collection('ids').insertOne({ id }));
    expect((await suite.rdb.collection('ids').findOne({ _id: r.insertedId })).tenantId).toBe(id);
  });

  const INVALID = [
    ['empty', ''],
    ['65 chars', 'x'.repeat(65)],
    ['dot', 'a.b'],
    ['dollar', '$x'],
    ['slash', 'a/b'],
    ['backslash', 'a\\b'],
    ['space', 'a b'],
    ['quote', 'a"b'],
    ['NUL', 'a\u0000b'],
    ['colon', 'a:b'],
    ['at', 'a@b'],
    ['non-ascii', 'ä'],
    ['newline', 'a\nb'],
    ['number', 5],
    ['null', null],
    ['undefined', undefined],
    ['object', { id: 'a' }],
    ['array', ['a']],
    ['String object', new String('a')], // eslint-disable-line no-new-wrappers
    ['boolean', true],
  ];

  test.each(INVALID)('invalid id (%s) throws TENANT_INVALID before fn runs', (label, id) => {
    let ran = false;
    const fn = () => {
      ran = true;
      return 'ran';
    };
    expectSyncTenantError(() => suite.fence.runAs(id, fn), 'TENANT_INVALID');
    const asyncFn = async () => {
      ran = true;
    };
    expectSyncTenantError(() => suite.fence.runAs(id, asyncFn), 'TENANT_INVALID');
    expect(ran).toBe(false);
    expect(suite.fence.currentTenant()).toBeUndefined();
  });

  test('tenantIdPattern replaces the default rule', async () => {
    const f = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, tenantIdPattern: /^[a-z]{3}$/ }));
    expect(f.runAs('abc', () => f.currentTenant())).toBe('abc');
    for (const bad of ['abcd', 'ab', 'ABC', 'ab1', 'a-b']) {
      expectSyncTenantError(() => f.runAs(bad, () => 1), 'TENANT_INVALID');
    }
    const r = await f.runAs('xyz', () => f.collection('pattern').insertOne({ v: 1 }));
    expect((await suite.rdb.collection('pattern').findOne({ _id: r.insertedId })).tenantId).toBe('xyz');
  });

  test('reused contexts keep each fence\'s rule and survive eviction from the cache', async () => {
    const loose = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, tenantIdPattern: /^.+$/s }));
    // Cached under the permissive rule first; the default-rule fence must still refuse it.
    expect(loose.runAs('org:acme', () => loose.currentTenant())).toBe('org:acme');
    expectSyncTenantError(() => suite.fence.runAs('org:acme', () => 1), 'TENANT_INVALID');
    // More distinct tenants than the cache holds, then the first ones again, each checked by a write.
    const ids = Array.from({ length: 1200 }, (_, i) => `evict${i}`);
    for (const id of ids) expect(suite.fence.runAs(id, () => suite.fence.currentTenant())).toBe(id);
    const c = suite.fence.collection('ctxcache');
    for (const id of [ids[0], ids[1], ids[1199]]) {
      const r = await suite.fence.runAs(id, () => c.insertOne({ v: id }));
      expect((await suite.rdb.collection('ctxcache').findOne({ _id: r.insertedId })).tenantId).toBe(id);
    }
  });

  test('a permissive tenantIdPattern still refuses $ . / \\ space " NUL', async () => {
    const f = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, tenantIdPattern: /^.+$/s }));
    for (const ok of ['org:acme', 'user@example', 'a#b']) {
      expect(f.runAs(ok, () => f.currentTenant())).toBe(ok);
    }
    const r = await f.runAs('user@example', () => f.collection('pattern2').insertOne({ v: 1 }));
    expect((await suite.rdb.collection('pattern2').findOne({ _id: r.insertedId })).tenantId).toBe('user@example');
    for (const bad of ['a$b', '$x', 'a.b', 'a/b', 'a\\b', 'a b', 'a"b', 'a\u0000b', '']) {
      let ran = false;
      expectSyncTenantError(
        () =>
          f.runAs(bad, () => {
            ran = true;
          }),
        'TENANT_INVALID',
      );
      expect({ bad, ran }).toEqual({ bad, ran: false });
    }
  });
});

describe('runAsSystem', () => {
  const C = 'sys';
  let events;
  let sysFence;
  let hookError;

  beforeAll(async () => {
    events = [];
    hookError = new Error('system access denied by policy');
    sysFence = suite.closeAfter(
      await TenantFence.connect(uri(), {
        database: suite.DB,
        onSystemAccess: (event) => {
          events.push({ ...event });
          if (event.reason === 'deny') throw hookError;
        },
      }),
    );
    await suite.rdb.collection(C).insertMany([
      { _id: 'a-1', tenantId: 'a', v: 1 },
      { _id: 'a-2', tenantId: 'a', v: 2 },
      { _id: 'b-1', tenantId: 'b', v: 1 },
    ]);
  });

  beforeEach(() => {
    events.length = 0;
  });

  const sys = (reason, fn) => sysFence.runAsSystem({ reason }, fn);
  const col = () => sysFence.collection(C);

  test('system writes must name a tenant id valid under the fence rule', async () => {
    const before = await suite.rdb.collection(C).countDocuments();
    // The default rule: at most 64 characters of [A-Za-z0-9_-].
    await expectTenantError(sys('seed', () => col().insertOne({ tenantId: 'x'.repeat(65) })), 'TENANT_INVALID');
    await expectTenantError(sys('move', () => col().updateOne({ _id: 'a-1' }, { $set: { tenantId: 'a b' } })), 'TENANT_INVALID');
    // A custom pattern applies to what system work writes, not only to runAs.
    const custom = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, tenantIdPattern: /^org-\d+$/ }));
    const csys = (fn) => custom.runAsSystem({ reason: 'seed' }, fn);
    await expectTenantError(csys(() => custom.collection(C).insertOne({ tenantId: 'acme' })), 'TENANT_INVALID');
    await expectTenantError(
      csys(() => custom.collection(C).bulkWrite([{ insertOne: { document: { tenantId: 'org-1' } } }, { insertOne: { document: { tenantId: 'nope' } } }])),
      'TENANT_INVALID',
    );
    expect(await suite.rdb.collection(C).countDocuments()).toBe(before);
    const ok = await csys(() => custom.collection(C).insertOne({ tenantId: 'org-7' }));
    expect(await suite.rdb.collection(C).findOne({ _id: ok.insertedId })).toMatchObject({ tenantId: 'org-7' });
    await suite.rdb.collection(C).deleteOne({ _id: ok.insertedId });
  });

  test('lifts scoping for reads and returns what fn returns', async () => {
    const docs = await sys('audit', () => col().find({}).toArray());
    expect(ids(docs).filter((id) => /^[ab]-\d$/.test(id))).toEqual(['a-1', 'a-2', 'b-1']);
    expect(await sys('audit', () => 'value')).toBe('value');
    expect(await sys('audit', () => col().countDocuments({ v: 1 }))).toBe(2);
  });

  test('calls onSystemAccess({reason, collection, operation}) before each operation', async () => {
    await sys('nightly-report', async () => {
      await col().find({ v: 1 }).toArray();
      await col().countDocuments({});
      await col().distinct('v');
      await col().aggregate([{ $match: {} }]).toArray();
      await col().updateOne({ _id: 'a-1' }, { $set: { seen: true } });
    });
    // operation names: the collection method names (contract silent on the exact strings)
    expect(events).toEqual([
      { reason: 'nightly-report', collection: C, operation: 'find' },
      { reason: 'nightly-report', collection: C, operation: 'countDocuments' },
      { reason: 'nightly-report', collection: C, operation: 'distinct' },
      { reason: 'nightly-report', collection: C, operation: 'aggregate' },
      { reason: 'nightly-report', collection: C, operation: 'updateOne' },
    ]);
  });

  test('the hook runs synchronously, inside the call', async () => {
    await sys('sync-check', async () => {
      const p = col().countDocuments({});
      expect(events).toEqual([{ reason: 'sync-check', collection: C, operation: 'countDocuments' }]);
      await p;
      const q = col().insertOne({ tenantId: 'a', v: 'sync' });
      expect(events).toHaveLength(2);
      expect(events[1]).toEqual({ reason: 'sync-check', collection: C, operation: 'insertOne' });
      await q;
    });
  });

  test('a throwing hook refuses the operation with that error; nothing written', async () => {
    const before = await suite.rdb.collection(C).find({}).sort({ _id: 1 }).toArray();
    await sys('deny', async () => {
      await expect(col().insertOne({ tenantId: 'a', v: 'denied' })).rejects.toBe(hookError);
      await expect(col().updateMany({}, { $set: { v: 'denied' } })).rejects.toBe(hookError);
      await expect(col().deleteMany({})).rejects.toBe(hookError);
      await expect(col().countDocuments({})).rejects.toBe(hookError);
      const err = await captureError(() => col().find({}).toArray());
      expect(err).toBe(hookError);
    });
    expect(await suite.rdb.collection(C).find({}).sort({ _id: 1 }).toArray()).toEqual(before);
    expect(events.length).toBeGreaterThanOrEqual(5);
    for (const e of events) expect(e.reason).toBe('deny');
  });

  test('the hook is not called for tenant operations', async () => {
    await sysFence.runAs('a', () => col().countDocuments({}));
    expect(events).toEqual([]);
  });

  test('system writes must still name a valid tenant', async () => {
    const before = await suite.rdb.collection(C).find({}).sort({ _id: 1 }).toArray();
    await sys('import', async () => {
      // refused: which TenantError code is the implementation's choice
      await expectTenantError(() => col().insertOne({ v: 'no-tenant' }));
      await expectTenantError(() => col().insertOne({ tenantId: 'bad id', v: 'x' }));
      await expectTenantError(() => col().insertOne({ tenantId: 'a.b', v: 'x' }));
      await expectTenantError(() => col().insertOne({ tenantId: 5, v: 'x' }));
      await expectTenantError(() => col().insertMany([{ tenantId: 'a', v: 'ok' }, { v: 'no-tenant' }]));
      await expectTenantError(() => col().bulkWrite([{ insertOne: { document: { v: 'no-tenant' } } }]));
      await expectTenantError(() => col().updateOne({ _id: 'a-1' }, { $unset: { tenantId: '' } }));
      await expectTenantError(() => col().replaceOne({ _id: 'a-1' }, { v: 'no-tenant' }));
      await expectTenantError(() => col().updateOne({ k: 'new' }, { $set: { v: 1 } }, { upsert: true }));
    });
    expect(await suite.rdb.collection(C).find({}).sort({ _id: 1 }).toArray()).toEqual(before);

    const r = await sys('import', () => col().insertOne({ tenantId: 'b', v: 'sys-written' }));
    expect(await suite.rdb.collection(C).findOne({ _id: r.insertedId })).toEqual({
      _id: r.insertedId,
      tenantId: 'b',
      v: 'sys-written',
    });
    await sys('import', () => col().deleteOne({ _id: r.insertedId }));
    expect(await suite.rdb.collection(C).findOne({ _id: r.insertedId })).toBeNull();
  });

  test('reason is required; fn does not run', () => {
    for (const bad of [undefined, null, {}, { reason: '' }, { other: 'x' }]) {
      let ran = false;
      let err;
      try {
        suite.fence.runAsSystem(bad, () => {
          ran = true;
        });
      } catch (e) {
        err = e;
      }
      expect({ bad, ran, threw: err !== undefined }).toEqual({ bad, ran: false, threw: true });
      expect(String(err.message)).toMatch(/reason/i);
    }
  });

  test('runAs inside runAsSystem scopes again; outside, TENANT_MISSING again', async () => {
    const docs = await sys('nested', () => sysFence.runAs('b', () => col().find({}).toArray()));
    expect(ids(docs)).toEqual(['b-1']);
    await expect(
      sys('nested', () => sysFence.runAs('b', () => col().insertOne({ tenantId: 'a' }))),
    ).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
    await expectTenantError(() => col().countDocuments({}), 'TENANT_MISSING');
  });

  test('works without a hook configured', async () => {
    const n = await suite.fence.runAsSystem({ reason: 'no hook' }, () =>
      suite.fence.collection(C).countDocuments({ _id: /^[ab]-/ }),
    );
    expect(n).toBe(3);
  });
});

describe('concurrency', () => {
  const C = 'conc';
  const CHAINS = 300;

  test(`${CHAINS} concurrent chains never see another tenant`, async () => {
    const col = suite.fence.collection(C);
    const rnd = (n) => Math.floor(Math.random() * n);

    const chain = (i) => {
      const t = `t${i}`;
      return suite.fence.runAs(t, async () => {
        const check = (where) => {
          const now = suite.fence.currentTenant();
          if (now !== t) throw new Error(`chain ${i}: currentTenant() was ${now} at ${where}, expected ${t}`);
        };
        const checkDocs = (docs, n, where) => {
          for (const d of docs) {
            if (d.chain !== i || (d.tenantId !== undefined && d.tenantId !== t)) {
              throw new Error(`chain ${i} (${t}) saw ${JSON.stringify(d)} at ${where}`);
            }
          }
          if (n !== undefined && docs.length !== n) {
            throw new Error(`chain ${i} saw ${docs.length} docs at ${where}, expected ${n}`);
          }
        };
        check('start');
        await sleep(rnd(10));
        check('setTimeout');
        await col.insertOne({ chain: i, step: 1 });
        check('insertOne');
        await new Promise((r) => setImmediate(r));
        check('setImmediate');
        await new Promise((r) => process.nextTick(r));
        check('nextTick');
        await new Promise((r) => queueMicrotask(r));
        check('queueMicrotask');
        await timersPromises.setTimeout(rnd(5));
        check('timers/promises');

        // EventEmitter callbacks emitted from this chain's timers
        const ee = new EventEmitter();
        const pinged = once(ee, 'ping');
        setTimeout(() => ee.emit('ping', suite.fence.currentTenant()), rnd(5));
        const [emittedWith] = await pinged;
        if (emittedWith !== t) throw new Error(`chain ${i}: emitter callback saw ${emittedWith}`);
        check('EventEmitter');
        const fromListener = await new Promise((resolve, reject) => {
          ee.once('read', () => {
            const now = suite.fence.currentTenant();
            if (now !== t) reject(new Error(`chain ${i}: listener saw ${now}`));
            col.find({}).toArray().then(resolve, reject);
          });
          setImmediate(() => ee.emit('read'));
        });
        checkDocs(fromListener, 1, 'listener read');

        // parallel native calls inside the chain
        await Promise.all([
          col.insertOne({ chain: i, step: 2 }),
          col.insertMany([
            { chain: i, step: 3 },
            { chain: i, step: 4 },
          ]),
          sleep(rnd(5)).then(() => check('parallel timer')),
        ]);
        check('Promise.all');
        const all = await col.find({}).toArray();
        checkDocs(all, 4, 'find');
        const n = await Promise.resolve()
          .then(() => check('then'))
          .then(() => col.countDocuments({}));
        if (n !== 4) throw new Error(`chain ${i}: countDocuments ${n}`);
        check('countDocuments');

        // a cursor read batch by batch across timers
        const cur = col.find({}, { batchSize: 1, sort: { step: 1 } });
        const steps = [];
        for (let d = await cur.next(); d; d = await cur.next()) {
          checkDocs([d], undefined, 'cursor');
          steps.push(d.step);
          await sleep(rnd(2));
          check('cursor loop');
        }
        if (steps.join() !== '1,2,3,4') throw new Error(`chain ${i}: cursor steps ${steps}`);

        const upd = await col.updateMany({}, { $set: { done: true } });
        if (upd.matchedCount !== 4) throw new Error(`chain ${i}: updateMany matched ${upd.matchedCount}`);
        const agg = await col.aggregate([{ $group: { _id: '$chain', n: { $sum: 1 } } }]).toArray();
        if (agg.length !== 1 || agg[0]._id !== i || agg[0].n !== 4) {
          throw new Error(`chain ${i}: aggregate ${JSON.stringify(agg)}`);
        }
        check('end');
        return t;
      });
    };

    // No bound on how long it takes (Jest's timeout catches a hang): only the answers count.
    const results = await settleAll(Array.from({ length: CHAINS }, (_, i) => chain(i)));
    expect(results).toEqual(Array.from({ length: CHAINS }, (_, i) => `t${i}`));
    expect(suite.fence.currentTenant()).toBeUndefined();

    // the oracle: every document belongs to its chain's tenant
    const stored = await suite.rdb.collection(C).find({}).toArray();
    expect(stored).toHaveLength(CHAINS * 4);
    const wrong = stored.filter((d) => d.tenantId !== `t${d.chain}` || d.done !== true);
    expect(wrong).toEqual([]);
  });

  test('own() sanity: a read through the fence after the storm', async () => {
    const d = await as('t7', () => suite.fence.collection(C).findOne({ step: 1 }));
    expect(own(d, 't7')).toMatchObject({ chain: 7, step: 1, done: true });
  });
});
