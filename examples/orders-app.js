'use strict';
// An Express app written as the official driver's documentation writes one: a transaction with
// `session.withTransaction` and `{ session }` on each call, a cursor streamed to the response,
// and the driver's error classes. It runs unchanged on the driver or on tenantfence: only where the
// database handle, the sessions and the error classes come from differs (see the bottom of this
// file, and __tests__/api/example-orders.test.js, which runs it both ways over HTTP).

const express = require('express');
const { pipeline } = require('node:stream/promises');

/**
 * The app. `db` has `collection(name)`; `startSession()` returns a session (or a promise of
 * one); `errors` holds `MongoServerError` and `MongoBulkWriteError`; `before` are middlewares
 * mounted first (tenantfence's sets the tenant of each request).
 */
function createOrdersApp({ db, startSession, errors, before = [] }) {
  const { MongoServerError, MongoBulkWriteError } = errors;
  const accounts = db.collection('accounts');
  const orders = db.collection('orders');
  const app = express();
  app.use(express.json());
  for (const m of before) app.use(m);

  // Opens an account. Names are unique (a unique index on `name`; under tenantfence it is unique
  // per tenant, as the tenant field leads it), so a second one is a duplicate key (409). Not the
  // `_id`: under strategy 'field' all tenants share the `_id` index.
  app.post('/accounts', async (req, res) => {
    const { name, balance } = req.body;
    try {
      await accounts.insertOne({ name, balance });
      res.status(201).json({ name, balance });
    } catch (e) {
      if (e instanceof MongoServerError && e.code === 11000) {
        res.status(409).json({ error: `account ${name} exists` });
        return;
      }
      throw e;
    }
  });

  app.get('/accounts/:name', async (req, res) => {
    const account = await accounts.findOne({ name: req.params.name });
    if (!account) res.status(404).json({ error: 'no such account' });
    else res.json({ name: account.name, balance: account.balance });
  });

  // Buys an item: the balance goes down and the order is written together, or neither happens.
  app.post('/orders', async (req, res) => {
    const { account, item, price } = req.body;
    const session = await startSession();
    try {
      let funded = true;
      await session.withTransaction(async () => {
        const paid = await accounts.updateOne(
          { name: account, balance: { $gte: price } },
          { $inc: { balance: -price } },
          { session },
        );
        if (paid.matchedCount === 0) {
          funded = false;
          await session.abortTransaction();
          return;
        }
        await orders.insertOne({ account, item, price, seq: req.body.seq }, { session });
      });
      if (funded) res.status(201).json({ account, item, price });
      else res.status(402).json({ error: 'insufficient funds' });
    } finally {
      await session.endSession();
    }
  });

  // Imports orders written elsewhere; the ones that fail (a repeated seq) are reported by index.
  app.post('/orders/import', async (req, res) => {
    try {
      const r = await orders.insertMany(req.body, { ordered: false });
      res.status(201).json({ inserted: r.insertedCount });
    } catch (e) {
      if (!(e instanceof MongoBulkWriteError)) throw e;
      res.status(207).json({ inserted: e.result.insertedCount, failed: e.writeErrors.map((w) => w.index) });
    }
  });

  // Every order, one JSON line each, streamed as read (a slow client holds the reads back).
  app.get('/orders.ndjson', async (req, res) => {
    res.type('application/x-ndjson');
    const cursor = orders.find({}, { sort: { seq: 1 }, projection: { _id: 0, account: 1, item: 1, price: 1, seq: 1 } });
    await pipeline(cursor.stream({ transform: (doc) => `${JSON.stringify(doc)}\n` }), res);
  });

  app.use((err, req, res, next) => {
    if (res.headersSent) return next(err);
    res.status(err.statusCode || 500).json({ error: err.message, name: err.name, code: err.code });
  });
  return app;
}

/** On the official driver: one database, no tenants. */
function onDriver(client, dbName) {
  return createOrdersApp({ db: client.db(dbName), startSession: () => client.startSession(), errors: require('mongodb') });
}

/** On tenantfence: the same app, each request in its tenant (the `x-tenant-id` header). */
function onFence(fence) {
  return createOrdersApp({
    db: fence.db,
    startSession: () => fence.startSession(),
    errors: require('..'),
    before: [fence.middleware({ header: 'x-tenant-id' })],
  });
}

module.exports = { createOrdersApp, onDriver, onFence };
