'use strict';
// One Express 5 app per process for the end-to-end benchmark: GET /orders?status=open returns
// the tenant's 50 newest orders with that status as JSON. Modes: tenantfence | tenantfence-json
// (the JSON rendered in Rust: findJSON + sendJSON) | driver+als | mongoose | ceiling (no
// database: the same JSON from memory, Express's own limit).

const path = require('node:path');
const { AsyncLocalStorage } = require('node:async_hooks');
const express = require('express');

const TENANT = /^[A-Za-z0-9_-]{1,64}$/;

async function build(mode, uri, db) {
  const app = express();
  const sort = { createdAt: -1 };
  if (mode === 'tenantfence' || mode === 'tenantfence-json') {
    const { TenantFence, sendJSON } = require(path.join(__dirname, '..', '..'));
    const fence = await TenantFence.connect(uri, { database: db, maxPoolSize: 100 });
    const orders = fence.collection('orders');
    app.use(fence.middleware());
    if (mode === 'tenantfence') {
      app.get('/orders', async (req, res) => {
        res.json(await orders.find({ status: String(req.query.status) }, { sort, limit: 50 }).toArray());
      });
    } else {
      app.get('/orders', (req, res, next) => {
        sendJSON(res, orders.findJSON({ status: String(req.query.status) }, { sort, limit: 50 })).catch(next);
      });
    }
  } else if (mode === 'driver+als') {
    const { MongoClient } = require('mongodb');
    const client = await MongoClient.connect(uri, { maxPoolSize: 100 });
    const orders = client.db(db).collection('orders');
    const als = new AsyncLocalStorage();
    app.use((req, res, next) => {
      const t = req.get('x-tenant-id');
      if (!t || !TENANT.test(t)) return res.status(400).json({ error: { code: 'TENANT_INVALID' } });
      als.run(t, next);
    });
    app.get('/orders', async (req, res) => {
      const filter = { tenantId: als.getStore(), status: String(req.query.status) };
      res.json(await orders.find(filter, { sort, limit: 50 }).toArray());
    });
  } else if (mode === 'mongoose') {
    const m = require('mongoose');
    const { store, tenancyPlugin } = require('./mongoose-tenancy');
    const conn = await m.createConnection(uri, { dbName: db, maxPoolSize: 100, autoIndex: false }).asPromise();
    const schema = new m.Schema(
      { tenantId: String, customer: String, status: String, total: Number, createdAt: Date, items: [{ sku: String, qty: Number, price: Number, _id: false }] },
      { versionKey: false },
    );
    schema.plugin(tenancyPlugin);
    const Order = conn.model('Order', schema, 'orders');
    app.use((req, res, next) => {
      const t = req.get('x-tenant-id');
      if (!t || !TENANT.test(t)) return res.status(400).json({ error: { code: 'TENANT_INVALID' } });
      store.run(t, next);
    });
    app.get('/orders', async (req, res) => {
      res.json(await Order.find({ status: String(req.query.status) }).sort(sort).limit(50).lean().exec());
    });
  } else if (mode === 'ceiling') {
    const { MongoClient } = require('mongodb');
    const client = await MongoClient.connect(uri);
    const sample = await client.db(db).collection('orders').find({ tenantId: 't00', status: 'open' }, { sort, limit: 50 }).toArray();
    await client.close();
    app.get('/orders', (req, res) => res.json(sample));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  return app;
}

process.on('message', async (msg) => {
  if (msg.type === 'start') {
    const app = await build(msg.mode, msg.uri, msg.db);
    const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  } else if (msg.type === 'cpu') {
    process.send({ cpu: process.cpuUsage() });
  }
});
