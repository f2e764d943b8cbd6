'use strict';
// Red-team round 29 (docs/red-team.md): the audit hook and ChangeStream look-ahead. Each test
// failed on the code it was written against.

const { TenantFence, TenantError } = require('../..');
const { useSuite, uri, captureError } = require('../helpers/fixtures');

const suite = useSuite('rt29');

describe('onSystemAccess refuses with what it throws', () => {
  // napi could not carry a thrown primitive: the caller got "Create Error reference failed".
  test.each([
    ['null', null, /it threw null/],
    ['undefined', undefined, /it threw undefined/],
    ['a string', 'no', /it threw no/],
    ['a Symbol', Symbol('s'), /it threw Symbol\(s\)/],
    // Round 29, second pass: any non-Error reached Node as napi's GenericFailure.
    ['a plain object posing as a TenantError', { code: 'TENANT_VIOLATION', message: 'fake', name: 'TenantError' }, /it threw \[object Object\]/],
    ['a function', function f() {}, /it threw \[object Function\]/],
    ['a null-prototype object', Object.create(null), /it threw \[object Object\]/],
    [
      'a Proxy whose every trap throws',
      new Proxy(
        {},
        Object.fromEntries(['get', 'has', 'getPrototypeOf', 'ownKeys', 'getOwnPropertyDescriptor'].map((t) => [t, () => { throw new Error(t); }])),
      ),
      /it threw (\[object Object\]|an object)/,
    ],
  ])('a hook that throws %s refuses the call with a TenantError naming it', async (_name, value, message) => {
    const f = suite.closeAfter(
      await TenantFence.connect(uri(), {
        database: suite.DB,
        onSystemAccess: () => {
          throw value;
        },
      }),
    );
    for (const run of [(fn) => f.runAsSystem({ reason: 'r' }, fn), (fn) => f.runAsTenants(['a', 'b'], fn)]) {
      const e = await captureError(() => run(() => f.collection('c').findOne({})));
      expect(e).toBeInstanceOf(TenantError);
      expect(e.code).toBe('TENANT_VIOLATION');
      expect(e.message).toMatch(message);
      if (typeof value !== 'symbol') expect(e.cause === value).toBe(true);
    }
  });

  test("a hook's own Error is the call's error, unchanged", async () => {
    const mine = new Error('mine');
    const f = suite.closeAfter(
      await TenantFence.connect(uri(), {
        database: suite.DB,
        onSystemAccess: () => {
          throw mine;
        },
      }),
    );
    expect(await captureError(() => f.runAsSystem({ reason: 'r' }, () => f.collection('c').findOne({})))).toBe(mine);
  });

  // The `then` getter was read outside the guard: the getter's error refused every call.
  test('a returned object whose then getter throws does not refuse the call (a returned value never does)', async () => {
    const f = suite.closeAfter(
      await TenantFence.connect(uri(), {
        database: suite.DB,
        onSystemAccess: () => ({
          get then() {
            throw new Error('getter');
          },
        }),
      }),
    );
    await f.runAsSystem({ reason: 'r' }, () => f.collection('c').insertOne({ tenantId: 'a', x: 1 }));
    expect((await f.runAsTenants(['a', 'b'], () => f.collection('c').findOne({ x: 1 }))).tenantId).toBe('a');
  });
});

describe('ChangeStream look-ahead', () => {
  const COLL = 'rt29w';
  beforeAll(async () => {
    await suite.fence.runAsSystem({ reason: 'test setup' }, () => suite.fence.db.createCollection(COLL, { changeStreamPreAndPostImages: { enabled: true } }));
  });

  async function open() {
    const s = suite.as('a', () => suite.fence.collection(COLL).watch([], { maxAwaitTimeMS: 200 }));
    expect(await s.tryNext()).toBeNull();
    return s;
  }
  const insert = (n) => suite.as('a', () => suite.fence.collection(COLL).insertOne({ n }));
  const n = (e) => (e ? e.fullDocument.n : null);

  // Each hasNext() read ahead on its own and overwrote the other's event: event 1 was lost.
  test('two concurrent hasNext() calls share one look-ahead: no event is lost', async () => {
    const s = await open();
    try {
      const ahead = [s.hasNext(), s.hasNext()];
      await insert(1);
      await insert(2);
      expect(await Promise.all(ahead)).toEqual([true, true]);
      expect([n(await s.next()), n(await s.next())]).toEqual([1, 2]);
    } finally {
      await s.close();
    }
  });

  // tryNext() behind a pending hasNext() waited for an event (no time limit).
  test('tryNext() beside a pending hasNext() answers null at once, and the event stays for next()', async () => {
    const s = await open();
    try {
      const ahead = s.hasNext();
      expect(await s.tryNext()).toBeNull();
      await insert(5);
      expect(await ahead).toBe(true);
      expect(n(await s.tryNext())).toBe(5);
    } finally {
      await s.close();
    }
  });

  // next() after close() returned the event hasNext() had read ahead.
  test('after close() nothing is read, an event hasNext() found included', async () => {
    const s = await open();
    await insert(6);
    expect(await s.hasNext()).toBe(true);
    await s.close();
    expect(await s.next()).toBeNull();
    expect(await s.hasNext()).toBe(false);
  });

  // next() beside a pending hasNext() read its own event and returned 2 before 1.
  test('next() beside a pending hasNext() returns the event hasNext() found first', async () => {
    const s = await open();
    try {
      const ahead = s.hasNext();
      const first = s.next();
      await insert(3);
      await insert(4);
      expect(await ahead).toBe(true);
      expect(n(await first)).toBe(3);
      expect(n(await s.next())).toBe(4);
    } finally {
      await s.close();
    }
  });
});
