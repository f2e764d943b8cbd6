'use strict';
// One A/B contender process: loads tenantfence from TF (a package folder), runs each OPS entry
// (`name:concurrency:count`) against MONGODB_URI and prints JSON: per op, client CPU per op,
// ops/s, and the CPU split by thread (js = the main thread, io = tenantfence's tokio thread).

const fs = require('node:fs');
const { TenantFence, ObjectId } = require(process.env.TF);
const { order } = require('../ops/data');

/** CPU ticks (10 ms) per thread group, user and system, from /proc. */
function threads() {
  const out = {};
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const st = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const group = tid === String(process.pid) ? 'js' : comm.startsWith('tenantfence') ? 'io' : 'other';
      out[`${group}_usr`] = (out[`${group}_usr`] || 0) + Number(f[11]);
      out[`${group}_sys`] = (out[`${group}_sys`] || 0) + Number(f[12]);
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return out;
}

(async () => {
  const fence = await TenantFence.connect(process.env.MONGODB_URI, { database: process.env.DB, maxPoolSize: 100 });
  const c = fence.collection('orders');
  const ids = JSON.parse(process.env.IDS).map((s) => new ObjectId(s));
  const ops = {
    findOne: (k) => c.findOne({ _id: ids[k % ids.length] }),
    find50: () => c.find({ status: 'open' }).sort({ createdAt: -1 }).limit(50).toArray(),
    insertOne: (k) => c.insertOne(order(k)),
    updateOne: (k) => c.updateOne({ _id: ids[k % ids.length] }, { $inc: { total: 1 } }),
    insertMany: (k) => c.insertMany(Array.from({ length: 1000 }, (_, j) => order(k * 1000 + j))),
    // A join whose sub-pipeline sorts: "the latest 5 of the same status" per order. Round 12
    // puts a barrier after the sub-pipeline's first $match, so the sort is done in memory.
    lookupSorted: () =>
      c.aggregate([{ $match: { status: 'open' } }, { $limit: 10 }, { $lookup: { from: 'orders', let: { s: '$status' }, pipeline: [{ $match: { $expr: { $eq: ['$status', '$$s'] } } }, { $sort: { createdAt: -1 } }, { $limit: 5 }], as: 'latest' } }]).toArray(),
    // A join by _id in the let form, the idiom round 10 changed (its join key stays a point).
    lookup20: () =>
      c.aggregate([{ $match: { status: 'open' } }, { $limit: 20 }, { $lookup: { from: 'orders', let: { id: '$_id' }, pipeline: [{ $match: { $expr: { $eq: ['$_id', '$$id'] } } }], as: 'self' } }]).toArray(),
  };
  const out = {};
  for (const spec of process.env.OPS.split(',')) {
    const [name, conc, count] = spec.split(':');
    const fn = ops[name];
    if (!fn) throw new Error(`unknown op ${name}`);
    const run = async (n) => {
      let i = 0;
      const loop = async () => {
        while (i < n) {
          const k = i++;
          await fence.runAs(`t${k % 10}`, () => fn(k));
        }
      };
      await Promise.all(Array.from({ length: Number(conc) }, loop));
    };
    const n = Number(count);
    await run(Math.min(n, 2000)); // warm-up
    const th0 = threads();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await run(n);
    const cpu = process.cpuUsage(cpu0);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const th1 = threads();
    const split = {};
    for (const k of Object.keys(th1)) split[k] = ((th1[k] - (th0[k] || 0)) * 10000) / n;
    out[`${name} c=${conc}`] = { cpu: (cpu.user + cpu.system) / n, ops: n / secs, split };
  }
  await fence.close();
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
