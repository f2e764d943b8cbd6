'use strict';
// findOne by exact _id fetches by _id alone (mongod's fast path) and drops a document that is
// not the tenant's in Rust. It must answer exactly as the scoped query would, in every case.

const { ObjectId, Long } = require('../..');
const { useSuite } = require('../helpers/fixtures');

const suite = useSuite('byid');

/** The same read as the fast path would do it, through the general scoped filter. */
const general = (c, id) => c.findOne({ _id: id }, { sort: { _id: 1 } });

describe('findOne by exact _id', () => {
  const own = new ObjectId();
  const foreign = new ObjectId();
  beforeAll(async () => {
    await suite.rdb.collection('items').insertMany([
      { _id: own, tenantId: 'a', v: 1 },
      { _id: foreign, tenantId: 'b', v: 2 },
      { _id: 'both', tenantId: ['a', 'b'], v: 3 }, // known limit: reads as each tenant's
      { _id: 'none', v: 4 },
      { _id: 'case', tenantId: 'A', v: 5 },
      { _id: 7, tenantId: 'a', v: 6 },
    ]);
  });

  test.each([
    ['own ObjectId', () => own, { v: 1 }],
    ['foreign ObjectId', () => foreign, null],
    ['array naming the tenant', () => 'both', { v: 3 }],
    ['no tenant field', () => 'none', null],
    ['tenant differing in case', () => 'case', null],
    ['number matched as Long', () => Long.fromNumber(7), { v: 6 }],
    ['missing', () => new ObjectId(), null],
  ])('%s: same answer as the general scoped query', async (_name, id, expected) => {
    const c = suite.fence.collection('items');
    const [fast, slow] = await suite.as('a', () => Promise.all([c.findOne({ _id: id() }), general(c, id())]));
    expect(slow === null ? null : { v: slow.v }).toEqual(expected);
    expect(fast).toEqual(slow);
  });

  test('a projection without the tenant field still hides a foreign document', async () => {
    const c = suite.fence.collection('items');
    const got = await suite.as('a', () => c.findOne({ _id: foreign }, { projection: { v: 1 } }));
    expect(got).toBeNull();
  });

  test('under a case-insensitive default collation, _id matches by that collation and stays scoped', async () => {
    // The _id index follows the collection's collation, so 'abc' and 'ABC' are one key there.
    await suite.rdb.createCollection('ci', { collation: { locale: 'en', strength: 2 } });
    await suite.rdb.collection('ci').insertOne({ _id: 'ABC', tenantId: 'b', v: 'b' });
    const c = suite.fence.collection('ci');
    expect(await suite.as('a', () => c.findOne({ _id: 'abc' }))).toBeNull();
    expect(await suite.as('b', () => c.findOne({ _id: 'abc' }))).toEqual({ _id: 'ABC', tenantId: 'b', v: 'b' });
  });
});
