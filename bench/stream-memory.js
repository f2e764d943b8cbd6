#!/usr/bin/env node
'use strict';
// Streaming memory benchmark: `for await` over 1,000,000 documents of one tenant
// through the real package must read batch by batch, so RSS and the JS heap stay
// flat as the count grows. Each loop runs in its own child process (clean RSS);
// the parent starts mongod (unless MONGODB_URI is set), loads the data with the raw
// driver, runs the children, and writes bench/RESULTS.md.

const { fork } = require('node:child_process');
const path = require('node:path');
const { machine, writeSection, table, fmt, mib } = require('./lib/report');

const TENANT_DOCS = Number(process.env.BENCH_STREAM_DOCS || 1_000_000);
const OTHER_DOCS = Math.round(TENANT_DOCS / 10);
const INSERT_BATCH = 10_000;
const SAMPLE_EVERY = Math.max(1, Math.round(TENANT_DOCS / 10));
const COLLECTION = 'c';

const LOOPS = [
  { mode: 'fence', batchSize: undefined, label: 'tenantfence, default batch size' },
  { mode: 'fence', batchSize: 1000, label: 'tenantfence, batchSize 1000' },
  { mode: 'driver', batchSize: undefined, label: 'raw `mongodb` driver 6 (reference, no fence)' },
];

const log = (msg) => process.stderr.write(`[bench:stream] ${msg}\n`);

// --- child: one loop, one process ---------------------------------------------------

function memory() {
  const m = process.memoryUsage();
  let heapAfterGc;
  if (global.gc) {
    global.gc();
    heapAfterGc = process.memoryUsage().heapUsed;
  }
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, heapAfterGc };
}

async function child({ uri, db, mode, batchSize }) {
  const options = batchSize ? { batchSize } : {};
  let count = 0;
  let foreign = 0;
  const samples = [];
  const before = memory();
  let t0;
  const visit = (d) => {
    if (d.tenantId !== 'acme') foreign++;
    if (++count % SAMPLE_EVERY === 0) samples.push({ count, ...memory() });
  };
  if (mode === 'fence') {
    const { TenantFence } = require('..');
    const fence = await TenantFence.connect(uri, { database: db });
    try {
      await fence.runAs('acme', async () => {
        t0 = process.hrtime.bigint();
        for await (const d of fence.collection(COLLECTION).find({}, options)) visit(d);
      });
    } finally {
      await fence.close();
    }
  } else {
    const { MongoClient } = require('mongodb');
    const client = await MongoClient.connect(uri);
    try {
      t0 = process.hrtime.bigint();
      for await (const d of client.db(db).collection(COLLECTION).find({ tenantId: 'acme' }, options)) visit(d);
    } finally {
      await client.close();
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.send({ count, foreign, seconds, before, samples });
}

function runChild(env, loop, forceGc) {
  return new Promise((resolve, reject) => {
    const p = fork(__filename, ['--child'], {
      execArgv: forceGc ? ['--expose-gc'] : [],
      env: { ...process.env, BENCH_CHILD: JSON.stringify({ ...env, mode: loop.mode, batchSize: loop.batchSize }) },
    });
    let result;
    p.on('message', (m) => (result = m));
    p.on('error', reject);
    p.on('exit', (code) => (result && code === 0 ? resolve(result) : reject(new Error(`${loop.label}: child exited with ${code}`))));
  });
}

// --- parent: data, loops, report ------------------------------------------------------

async function load(uri, db) {
  const { MongoClient } = require('mongodb');
  const client = await MongoClient.connect(uri);
  try {
    const coll = client.db(db).collection(COLLECTION);
    await coll.drop().catch(() => {});
    const base = Date.UTC(2024, 0, 1);
    const batch = (tenantId, from, n) =>
      Array.from({ length: n }, (_, k) => {
        const i = from + k;
        return { tenantId, n: i, sku: `SKU-${i}`, qty: i % 7, price: 9.5 + (i % 100) / 100, at: new Date(base + i * 1000) };
      });
    const t0 = Date.now();
    for (const [tenantId, total] of [['acme', TENANT_DOCS], ['other', OTHER_DOCS]]) {
      const inflight = [];
      for (let from = 0; from < total; from += INSERT_BATCH) {
        // Two batches in flight: JS builds the next while the server writes this one.
        inflight.push(coll.insertMany(batch(tenantId, from, Math.min(INSERT_BATCH, total - from)), { ordered: false }));
        if (inflight.length === 2) await inflight.shift();
      }
      await Promise.all(inflight);
    }
    const stats = await client.db(db).command({ collStats: COLLECTION });
    return { seconds: (Date.now() - t0) / 1000, count: stats.count, avgObjSize: stats.avgObjSize };
  } finally {
    await client.close();
  }
}

function logRun(tag, r) {
  log(`  ${tag}: count ${fmt(r.count)}${r.foreign ? ` (${r.foreign} of another tenant!)` : ''}, ${r.seconds.toFixed(2)} s, ${fmt(r.count / r.seconds)} docs/s`);
  for (const s of r.samples) {
    log(
      `    ${fmt(s.count).padStart(9)}: rss ${mib(s.rss)} heapUsed ${mib(s.heapUsed)} arrayBuffers ${mib(s.arrayBuffers)}` +
        (s.heapAfterGc === undefined ? '' : ` heapAfterGc ${mib(s.heapAfterGc)}`) +
        ' MiB',
    );
  }
}

async function main() {
  let server = null;
  let uri = process.env.MONGODB_URI;
  if (!uri) {
    server = await require('../scripts/mongod.js').startReplSet();
    uri = server.uri;
  }
  const stop = async () => {
    if (server) await server.stop();
    server = null;
  };
  process.once('SIGINT', () => stop().finally(() => process.exit(130)));
  const db = `tf_bench_stream_${process.pid}`;
  let failed = false;
  try {
    log(`loading ${fmt(TENANT_DOCS)} documents for acme and ${fmt(OTHER_DOCS)} for other ...`);
    const loaded = await load(uri, db);
    log(`loaded ${fmt(loaded.count)} documents (avg ${loaded.avgObjSize} bytes) in ${loaded.seconds.toFixed(1)} s`);

    const results = [];
    for (const loop of LOOPS) {
      log(`${loop.label} ...`);
      // As an application sees it (no forced GC), then again with a forced GC at each
      // sample: retained documents would show as heap-after-GC rising with the count.
      const plain = await runChild({ uri, db }, loop, false);
      logRun('as an app sees it', plain);
      const gced = await runChild({ uri, db }, loop, true);
      logRun('forced GC at each sample', gced);
      const ok = [plain, gced].every((r) => r.count === TENANT_DOCS && r.foreign === 0);
      results.push({ loop, plain, gced, ok });
      if (!ok) failed = true;
    }
    const file = writeSection('stream', report(loaded, results));
    log(`written to ${path.relative(process.cwd(), file)}`);
  } finally {
    if (process.env.MONGODB_URI) {
      const { MongoClient } = require('mongodb');
      const c = await MongoClient.connect(uri);
      await c.db(db).dropDatabase().catch(() => {});
      await c.close();
    }
    await stop();
  }
  if (failed) {
    log(`FAILED: a loop did not see exactly ${fmt(TENANT_DOCS)} documents of tenant acme`);
    process.exit(1);
  }
}

function report(loaded, results) {
  const at = (r, c) => r.samples.find((s) => s.count === c);
  const signed = (x) => `${x >= 0 ? '+' : ''}${mib(x)}`;
  const rows = results.map(({ loop, plain, gced, ok }) => {
    const a = at(plain, SAMPLE_EVERY);
    const b = at(plain, TENANT_DOCS);
    const heap = gced.samples.map((s) => s.heapAfterGc);
    return [
      loop.label,
      `${fmt(plain.count)}${ok ? '' : ' ✗'}`,
      mib(plain.before.rss),
      mib(a?.rss),
      mib(b?.rss),
      a && b ? signed(b.rss - a.rss) : '?',
      mib(Math.max(...plain.samples.map((s) => s.rss))),
      `${mib(a?.heapUsed)} → ${mib(b?.heapUsed)}`,
      `${mib(heap[0])} → ${mib(heap[heap.length - 1])} (max ${mib(Math.max(...heap))})`,
      plain.seconds.toFixed(2),
      fmt(plain.count / plain.seconds),
    ];
  });
  const series = results.flatMap(({ loop, plain, gced }) => [
    [loop.label, 'RSS', plain.samples.map((s) => mib(s.rss)).join(' · ')],
    [loop.label, 'heapUsed', plain.samples.map((s) => mib(s.heapUsed)).join(' · ')],
    [loop.label, 'heap after forced GC', gced.samples.map((s) => mib(s.heapAfterGc)).join(' · ')],
  ]);
  // Documents kept alive would show as the reachable heap (after a forced GC) climbing
  // with the count. RSS without forced GC also moves with GC timing, so it is reported as
  // first-half vs second-half peaks rather than judged on one sample.
  const verdicts = results.map(({ loop, plain, gced }) => {
    const h = gced.samples.map((s) => s.heapAfterGc);
    const rss = plain.samples.map((s) => s.rss);
    const half = h.length >> 1;
    const peak = (xs) => Math.max(...xs);
    const retained = peak(h.slice(half)) > peak(h.slice(0, half)) * 1.25 + 2 ** 21;
    return (
      `- ${loop.label}: reachable heap (after forced GC) peaks at ${mib(peak(h.slice(0, half)))} MiB in the first half ` +
      `and ${mib(peak(h.slice(half)))} MiB in the second → ` +
      (retained ? '**documents are retained as the count grows**' : 'documents are not retained') +
      `; RSS ranges ${mib(Math.min(...rss))}–${mib(peak(rss))} MiB (peak ${mib(peak(rss.slice(0, half)))} in the first half, ` +
      `${mib(peak(rss.slice(half)))} in the second).`
    );
  });
  return [
    '## Streaming: `for await` over 1,000,000 documents',
    '',
    `Run: \`npm run bench:stream\` — ${machine()}. MongoDB ${process.env.MONGODB_URI ? 'from MONGODB_URI' : '6.0.5 started by the script (single-node replica set, WiredTiger cache 0.25 GB)'}.`,
    `Data: ${fmt(TENANT_DOCS)} documents of tenant \`acme\` + ${fmt(OTHER_DOCS)} of \`other\` in one collection ` +
      `(avg ${loaded.avgObjSize} bytes; loaded with the raw driver in ${loaded.seconds.toFixed(1)} s). ` +
      `Each loop counts documents (must be exactly ${fmt(TENANT_DOCS)}, all of \`acme\`) in a fresh child process, twice: ` +
      `once as an application sees it (RSS, heapUsed and time come from this run), once with \`--expose-gc\` and a forced GC ` +
      `at each sample (heap after GC: what is still reachable). Samples every ${fmt(SAMPLE_EVERY)} documents.`,
    '',
    table(
      ['loop', 'count', 'RSS before MiB', 'RSS at 10% MiB', 'RSS at 100% MiB', 'RSS 10%→100% MiB', 'peak RSS MiB', 'heapUsed 10%→100% MiB', 'heap after forced GC 10%→100% MiB', 'time s', 'docs/s'],
      rows,
    ),
    '',
    'Every sample, 10% to 100% (MiB):',
    '',
    table(['loop', 'measure', 'samples'], series),
    '',
    '### Verdict (computed from this run)',
    '',
    ...verdicts,
  ].join('\n');
}

if (process.argv.includes('--child')) {
  child(JSON.parse(process.env.BENCH_CHILD)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
