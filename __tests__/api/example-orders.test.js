'use strict';
// examples/orders-app.js, written as the driver's docs write an app (withTransaction with
// { session }, cursor.stream(), MongoServerError / MongoBulkWriteError), runs unchanged on the
// official driver and on tenantfence. The same requests get the same answers from both; on the
// fence, two tenants behind one app see and change only their own accounts and orders.

const { MongoClient } = require('mongodb');
const { TenantFence } = require('../..');
const { onDriver, onFence } = require('../../examples/orders-app');
const { uri, dbName } = require('../helpers/fixtures');

const DB = dbName('orders');
let client;
let fence;
const servers = [];

function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      servers.push(server);
      resolve(`http://127.0.0.1:${server.address().port}`);
    });
  });
}

async function call(base, method, path, body, tenant) {
  const headers = { 'content-type': 'application/json' };
  if (tenant) headers['x-tenant-id'] = tenant;
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const type = r.headers.get('content-type') || '';
  let parsed = text;
  if (type.includes('application/json')) parsed = JSON.parse(text);
  else if (type.includes('ndjson')) parsed = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { status: r.status, body: parsed };
}

/** The requests of one shop's day, and what each answered. */
async function day(base, tenant, shop) {
  const out = [];
  const go = async (method, path, body) => out.push(await call(base, method, path, body, tenant));
  await go('POST', '/accounts', { name: 'ann', balance: 100 });
  await go('POST', '/accounts', { name: 'ann', balance: 5 }); // duplicate key: 409
  await go('POST', '/orders', { account: 'ann', item: `${shop}-lamp`, price: 30, seq: 1 });
  await go('POST', '/orders', { account: 'ann', item: `${shop}-sofa`, price: 500, seq: 2 }); // 402, aborted
  await go('GET', '/accounts/ann');
  await go('POST', '/orders/import', [
    { account: 'bob', item: `${shop}-chair`, price: 20, seq: 3 },
    { account: 'bob', item: `${shop}-desk`, price: 90, seq: 3 }, // repeated seq: refused by the unique index
    { account: 'bob', item: `${shop}-rug`, price: 40, seq: 4 },
  ]);
  await go('GET', '/orders.ndjson');
  await go('GET', '/accounts/nobody');
  return out;
}

beforeAll(async () => {
  client = new MongoClient(uri());
  await client.connect();
  fence = await TenantFence.connect(uri(), { database: DB });
  for (const [c, key] of [['orders', { seq: 1 }], ['accounts', { name: 1 }]]) {
    await client.db(`${DB}d`).collection(c).createIndex(key, { unique: true });
    // Unique per tenant: the fence puts the tenant field first.
    await fence.runAsSystem({ reason: 'example setup' }, () => fence.collection(c).createIndex(key, { unique: true }));
  }
});

afterAll(async () => {
  for (const s of servers) s.close();
  await fence.close();
  await client.db(DB).dropDatabase();
  await client.db(`${DB}d`).dropDatabase();
  await client.close();
});

test('the same app answers the same on the driver and on tenantfence', async () => {
  const driverBase = await listen(onDriver(client, `${DB}d`));
  const fenceBase = await listen(onFence(fence));
  const viaDriver = await day(driverBase, undefined, 'acme');
  const viaFence = await day(fenceBase, 'acme', 'acme');
  expect(viaFence).toEqual(viaDriver);
  expect(viaFence.map((r) => r.status)).toEqual([201, 409, 201, 402, 200, 207, 200, 404]);
  expect(viaFence[4].body).toEqual({ name: 'ann', balance: 70 });
  expect(viaFence[5].body).toEqual({ inserted: 2, failed: [1] });
  expect(viaFence[6].body.map((o) => o.item)).toEqual(['acme-lamp', 'acme-chair', 'acme-rug']);
});

test('on the fence, each tenant sees and changes only its own accounts and orders', async () => {
  const base = await listen(onFence(fence));
  // globex's day: the same names and seqs as acme's, no clash (unique per tenant), its own data only.
  const globex = await day(base, 'globex', 'globex');
  expect(globex.map((r) => r.status)).toEqual([201, 409, 201, 402, 200, 207, 200, 404]);
  expect(globex[6].body.map((o) => o.item)).toEqual(['globex-lamp', 'globex-chair', 'globex-rug']);
  expect((await call(base, 'GET', '/accounts/ann', undefined, 'acme')).body).toEqual({ name: 'ann', balance: 70 });
  // No tenant: the middleware's 400, nothing run.
  expect((await call(base, 'GET', '/orders.ndjson')).status).toBe(400);
  const stored = await client.db(DB).collection('orders').find({}, { projection: { _id: 0, tenantId: 1, item: 1 } }).toArray();
  for (const o of stored) expect(o.item.startsWith(`${o.tenantId}-`)).toBe(true);
});
