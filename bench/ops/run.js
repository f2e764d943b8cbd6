#!/usr/bin/env node
'use strict';
// `npm run bench`: tenantfence against the official driver (unscoped = ratio 1.0, and with the
// tenant added by hand) and Mongoose with a tenancy plugin, on 200,000 orders of 50 tenants.
// Contenders run one at a time in their own processes, interleaved (A B C, then rotated) for
// several rounds; the table gives medians and writes bench/RESULTS.md (section "ops-node<major>":
// run it under each Node version you care about, ratios only compare within one).
// Flags: --rounds N --warm MS --measure MS --ops a,b --contenders a,b --concurrency 1,64
//        --express-seconds S --no-express

const { fork, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HERE = __dirname;
const log = (m) => process.stderr.write(`[bench] ${m}\n`);

function flags(argv) {
  const get = (name, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  return {
    rounds: Number(get('rounds', 3)),
    warmMs: Number(get('warm', 1000)),
    measureMs: Number(get('measure', 3000)),
    ops: get('ops', 'findOne,find50,insertOne,updateOne,aggregate,insertMany').split(','),
    contenders: get('contenders', 'driver,tenantfence,tenantfence-nometrics,driver+tenant,mongoose-lean,mongoose,mongoose-fence-lean,mongoose-fence').split(','),
    concurrency: get('concurrency', '1,64').split(',').map(Number),
    express: !argv.includes('--no-express'),
    expressSeconds: Number(get('express-seconds', 10)),
  };
}

/** Installs the contenders' packages (bench/ops/package.json) on first use. */
function ensureDeps() {
  if (fs.existsSync(path.join(HERE, 'node_modules', 'mongoose'))) return;
  log('installing benchmark dependencies (bench/ops/package.json) ...');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: HERE, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm ci in bench/ops failed');
}

/** A contender process with a request/reply channel. */
function startChild(name) {
  const p = fork(path.join(HERE, 'child.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let pending = null;
  p.on('message', (m) => {
    const done = pending;
    pending = null;
    if (m.error) done.reject(new Error(`${name}: ${m.error}`));
    else done.resolve(m.ok);
  });
  p.on('exit', (code) => pending && pending.reject(new Error(`${name} exited with ${code}`)));
  return {
    name,
    ask: (msg) =>
      new Promise((resolve, reject) => {
        pending = { resolve, reject };
        p.send(msg);
      }),
    kill: () => p.kill(),
  };
}

/** Every document a contender inserted must carry a tenant, or its numbers mean nothing. */
async function checkStamped(db, name) {
  const w = db.collection('orders_w');
  const [total, unstamped] = await Promise.all([
    w.countDocuments({}),
    w.countDocuments({ tenantId: { $not: { $type: 'string' } } }),
  ]);
  if (total === 0 || unstamped > 0) throw new Error(`${name}: ${unstamped} of ${total} inserted orders have no tenant`);
}

async function main() {
  const f = flags(process.argv.slice(2));
  ensureDeps();
  const { MongoClient, ObjectId } = require('mongodb');
  const { load, resetWrites } = require('./data');
  const server = await require('../../scripts/mongod.js').serverFromEnv({ cacheSizeGB: 1 });
  const { uri } = server;
  const db = `tf_bench_ops`;
  const client = await MongoClient.connect(uri);
  const children = [];
  try {
    const ids = await load(client.db(db), ObjectId, { log });
    const idsFile = path.join(os.tmpdir(), `tf-bench-ids-${process.pid}.json`);
    fs.writeFileSync(idsFile, JSON.stringify(ids));
    for (const name of f.contenders) {
      const c = startChild(name);
      children.push(c);
      await c.ask({ type: 'setup', name, uri, db, idsFile });
    }
    const samples = {}; // key op|conc|contender -> [result per round]
    for (let round = 0; round < f.rounds; round++) {
      // Rotate the order each round so no contender always runs first (warm caches, GC debt).
      const order = children.map((_, i) => children[(i + round) % children.length]);
      for (const op of f.ops) {
        for (const concurrency of f.concurrency) {
          for (const c of order) {
            if (op.startsWith('insert')) await resetWrites(client.db(db));
            const r = await c.ask({ type: 'run', op, concurrency, warmMs: f.warmMs, measureMs: f.measureMs });
            if (op.startsWith('insert')) await checkStamped(client.db(db), c.name);
            (samples[`${op}|${concurrency}|${c.name}`] ??= []).push(r);
            log(`round ${round + 1} ${op} c=${concurrency} ${c.name}: ${Math.round(r.opsPerSec)} ops/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.cpuUsPerOp.toFixed(0)} µs CPU/op`);
          }
        }
      }
    }
    for (const c of children) await c.ask({ type: 'close' });
    const results = { flags: f, samples, node: process.version };
    fs.writeFileSync(path.join(HERE, 'last-run.json'), JSON.stringify(results, null, 1));
    let express = null;
    if (f.express) express = await require('./express').run({ uri, db, rounds: f.rounds, log, seconds: f.expressSeconds });
    require('./report').write(results, express);
  } finally {
    for (const c of children) c.kill();
    await client.db(db).dropDatabase().catch(() => {});
    await client.close();
    await server.stop();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
