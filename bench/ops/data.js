'use strict';
// The benchmark's data model: orders of 50 tenants, as issue 5 describes them.

const TENANTS = Array.from({ length: 50 }, (_, i) => `t${String(i).padStart(2, '0')}`);
const STATUSES = ['open', 'paid', 'shipped', 'cancelled'];
const ORDERS = 200_000;
const INDEX = { tenantId: 1, status: 1, createdAt: -1 };
const BASE = Date.UTC(2025, 0, 1);

/** One order body (no _id, no tenant); `n` makes it deterministic. */
function order(n) {
  return {
    customer: `c${n % 997}`,
    status: STATUSES[n % STATUSES.length],
    total: 10 + (n % 9000) / 100,
    createdAt: new Date(BASE + n * 60_000),
    items: [
      { sku: `S${n % 101}`, qty: 1 + (n % 3), price: 4.5 },
      { sku: `S${(n + 7) % 101}`, qty: 2, price: 12.25 },
      { sku: `S${(n + 13) % 101}`, qty: 1, price: 99.99 },
    ],
  };
}

/** Loads ORDERS orders round-robin over the tenants, indexes them, and returns ids per tenant. */
async function load(db, ObjectId, { log, idsPerTenant = 500 }) {
  const coll = db.collection('orders');
  await coll.drop().catch(() => {});
  await db.collection('orders_w').drop().catch(() => {});
  const ids = Object.fromEntries(TENANTS.map((t) => [t, []]));
  const t0 = Date.now();
  const BATCH = 10_000;
  for (let from = 0; from < ORDERS; from += BATCH) {
    const docs = [];
    for (let n = from; n < Math.min(ORDERS, from + BATCH); n++) {
      const tenantId = TENANTS[n % TENANTS.length];
      const d = { _id: new ObjectId(), tenantId, ...order(n) };
      if (ids[tenantId].length < idsPerTenant) ids[tenantId].push(d._id.toHexString());
      docs.push(d);
    }
    await coll.insertMany(docs, { ordered: false });
  }
  await coll.createIndex(INDEX);
  log(`loaded ${ORDERS.toLocaleString('en-US')} orders in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return ids;
}

/** Empties the write collection so every insert measurement starts from the same state. */
async function resetWrites(db) {
  await db.collection('orders_w').drop().catch(() => {});
  await db.collection('orders_w').createIndex(INDEX);
}

module.exports = { TENANTS, STATUSES, ORDERS, INDEX, order, load, resetWrites };
