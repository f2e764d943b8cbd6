'use strict';
// tenantfence/testing's isolation probe against a real mongod: every command a monitored
// fence sends is seen, attributed to the tenant of the operation that sent it, and audited.

const { TenantFence } = require('../..');
const { isolationProbe, auditCommand, withTenant } = require('../../lib/testing');
const { useSuite, uri, dbName, snapshot, expectSyncTenantError, sleep } = require('../helpers/fixtures');

const suite = useSuite('probe', { monitorCommands: true });

/** Every collection method once, with fixed _ids so two runs give equal results. */
async function workload(fence, notes = 'notes', refs = 'refs') {
  const n = fence.collection(notes);
  const r = fence.collection(refs);
  const out = [];
  out.push(await n.insertOne({ _id: 1, n: 1, tag: 'x' }));
  out.push(await n.insertMany([{ _id: 2, n: 2, tag: 'y' }, { _id: 3, n: 3, tag: 'x' }]));
  out.push(await r.insertMany([{ _id: 10, ref: 1 }, { _id: 11, ref: 3 }]));
  out.push(await n.findOne({ n: { $gte: 2 } }, { sort: { n: 1 } }));
  out.push(await n.find({}, { batchSize: 1, sort: { _id: 1 } }).toArray()); // getMore
  out.push(await n.find({ tag: 'X' }, { collation: { locale: 'en', strength: 2 } }).toArray());
  out.push(
    await n
      .aggregate([
        { $match: { tag: 'x' } },
        { $lookup: { from: refs, localField: '_id', foreignField: 'ref', as: 'refs' } },
        { $unionWith: { coll: refs, pipeline: [{ $project: { _id: 1 } }] } },
        {
          $facet: {
            g: [{ $graphLookup: { from: refs, startWith: '$_id', connectFromField: 'ref', connectToField: 'ref', as: 'g' } }],
            c: [{ $count: 'c' }],
          },
        },
      ])
      .toArray(),
  );
  out.push(await n.countDocuments({ tag: 'x' }));
  out.push(await n.countDocuments({}, { collation: { locale: 'en', strength: 2 } }));
  out.push(await n.estimatedDocumentCount());
  out.push(await n.distinct('tag'));
  out.push(await n.updateOne({ _id: 1 }, { $set: { m: 1 } }));
  out.push(await n.updateMany({ tag: 'x' }, [{ $set: { k: '$n' } }]));
  out.push(await n.updateOne({ _id: 100 }, { $set: { n: 100 } }, { upsert: true }));
  out.push(await n.replaceOne({ _id: 2 }, { n: 20, tag: 'y' }));
  out.push(await n.findOneAndUpdate({ _id: 3 }, { $inc: { n: 1 } }, { returnDocument: 'after' }));
  out.push(await n.findOneAndReplace({ _id: 100 }, { n: 101 }, { returnDocument: 'after' }));
  out.push(await n.findOneAndDelete({ _id: 100 }));
  out.push(
    await n.bulkWrite([
      { insertOne: { document: { _id: 4, n: 4 } } },
      { updateOne: { filter: { _id: 4 }, update: { $set: { b: 1 } }, upsert: true } },
      { replaceOne: { filter: { _id: 4 }, replacement: { n: 40 } } },
      { deleteOne: { filter: { _id: 4 } } },
    ]),
  );
  out.push(await n.deleteOne({ _id: 3 }));
  out.push(await n.deleteMany({ tag: 'y' }));
  out.push(await n.createIndex({ n: 1 }));
  return out;
}

describe('isolationProbe on a fence connected with monitorCommands', () => {
  test('every command of every collection method is seen, attributed to the tenant and scoped', async () => {
    const probe = isolationProbe(suite.fence);
    probe.reset();
    await suite.as('acme', () => workload(suite.fence));
    const seen = probe.commands;
    const names = new Set(seen.map((c) => c.command));
    for (const name of ['insert', 'find', 'getMore', 'aggregate', 'distinct', 'update', 'delete', 'findAndModify', 'createIndexes']) {
      expect(names).toContain(name);
    }
    // Not one command left the operation's task without its tenant.
    expect(seen.filter((c) => c.tenant !== 'acme')).toEqual([]);
    expect(seen.filter((c) => c.data && !c.scoped)).toEqual([]);
    for (const c of seen) expect(c.database).toBe(suite.DB);
    expect(seen.filter((c) => c.data).length).toBeGreaterThanOrEqual(22);
    expect(probe.violations()).toEqual([]);
    expect(() => probe.assertIsolated()).not.toThrow();
  });

  test('a cursor read later, in another tenant\'s context, still reports the tenant that opened it', async () => {
    const probe = isolationProbe(suite.fence);
    const notes = suite.fence.collection('late');
    await suite.as('acme', () => notes.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }]));
    // Warms what the fence looks up once per collection: the default collation, the indexes.
    await suite.as('acme', () => notes.countDocuments({}));
    const cursor = suite.as('acme', () => notes.find({}, { batchSize: 1 }));
    probe.reset();
    await suite.as('globex', async () => {
      expect(await cursor.next()).toEqual({ _id: 1, tenantId: 'acme' });
      expect(await cursor.next()).toEqual({ _id: 2, tenantId: 'acme' });
      await cursor.close();
    });
    // killCursors goes out from the driver's cleanup task after close() resolves: wait for it.
    const deadline = Date.now() + 10_000;
    while (!probe.commands.some((c) => c.command === 'killCursors') && Date.now() < deadline) await sleep(20);
    const seen = probe.commands.map((c) => [c.command, c.tenant, c.scoped]);
    expect(seen).toEqual([
      ['find', 'acme', true],
      ['getMore', 'acme', true],
      // The driver sends killCursors from its own cleanup task, outside the operation.
      ['killCursors', undefined, true],
    ]);
  });

  test('findOne by _id goes out unfiltered (mongod\'s fast path) and is accounted for, not flagged', async () => {
    const probe = isolationProbe(suite.fence);
    const c = suite.fence.collection('byid');
    await suite.as('acme', () => c.insertOne({ _id: 'mine' }));
    await suite.as('globex', () => c.insertOne({ _id: 'theirs' }));
    probe.reset();
    expect(await suite.as('acme', () => c.findOne({ _id: 'mine' }))).toEqual({ _id: 'mine', tenantId: 'acme' });
    expect(await suite.as('acme', () => c.findOne({ _id: 'theirs' }))).toBeNull();
    const finds = probe.commands.filter((x) => x.command === 'find');
    expect(finds.map((x) => [x.tenant, x.scoped])).toEqual([['acme', true], ['acme', true]]);
    // The same wire command without the fence's by-_id path is what the audit alone would flag.
    const bare = auditCommand({ find: 'byid', filter: { _id: 'theirs' }, limit: 1 }, { tenant: 'acme', database: suite.DB });
    expect(bare.scoped).toBe(false);
  });

  test('concurrent operations of different tenants are each attributed to their own tenant', async () => {
    const probe = isolationProbe(suite.fence);
    const c = suite.fence.collection('mixed');
    await suite.as('acme', () => c.insertOne({ _id: 'warm' })); // the collation lookup happens once
    await suite.as('acme', () => c.countDocuments({})); // so does the index listing (and the tenant index build)
    probe.reset();
    const tenants = Array.from({ length: 40 }, (_, i) => (i % 2 ? 'acme' : 'globex'));
    await Promise.all(tenants.map((t, i) => suite.as(t, () => (i % 4 < 2 ? c.insertOne({ i }) : c.findOne({ i })))));
    const data = probe.commands.filter((x) => x.data);
    expect(data).toHaveLength(40);
    // A command attributed to the wrong tenant would fail the audit: its filter or document names the other one.
    expect(data.filter((x) => !x.scoped)).toEqual([]);
    expect(data.filter((x) => x.tenant === 'acme')).toHaveLength(20);
  });

  test('runAsSystem commands are reported as system and fail assertIsolated unless allowed', async () => {
    const probe = isolationProbe(suite.fence);
    await suite.as('acme', () => suite.fence.collection('sys').insertOne({ _id: 1 }));
    probe.reset();
    const found = await suite.fence.runAsSystem({ reason: 'nightly report' }, () => suite.fence.collection('sys').find({}).toArray());
    expect(found).toEqual([{ _id: 1, tenantId: 'acme' }]);
    const [v] = probe.violations();
    expect(v).toMatchObject({
      command: 'find',
      collection: 'sys',
      database: suite.DB,
      system: true,
      systemReason: 'nightly report',
      data: true,
      scoped: false,
    });
    expect(v.tenant).toBeUndefined();
    let err;
    try {
      probe.assertIsolated();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('TenantIsolationError');
    expect(err.message).toContain(`find on ${suite.DB}.sys inside runAsSystem (reason: "nightly report")`);
    expect(err.message).toContain('allowSystem');
    expect(err.violations).toHaveLength(1);
    expect(() => probe.assertIsolated({ allowSystem: true })).not.toThrow();
    expect(isolationProbe(suite.fence, { allowSystem: true }).violations()).toEqual([]);
    probe.reset();
    expect(probe.violations()).toEqual([]);
    expect(probe.commands).toEqual([]);
  });

  test('results are the same with and without monitoring', async () => {
    const plainDb = suite.dropAfter(dbName('probe_plain'));
    const plain = suite.closeAfter(await TenantFence.connect(uri(), { database: plainDb, monitorCommands: false }));
    const monitored = await suite.as('acme', () => workload(suite.fence, 'same', 'same_refs'));
    const unmonitored = await suite.as('acme', () => workload(plain, 'same', 'same_refs'));
    expect(monitored).toEqual(unmonitored);
    expect(await snapshot(suite.raw.db(suite.DB).collection('same'))).toEqual(await snapshot(suite.raw.db(plainDb).collection('same')));
  });
});

describe('monitoring is off unless asked for', () => {
  const ENV = 'TENANTFENCE_MONITOR_COMMANDS';
  let saved;
  beforeEach(() => {
    saved = process.env[ENV];
    delete process.env[ENV];
  });
  afterEach(() => {
    if (saved === undefined) delete process.env[ENV];
    else process.env[ENV] = saved;
  });

  const connect = async (options) => suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, ...options }));

  test('a fence connected without the option records nothing and has no probe', async () => {
    const f = await connect({});
    expect(f._drainCommands()).toBeNull();
    expect(() => isolationProbe(f)).toThrow(/monitorCommands: true/);
    expect(() => isolationProbe({})).toThrow(TypeError);
    expect(() => isolationProbe(() => f)).toThrow(TypeError);
  });

  test('TENANTFENCE_MONITOR_COMMANDS=1 turns it on; the option wins over the variable', async () => {
    process.env[ENV] = '1';
    const on = await connect({});
    expect(on._drainCommands()).not.toBeNull();
    const off = await connect({ monitorCommands: false });
    expect(off._drainCommands()).toBeNull();
  });

  test('a non-boolean monitorCommands is a TypeError', async () => {
    await expect(TenantFence.connect(uri(), { monitorCommands: 'yes' })).rejects.toThrow(TypeError);
    await expect(TenantFence.connect(uri(), { monitorCommands: 'yes' })).rejects.toThrow(/monitorCommands/);
  });
});

describe('strategy database', () => {
  test('commands go to the tenant\'s database and are reported scoped', async () => {
    const base = dbName('pdb').slice(0, 30);
    const f = suite.closeAfter(await TenantFence.connect(uri(), { database: base, strategy: 'database', monitorCommands: true }));
    const acme = suite.dropAfter(f.databaseFor('acme'));
    const probe = isolationProbe(f);
    await f.runAs('acme', async () => {
      await f.collection('n').insertOne({ _id: 1 });
      await f.collection('n').aggregate([{ $lookup: { from: 'o', localField: '_id', foreignField: 'x', as: 'o' } }]).toArray();
    });
    const data = probe.commands.filter((c) => c.data);
    expect(data.map((c) => [c.command, c.database, c.scoped])).toEqual([
      ['insert', acme, true],
      ['aggregate', acme, true],
    ]);
  });
});

describe('auditCommand (the probe\'s rule through the addon)', () => {
  const as = { tenant: 'acme', database: 'app' };

  test('a crafted unscoped command is reported with the reason', () => {
    expect(auditCommand({ find: 'notes', filter: { tenantId: 'acme' }, hint: { tenantId: 1 } }, as)).toMatchObject({ scoped: true, data: true, tenant: 'acme' });
    // Without a hint on a tenant index the plan could examine other tenants' documents (finding 9).
    expect(auditCommand({ find: 'notes', filter: { tenantId: 'acme' } }, as)).toMatchObject({ scoped: false });
    const leaks = [
      { find: 'notes', filter: {} },
      { find: 'notes', filter: { $or: [{ tenantId: 'acme' }, { public: true }] } },
      { aggregate: 'notes', pipeline: [{ $match: { tenantId: 'acme' } }, { $lookup: { from: 'users', localField: 'u', foreignField: '_id', as: 'u' } }] },
      { insert: 'notes', documents: [{ _id: 1, text: 'no tenant' }] },
      { update: 'notes', updates: [{ q: { tenantId: 'acme' }, u: { $set: { tenantId: 'globex' } } }] },
      { delete: 'notes', deletes: [{ q: { _id: 1 }, limit: 1 }] },
      { drop: 'notes' },
    ];
    for (const cmd of leaks) {
      const rec = auditCommand(cmd, as);
      expect([Object.keys(cmd)[0], rec.scoped, typeof rec.reason]).toEqual([Object.keys(cmd)[0], false, 'string']);
    }
    expect(auditCommand({ find: 'notes', filter: {} }, { system: true })).toMatchObject({ system: true, scoped: false });
    expect(auditCommand({ getMore: 1, collection: 'notes' }, as)).toMatchObject({ data: false, scoped: true });
    // 'app~acme' is fence.databaseFor('acme') under base 'app' (docs/options.md); 'app_acme' is no tenant's.
    expect(auditCommand({ find: 'n' }, { tenant: 'acme', strategy: 'database', database: 'app', db: 'app~acme' }).scoped).toBe(true);
    expect(auditCommand({ find: 'n' }, { tenant: 'acme', strategy: 'database', database: 'app', db: 'app_acme' }).scoped).toBe(false);
    expect(auditCommand({ find: 'n' }, { tenant: 'acme', strategy: 'database', database: 'app', db: 'app~globex' }).scoped).toBe(false);
  });

  test("judges the commands of the official driver's command monitoring", async () => {
    const { MongoClient } = require('mongodb');
    const client = new MongoClient(uri(), { monitorCommands: true });
    const seen = [];
    client.on('commandStarted', (e) => {
      if (e.commandName === 'find') seen.push(auditCommand(e.command, { tenant: 'acme', database: suite.DB, db: e.databaseName }));
    });
    try {
      const raw = client.db(suite.DB).collection('official');
      await raw.createIndex({ tenantId: 1 });
      await raw.find({ tenantId: 'acme', x: 1 }, { hint: { tenantId: 1 } }).toArray();
      await raw.find({ x: 1 }).toArray();
    } finally {
      await client.close();
    }
    expect(seen.map((r) => [r.command, r.collection, r.scoped])).toEqual([
      ['find', 'official', true],
      ['find', 'official', false],
    ]);
  });

  test('bad arguments are TypeErrors', () => {
    expect(() => auditCommand(null, as)).toThrow(TypeError);
    expect(() => auditCommand({ find: 'n' }, { tenant: 'a', strategy: 'shared' })).toThrow(TypeError);
    expect(() => auditCommand({ find: 'n' }, { tenant: 'a', system: true })).toThrow(TypeError);
  });
});

describe('withTenant', () => {
  test('runs fn as the tenant for every fence and returns what fn returns', async () => {
    const got = await withTenant('acme', async () => {
      await suite.fence.collection('wt').insertOne({ _id: 1 });
      return [suite.fence.currentTenant(), await suite.fence.collection('wt').findOne({})];
    });
    expect(got).toEqual(['acme', { _id: 1, tenantId: 'acme' }]);
    expect(withTenant('a', () => withTenant('b', () => suite.fence.currentTenant()))).toBe('b');
    expect(suite.fence.currentTenant()).toBeUndefined();
  });

  test('an invalid id throws TENANT_INVALID before fn runs', () => {
    let ran = false;
    expectSyncTenantError(() => withTenant('a.b', () => (ran = true)), 'TENANT_INVALID');
    expectSyncTenantError(() => withTenant('x'.repeat(65), () => (ran = true)), 'TENANT_INVALID');
    expect(ran).toBe(false);
    expect(withTenant('a.b'.replace('.', ':'), () => suite.fence.currentTenant(), { tenantIdPattern: /^[a-z:]+$/ })).toBe('a:b');
    expect(() => withTenant('a', 'not a function')).toThrow(TypeError);
  });
});

describe('shared commands under the probe: monitoring keeps the paths production takes', () => {
  const TENANTS = ['t1', 't2', 't3', 't4', 't5'];
  const PER_TENANT = 40;

  /** Waits for `cond()`, polling; fails after 30 s naming `what`. */
  async function until(cond, what) {
    const deadline = Date.now() + 30_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(5);
    }
  }

  for (const strategy of ['field', 'database']) {
    test(`${strategy}: a burst of five tenants' inserts held behind their tenant's command is judged per caller, and each document lands in its tenant's place`, async () => {
      const base = suite.dropAfter(dbName('pshare'));
      const fence = suite.closeAfter(await TenantFence.connect(uri(), { database: base, strategy, monitorCommands: true }));
      if (strategy === 'database') for (const t of TENANTS) suite.dropAfter(fence.databaseFor(t));
      const notes = fence.collection('notes');
      const probe = isolationProbe(fence);
      probe.reset();
      const admin = suite.raw.db('admin');
      // fsyncLock holds every write, so the first insert of each lane stays on the wire
      // until the whole burst has queued behind it: sharing is certain, not a matter of speed.
      await admin.command({ fsync: 1, lock: true });
      let calls;
      try {
        calls = TENANTS.flatMap((t) =>
          Array.from({ length: PER_TENANT }, (_, i) => fence.runAs(t, () => notes.insertOne({ owner: t, i }))),
        );
        // One lane per tenant under both strategies (scope::share: a shared insert carries one
        // tenant's documents, red-team round 18).
        const lanes = TENANTS.length;
        await until(() => fence._queuedCalls() === calls.length - lanes, 'the burst to queue');
      } finally {
        await admin.command({ fsyncUnlock: 1 });
      }
      await Promise.all(calls);

      for (const t of TENANTS) {
        const stored =
          strategy === 'field'
            ? await suite.raw.db(base).collection('notes').find({ tenantId: t }).toArray()
            : await suite.raw.db(fence.databaseFor(t)).collection('notes').find().toArray();
        expect([t, stored.length, stored.filter((d) => d.owner !== t).length]).toEqual([t, PER_TENANT, 0]);
      }
      expect(probe.violations()).toEqual([]);
      const inserts = probe.commands.filter((c) => c.command === 'insert');
      // One record per caller, shared ones naming how many callers their command carried.
      expect(inserts).toHaveLength(TENANTS.length * PER_TENANT);
      const shared = inserts.filter((c) => c.sharedBy > 1);
      expect(shared.length).toBe(calls.length - TENANTS.length);
      for (const c of inserts) {
        expect(c.scoped).toBe(true);
        expect(c.database).toBe(fence.databaseFor(c.tenant));
      }
    });
  }

  test("a burst of five tenants' _id lookups held behind their tenant's find is judged per caller, and each caller gets only its own tenant's document", async () => {
    const app = `pshare${process.pid}`;
    const fence = suite.closeAfter(
      await TenantFence.connect(`${uri()}${uri().includes('?') ? '&' : '?'}appName=${app}`, { database: suite.DB, monitorCommands: true }),
    );
    const coll = fence.collection('lookups');
    const { ObjectId } = require('../..');
    const docs = TENANTS.flatMap((t) => Array.from({ length: 8 }, (_, i) => ({ _id: new ObjectId(), tenantId: t, i })));
    await suite.rdb.collection('lookups').insertMany(docs);
    // The first lookup also learns the collection's default collation; do it before the hold.
    await fence.runAs('t1', () => coll.findOne({ _id: docs[0]._id }));
    const probe = isolationProbe(fence);
    probe.reset();
    const admin = suite.raw.db('admin');
    // Lookups share a lane per tenant: hold each tenant's lane with a first lookup blocked on
    // the server, queue the burst behind them, then kill the held ones.
    await admin.command({
      configureFailPoint: 'failCommand',
      mode: { times: TENANTS.length },
      data: { failCommands: ['find'], blockConnection: true, blockTimeMS: 50_000, appName: app },
    });
    let calls;
    let leaders;
    try {
      leaders = TENANTS.map((t) => fence.runAs(t, () => coll.findOne({ _id: new ObjectId() })).catch((e) => e));
      const blocked = () => admin.aggregate([{ $currentOp: {} }, { $match: { appName: app, 'command.find': 'lookups' } }]).toArray();
      let ops;
      while ((ops = await blocked()).length < TENANTS.length);
      calls = [];
      for (let k = 0; k < 200; k++) {
        const t = TENANTS[k % TENANTS.length];
        const d = docs[(k * 7) % docs.length];
        calls.push(fence.runAs(t, async () => ({ t, d, got: await coll.findOne({ _id: d._id }) })));
      }
      await until(() => fence._queuedCalls() === calls.length, 'the burst to queue');
      for (const op of ops) await admin.command({ killOp: 1, op: op.opid });
    } finally {
      await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
    }
    for (const e of await Promise.all(leaders)) expect(e).toMatchObject({ codeName: 'Interrupted' });
    const results = await Promise.all(calls);
    let own = 0;
    for (const { t, d, got } of results) {
      expect(got).toEqual(d.tenantId === t ? d : null);
      if (got) own++;
    }
    expect(own).toBeGreaterThan(0);
    expect(own).toBeLessThan(results.length);
    expect(probe.violations()).toEqual([]);
    const finds = probe.commands.filter((c) => c.command === 'find');
    // Five held lookups, then one shared find per tenant with its 40 queued lookups.
    expect(finds).toHaveLength(205);
    expect(finds.filter((c) => c.sharedBy === 40)).toHaveLength(200);
    expect(finds.every((c) => c.scoped && TENANTS.includes(c.tenant))).toBe(true);
  });
});
