'use strict';
// Errors: TenantError, server errors, TypeErrors for bad arguments, malformed input that must not
// crash the process, and connect() to an unreachable server.

const net = require('node:net');
const { TenantFence, TenantError } = require('../..');
const {
  uri,
  useSuite,
  captureError,
  syncError,
  rejection,
  expectRejectsTenant,
  expectTypeError,
} = require('../helpers/fixtures');

const suite = useSuite('err');
const C = 'errs';

const as = (fn) => suite.as('a', fn);
const col = () => suite.fence.collection(C);

describe('TenantError', () => {
  test('is a class extending Error', () => {
    expect(typeof TenantError).toBe('function');
    expect(Object.create(TenantError.prototype)).toBeInstanceOf(Error);
  });

  test('refusals are TenantErrors with code, message and stack', async () => {
    const missing = await captureError(() => col().insertOne({ x: 1 }));
    const invalid = syncError(() => suite.fence.runAs('a.b', () => 1));
    const violation = await captureError(() => as(() => col().insertOne({ tenantId: 'b' })));
    for (const [err, code] of [
      [missing, 'TENANT_MISSING'],
      [invalid, 'TENANT_INVALID'],
      [violation, 'TENANT_VIOLATION'],
    ]) {
      expect(err).toBeInstanceOf(TenantError);
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(code);
      expect(typeof err.message).toBe('string');
      expect(err.message.length).toBeGreaterThan(0);
      expect(typeof err.stack).toBe('string');
      // contract silent: a subclass of Error conventionally carries its class name
      expect(err.name).toBe('TenantError');
    }
  });

  test('promise-returning methods reject (never throw synchronously) without a tenant', async () => {
    const calls = {
      insertOne: () => col().insertOne({ x: 1 }),
      insertMany: () => col().insertMany([{ x: 1 }]),
      findOne: () => col().findOne({}),
      countDocuments: () => col().countDocuments({}),
      estimatedDocumentCount: () => col().estimatedDocumentCount(),
      distinct: () => col().distinct('x'),
      updateOne: () => col().updateOne({}, { $set: { x: 1 } }),
      updateMany: () => col().updateMany({}, { $set: { x: 1 } }),
      replaceOne: () => col().replaceOne({}, { x: 1 }),
      deleteOne: () => col().deleteOne({}),
      deleteMany: () => col().deleteMany({}),
      findOneAndUpdate: () => col().findOneAndUpdate({}, { $set: { x: 1 } }),
      findOneAndReplace: () => col().findOneAndReplace({}, { x: 1 }),
      findOneAndDelete: () => col().findOneAndDelete({}),
      bulkWrite: () => col().bulkWrite([{ insertOne: { document: { x: 1 } } }]),
      createIndex: () => col().createIndex({ x: 1 }),
    };
    for (const [name, call] of Object.entries(calls)) {
      let err;
      try {
        err = await expectRejectsTenant(call, 'TENANT_MISSING');
      } catch (e) {
        throw new Error(`${name}: ${e.message}`);
      }
      expect(err.code).toBe('TENANT_MISSING');
    }
  });
});

describe('server errors keep code and codeName', () => {
  test('duplicate key: 11000 DuplicateKey (insertOne, insertMany, bulkWrite, upsert)', async () => {
    await as(() => col().insertOne({ _id: 'dup-1' }));
    const checks = {
      insertOne: () => col().insertOne({ _id: 'dup-1' }),
      insertMany: () => col().insertMany([{ _id: 'dup-2' }, { _id: 'dup-2' }]),
      insertManyUnordered: () => col().insertMany([{ _id: 'dup-3' }, { _id: 'dup-3' }], { ordered: false }),
      bulkWrite: () => col().bulkWrite([{ insertOne: { document: { _id: 'dup-1' } } }]),
      upsert: () => col().updateOne({ _id: 'dup-1', other: true }, { $set: { v: 1 } }, { upsert: true }),
    };
    for (const [name, call] of Object.entries(checks)) {
      const err = await as(() => rejection(call));
      expect({ name, code: err.code, codeName: err.codeName, tenantError: err instanceof TenantError }).toEqual({
        name,
        code: 11000,
        codeName: 'DuplicateKey',
        tenantError: false,
      });
      expect(String(err.message)).toMatch(/E11000|duplicate key/i);
    }
  });

  test('command errors: BadValue (2) for an unknown query operator', async () => {
    const err = await as(() => rejection(() => col().findOne({ $foo: 1 })));
    expect(err.code).toBe(2);
    expect(err.codeName).toBe('BadValue');
    expect(err).not.toBeInstanceOf(TenantError);
  });

  test('update errors: TypeMismatch (14) for $inc on a string', async () => {
    await as(() => col().insertOne({ _id: 'str-1', s: 'text' }));
    const err = await as(() => rejection(() => col().updateOne({ _id: 'str-1' }, { $inc: { s: 1 } })));
    expect(err.code).toBe(14);
    // the server sends no codeName for write errors; if the fence adds one it must be the right one
    if (err.codeName !== undefined) expect(err.codeName).toBe('TypeMismatch');
  });

  test('an unknown pipeline stage is a server error, not a crash', async () => {
    const err = await captureError(() => as(() => col().aggregate([{ $noSuchStage: {} }]).toArray()));
    expect(err).toBeDefined();
    expect(typeof err.message).toBe('string');
  });
});

describe("the driver's error classes", () => {
  const tf = require('../..');

  test('server errors are instances of the exported classes, with the driver members', async () => {
    await as(() => col().insertOne({ _id: 'cls-1' }));
    const dup = await captureError(as(() => col().insertOne({ _id: 'cls-1' })));
    expect(dup).toBeInstanceOf(tf.MongoServerError);
    expect(dup).toBeInstanceOf(tf.MongoError);
    expect(dup).not.toBeInstanceOf(tf.MongoBulkWriteError);
    expect([dup.name, dup.code, dup.codeName, dup.errmsg === dup.message]).toEqual(['MongoServerError', 11000, 'DuplicateKey', true]);
    expect(dup.errorResponse).toMatchObject({ code: 11000 });
    expect(dup.hasErrorLabel('RetryableWriteError')).toBe(false);
    expect(Array.isArray(dup.errorLabels)).toBe(true);
  });

  test('a failed insertMany is a MongoBulkWriteError whose result says what went in', async () => {
    const docs = [{ _id: 'cls-2' }, { _id: 'cls-1' }, { _id: 'cls-3' }];
    const ordered = await captureError(as(() => col().insertMany(docs)));
    expect(ordered).toBeInstanceOf(tf.MongoBulkWriteError);
    expect(ordered).toBeInstanceOf(tf.MongoServerError);
    expect([ordered.insertedCount, ordered.insertedIds]).toEqual([1, { 0: 'cls-2' }]);
    expect(ordered.writeErrors.map((w) => w.index)).toEqual([1]);
    const unordered = await captureError(as(() => col().insertMany([{ _id: 'cls-4' }, { _id: 'cls-1' }, { _id: 'cls-5' }], { ordered: false })));
    expect([unordered.insertedCount, unordered.insertedIds]).toEqual([2, { 0: 'cls-4', 2: 'cls-5' }]);
  });

  test('a failed bulkWrite carries its counts; a closed fence is a MongoClientClosedError', async () => {
    const bulk = await captureError(as(() => col().bulkWrite([{ insertOne: { document: { _id: 'cls-6' } } }, { insertOne: { document: { _id: 'cls-1' } } }])));
    expect(bulk).toBeInstanceOf(tf.MongoBulkWriteError);
    expect([bulk.insertedCount, bulk.matchedCount, bulk.writeErrors.length]).toEqual([1, 0, 1]);
    const closed = await TenantFence.connect(uri(), { database: suite.DB });
    await closed.close();
    const after = await captureError(closed.runAs('a', () => closed.collection(C).findOne({})));
    expect(after).toBeInstanceOf(tf.MongoClientClosedError);
    expect(after).toBeInstanceOf(tf.MongoDriverError);
    expect(after).not.toBeInstanceOf(tf.MongoServerError);
  });
});

describe('bad arguments give a TypeError naming the argument', () => {
  test.each([
    ['find(string)', () => col().find('x').toArray(), /filter/],
    ['find(number)', () => col().find(5).toArray(), /filter/],
    ['findOne(number)', () => col().findOne(5), /filter/],
    ['countDocuments(string)', () => col().countDocuments('x'), /filter/],
    ['deleteMany(number)', () => col().deleteMany(42), /filter/],
    ['updateOne(string filter)', () => col().updateOne('x', { $set: { a: 1 } }), /filter/],
    ['updateOne(no update)', () => col().updateOne({}, 5), /update/],
    ['updateMany(string update)', () => col().updateMany({}, 'x'), /update/],
    ['replaceOne(number doc)', () => col().replaceOne({}, 5), /doc|replacement/],
    ['insertOne(number)', () => col().insertOne(5), /doc/],
    ['insertOne(null)', () => col().insertOne(null), /doc/],
    ['insertOne(string)', () => col().insertOne('x'), /doc/],
    ['insertMany(string)', () => col().insertMany('x'), /docs/],
    ['insertMany(object)', () => col().insertMany({ a: 1 }), /docs/],
    ['aggregate(object)', () => col().aggregate({ $match: {} }).toArray(), /pipeline/],
    ['aggregate(string)', () => col().aggregate('x').toArray(), /pipeline/],
    ['bulkWrite(object)', () => col().bulkWrite({ insertOne: {} }), /ops|operations/],
    ['distinct(number)', () => col().distinct(5), /key/],
    ['createIndex(number)', () => col().createIndex(5), /spec|index/i],
  ])('%s', async (label, call, pattern) => {
    await expectTypeError(() => as(call), pattern);
  });

  test('promise methods reject with the TypeError rather than throwing', async () => {
    for (const call of [() => col().insertOne(5), () => col().findOne('x'), () => col().updateOne({}, 5)]) {
      const err = await as(() => rejection(call));
      expect(err.name).toBe('TypeError');
    }
  });

  test('runAs / runAsSystem need a function', () => {
    for (const bad of [undefined, 5, 'fn', {}, null]) {
      const err = syncError(() => suite.fence.runAs('a', bad));
      expect(err.name).toBe('TypeError');
      expect(err.message).toMatch(/fn|function/i);
      const err2 = syncError(() => suite.fence.runAsSystem({ reason: 'x' }, bad));
      expect(err2.name).toBe('TypeError');
      expect(err2.message).toMatch(/fn|function/i);
    }
  });

  test('collection() needs a name', () => {
    for (const bad of [undefined, '', 5, null, {}]) {
      const err = syncError(() => suite.fence.collection(bad));
      expect({ bad, name: err.name }).toEqual({ bad, name: 'TypeError' });
      expect(err.message).toMatch(/name/i);
    }
  });

  test.each([
    ['tenantField with a dot', { tenantField: 'a.b' }, /tenantField/],
    ['tenantField with $', { tenantField: '$t' }, /tenantField/],
    ['tenantField empty', { tenantField: '' }, /tenantField/],
    ['tenantField not a string', { tenantField: 5 }, /tenantField/],
    ['unknown strategy', { strategy: 'tables' }, /strategy/],
    ['tenantIdPattern not a RegExp', { tenantIdPattern: 5 }, /tenantIdPattern/],
    ['onSystemAccess not a function', { onSystemAccess: 5 }, /onSystemAccess/],
    ['database not a string', { database: 5 }, /database/],
  ])('connect option %s: TypeError', async (label, options, pattern) => {
    let made;
    try {
      await expectTypeError(async () => {
        made = await TenantFence.connect(uri(), { database: suite.DB, ...options });
      }, pattern);
    } finally {
      if (made) await made.close();
    }
  });

  test('connect without a URI: TypeError naming it', async () => {
    const made = [];
    try {
      await expectTypeError(async () => made.push(await TenantFence.connect()), /uri/i);
      await expectTypeError(async () => made.push(await TenantFence.connect(5)), /uri/i);
    } finally {
      for (const f of made) await f.close();
    }
  });
});

describe('no input, however malformed, crashes the process', () => {
  function deep(depth, leaf = {}) {
    let v = leaf;
    for (let i = 0; i < depth; i++) v = { $and: [v] };
    return v;
  }
  function deepDoc(depth) {
    let v = { leaf: 1 };
    for (let i = 0; i < depth; i++) v = { a: v };
    return v;
  }
  function deepArray(depth) {
    let v = [1];
    for (let i = 0; i < depth; i++) v = [v];
    return v;
  }

  test('hostile values are refused or handled; the fence keeps working', async () => {
    const circular = { name: 'loop' };
    circular.self = circular;
    const trapProxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('ownKeys trap');
        },
        get() {
          throw new Error('get trap');
        },
      },
    );
    const throwingGetter = {};
    Object.defineProperty(throwingGetter, 'x', {
      enumerable: true,
      get() {
        throw new Error('getter trap');
      },
    });
    const nullProto = Object.assign(Object.create(null), { v: 1 });
    const fakeBson = { _bsontype: 'ObjectId', id: 'not-an-id' };
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const big = 'x'.repeat(17 * 1024 * 1024);

    const inputs = {
      'deep filter': () => col().find(deep(20000)).toArray(),
      'deep filter findOne': () => col().findOne(deep(20000)),
      'deep doc': () => col().insertOne(deepDoc(20000)),
      'deep array': () => col().insertOne({ arr: deepArray(20000) }),
      'deep update': () => col().updateOne({}, { $set: deepDoc(20000) }),
      'deep pipeline': () => col().aggregate([{ $match: deep(20000) }]).toArray(),
      'deep nested pipeline': () => {
        let p = [{ $match: {} }];
        for (let i = 0; i < 5000; i++) p = [{ $lookup: { from: C, pipeline: p, as: 'x' } }];
        return col().aggregate(p).toArray();
      },
      'deep $facet': () => {
        let p = [{ $match: {} }];
        for (let i = 0; i < 5000; i++) p = [{ $facet: { f: p } }];
        return col().aggregate(p).toArray();
      },
      circular: () => col().insertOne(circular),
      'circular filter': () => col().findOne(circular),
      'proxy doc': () => col().insertOne(trapProxy),
      'proxy filter': () => col().find(trapProxy).toArray(),
      'throwing getter': () => col().insertOne(throwingGetter),
      'null prototype': () => col().insertOne(nullProto),
      'fake bson': () => col().insertOne({ v: fakeBson }),
      'fake bson filter': () => col().findOne({ _id: fakeBson }),
      sparse: () => col().insertOne({ sparse }),
      symbol: () => col().insertOne({ s: Symbol('x') }),
      bigint: () => col().insertOne({ b: 10n ** 30n }),
      function: () => col().insertOne({ f: () => 1 }),
      'NUL in key': () => col().insertOne({ 'a\u0000b': 1 }),
      'empty key': () => col().insertOne({ '': 1 }),
      '$ top-level key': () => col().insertOne({ $bad: 1 }),
      'lone surrogate': () => col().insertOne({ s: '\uD800', ['\uDC00']: 1 }),
      '17 MB string': () => col().insertOne({ big }),
      'typed array': () => col().insertOne({ t: new Float64Array([1, 2]) }),
      map: () => col().insertOne({ m: new Map([['k', 1]]) }),
      'Date as filter': () => col().findOne(new Date()),
      'garbage options': () => col().find({}, { limit: 'x', sort: 5, projection: 'y', skip: -5 }).toArray(),
      'negative batchSize': () => col().find({}, { batchSize: -1 }).toArray(),
      'bad sort chain': () => col().find({}).sort('nonsense').toArray(),
      'bulkWrite garbage op': () => col().bulkWrite([{ nope: {} }, 5, null]),
      'bulkWrite empty': () => col().bulkWrite([]),
      'insertMany empty': () => col().insertMany([]),
      'insertMany holes': () => col().insertMany([{ ok: 1 }, null, 5]),
      'update empty': () => col().updateOne({}, {}),
      'update mixed': () => col().updateOne({}, { $set: { a: 1 }, plain: 2 }),
      'pipeline garbage stage': () => col().aggregate([5, null, 'x']).toArray(),
      'pipeline empty stage': () => col().aggregate([{}]).toArray(),
      'stage with two keys': () => col().aggregate([{ $match: {}, $limit: 1 }]).toArray(),
      'huge key': () => col().insertOne({ ['k'.repeat(1024 * 1024)]: 1 }),
      'distinct garbage key': () => col().distinct('', { $where: 5 }),
      'options not an object': () => col().findOne({}, 'options'),
      'collation garbage': () => col().find({}, { collation: { locale: 5, strength: 'x' } }).toArray(),
    };

    const outcomes = await as(() =>
      Promise.all(
        Object.entries(inputs).map(async ([name, call]) => {
          try {
            await call();
            return { name, ok: true };
          } catch (err) {
            // every failure is a proper error object with a message
            return { name, ok: false, hasMessage: err !== null && typeof err === 'object' && typeof err.message === 'string' };
          }
        }),
      ),
    );
    for (const o of outcomes) {
      if (!o.ok) expect({ name: o.name, hasMessage: o.hasMessage }).toEqual({ name: o.name, hasMessage: true });
    }
    // circular structures cannot be stored: they must fail
    expect(outcomes.find((o) => o.name === 'circular').ok).toBe(false);
    expect(outcomes.find((o) => o.name === 'proxy doc').ok).toBe(false);
    expect(outcomes.find((o) => o.name === 'throwing getter').ok).toBe(false);

    // still alive, still scoped
    const r = await as(() => col().insertOne({ after: 'storm' }));
    expect(await suite.rdb.collection(C).findOne({ _id: r.insertedId })).toEqual({ _id: r.insertedId, after: 'storm', tenantId: 'a' });
    // everything the storm managed to write belongs to tenant a
    const strays = await suite.rdb.collection(C).countDocuments({ tenantId: { $ne: 'a' } });
    expect(strays).toBe(0);
  });

  test('cursor misuse', async () => {
    await as(() => col().insertMany([{ c: 1 }, { c: 2 }, { c: 3 }]));
    await as(async () => {
      const cur = col().find({ c: { $exists: true } }, { batchSize: 1 });
      const parallel = await Promise.allSettled(Array.from({ length: 10 }, () => cur.next()));
      for (const p of parallel) if (p.status === 'rejected') expect(typeof p.reason.message).toBe('string');
      await cur.close();
      await cur.close(); // closing twice is harmless (driver behaviour)
      await Promise.allSettled([cur.next(), cur.toArray()]);
      const again = col().find({ c: { $exists: true } });
      expect(await again.toArray()).toHaveLength(3);
      // a second toArray on an exhausted cursor gives [] (driver behaviour), or fails cleanly
      const second = await again.toArray().catch((e) => {
        expect(typeof e.message).toBe('string');
        return [];
      });
      expect(second).toEqual([]);
    });
  });

  test('using a closed fence rejects cleanly', async () => {
    const f = await TenantFence.connect(uri(), { database: suite.DB });
    await f.close();
    await f.close().catch(() => {}); // twice: must not crash
    const err = await captureError(() => f.runAs('a', () => f.collection(C).insertOne({ closed: true })));
    expect(typeof err.message).toBe('string');
    expect(await suite.rdb.collection(C).countDocuments({ closed: true })).toBe(0);
  });
});

describe('connect', () => {
  function unusedPort() {
    return new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
  }

  test('an unreachable server rejects with a clear error (server selection timeout)', async () => {
    const port = await unusedPort();
    const started = Date.now();
    let made;
    const err = await captureError(async () => {
      made = await TenantFence.connect(
        `mongodb://127.0.0.1:${port}/?serverSelectionTimeoutMS=500&connectTimeoutMS=500&directConnection=true`,
        { database: 'tf_unreachable' },
      );
    }).finally(() => made && made.close());
    expect(Date.now() - started).toBeLessThan(20000);
    expect(err).toBeDefined();
    expect(err).not.toBeInstanceOf(TenantError);
    expect(typeof err.message).toBe('string');
    expect(err.message).toMatch(/server selection|timed out|timeout|refused|connect|unreachable/i);
  });

  test('a malformed URI rejects', async () => {
    let made;
    const err = await captureError(async () => {
      made = await TenantFence.connect('not a mongodb uri');
    }).finally(() => made && made.close());
    expect(typeof err.message).toBe('string');
    expect(err.message.length).toBeGreaterThan(0);
  });
});
