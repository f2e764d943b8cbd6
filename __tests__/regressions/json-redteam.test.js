'use strict';
// Red-team round 23 against JSON straight from Rust (toJSONBuffer / findJSON / sendJSON): each
// test failed on the build it was written against (docs/red-team.md).

const express = require('express');
const express4 = require('express4');
const { sendJSON, Long, Decimal128 } = require('../..');
const { useSuite } = require('../helpers/fixtures');
const L = require('../helpers/raw-bson');

const { V, doc } = L;
const suite = useSuite('jsonrt');
const as = (t, fn) => suite.fence.runAs(t, fn);

describe('F1: toJSONBuffer after a partial read of a big batch', () => {
  // More than a spread of arguments takes (about 125,000).
  const N = 140000;
  beforeAll(async () => {
    const docs = [];
    for (let i = 0; i < N; i++) docs.push({ tenantId: 'acme', i });
    await suite.rdb.collection('big').insertMany(docs, { ordered: false });
  }, 120000);

  test('hasNext() then toJSONBuffer() gives every document', async () => {
    const c = suite.fence.collection('big');
    const out = await as('acme', async () => {
      const cur = c.find({}, { batchSize: N });
      await cur.hasNext();
      return cur.toJSONBuffer();
    });
    expect(JSON.parse(out).length).toBe(N);
  }, 120000);

  test('the rest of a partly read batch, and a failure there loses nothing for the next read', async () => {
    const c = suite.fence.collection('big');
    await as('acme', async () => {
      const cur = c.find({}, { sort: { i: 1 } });
      for (let k = 0; k < 200; k++) await cur.next();
      // The JSON of what the cursor holds fails once (as a throwing toJSON would): nothing is lost.
      const spy = jest.spyOn(JSON, 'stringify').mockImplementationOnce(() => {
        throw new Error('stringify failed');
      });
      try {
        await expect(cur.toJSONBuffer()).rejects.toThrow('stringify failed');
      } finally {
        spy.mockRestore();
      }
      const rest = JSON.parse(await cur.toJSONBuffer());
      expect(rest.length).toBe(N - 200);
      expect(rest[0].i).toBe(200);
    });
  }, 120000);
});

describe('F2: a batch js-bson refuses, then a retry', () => {
  beforeAll(async () => {
    const t = ['tenantId', V.string('acme')];
    const bad = ['s', [0x02, L.lenstr(Buffer.from([0x61, 0xff]))]];
    await L.rawInsert(suite.DB, 'bad', [1, 2, 3, 4, 5, 6].map((i) => doc(['_id', V.int32(i)], t, i === 4 ? bad : ['s', V.string('ok')])));
  });

  test('retrying toJSONBuffer() fails again, as retrying toArray() does (no silent skip)', async () => {
    const c = suite.fence.collection('bad');
    await as('acme', async () => {
      const viaArray = c.find({}, { sort: { _id: 1 }, batchSize: 2 });
      await expect(viaArray.toArray()).rejects.toThrow(/UTF-8/);
      await expect(viaArray.toArray()).rejects.toThrow(/UTF-8/);
      const viaJson = c.find({}, { sort: { _id: 1 }, batchSize: 2 });
      await expect(viaJson.toJSONBuffer()).rejects.toThrow(/UTF-8/);
      await expect(viaJson.toJSONBuffer()).rejects.toThrow(/UTF-8/);
    });
  });
});

describe('F3: listing cursors', () => {
  test('listIndexes().toJSONBuffer() works and equals JSON.stringify(toArray())', async () => {
    const c = suite.fence.collection('lst');
    await as('acme', () => c.insertOne({ x: 1 }));
    const want = JSON.stringify(await as('acme', () => c.listIndexes().toArray()));
    const got = await as('acme', () => c.listIndexes().toJSONBuffer());
    expect(String(got)).toBe(want);
  });
  test('db.listCollections().toJSONBuffer() works inside runAsSystem', async () => {
    const got = await suite.fence.runAsSystem({ reason: 'rt' }, () => suite.fence.db.listCollections({}, { nameOnly: true }).toJSONBuffer());
    expect(Array.isArray(JSON.parse(got))).toBe(true);
  });
});

describe('F4: patched toJSON on the bson classes', () => {
  const saved = {};
  beforeAll(() => {
    saved.long = Object.getOwnPropertyDescriptor(Long.prototype, 'toJSON');
    saved.dec = Object.getOwnPropertyDescriptor(Decimal128.prototype, 'toJSON');
  });
  afterAll(() => {
    if (saved.long) Object.defineProperty(Long.prototype, 'toJSON', saved.long); else delete Long.prototype.toJSON;
    Object.defineProperty(Decimal128.prototype, 'toJSON', saved.dec);
  });
  test('findJSON equals JSON.stringify(find().toArray()) when the app patched Long/Decimal128 toJSON', async () => {
    const c = suite.fence.collection('patch');
    await as('acme', () => c.insertOne({ _id: 1, big: Long.fromString('9007199254740993'), price: Decimal128.fromString('9.99') }));
    Long.prototype.toJSON = function () { return this.toString(); };
    Decimal128.prototype.toJSON = function () { return this.toString(); };
    const fast = String(await as('acme', () => c.findJSON({})));
    const slow = JSON.stringify(await as('acme', () => c.find({}).toArray()));
    expect(fast).toBe(slow);
  });
});

describe('F5: sendJSON vs res.json under app settings and preset headers', () => {
  beforeAll(async () => {
    await suite.rdb.collection('s').insertOne({ _id: 1, tenantId: 'acme', html: '<script>x</script>&', secret: 'hunter2' });
  });
  const variants = [
    ['json escape', (app) => app.set('json escape', true), () => {}],
    ['json replacer (strips a secret)', (app) => app.set('json replacer', (k, v) => (k === 'secret' ? undefined : v)), () => {}],
    ['json spaces', (app) => app.set('json spaces', 2), () => {}],
    ['preset Content-Type without charset', () => {}, (res) => res.type('application/vnd.api+json')],
  ];
  for (const [ver, mk] of [['express5', express], ['express4', express4]]) {
    test.each(variants)(`${ver}: %s`, async (_n, setup, pre) => {
      const c = suite.fence.collection('s');
      const app = mk();
      setup(app);
      app.use(suite.fence.middleware());
      app.get('/json', async (req, res) => { pre(res); res.json(await c.find({}).toArray()); });
      app.get('/fast', (req, res, next) => { pre(res); sendJSON(res, c.findJSON({})).catch(next); });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      try {
        const get = async (p) => {
          const r = await fetch(`http://127.0.0.1:${server.address().port}${p}`, { headers: { 'x-tenant-id': 'acme' } });
          return { type: r.headers.get('content-type'), etag: r.headers.get('etag'), body: await r.text() };
        };
        expect(await get('/fast')).toEqual(await get('/json'));
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });
  }
});
