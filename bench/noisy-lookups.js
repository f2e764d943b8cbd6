#!/usr/bin/env node
'use strict';
// `node bench/noisy-lookups.js [TF folder ...]`: red-team finding 5 of issue 12, measured. One
// tenant loops findOne({_id}) on its own ~15.5 MiB document while other tenants look up small
// documents by ObjectId; prints the victims' p50/p99 with and without that load, for each given
// tenantfence build (default: this checkout). Uses MONGODB_URI, else a throwaway mongod.
// Nothing is asserted: the numbers go into bench/RESULTS.md by hand.

const path = require('node:path');
const { serverFromEnv } = require('../scripts/mongod');

const VICTIMS = ['v1', 'v2', 'v3', 'v4'];
const LOOKUPS = 400; // per victim, sequential, as request handlers would
const BIG = 15.5 * 1024 * 1024;

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function victims(fence, coll, ids) {
  const times = [];
  await Promise.all(
    VICTIMS.map((t) =>
      fence.runAs(t, async () => {
        for (let i = 0; i < LOOKUPS; i++) {
          const started = process.hrtime.bigint();
          const doc = await coll.findOne({ _id: ids[t][i % ids[t].length] });
          times.push(Number(process.hrtime.bigint() - started) / 1e6);
          if (!doc || doc.tenantId !== t) throw new Error(`wrong answer for ${t}`);
        }
      }),
    ),
  );
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
}

async function measure(tf, uri, db) {
  const { TenantFence, ObjectId } = require(path.resolve(tf));
  const fence = await TenantFence.connect(uri, { database: db });
  const coll = fence.collection('noisy');
  const ids = {};
  for (const t of VICTIMS) {
    ids[t] = Array.from({ length: 50 }, () => new ObjectId());
    await fence.runAs(t, () => coll.insertMany(ids[t].map((_id, i) => ({ _id, i }))));
  }
  const big = new ObjectId();
  await fence.runAs('noisy', () => coll.insertOne({ _id: big, blob: 'x'.repeat(BIG) }));
  const quiet = await victims(fence, coll, ids);
  let stop = false;
  let loops = 0;
  const noise = fence.runAs('noisy', async () => {
    while (!stop) {
      await coll.findOne({ _id: big });
      loops++;
    }
  });
  const loaded = await victims(fence, coll, ids);
  stop = true;
  await noise;
  await fence.close();
  return { quiet, loaded, loops };
}

async function main() {
  const builds = process.argv.slice(2).length ? process.argv.slice(2) : ['.'];
  const server = await serverFromEnv();
  try {
    for (const tf of builds) {
      const db = `noisy_${process.pid}_${builds.indexOf(tf)}`;
      const r = await measure(tf, server.uri, db);
      const f = (x) => `p50 ${x.p50.toFixed(2)} ms, p99 ${x.p99.toFixed(2)} ms`;
      console.log(`${tf}: victims alone ${f(r.quiet)}; with one tenant looping on a 15.5 MiB document ${f(r.loaded)} (${r.loops} big lookups)`);
      const { MongoClient } = require('mongodb');
      const raw = await MongoClient.connect(server.uri);
      await raw.db(db).dropDatabase();
      await raw.close();
    }
  } finally {
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
