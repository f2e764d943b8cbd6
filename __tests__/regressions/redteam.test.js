'use strict';
// Red-team suite: attacks through the public API by a caller who controls filters, updates,
// pipelines and options (e.g. from req.body) but not the code. Other tenants' documents are
// seeded and checked through the npm driver (the oracle).
//
// The tests under "fixed" were real isolation breaks found by this review (now closed);
// the tests under "stopped" are attacks that were refused or confined from the start.

const { TenantFence } = require('../..');
const {
  useSuite,
  uri,
  captureError,
  expectTenantError,
  snapshot,
} = require('../helpers/fixtures');

const suite = useSuite('redteam');
const { as } = suite;

const COLL = 'rt';
const SECRET_B1 = 'TOPSECRET-b1';
const SECRET_B2 = 'TOPSECRET-b2';

// b's documents are inserted first: an index build reports the first bad document it scans.
const SEED = [
  { _id: 'b-1', tenantId: 'b', name: 'Bob', secret: SECRET_B1, email: 'dup@b' },
  { _id: 'b-2', tenantId: 'b', name: 'Bea', secret: SECRET_B2, email: 'dup@b' },
  { _id: 'B-1', tenantId: 'B', name: 'Big', secret: 'CAPSECRET' },
  { _id: 'a-1', tenantId: 'a', name: 'Al', secret: 'mine', email: 'a@a' },
];

const coll = () => suite.fence.collection(COLL);
const others = () => snapshot(suite.rdb.collection(COLL), { tenantId: { $ne: 'a' } });

/** Everything an error exposes to the caller (message, fields, nested details). */
function exposed(err) {
  const parts = [String(err && err.message)];
  try {
    parts.push(JSON.stringify(err, Object.getOwnPropertyNames(err || {})));
  } catch {
    /* ignore */
  }
  return parts.join('\n');
}

/** Runs `fn`; whether it succeeds or fails, nothing of tenant b may come back. */
async function expectNoLeak(fn) {
  let text;
  try {
    text = JSON.stringify(await fn());
  } catch (err) {
    text = exposed(err);
  }
  for (const needle of [SECRET_B1, SECRET_B2, 'dup@b', 'Bob', 'Bea', 'CAPSECRET']) {
    expect(text).not.toContain(needle);
  }
  return text;
}

async function reseed() {
  const c = suite.rdb.collection(COLL);
  await c.drop().catch(() => {});
  await c.insertMany(SEED.map((d) => ({ ...d })));
}

describe('fixed: createIndex as a tenant builds over every tenant and its errors leak their documents', () => {
  beforeEach(reseed);

  test("2dsphere index on a string field: the build error prints another tenant's whole document", async () => {
    // Index build fails on b's first document and the server error quotes it in full:
    // "Can't extract geo keys: { _id: "b-1", tenantId: "b", name: "Bob", secret: "TOPSECRET-b1", ... }"
    await as('a', () => expectNoLeak(() => coll().createIndex({ name: '2dsphere' })));
  });

  test('partialFilterExpression is not scoped: it can aim the failing build at tenant b only', async () => {
    await as('a', () =>
      expectNoLeak(() =>
        coll().createIndex({ secret: '2dsphere' }, { name: 'aim', partialFilterExpression: { tenantId: 'b' } }),
      ),
    );
  });

  test("unique index: the duplicate-key build error prints another tenant's values", async () => {
    // "E11000 duplicate key error ... dup key: { tenantId: "b", email: "dup@b" }"
    await as('a', () => expectNoLeak(() => coll().createIndex({ email: 1 }, { unique: true })));
  });

  test('a tenant cannot shape other tenants\' slice of an index', async () => {
    // unique on the tenant field alone would cap every tenant at one document
    await as('a', () => expectTenantError(coll().createIndex({ tenantId: 1 }, { unique: true }), 'TENANT_VIOLATION'));
    // a partial filter on the tenant field would aim the index at another tenant
    await as('a', () =>
      expectTenantError(
        coll().createIndex({ email: 1 }, { unique: true, partialFilterExpression: { tenantId: 'b' } }),
        'TENANT_VIOLATION',
      ),
    );
    const names = (await suite.rdb.collection(COLL).indexes()).map((i) => i.name);
    expect(names).toEqual(['_id_']);
  });

  test("text index language_override: the build error prints another tenant's field value", async () => {
    // "language override unsupported: TOPSECRET-b1"
    await as('a', () => expectNoLeak(() => coll().createIndex({ name: 'text' }, { language_override: 'secret' })));
  });
});

describe('fixed: lone UTF-16 surrogates would make distinct tenant ids share one tenant (custom tenantIdPattern)', () => {
  test('"x\\uD800" and "x\\uDC00" are refused; "x\\uFFFD" stays its own tenant', async () => {
    const fence = suite.closeAfter(
      await TenantFence.connect(uri(), {
        database: suite.DB,
        tenantIdPattern: /^[\p{L}\p{N}\p{Co}\p{Cs}\p{So}_-]{1,32}$/u,
      }),
    );
    const c = fence.collection('surrogates');
    // UTF-8 cannot carry a lone surrogate: both would be stored as "x\uFFFD".
    for (const id of ['x\uD800', 'x\uDC00', '\uDC00x\uD800']) {
      let ran = false;
      expect(() => fence.runAs(id, () => (ran = true))).toThrow(expect.objectContaining({ code: 'TENANT_INVALID' }));
      expect(ran).toBe(false);
    }
    await fence.runAs('x\uFFFD', () => c.insertOne({ _id: 'sur-1' }));
    const stored = await suite.rdb.collection('surrogates').findOne({ _id: 'sur-1' });
    expect(stored.tenantId).toBe('x\uFFFD');
    // A valid pair is fine and distinct.
    expect(await fence.runAs('x\uD83D\uDE00', () => c.find({}).toArray())).toEqual([]);
  });
});

describe('fixed: runAsSystem with a custom tenantIdPattern writes tenant ids the pattern refuses', () => {
  let fence;
  const reason = { reason: 'redteam' };
  const c = () => fence.collection('pattern');
  const stored = (ids) => suite.rdb.collection('pattern').find({ tenantId: { $in: ids } }).toArray();

  beforeAll(async () => {
    fence = suite.closeAfter(
      await TenantFence.connect(uri(), { database: suite.DB, tenantIdPattern: /^org-[a-z]+$/ }),
    );
  });

  test('insertOne with a bad id is refused (control: this path is checked)', async () => {
    await fence.runAsSystem(reason, () => expectTenantError(c().insertOne({ tenantId: 'NOT AN ORG' }), 'TENANT_INVALID'));
    await fence.runAsSystem(reason, () => expectTenantError(c().insertOne({ tenantId: 'NOTORG' }), 'TENANT_INVALID'));
  });

  test('an upsert whose filter names the tenant by equality stores an id the pattern refuses', async () => {
    await fence.runAsSystem(reason, async () => {
      for (const run of [
        () => c().updateOne({ tenantId: 'NOTORG1' }, { $set: { v: 1 } }, { upsert: true }),
        () => c().updateOne({ tenantId: { $eq: 'NOTORG2' } }, { $set: { v: 1 } }, { upsert: true }),
        () => c().findOneAndUpdate({ tenantId: 'NOTORG3' }, { $set: { v: 1 } }, { upsert: true }),
        () =>
          c().bulkWrite([
            { updateOne: { filter: { $and: [{ tenantId: 'NOTORG4' }] }, update: { $set: { v: 1 } }, upsert: true } },
          ]),
      ]) {
        await captureError(run).catch(() => {});
      }
    });
    expect(await stored(['NOTORG1', 'NOTORG2', 'NOTORG3', 'NOTORG4'])).toEqual([]);
  });

  test("a pipeline update's { $literal } tenant id skips the pattern check", async () => {
    await fence.runAsSystem(reason, () =>
      captureError(() => c().updateOne({ q: 9 }, [{ $set: { tenantId: { $literal: 'NOTORG5' } } }], { upsert: true })).catch(
        () => {},
      ),
    );
    expect(await stored(['NOTORG5'])).toEqual([]);
  });
});

describe('stopped: attacks that were correctly refused or confined', () => {
  beforeEach(reseed);

  afterEach(async () => {
    // b's (and B's) documents are byte-identical after every attack.
    expect(await others()).toEqual(
      SEED.filter((d) => d.tenantId !== 'a').sort((x, y) => (x._id < y._id ? -1 : 1)),
    );
  });

  test('error oracle: a throwing $expr / $where / $function is only ever evaluated on own documents', async () => {
    await as('a', async () => {
      const toInt = { $expr: { $toInt: '$secret' } };
      await expectNoLeak(() => coll().find(toInt, { hint: { $natural: 1 } }).toArray());
      await expectNoLeak(() => coll().find(toInt, { collation: { locale: 'en', strength: 1 } }).toArray());
      await expectNoLeak(() => coll().countDocuments(toInt));
      await expectNoLeak(() => coll().distinct('name', toInt));
      await expectNoLeak(() => coll().aggregate([{ $addFields: { x: { $toInt: '$secret' } } }]).toArray());
      await expectNoLeak(() =>
        coll().aggregate([{ $lookup: { from: COLL, as: 'x', pipeline: [{ $match: toInt }] } }]).toArray(),
      );
      await expectNoLeak(() => coll().aggregate([{ $unionWith: { coll: COLL, pipeline: [{ $match: toInt }] } }]).toArray());
      await expectNoLeak(() => coll().updateMany(toInt, { $set: { z: 1 } }));
      await expectNoLeak(() => coll().deleteMany(toInt));
      await expectNoLeak(() =>
        coll().find({ $where: "if (this.tenantId !== 'a') throw new Error('LEAK ' + this.secret); return true;" }).toArray(),
      );
      await expectNoLeak(() =>
        coll()
          .find({
            $expr: {
              $function: {
                body: "function(s, t) { if (t !== 'a') throw new Error('LEAK ' + s); return true; }",
                args: ['$secret', '$tenantId'],
                lang: 'js',
              },
            },
          })
          .toArray(),
      );
    });
  });

  test('a case-folding collation does not equate tenant "a" with tenant "B"/"b"', async () => {
    const docs = await as('a', () =>
      coll().find({ $or: [{ tenantId: 'B' }, {}] }, { collation: { locale: 'en', strength: 1 } }).toArray(),
    );
    expect(docs.map((d) => d._id)).toEqual(['a-1']);
    const res = await as('a', () =>
      coll().bulkWrite([
        { updateMany: { filter: { tenantId: 'B' }, update: { $set: { hacked: 1 } }, collation: { locale: 'en', strength: 1 } } },
        { deleteMany: { filter: { tenantId: 'b' }, collation: { locale: 'en', strength: 2 } } },
      ]),
    );
    expect(res.modifiedCount).toBe(0);
    expect(res.deletedCount).toBe(0);
  });

  test('$lookup / $graphLookup / $unionWith / $facet nesting and let rebinding $$CURRENT see only own docs', async () => {
    const out = await as('a', () =>
      coll()
        .aggregate(
          [
            { $set: { t: 'b' } },
            { $lookup: { from: COLL, localField: 't', foreignField: 'tenantId', as: 'l' } },
            { $graphLookup: { from: COLL, startWith: 'b', connectFromField: 'tenantId', connectToField: 'tenantId', as: 'g' } },
            { $unionWith: { coll: COLL, pipeline: [{ $unionWith: COLL }, { $facet: { f: [{ $match: {} }] } }] } },
          ],
          { let: { CURRENT: { tenantId: 'b' } } },
        )
        .toArray(),
    );
    expect(JSON.stringify(out)).not.toMatch(/TOPSECRET|CAPSECRET|"b-1"|"b-2"/);
  });

  test('pipeline update that replaces the root with tenant b is refused or forced back to tenant a', async () => {
    // A literal root naming b is known in advance: refused.
    await expectTenantError(
      as('a', () => coll().updateMany({}, [{ $replaceWith: { $literal: { tenantId: 'b', z: 1 } } }])),
      'TENANT_VIOLATION',
    );
    // A computed one cannot be judged in advance: the tenant is forced back.

    await as('a', () =>
      coll().updateMany({}, [{ $replaceWith: { $mergeObjects: ['$$ROOT', { $arrayToObject: [[['tenantId', 'b']]] }] } }]),
    );
    const mine = await suite.rdb.collection(COLL).findOne({ _id: 'a-1' });
    expect(mine.tenantId).toBe('a');
  });

  test('upsert filters naming another tenant, and refused bulk items, write nothing', async () => {
    await as('a', async () => {
      await expectTenantError(coll().updateOne({ $or: [{ tenantId: 'b' }] }, { $set: { z: 1 } }, { upsert: true }), 'TENANT_VIOLATION');
      await expectTenantError(coll().updateOne({ tenantId: { $in: ['b'] } }, { $set: { z: 1 } }, { upsert: true }), 'TENANT_VIOLATION');
      await expectTenantError(
        coll().bulkWrite(
          [
            { insertOne: { document: { _id: 'a-new' } } },
            { updateOne: { filter: { tenantId: 'b' }, update: { $set: { hacked: 1 } } } },
            { replaceOne: { filter: {}, replacement: { tenantId: 'b' } } },
          ],
          { ordered: false },
        ),
        'TENANT_VIOLATION',
      );
      // `upsert: 1` in a bulk item is not a boolean: a TypeError before anything is sent.
      const err = await captureError(
        coll().bulkWrite([{ updateOne: { filter: { $or: [{ tenantId: 'b' }] }, update: { $set: { z: 1 } }, upsert: 1 } }]),
      );
      expect(err.name).toBe('TypeError');
      expect(err.message).toMatch(/upsert/);
    });
    expect(await suite.rdb.collection(COLL).findOne({ _id: 'a-new' })).toBeNull();
  });
});
