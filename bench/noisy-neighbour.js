#!/usr/bin/env node
'use strict';
// `npm run bench:noisy` (issue 17's goal, measured): one tenant keeps 64 calls in flight; another
// tenant's findOne p99 is measured alone and under that flood, with quotas (maxConcurrent 1) and
// without, under both strategies. Goal: with quotas, p99 under the flood within 2x of p99 alone.
// This was a timed assertion in Jest until a CI run on a loaded machine gave 2.11x-2.83x; the
// Jest test (__tests__/api/noisy-neighbour.test.js) now proves the mechanism by order of events,
// and the latency goal lives here, written to bench/RESULTS.md. Uses MONGODB_URI, else a
// throwaway mongod. Exits 0 whatever the ratio: the verdict is in the report.

const path = require('node:path');
const { serverFromEnv } = require('../scripts/mongod');
const { machine, writeSection, table } = require('./lib/report');

const { TenantFence } = require(path.join(__dirname, '..'));

const SAMPLES = Number(process.env.BENCH_NOISY_SAMPLES || 1000);
const TRIALS = Number(process.env.BENCH_NOISY_TRIALS || 3);
const FLOOD = 64;
const GOAL = 2;

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** quiet's findOne latencies (ms), one call at a time as a request handler would make them. */
async function quietLatencies(f, n) {
  const c = f.collection('nn');
  const out = [];
  await f.runAs('quiet', async () => {
    for (let k = 0; k < n; k++) {
      const t = process.hrtime.bigint();
      const d = await c.findOne({ i: k % 100 });
      out.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (!d || d.who !== 'quiet') throw new Error('quiet read another tenant');
    }
  });
  return out.sort((a, b) => a - b);
}

/** Keeps FLOOD of noisy's counts in flight until the returned stop() is called. */
function flood(f) {
  const c = f.collection('nn');
  let stopped = false;
  let done = 0;
  const worker = () =>
    f.runAs('noisy', async () => {
      while (!stopped) {
        await c.countDocuments({ pad: { $ne: '' } });
        done++;
      }
    });
  const all = Promise.all(Array.from({ length: FLOOD }, worker));
  return async () => {
    stopped = true;
    await all;
    return done;
  };
}

async function load(f) {
  const c = f.collection('nn');
  const noisy = Array.from({ length: 2000 }, (_, i) => ({ i, who: 'noisy', pad: 'x'.repeat(100) }));
  const quiet = Array.from({ length: 100 }, (_, i) => ({ i, who: 'quiet' }));
  await f.runAs('noisy', async () => {
    await c.insertMany(noisy);
    await c.createIndex({ i: 1 });
  });
  await f.runAs('quiet', async () => {
    await c.insertMany(quiet);
    await c.createIndex({ i: 1 });
  });
}

async function trial(uri, db, strategy, quotas) {
  // Without quotas each call waits behind the whole flood (~100x): fewer samples keep it short.
  const n = quotas ? SAMPLES : Math.ceil(SAMPLES / 5);
  const f = await TenantFence.connect(uri, { database: db, strategy, ...(quotas ? { quotas } : {}) });
  try {
    await quietLatencies(f, 100); // warm-up
    const alone = await quietLatencies(f, n);
    const stop = flood(f);
    await sleep(200); // let the flood fill its queue
    const loaded = await quietLatencies(f, n);
    const done = await stop();
    return { alone: quantile(alone, 0.99), loaded: quantile(loaded, 0.99), p50: [quantile(alone, 0.5), quantile(loaded, 0.5)], done };
  } finally {
    await f.close();
  }
}

async function main() {
  const server = await serverFromEnv();
  const { MongoClient } = require('mongodb');
  const raw = await MongoClient.connect(server.uri);
  const rows = [];
  const verdicts = [];
  try {
    for (const strategy of ['field', 'database']) {
      const db = `tf_bench_noisy_${process.pid}_${strategy}`;
      const setup = await TenantFence.connect(server.uri, { database: db, strategy });
      await load(setup);
      await setup.close();
      for (const [label, quotas] of [['maxConcurrent 1, maxQueue 64', { maxConcurrent: 1, maxQueue: FLOOD }], ['no quota', null]]) {
        const ratios = [];
        for (let t = 0; t < TRIALS; t++) {
          const r = await trial(server.uri, db, strategy, quotas);
          const ratio = r.loaded / r.alone;
          ratios.push(ratio);
          console.log(`${strategy}, ${label}, trial ${t + 1}: p99 alone ${r.alone.toFixed(2)} ms, under the flood ${r.loaded.toFixed(2)} ms (${ratio.toFixed(2)}x); p50 ${r.p50[0].toFixed(2)} -> ${r.p50[1].toFixed(2)} ms; flood calls done ${r.done}`);
          rows.push([strategy, label, String(t + 1), r.p50[0].toFixed(2), r.alone.toFixed(2), r.p50[1].toFixed(2), r.loaded.toFixed(2), `${ratio.toFixed(2)}x`, String(r.done)]);
        }
        if (quotas) {
          const sorted = [...ratios].sort((a, b) => a - b);
          const median = sorted[Math.floor(sorted.length / 2)];
          verdicts.push(`- \`${strategy}\`, with quotas: median p99 ratio ${median.toFixed(2)}x over ${TRIALS} trials (${ratios.map((x) => x.toFixed(2)).join(', ')}): goal ≤ ${GOAL}x ${median <= GOAL ? 'met' : 'NOT met'}.`);
        }
      }
      for (const name of (await raw.db('admin').admin().listDatabases({ nameOnly: true })).databases.map((d) => d.name)) {
        if (name === db || name.startsWith(`${db}_`) || name.startsWith(`${db}~`)) await raw.db(name).dropDatabase();
      }
    }
  } finally {
    await raw.close();
    await server.stop();
  }
  const md = [
    '## Noisy neighbour (issue 17): another tenant\'s p99 while one tenant floods (`npm run bench:noisy`)',
    '',
    machine(),
    '',
    `One tenant keeps ${FLOOD} \`countDocuments\` over its 2,000 documents in flight; another tenant makes ${SAMPLES} (${Math.ceil(SAMPLES / 5)} without quotas) sequential \`findOne\` calls by an indexed field, alone and then under the flood, in one process on one fence. Latencies in ms.`,
    '',
    table(['strategy', 'quota', 'trial', 'p50 alone', 'p99 alone', 'p50 flood', 'p99 flood', 'p99 ratio', 'flood calls done'], rows),
    '',
    '### Verdict (computed from this run)',
    '',
    ...verdicts,
  ].join('\n');
  writeSection('noisy-neighbour', md);
  console.log(verdicts.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
