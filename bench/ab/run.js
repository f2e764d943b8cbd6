#!/usr/bin/env node
'use strict';
// A/B of tenantfence builds (or settings) for deciding small optimisations, which the full
// `npm run bench` is too noisy and too slow for. Each config runs in its own process, configs
// alternate (reversed every other round), medians over rounds, per-thread CPU split shown.
//
//   OPS=findOne:64:20000,updateOne:64:10000 node bench/ab/run.js 5 \
//     'before={"TF":"/path/to/old/checkout"}' 'after={"TF":"."}' 'one={"TF":".","TOKIO_WORKER_THREADS":"1"}'
//
// TF is a folder with a built tenantfence (keep the old build in a git worktree). Any other keys
// are extra environment variables for that config. Nothing is written to RESULTS.md.

const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { serverFromEnv } = require('../../scripts/mongod.js');
const { MongoClient, ObjectId } = require('mongodb');
const { median } = require('../lib/report');
const { INDEX, order } = require('../ops/data');


async function main() {
  const rounds = Number(process.argv[2]);
  const configs = process.argv.slice(3).map((arg) => {
    const at = arg.indexOf('=');
    const env = JSON.parse(arg.slice(at + 1));
    return [arg.slice(0, at), { ...env, TF: path.resolve(env.TF || '.') }];
  });
  if (!(rounds > 0) || configs.length < 1 || !process.env.OPS) {
    throw new Error("usage: OPS=op:concurrency:count,... node bench/ab/run.js ROUNDS 'name={\"TF\":\"dir\"}' ...");
  }
  const server = await serverFromEnv();
  const DB = `ab_${process.pid}`;
  const raw = await MongoClient.connect(server.uri);
  try {
    const ids = Array.from({ length: 1000 }, () => new ObjectId());
    const orders = raw.db(DB).collection('orders');
    await orders.insertMany(ids.map((_id, i) => ({ _id, tenantId: `t${i % 10}`, ...order(i) })));
    await orders.createIndex(INDEX);
    const results = {};
    for (let r = 0; r < rounds; r++) {
      for (const [name, env] of r % 2 ? [...configs].reverse() : configs) {
        const p = spawnSync(process.execPath, [path.join(__dirname, 'worker.js')], {
          env: { ...process.env, ...env, MONGODB_URI: server.uri, DB, IDS: JSON.stringify(ids.map(String)) },
          encoding: 'utf8',
        });
        if (p.status !== 0) throw new Error(`${name} failed:\n${p.stderr}`);
        for (const [cell, v] of Object.entries(JSON.parse(p.stdout))) ((results[cell] ||= {})[name] ||= []).push(v);
      }
      process.stderr.write(`[ab] round ${r + 1}/${rounds}\n`);
    }
    for (const [cell, byConfig] of Object.entries(results)) {
      console.log(cell);
      for (const [name, runs] of Object.entries(byConfig)) {
        const split = Object.keys(runs[0].split)
          .filter((k) => !k.startsWith('other'))
          .map((k) => `${k} ${median(runs.map((x) => x.split[k] || 0)).toFixed(0)}`)
          .join(', ');
        console.log(
          `  ${name.padEnd(10)} ${median(runs.map((x) => x.cpu)).toFixed(0).padStart(6)} µs CPU/op ` +
            `${median(runs.map((x) => x.ops)).toFixed(0).padStart(6)} ops/s  [${split}]  ` +
            `rounds: ${runs.map((x) => x.cpu.toFixed(0)).join(' ')}`,
        );
      }
    }
  } finally {
    await raw.db(DB).dropDatabase().catch(() => {});
    await raw.close();
    await server.stop();
  }
}

main().catch((e) => {
  process.stderr.write(`[ab] ${e.message}\n`);
  process.exitCode = 1;
});
