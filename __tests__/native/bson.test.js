'use strict';
// BSON values keep their types both ways: in inserts, filters, updates and results.

const { ObjectId, Decimal128, Long, Binary, Timestamp } = require('../..');
const { useSuite, own, isDate } = require('../helpers/fixtures');

const suite = useSuite('bson');
const C = 'typed';

const as = (fn) => suite.as('a', fn);
const col = () => suite.fence.collection(C);
const bytes = (bin) => Array.from(bin.read(0, bin.length()));

const NOW = new Date('2024-02-29T12:34:56.789Z');
const OLD = new Date(-86400000 * 365 * 50 + 123); // before 1970
const REF = new ObjectId();
const DEC = Decimal128.fromString('1234567890.123456789012345678901234');
const BIG = Long.fromString('9007199254740993'); // 2^53 + 1: not representable as a double
const BIN = new Binary(Buffer.from([0, 1, 2, 254, 255]), 0);
const UUID_BYTES = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
const TS = new Timestamp({ t: 1700000000, i: 7 });

function typedDoc() {
  return {
    ref: REF,
    at: NOW,
    old: OLD,
    price: DEC,
    big: BIG,
    bin: BIN,
    ts: TS,
    int: 42,
    dbl: 3.5,
    neg: -7,
    huge: 1e308,
    tiny: 5e-324,
    nan: NaN,
    inf: -Infinity,
    str: 'ü🚀 a\u0000b',
    yes: true,
    nil: null,
    nested: {
      arr: [1, 'two', [3, [4, { at: NOW, price: DEC }]], { ref: REF, big: BIG }],
      doc: { deep: { deeper: { price: DEC, big: BIG, bin: BIN, ts: TS } } },
      emptyArr: [],
      emptyDoc: {},
    },
  };
}

let inserted; // the typed document as stored, with its _id
let decoyId;

beforeAll(async () => {
  const doc = { ...typedDoc(), uuid: new Binary(UUID_BYTES, Binary.SUBTYPE_UUID) };
  const r = await as(() => col().insertOne(doc));
  inserted = { _id: r.insertedId, ...typedDoc() };
  // a look-alike that only differs in ways a lossy conversion would erase
  const decoy = await as(() =>
    col().insertOne({
      ref: new ObjectId(),
      at: new Date(NOW.getTime() + 1),
      price: Decimal128.fromString('1234567890.123456789012345678901235'),
      big: Long.fromString('9007199254740992'), // 2^53: what 2^53 + 1 becomes as a double
      bin: new Binary(Buffer.from([0, 1, 2, 254, 254]), 0),
      ts: new Timestamp({ t: 1700000000, i: 8 }),
      decoy: true,
    }),
  );
  decoyId = decoy.insertedId;
});

describe('inserts store the BSON types', () => {
  test.each([
    ['_id', 'objectId'],
    ['ref', 'objectId'],
    ['at', 'date'],
    ['old', 'date'],
    ['price', 'decimal'],
    ['big', 'long'],
    ['bin', 'binData'],
    ['uuid', 'binData'],
    ['ts', 'timestamp'],
    ['dbl', 'double'],
    ['huge', 'double'],
    ['str', 'string'],
    ['yes', 'bool'],
    ['nil', 'null'],
    ['nested.arr', 'array'],
    ['nested.doc', 'object'],
    ['nested.doc.deep.deeper.price', 'decimal'],
    ['nested.doc.deep.deeper.big', 'long'],
    ['nested.doc.deep.deeper.bin', 'binData'],
    ['nested.doc.deep.deeper.ts', 'timestamp'],
    ['nested.arr.3.ref', 'objectId'],
    ['nested.emptyArr', 'array'],
    ['nested.emptyDoc', 'object'],
    // driver behaviour: integral JS numbers that fit are stored as int32
    ['int', 'int'],
    ['neg', 'int'],
  ])('%s is stored as %s', async (path, type) => {
    expect(await suite.rdb.collection(C).countDocuments({ $and: [{ _id: inserted._id }, { [path]: { $type: type } }] })).toBe(1);
  });

  test('the stored document equals the input (oracle)', async () => {
    const stored = await suite.rdb.collection(C).findOne({ _id: inserted._id });
    const { uuid, ...rest } = stored;
    expect(rest).toEqual({ ...inserted, tenantId: 'a' });
    expect(uuid.sub_type).toBe(4);
    expect(bytes(uuid)).toEqual(Array.from(UUID_BYTES));
    expect(stored.big.toString()).toBe('9007199254740993');
    expect(stored.price.toString()).toBe('1234567890.123456789012345678901234');
  });

  test('insertMany keeps types; insertedIds are ObjectIds', async () => {
    const docs = [{ v: Long.fromString('-9223372036854775808') }, { v: Decimal128.fromString('-0.0001') }];
    const r = await as(() => col().insertMany(docs));
    expect(r.insertedIds[0]).toBeInstanceOf(ObjectId);
    expect(r.insertedIds[1]).toBeInstanceOf(ObjectId);
    const [d0, d1] = await Promise.all([0, 1].map((i) => suite.rdb.collection(C).findOne({ _id: r.insertedIds[i] })));
    expect(d0.v).toBeInstanceOf(Long);
    expect(d0.v.toString()).toBe('-9223372036854775808');
    expect(d1.v).toBeInstanceOf(Decimal128);
    expect(d1.v.toString()).toBe('-0.0001');
  });

  test('a Buffer is stored as binData (driver behaviour)', async () => {
    const r = await as(() => col().insertOne({ buf: Buffer.from('hi') }));
    expect(await suite.rdb.collection(C).countDocuments({ _id: r.insertedId, buf: { $type: 'binData' } })).toBe(1);
  });
});

describe('results carry the BSON types', () => {
  test('findOne returns the same values and classes', async () => {
    const d = await as(() => col().findOne({ _id: inserted._id }));
    const { uuid, ...rest } = own(d, 'a');
    expect(rest).toEqual(inserted);
    expect(d._id).toBeInstanceOf(ObjectId);
    expect(d._id.equals(inserted._id)).toBe(true);
    expect(d.ref).toBeInstanceOf(ObjectId);
    expect(d.ref.toHexString()).toBe(REF.toHexString());
    expect(isDate(d.at)).toBe(true);
    expect(d.at.getTime()).toBe(NOW.getTime());
    expect(d.old.getTime()).toBe(OLD.getTime());
    expect(d.price).toBeInstanceOf(Decimal128);
    expect(d.price.toString()).toBe(DEC.toString());
    expect(d.big).toBeInstanceOf(Long);
    expect(d.big.equals(BIG)).toBe(true);
    expect(d.bin).toBeInstanceOf(Binary);
    expect(d.bin.sub_type).toBe(0);
    expect(bytes(d.bin)).toEqual([0, 1, 2, 254, 255]);
    expect(uuid).toBeInstanceOf(Binary);
    expect(uuid.sub_type).toBe(4);
    expect(bytes(uuid)).toEqual(Array.from(UUID_BYTES));
    expect(d.ts).toBeInstanceOf(Timestamp);
    expect(d.ts.equals(TS)).toBe(true);
    expect(d.ts.t).toBe(1700000000);
    expect(d.ts.i).toBe(7);
    expect(Object.is(d.nan, NaN)).toBe(true);
    expect(d.inf).toBe(-Infinity);
    expect(d.tiny).toBe(5e-324);
    expect(d.str).toBe('ü🚀 a\u0000b');
    expect(d.nil).toBeNull();
    expect(Array.isArray(d.nested.arr)).toBe(true);
    expect(Array.isArray(d.nested.arr[2][1])).toBe(true);
    expect(isDate(d.nested.arr[2][1][1].at)).toBe(true);
    expect(d.nested.arr[2][1][1].price).toBeInstanceOf(Decimal128);
    expect(d.nested.arr[3].big).toBeInstanceOf(Long);
    expect(d.nested.doc.deep.deeper.ts).toBeInstanceOf(Timestamp);
    expect(d.nested.emptyArr).toEqual([]);
    expect(d.nested.emptyDoc).toEqual({});
  });

  test('find / aggregate / for await return typed values', async () => {
    const viaFind = await as(() => col().find({ _id: inserted._id }).toArray());
    const viaAgg = await as(() => col().aggregate([{ $match: { _id: inserted._id } }]).toArray());
    const viaIter = [];
    await as(async () => {
      for await (const d of col().find({ _id: inserted._id }, { batchSize: 1 })) viaIter.push(d);
    });
    for (const list of [viaFind, viaAgg, viaIter]) {
      expect(list).toHaveLength(1);
      const { uuid, ...rest } = own(list[0], 'a');
      expect(rest).toEqual(inserted);
      expect(uuid.sub_type).toBe(4);
    }
  });

  test('a small Long comes back with its value (number or Long)', async () => {
    // the driver promotes int64 values that fit a double to numbers by default
    const r = await as(() => col().insertOne({ small: Long.fromInt(5) }));
    expect(await suite.rdb.collection(C).countDocuments({ _id: r.insertedId, small: { $type: 'long' } })).toBe(1);
    const d = await as(() => col().findOne({ _id: r.insertedId }));
    const v = d.small;
    expect(typeof v === 'number' ? v : v.toNumber()).toBe(5);
  });

  test('aggregation results keep types ($sum of decimals and longs, conversions)', async () => {
    const r = await as(() =>
      col()
        .aggregate([
          { $match: { _id: { $in: [inserted._id, decoyId] } } },
          {
            $group: {
              _id: null,
              price: { $sum: '$price' },
              big: { $sum: '$big' },
              maxAt: { $max: '$at' },
              refs: { $push: '$ref' },
            },
          },
          { $project: { _id: 0, price: 1, big: 1, maxAt: 1, refs: 1, asLong: { $toLong: '7' }, asDec: { $toDecimal: '0.1' } } },
        ])
        .toArray(),
    );
    expect(r).toHaveLength(1);
    const g = r[0];
    expect(g.price).toBeInstanceOf(Decimal128);
    expect(g.price.toString()).toBe('2469135780.246913578024691357802469');
    expect(g.big).toBeInstanceOf(Long);
    expect(g.big.toString()).toBe('18014398509481985');
    expect(isDate(g.maxAt)).toBe(true);
    expect(g.maxAt.getTime()).toBe(NOW.getTime() + 1);
    expect(g.refs).toHaveLength(2);
    for (const ref of g.refs) expect(ref).toBeInstanceOf(ObjectId);
    expect(typeof g.asLong === 'number' ? g.asLong : g.asLong.toNumber()).toBe(7);
    expect(g.asDec).toBeInstanceOf(Decimal128);
    expect(g.asDec.toString()).toBe('0.1');
  });

  test('distinct returns typed values', async () => {
    const refs = await as(() => col().distinct('ref', { _id: { $in: [inserted._id, decoyId] } }));
    expect(refs).toHaveLength(2);
    for (const ref of refs) expect(ref).toBeInstanceOf(ObjectId);
    expect(refs.some((x) => x.equals(REF))).toBe(true);
    const prices = await as(() => col().distinct('price', { _id: inserted._id }));
    expect(prices).toHaveLength(1);
    expect(prices[0]).toBeInstanceOf(Decimal128);
    expect(prices[0].toString()).toBe(DEC.toString());
  });
});

describe('filters use the BSON types', () => {
  test.each([
    ['ObjectId', () => ({ ref: REF })],
    ['ObjectId $in', () => ({ ref: { $in: [REF, new ObjectId()] } })],
    ['Date', () => ({ at: NOW })],
    ['Date range', () => ({ at: { $gte: NOW, $lt: new Date(NOW.getTime() + 1) } })],
    ['Decimal128', () => ({ price: DEC })],
    ['Decimal128 $lt', () => ({ price: { $lt: Decimal128.fromString('1234567890.123456789012345678901235') } })],
    ['Long above 2^53', () => ({ big: BIG })],
    ['Long $gt 2^53', () => ({ big: { $gt: Long.fromString('9007199254740992') } })],
    ['Binary', () => ({ bin: BIN })],
    ['UUID binary', () => ({ uuid: new Binary(UUID_BYTES, Binary.SUBTYPE_UUID) })],
    ['Timestamp', () => ({ ts: TS })],
    ['nested decimal', () => ({ 'nested.doc.deep.deeper.price': DEC })],
    ['nested long', () => ({ 'nested.doc.deep.deeper.big': BIG })],
    ['$elemMatch with ObjectId', () => ({ 'nested.arr': { $elemMatch: { ref: REF } } })],
    ['whole subdocument', () => ({ 'nested.doc.deep.deeper': { price: DEC, big: BIG, bin: BIN, ts: TS } })],
    ['$expr with a Long', () => ({ $expr: { $eq: ['$big', BIG] } })],
  ])('%s matches exactly the typed document', async (label, filter) => {
    const found = await as(() => col().find(filter()).toArray());
    expect(found.map((d) => String(d._id))).toEqual([String(inserted._id)]);
    expect(await as(() => col().countDocuments(filter()))).toBe(1);
  });
});

describe('updates keep the BSON types', () => {
  // a collection of its own, so these documents never match the filter tests
  const U = 'typed_upd';
  const ucol = () => suite.fence.collection(U);
  let id;

  beforeEach(async () => {
    const r = await as(() => ucol().insertOne({ kind: 'upd', big: BIG, price: DEC, tags: [] }));
    id = r.insertedId;
  });

  test('$set / $inc / $push / $max with typed values', async () => {
    const newRef = new ObjectId();
    const r = await as(() =>
      ucol().updateOne(
        { _id: id, big: BIG },
        {
          $set: { ref: newRef, at: NOW, bin: BIN, ts: TS, 'sub.price': DEC },
          $inc: { big: Long.fromInt(2), price: Decimal128.fromString('0.000000000000000000000001') },
          $push: { tags: { $each: [BIN, REF, Decimal128.fromString('1.5')] } },
          $max: { maxAt: OLD },
        },
      ),
    );
    expect(r).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    const s = await suite.rdb.collection(U).findOne({ _id: id });
    expect(s.big).toBeInstanceOf(Long);
    expect(s.big.toString()).toBe('9007199254740995');
    expect(s.price.toString()).toBe('1234567890.123456789012345678901235');
    expect(s.ref.equals(newRef)).toBe(true);
    expect(s.at).toEqual(NOW);
    expect(bytes(s.bin)).toEqual([0, 1, 2, 254, 255]);
    expect(s.ts.equals(TS)).toBe(true);
    expect(s.sub.price).toBeInstanceOf(Decimal128);
    expect(s.tags[0]).toBeInstanceOf(Binary);
    expect(s.tags[1]).toBeInstanceOf(ObjectId);
    expect(s.tags[2]).toBeInstanceOf(Decimal128);
    expect(s.maxAt).toEqual(OLD);
    expect(s.tenantId).toBe('a');
  });

  test('findOneAndUpdate returns typed values', async () => {
    const after = await as(() =>
      ucol().findOneAndUpdate(
        { _id: id },
        { $inc: { big: Long.fromInt(1) }, $set: { ts: TS } },
        { returnDocument: 'after' },
      ),
    );
    expect(after.big).toBeInstanceOf(Long);
    expect(after.big.toString()).toBe('9007199254740994');
    expect(after.price).toBeInstanceOf(Decimal128);
    expect(after.ts).toBeInstanceOf(Timestamp);
    expect(after._id).toBeInstanceOf(ObjectId);
    expect(after._id.equals(id)).toBe(true);
  });

  test('pipeline update with typed literals', async () => {
    await as(() =>
      ucol().updateOne({ _id: id }, [{ $set: { total: { $add: ['$price', Decimal128.fromString('1')] }, when: NOW } }]),
    );
    const s = await suite.rdb.collection(U).findOne({ _id: id });
    expect(s.total).toBeInstanceOf(Decimal128);
    expect(s.total.toString()).toBe('1234567891.123456789012345678901234');
    expect(s.when).toEqual(NOW);
  });

  test('upserts: ObjectId upsertedId and typed filter values in the new document', async () => {
    const key = new ObjectId();
    const r = await as(() =>
      ucol().updateOne({ key, big: BIG }, { $setOnInsert: { price: DEC, at: NOW } }, { upsert: true }),
    );
    expect(r.upsertedId).toBeInstanceOf(ObjectId);
    const s = await suite.rdb.collection(U).findOne({ _id: r.upsertedId });
    expect(s).toEqual({ _id: r.upsertedId, key, big: BIG, price: DEC, at: NOW, tenantId: 'a' });

    const b = await as(() =>
      ucol().bulkWrite([
        { updateOne: { filter: { key: new ObjectId() }, update: { $set: { v: Long.fromString('12345678901234567') } }, upsert: true } },
        { insertOne: { document: { v: Decimal128.fromString('9.99') } } },
      ]),
    );
    expect(b.upsertedIds[0]).toBeInstanceOf(ObjectId);
    expect(b.insertedIds[1]).toBeInstanceOf(ObjectId);
    const up = await suite.rdb.collection(U).findOne({ _id: b.upsertedIds[0] });
    expect(up.v.toString()).toBe('12345678901234567');
    expect(await suite.rdb.collection(U).countDocuments({ _id: b.insertedIds[1], v: { $type: 'decimal' } })).toBe(1);
  });

  test('replaceOne keeps types', async () => {
    await as(() => ucol().replaceOne({ _id: id }, { kind: 'replaced', ts: TS, bin: BIN, arr: [[BIG]] }));
    const s = await suite.rdb.collection(U).findOne({ _id: id });
    expect(s).toEqual({ _id: id, kind: 'replaced', ts: TS, bin: BIN, arr: [[BIG]], tenantId: 'a' });
  });
});
