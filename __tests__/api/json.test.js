'use strict';
// JSON straight from Rust (issue 17 item 3): `cursor.toJSONBuffer()` / `collection.findJSON()`
// give the bytes `res.json(await cursor.toArray())` sends, byte for byte, for every BSON type,
// rendered from the server's BSON; `sendJSON(res, …)` answers as `res.json` does.

const express = require('express');
const { TenantFence, sendJSON, ObjectId, Decimal128, Long, Binary, Timestamp } = require('../..');
const bson = require('bson');
const { useSuite } = require('../helpers/fixtures');

const suite = useSuite('json');

/** One document per BSON type and edge the renderer must get right, stored by the oracle. */
function everyType(tenantId) {
  const big = Long.fromString('9007199254740993');
  return [
    { tenantId, k: 'double', v: [0.1 + 0.2, 1e21, 1e-7, -0, 5e-324, 123456789.125, NaN, Infinity, -Infinity, 1.7976931348623157e308] },
    { tenantId, k: 'int', v: [0, -1, 2147483647, -2147483648], long: [new Long(5), Long.fromNumber(-9007199254740991), big, Long.MAX_VALUE, Long.MIN_VALUE] },
    { tenantId, k: 'string', v: ['', 'plain', 'quote " backslash \\ slash /', '\u0000\u0001\u001f\u007f\b\f\n\r\t', 'é 中文 😀 \u2028\u2029', '<script>&'] },
    { tenantId, k: 'decimal', v: ['0', '-0', '1.0', '1E+3', '0.000001', '1.23E-7', '-1.5E+6144', 'NaN', 'Infinity', '-Infinity', '1234567890123456789012345678901234', '1E-6176'].map((d) => Decimal128.fromString(d)) },
    { tenantId, k: 'date', v: [new Date(0), new Date('2026-12-06T20:41:03.123Z'), new Date(-62198755200000), new Date(253402300800000), new Date(-1), new Date(8.64e15)] },
    { tenantId, k: 'oid', v: new ObjectId('64b7f0c2a1b2c3d4e5f60718') },
    { tenantId, k: 'binary', v: [new Binary(Buffer.from('hello')), new Binary(Buffer.alloc(0)), new Binary(Buffer.from('0123456789abcdef', 'hex'), 4), new Binary(Buffer.from([1, 2, 3]), 0x80)] },
    { tenantId, k: 'timestamp', v: new Timestamp({ t: 1700000000, i: 7 }) },
    { tenantId, k: 'regex', v: [/ab+c/i, new bson.BSONRegExp('x.y', 'ms')] },
    { tenantId, k: 'keys', v: new bson.MinKey(), w: new bson.MaxKey(), code: new bson.Code('function () {}'), scoped: new bson.Code('f()', { a: 1 }) },
    { tenantId, k: 'misc', t: true, f: false, n: null, sym: new bson.BSONSymbol('sym'), ref: new bson.DBRef('things', new ObjectId('64b7f0c2a1b2c3d4e5f60719'), 'db2', { extra: 1 }) },
    { tenantId, k: 'order', 10: 'ten', 2: 'two', b: 1, a: 2, '01': 'x', 4294967295: 'max', 4294967294: 'idx', '-1': 'neg' },
    { tenantId, k: 'nested', v: { a: [[1, [2, { b: [] }]], {}], '': 'empty key' }, deep: [[[[[[{ z: 1 }]]]]]] },
  ];
}

beforeAll(async () => {
  const c = suite.rdb.collection('j');
  await c.insertMany([...everyType('acme'), ...everyType('globex')]);
  const many = [];
  for (let i = 0; i < 250; i++) many.push({ tenantId: i % 2 ? 'acme' : 'globex', i, at: new Date(i * 1e9), id: new ObjectId() });
  await suite.rdb.collection('many').insertMany(many);
});

const as = (t, fn) => suite.fence.runAs(t, fn);
const expected = async (cursor) => Buffer.from(JSON.stringify(await cursor.toArray()));

describe('byte for byte what res.json sends', () => {
  test('every BSON type', async () => {
    const c = suite.fence.collection('j');
    const got = await as('acme', () => c.findJSON({}, { sort: { k: 1 } }));
    const want = await as('acme', () => expected(c.find({}, { sort: { k: 1 } })));
    expect(got.toString()).toBe(want.toString());
    expect(Buffer.compare(got, want)).toBe(0);
    // Only acme's documents.
    expect(JSON.parse(got).every((d) => d.tenantId === 'acme')).toBe(true);
  });

  test.each(everyType('acme').map((d) => [d.k]))('%s, one document at a time', async (k) => {
    const c = suite.fence.collection('j');
    const got = await as('acme', () => c.findJSON({ k }));
    expect(got.toString()).toBe((await as('acme', () => expected(c.find({ k })))).toString());
  });

  test('many batches, a projection, a limit; an aggregation', async () => {
    const c = suite.fence.collection('many');
    for (const [filter, options] of [
      [{}, { batchSize: 7, sort: { i: 1 } }],
      [{ i: { $gt: 100 } }, { projection: { _id: 0, at: 1 }, sort: { i: -1 }, batchSize: 3 }],
      [{}, { limit: 5, skip: 2, sort: { i: 1 } }],
      [{ i: -1 }, {}],
    ]) {
      const got = await as('acme', () => c.findJSON(filter, options));
      expect(got.toString()).toBe((await as('acme', () => expected(c.find(filter, options)))).toString());
    }
    const pipeline = [{ $group: { _id: { $mod: ['$i', 5] }, n: { $sum: 1 }, last: { $max: '$at' } } }, { $sort: { _id: 1 } }];
    const agg = await as('acme', () => c.aggregate(pipeline, { cursor: { batchSize: 2 } }).toJSONBuffer());
    expect(agg.toString()).toBe((await as('acme', () => expected(c.aggregate(pipeline)))).toString());
    expect(JSON.parse(await as('acme', () => c.findJSON({}))).length).toBe(125);
  });

  test('a cursor already partly read gives the rest', async () => {
    const c = suite.fence.collection('many');
    await as('acme', async () => {
      const cur = c.find({}, { sort: { i: 1 }, batchSize: 10 });
      await cur.next();
      await cur.next();
      const rest = await cur.toJSONBuffer();
      const all = await c.find({}, { sort: { i: 1 } }).toArray();
      expect(rest.toString()).toBe(JSON.stringify(all.slice(2)));
      expect((await cur.toJSONBuffer()).toString()).toBe('[]');
    });
  });

  test('with map() or BSON read options it is JSON.stringify of toArray()', async () => {
    const c = suite.fence.collection('j');
    await as('acme', async () => {
      const mapped = await c.find({ k: 'int' }).map((d) => ({ k: d.k, n: d.v.length })).toJSONBuffer();
      expect(mapped.toString()).toBe(JSON.stringify([{ k: 'int', n: 4 }]));
      const raw = await c.find({ k: 'int' }, { promoteLongs: false }).toJSONBuffer();
      expect(raw.toString()).toBe(JSON.stringify(await c.find({ k: 'int' }, { promoteLongs: false }).toArray()));
    });
  });
});

describe('sendJSON', () => {
  test('answers as res.json does: body, Content-Type, ETag, HEAD', async () => {
    const c = suite.fence.collection('j');
    const app = express();
    app.use(suite.fence.middleware());
    app.get('/json', async (req, res) => res.json(await c.find({}, { sort: { k: 1 } }).toArray()));
    app.get('/fast', (req, res, next) => sendJSON(res, c.findJSON({}, { sort: { k: 1 } })).catch(next));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${server.address().port}`;
    try {
      const get = async (p, method = 'GET') => {
        const r = await fetch(`${base}${p}`, { method, headers: { 'x-tenant-id': 'acme' } });
        return { status: r.status, type: r.headers.get('content-type'), etag: r.headers.get('etag'), length: r.headers.get('content-length'), body: Buffer.from(await r.arrayBuffer()) };
      };
      const slow = await get('/json');
      const fast = await get('/fast');
      expect(fast.status).toBe(200);
      expect(fast.type).toBe(slow.type);
      expect(fast.etag).toBe(slow.etag);
      expect(fast.length).toBe(slow.length);
      expect(Buffer.compare(fast.body, slow.body)).toBe(0);
      const head = await get('/fast', 'HEAD');
      expect(head.body.length).toBe(0);
      expect(head.length).toBe(slow.length);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('bad arguments are TypeErrors', async () => {
    await expect(sendJSON({}, Buffer.from('[]'))).rejects.toThrow(TypeError);
    const res = { setHeader() {}, end() {}, getHeader() {} };
    await expect(sendJSON(res, '[]')).rejects.toThrow(/body must be a Buffer/);
  });
});

test('TenantFence is the same class', () => expect(typeof TenantFence.connect).toBe('function'));
