'use strict';
// The contenders: each turns the six benchmark operations into calls of one library.
// Every op gets (tenant, i, args) and awaits the full result, as a handler would.
// Pool size is 100 everywhere (the Node driver's default; the Rust driver's is 10).

const path = require('node:path');
const { STATUSES, order } = require('./data');

const POOL = 100;
const PIPELINE = (status) => [
  { $match: { status } },
  { $group: { _id: '$customer', total: { $sum: '$total' }, n: { $sum: 1 } } },
];
const FIND50 = { sort: { createdAt: -1 }, limit: 50 };
const manyOrders = (i) => Array.from({ length: 1000 }, (_, k) => order(i * 1000 + k));

/** tenantfence as an app connects it (metrics on, the default); `metrics: false` for the overhead row. */
const tenantfence = (options = {}) => async ({ uri, db }) => {
  const { TenantFence, ObjectId } = require(path.join(__dirname, '..', '..'));
  const fence = await TenantFence.connect(uri, { database: db, maxPoolSize: POOL, ...options });
  const orders = fence.collection('orders');
  const writes = fence.collection('orders_w');
  const as = (t, fn) => fence.runAs(t, fn);
  return {
    ObjectId,
    close: () => fence.close(),
    ops: {
      findOne: (t, id) => as(t, () => orders.findOne({ _id: id })),
      find50: (t, _id, i) => as(t, () => orders.find({ status: STATUSES[i & 3] }, FIND50).toArray()),
      aggregate: (t, _id, i) => as(t, () => orders.aggregate(PIPELINE(STATUSES[i & 3])).toArray()),
      updateOne: (t, id) => as(t, () => orders.updateOne({ _id: id }, { $inc: { total: 1 } })),
      insertOne: (t, _id, i) => as(t, () => writes.insertOne(order(i))),
      insertMany: (t, _id, i) => as(t, () => writes.insertMany(manyOrders(i))),
    },
  };
};

/** The official driver; `byHand` adds the tenant to filters, pipelines and documents itself. */
function driver(byHand) {
  return async ({ uri, db }) => {
    const { MongoClient, ObjectId } = require('mongodb');
    const client = await MongoClient.connect(uri, { maxPoolSize: POOL });
    const orders = client.db(db).collection('orders');
    const writes = client.db(db).collection('orders_w');
    // Unscoped: the app's own query. For find50 and aggregate an unscoped query would read all
    // 50 tenants (50x the server work), so both variants send the tenant there; they differ on
    // _id lookups and on how new documents get their tenant.
    const idFilter = byHand ? (t, id) => ({ _id: id, tenantId: t }) : (_t, id) => ({ _id: id });
    const one = byHand ? (t, i) => ({ ...order(i), tenantId: t }) : (t, i) => ({ tenantId: t, ...order(i) });
    const many = byHand
      ? (t, i) => manyOrders(i).map((d) => ({ ...d, tenantId: t }))
      : (t, i) => Array.from({ length: 1000 }, (_, k) => ({ tenantId: t, ...order(i * 1000 + k) }));
    return {
      ObjectId,
      close: () => client.close(),
      ops: {
        findOne: (t, id) => orders.findOne(idFilter(t, id)),
        find50: (t, _id, i) => orders.find({ tenantId: t, status: STATUSES[i & 3] }, FIND50).toArray(),
        aggregate: (t, _id, i) => {
          const [match, group] = PIPELINE(STATUSES[i & 3]);
          return orders.aggregate([{ $match: { tenantId: t, ...match.$match } }, group]).toArray();
        },
        updateOne: (t, id) => orders.updateOne(idFilter(t, id), { $inc: { total: 1 } }),
        insertOne: (t, _id, i) => writes.insertOne(one(t, i)),
        insertMany: (t, _id, i) => writes.insertMany(many(t, i)),
      },
    };
  };
}

/** The six operations on Mongoose models, each run as tenant `t` by `as`; `lean` skips hydration. */
function mongooseOps(Order, Write, as, lean) {
  const q = (query) => (lean ? query.lean() : query);
  return {
    findOne: (t, id) => as(t, () => q(Order.findOne({ _id: id })).exec()),
    find50: (t, _id, i) => as(t, () => q(Order.find({ status: STATUSES[i & 3] }).sort(FIND50.sort).limit(50)).exec()),
    aggregate: (t, _id, i) => as(t, () => Order.aggregate(PIPELINE(STATUSES[i & 3])).exec()),
    updateOne: (t, id) => as(t, () => Order.updateOne({ _id: id }, { $inc: { total: 1 } }).exec()),
    insertOne: (t, _id, i) => as(t, () => (lean ? Write.insertMany([order(i)], { lean: true }) : Write.create(order(i)))),
    insertMany: (t, _id, i) => as(t, () => Write.insertMany(manyOrders(i), { lean })),
  };
}

/** Mongoose with the AsyncLocalStorage tenancy plugin; `lean` skips hydration. */
function mongoose(lean) {
  return async ({ uri, db }) => {
    const m = require('mongoose');
    const { store, tenancyPlugin } = require('./mongoose-tenancy');
    const conn = await m.createConnection(uri, { dbName: db, maxPoolSize: POOL, autoIndex: false }).asPromise();
    const item = new m.Schema({ sku: String, qty: Number, price: Number }, { _id: false });
    const schema = new m.Schema(
      { tenantId: String, customer: String, status: String, total: Number, createdAt: Date, items: [item] },
      { versionKey: false },
    );
    schema.plugin(tenancyPlugin);
    const Order = conn.model('Order', schema, 'orders');
    const Write = conn.model('OrderW', schema, 'orders_w');
    return { ObjectId: m.Types.ObjectId, close: () => conn.close(), ops: mongooseOps(Order, Write, (t, fn) => store.run(t, fn), lean) };
  };
}

/**
 * Mongoose on tenantfence (issue 15): the same models without the plugin, on a Mongoose
 * instance whose driver is `tenantfence/mongoose`; the fence stamps and scopes every call.
 */
function mongooseOnFence(lean) {
  return async ({ uri, db }) => {
    const { Mongoose } = require('mongoose');
    const m = new Mongoose();
    m.setDriver(require(path.join(__dirname, '..', '..', 'lib', 'mongoose')));
    const conn = await m.createConnection(uri, { dbName: db, maxPoolSize: POOL, autoIndex: false, autoCreate: false }).asPromise();
    const fence = conn.fence;
    const item = new m.Schema({ sku: String, qty: Number, price: Number }, { _id: false });
    const schema = new m.Schema(
      { customer: String, status: String, total: Number, createdAt: Date, items: [item] },
      { versionKey: false },
    );
    const Order = conn.model('Order', schema, 'orders');
    const Write = conn.model('OrderW', schema, 'orders_w');
    return { ObjectId: m.Types.ObjectId, close: () => conn.close(), ops: mongooseOps(Order, Write, (t, fn) => fence.runAs(t, fn), lean) };
  };
}

const CONTENDERS = {
  tenantfence: tenantfence(),
  'tenantfence-nometrics': tenantfence({ metrics: false }),
  driver: driver(false),
  'driver+tenant': driver(true),
  mongoose: mongoose(false),
  'mongoose-lean': mongoose(true),
  'mongoose-fence': mongooseOnFence(false),
  'mongoose-fence-lean': mongooseOnFence(true),
};

module.exports = { CONTENDERS };
