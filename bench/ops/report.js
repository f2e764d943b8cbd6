'use strict';
// Turns a run's samples into the "ops-node<major>" section of bench/RESULTS.md: medians over rounds,
// ratios against the unscoped driver, the spread between rounds, and issue 5's goals checked.

const { machine, writeSection, table } = require('../lib/report');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const num = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const spread = (xs) => `±${num((50 * (Math.max(...xs) - Math.min(...xs))) / median(xs))}%`;

function version(pkg) {
  try {
    return require(`${pkg}/package.json`).version;
  } catch {
    return '?';
  }
}

/** Median of each measure for one cell, or null when the cell was not run. */
function cell(samples, op, c, name) {
  const rs = samples[`${op}|${c}|${name}`];
  if (!rs) return null;
  return {
    rs,
    opsPerSec: median(rs.map((r) => r.opsPerSec)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    cpu: median(rs.map((r) => r.cpuUsPerOp)),
  };
}

// Issue 5's goals: [op, concurrency, measure, baseline, minimum or maximum ratio].
const GOALS = [
  ...['findOne', 'find50', 'insertOne', 'updateOne', 'aggregate', 'insertMany'].flatMap((op) =>
    [1, 64].map((c) => [op, c, 'cpu', 'driver', 0.6])),
  ['findOne', 64, 'opsPerSec', 'driver', 1.5],
  ['insertOne', 64, 'opsPerSec', 'driver', 1.3],
  ...[1, 64].flatMap((c) => [['find50', c, 'opsPerSec', 'driver', 1.0], ['aggregate', c, 'opsPerSec', 'driver', 1.0]]),
  ...[1, 64].flatMap((c) => [['updateOne', c, 'opsPerSec', 'driver+tenant', 1.0], ['insertMany', c, 'opsPerSec', 'driver+tenant', 1.0]]),
];

function goals(samples) {
  return GOALS.map(([op, c, measure, base, bound]) => {
    const tf = cell(samples, op, c, 'tenantfence');
    const b = cell(samples, op, c, base);
    if (!tf || !b) return [`${op} c=${c}`, measure, base, '—', '(not run)'];
    const ratio = tf[measure] / b[measure];
    const ok = measure === 'cpu' ? ratio <= bound : ratio >= bound;
    const want = measure === 'cpu' ? `≤ ${bound}x CPU/op` : `≥ ${bound}x ops/s`;
    return [`${op} c=${c}`, want, base, `${num(ratio, 2)}x`, ok ? 'met' : '**not met**'];
  });
}

// Issue 15's goals: Mongoose on the fence against Mongoose with a tenancy plugin on the Node
// driver, hydrated against hydrated and lean against lean: [op, concurrency, measure, minimum
// ratio of ops/s or maximum of CPU/op].
const MONGOOSE_GOALS = ['findOne', 'find50', 'insertOne', 'updateOne', 'aggregate', 'insertMany'].flatMap((op) =>
  [1, 64].flatMap((c) => [
    [op, c, 'opsPerSec', (op === 'findOne' || op === 'insertOne') && c === 64 ? 1.5 : 1.0],
    [op, c, 'cpu', 1.0],
  ]));

function mongooseGoals(samples) {
  const rows = [];
  for (const [fence, plugin] of [['mongoose-fence', 'mongoose'], ['mongoose-fence-lean', 'mongoose-lean']]) {
    for (const [op, c, measure, bound] of MONGOOSE_GOALS) {
      const f = cell(samples, op, c, fence);
      const b = cell(samples, op, c, plugin);
      if (!f || !b) continue;
      const ratio = f[measure] / b[measure];
      const ok = measure === 'cpu' ? ratio <= bound : ratio >= bound;
      const want = measure === 'cpu' ? `≤ ${bound}x CPU/op` : `≥ ${bound}x ops/s`;
      rows.push([`${op} c=${c}`, fence, want, plugin, `${num(ratio, 2)}x`, ok ? 'met' : '**not met**']);
    }
  }
  if (!rows.length) return '_Not run (needs the contenders mongoose-fence(-lean) and mongoose(-lean))._';
  return table(['cell', 'contender', 'goal', 'against', 'ratio', ''], rows);
}

/** The cost of metrics: tenantfence (on, the default) against tenantfence-nometrics, cell by cell. */
function metricsOverhead(results) {
  const { samples, flags } = results;
  const rows = [];
  for (const op of flags.ops) {
    for (const c of flags.concurrency) {
      const on = cell(samples, op, c, 'tenantfence');
      const off = cell(samples, op, c, 'tenantfence-nometrics');
      if (!on || !off) continue;
      rows.push([`${op} c=${c}`, num(off.cpu), num(on.cpu), `${num((on.cpu / off.cpu - 1) * 100, 1)}%`, `${num((on.opsPerSec / off.opsPerSec - 1) * 100, 1)}%`]);
    }
  }
  if (!rows.length) return '_Not run (needs the contenders tenantfence and tenantfence-nometrics)._';
  return table(['cell', 'CPU µs/op, metrics off', 'metrics on', 'CPU change (goal < 3%)', 'ops/s change'], rows);
}

function opsTables(results) {
  const { samples, flags } = results;
  const out = [];
  for (const op of flags.ops) {
    for (const c of flags.concurrency) {
      const base = cell(samples, op, c, 'driver');
      const rows = flags.contenders.map((name) => {
        const x = cell(samples, op, c, name);
        if (!x) return [name, '—', '—', '—', '—', '—', '—'];
        return [
          name === 'driver' ? 'driver (unscoped, 1.0)' : name,
          `${num(x.opsPerSec)} (${spread(x.rs.map((r) => r.opsPerSec))})`,
          base ? `${num(x.opsPerSec / base.opsPerSec, 2)}x` : '—',
          num(x.p50, 2),
          num(x.p99, 2),
          num(x.cpu),
          base ? `${num(x.cpu / base.cpu, 2)}x` : '—',
        ];
      });
      out.push(`#### ${op}, concurrency ${c}\n\n${table(['contender', 'ops/s (spread)', 'vs driver', 'p50 ms', 'p99 ms', 'client CPU µs/op', 'CPU vs driver'], rows)}`);
    }
  }
  return out.join('\n\n');
}

function expressTable(express) {
  if (!express) return '_Express end to end not run (`--no-express`)._';
  const base = express.samples['driver+als'];
  const baseRps = base ? median(base.map((r) => r.rps)) : NaN;
  const ceiling = express.samples.ceiling;
  const ceilingRps = ceiling ? median(ceiling.map((r) => r.rps)) : NaN;
  const rows = Object.entries(express.samples).map(([mode, rs]) => {
    const rps = median(rs.map((r) => r.rps));
    return [
      mode,
      `${num(rps)} (${spread(rs.map((r) => r.rps))})`,
      `${num(rps / baseRps, 2)}x`,
      `${num(rps / ceilingRps, 2)}x`,
      num(median(rs.map((r) => r.p50))),
      num(median(rs.map((r) => r.p99))),
      num(median(rs.map((r) => r.cpuUsPerReq))),
      String(rs.reduce((a, r) => a + r.non2xx + r.errors, 0)),
    ];
  });
  return table(['app', 'req/s (spread)', 'vs driver+ALS', 'vs ceiling (goal for tenantfence-json ≥ 0.6x)', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'non-2xx + errors'], rows);
}

/** Writes this Node major's "ops-node<N>" section of RESULTS.md (ratios only compare within one). */
function write(results, express) {
  const f = results.flags;
  const major = process.versions.node.split('.')[0];
  const md = `## Operations on Node ${major}: tenantfence vs the Node driver and Mongoose (\`npm run bench\`)

Run: ${machine()}. mongod 6.0.5 (single-node replica set, WiredTiger cache 1 GiB) on the same 2 cores.
Versions: tenantfence ${require('../../package.json').version}, \`mongodb\` ${version('mongodb')}, mongoose ${version('mongoose')}, express ${version('express')}, autocannon ${version('autocannon')}.
Data: 200,000 orders over 50 tenants, index \`{tenantId:1, status:1, createdAt:-1}\`. Pool size 100 for every client.
Method: each contender in its own process; ${f.rounds} rounds, contenders interleaved and rotated each round; per cell ${f.warmMs} ms warm-up then ${f.measureMs} ms measured; medians over rounds. "Spread" is half the min–max range over rounds as a share of the median. Client CPU = user+system of the contender's process over the measured window, per op.
"driver" sends the app's own query without the tenant for \`_id\` lookups and inserts documents that already carry it; for find50 and aggregate it sends the tenant too (an unscoped query would read all 50 tenants: 50x the server work). "driver+tenant" adds the tenant by hand (filter, and a copy of each new document). Mongoose uses an AsyncLocalStorage tenancy plugin (\`bench/ops/mongoose-tenancy.js\`); "mongoose-fence" is the same models on \`tenantfence/mongoose\` (no plugin, no tenant field in the schema).

### Goals (issue 5)

${table(['cell', 'goal', 'against', 'tenantfence', ''], goals(results.samples))}

### Mongoose on tenantfence (issue 15): \`tenantfence/mongoose\` vs Mongoose with the tenancy plugin on the Node driver

${mongooseGoals(results.samples)}

### Metrics overhead (issue 17): client CPU per op with per-tenant metrics on vs off

${metricsOverhead(results)}

### Per operation

${opsTables(results)}

### Express 5 end to end: \`GET /orders?status=open\` (50 documents as JSON), autocannon 64 connections, ${express ? express.seconds : '—'} s

${expressTable(express)}
`;
  return writeSection(`ops-node${major}`, md);
}

module.exports = { write };
