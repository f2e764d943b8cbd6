'use strict';
// examples/mongoose-app.js, an Express + Mongoose shop (populate, a discriminator, hooks, a
// transaction, $lookup), on tenantfence after its three-line switch: over HTTP, three tenants
// behind one app each see and change only their own customers, products, orders and events.
// Run on Mongoose 9 and Mongoose 8.

const request = require('supertest');
const { start } = require('../../examples/mongoose-app');
const { uri, dbName, rawClient } = require('../helpers/fixtures');

const TENANTS = ['acme', 'globex', 'initech'];

describe.each([['mongoose'], ['mongoose8']])('examples/mongoose-app.js on %s', (pkg) => {
  let shop;
  let raw;
  let DB;
  const made = {}; // per tenant: { customer, product, order }

  const as = (tenant) => ({
    get: (p) => request(shop.app).get(p).set('x-tenant-id', tenant),
    post: (p, body) => request(shop.app).post(p).set('x-tenant-id', tenant).send(body),
    patch: (p, body) => request(shop.app).patch(p).set('x-tenant-id', tenant).send(body),
  });

  beforeAll(async () => {
    DB = dbName(`shop${pkg === 'mongoose' ? 9 : 8}`);
    raw = await rawClient();
    const { Mongoose } = require(pkg);
    shop = await start({ mongoose: new Mongoose(), uri: uri(), dbName: DB });
    await Promise.all(Object.values(shop.models).map((M) => M.init()));
    for (const [i, t] of TENANTS.entries()) {
      const c = as(t);
      const customer = (await c.post('/customers', { name: `Buyer ${t}`, email: 'Buyer@Example.com' }).expect(201)).body;
      const product = (await c.post('/products', { name: `widget ${t}`, price: 10 * (i + 1), stock: 5 }).expect(201)).body;
      const order = (await c.post('/orders', { customer: customer._id, items: [{ product: product._id, qty: 2 }] }).expect(201)).body;
      made[t] = { customer, product, order };
    }
  });

  afterAll(async () => {
    if (shop) await shop.close();
    if (raw) {
      await raw.db(DB).dropDatabase();
      await raw.close();
    }
  });

  test('each tenant lists only its own customers and orders, populated from its own data', async () => {
    for (const [i, t] of TENANTS.entries()) {
      const customers = (await as(t).get('/customers').expect(200)).body;
      expect(customers.map((c) => [c.name, c.email, c.tenantId])).toEqual([[`Buyer ${t}`, 'buyer@example.com', t]]);
      const orders = (await as(t).get('/orders').expect(200)).body;
      expect(orders).toHaveLength(1);
      expect(orders[0].customer.name).toBe(`Buyer ${t}`);
      expect(orders[0].total).toBe(20 * (i + 1)); // pre('save') hook
      expect(orders[0].itemCount).toBe(2); // virtual
      const one = (await as(t).get(`/orders/${made[t].order._id}`).expect(200)).body;
      expect(one.items[0].product.name).toBe(`widget ${t}`);
      expect((await as(t).get(`/products/${made[t].product._id}`).expect(200)).body.stock).toBe(3);
    }
  });

  test('another tenant\'s ids are not found, not changed, not ordered from', async () => {
    const { customer, product, order } = made.acme;
    for (const t of ['globex', 'initech']) {
      await as(t).get(`/orders/${order._id}`).expect(404);
      await as(t).get(`/products/${product._id}`).expect(404);
      await as(t).patch(`/customers/${customer._id}`, { name: 'stolen' }).expect(404);
      await as(t).post(`/orders/${order._id}/cancel`, { reason: 'x' }).expect(404);
      // ordering acme's product with the tenant's own customer: unknown product, nothing written
      await as(t).post('/orders', { customer: made[t].customer._id, items: [{ product: product._id, qty: 1 }] }).expect(409);
      // acme's customer with the tenant's own product: the transaction rolls the stock back
      await as(t).post('/orders', { customer: customer._id, items: [{ product: made[t].product._id, qty: 1 }] }).expect(404);
      expect((await as(t).get(`/products/${made[t].product._id}`).expect(200)).body.stock).toBe(3);
    }
    const stored = await raw.db(DB).collection('customers').findOne({ email: 'buyer@example.com', tenantId: 'acme' });
    expect(stored.name).toBe('Buyer acme');
    expect(await raw.db(DB).collection('products').findOne({ name: 'widget acme' })).toMatchObject({ stock: 3 });
    expect(await raw.db(DB).collection('orders').countDocuments()).toBe(3);
  });

  test('the transaction is all or nothing: out of stock writes no order and moves no stock', async () => {
    const { customer, product } = made.globex;
    const other = (await as('globex').post('/products', { name: 'gadget', price: 1, stock: 1 }).expect(201)).body;
    await as('globex').post('/orders', { customer: customer._id, items: [{ product: other._id, qty: 1 }, { product: product._id, qty: 99 }] }).expect(409);
    expect((await as('globex').get(`/products/${other._id}`).expect(200)).body.stock).toBe(1);
    expect((await as('globex').get('/orders').expect(200)).body).toHaveLength(1);
  });

  test('events (a discriminator) and stats ($lookup) are per tenant', async () => {
    await as('initech').post(`/orders/${made.initech.order._id}/cancel`, { reason: 'changed mind' }).expect(200);
    expect((await as('initech').get(`/products/${made.initech.product._id}`).expect(200)).body.stock).toBe(5); // bulkWrite put it back
    const events = (await as('initech').get('/events').expect(200)).body;
    expect(events.map((e) => e.kind)).toEqual(['OrderPlaced', 'OrderCancelled']);
    expect(new Set(events.map((e) => e.tenantId))).toEqual(new Set(['initech']));
    for (const [i, t] of TENANTS.entries()) {
      const stats = (await as(t).get('/stats').expect(200)).body;
      expect(stats).toEqual(t === 'initech' ? [] : [{ customer: `Buyer ${t}`, revenue: 20 * (i + 1), orders: 1 }]);
    }
    expect((await as('acme').get('/events').expect(200)).body.map((e) => e.kind)).toEqual(['OrderPlaced']);
  });

  test('a unique index is unique per tenant; a request without a tenant never reaches a route', async () => {
    await as('acme').post('/customers', { name: 'again', email: 'buyer@example.com' }).expect(409);
    const missing = await request(shop.app).get('/customers').expect(400);
    expect(missing.body.error.code).toBe('TENANT_MISSING');
    await request(shop.app).get('/customers').set('x-tenant-id', 'not valid!').expect(400);
  });
});
