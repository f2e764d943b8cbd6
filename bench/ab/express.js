#!/usr/bin/env node
'use strict';
// A/B of the Express route of `npm run bench` (GET /orders?status=open, 64 connections, tenants
// rotating) between tenantfence builds: each build's own bench/ops/express-app.js in its own
// process, builds alternating (reversed every other round), medians over rounds.
//
//   node bench/ab/express.js ROUNDS SECONDS before=/path/to/old/checkout after=.
//
// Nothing is written to RESULTS.md.

const path = require('node:path');
const { MongoClient, ObjectId } = require('mongodb');
const { serverFromEnv } = require('../../scripts/mongod.js');
const { load } = require('../ops/data');
const { median } = require('../lib/report');
// Needs the bench contenders (bench/ops/package.json; `npm run bench` installs them once).
const { startApp, load: hit } = require('../ops/express');

async function main() {
  const rounds = Number(process.argv[2]);
  const seconds = Number(process.argv[3]);
  const builds = process.argv.slice(4).map((a) => [a.slice(0, a.indexOf('=')), path.resolve(a.slice(a.indexOf('=') + 1))]);
  if (!(rounds > 0) || !(seconds > 0) || builds.length < 1) throw new Error('usage: node bench/ab/express.js ROUNDS SECONDS name=dir ...');
  const server = await serverFromEnv({ cacheSizeGB: 1 });
  const db = `ab_express_${process.pid}`;
  const client = await MongoClient.connect(server.uri);
  const apps = [];
  const out = {};
  try {
    await load(client.db(db), ObjectId, { log: () => {} });
    for (const [name, dir] of builds) {
      apps.push({ name, ...(await startApp('tenantfence', server.uri, db, path.join(dir, 'bench', 'ops', 'express-app.js'))) });
    }
    for (let r = 0; r < rounds; r++) {
      for (const a of r % 2 ? [...apps].reverse() : apps) {
        await hit(a.port, 2);
        const c0 = await a.cpu();
        const res = await hit(a.port, seconds);
        const c1 = await a.cpu();
        const cpu = (c1.user - c0.user + c1.system - c0.system) / res.requests.total;
        (out[a.name] ??= []).push({ rps: res.requests.average, p99: res.latency.p99, cpu, bad: res.non2xx + res.errors });
        console.error(`[ab express] round ${r + 1} ${a.name}: ${Math.round(res.requests.average)} req/s`);
      }
    }
  } finally {
    for (const a of apps) a.kill();
    await client.db(db).dropDatabase().catch(() => {});
    await client.close();
    await server.stop();
  }
  for (const [name, rs] of Object.entries(out)) {
    const m = (k) => median(rs.map((x) => x[k]));
    console.log(`${name.padEnd(10)} ${Math.round(m('rps'))} req/s  p99 ${m('p99')} ms  ${Math.round(m('cpu'))} µs server CPU/req  non-2xx+errors ${rs.reduce((n, x) => n + x.bad, 0)}  rounds: ${rs.map((x) => Math.round(x.rps)).join(' ')}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
