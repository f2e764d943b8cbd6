'use strict';
// Red team of tenantfence/mongoose (the Mongoose driver; docs/red-team.md round 27). Each test
// failed on the code it was written against. Run for Mongoose 9 and Mongoose 8 where relevant.

const { MongoClient } = require('mongodb');
const { mongooseOn } = require('../mongoose/models');

const URI = () => process.env.MONGODB_URI;
const newDb = (p) => `rt3_${p}_${process.pid}_${Math.random().toString(16).slice(2, 8)}`;

async function setup(pkg) {
  const m = mongooseOn(pkg);
  const DB = newDb(pkg === 'mongoose' ? 'mg9' : 'mg8');
  const Secret = m.model('Secret', new m.Schema({ s: String, meta: m.Schema.Types.Mixed }));
  await m.connect(URI(), { database: DB });
  const fence = m.connection.fence;
  await Secret.init();
  await fence.runAs('bob', () => Secret.create({ s: 'bob-secret' }));
  await fence.runAs('alice', () => Secret.create({ s: 'alice-secret', meta: 'x' }));
  return { m, DB, Secret, fence };
}

async function teardown(ctx) {
  if (!ctx) return;
  await ctx.m.disconnect();
  const raw = await MongoClient.connect(URI());
  await raw.db(ctx.DB).dropDatabase();
  await raw.close();
}

describe.each([['mongoose'], ['mongoose8']])('%s: Model.init system context reaches app hooks', (pkg) => {
  let ctx;
  beforeAll(async () => {
    ctx = await setup(pkg);
  });
  afterAll(() => teardown(ctx));

  // FINDING 1 (high): the driver runs Mongoose's whole Model.init inside runAsSystem, and
  // Model.init calls app code: schema.emit('init') listeners (plugins), pre/post
  // ('createCollection') middleware. That code gets unscoped access it never asked for, even
  // when the model is compiled during tenant alice's request: alice's request reads bob's data.
  test("a model compiled inside alice's request: its schema 'init' listener reads only alice's data", async () => {
    const { m, Secret, fence } = ctx;
    const seen = [];
    const tenants = [];
    await fence.runAs('alice', async () => {
      const sch = new m.Schema({ x: String });
      // e.g. a plugin that warms a cache when its model is compiled
      sch.on('init', () => {
        tenants.push(fence.currentTenant());
        seen.push(Secret.find().lean().then((r) => r.map((d) => d.s), (e) => e.code));
      });
      const Lazy = m.model(`LazyA_${pkg}`, sch); // compiled during alice's request
      await Promise.resolve(Lazy.$init).catch(() => {}); // (only to let init finish for the assertion)
    });
    const got = (await Promise.all(seen)).flat();
    // Expected: the listener runs as alice or in no context (its reads refused): never as
    // system, never bob's document.
    expect(got).not.toContain('bob-secret');
    expect(tenants.every((t) => t === 'alice' || t === undefined)).toBe(true);
  });

  test("pre('createCollection') middleware of a model compiled in alice's request does not run as system", async () => {
    const { m, Secret, fence } = ctx;
    let got;
    await fence.runAs('alice', async () => {
      const sch = new m.Schema({ x: String });
      sch.pre('createCollection', async function () {
        got = await Secret.find().lean().then((r) => r.map((d) => d.s), (e) => e.code);
      });
      const Lazy = m.model(`LazyB_${pkg}`, sch);
      await Promise.resolve(Lazy.$init).catch(() => {});
    });
    expect(got).not.toContain('bob-secret');
  });

  test("at startup (no context) a plugin's pre('createCollection') query is TENANT_MISSING, not unscoped", async () => {
    const { m, Secret } = ctx;
    let got;
    const sch = new m.Schema({ y: String });
    sch.pre('createCollection', async function () {
      got = await Secret.find().lean().then((r) => r.map((d) => d.s), (e) => e.code);
    });
    const L = m.model(`LazyC_${pkg}`, sch);
    await Promise.resolve(L.$init).catch(() => {});
    expect(got).toBe('TENANT_MISSING');
  });
});

describe('mongoose (9): the bson 7 -> 6 copy', () => {
  let ctx;
  beforeAll(async () => {
    ctx = await setup('mongoose');
  });
  afterAll(() => teardown(ctx));

  // FINDING 2 (medium): toFenceBson converts ANY object with a `_bsontype` string and no bson
  // version symbol, including plain objects parsed from JSON, into a real bson 6 value. bson 6
  // refuses such objects ("Unsupported BSON version"), which is what stops request-body BSON
  // injection; on Mongoose 8 (no copy) the fence refuses them. On Mongoose 9 they become a
  // real BSONRegExp (a string match becomes "match everything") or a Code value stored.
  test('a JSON body {"_bsontype":"BSONRegExp"} in a Mixed filter is not turned into a regex', async () => {
    const { Secret, fence } = ctx;
    await fence.runAs('alice', () => Secret.create({ s: 'alice-2', meta: 'y' }));
    const body = JSON.parse('{"meta":{"_bsontype":"BSONRegExp","pattern":".*","options":""}}');
    const r = await fence.runAs('alice', async () => await Secret.find({ meta: body.meta }).lean()).then((d) => d.map((x) => x.s), (e) => e.message);
    // Mongoose 8 on this driver: 'Unsupported BSON version' refusal. Mongoose 9: every document.
    expect(Array.isArray(r) ? r : []).toEqual([]);
  });

  test('a JSON body {"_bsontype":"Code"} is not stored as server-side JavaScript', async () => {
    const { Secret, fence, DB } = ctx;
    const body = JSON.parse('{"meta":{"_bsontype":"Code","code":"function(){return 1}"}}');
    await fence.runAs('alice', () => Secret.create({ s: 'code', meta: body.meta })).catch(() => {});
    const raw = await MongoClient.connect(URI());
    const stored = await raw.db(DB).collection('secrets').findOne({ s: 'code' });
    await raw.close();
    expect(stored?.meta?._bsontype).not.toBe('Code');
  });
});

describe.each([['mongoose'], ['mongoose8']])('%s: Model.collection methods called without an options argument', (pkg) => {
  let ctx;
  beforeAll(async () => {
    ctx = await setup(pkg);
  });
  afterAll(() => teardown(ctx));

  // FINDING 3 (high, integrity): delegate() treats the LAST argument of LAST_OPTIONS methods
  // as options and runs opts() on it even when it is the filter or the document (no options
  // given). opts() drops every key starting with '_' (so `_id`), every MONGOOSE_ONLY name
  // (`model`, `strict`, `context`, `new`, `lean` ...) and `projection`. Model.collection /
  // connection.collection(name) are documented as the fence's stand-ins; with them
  // `findOne({ _id })` returns another document, `deleteMany({ _id })` deletes every document
  // of the tenant, `insertOne({ _id, model })` loses `_id` and `model`.
  test('Model.collection.findOne({ _id }) returns that document', async () => {
    const { Secret, fence } = ctx;
    await fence.runAs('alice', async () => {
      const [, second] = await Secret.create([{ s: 'f1' }, { s: 'f2' }]);
      const got = await Secret.collection.findOne({ _id: second._id });
      expect(got && got.s).toBe('f2');
    });
  });

  test('Model.collection.deleteMany({ _id }) deletes one document, not all of the tenant', async () => {
    const { Secret, fence } = ctx;
    await fence.runAs('alice', async () => {
      const [one] = await Secret.create([{ s: 'd1' }, { s: 'd2' }, { s: 'd3' }]);
      const before = await Secret.countDocuments();
      const r = await Secret.collection.deleteMany({ _id: one._id });
      expect(r.deletedCount).toBe(1);
      expect(await Secret.countDocuments()).toBe(before - 1);
    });
  });

  test('Model.collection.insertOne(doc) keeps doc._id and a field named `model`', async () => {
    const { Secret, fence, DB } = ctx;
    await fence.runAs('alice', async () => {
      const r = await Secret.collection.insertOne({ _id: 'chosen-id', s: 'ins', model: 'T-800' });
      expect(r.insertedId).toBe('chosen-id');
    });
    const raw = await MongoClient.connect(URI());
    const stored = await raw.db(DB).collection('secrets').findOne({ s: 'ins' });
    await raw.close();
    expect(stored && stored.model).toBe('T-800');
  });
});

describe('mongoose: Model.init system context also writes', () => {
  let ctx;
  beforeAll(async () => {
    ctx = await setup('mongoose');
  });
  afterAll(() => teardown(ctx));

  // FINDING 1, write side: the same hook, during alice's request, updates bob's document.
  test("post('createCollection') hook of a model compiled in alice's request cannot update bob's document", async () => {
    const { m, Secret, fence, DB } = ctx;
    await fence.runAs('alice', async () => {
      const sch = new m.Schema({ x: String });
      sch.post('createCollection', async function () {
        await Secret.updateMany({}, { $set: { s: 'touched-by-alice-request' } }).catch(() => {});
      });
      const Lazy = m.model('LazyW', sch);
      await Promise.resolve(Lazy.$init).catch(() => {});
    });
    const raw = await MongoClient.connect(URI());
    const bob = await raw.db(DB).collection('secrets').findOne({ tenantId: 'bob' });
    await raw.close();
    expect(bob.s).toBe('bob-secret');
  });
});

describe('mongoose: Model.collection without options, in a runAsSystem maintenance script', () => {
  let ctx;
  beforeAll(async () => {
    ctx = await setup('mongoose');
  });
  afterAll(() => teardown(ctx));

  // FINDING 3, worst case: an audited system script that deletes ONE document by _id
  // (`Model.collection.deleteOne({ _id })`) gets the filter {} and deletes another tenant's
  // document; `deleteMany({ _id })` deletes every tenant's documents.
  test('runAsSystem: Model.collection.deleteMany({ _id: aliceDoc }) leaves bob\'s documents alone', async () => {
    const { Secret, fence, DB } = ctx;
    const alice = await fence.runAs('alice', () => Secret.create({ s: 'alice-to-delete' }));
    await fence.runAsSystem({ reason: 'gdpr: erase one document' }, () => Secret.collection.deleteMany({ _id: alice._id }));
    const raw = await MongoClient.connect(URI());
    const bobLeft = await raw.db(DB).collection('secrets').countDocuments({ tenantId: 'bob' });
    await raw.close();
    expect(bobLeft).toBe(1);
  });
});
