#!/usr/bin/env node
'use strict';
// What command monitoring (tenantfence/testing's isolation probe) costs per operation:
// the same operations on two fences, one connected with monitorCommands: true, one
// without, interleaved in rounds so load from other processes hits both alike.
// Prints medians of wall time and of this process's CPU time (all threads, so the
// driver's tokio workers count) per operation: monitoring is CPU work in this process,
// and CPU time is less disturbed than wall time by other load. Not a test; figures from
// a shared machine are noisy.

const { TenantFence } = require('..');
const { isolationProbe } = require('../lib/testing');
const { serverFromEnv } = require('../scripts/mongod');

const ROUNDS = Number(process.env.PROBE_ROUNDS || 7);
const OPS = Number(process.env.PROBE_OPS || 300);
const BIG = Number(process.env.PROBE_BIG_DOCS || 2000);

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(fn, n) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const wall = Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per op
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / n };
}

async function main() {
  const mongod = await serverFromEnv();
  const { uri } = mongod;
  const db = `probe_cost_${process.pid}`;
  const fences = {
    off: await TenantFence.connect(uri, { database: `${db}_off`, monitorCommands: false }),
    on: await TenantFence.connect(uri, { database: `${db}_on`, monitorCommands: true }),
  };
  const probe = isolationProbe(fences.on);
  const cases = {
    'insertOne (1 doc)': (f) => (i) => f.collection('c').insertOne({ i, text: 'x'.repeat(100) }),
    'findOne (indexed filter)': (f) => (i) => f.collection('c').findOne({ i }),
    'countDocuments': (f) => () => f.collection('c').countDocuments({}),
    [`find ${BIG} docs toArray`]: (f) => () => f.collection('big').find({}).toArray(),
  };
  const results = {};
  for (const f of Object.values(fences)) {
    await f.runAs('acme', async () => {
      await f.collection('c').createIndex({ i: 1 });
      const docs = Array.from({ length: BIG }, (_, i) => ({ i, text: 'y'.repeat(200) }));
      await f.collection('big').insertMany(docs);
    });
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, make] of Object.entries(cases)) {
      const n = name.startsWith('find ') ? Math.max(5, Math.round(OPS / 30)) : OPS;
      for (const mode of r % 2 ? ['on', 'off'] : ['off', 'on']) {
        const f = fences[mode];
        const t = await f.runAs('acme', () => timed(make(f), n));
        ((results[name] ||= { off: [], on: [] })[mode]).push(t);
      }
      probe.reset(); // drain, as a test would between tests
    }
  }
  console.log(`rounds ${ROUNDS}, ${OPS} ops per case per round (find: ${Math.max(5, Math.round(OPS / 30))}); medians in µs per op`);
  console.log('case | wall off | wall on | wall on/off | cpu off | cpu on | cpu on/off');
  for (const [name, { off, on }] of Object.entries(results)) {
    const row = [];
    for (const k of ['wall', 'cpu']) {
      const a = median(off.map((t) => t[k]));
      const b = median(on.map((t) => t[k]));
      row.push(a.toFixed(0), b.toFixed(0), `${(b / a).toFixed(2)}x`);
    }
    console.log(`${name} | ${row.join(' | ')}`);
  }
  for (const f of Object.values(fences)) await f.close();
  const { MongoClient } = require('mongodb');
  const raw = new MongoClient(uri);
  await raw.db(`${db}_off`).dropDatabase();
  await raw.db(`${db}_on`).dropDatabase();
  await raw.close();
  await mongod.stop();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
