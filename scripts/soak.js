#!/usr/bin/env node
'use strict';
// Memory soak: runs SOAK_OPS (default 1,000,000) scoped operations through the real package
// (runAs contexts, writes, reads, counts, aggregates, cursors streamed with for await and
// closed early) and checks that RSS plateaus: RSS at 100% may be at most 10% above RSS at 10%.
// Starts its own mongod (scripts/mongod.js) unless MONGODB_URI is set. Exits 1 when it grows.
// Run with `npm run soak`: node --expose-gc, so samples are taken after a full GC, and V8's young
// generation pinned at 8 MiB semi-spaces. Left to itself V8 grows the young generation once, at a
// moment that depends on allocation rate (measured: heapTotal 13.4 -> 21.4 MiB at ~45% of a run,
// RSS +6-8 MiB with heapUsed flat), which is V8 sizing its nursery, not memory the fence keeps.

const crypto = require('node:crypto');
const { TenantFence } = require('..');

const TOTAL = Number(process.env.SOAK_OPS || 1_000_000);
const WORKERS = Number(process.env.SOAK_WORKERS || 8);
const TENANTS = ['soak_a', 'soak_b', 'soak_c', 'soak_d'];
const MAX_GROWTH = 0.1;
// Operations per cycle below; a cycle is one runAs context.
const OPS_PER_CYCLE = 10;

const log = (msg) => process.stderr.write(`[soak] ${msg}\n`);
const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;

function sample(ops) {
  if (global.gc) global.gc();
  const m = process.memoryUsage();
  return { ops, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** One cycle: a fresh tenant context and ten operations, leaving the collection as it found it. */
async function cycle(fence, tenant, n) {
  const c = fence.collection('soak');
  await fence.runAs(tenant, async () => {
    const { insertedId } = await c.insertOne({ n, kind: 'tmp', pad: 'x'.repeat(64) });
    const doc = await c.findOne({ _id: insertedId });
    if (!doc || doc.n !== n) throw new Error(`findOne lost document ${n}`);
    await c.updateOne({ _id: insertedId }, { $inc: { n: 1 }, $set: { at: new Date() } });
    const count = await c.countDocuments({ kind: 'seed' });
    if (count !== 50) throw new Error(`countDocuments saw ${count} seed documents, expected 50`);
    const [agg] = await c.aggregate([{ $match: { kind: 'seed' } }, { $group: { _id: null, t: { $sum: '$v' } } }]).toArray();
    if (agg.t !== 1225) throw new Error(`aggregate sum ${agg.t}, expected 1225`);
    // Streamed and left early: the loop's break closes the server cursor.
    let seen = 0;
    for await (const d of c.find({ kind: 'seed' }, { batchSize: 5 })) {
      if (d.tenantId !== tenant) throw new Error(`cursor of ${tenant} read a document of ${d.tenantId}`);
      if (++seen === 7) break;
    }
    // An aggregate cursor read with next() and closed by hand.
    const cur = c.aggregate([{ $match: { kind: 'seed' } }, { $sort: { v: 1 } }], { batchSize: 3 });
    const first = await cur.next();
    await cur.close();
    if (first.v !== 0) throw new Error(`aggregate cursor started at ${first.v}`);
    // A nested context for one read, as middleware + a helper calling runAs again would.
    await fence.runAs(tenant, () => c.findOne({ kind: 'seed', v: n % 50 }));
    await c.findOneAndUpdate({ _id: insertedId }, { $set: { done: true } }, { returnDocument: 'after' });
    const del = await c.deleteOne({ _id: insertedId });
    if (del.deletedCount !== 1) throw new Error(`deleteOne removed ${del.deletedCount}`);
  });
}

async function main() {
  const server = await require('./mongod.js').serverFromEnv();
  const { uri } = server;
  const database = `tf_soak_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const fence = await TenantFence.connect(uri, { database });
  let exitCode = 0;
  try {
    for (const t of TENANTS) {
      await fence.runAs(t, () => fence.collection('soak').insertMany(Array.from({ length: 50 }, (_, v) => ({ kind: 'seed', v }))));
    }
    const cycles = Math.ceil(TOTAL / OPS_PER_CYCLE);
    const tenth = Math.ceil(cycles / 10);
    let next = 0;
    let done = 0;
    const samples = [];
    const t0 = process.hrtime.bigint();
    log(`${cycles * OPS_PER_CYCLE} operations in ${cycles} contexts, ${WORKERS} concurrent chains, ${TENANTS.length} tenants`);
    const worker = async () => {
      for (;;) {
        const n = next++;
        if (n >= cycles) return;
        await cycle(fence, TENANTS[n % TENANTS.length], n);
        if (++done % tenth === 0) {
          const s = sample(done * OPS_PER_CYCLE);
          samples.push(s);
          const secs = Number(process.hrtime.bigint() - t0) / 1e9;
          log(`${s.ops} ops, ${Math.round(s.ops / secs)} ops/s, rss ${mib(s.rss)}, heap ${mib(s.heapUsed)} of ${mib(s.heapTotal)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const end = sample(done * OPS_PER_CYCLE);
    const at10 = samples[0];
    const growth = (end.rss - at10.rss) / at10.rss;
    const heapGrowth = (end.heapUsed - at10.heapUsed) / at10.heapUsed;
    const left = await fence.runAsSystem({ reason: 'soak check' }, () => fence.collection('soak').countDocuments({ kind: 'tmp' }));
    if (left !== 0) throw new Error(`${left} temporary documents left behind`);
    console.log(
      JSON.stringify(
        {
          ops: end.ops,
          contexts: done,
          seconds: Number(secs.toFixed(1)),
          opsPerSecond: Math.round(end.ops / secs),
          gcBeforeSamples: Boolean(global.gc),
          at10: { ops: at10.ops, rss: mib(at10.rss), heapUsed: mib(at10.heapUsed), external: mib(at10.external) },
          at100: { ops: end.ops, rss: mib(end.rss), heapUsed: mib(end.heapUsed), external: mib(end.external) },
          rssGrowthPercent: Number((growth * 100).toFixed(2)),
          // Not the criterion; tells a plateau (peak reached early, then flat) from a climb.
          rssPeakFrom20Percent: mib(Math.max(...samples.slice(1).map((s) => s.rss), end.rss)),
          heapGrowthPercent: Number((heapGrowth * 100).toFixed(2)),
          samples: samples.map((s) => `${s.ops} ops: rss ${mib(s.rss)}, heap ${mib(s.heapUsed)}`),
        },
        null,
        2,
      ),
    );
    if (growth >= MAX_GROWTH) {
      log(`FAIL: RSS grew ${(growth * 100).toFixed(1)}% between 10% and 100% (limit ${MAX_GROWTH * 100}%)`);
      exitCode = 1;
    } else {
      log(`ok: RSS grew ${(growth * 100).toFixed(1)}% between 10% and 100%`);
    }
  } finally {
    await fence.runAsSystem({ reason: 'soak cleanup' }, () => fence.collection('soak').deleteMany({})).catch(() => {});
    await fence.close();
    await server.stop();
  }
  process.exitCode = exitCode;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
