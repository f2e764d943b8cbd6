'use strict';
// Transactions: `fence.withTransaction(fn)` binds a session to fn's async chain, so every call
// inside joins without passing anything; `fence.startSession()` gives a session to pass as
// `{ session }`, as the driver's. A session belongs to one tenant (src/scope/session.rs).
// Run on the single-node replica set the Jest global setup starts; the oracle client reads what
// is committed.

const crypto = require('node:crypto');
const {
  TenantFence, TenantError, MongoServerError, MongoTransactionError, MongoExpiredSessionError,
} = require('../..');
const { useSuite, uri, captureError } = require('../helpers/fixtures');

const events = [];
const suite = useSuite('tx', { onSystemAccess: (e) => events.push(e) });
const fences = {};

beforeAll(async () => {
  fences.field = suite.fence;
  fences.database = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, strategy: 'database' }));
});

/** The committed documents of `tenant` in `coll`, as the oracle reads them, without _id. */
async function committed(strategy, tenant, coll, filter = {}) {
  const c = strategy === 'field'
    ? suite.rdb.collection(coll).find({ tenantId: tenant, ...filter })
    : suite.raw.db(fences.database.databaseFor(tenant)).collection(coll).find(filter);
  return c.project({ _id: 0, tenantId: 0 }).sort({ k: 1 }).toArray();
}

const fresh = () => `c_${crypto.randomBytes(3).toString('hex')}`;

/** Sets a failCommand fail point for `times` calls of `commands` (needs enableTestCommands). */
async function failNext(times, data) {
  await suite.raw.db('admin').command({ configureFailPoint: 'failCommand', mode: { times }, data });
}

describe.each(['field', 'database'])("strategy '%s'", (strategy) => {
  const fence = () => fences[strategy];

  test('withTransaction: calls at any depth join; nothing is visible outside until commit; it resolves to what fn resolves to', async () => {
    const [name, other] = [fresh(), fresh()];
    const f = fence();
    let seenOutside;
    const result = await f.runAs('a', () =>
      f.withTransaction(async () => {
        await f.collection(name).insertOne({ k: 1 });
        // Deeper: another function, another collection, after a timer and a microtask.
        const deeper = async () => {
          await new Promise((r) => setTimeout(r, 5));
          await f.collection(other).insertMany([{ k: 2 }, { k: 3 }]);
          await Promise.resolve().then(() => f.collection(name).updateOne({ k: 1 }, { $set: { v: 'x' } }));
        };
        await deeper();
        seenOutside = [await committed(strategy, 'a', name), await committed(strategy, 'a', other)];
        // Inside, the transaction reads its own writes, cursors included.
        const inside = await f.collection(other).find({}, { batchSize: 1, sort: { k: 1 }, projection: { _id: 0, k: 1 } }).toArray();
        return { inside, count: await f.collection(name).countDocuments({ v: 'x' }) };
      }),
    );
    expect(seenOutside).toEqual([[], []]);
    expect(result).toEqual({ inside: [{ k: 2 }, { k: 3 }], count: 1 });
    expect(await committed(strategy, 'a', name)).toEqual([{ k: 1, v: 'x' }]);
    expect(await committed(strategy, 'a', other)).toEqual([{ k: 2 }, { k: 3 }]);
  });

  test('withTransaction: fn throws, everything is rolled back and its error comes back unchanged', async () => {
    const name = fresh();
    const f = fence();
    await f.runAs('a', () => f.collection(name).insertOne({ k: 0, n: 1 }));
    const boom = new Error('boom');
    const err = await captureError(
      f.runAs('a', () =>
        f.withTransaction(async () => {
          await f.collection(name).insertOne({ k: 1 });
          await f.collection(name).updateOne({ k: 0 }, { $inc: { n: 1 } });
          await f.collection(name).deleteMany({});
          throw boom;
        }),
      ),
    );
    expect(err).toBe(boom);
    expect(await committed(strategy, 'a', name)).toEqual([{ k: 0, n: 1 }]);
  });

  test('a transaction belongs to one tenant: a call of another tenant, or of runAsSystem, inside it is refused and nothing is written', async () => {
    const name = fresh();
    const f = fence();
    for (const intruder of [
      () => f.runAs('b', () => f.collection(name).insertOne({ k: 'b-in-a' })),
      () => f.runAs('b', () => f.collection(name).findOne({})),
      () => f.runAs('b', () => f.collection(name).find({}).toArray()),
      () => f.runAsSystem({ reason: 'test: system inside a tenant transaction' }, () => f.collection(name).insertOne({ k: 's', tenantId: 'a' })),
    ]) {
      const err = await captureError(
        f.runAs('a', () =>
          f.withTransaction(async () => {
            await f.collection(name).insertOne({ k: 'a-before' });
            await intruder();
          }),
        ),
      );
      expect(err).toBeInstanceOf(TenantError);
      expect(err.code).toBe('TENANT_VIOLATION');
      // The owner is not named: the message may reach the intruding tenant.
      expect(err.message).not.toMatch(/"a"/);
    }
    expect(await committed(strategy, 'a', name)).toEqual([]);
    expect(await committed(strategy, 'b', name)).toEqual([]);
  });

  test('explicit sessions: { session } on reads, writes, cursors and bulkWrite; commit and abort; inTransaction()', async () => {
    const name = fresh();
    const f = fence();
    const c = f.collection(name);
    await f.runAs('a', async () => {
      await c.countDocuments({}); // the fence's tenant index is built outside any transaction
      const s = await f.startSession();
      expect(s.inTransaction()).toBe(false);
      s.startTransaction({ readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority' } });
      expect(s.inTransaction()).toBe(true);
      await c.insertOne({ k: 1 }, { session: s });
      await c.bulkWrite([{ insertOne: { document: { k: 2 } } }, { updateOne: { filter: { k: 1 }, update: { $set: { v: 1 } } } }], { session: s });
      expect(await c.findOneAndUpdate({ k: 2 }, { $set: { v: 2 } }, { session: s, returnDocument: 'after', projection: { _id: 0 } })).toEqual({ k: 2, v: 2, ...(strategy === 'field' ? { tenantId: 'a' } : {}) });
      expect(await c.countDocuments({}, { session: s })).toBe(2);
      expect(await c.countDocuments({})).toBe(0); // outside the session: not yet committed
      expect(await c.distinct('v', {}, { session: s })).toEqual([1, 2]);
      expect(await c.aggregate([{ $group: { _id: null, n: { $sum: '$v' } } }], { session: s }).toArray()).toEqual([{ _id: null, n: 3 }]);
      await s.commitTransaction();
      expect(s.inTransaction()).toBe(false);
      expect(s.transaction.state).toBe('TRANSACTION_COMMITTED');

      s.startTransaction();
      await c.deleteMany({}, { session: s });
      expect(await c.findOne({ k: 1 }, { session: s })).toBeNull();
      await s.abortTransaction();
      expect(s.transaction.state).toBe('TRANSACTION_ABORTED');
      await s.endSession();
      expect(s.hasEnded).toBe(true);
    });
    expect(await committed(strategy, 'a', name)).toEqual([{ k: 1, v: 1 }, { k: 2, v: 2 }]);
  });

  test('a session started outside any context belongs to the first tenant that uses it', async () => {
    const name = fresh();
    const f = fence();
    const s = await f.startSession();
    s.startTransaction();
    await f.runAs('a', () => f.collection(name).insertOne({ k: 'a' }, { session: s }));
    const err = await captureError(f.runAs('b', () => f.collection(name).countDocuments({}, { session: s })));
    expect(err).toMatchObject({ name: 'TenantError', code: 'TENANT_VIOLATION' });
    // After its transaction too: the session stays the tenant's.
    await s.commitTransaction();
    const again = await captureError(f.runAs('b', () => f.collection(name).insertOne({ k: 'b' }, { session: s })));
    expect(again).toMatchObject({ code: 'TENANT_VIOLATION' });
    await s.endSession();
    expect(await committed(strategy, 'a', name)).toEqual([{ k: 'a' }]);
    expect(await committed(strategy, 'b', name)).toEqual([]);
  });

  test('a TransientTransactionError reruns fn; the transaction commits once', async () => {
    const name = fresh();
    const f = fence();
    let runs = 0;
    const result = await f.runAs('a', () =>
      f.withTransaction(async () => {
        runs += 1;
        if (runs === 1) await failNext(1, { failCommands: ['insert'], errorCode: 112, errorLabels: ['TransientTransactionError'] });
        await f.collection(name).insertOne({ k: runs });
        return runs;
      }),
    );
    expect(runs).toBe(2);
    expect(result).toBe(2);
    expect(await committed(strategy, 'a', name)).toEqual([{ k: 2 }]);
  });

  test("a fresh collection: the transaction's first call has the fence's index built and goes on; a later one fails as transient, and withTransaction retries it", async () => {
    const f = fence();
    const [first, later] = [fresh(), fresh()];
    await f.runAs('a', async () => {
      const s = await f.startSession();
      s.startTransaction();
      // Nothing sent in the transaction yet: its snapshot will see the index built now.
      expect(await f.collection(first).findOne({ k: 1 }, { session: s })).toBeNull();
      await f.collection(first).insertOne({ k: 1 }, { session: s });
      if (strategy === 'field') {
        // Under 'database' a tenant's collection needs no tenant index.
        const err = await captureError(f.collection(later).findOne({ k: 1 }, { session: s }));
        expect(err).toBeInstanceOf(MongoTransactionError);
        expect(err.hasErrorLabel('TransientTransactionError')).toBe(true);
        expect(err.message).toMatch(/outside the transaction/);
      }
      await s.abortTransaction();
      await s.endSession();
    });
    const third = fresh();
    let runs = 0;
    await f.runAs('a', () =>
      f.withTransaction(async () => {
        runs += 1;
        await f.collection(third).insertOne({ k: runs });
        await f.collection(third).updateOne({ k: runs }, { $set: { v: true } });
      }),
    );
    // The insert, the transaction's first command, has the index built before it: no retry.
    expect(runs).toBe(1);
    expect(await committed(strategy, 'a', third)).toEqual([{ k: runs, v: true }]);
  });
});

describe('commit retries and misuse, as the driver', () => {
  const fence = () => suite.fence;

  test('UnknownTransactionCommitResult retries the commit, not fn', async () => {
    const name = fresh();
    const f = fence();
    let runs = 0;
    await f.runAs('a', () =>
      f.withTransaction(async () => {
        runs += 1;
        await f.collection(name).insertOne({ k: runs });
        // HostUnreachable is retryable: the commit is retried (the driver's own retry, then
        // withTransaction's on UnknownTransactionCommitResult).
        await failNext(2, { failCommands: ['commitTransaction'], errorCode: 6 });
      }),
    );
    expect(runs).toBe(1);
    expect(await committed('field', 'a', name)).toEqual([{ k: 1 }]);
  });

  test('write conflicts between concurrent transactions of one tenant are retried to completion', async () => {
    const name = fresh();
    const f = fence();
    await f.runAs('a', () => f.collection(name).insertOne({ k: 'counter', n: 0 }));
    const N = 6;
    await Promise.all(
      Array.from({ length: N }, () =>
        f.runAs('a', () =>
          f.withTransaction(async () => {
            const doc = await f.collection(name).findOne({ k: 'counter' });
            await f.collection(name).updateOne({ k: 'counter' }, { $set: { n: doc.n + 1 } });
          }),
        ),
      ),
    );
    expect(await committed('field', 'a', name)).toEqual([{ k: 'counter', n: N }]);
  });

  test('errors: a commit with no transaction, a second start, an ended session, another fence\'s session, a foreign session object', async () => {
    const f = fence();
    const c = f.collection(fresh());
    const s = await f.startSession();
    expect(await captureError(s.commitTransaction())).toBeInstanceOf(MongoTransactionError);
    s.startTransaction();
    expect(() => s.startTransaction()).toThrow(MongoTransactionError);
    await s.endSession();
    const ended = await captureError(f.runAs('a', () => c.findOne({}, { session: s })));
    expect(ended).toBeInstanceOf(MongoExpiredSessionError);
    expect(() => s.startTransaction()).toThrow(MongoExpiredSessionError);

    const other = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB }));
    const theirs = await other.startSession();
    const wrongFence = await captureError(f.runAs('a', () => c.insertOne({ k: 1 }, { session: theirs })));
    expect(wrongFence).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG' });
    await theirs.endSession();
    const foreign = await captureError(f.runAs('a', () => c.insertOne({ k: 1 }, { session: { id: 'x' } })));
    expect(foreign).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG' });
    expect(foreign.message).toMatch(/fence\.startSession/);
    expect(await f.runAs('a', () => c.countDocuments({}))).toBe(0);
  });

  test('a cursor opened in a session reads on in it, and fails once the session has ended', async () => {
    const f = fence();
    const c = f.collection(fresh());
    await f.runAs('a', async () => {
      await c.insertMany(Array.from({ length: 10 }, (_, k) => ({ k })));
      await c.countDocuments({});
      const s = await f.startSession();
      s.startTransaction();
      await c.insertOne({ k: 10 }, { session: s });
      const cursor = c.find({}, { session: s, batchSize: 2, sort: { k: 1 } });
      const first = [];
      for (let i = 0; i < 4; i++) first.push((await cursor.next()).k);
      expect(first).toEqual([0, 1, 2, 3]);
      const all = await c.find({}, { session: s, batchSize: 3 }).toArray();
      expect(all).toHaveLength(11);
      await s.abortTransaction();
      await s.endSession();
      const err = await captureError(cursor.toArray());
      expect(err).toBeInstanceOf(MongoExpiredSessionError);
    });
  });

  test('a server error inside a transaction comes back as MongoServerError with its labels', async () => {
    const f = fence();
    const c = f.collection(fresh());
    await f.runAs('a', () => c.insertOne({ _id: 'dup' }));
    let inside;
    const err = await captureError(
      f.runAs('a', () =>
        f.withTransaction(async () => {
          inside = await captureError(c.insertOne({ _id: 'dup' }));
          throw inside;
        }),
      ),
    );
    expect(err).toBe(inside);
    expect(err).toBeInstanceOf(MongoServerError);
    expect(err.code).toBe(11000);
  });

  test('under runAsSystem: the transaction is the system\'s, audited call by call', async () => {
    const f = fence();
    const name = fresh();
    events.length = 0;
    await f.runAsSystem({ reason: 'test: system transaction' }, () =>
      f.withTransaction(async () => {
        await f.collection(name).insertMany([{ k: 1, tenantId: 'a' }, { k: 2, tenantId: 'b' }]);
      }),
    );
    expect(events.map((e) => e.operation)).toEqual(['insertMany']);
    expect(await committed('field', 'a', name)).toEqual([{ k: 1 }]);
    expect(await committed('field', 'b', name)).toEqual([{ k: 2 }]);
    // A tenant cannot join a system session.
    const s = await f.runAsSystem({ reason: 'test: system session' }, () => f.startSession());
    const err = await captureError(f.runAs('a', () => f.collection(name).findOne({}, { session: s })));
    expect(err).toMatchObject({ code: 'TENANT_VIOLATION' });
    await s.endSession();
  });
});

describe('red-team round 18: what an open transaction must not do to other tenants', () => {
  const fence = () => suite.fence;
  const settles = (p) => {
    const s = { done: false };
    s.promise = p.then(
      (value) => Object.assign(s, { done: true, value }),
      (error) => Object.assign(s, { done: true, error }),
    );
    return s;
  };
  // Guards a wait that must not happen: the test fails (it does not hang) when it does.
  const within = (ms, p) => Promise.race([p, new Promise((resolve) => setTimeout(resolve, ms))]);

  test("a tenant's insert held by its own open transaction holds no other tenant's inserts (they never share its command)", async () => {
    const f = fence();
    const c = f.collection(fresh());
    await f.runAs('a', () => c.countDocuments({}));
    const s = await f.runAs('a', () => f.startSession());
    await f.runAs('a', async () => {
      s.startTransaction();
      await c.insertOne({ _id: 'x', k: 'in-tx' }, { session: s });
    });
    // Waits for a's transaction: the same _id, uncommitted.
    const blocked = settles(f.runAs('a', () => c.insertOne({ _id: 'x', k: 'plain' })));
    const others = settles(Promise.all(Array.from({ length: 20 }, (_, k) => f.runAs(k % 2 ? 'b' : 'c', () => c.insertOne({ k })))));
    await within(10_000, others.promise);
    expect(others).toMatchObject({ done: true });
    expect(others.error).toBeUndefined();
    expect(blocked.done).toBe(false);
    await f.runAs('a', () => s.abortTransaction());
    await s.endSession();
    await blocked.promise;
    expect(blocked.error).toBeUndefined();
  });

  test.each([
    ['insertOne', (c) => c.insertOne({ k: 3 })],
    // Round 19: calls whose filter names only _id need no index, yet touch the collection.
    ['findOne by _id', (c) => c.findOne({ _id: 'none' })],
    ['an upsert by _id', (c) => c.updateOne({ _id: 'u' }, { $set: { k: 4 } }, { upsert: true })],
    ['deleteOne by _id', (c) => c.deleteOne({ _id: 'none' })],
  ])("a transaction's first call on a collection (%s) has the fence's index built first: another tenant's first read never waits for the transaction", async (_, first) => {
    const f = fence();
    const name = fresh();
    // Documents, but no fence index yet (written outside the fence).
    await suite.rdb.collection(name).insertMany([{ tenantId: 'a', k: 1 }, { tenantId: 'b', k: 2 }]);
    let release;
    const holding = new Promise((resolve) => {
      release = resolve;
    });
    let touched;
    const wrote = new Promise((resolve) => {
      touched = resolve;
    });
    const tx = f.runAs('a', () =>
      f.withTransaction(async () => {
        await first(f.collection(name));
        touched();
        await holding;
      }),
    );
    await wrote;
    const read = settles(f.runAs('b', () => f.collection(name).find({ k: { $gte: 0 } }).toArray()));
    const insert = settles(f.runAs('c', () => f.collection(name).insertOne({ k: 5 })));
    await within(10_000, Promise.all([read.promise, insert.promise]));
    expect([read.done, insert.done]).toEqual([true, true]);
    expect(read.value.map((d) => d.k)).toEqual([2]);
    release();
    await tx;
  });

  test("a build a transaction needs after it touched something runs outside it without holding anyone; the transaction is doomed: its commit fails as transient", async () => {
    const f = fence();
    const [y, x] = [fresh(), fresh()];
    await suite.rdb.collection(x).insertOne({ tenantId: 'a', k: 1 });
    await f.runAs('a', () => f.collection(y).countDocuments({}));
    const s = await f.runAs('a', () => f.startSession());
    await f.runAs('a', async () => {
      s.startTransaction();
      await f.collection(y).insertOne({ k: 1 }, { session: s });
      const err = await captureError(f.collection(x).findOne({ _id: 'none' }, { session: s }));
      expect(err.hasErrorLabel('TransientTransactionError')).toBe(true);
    });
    // The transaction stays open (the app ignored the error): b's calls on x go on.
    const b = settles(f.runAs('b', () => Promise.all([f.collection(x).insertOne({ k: 2 }), f.collection(x).find({}).toArray()])));
    await within(10_000, b.promise);
    expect(b.done).toBe(true);
    expect(b.error).toBeUndefined();
    await f.runAs('a', async () => {
      // Nothing more of a doomed transaction is sent, and its commit fails as the server's would.
      const more = await captureError(f.collection(y).insertOne({ k: 2 }, { session: s }));
      expect(more).toMatchObject({ codeName: 'NoSuchTransaction' });
      const commit = await captureError(s.commitTransaction());
      expect(commit).toMatchObject({ codeName: 'NoSuchTransaction' });
      expect(commit.hasErrorLabel('TransientTransactionError')).toBe(true);
      await s.endSession();
    });
    expect(await committed('field', 'a', y)).toEqual([]);
  });

  test('a cursor of a session used without a transaction reads on across a later transaction of that session', async () => {
    const f = fence();
    const c = f.collection(fresh());
    await f.runAs('a', async () => {
      await c.insertMany(Array.from({ length: 30 }, (_, k) => ({ k })));
      const s = await f.startSession();
      const cursor = c.find({}, { session: s, batchSize: 5, sort: { k: 1 } });
      const seen = [];
      for (let i = 0; i < 7; i++) seen.push((await cursor.next()).k);
      await s.withTransaction(async (ss) => {
        await c.updateOne({ k: 0 }, { $set: { v: 1 } }, { session: ss });
      });
      for await (const d of cursor) seen.push(d.k);
      expect(seen).toEqual(Array.from({ length: 30 }, (_, k) => k));
      await s.endSession();
    });
  });

  test('work left behind by withTransaction runs outside the session once fn has settled, for any tenant', async () => {
    const f = fence();
    const c = f.collection(fresh());
    let later;
    await f.runAs('a', () =>
      f.withTransaction(async () => {
        await c.insertOne({ k: 'tx' });
        // A timer set inside fn, fired after the commit.
        later = new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
          Promise.all([c.insertOne({ k: 'later-a' }), f.runAs('b', () => c.insertOne({ k: 'later-b' }))]),
        );
      }),
    );
    await later;
    expect(await committed('field', 'a', c.collectionName)).toEqual([{ k: 'later-a' }, { k: 'tx' }]);
    expect(await committed('field', 'b', c.collectionName)).toEqual([{ k: 'later-b' }]);
  });

  test("another tenant cannot commit, abort or end a tenant's session", async () => {
    const f = fence();
    const c = f.collection(fresh());
    const s = await f.runAs('a', () => f.startSession());
    await f.runAs('a', async () => {
      s.startTransaction();
      await c.insertOne({ k: 1 }, { session: s });
    });
    for (const act of [() => s.commitTransaction(), () => s.abortTransaction(), () => s.endSession()]) {
      const err = await captureError(f.runAs('b', act));
      expect(err).toMatchObject({ name: 'TenantError', code: 'TENANT_VIOLATION' });
    }
    expect(await captureError(f.runAs('b', async () => s.startTransaction()))).toBeInstanceOf(MongoTransactionError);
    await f.runAs('a', async () => {
      await c.insertOne({ k: 2 }, { session: s });
      await s.commitTransaction();
    });
    // Between transactions too: b cannot start one in a's session.
    expect(await captureError(f.runAs('b', async () => s.startTransaction()))).toMatchObject({ code: 'TENANT_VIOLATION' });
    expect(s.transaction.state).toBe('TRANSACTION_COMMITTED');
    await f.runAs('a', () => s.endSession());
    expect(await committed('field', 'a', c.collectionName)).toEqual([{ k: 1 }, { k: 2 }]);
  });

  test('a commit that fails as transient runs fn again, and the session stays usable', async () => {
    const f = fence();
    const name = fresh();
    await f.runAs('a', () => f.collection(name).countDocuments({}));
    let runs = 0;
    await f.runAs('a', () =>
      f.withTransaction(async () => {
        runs += 1;
        await f.collection(name).insertOne({ k: runs });
        if (runs === 1) await failNext(1, { failCommands: ['commitTransaction'], errorCode: 251, errorLabels: ['TransientTransactionError'] });
      }),
    );
    expect(runs).toBe(2);
    expect(await committed('field', 'a', name)).toEqual([{ k: 2 }]);
  });

  test('a $lookup into a collection that needs the fence index, after the transaction wrote there, is retried, not stuck', async () => {
    const f = fence();
    const [left, right] = [fresh(), fresh()];
    await suite.rdb.collection(right).insertOne({ tenantId: 'a', k: 1 });
    await f.runAs('a', () => f.collection(left).insertOne({ k: 1 }));
    let runs = 0;
    const joined = await f.runAs('a', () =>
      f.withTransaction(async () => {
        runs += 1;
        await f.collection(left).updateOne({ k: 1 }, { $set: { v: runs } });
        return f.collection(left).aggregate([{ $lookup: { from: right, localField: 'k', foreignField: 'k', as: 'r' } }, { $project: { _id: 0, k: 1, n: { $size: '$r' } } }]).toArray();
      }),
    );
    expect(joined).toEqual([{ k: 1, n: 1 }]);
  });

  test("a call's own writeConcern and readConcern inside a transaction are the transaction's, as with the driver", async () => {
    const f = fence();
    const c = f.collection(fresh());
    await f.runAs('a', () => c.countDocuments({}));
    await f.runAs('a', () =>
      f.withTransaction(async () => {
        await c.insertOne({ k: 1 }, { writeConcern: { w: 1 } });
        await c.bulkWrite([{ insertOne: { document: { k: 2 } } }], { writeConcern: { w: 'majority' } });
        expect(await c.countDocuments({}, { readConcern: { level: 'majority' } })).toBe(2);
      }),
    );
    expect(await committed('field', 'a', c.collectionName)).toEqual([{ k: 1 }, { k: 2 }]);
  });

  test('the driver\'s state names and messages for misuse', async () => {
    const f = fence();
    const s = await f.startSession();
    expect((await captureError(s.abortTransaction())).message).toBe('No transaction started');
    s.startTransaction();
    await s.commitTransaction();
    expect(s.transaction.state).toBe('TRANSACTION_COMMITTED_EMPTY');
    expect((await captureError(s.abortTransaction())).message).toBe('Cannot call abortTransaction after calling commitTransaction');
    s.startTransaction();
    await s.abortTransaction();
    expect((await captureError(s.abortTransaction())).message).toBe('Cannot call abortTransaction twice');
    expect((await captureError(s.commitTransaction())).message).toBe('Cannot call commitTransaction after calling abortTransaction');
    await s[Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]();
    expect(s.hasEnded).toBe(true);
  });
});
