'use strict';
// An Express + Mongoose app (a shop: customers, products, orders, and a log of events) written
// as Mongoose's documentation writes one: schemas with validation, hooks, virtuals and
// timestamps, refs with populate(), a discriminator, an aggregation with $lookup and a
// transaction. It moves onto tenantfence with the three lines marked "tenantfence" in start();
// nothing in the models or the routes knows about tenants. __tests__/mongoose/example-app.test.js
// runs it over HTTP with three tenants.

const express = require('express');

function defineModels(mongoose) {
  const { Schema } = mongoose;

  const customerSchema = new Schema(
    {
      name: { type: String, required: true, trim: true },
      email: { type: String, required: true, lowercase: true, match: /^[^@\s]+@[^@\s]+$/ },
    },
    { timestamps: true },
  );
  // Unique per tenant on the fence: the tenant field leads the index it builds.
  customerSchema.index({ email: 1 }, { unique: true });

  const productSchema = new Schema({
    name: { type: String, required: true },
    price: { type: Number, required: true, min: 0 },
    stock: { type: Number, required: true, min: 0 },
  });

  const itemSchema = new Schema({ product: { type: Schema.Types.ObjectId, ref: 'Product', required: true }, qty: { type: Number, min: 1, required: true }, price: Number }, { _id: false });
  const orderSchema = new Schema(
    {
      customer: { type: Schema.Types.ObjectId, ref: 'Customer', required: true },
      items: { type: [itemSchema], validate: (v) => v.length > 0 },
      total: Number,
      status: { type: String, enum: ['placed', 'shipped', 'cancelled'], default: 'placed' },
    },
    { timestamps: true, toJSON: { virtuals: true } },
  );
  // Hooks: the total is computed on save; every saved order is logged as an event.
  orderSchema.pre('save', function () {
    this.total = this.items.reduce((sum, i) => sum + i.qty * i.price, 0);
  });
  orderSchema.virtual('itemCount').get(function () {
    return this.items.reduce((n, i) => n + i.qty, 0);
  });

  // Events: one collection, two kinds (a discriminator).
  const eventSchema = new Schema({ order: { type: Schema.Types.ObjectId, ref: 'Order' } }, { discriminatorKey: 'kind', timestamps: true });

  const Customer = mongoose.model('Customer', customerSchema);
  const Product = mongoose.model('Product', productSchema);
  const Order = mongoose.model('Order', orderSchema);
  const Event = mongoose.model('Event', eventSchema);
  const Placed = Event.discriminator('OrderPlaced', new Schema({ total: Number }));
  const Cancelled = Event.discriminator('OrderCancelled', new Schema({ reason: String }));
  return { Customer, Product, Order, Event, Placed, Cancelled };
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The routes. `before`: middlewares mounted first (the fence's sets each request's tenant). */
function createApp(mongoose, models, { before = [] } = {}) {
  const { Customer, Product, Order, Event, Placed, Cancelled } = models;
  const app = express();
  app.use(express.json());
  for (const m of before) app.use(m);
  const wrap = (fn) => (req, res, next) => fn(req, res).catch(next);
  const found = (doc, what) => {
    if (!doc) throw new HttpError(404, `no such ${what}`);
    return doc;
  };

  app.post('/customers', wrap(async (req, res) => {
    res.status(201).json(await Customer.create({ name: req.body.name, email: req.body.email }));
  }));
  app.get('/customers', wrap(async (req, res) => {
    res.json(await Customer.find().sort({ name: 1 }).lean());
  }));
  app.patch('/customers/:id', wrap(async (req, res) => {
    res.json(found(await Customer.findByIdAndUpdate(req.params.id, { name: req.body.name }, { returnDocument: 'after', runValidators: true }), 'customer'));
  }));

  app.post('/products', wrap(async (req, res) => {
    res.status(201).json(await Product.create(req.body));
  }));
  app.get('/products/:id', wrap(async (req, res) => {
    res.json(found(await Product.findById(req.params.id), 'product'));
  }));

  // Places an order in a transaction: the stock of each product goes down, the order and its
  // event are written, or (out of stock, unknown product) none of it happens.
  app.post('/orders', wrap(async (req, res) => {
    const order = await mongoose.connection.transaction(async (session) => {
      const customer = found(await Customer.findById(req.body.customer).session(session), 'customer');
      const items = [];
      for (const { product, qty } of req.body.items || []) {
        const p = await Product.findOneAndUpdate({ _id: product, stock: { $gte: qty } }, { $inc: { stock: -qty } }, { session, returnDocument: 'after' });
        if (!p) throw new HttpError(409, `product ${product} is unknown or out of stock`);
        items.push({ product: p._id, qty, price: p.price });
      }
      const [o] = await Order.create([{ customer: customer._id, items }], { session });
      await Placed.create([{ order: o._id, total: o.total }], { session });
      return o;
    });
    res.status(201).json(order);
  }));
  app.get('/orders', wrap(async (req, res) => {
    res.json(await Order.find().populate('customer', 'name').sort({ createdAt: 1 }));
  }));
  app.get('/orders/:id', wrap(async (req, res) => {
    res.json(found(await Order.findById(req.params.id).populate('customer').populate('items.product'), 'order'));
  }));
  app.post('/orders/:id/cancel', wrap(async (req, res) => {
    const order = found(await Order.findById(req.params.id), 'order');
    order.status = 'cancelled';
    await order.save();
    await Product.bulkWrite(order.items.map((i) => ({ updateOne: { filter: { _id: i.product }, update: { $inc: { stock: i.qty } } } })));
    await Cancelled.create({ order: order._id, reason: req.body.reason });
    res.json(order);
  }));
  app.get('/events', wrap(async (req, res) => {
    res.json(await Event.find().sort({ createdAt: 1 }).lean());
  }));
  // Revenue per customer: an aggregation with $lookup.
  app.get('/stats', wrap(async (req, res) => {
    res.json(
      await Order.aggregate([
        { $match: { status: 'placed' } },
        { $group: { _id: '$customer', revenue: { $sum: '$total' }, orders: { $sum: 1 } } },
        { $lookup: { from: 'customers', localField: '_id', foreignField: '_id', as: 'customer' } },
        { $project: { _id: 0, customer: { $first: '$customer.name' }, revenue: 1, orders: 1 } },
        { $sort: { customer: 1 } },
      ]),
    );
  }));

  app.use((err, req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof HttpError) return res.status(err.status).json({ error: err.message });
    if (err.name === 'ValidationError' || err.name === 'CastError') return res.status(400).json({ error: err.message });
    if (err.code === 11000) return res.status(409).json({ error: 'duplicate' });
    // A TenantError (a refused operation) is the app's bug, not the client's.
    if (err.name === 'TenantError') return res.status(500).json({ error: { code: err.code } });
    return next(err);
  });
  return app;
}

/** Connects Mongoose and returns the app; `mongoose` may be any Mongoose 8 or 9 instance. */
async function start({ mongoose = require('mongoose'), uri = process.env.MONGODB_URI, dbName = 'shop' } = {}) {
  mongoose.setDriver(require('tenantfence/mongoose')); // tenantfence (1/3): before any model
  const models = defineModels(mongoose);
  await mongoose.connect(uri, { dbName, tenantField: 'tenantId' }); // tenantfence (2/3): the fence's options
  const fence = mongoose.connection.fence;
  const app = createApp(mongoose, models, { before: [fence.middleware()] }); // tenantfence (3/3)
  return { app, models, fence, close: () => mongoose.disconnect() };
}

module.exports = { defineModels, createApp, start };

if (require.main === module) {
  start()
    .then(({ app }) => {
      const port = Number(process.env.PORT) || 3000;
      app.listen(port, () => console.log(`shop on http://localhost:${port} (send x-tenant-id)`));
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
