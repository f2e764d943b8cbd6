'use strict';
// One contender in its own process (its own heap, GC and CPU account). The parent sends
// {setup} once, then {run} per measurement; each run: warm-up, then a timed window in which
// `concurrency` loops call the op back to back. Client CPU is process.cpuUsage() over the window.

const fs = require('node:fs');
const { CONTENDERS } = require('./contenders');
const { TENANTS } = require('./data');

let contender;
let ids;
let counter = 0;
const latencies = new Float64Array(4_000_000);

async function setup({ name, uri, db, idsFile }) {
  contender = await CONTENDERS[name]({ uri, db });
  const hex = JSON.parse(fs.readFileSync(idsFile, 'utf8'));
  ids = TENANTS.map((t) => hex[t].map((h) => new contender.ObjectId(h)));
}

/** Runs `op` from `concurrency` loops until `until`; records latencies when `record`. */
async function drive(op, concurrency, until, record) {
  let n = 0;
  let failures = 0;
  let firstError;
  const loop = async () => {
    while (performance.now() < until) {
      const i = counter++;
      const ti = i % TENANTS.length;
      const tIds = ids[ti];
      const t0 = performance.now();
      try {
        await op(TENANTS[ti], tIds[(i / TENANTS.length | 0) % tIds.length], i);
      } catch (e) {
        failures++;
        firstError ??= e;
      }
      if (record && n < latencies.length) latencies[n] = performance.now() - t0;
      n++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { n, failures, firstError };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function run({ op, concurrency, warmMs, measureMs }) {
  const fn = contender.ops[op];
  await drive(fn, concurrency, performance.now() + warmMs, false);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await drive(fn, concurrency, t0 + measureMs, true);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const lat = latencies.subarray(0, Math.min(r.n, latencies.length)).slice().sort();
  if (r.failures) throw new Error(`${r.failures} of ${r.n} ${op} calls failed: ${r.firstError?.stack || r.firstError}`);
  return {
    ops: r.n,
    opsPerSec: r.n / seconds,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    cpuUsPerOp: (cpu.user + cpu.system) / r.n,
  };
}

process.on('message', async (msg) => {
  try {
    if (msg.type === 'setup') process.send({ ok: await setup(msg) ?? true });
    else if (msg.type === 'run') process.send({ ok: await run(msg) });
    else if (msg.type === 'close') {
      await contender.close();
      process.send({ ok: true });
      process.disconnect();
    }
  } catch (e) {
    process.send({ error: String(e && e.stack ? e.stack : e) });
  }
});
