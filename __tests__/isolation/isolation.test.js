'use strict';
// Hostile input against rules 1-5 of the contract (strategy 'field'). Other tenants' documents
// are seeded and checked through the npm driver (the oracle): they must stay byte-identical.

const { TenantError } = require('../..');
const { useSuite, captureError, expectTenantError, ids, collectIds, snapshot } = require('../helpers/fixtures');

const suite = useSuite('iso');

const ITEMS = 'items';
const OTHER = 'other';
const A_IDS = ['a-1', 'a-2', 'a-3'];

const SEED_ITEMS = [
  { _id: 'a-1', tenantId: 'a', name: 'shared', n: 1, k: 1, alias: 'b' },
  { _id: 'a-2', tenantId: 'a', name: 'alpha', n: 2, k: 2, alias: 'b' },
  { _id: 'a-3', tenantId: 'a', name: 'shared', n: 3, k: 3, alias: 'b' },
  { _id: 'b-1', tenantId: 'b', name: 'shared', n: 1, k: 1 },
  { _id: 'b-2', tenantId: 'b', name: 'beta', n: 2, k: 2 },
  { _id: 'b-3', tenantId: 'b', name: 'shared', n: 3, k: 3 },
  { _id: 'c-1', tenantId: 'c', name: 'shared', n: 1, k: 1 },
  { _id: 'c-2', tenantId: 'c', name: 'gamma', n: 2, k: 2 },
];
const SEED_OTHER = [
  { _id: 'oa-1', tenantId: 'a', k: 1 },
  { _id: 'oa-2', tenantId: 'a', k: 2 },
  { _id: 'ob-1', tenantId: 'b', k: 1 },
  { _id: 'ob-2', tenantId: 'b', k: 2 },
  { _id: 'ob-3', tenantId: 'b', k: 3 },
  { _id: 'oc-1', tenantId: 'c', k: 1 },
  { _id: 'oc-3', tenantId: 'c', k: 3 },
];

const clone = (docs) => docs.map((d) => ({ ...d }));
const { as } = suite;
const items = () => suite.fence.collection(ITEMS);
const other = () => suite.fence.collection(OTHER);

async function reseed() {
  await suite.rdb.collection(ITEMS).deleteMany({});
  await suite.rdb.collection(ITEMS).insertMany(clone(SEED_ITEMS));
  await suite.rdb.collection(OTHER).deleteMany({});
  await suite.rdb.collection(OTHER).insertMany(clone(SEED_OTHER));
}

/** Whole collections equal the seed: the refused call wrote nothing. */
async function expectNothingWritten() {
  expect(await snapshot(suite.rdb.collection(ITEMS))).toEqual(clone(SEED_ITEMS).sort(byId));
  expect(await snapshot(suite.rdb.collection(OTHER))).toEqual(clone(SEED_OTHER).sort(byId));
  const names = (await suite.rdb.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
  expect(names.filter((n) => n.startsWith('stolen'))).toEqual([]);
}

/** Tenants b and c are byte-identical to the seed. */
async function expectOthersUnchanged() {
  const notA = { tenantId: { $ne: 'a' } };
  expect(await snapshot(suite.rdb.collection(ITEMS), notA)).toEqual(SEED_ITEMS.filter((d) => d.tenantId !== 'a'));
  expect(await snapshot(suite.rdb.collection(OTHER), notA)).toEqual(SEED_OTHER.filter((d) => d.tenantId !== 'a'));
}

function byId(x, y) {
  return String(x._id) < String(y._id) ? -1 : String(x._id) > String(y._id) ? 1 : 0;
}

/** Only tenant a's ids appear anywhere in `result`. */
function expectOnlyA(result) {
  const leaked = collectIds(result).filter((id) => !id.startsWith('a-') && !id.startsWith('oa-'));
  expect(leaked).toEqual([]);
}

/**
 * A read or write that names another tenant is either refused with TENANT_VIOLATION or runs
 * scoped to tenant a; `check(result)` verifies the scoped outcome.
 * `serverErrorOk`: a MongoDB error is also acceptable (e.g. $where is not allowed in aggregation).
 */
async function refusedOrScoped(fn, check, { serverErrorOk = false } = {}) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    if (err instanceof TenantError) {
      expect(err.code).toBe('TENANT_VIOLATION');
      return 'refused';
    }
    if (serverErrorOk && typeof err.code === 'number') return 'server-error';
    throw err;
  }
  await check(result);
  return 'scoped';
}

function withTimeout(promiseOrFn, ms, what) {
  let timer;
  const p = typeof promiseOrFn === 'function' ? Promise.resolve().then(promiseOrFn) : promiseOrFn;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
describe('rule 1: no tenant in context', () => {
  const C = 'nocontext';

  test('every method refuses with TENANT_MISSING and nothing reaches the server', async () => {
    await suite.rdb.command({ profile: 0 });
    await suite.rdb.collection('system.profile').drop().catch(() => {});
    await suite.rdb.command({ profile: 2 });
    try {
      const col = suite.fence.collection(C);
      const promised = {
        insertOne: () => col.insertOne({ x: 1 }),
        insertMany: () => col.insertMany([{ x: 1 }]),
        findOne: () => col.findOne({}),
        countDocuments: () => col.countDocuments({}),
        estimatedDocumentCount: () => col.estimatedDocumentCount(),
        distinct: () => col.distinct('x', {}),
        updateOne: () => col.updateOne({}, { $set: { x: 2 } }),
        updateOneUpsert: () => col.updateOne({ x: 9 }, { $set: { y: 2 } }, { upsert: true }),
        updateMany: () => col.updateMany({}, { $set: { x: 2 } }),
        replaceOne: () => col.replaceOne({}, { x: 3 }, { upsert: true }),
        deleteOne: () => col.deleteOne({}),
        deleteMany: () => col.deleteMany({}),
        findOneAndUpdate: () => col.findOneAndUpdate({}, { $set: { x: 4 } }, { upsert: true }),
        findOneAndReplace: () => col.findOneAndReplace({}, { x: 5 }, { upsert: true }),
        findOneAndDelete: () => col.findOneAndDelete({}),
        bulkWrite: () => col.bulkWrite([{ insertOne: { document: { x: 6 } } }]),
        createIndex: () => col.createIndex({ x: 1 }),
      };
      for (const [name, call] of Object.entries(promised)) {
        const err = await captureError(call);
        expect({ name, ok: err instanceof TenantError, code: err.code }).toEqual({
          name,
          ok: true,
          code: 'TENANT_MISSING',
        });
      }
      for (const [name, call] of Object.entries({ find: () => col.find({}), aggregate: () => col.aggregate([]) })) {
        let thrown;
        try {
          call();
        } catch (e) {
          thrown = e;
        }
        expect({ name, ok: thrown instanceof TenantError, code: thrown && thrown.code }).toEqual({
          name,
          ok: true,
          code: 'TENANT_MISSING',
        });
      }
    } finally {
      await suite.rdb.command({ profile: 0 });
    }
    const reached = await suite.rdb
      .collection('system.profile')
      .find({ ns: `${suite.DB}.${C}` })
      .toArray();
    expect(reached.map((p) => p.op)).toEqual([]);
    const names = (await suite.rdb.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).not.toContain(C);
  });
});

// ---------------------------------------------------------------------------------------------
describe('rule 2: filters that name other tenants', () => {
  beforeAll(reseed);

  // [label, filter, ids of tenant a it matches when the call is not refused, $where?]
  const FILTERS = [
    ['{tenantId: b}', { tenantId: 'b' }, []],
    ['{tenantId: b, name}', { tenantId: 'b', name: 'shared' }, []],
    ['$or with b', { $or: [{ tenantId: 'b' }, { name: 'shared' }] }, ['a-1', 'a-3']],
    ['$or b or c', { $or: [{ tenantId: 'b' }, { tenantId: 'c' }] }, []],
    ['$where', { $where: "this.tenantId === 'b' || this.name === 'alpha'" }, ['a-2'], true],
    ['$where true', { $where: 'true' }, A_IDS, true],
    ['$expr eq b', { $expr: { $eq: ['$tenantId', 'b'] } }, []],
    ['$expr in all', { $expr: { $in: ['$tenantId', ['a', 'b', 'c']] } }, A_IDS],
    ['$nor a', { $nor: [{ tenantId: 'a' }] }, []],
    ['$ne a', { tenantId: { $ne: 'a' } }, []],
    ['$in all', { tenantId: { $in: ['a', 'b', 'c'] } }, A_IDS],
    ['$nin a', { tenantId: { $nin: ['a'] } }, []],
    ['$exists', { tenantId: { $exists: true } }, A_IDS],
    ['regex literal', { tenantId: /.*/ }, A_IDS],
    ['$regex b|c', { tenantId: { $regex: '^[bc]$' } }, []],
    ['$gt empty', { tenantId: { $gt: '' } }, A_IDS],
    ['$not eq a', { tenantId: { $not: { $eq: 'a' } } }, []],
    ['$type', { tenantId: { $type: 'string' } }, A_IDS],
    ['$and b', { $and: [{ tenantId: 'b' }] }, []],
    ['nested', { $or: [{ $and: [{ tenantId: 'b' }] }, { $nor: [{ tenantId: 'a' }] }] }, []],
    ['$jsonSchema', { $jsonSchema: { required: ['tenantId'], properties: { tenantId: { enum: ['b', 'c'] } } } }, []],
    ['$comment + c', { $comment: 'hostile', tenantId: 'c' }, []],
    ['a and $or b', { tenantId: { $eq: 'a' }, $or: [{ tenantId: 'b' }, { n: 2 }] }, ['a-2']],
    ['_id of b', { _id: 'b-2' }, []],
    ['_id $in b c', { _id: { $in: ['b-1', 'c-1', 'a-1'] } }, ['a-1']],
  ];

  describe.each(FILTERS)('%s', (label, filter, expected, isWhere) => {
    const sorted = [...expected].sort();
    /** A findOne-like result: null when tenant a has no match, else one of its matches. */
    const oneOfSortedOrNull = (r) =>
      r === null ? expect(sorted).toEqual([]) : expect(sorted).toContain(String(r._id));

    test('reads see only tenant a', async () => {
      await as('a', async () => {
        await refusedOrScoped(
          () => items().find(filter).toArray(),
          (r) => expect(ids(r)).toEqual(sorted),
        );
        await refusedOrScoped(() => items().findOne(filter), oneOfSortedOrNull);
        await refusedOrScoped(
          () => items().countDocuments(filter),
          (r) => expect(r).toBe(sorted.length),
          { serverErrorOk: isWhere },
        );
        await refusedOrScoped(
          () => items().distinct('_id', filter),
          (r) => expect(r.map(String).sort()).toEqual(sorted),
        );
        await refusedOrScoped(
          () => items().aggregate([{ $match: filter }]).toArray(),
          (r) => expect(ids(r)).toEqual(sorted),
          { serverErrorOk: isWhere },
        );
        await refusedOrScoped(
          () => items().aggregate([{ $match: filter }, { $count: 'n' }]).toArray(),
          (r) => expect(r).toEqual(sorted.length ? [{ n: sorted.length }] : []),
          { serverErrorOk: isWhere },
        );
      });
      await expectNothingWritten();
    });

    test('writes touch only tenant a', async () => {
      const touchedA = async () => ids(await suite.rdb.collection(ITEMS).find({ touched: true }).toArray());
      // [write, check of the scoped outcome]; each runs on a fresh seed
      const WRITES = [
        [
          () => items().updateMany(filter, { $set: { touched: true } }),
          async (r) => {
            expect(r.matchedCount).toBe(sorted.length);
            expect(await touchedA()).toEqual(sorted);
          },
        ],
        [
          () => items().updateOne(filter, { $set: { touched: true } }),
          async (r) => {
            expect(r.matchedCount).toBe(Math.min(1, sorted.length));
            const t = await touchedA();
            expect(t.length).toBe(Math.min(1, sorted.length));
            for (const id of t) expect(sorted).toContain(id);
          },
        ],
        [() => items().findOneAndUpdate(filter, { $set: { touched: true } }), oneOfSortedOrNull],
        [
          () => items().replaceOne(filter, { replaced: true }),
          (r) => expect(r.matchedCount).toBe(Math.min(1, sorted.length)),
        ],
        [() => items().findOneAndReplace(filter, { replaced: true }), oneOfSortedOrNull],
        [() => items().deleteOne(filter), (r) => expect(r.deletedCount).toBe(Math.min(1, sorted.length))],
        [() => items().findOneAndDelete(filter), oneOfSortedOrNull],
        [
          () => items().deleteMany(filter),
          async (r) => {
            expect(r.deletedCount).toBe(sorted.length);
            const left = ids(await suite.rdb.collection(ITEMS).find({ tenantId: 'a' }).toArray());
            expect(left).toEqual(A_IDS.filter((id) => !sorted.includes(id)));
          },
        ],
        [
          () =>
            items().bulkWrite(
              [
                { updateMany: { filter, update: { $set: { touched: true } } } },
                { updateOne: { filter, update: { $set: { touched: true } } } },
                { deleteMany: { filter } },
              ],
              { ordered: true },
            ),
          (r) => {
            expect(r.matchedCount).toBe(sorted.length + Math.min(1, sorted.length));
            expect(r.deletedCount).toBe(sorted.length);
          },
        ],
      ];
      try {
        await as('a', async () => {
          for (const [i, [write, check]] of WRITES.entries()) {
            if (i > 0) await reseed();
            await refusedOrScoped(write, check, { serverErrorOk: false });
            await expectOthersUnchanged();
          }
        });
      } finally {
        await reseed();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('rule 3: updates may not move, remove or rename the tenant field', () => {
  beforeEach(reseed);
  afterEach(expectOthersUnchanged);

  const BAD_UPDATES = [
    ['$set b', { $set: { tenantId: 'b' } }],
    ['$set case variant', { $set: { tenantId: 'A' } }],
    ['$set array', { $set: { tenantId: ['a', 'b'] } }],
    ['$set null', { $set: { tenantId: null } }],
    ['$set with other fields', { $set: { name: 'changed', tenantId: 'c' } }],
    ['$unset', { $unset: { tenantId: '' } }],
    ['$unset mixed', { $set: { name: 'changed' }, $unset: { tenantId: 1 } }],
    ['$rename away', { $rename: { tenantId: 'owner' } }],
    ['$rename onto', { $rename: { alias: 'tenantId' } }],
    ['$inc', { $inc: { tenantId: 1 } }],
    ['$mul', { $mul: { tenantId: 2 } }],
    ['$min', { $min: { tenantId: '0' } }],
    ['$max', { $max: { tenantId: 'z' } }],
    ['$push', { $push: { tenantId: 'b' } }],
    ['$addToSet', { $addToSet: { tenantId: 'b' } }],
    ['$pop', { $pop: { tenantId: 1 } }],
    ['$pull', { $pull: { tenantId: 'a' } }],
    ['$pullAll', { $pullAll: { tenantId: ['a'] } }],
    ['$bit', { $bit: { tenantId: { and: 1 } } }],
    ['$currentDate', { $currentDate: { tenantId: true } }],
    ['$setOnInsert b', { $setOnInsert: { tenantId: 'b' } }],
    ['dotted $set', { $set: { 'tenantId.x': 1 } }],
    ['dotted $unset', { $unset: { 'tenantId.0': 1 } }],
    ['all-positional', { $set: { 'tenantId.$[]': 'b' } }],
  ];

  const METHODS = [
    ['updateOne', (u) => items().updateOne({ _id: 'a-1' }, u)],
    ['updateMany', (u) => items().updateMany({}, u)],
    ['updateOne upsert', (u) => items().updateOne({ k: 77 }, u, { upsert: true })],
    ['updateMany upsert', (u) => items().updateMany({ k: 78 }, u, { upsert: true })],
    ['findOneAndUpdate', (u) => items().findOneAndUpdate({ _id: 'a-2' }, u, { returnDocument: 'after' })],
    ['bulkWrite updateOne', (u) => items().bulkWrite([{ updateOne: { filter: { _id: 'a-1' }, update: u } }])],
    [
      'bulkWrite updateMany unordered',
      (u) => items().bulkWrite([{ updateMany: { filter: {}, update: u, upsert: true } }], { ordered: false }),
    ],
  ];

  test.each(BAD_UPDATES)('%s is refused with TENANT_VIOLATION by every update method', async (label, update) => {
    for (const [method, call] of METHODS) {
      const err = await captureError(() => as('a', () => call(update)));
      expect({ method, tenantError: err instanceof TenantError, code: err.code }).toEqual({
        method,
        tenantError: true,
        code: 'TENANT_VIOLATION',
      });
      await expectNothingWritten();
    }
  });

  test('setting the tenant field to the current tenant is allowed', async () => {
    await as('a', async () => {
      expect(await items().updateOne({ _id: 'a-1' }, { $set: { tenantId: 'a', name: 'ok' } })).toMatchObject({
        matchedCount: 1,
        modifiedCount: 1,
      });
      const up = await items().updateOne({ k: 5 }, { $setOnInsert: { tenantId: 'a' }, $set: { v: 1 } }, { upsert: true });
      expect(up.upsertedCount).toBe(1);
      expect(await suite.rdb.collection(ITEMS).findOne({ _id: up.upsertedId })).toEqual({
        _id: up.upsertedId,
        k: 5,
        v: 1,
        tenantId: 'a',
      });
      const up2 = await items().updateOne({ tenantId: 'a', k: 6 }, { $set: { v: 2 } }, { upsert: true });
      expect((await suite.rdb.collection(ITEMS).findOne({ _id: up2.upsertedId })).tenantId).toBe('a');
      expect(await items().updateMany({}, [{ $set: { tenantId: 'a', p: 1 } }])).toMatchObject({ matchedCount: 5 });
      expect(await items().replaceOne({ _id: 'a-2' }, { tenantId: 'a', name: 'r' })).toMatchObject({ matchedCount: 1 });
      const ins = await items().insertOne({ tenantId: 'a', name: 'explicit' });
      expect((await suite.rdb.collection(ITEMS).findOne({ _id: ins.insertedId })).tenantId).toBe('a');
    });
    expect(await suite.rdb.collection(ITEMS).findOne({ _id: 'a-1' })).toMatchObject({ tenantId: 'a', name: 'ok', p: 1 });
    expect(await suite.rdb.collection(ITEMS).findOne({ _id: 'a-2' })).toEqual({ _id: 'a-2', tenantId: 'a', name: 'r' });
  });

  describe('pipeline updates: refused, or the tenant is forced back to a', () => {
    const PIPELINES = [
      ['$unset tenantId', [{ $unset: 'tenantId' }]],
      ['$unset array', [{ $unset: ['name', 'tenantId'] }]],
      ['$set b', [{ $set: { tenantId: 'b' } }]],
      ['$addFields from field', [{ $addFields: { tenantId: '$alias' } }]],
      ['$set computed', [{ $set: { tenantId: { $concat: ['b', ''] } } }]],
      ['$set $$REMOVE', [{ $set: { tenantId: '$$REMOVE' } }]],
      ['$set $literal', [{ $set: { tenantId: { $literal: 'b' } } }]],
      ['$project exclusion', [{ $project: { tenantId: 0 } }]],
      ['$project inclusion', [{ $project: { name: 1 } }]],
      ['$replaceWith literal', [{ $replaceWith: { x: 1 } }]],
      ['$replaceRoot with b', [{ $replaceRoot: { newRoot: { x: 1, tenantId: 'b' } } }]],
      ['$replaceWith merge b', [{ $replaceWith: { $mergeObjects: ['$$ROOT', { tenantId: 'b' }] } }]],
      ['two stages', [{ $set: { name: 'ok' } }, { $unset: 'tenantId' }]],
    ];

    const PIPE_METHODS = [
      ['updateOne', (p) => items().updateOne({ _id: 'a-1' }, p)],
      ['updateMany', (p) => items().updateMany({}, p)],
      ['findOneAndUpdate', (p) => items().findOneAndUpdate({ _id: 'a-2' }, p, { returnDocument: 'after' })],
      ['bulkWrite', (p) => items().bulkWrite([{ updateOne: { filter: { _id: 'a-3' }, update: p } }])],
      ['upsert', (p) => items().updateOne({ k: 90 }, p, { upsert: true })],
    ];

    test.each(PIPELINES)('%s', async (label, pipeline) => {
      for (const [method, call] of PIPE_METHODS) {
        await reseed();
        let refused = false;
        try {
          await as('a', () => call(pipeline));
        } catch (err) {
          expect({ method, tenantError: err instanceof TenantError, code: err.code }).toEqual({
            method,
            tenantError: true,
            code: 'TENANT_VIOLATION',
          });
          refused = true;
        }
        if (refused) {
          await expectNothingWritten();
        } else {
          // forced back: every document outside b/c still belongs to a
          const notOthers = await suite.rdb
            .collection(ITEMS)
            .find({ _id: { $nin: SEED_ITEMS.filter((d) => d.tenantId !== 'a').map((d) => d._id) } })
            .toArray();
          expect(notOthers.length).toBeGreaterThanOrEqual(3);
          for (const d of notOthers) expect({ method, _id: d._id, tenantId: d.tenantId }).toEqual({
            method,
            _id: d._id,
            tenantId: 'a',
          });
          await expectOthersUnchanged();
        }
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('rule 3: documents, replacements and upsert filters naming another tenant', () => {
  beforeEach(reseed);
  afterEach(expectOthersUnchanged);

  test.each([
    ['insertOne b', () => items().insertOne({ tenantId: 'b', x: 1 })],
    ['insertOne case variant', () => items().insertOne({ tenantId: 'A', x: 1 })],
    ['insertOne array', () => items().insertOne({ tenantId: ['a', 'b'], x: 1 })],
    ['insertOne with _id', () => items().insertOne({ _id: 'x-1', tenantId: 'c' })],
    ['replaceOne', () => items().replaceOne({ _id: 'a-1' }, { tenantId: 'b', x: 1 })],
    ['replaceOne case', () => items().replaceOne({ _id: 'a-1' }, { tenantId: 'A', x: 1 })],
    ['replaceOne array', () => items().replaceOne({ _id: 'a-1' }, { tenantId: ['a', 'b'] })],
    ['replaceOne upsert', () => items().replaceOne({ k: 88 }, { tenantId: 'b', k: 88 }, { upsert: true })],
    ['findOneAndReplace', () => items().findOneAndReplace({ _id: 'a-1' }, { tenantId: 'b' })],
    ['bulkWrite replaceOne', () => items().bulkWrite([{ replaceOne: { filter: { _id: 'a-1' }, replacement: { tenantId: 'b' } } }])],
    ['bulkWrite insertOne', () => items().bulkWrite([{ insertOne: { document: { tenantId: 'b' } } }])],
    ['upsert filter b', () => items().updateOne({ tenantId: 'b', k: 60 }, { $set: { v: 1 } }, { upsert: true })],
    ['upsert filter $eq b', () => items().updateOne({ tenantId: { $eq: 'b' }, k: 61 }, { $set: { v: 1 } }, { upsert: true })],
    ['upsert filter $and b', () => items().updateOne({ $and: [{ tenantId: 'b' }, { k: 62 }] }, { $set: { v: 1 } }, { upsert: true })],
    ['updateMany upsert filter b', () => items().updateMany({ tenantId: 'b', k: 63 }, { $set: { v: 1 } }, { upsert: true })],
    ['pipeline upsert filter b', () => items().updateOne({ tenantId: 'b', k: 64 }, [{ $set: { v: 1 } }], { upsert: true })],
    ['replaceOne upsert filter b', () => items().replaceOne({ tenantId: 'b', k: 65 }, { v: 1 }, { upsert: true })],
    ['findOneAndUpdate upsert filter b', () => items().findOneAndUpdate({ tenantId: 'b', k: 66 }, { $set: { v: 1 } }, { upsert: true })],
    ['findOneAndReplace upsert filter b', () => items().findOneAndReplace({ tenantId: 'b', k: 67 }, { v: 1 }, { upsert: true })],
    ['bulkWrite upsert filter b', () => items().bulkWrite([{ updateOne: { filter: { tenantId: 'b', k: 68 }, update: { $set: { v: 1 } }, upsert: true } }])],
    ['bulkWrite replace upsert filter b', () => items().bulkWrite([{ replaceOne: { filter: { tenantId: 'b', k: 69 }, replacement: { v: 1 }, upsert: true } }])],
  ])('%s: TENANT_VIOLATION, nothing written', async (label, call) => {
    await expectTenantError(() => as('a', call), 'TENANT_VIOLATION');
    await expectNothingWritten();
  });

  test.each([
    ['upsert filter $or b', () => items().updateOne({ $or: [{ tenantId: 'b' }], k: 70 }, { $set: { v: 1 } }, { upsert: true })],
    ['upsert filter $in b', () => items().updateOne({ tenantId: { $in: ['b'] }, k: 71 }, { $set: { v: 1 } }, { upsert: true })],
    ['insert tenantId null', () => items().insertOne({ tenantId: null, x: 72 })],
    ['insert tenantId number', () => items().insertOne({ tenantId: 5, x: 73 })],
    ['insert tenantId object', () => items().insertOne({ tenantId: { id: 'b' }, x: 74 })],
    ['replace tenantId null', () => items().replaceOne({ _id: 'a-1' }, { tenantId: null, x: 75 })],
  ])('%s: refused, or written for tenant a only', async (label, call) => {
    let refused = false;
    try {
      await as('a', call);
    } catch (err) {
      // refused by the fence, or by the server (conflicting equality on the tenant field)
      refused = true;
      expect(err instanceof TenantError || typeof err.code === 'number').toBe(true);
    }
    if (refused) {
      await expectNothingWritten();
    } else {
      const seedIds = SEED_ITEMS.map((d) => d._id);
      const fresh = await suite.rdb.collection(ITEMS).find({ _id: { $nin: seedIds } }).toArray();
      for (const d of fresh) expect(d.tenantId).toBe('a');
      for (const d of await suite.rdb.collection(ITEMS).find({ _id: { $in: A_IDS } }).toArray()) {
        expect(d.tenantId).toBe('a');
      }
    }
  });

  describe('a batch with ONE bad operation writes nothing', () => {
    const BAD_DOC_BATCHES = [
      ['bad last', [{ x: 1 }, { x: 2 }, { tenantId: 'b', x: 3 }]],
      ['bad first', [{ tenantId: 'b', x: 1 }, { x: 2 }]],
      ['bad middle (array)', [{ x: 1 }, { tenantId: ['a', 'b'] }, { x: 3 }]],
      ['bad last (case)', [{ x: 1 }, { tenantId: 'A' }]],
    ];
    for (const ordered of [true, false]) {
      test.each(BAD_DOC_BATCHES)(`insertMany %s, ordered:${ordered}`, async (label, docs) => {
        await expectTenantError(() => as('a', () => items().insertMany(docs, { ordered })), 'TENANT_VIOLATION');
        await expectNothingWritten();
        expect(await suite.rdb.collection(ITEMS).countDocuments()).toBe(SEED_ITEMS.length);
      });
    }

    const GOOD = [
      { insertOne: { document: { x: 'good' } } },
      { updateOne: { filter: { _id: 'a-1' }, update: { $set: { good: true } } } },
      { updateOne: { filter: { k: 500 }, update: { $set: { good: true } }, upsert: true } },
      { deleteOne: { filter: { _id: 'a-3' } } },
      { replaceOne: { filter: { _id: 'a-2' }, replacement: { good: true } } },
    ];
    const BAD_OPS = [
      ['insertOne b', { insertOne: { document: { tenantId: 'b' } } }],
      ['updateOne $set b', { updateOne: { filter: { _id: 'a-1' }, update: { $set: { tenantId: 'b' } } } }],
      ['updateMany $unset', { updateMany: { filter: {}, update: { $unset: { tenantId: '' } } } }],
      ['updateOne $rename', { updateOne: { filter: { _id: 'a-2' }, update: { $rename: { tenantId: 't' } } } }],
      ['upsert filter b', { updateOne: { filter: { tenantId: 'b', k: 50 }, update: { $set: { v: 1 } }, upsert: true } }],
      ['replaceOne b', { replaceOne: { filter: { _id: 'a-2' }, replacement: { tenantId: 'b' } } }],
      ['replace upsert filter b', { replaceOne: { filter: { tenantId: 'b', k: 51 }, replacement: { v: 1 }, upsert: true } }],
    ];
    for (const ordered of [true, false]) {
      test.each(BAD_OPS)(`bulkWrite with bad %s last, ordered:${ordered}`, async (label, bad) => {
        await expectTenantError(() => as('a', () => items().bulkWrite([...GOOD, bad], { ordered })), 'TENANT_VIOLATION');
        await expectNothingWritten();
      });
    }
    test('bulkWrite with the bad op in the middle, ordered:false', async () => {
      const ops = [GOOD[0], BAD_OPS[0][1], GOOD[1], GOOD[3]];
      await expectTenantError(() => as('a', () => items().bulkWrite(ops, { ordered: false })), 'TENANT_VIOLATION');
      await expectNothingWritten();
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('rule 4: pipelines', () => {
  beforeAll(reseed);
  afterEach(expectNothingWritten);

  const agg = (pipeline, opts) => as('a', () => items().aggregate(pipeline, opts).toArray());
  const byIdDocs = (docs) => Object.fromEntries(docs.map((d) => [String(d._id), d]));
  /** A check for refusedOrScoped: only tenant a's documents, and nothing joined into `field`. */
  const onlyAJoinedNothing = (field = 'j') => (res) => {
    expectOnlyA(res);
    for (const d of res) expect(d[field]).toEqual([]);
  };

  test('$lookup localField/foreignField', async () => {
    const r = await agg([{ $lookup: { from: OTHER, localField: 'k', foreignField: 'k', as: 'j' } }, { $sort: { _id: 1 } }]);
    expectOnlyA(r);
    const m = byIdDocs(r);
    expect(Object.keys(m).sort()).toEqual(A_IDS);
    expect(ids(m['a-1'].j)).toEqual(['oa-1']);
    expect(ids(m['a-2'].j)).toEqual(['oa-2']);
    expect(m['a-3'].j).toEqual([]);
  });

  test('$lookup let/pipeline', async () => {
    const r = await agg([
      {
        $lookup: {
          from: OTHER,
          let: { kk: '$k' },
          pipeline: [{ $match: { $expr: { $eq: ['$k', '$$kk'] } } }],
          as: 'j',
        },
      },
    ]);
    expectOnlyA(r);
    const m = byIdDocs(r);
    expect(ids(m['a-1'].j)).toEqual(['oa-1']);
    expect(m['a-3'].j).toEqual([]);
  });

  test('$lookup concise (localField + pipeline) and hostile sub-pipeline', async () => {
    const r = await agg([
      { $lookup: { from: OTHER, localField: 'k', foreignField: 'k', pipeline: [{ $match: {} }], as: 'j' } },
    ]);
    expectOnlyA(r);
    expect(ids(byIdDocs(r)['a-2'].j)).toEqual(['oa-2']);
    await refusedOrScoped(
      () => agg([{ $lookup: { from: OTHER, pipeline: [{ $match: { tenantId: { $in: ['b', 'c'] } } }], as: 'j' } }]),
      onlyAJoinedNothing(),
    );
    await refusedOrScoped(
      () => agg([{ $lookup: { from: OTHER, pipeline: [{ $match: { $expr: { $ne: ['$tenantId', 'a'] } } }], as: 'j' } }]),
      onlyAJoinedNothing(),
    );
  });

  test('$lookup into the same collection and nested $lookup', async () => {
    const r = await agg([
      { $match: { _id: 'a-1' } },
      { $lookup: { from: ITEMS, pipeline: [], as: 'all' } },
      {
        $lookup: {
          from: OTHER,
          pipeline: [{ $lookup: { from: ITEMS, pipeline: [{ $project: { _id: 1 } }], as: 'inner' } }],
          as: 'outer',
        },
      },
    ]);
    expectOnlyA(r);
    expect(ids(r[0].all)).toEqual(A_IDS);
    expect(ids(r[0].outer)).toEqual(['oa-1', 'oa-2']);
    for (const o of r[0].outer) expect(ids(o.inner)).toEqual(A_IDS);
  });

  test('$graphLookup', async () => {
    const r = await agg([
      { $graphLookup: { from: OTHER, startWith: '$k', connectFromField: 'k', connectToField: 'k', as: 'g' } },
    ]);
    expectOnlyA(r);
    const m = byIdDocs(r);
    expect(ids(m['a-1'].g)).toEqual(['oa-1']);
    expect(m['a-3'].g).toEqual([]);
    await refusedOrScoped(
      () =>
        agg([
          {
            $graphLookup: {
              from: OTHER,
              startWith: '$k',
              connectFromField: 'k',
              connectToField: 'k',
              as: 'g',
              restrictSearchWithMatch: { tenantId: 'b' },
            },
          },
        ]),
      onlyAJoinedNothing('g'),
    );
  });

  test('$unionWith string and object forms', async () => {
    const r1 = await agg([{ $unionWith: OTHER }]);
    expectOnlyA(r1);
    expect(ids(r1)).toEqual([...A_IDS, 'oa-1', 'oa-2'].sort());
    const r2 = await agg([{ $unionWith: { coll: OTHER, pipeline: [{ $match: { k: { $gte: 1 } } }] } }]);
    expect(ids(r2)).toEqual([...A_IDS, 'oa-1', 'oa-2'].sort());
    await refusedOrScoped(
      () => agg([{ $unionWith: { coll: OTHER, pipeline: [{ $match: { tenantId: 'b' } }] } }]),
      (res) => expect(ids(res)).toEqual(A_IDS),
    );
    const r3 = await agg([
      { $match: { _id: 'a-1' } },
      { $unionWith: { coll: OTHER, pipeline: [{ $lookup: { from: ITEMS, pipeline: [], as: 'x' } }] } },
    ]);
    expectOnlyA(r3);
    expect(ids(r3)).toEqual(['a-1', 'oa-1', 'oa-2']);
  });

  test('$facet containing $lookup and $graphLookup', async () => {
    const r = await agg([
      {
        $facet: {
          joined: [{ $lookup: { from: OTHER, localField: 'k', foreignField: 'k', as: 'j' } }],
          all: [{ $lookup: { from: OTHER, pipeline: [], as: 'j' } }],
          hostile: [{ $lookup: { from: OTHER, pipeline: [{ $match: { tenantId: 'c' } }], as: 'j' } }],
          graph: [{ $graphLookup: { from: OTHER, startWith: '$k', connectFromField: 'k', connectToField: 'k', as: 'g' } }],
        },
      },
    ]);
    expectOnlyA(r);
    expect(r).toHaveLength(1);
    expect(ids(r[0].joined)).toEqual(A_IDS);
    for (const d of r[0].all) expect(ids(d.j)).toEqual(['oa-1', 'oa-2']);
    for (const d of r[0].hostile) expect(d.j).toEqual([]);
    expect(ids(r[0].graph.find((d) => d._id === 'a-2').g)).toEqual(['oa-2']);
  });

  test('let variables cannot widen the match', async () => {
    const hostileLet = { t: 'b', tenant: 'b', tenantId: 'b', currentTenant: 'b', tf_tenant: 'b', tenantfence: 'b' };
    await refusedOrScoped(
      () => agg([{ $match: { $expr: { $eq: ['$tenantId', '$$t'] } } }], { let: hostileLet }),
      (res) => expect(res).toEqual([]),
    );
    await refusedOrScoped(
      () =>
        agg(
          [
            {
              $lookup: {
                from: OTHER,
                pipeline: [{ $match: { $expr: { $in: ['$tenantId', ['$$tenant', '$$tenantId', '$$tf_tenant']] } } }],
                as: 'j',
              },
            },
          ],
          { let: hostileLet },
        ),
      onlyAJoinedNothing(),
    );
    await refusedOrScoped(
      () =>
        agg([
          {
            $lookup: {
              from: OTHER,
              let: hostileLet,
              pipeline: [{ $match: { $expr: { $eq: ['$tenantId', '$$tenantId'] } } }],
              as: 'j',
            },
          },
        ]),
      onlyAJoinedNothing(),
    );
    await refusedOrScoped(
      () => as('a', () => items().find({ $expr: { $eq: ['$tenantId', '$$t'] } }, { let: hostileLet }).toArray()),
      (res) => expect(res).toEqual([]),
    );
    await refusedOrScoped(
      () => as('a', () => items().updateMany({ $expr: { $eq: ['$tenantId', '$$t'] } }, { $set: { hit: 1 } }, { let: hostileLet })),
      (res) => expect(res.matchedCount).toBe(0),
    );
  });

  test('hint cannot widen the match', async () => {
    await refusedOrScoped(
      () => as('a', () => items().find({}, { hint: { _id: 1 } }).toArray()),
      (res) => expect(ids(res)).toEqual(A_IDS),
    );
    await refusedOrScoped(
      () => as('a', () => items().countDocuments({}, { hint: { _id: 1 } })),
      (res) => expect(res).toBe(3),
    );
    await refusedOrScoped(
      () => agg([], { hint: { _id: 1 } }),
      (res) => expect(ids(res)).toEqual(A_IDS),
    );
  });

  test('$lookup with a {db, coll} from: refused, failed, or scoped', async () => {
    await refusedOrScoped(
      () => agg([{ $lookup: { from: { db: suite.DB, coll: OTHER }, localField: 'k', foreignField: 'k', as: 'j' } }]),
      (res) => expectOnlyA(res),
      { serverErrorOk: true },
    );
  });

  const FORBIDDEN = [
    ['$out', [{ $out: 'stolen_out' }]],
    ['$out object', [{ $match: {} }, { $out: { db: 'tf_stolen_out_db', coll: 'stolen_out2' } }]],
    ['$merge', [{ $merge: { into: 'stolen_merge' } }]],
    ['$merge string', [{ $merge: 'stolen_merge2' }]],
    ['$collStats', [{ $collStats: { count: {} } }]],
    ['$indexStats', [{ $indexStats: {} }]],
    ['$currentOp', [{ $currentOp: {} }]],
    ['$changeStream', [{ $changeStream: {} }]],
    ['$documents', [{ $documents: [{ tenantId: 'b', x: 1 }] }]],
    ['$planCacheStats', [{ $planCacheStats: {} }]],
    ['$documents in $unionWith', [{ $unionWith: { pipeline: [{ $documents: [{ tenantId: 'b' }] }] } }]],
    ['$documents in $lookup', [{ $lookup: { pipeline: [{ $documents: [{ tenantId: 'b' }] }], as: 'j' } }]],
    ['$out in $facet', [{ $facet: { x: [{ $out: 'stolen_facet' }] } }]],
    ['$merge in $lookup', [{ $lookup: { from: OTHER, pipeline: [{ $merge: { into: 'stolen_lk' } }], as: 'j' } }]],
  ];

  test.each(FORBIDDEN)('%s is refused with TENANT_VIOLATION', async (label, pipeline) => {
    await withTimeout(
      expectTenantError(() => agg(pipeline), 'TENANT_VIOLATION'),
      10000,
      `aggregate ${label}`,
    );
  });

  test('explain is not available under a tenant', async () => {
    const calls = {
      'find explain option': () => items().find({}, { explain: true }).toArray(),
      'find explain verbosity': () => items().find({}, { explain: 'queryPlanner' }).toArray(),
      'aggregate explain option': () => items().aggregate([], { explain: true }).toArray(),
      'findOne explain option': () => items().findOne({}, { explain: true }),
    };
    for (const [name, call] of Object.entries(calls)) {
      const err = await captureError(() => as('a', call));
      // contract: "refused"; the code may be TENANT_VIOLATION or a TypeError for the option
      const kind = err instanceof TenantError ? err.code : err.name;
      expect({ name, kind }).toEqual({ name, kind: expect.stringMatching(/^(TENANT_VIOLATION|TypeError)$/) });
    }
  });

  test('cursors offer nothing that could change the query', async () => {
    const DANGEROUS = ['filter', 'collation', 'addStage', 'explain', 'hint', 'min', 'max', 'match', 'lookup', 'out', 'unwind', 'group', 'redact', 'geoNear'];
    const { findCur, aggCur } = as('a', () => ({ findCur: items().find({}), aggCur: items().aggregate([]) }));
    for (const [kind, cur] of [['find', findCur], ['aggregate', aggCur]]) {
      for (const m of DANGEROUS) expect({ kind, m, type: typeof cur[m] }).toEqual({ kind, m, type: 'undefined' });
      for (const m of ['toArray', 'next', 'close']) expect({ kind, m, type: typeof cur[m] }).toEqual({ kind, m, type: 'function' });
      expect(typeof cur[Symbol.asyncIterator]).toBe('function');
    }
    // the chaining methods of the contract, on find cursors
    for (const m of ['sort', 'limit', 'skip', 'project', 'batchSize']) {
      expect({ m, type: typeof findCur[m] }).toEqual({ m, type: 'function' });
    }
    await findCur.close();
    await aggCur.close();
  });
});

// ---------------------------------------------------------------------------------------------
describe('rule 5: collations cannot equate tenant ids', () => {
  const CO = 'co';
  const TENANTS = ['acme', 'ACME', 'Acme', 'ac-me', 't1', 't01'];
  // _ids stay distinct under any collation (a collection default collation applies to _id too)
  const idOf = (t, n) => `${TENANTS.indexOf(t)}-${t}:${n}`;
  const ownIds = (t) => [idOf(t, 1), idOf(t, 2)];
  const seedCo = () =>
    TENANTS.flatMap((t) => [1, 2].map((n) => ({ _id: idOf(t, n), tenantId: t, n, name: 'x', email: `${n}@x` })));

  async function reseedCo(coll = CO) {
    await suite.rdb.collection(coll).deleteMany({});
    await suite.rdb.collection(coll).insertMany(seedCo());
  }

  async function expectCoOthersUnchanged(viewer, coll = CO) {
    const others = seedCo().filter((d) => d.tenantId !== viewer);
    // the oracle compares exactly: simple collation even on a collection with a default one
    const got = await suite.rdb
      .collection(coll)
      .find({ tenantId: { $ne: viewer } }, { collation: { locale: 'simple' } })
      .sort({ _id: 1 })
      .toArray();
    expect(got).toEqual(others.sort(byId));
  }

  beforeAll(async () => {
    await reseedCo();
  });

  const COLLATIONS = [
    ['strength 1', { locale: 'en', strength: 1 }],
    ['strength 2', { locale: 'en', strength: 2 }],
    ['alternate shifted', { locale: 'en', alternate: 'shifted' }],
    ['strength 1 + shifted', { locale: 'en', strength: 1, alternate: 'shifted' }],
    ['numericOrdering', { locale: 'en', numericOrdering: true }],
    ['numericOrdering strength 1 shifted', { locale: 'en', strength: 1, numericOrdering: true, alternate: 'shifted' }],
  ];
  const VIEWERS = ['acme', 'ac-me', 't1', 'ACME'];
  // the tenant id each viewer's id could be confused with under a loose collation
  const TWIN = { acme: 'ACME', 'ac-me': 'acme', t1: 't01', ACME: 'Acme' };

  describe.each(COLLATIONS)('%s', (label, collation) => {
    test.each(VIEWERS)('tenant %s sees only its own documents', async (viewer) => {
      const own2 = ownIds(viewer);
      const col = suite.fence.collection(CO);
      try {
        await as(viewer, async () => {
          await refusedOrScoped(() => col.find({}, { collation }).toArray(), (r) => expect(ids(r)).toEqual(own2));
          await refusedOrScoped(() => col.countDocuments({}, { collation }), (r) => expect(r).toBe(2));
          await refusedOrScoped(() => col.distinct('_id', {}, { collation }), (r) => expect(r.map(String).sort()).toEqual(own2));
          await refusedOrScoped(() => col.aggregate([], { collation }).toArray(), (r) => expect(ids(r)).toEqual(own2));
          await refusedOrScoped(
            () => col.aggregate([{ $lookup: { from: CO, pipeline: [], as: 'j' } }], { collation }).toArray(),
            (r) => {
              for (const d of r) expect(ids(d.j)).toEqual(own2);
            },
          );
          await refusedOrScoped(
            () => col.findOne({ tenantId: TWIN[viewer] }, { collation }),
            // no other tenant's document; the loose collation may equate the caller's own id
            (r) => {
              if (r !== null) expect(own2).toContain(String(r._id));
            },
          );
          await refusedOrScoped(
            () => col.updateMany({}, { $set: { hit: true } }, { collation }),
            (r) => expect(r.matchedCount).toBe(2),
          );
          await refusedOrScoped(
            () => col.updateOne({ tenantId: TWIN[viewer] }, { $set: { hit: 2 } }, { collation }),
            (r) => expect(r.matchedCount).toBeLessThanOrEqual(1), // own document at most; others checked below
          );
          await refusedOrScoped(
            () => col.findOneAndUpdate({ n: 1 }, { $set: { hit: 3 } }, { collation, returnDocument: 'after' }),
            (r) => expect(String(r._id)).toBe(idOf(viewer, 1)),
          );
          await expectCoOthersUnchanged(viewer);
          await refusedOrScoped(
            () => col.deleteMany({}, { collation }),
            (r) => expect(r.deletedCount).toBe(2),
          );
          await expectCoOthersUnchanged(viewer);
          await refusedOrScoped(
            () => col.bulkWrite([{ updateMany: { filter: {}, update: { $set: { hit: 4 } }, collation } }]),
            (r) => expect(r.matchedCount).toBeLessThanOrEqual(2),
          );
          await expectCoOthersUnchanged(viewer);
        });
      } finally {
        await reseedCo();
      }
    });
  });

  describe('a collection with a default collation {locale: en, strength: 2}', () => {
    const CI = 'ci';
    const PLAIN = 'plainco';

    beforeAll(async () => {
      await suite.rdb.createCollection(CI, { collation: { locale: 'en', strength: 2 } });
      await reseedCo(CI);
      await reseedCo(PLAIN);
    });

    test('reads, counts and writes stay within the exact tenant id', async () => {
      const col = suite.fence.collection(CI);
      const own2 = ownIds('acme');
      try {
        await as('acme', async () => {
          expect(ids(await col.find({}).toArray())).toEqual(own2);
          expect(await col.countDocuments({})).toBe(2);
          expect(await col.estimatedDocumentCount()).toBe(2);
          expect((await col.distinct('_id')).map(String).sort()).toEqual(own2);
          expect((await col.distinct('tenantId')).map(String)).toEqual(['acme']);
          expect(ids(await col.aggregate([]).toArray())).toEqual(own2);
          // never ACME's document (the collection collation may equate the caller's own id)
          const twin = await col.findOne({ tenantId: 'ACME' });
          if (twin !== null) expect(own2).toContain(String(twin._id));
          expect(await col.findOne({ _id: idOf('ACME', 1) })).toBeNull();
          expect((await col.updateMany({}, { $set: { hit: 1 } })).matchedCount).toBe(2);
          expect((await col.findOneAndUpdate({ n: 2 }, { $set: { hit: 2 } }, { returnDocument: 'after' }))._id).toBe(idOf('acme', 2));
          await expectCoOthersUnchanged('acme', CI);
          expect((await col.deleteMany({})).deletedCount).toBe(2);
          await expectCoOthersUnchanged('acme', CI);
        });
      } finally {
        await reseedCo(CI);
      }
    });

    test('sub-pipelines into and out of the collated collection stay exact', async () => {
      const own2 = ownIds('acme');
      await as('acme', async () => {
        // pipeline on the collated collection (its default collation applies to $lookup/$unionWith)
        const r1 = await suite.fence
          .collection(CI)
          .aggregate([
            { $lookup: { from: PLAIN, localField: 'n', foreignField: 'n', as: 'j' } },
            { $lookup: { from: PLAIN, pipeline: [], as: 'all' } },
            { $graphLookup: { from: PLAIN, startWith: '$n', connectFromField: 'n', connectToField: 'n', as: 'g' } },
          ])
          .toArray();
        expect(ids(r1)).toEqual(own2);
        for (const d of r1) {
          expect(ids(d.j)).toEqual([idOf('acme', d.n)]);
          expect(ids(d.all)).toEqual(own2);
          expect(ids(d.g)).toEqual([idOf('acme', d.n)]);
        }
        const r2 = await suite.fence.collection(CI).aggregate([{ $unionWith: PLAIN }]).toArray();
        expect(ids(r2)).toEqual([...own2, ...own2].sort());
        // and from a plain collection into the collated one
        const r3 = await suite.fence
          .collection(PLAIN)
          .aggregate([{ $lookup: { from: CI, pipeline: [], as: 'all' } }, { $unionWith: CI }])
          .toArray();
        for (const d of r3) if (d.all) expect(ids(d.all)).toEqual(own2);
        expect(ids(r3)).toEqual([...own2, ...own2].sort());
      });
    });

    test('a unique index created on it does not equate tenant ids', async () => {
      const col = suite.fence.collection(CI);
      let created = true;
      try {
        await as('acme', () => col.createIndex({ email: 1 }, { unique: true, name: 'ci_email' }));
      } catch (err) {
        expect(err).toBeInstanceOf(TenantError);
        expect(err.code).toBe('TENANT_VIOLATION');
        created = false;
      }
      if (created) {
        await as('acme', () => col.insertOne({ email: 'same@x' }));
        await as('ACME', () => col.insertOne({ email: 'same@x' }));
        await as('Acme', () => col.insertOne({ email: 'same@x' }));
        expect((await suite.rdb.collection(CI).find({ email: 'same@x' }).toArray()).map((d) => d.tenantId).sort()).toEqual([
          'ACME',
          'Acme',
          'acme',
        ]);
      }
    });
  });

  test('an index collation cannot equate tenant ids', async () => {
    const col = suite.fence.collection('co_idx');
    let created = true;
    try {
      await as('acme', () =>
        col.createIndex({ email: 1 }, { unique: true, collation: { locale: 'en', strength: 1, alternate: 'shifted' } }),
      );
    } catch (err) {
      expect(err).toBeInstanceOf(TenantError);
      expect(err.code).toBe('TENANT_VIOLATION');
      created = false;
    }
    if (created) {
      for (const t of ['acme', 'ACME', 'ac-me']) await as(t, () => col.insertOne({ email: 'e@x' }));
      expect(await suite.rdb.collection('co_idx').countDocuments({ email: 'e@x' })).toBe(3);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('$geoNear', () => {
  const GEO = 'geo';

  beforeAll(async () => {
    // As createIndex inside runAsSystem builds it: tenant field first (finding 9: a geo index
    // without it would walk every tenant's keys, so the fence refuses $geoNear on one).
    await suite.rdb.collection(GEO).createIndex({ tenantId: 1, loc: '2dsphere' });
    await suite.rdb.collection(GEO).insertMany([
      { _id: 'ga-1', tenantId: 'a', name: 'near', loc: { type: 'Point', coordinates: [0, 0.01] } },
      { _id: 'ga-2', tenantId: 'a', name: 'far', loc: { type: 'Point', coordinates: [0, 0.02] } },
      { _id: 'gb-1', tenantId: 'b', name: 'near', loc: { type: 'Point', coordinates: [0, 0] } },
      { _id: 'gb-2', tenantId: 'b', name: 'far', loc: { type: 'Point', coordinates: [0, 0.005] } },
    ]);
  });

  const near = { type: 'Point', coordinates: [0, 0] };
  const geoAgg = (tenant, pipeline) => as(tenant, () => suite.fence.collection(GEO).aggregate(pipeline).toArray());

  test('a $geoNear on a geo index that does not start with the tenant field is refused', async () => {
    await suite.rdb.collection('geo_plain').createIndex({ loc: '2dsphere' });
    await suite.rdb.collection('geo_plain').insertOne({ tenantId: 'b', loc: { type: 'Point', coordinates: [0, 0] } });
    const c = suite.fence.collection('geo_plain');
    await expectTenantError(as('a', () => c.aggregate([{ $geoNear: { near, distanceField: 'd' } }]).toArray()), 'TENANT_VIOLATION');
    await expectTenantError(as('a', () => c.find({ loc: { $near: { $geometry: near } } }).toArray()), 'TENANT_VIOLATION');
  });

  test('a leading $geoNear works and is scoped', async () => {
    const r = await geoAgg('a', [{ $geoNear: { near, distanceField: 'd', spherical: true } }]);
    expect(r.map((d) => String(d._id))).toEqual(['ga-1', 'ga-2']);
    expect(r[0].d).toBeGreaterThan(0);
    const rq = await geoAgg('a', [
      { $geoNear: { near, distanceField: 'd', spherical: true, key: 'loc', query: { name: 'far' } } },
    ]);
    expect(rq.map((d) => String(d._id))).toEqual(['ga-2']);
    const rb = await geoAgg('b', [{ $geoNear: { near, distanceField: 'd' } }, { $limit: 1 }]);
    expect(rb.map((d) => String(d._id))).toEqual(['gb-1']);
  });

  test('a $geoNear query naming another tenant does not widen the match', async () => {
    await refusedOrScoped(
      () => geoAgg('a', [{ $geoNear: { near, distanceField: 'd', query: { tenantId: 'b' } } }]),
      (r) => expect(r).toEqual([]),
    );
    await refusedOrScoped(
      () =>
        geoAgg('a', [{ $geoNear: { near, distanceField: 'd', query: { $or: [{ tenantId: 'b' }, { name: 'near' }] } } }]),
      (r) => expect(r.map((d) => String(d._id))).toEqual(['ga-1']),
    );
  });
});
