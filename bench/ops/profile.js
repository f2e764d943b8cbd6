#!/usr/bin/env node
'use strict';
// `node bench/ops/profile.js [--op insertOne] [--concurrency 64] [--ms 4000] [--contenders a,b] [--load]`:
// where the CPU of one benchmark cell goes, for the bound of a goal `npm run bench` did not meet
// (issue 15: insertOne at 64 in flight through Mongoose). Per contender, in one process after
// another: ops/s, client CPU per op split by where the V8 profiler saw its self time (Mongoose,
// the Node driver, js-bson, tenantfence's JS, other JS, native and GC), and mongod's CPU per op
// read from /proc. With both processes on the same 2 cores, ops/s can be at most
// 2 cores / (client + server CPU per op): the table prints that ceiling beside what was measured.
// Needs the bench/ops dependencies (`npm run bench` installs them). Uses a throwaway mongod.
// Results of a run are copied into bench/RESULTS.md by hand.

const fs = require('node:fs');
const inspector = require('node:inspector');
const path = require('node:path');
const os = require('node:os');
const { startReplSet } = require('../../scripts/mongod');
const { CONTENDERS } = require('./contenders');
const { TENANTS, load } = require('./data');

function flags(argv) {
  const get = (name, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  return {
    op: get('op', 'insertOne'),
    concurrency: Number(get('concurrency', 64)),
    ms: Number(get('ms', 4000)),
    contenders: get('contenders', 'tenantfence,mongoose-lean,mongoose-fence-lean,mongoose,mongoose-fence').split(','),
    // The profiler slows JS-heavy contenders more than others: --no-profile measures the same
    // cell without it (no split), for ratios to set beside the profiled run.
    profile: !argv.includes('--no-profile'),
    // Read cells (findOne, find50, updateOne, aggregate) need the bench's 200,000 orders.
    load: argv.includes('--load'),
  };
}

const CLK_TCK = Number(require('node:child_process').execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** user+system CPU seconds of process `pid` so far (Linux /proc; utime and stime are fields 14 and 15). */
function procCpu(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Which part of the stack a profile node's script belongs to. */
function bucket(node) {
  const url = node.callFrame.url || '';
  const fn = node.callFrame.functionName;
  if (!url) return fn === '(garbage collector)' ? 'GC' : fn === '(idle)' ? null : 'native and runtime';
  if (/node_modules\/mongoose\//.test(url)) return 'Mongoose';
  if (/node_modules\/mongodb\//.test(url)) return 'Node driver';
  if (/node_modules\/bson\//.test(url)) return 'js-bson';
  if (url.includes(`${path.sep}lib${path.sep}`) && url.includes(path.join(__dirname, '..', '..')) && !url.includes('node_modules')) return 'tenantfence JS';
  if (url.startsWith('node:')) return 'Node core JS';
  return 'other JS';
}

function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  let total = 0;
  for (let k = 0; k < profile.samples.length; k++) {
    const b = bucket(byId.get(profile.samples[k]));
    if (!b) continue;
    self.set(b, (self.get(b) || 0) + dt[k]);
    total += dt[k];
  }
  return { self, total };
}

const post = (session, method, params) => new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));

async function drive(op, concurrency, until, ids) {
  let n = 0;
  let counter = 0;
  const loop = async () => {
    while (performance.now() < until) {
      const i = counter++;
      const ti = i % TENANTS.length;
      const id = ids ? ids[ti][((i / TENANTS.length) | 0) % ids[ti].length] : null;
      await op(TENANTS[ti], id, i + 1e7);
      n++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return n;
}

async function main() {
  const o = flags(process.argv.slice(2));
  const server = await startReplSet({ cacheSizeGB: 1 });
  const session = new inspector.Session();
  session.connect();
  await post(session, 'Profiler.enable');
  const rows = [];
  const db = `tf_profile_${process.pid}`;
  let hex = null;
  if (o.load) {
    const { MongoClient, ObjectId } = require('mongodb');
    const client = await MongoClient.connect(server.uri);
    hex = await load(client.db(db), ObjectId, { log: console.log });
    await client.close();
  }
  try {
    for (const name of o.contenders) {
      const c = await CONTENDERS[name]({ uri: server.uri, db });
      const ids = hex && TENANTS.map((t) => hex[t].map((h) => new c.ObjectId(h)));
      await drive(c.ops[o.op], o.concurrency, performance.now() + 1000, ids);
      const cpu0 = process.cpuUsage();
      const s0 = procCpu(server.pid);
      const t0 = performance.now();
      if (o.profile) await post(session, 'Profiler.start');
      const n = await drive(c.ops[o.op], o.concurrency, t0 + o.ms, ids);
      const { profile } = o.profile ? await post(session, 'Profiler.stop') : { profile: { nodes: [], samples: [], timeDeltas: [] } };
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const client = (cpu.user + cpu.system) / n;
      const serverUs = ((procCpu(server.pid) - s0) * 1e6) / n;
      const { self, total } = summarise(profile);
      const split = [...self.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${Math.round((client * v) / total)}`);
      const ceiling = (os.cpus().length * 1e6) / (client + serverUs);
      rows.push({ name, opsPerSec: n / seconds, client, serverUs, ceiling, split });
      console.log(`${name}: ${(n / seconds).toFixed(0)} ops/s, client ${client.toFixed(0)} µs/op (${split.join(', ')}), mongod ${serverUs.toFixed(0)} µs/op, ceiling ${ceiling.toFixed(0)} ops/s`);
      await c.close();
    }
  } finally {
    session.disconnect();
    await server.stop();
  }
  console.log(`\n| contender | ops/s | client CPU µs/op | where the client CPU went (µs/op) | mongod CPU µs/op | ceiling: ${os.cpus().length} cores / (client + mongod) |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.opsPerSec.toFixed(0)} | ${r.client.toFixed(0)} | ${r.split.join(', ')} | ${r.serverUs.toFixed(0)} | ${r.ceiling.toFixed(0)} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
