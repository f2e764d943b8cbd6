'use strict';
// Every scoped collection method of the contract table: happy paths and result shapes,
// which follow the official `mongodb` driver. The npm driver is the oracle for what is stored.

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { spawnSync } = require('node:child_process');
const tf = require('../..');
const { TenantFence, TenantError, ObjectId } = tf;
const {
  uri,
  uriWithDb,
  dbName,
  useSuite,
  expectTenantError,
  expectSyncTenantError,
  expectRejectsTenant,
  own,
  ownAll,
  ids,
  captureError,
} = require('../helpers/fixtures');

const suite = useSuite('coll');

const { as } = suite;

/** Seeds documents of any tenant through the oracle. */
async function seed(collName, docs) {
  if (docs.length) await suite.rdb.collection(collName).insertMany(docs.map((d) => ({ ...d })));
}

describe('package', () => {
  test('exports TenantFence, TenantError and the bson classes', () => {
    expect(typeof TenantFence).toBe('function');
    expect(typeof TenantFence.connect).toBe('function');
    expect(typeof TenantError).toBe('function');
    const bson = require('bson');
    for (const name of ['ObjectId', 'Decimal128', 'Long', 'Binary', 'Timestamp']) {
      // "the same classes that the bson package exports"
      expect(tf[name]).toBe(bson[name]);
    }
  });

  test('ESM: import { … } from "tenantfence" works', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-esm-'));
    try {
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.symlinkSync(path.resolve(__dirname, '..', '..'), path.join(dir, 'node_modules', 'tenantfence'), 'dir');
      const file = path.join(dir, 'probe.mjs');
      fs.writeFileSync(
        file,
        [
          "import { TenantFence, TenantError, ObjectId, Decimal128, Long, Binary, Timestamp } from 'tenantfence';",
          "import * as all from 'tenantfence';",
          'const names = { TenantFence, TenantError, ObjectId, Decimal128, Long, Binary, Timestamp };',
          "const missing = Object.entries(names).filter(([, v]) => typeof v !== 'function').map(([k]) => k);",
          "if (missing.length) { console.error('missing ' + missing.join(',')); process.exit(2); }",
          "if (typeof TenantFence.connect !== 'function') process.exit(3);",
          "if (!all || typeof all !== 'object') process.exit(4);",
          "console.log('ok');",
        ].join('\n'),
      );
      const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 30000 });
      // stderr is shown only when the probe failed
      expect({ status: r.status, stdout: r.stdout.trim(), stderr: r.status === 0 ? '' : r.stderr }).toEqual({
        status: 0,
        stdout: 'ok',
        stderr: '',
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('insertOne', () => {
  const C = 'ins1';

  test('result shape, _id written back into the caller object, tenant stamped', async () => {
    const col = suite.fence.collection(C);
    const doc = { name: 'one', n: 1 };
    const r = await as('a', () => col.insertOne(doc));
    expect(r).toEqual({ acknowledged: true, insertedId: expect.any(ObjectId) });
    expect(doc._id).toBeInstanceOf(ObjectId);
    expect(doc._id.equals(r.insertedId)).toBe(true);
    const stored = await suite.rdb.collection(C).findOne({ _id: r.insertedId });
    expect(stored).toEqual({ _id: r.insertedId, name: 'one', n: 1, tenantId: 'a' });
  });

  test('keeps a caller-given _id', async () => {
    const col = suite.fence.collection(C);
    const r = await as('b', () => col.insertOne({ _id: 'given-id-1', name: 'given' }));
    expect(r).toEqual({ acknowledged: true, insertedId: 'given-id-1' });
    expect(await suite.rdb.collection(C).findOne({ _id: 'given-id-1' })).toEqual({
      _id: 'given-id-1',
      name: 'given',
      tenantId: 'b',
    });
  });

  test('without a tenant: TENANT_MISSING, nothing written', async () => {
    const col = suite.fence.collection(C);
    const before = await suite.rdb.collection(C).countDocuments();
    await expectRejectsTenant(() => col.insertOne({ name: 'nobody' }), 'TENANT_MISSING');
    expect(await suite.rdb.collection(C).countDocuments()).toBe(before);
  });
});

describe('insertMany', () => {
  const C = 'insmany';

  test('result shape, _ids written back, every doc stamped', async () => {
    const col = suite.fence.collection(C);
    const docs = [{ n: 1 }, { n: 2 }, { n: 3 }];
    const r = await as('a', () => col.insertMany(docs));
    expect(r).toEqual({
      acknowledged: true,
      insertedCount: 3,
      insertedIds: { 0: expect.any(ObjectId), 1: expect.any(ObjectId), 2: expect.any(ObjectId) },
    });
    for (let i = 0; i < 3; i++) {
      expect(docs[i]._id).toBeInstanceOf(ObjectId);
      expect(docs[i]._id.equals(r.insertedIds[i])).toBe(true);
      expect(await suite.rdb.collection(C).findOne({ _id: r.insertedIds[i] })).toEqual({
        _id: r.insertedIds[i],
        n: i + 1,
        tenantId: 'a',
      });
    }
  });

  test('mixed given and generated _ids, ordered:false', async () => {
    const col = suite.fence.collection(C);
    const r = await as('b', () => col.insertMany([{ _id: 'm-1', n: 1 }, { n: 2 }], { ordered: false }));
    expect(r.acknowledged).toBe(true);
    expect(r.insertedCount).toBe(2);
    expect(r.insertedIds[0]).toBe('m-1');
    expect(r.insertedIds[1]).toBeInstanceOf(ObjectId);
    const stored = await suite.rdb.collection(C).find({ _id: { $in: ['m-1', r.insertedIds[1]] } }).toArray();
    expect(stored).toHaveLength(2);
    for (const d of stored) expect(d.tenantId).toBe('b');
  });

  test('insertedIds are the caller\'s own _id values, index for index, as the driver returns them', async () => {
    const col = suite.fence.collection(C);
    const given = { k: 1 };
    const docs = [{ _id: 7 }, { _id: given }, {}, { _id: 'm-2' }];
    const r = await as('b', () => col.insertMany(docs));
    expect(Object.keys(r.insertedIds)).toEqual(['0', '1', '2', '3']);
    expect(r.insertedIds[0]).toBe(7);
    expect(r.insertedIds[1]).toBe(given);
    expect(r.insertedIds[2]).toBe(docs[2]._id);
    expect(r.insertedIds[3]).toBe('m-2');
    expect(await suite.rdb.collection(C).countDocuments({ _id: { $in: [7, given, docs[2]._id, 'm-2'] }, tenantId: 'b' })).toBe(4);
  });
});

describe('reads', () => {
  const C = 'reads';
  const A = [];

  beforeAll(async () => {
    const docs = [];
    for (const t of ['a', 'b']) {
      for (let n = 1; n <= 5; n++) {
        docs.push({ _id: `${t}-${n}`, tenantId: t, n, tag: n % 2 ? `${t}-odd` : 'even', name: `${t}${n}` });
      }
    }
    docs.push({ _id: 'b-only', tenantId: 'b', n: 99, tag: 'b-only', name: 'onlyb' });
    await seed(C, docs);
    for (let n = 1; n <= 5; n++) A.push(`a-${n}`);
  });

  describe('findOne', () => {
    test('returns the document', async () => {
      const col = suite.fence.collection(C);
      const d = await as('a', () => col.findOne({ n: 3 }));
      expect(own(d, 'a')).toEqual({ _id: 'a-3', n: 3, tag: 'a-odd', name: 'a3' });
    });

    test('returns null when only another tenant has a match', async () => {
      const col = suite.fence.collection(C);
      expect(await as('a', () => col.findOne({ name: 'onlyb' }))).toBeNull();
      expect(await as('a', () => col.findOne({ _id: 'b-1' }))).toBeNull();
    });

    test('options: projection and sort', async () => {
      const col = suite.fence.collection(C);
      // driver semantics: projection excludes everything else, _id:0 removes _id
      expect(await as('a', () => col.findOne({}, { sort: { n: -1 }, projection: { n: 1, _id: 0 } }))).toEqual({
        n: 5,
      });
      expect(await as('b', () => col.findOne({}, { sort: { n: -1 }, projection: { n: 1, _id: 0 } }))).toEqual({
        n: 99,
      });
    });
  });

  describe('find', () => {
    test('toArray sees only the tenant documents', async () => {
      const col = suite.fence.collection(C);
      const docs = await as('a', () => col.find({}).toArray());
      expect(ids(docs)).toEqual(A);
      ownAll(docs, 'a');
      const docsB = await as('b', () => col.find({}).toArray());
      expect(docsB).toHaveLength(6);
      ownAll(docsB, 'b');
    });

    test('filter operators apply within the tenant', async () => {
      const col = suite.fence.collection(C);
      const docs = await as('a', () => col.find({ n: { $gte: 4 } }).toArray());
      expect(ids(docs)).toEqual(['a-4', 'a-5']);
    });

    test('next() until null', async () => {
      const col = suite.fence.collection(C);
      const seen = await as('a', async () => {
        const cur = col.find({}, { batchSize: 2 });
        const out = [];
        for (let d = await cur.next(); d !== null; d = await cur.next()) out.push(d);
        // driver: next() keeps returning null once exhausted
        expect(await cur.next()).toBeNull();
        return out;
      });
      expect(ids(seen)).toEqual(A);
    });

    test('for await', async () => {
      const col = suite.fence.collection(C);
      const out = [];
      await as('a', async () => {
        for await (const d of col.find({ n: { $lte: 4 } }, { batchSize: 1 })) out.push(d);
      });
      expect(ids(out)).toEqual(['a-1', 'a-2', 'a-3', 'a-4']);
    });

    test('close()', async () => {
      const col = suite.fence.collection(C);
      await as('a', async () => {
        const unused = col.find({});
        await unused.close();
        const cur = col.find({}, { batchSize: 2 });
        const first = await cur.next();
        expect(A).toContain(String(first._id));
        await cur.close();
        // driver: a closed cursor yields no more documents (toArray gives [])
        const rest = await cur.toArray().catch(() => []);
        expect(rest).toEqual([]);
      });
    });

    test('options: sort, limit, skip, projection, batchSize', async () => {
      const col = suite.fence.collection(C);
      await as('a', async () => {
        expect((await col.find({}, { sort: { n: -1 } }).toArray()).map((d) => d.n)).toEqual([5, 4, 3, 2, 1]);
        expect((await col.find({}, { sort: { n: 1 }, limit: 2 }).toArray()).map((d) => d.n)).toEqual([1, 2]);
        expect((await col.find({}, { sort: { n: 1 }, skip: 3 }).toArray()).map((d) => d.n)).toEqual([4, 5]);
        expect(await col.find({}, { sort: { n: 1 }, projection: { n: 1, _id: 0 } }).toArray()).toEqual([
          { n: 1 },
          { n: 2 },
          { n: 3 },
          { n: 4 },
          { n: 5 },
        ]);
        expect(ids(await col.find({}, { batchSize: 1 }).toArray())).toEqual(A);
        expect(
          (await col.find({}, { sort: { n: -1 }, skip: 1, limit: 2, batchSize: 1 }).toArray()).map((d) => d.n),
        ).toEqual([4, 3]);
      });
    });

    test('chaining sort/limit/skip/project/batchSize', async () => {
      const col = suite.fence.collection(C);
      const got = await as('a', () =>
        col.find({}).sort({ n: 1 }).skip(1).limit(3).project({ n: 1, _id: 0 }).batchSize(1).toArray(),
      );
      expect(got).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
      const gotB = await as('b', () => col.find({}).sort({ n: -1 }).limit(1).project({ name: 1, _id: 0 }).toArray());
      expect(gotB).toEqual([{ name: 'onlyb' }]);
    });

    test('a cursor created inside runAs(a) and read outside any context still reads tenant a', async () => {
      const col = suite.fence.collection(C);
      const cur = as('a', () => col.find({}).sort({ n: 1 }).batchSize(2));
      expect(suite.fence.currentTenant()).toBeUndefined();
      const docs = await cur.toArray();
      expect(ids(docs)).toEqual(A);
      ownAll(docs, 'a');
    });

    test('a cursor created in runAs(a) and read inside runAs(b) still reads tenant a (getMore too)', async () => {
      const col = suite.fence.collection(C);
      const cur = as('a', () => col.find({}, { batchSize: 2, sort: { n: 1 } }));
      const docs = await as('b', async () => {
        const out = [];
        for await (const d of cur) out.push(d);
        return out;
      });
      expect(ids(docs)).toEqual(A);
      const agg = as('a', () => col.aggregate([{ $sort: { n: 1 } }], { batchSize: 1 }));
      const aggDocs = await as('b', () => agg.toArray());
      expect(ids(aggDocs)).toEqual(A);
    });

    test('find() and aggregate() outside a context throw TENANT_MISSING synchronously', () => {
      const col = suite.fence.collection(C);
      expectSyncTenantError(() => col.find({}), 'TENANT_MISSING');
      expectSyncTenantError(() => col.find(), 'TENANT_MISSING');
      expectSyncTenantError(() => col.aggregate([]), 'TENANT_MISSING');
    });
  });

  describe('counts and distinct', () => {
    test('countDocuments is a number scoped to the tenant', async () => {
      const col = suite.fence.collection(C);
      await as('a', async () => {
        expect(await col.countDocuments()).toBe(5);
        expect(await col.countDocuments({})).toBe(5);
        expect(await col.countDocuments({ n: { $gt: 2 } })).toBe(3);
        expect(await col.countDocuments({}, { limit: 2 })).toBe(2);
        expect(await col.countDocuments({}, { skip: 4 })).toBe(1);
        expect(await col.countDocuments({ name: 'onlyb' })).toBe(0);
      });
      expect(await as('b', () => col.countDocuments({}))).toBe(6);
    });

    test('estimatedDocumentCount is scoped: only the tenant documents', async () => {
      const col = suite.fence.collection(C);
      expect(await suite.rdb.collection(C).estimatedDocumentCount()).toBe(11);
      const n = await as('a', () => col.estimatedDocumentCount());
      expect(typeof n).toBe('number');
      expect(n).toBe(5);
      expect(await as('b', () => col.estimatedDocumentCount())).toBe(6);
      expect(await as('nobody', () => col.estimatedDocumentCount())).toBe(0);
    });

    test('distinct returns an array of the tenant values', async () => {
      const col = suite.fence.collection(C);
      const tags = await as('a', () => col.distinct('tag'));
      expect(Array.isArray(tags)).toBe(true);
      expect([...tags].sort()).toEqual(['a-odd', 'even']);
      const filtered = await as('a', () => col.distinct('n', { tag: 'even' }));
      expect([...filtered].sort()).toEqual([2, 4]);
      const tagsB = await as('b', () => col.distinct('tag', {}));
      expect([...tagsB].sort()).toEqual(['b-odd', 'b-only', 'even']);
      expect(await as('a', () => col.distinct('tenantId'))).toEqual(['a']);
    });
  });

  describe('aggregate', () => {
    test('group over the tenant documents only', async () => {
      const col = suite.fence.collection(C);
      const r = await as('a', () =>
        col.aggregate([{ $match: { n: { $gte: 2 } } }, { $group: { _id: null, sum: { $sum: '$n' } } }]).toArray(),
      );
      expect(r).toEqual([{ _id: null, sum: 14 }]);
      expect(await as('a', () => col.aggregate([{ $count: 'count' }]).toArray())).toEqual([{ count: 5 }]);
    });

    test('empty pipeline, next(), for await, batchSize, close()', async () => {
      const col = suite.fence.collection(C);
      await as('a', async () => {
        expect(ids(await col.aggregate([]).toArray())).toEqual(A);
        const cur = col.aggregate([{ $sort: { n: 1 } }, { $project: { _id: 0, n: 1 } }], { batchSize: 1 });
        expect(await cur.next()).toEqual({ n: 1 });
        expect(await cur.next()).toEqual({ n: 2 });
        await cur.close();
        const out = [];
        for await (const d of col.aggregate([{ $sort: { n: -1 } }, { $limit: 2 }])) out.push(d.n);
        expect(out).toEqual([5, 4]);
      });
    });
  });
});

describe('writes', () => {
  const C = 'writes';

  beforeEach(async () => {
    await suite.rdb.collection(C).deleteMany({});
    const docs = [];
    for (const t of ['a', 'b']) {
      for (let n = 1; n <= 3; n++) docs.push({ _id: `${t}-${n}`, tenantId: t, n, grp: 'g' });
    }
    await seed(C, docs);
  });

  const bDocs = () => suite.rdb.collection(C).find({ tenantId: 'b' }).sort({ _id: 1 }).toArray();
  const bExpected = [1, 2, 3].map((n) => ({ _id: `b-${n}`, tenantId: 'b', n, grp: 'g' }));
  /** The stored document with `_id` (the oracle), or null. */
  const stored = (_id) => suite.rdb.collection(C).findOne({ _id });

  // The driver's UpdateResult: without an upsert, and for one upsert with a generated _id.
  const updated = (matchedCount, modifiedCount) => ({
    acknowledged: true,
    matchedCount,
    modifiedCount,
    upsertedId: null,
    upsertedCount: 0,
  });
  const UPSERTED = {
    acknowledged: true,
    matchedCount: 0,
    modifiedCount: 0,
    upsertedId: expect.any(ObjectId),
    upsertedCount: 1,
  };

  describe('updateOne / updateMany', () => {
    test('updateOne result shape and effect', async () => {
      const col = suite.fence.collection(C);
      const r = await as('a', () => col.updateOne({ n: 2 }, { $set: { x: 1 } }));
      expect(r).toEqual(updated(1, 1));
      expect(await stored('a-2')).toEqual({ _id: 'a-2', tenantId: 'a', n: 2, grp: 'g', x: 1 });
      expect(await bDocs()).toEqual(bExpected);
    });

    test('no match and no-op modification', async () => {
      const col = suite.fence.collection(C);
      expect(await as('a', () => col.updateOne({ n: 42 }, { $set: { x: 1 } }))).toEqual(updated(0, 0));
      expect(await as('a', () => col.updateOne({ n: 1 }, { $set: { n: 1 } }))).toEqual(updated(1, 0));
    });

    test('updateMany touches only the tenant documents', async () => {
      const col = suite.fence.collection(C);
      const r = await as('a', () => col.updateMany({ grp: 'g' }, { $inc: { n: 10 } }));
      expect(r).toEqual(updated(3, 3));
      const a = await suite.rdb.collection(C).find({ tenantId: 'a' }).sort({ _id: 1 }).toArray();
      expect(a.map((d) => d.n)).toEqual([11, 12, 13]);
      expect(await bDocs()).toEqual(bExpected);
    });

    test('pipeline updates', async () => {
      const col = suite.fence.collection(C);
      const r = await as('a', () => col.updateMany({}, [{ $set: { double: { $multiply: ['$n', 2] } } }]));
      expect(r).toMatchObject({ acknowledged: true, matchedCount: 3, modifiedCount: 3, upsertedCount: 0 });
      const a = await suite.rdb.collection(C).find({ tenantId: 'a' }).sort({ _id: 1 }).toArray();
      expect(a.map((d) => d.double)).toEqual([2, 4, 6]);
      for (const d of a) expect(d.tenantId).toBe('a');
      const r1 = await as('a', () => col.updateOne({ n: 1 }, [{ $set: { label: { $concat: ['n=', { $toString: '$n' }] } } }]));
      expect(r1).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
      expect((await stored('a-1')).label).toBe('n=1');
      expect(await bDocs()).toEqual(bExpected);
    });

    test('upsert stamps the tenant (updateOne, updateMany, pipeline, $setOnInsert)', async () => {
      const col = suite.fence.collection(C);
      const r = await as('a', () => col.updateOne({ key: 'new' }, { $set: { v: 1 } }, { upsert: true }));
      expect(r).toEqual(UPSERTED);
      expect(await stored(r.upsertedId)).toEqual({ _id: r.upsertedId, key: 'new', v: 1, tenantId: 'a' });

      const rm = await as('b', () =>
        col.updateMany({ key: 'many' }, { $set: { v: 2 }, $setOnInsert: { created: true } }, { upsert: true }),
      );
      expect(rm.upsertedCount).toBe(1);
      expect(await stored(rm.upsertedId)).toEqual({
        _id: rm.upsertedId,
        key: 'many',
        v: 2,
        created: true,
        tenantId: 'b',
      });

      const rp = await as('a', () => col.updateOne({ key: 'pipe' }, [{ $set: { v: 3 } }], { upsert: true }));
      expect(rp.upsertedCount).toBe(1);
      expect(await stored(rp.upsertedId)).toEqual({ _id: rp.upsertedId, key: 'pipe', v: 3, tenantId: 'a' });

      // an upsert that matches does not insert, and only matches the tenant's own document
      const again = await as('a', () => col.updateOne({ key: 'new' }, { $set: { v: 9 } }, { upsert: true }));
      expect(again).toEqual(updated(1, 1));
      const other = await as('b', () => col.updateOne({ key: 'new' }, { $set: { v: 5 } }, { upsert: true }));
      expect(other.upsertedCount).toBe(1);
      expect((await stored(r.upsertedId)).v).toBe(9);
      expect(await stored(other.upsertedId)).toEqual({ _id: other.upsertedId, key: 'new', v: 5, tenantId: 'b' });
    });
  });

  describe('replaceOne', () => {
    test('result shape; the stored replacement carries the tenant', async () => {
      const col = suite.fence.collection(C);
      const r = await as('a', () => col.replaceOne({ n: 1 }, { name: 'replaced' }));
      expect(r).toEqual(updated(1, 1));
      expect(await stored('a-1')).toEqual({ _id: 'a-1', name: 'replaced', tenantId: 'a' });
      expect(await bDocs()).toEqual(bExpected);
    });

    test('replacement naming the current tenant is allowed; no match', async () => {
      const col = suite.fence.collection(C);
      const r = await as('a', () => col.replaceOne({ _id: 'a-2' }, { tenantId: 'a', name: 'same' }));
      expect(r).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
      expect(await stored('a-2')).toEqual({ _id: 'a-2', name: 'same', tenantId: 'a' });
      expect(await as('a', () => col.replaceOne({ _id: 'b-2' }, { name: 'x' }))).toEqual(updated(0, 0));
      expect(await bDocs()).toEqual(bExpected);
    });

    test('upsert stamps the tenant', async () => {
      const col = suite.fence.collection(C);
      const r = await as('b', () => col.replaceOne({ key: 'rep' }, { key: 'rep', v: 1 }, { upsert: true }));
      expect(r).toEqual(UPSERTED);
      expect(await stored(r.upsertedId)).toEqual({ _id: r.upsertedId, key: 'rep', v: 1, tenantId: 'b' });
    });
  });

  describe('deleteOne / deleteMany', () => {
    test('result shapes; only the tenant documents are deleted', async () => {
      const col = suite.fence.collection(C);
      expect(await as('a', () => col.deleteOne({ n: 1 }))).toEqual({ acknowledged: true, deletedCount: 1 });
      expect(await stored('a-1')).toBeNull();
      expect(await as('a', () => col.deleteOne({ _id: 'b-2' }))).toEqual({ acknowledged: true, deletedCount: 0 });
      expect(await as('a', () => col.deleteMany({}))).toEqual({ acknowledged: true, deletedCount: 2 });
      expect(await suite.rdb.collection(C).countDocuments({ tenantId: 'a' })).toBe(0);
      expect(await bDocs()).toEqual(bExpected);
      expect(await as('b', () => col.deleteMany({ n: { $gte: 2 } }))).toEqual({ acknowledged: true, deletedCount: 2 });
      expect((await bDocs()).map((d) => d._id)).toEqual(['b-1']);
    });
  });

  describe('findOneAndUpdate / findOneAndReplace / findOneAndDelete', () => {
    test('findOneAndUpdate returnDocument before (default) and after', async () => {
      const col = suite.fence.collection(C);
      const before = await as('a', () => col.findOneAndUpdate({ n: 1 }, { $set: { x: 1 } }));
      expect(own(before, 'a')).toEqual({ _id: 'a-1', n: 1, grp: 'g' });
      const before2 = await as('a', () => col.findOneAndUpdate({ n: 2 }, { $set: { x: 2 } }, { returnDocument: 'before' }));
      expect(own(before2, 'a')).toEqual({ _id: 'a-2', n: 2, grp: 'g' });
      const after = await as('a', () => col.findOneAndUpdate({ n: 3 }, { $set: { x: 3 } }, { returnDocument: 'after' }));
      expect(own(after, 'a')).toEqual({ _id: 'a-3', n: 3, grp: 'g', x: 3 });
      expect(await as('a', () => col.findOneAndUpdate({ _id: 'b-1' }, { $set: { x: 1 } }))).toBeNull();
      expect(await bDocs()).toEqual(bExpected);
    });

    test('findOneAndUpdate with sort, projection, pipeline and upsert', async () => {
      const col = suite.fence.collection(C);
      const top = await as('a', () =>
        col.findOneAndUpdate(
          {},
          { $set: { top: true } },
          { sort: { n: -1 }, projection: { n: 1, top: 1, _id: 0 }, returnDocument: 'after' },
        ),
      );
      expect(top).toEqual({ n: 3, top: true });
      const piped = await as('a', () =>
        col.findOneAndUpdate({ n: 1 }, [{ $set: { n2: { $add: ['$n', 1] } } }], { returnDocument: 'after' }),
      );
      expect(own(piped, 'a')).toEqual({ _id: 'a-1', n: 1, grp: 'g', n2: 2 });
      const up = await as('a', () =>
        col.findOneAndUpdate({ key: 'fau' }, { $set: { v: 1 } }, { upsert: true, returnDocument: 'after' }),
      );
      expect(own(up, 'a')).toEqual({ _id: expect.any(ObjectId), key: 'fau', v: 1 });
      expect(await stored(up._id)).toEqual({ _id: up._id, key: 'fau', v: 1, tenantId: 'a' });
      expect(await bDocs()).toEqual(bExpected);
    });

    test('findOneAndReplace before/after; stored replacement is stamped', async () => {
      const col = suite.fence.collection(C);
      const before = await as('a', () => col.findOneAndReplace({ n: 1 }, { name: 'r1' }));
      expect(own(before, 'a')).toEqual({ _id: 'a-1', n: 1, grp: 'g' });
      expect(await stored('a-1')).toEqual({ _id: 'a-1', name: 'r1', tenantId: 'a' });
      const after = await as('a', () => col.findOneAndReplace({ n: 2 }, { name: 'r2' }, { returnDocument: 'after' }));
      expect(own(after, 'a')).toEqual({ _id: 'a-2', name: 'r2' });
      expect(await as('a', () => col.findOneAndReplace({ _id: 'b-3' }, { name: 'no' }))).toBeNull();
      const up = await as('b', () =>
        col.findOneAndReplace({ key: 'for' }, { key: 'for', v: 2 }, { upsert: true, returnDocument: 'after' }),
      );
      expect(own(up, 'b')).toEqual({ _id: expect.any(ObjectId), key: 'for', v: 2 });
      expect(await stored(up._id)).toEqual({ _id: up._id, key: 'for', v: 2, tenantId: 'b' });
    });

    test('findOneAndDelete returns the deleted document or null', async () => {
      const col = suite.fence.collection(C);
      const d = await as('a', () => col.findOneAndDelete({ n: 2 }));
      expect(own(d, 'a')).toEqual({ _id: 'a-2', n: 2, grp: 'g' });
      expect(await stored('a-2')).toBeNull();
      expect(await as('a', () => col.findOneAndDelete({ n: 2 }))).toBeNull();
      const last = await as('a', () => col.findOneAndDelete({}, { sort: { n: -1 } }));
      expect(String(last._id)).toBe('a-3');
      expect(await bDocs()).toEqual(bExpected);
    });
  });

  describe('bulkWrite', () => {
    test('every op kind, counters, insertedIds and upsertedIds keyed by op index', async () => {
      const col = suite.fence.collection(C);
      await seed(C, [
        { _id: 'a-r1', tenantId: 'a', k: 'r1', r: 1 },
        { _id: 'a-d1', tenantId: 'a', k: 'd1' },
        { _id: 'a-del1', tenantId: 'a', grp: 'del' },
        { _id: 'a-del2', tenantId: 'a', grp: 'del' },
        { _id: 'b-r1', tenantId: 'b', k: 'r1', r: 1 },
        { _id: 'b-d1', tenantId: 'b', k: 'd1' },
        { _id: 'b-del1', tenantId: 'b', grp: 'del' },
      ]);
      const bBefore = await suite.rdb.collection(C).find({ tenantId: 'b' }).sort({ _id: 1 }).toArray();
      const ops = [
        { insertOne: { document: { k: 'i1' } } }, // 0
        { updateOne: { filter: { k: 'i1' }, update: { $set: { u: 1 } } } }, // 1: matches the doc inserted by op 0
        { updateMany: { filter: { grp: 'g' }, update: { $inc: { n: 100 } } } }, // 2: 3 docs of a
        { updateOne: { filter: { k: 'up1' }, update: { $set: { u: 2 } }, upsert: true } }, // 3: upsert
        { replaceOne: { filter: { k: 'r1' }, replacement: { k: 'r1', r: 2 } } }, // 4
        { replaceOne: { filter: { k: 'r2' }, replacement: { k: 'r2' }, upsert: true } }, // 5: upsert
        { deleteOne: { filter: { k: 'd1' } } }, // 6
        { deleteMany: { filter: { grp: 'del' } } }, // 7: 2 docs of a
        { insertOne: { document: { k: 'i2' } } }, // 8
      ];
      const r = await as('a', () => col.bulkWrite(ops));
      expect(r).toEqual({
        insertedCount: 2,
        matchedCount: 5,
        modifiedCount: 5,
        deletedCount: 3,
        upsertedCount: 2,
        insertedIds: { 0: expect.any(ObjectId), 8: expect.any(ObjectId) },
        upsertedIds: { 3: expect.any(ObjectId), 5: expect.any(ObjectId) },
      });
      expect(await stored(r.insertedIds[0])).toEqual({ _id: r.insertedIds[0], k: 'i1', u: 1, tenantId: 'a' });
      expect(await stored(r.insertedIds[8])).toEqual({ _id: r.insertedIds[8], k: 'i2', tenantId: 'a' });
      expect(await stored(r.upsertedIds[3])).toEqual({ _id: r.upsertedIds[3], k: 'up1', u: 2, tenantId: 'a' });
      expect(await stored(r.upsertedIds[5])).toEqual({ _id: r.upsertedIds[5], k: 'r2', tenantId: 'a' });
      expect(await stored('a-r1')).toEqual({ _id: 'a-r1', k: 'r1', r: 2, tenantId: 'a' });
      expect(await stored('a-d1')).toBeNull();
      expect(await suite.rdb.collection(C).countDocuments({ grp: 'del', tenantId: 'a' })).toBe(0);
      expect((await suite.rdb.collection(C).find({ tenantId: 'a', grp: 'g' }).toArray()).map((d) => d.n).sort()).toEqual([
        101, 102, 103,
      ]);
      // the other tenant's look-alike documents are untouched
      expect(await suite.rdb.collection(C).find({ tenantId: 'b' }).sort({ _id: 1 }).toArray()).toEqual(bBefore);
    });

    test('ordered:false', async () => {
      const col = suite.fence.collection(C);
      const r = await as('b', () =>
        col.bulkWrite(
          [
            { insertOne: { document: { k: 'u1' } } },
            { updateOne: { filter: { k: 'nope' }, update: { $set: { z: 1 } }, upsert: true } },
            { deleteOne: { filter: { n: 1 } } },
          ],
          { ordered: false },
        ),
      );
      expect(r).toMatchObject({ insertedCount: 1, upsertedCount: 1, deletedCount: 1, matchedCount: 0, modifiedCount: 0 });
      expect(r.insertedIds).toEqual({ 0: expect.any(ObjectId) });
      expect(r.upsertedIds).toEqual({ 1: expect.any(ObjectId) });
      expect((await stored(r.upsertedIds[1])).tenantId).toBe('b');
      expect((await stored(r.insertedIds[0])).tenantId).toBe('b');
      expect(await stored('b-1')).toBeNull();
      expect(await stored('a-1')).not.toBeNull();
    });

    test.each([
      [{ deleteMany: {} }, 'deleteMany.filter'],
      [{ deleteOne: { filter: null } }, 'deleteOne.filter'],
      [{ updateMany: { update: { $set: { z: 1 } } } }, 'updateMany.filter'],
      [{ replaceOne: { replacement: { z: 1 } } }, 'replaceOne.filter'],
    ])('%j without a filter is a TypeError, as in the driver, and writes nothing', async (op, name) => {
      const col = suite.fence.collection(C);
      const before = await suite.rdb.collection(C).find({}).sort({ _id: 1 }).toArray();
      const err = await as('a', () => col.bulkWrite([{ insertOne: { document: { k: 'first' } } }, op])).catch((e) => e);
      expect(err).toBeInstanceOf(TypeError);
      expect(err.message).toContain(name);
      expect(await suite.rdb.collection(C).find({}).sort({ _id: 1 }).toArray()).toEqual(before);
    });
  });
});

describe('createIndex', () => {
  const C = 'idx';

  /** runAsSystem, as a migration would: what a tenant may not build (scope/indexes.rs). */
  const system = (fn) => suite.fence.runAsSystem({ reason: 'migration' }, fn);

  test('returns the index name; the tenant field comes first', async () => {
    const col = suite.fence.collection(C);
    const name = await system(() => col.createIndex({ email: 1 }, { unique: true }));
    expect(typeof name).toBe('string');
    const indexes = await suite.rdb.collection(C).listIndexes().toArray();
    const ix = indexes.find((i) => i.name === name);
    expect(ix).toBeDefined();
    expect(Object.keys(ix.key)[0]).toBe('tenantId');
    expect(ix.key).toMatchObject({ email: 1 });
    expect(ix.unique).toBe(true);
    // driver: an explicit name is returned as is
    expect(await as('a', () => col.createIndex({ n: -1 }, { name: 'by_n' }))).toBe('by_n');
    const named = (await suite.rdb.collection(C).listIndexes().toArray()).find((i) => i.name === 'by_n');
    expect(Object.keys(named.key)).toEqual(['tenantId', 'n']);
    expect(named.key.n).toBe(-1);
  });

  test('a tenant builds plain indexes only: unique, TTL and index types whose build can fail on data need runAsSystem', async () => {
    const col = suite.fence.collection(C);
    expect(await as('a', () => col.createIndex({ plain: -1 }))).toBe('tenantId_1_plain_-1');
    for (const [spec, opts] of [
      // Two fields that are both arrays in one document cannot be indexed: a compound build
      // could fail on another tenant's document, and then refuse their writes.
      [{ tags: 1, roles: 1 }, {}],
      [{ email: 1 }, { unique: true }],
      [{ at: 1 }, { expireAfterSeconds: 60 }],
      [{ loc: '2dsphere' }, {}],
      [{ body: 'text' }, {}],
      [{ h: 'hashed' }, {}],
    ]) {
      const e = await captureError(as('a', () => col.createIndex(spec, opts)));
      expect([spec, e.code, e.message]).toEqual([spec, 'TENANT_VIOLATION', expect.stringContaining('runAsSystem')]);
    }
  });

  test('unique is per tenant', async () => {
    const col = suite.fence.collection(C);
    await system(() => col.createIndex({ email: 1 }, { unique: true }));
    await as('a', () => col.insertOne({ email: 'x@example.com' }));
    await as('b', () => col.insertOne({ email: 'x@example.com' }));
    const err = await as('a', () => col.insertOne({ email: 'x@example.com' }).then(() => null, (e) => e));
    expect(err).not.toBeNull();
    expect(err.code).toBe(11000);
    expect(err).not.toBeInstanceOf(TenantError);
    expect(await suite.rdb.collection(C).countDocuments({ email: 'x@example.com' })).toBe(2);
    expect((await suite.rdb.collection(C).find({ email: 'x@example.com' }).toArray()).map((d) => d.tenantId).sort()).toEqual([
      'a',
      'b',
    ]);
  });

  test('needs a tenant or system context', async () => {
    const col = suite.fence.collection(C);
    await expectRejectsTenant(() => col.createIndex({ k: 1 }), 'TENANT_MISSING');
    expect((await suite.rdb.collection(C).listIndexes().toArray()).some((i) => 'k' in i.key)).toBe(false);
    const name = await suite.fence.runAsSystem({ reason: 'migration' }, () => col.createIndex({ k: 1 }));
    expect(typeof name).toBe('string');
    const ix = (await suite.rdb.collection(C).listIndexes().toArray()).find((i) => i.name === name);
    expect(ix.key).toMatchObject({ k: 1 });
    expect(Object.keys(ix.key)[0]).toBe('tenantId');
  });
});

describe('connect options', () => {
  test('tenantField renames the stamped field', async () => {
    const f = suite.closeAfter(await TenantFence.connect(uri(), { database: suite.DB, tenantField: 'org' }));
    const col = f.collection('orgs');
    await suite.rdb.collection('orgs').insertOne({ _id: 'other', org: 'b', v: 0 });
    const r = await f.runAs('a', () => col.insertOne({ v: 1 }));
    expect(await suite.rdb.collection('orgs').findOne({ _id: r.insertedId })).toEqual({ _id: r.insertedId, v: 1, org: 'a' });
    const seen = await f.runAs('a', () => col.find({}).toArray());
    expect(seen).toHaveLength(1);
    expect(own(seen[0], 'a', 'org')).toEqual({ _id: r.insertedId, v: 1 });
    await f.runAs('a', () => col.updateMany({}, { $set: { v: 2 } }));
    expect((await suite.rdb.collection('orgs').findOne({ _id: 'other' })).v).toBe(0);
    await expectTenantError(f.runAs('a', () => col.insertOne({ org: 'b' })), 'TENANT_VIOLATION');
  });

  test('default database is the one named in the URI', async () => {
    const name = suite.dropAfter(dbName('colluri'));
    const f = suite.closeAfter(await TenantFence.connect(uriWithDb(name)));
    const r = await f.runAs('a', () => f.collection('d').insertOne({ v: 1 }));
    expect(await suite.raw.db(name).collection('d').findOne({ _id: r.insertedId })).toEqual({
      _id: r.insertedId,
      v: 1,
      tenantId: 'a',
    });
  });

  test('collection handles bind no tenant', async () => {
    const col = suite.fence.collection('handles');
    await as('a', () => col.insertOne({ v: 'a' }));
    await as('b', () => col.insertOne({ v: 'b' }));
    expect((await as('a', () => col.find({}).toArray())).map((d) => d.v)).toEqual(['a']);
    expect((await as('b', () => col.find({}).toArray())).map((d) => d.v)).toEqual(['b']);
  });
});

describe('oracle sweep', () => {
  test('every document in the test database carries a tenant', async () => {
    const colls = await suite.rdb.listCollections({}, { nameOnly: true }).toArray();
    let total = 0;
    for (const { name } of colls) {
      if (name.startsWith('system.')) continue;
      const field = name === 'orgs' ? 'org' : 'tenantId';
      for (const d of await suite.rdb.collection(name).find({}).toArray()) {
        total++;
        expect({ coll: name, tenant: typeof d[field] === 'string' && /^[ab]$/.test(d[field]) }).toEqual({
          coll: name,
          tenant: true,
        });
      }
    }
    expect(total).toBeGreaterThan(20);
  });
});

describe('which error a call with two faults gets', () => {
  test('replaceOne / findOneAndReplace judge the filter before the replacement', async () => {
    const c = () => suite.fence.collection('twofaults');
    // An ObjectId passes the JS object check but is no document: Rust refuses it, after the filter.
    for (const call of [
      () => c().replaceOne({ tenantId: 'b' }, new ObjectId(), { upsert: true }),
      () => c().findOneAndReplace({ tenantId: 'b' }, new ObjectId(), { upsert: true }),
    ]) {
      await expectTenantError(as('a', call), 'TENANT_VIOLATION');
    }
    const bad = await captureError(as('a', () => c().replaceOne({}, new ObjectId())));
    expect([bad.name, bad.code, bad.message]).toEqual(['TypeError', 'ERR_INVALID_ARG', 'replacement must be an object']);
  });
});
