#!/usr/bin/env node
'use strict';
// Scale of tenants (issue 11 item 5): one process serves SCALE_TENANTS (default 10,000) distinct
// tenants under strategy 'field' and SCALE_DB_TENANTS (default: the same) under strategy
// 'database' (one database per tenant), a few calls each (insertOne, findOne by _id, find,
// countDocuments, and a findOne of another tenant's _id), then a second pass over every tenant.
// Every answer is checked (a tenant sees its own documents only, all of them); RSS and heapUsed are
// sampled after a full GC before, after pass 1 and after pass 2, and the time of each pass.
// Exits 1 on any wrong answer or error. Starts its own mongod (scripts/mongod.js) unless
// MONGODB_URI is set; then it drops the databases it made. Run with `npm run scale` (node
// --expose-gc). On a server it started, 'database' is capped to what mongod's open-files limit
// holds (two WiredTiger files per tenant database; past the limit mongod aborts), and says so.
//
//   SCALE_TENANTS=10000 SCALE_DB_TENANTS=2000 SCALE_CONCURRENCY=64 npm run scale
//   SCALE_STRATEGIES=database npm run scale

const crypto = require('node:crypto');
const { TenantFence, ObjectId } = require('..');

const TENANTS = Number(process.env.SCALE_TENANTS || 10_000);
const DB_TENANTS = Number(process.env.SCALE_DB_TENANTS || TENANTS);
const CONCURRENCY = Number(process.env.SCALE_CONCURRENCY || 64);
const STRATEGIES = (process.env.SCALE_STRATEGIES || 'field,database').split(',').map((s) => s.trim());
const COLL = 'notes';
const MAX_REPORTED = 20;

const log = (msg) => process.stderr.write(`[scale] ${msg}\n`);
const mib = (n) => Number((n / 1048576).toFixed(1));

function sample() {
  if (global.gc) {
    global.gc();
    global.gc();
  }
  const m = process.memoryUsage();
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), externalMiB: mib(m.external) };
}

const tenantId = (i) => `t${String(i).padStart(5, '0')}`;

/** Runs `fn(i)` for i in [0, n) with at most `width` in flight. */
async function pool(n, width, fn) {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

/**
 * One pass: each tenant inserts one document, reads it back by _id, lists and counts its
 * documents (all passes so far), and looks up another tenant's _id (must be null).
 */
async function pass(fence, strategy, n, passNo, owned, wrong) {
  const c = fence.collection(COLL);
  const bad = (t, what) => {
    wrong.count++;
    if (wrong.samples.length < MAX_REPORTED) wrong.samples.push(`${strategy} pass ${passNo} ${t}: ${what}`);
  };
  await pool(n, CONCURRENCY, (i) => {
    const t = tenantId(i);
    return fence.runAs(t, async () => {
      const doc = { by: t, pass: passNo, pad: crypto.randomBytes(16).toString('hex') };
      const r = await c.insertOne(doc);
      if (!r.acknowledged || !r.insertedId.equals(doc._id)) bad(t, `insertOne answered ${JSON.stringify(r)}`);
      // Kept as hex strings: an ObjectId's 12-byte Buffer can pin a whole 8 KiB allocation pool,
      // which would show as the script's memory growing, not the fence's.
      owned[i].push(doc._id.toHexString());
      const got = await c.findOne({ _id: doc._id });
      if (!got || !got._id.equals(doc._id) || got.by !== t || got.pad !== doc.pad) bad(t, `findOne(own _id) gave ${JSON.stringify(got)}`);
      const other = owned[(i + 1) % n][0] || owned[(i + n - 1) % n][0];
      if (other) {
        const foreign = await c.findOne({ _id: ObjectId.createFromHexString(other) });
        if (foreign !== null) bad(t, `findOne(another tenant's _id) gave a document by ${foreign.by}`);
      }
      const all = await c.find({}).toArray();
      const want = new Set(owned[i]);
      if (all.length !== owned[i].length || all.some((d) => d.by !== t || !want.has(String(d._id)))) {
        bad(t, `find({}) gave ${all.length} documents (by ${[...new Set(all.map((d) => d.by))].join(', ')}), expected its ${owned[i].length}`);
      }
      const count = await c.countDocuments({});
      if (count !== owned[i].length) bad(t, `countDocuments gave ${count}, expected ${owned[i].length}`);
    });
  });
}

/** mongod's side: its resident memory, WiredTiger files open, and how many databases it holds. */
async function serverSample(client) {
  const admin = client.db('admin');
  const st = await admin.command({ serverStatus: 1 });
  const { databases } = await admin.admin().listDatabases({ nameOnly: true });
  return {
    mongodResidentMiB: st.mem && st.mem.resident,
    wiredTigerFilesOpen: st.wiredTiger && st.wiredTiger.connection['files currently open'],
    databases: databases.length,
  };
}

async function run(uri, client, strategy, n) {
  const database = `tf_scale_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const fence = await TenantFence.connect(uri, { database, strategy });
  const owned = Array.from({ length: n }, () => []);
  const wrong = { count: 0, samples: [] };
  const result = { strategy, tenants: n, concurrency: CONCURRENCY, database };
  try {
    // As an app would: under 'field' the fence puts the tenant field first, so each tenant's
    // find and count read an index range instead of scanning every tenant's documents.
    if (strategy === 'field') await fence.runAs('warmup', () => fence.collection(COLL).createIndex({ pass: 1 }));
    // Warm up the process (first calls load code paths) on one extra tenant before measuring.
    await fence.runAs('warmup', () => fence.collection(COLL).findOne({ _id: new ObjectId() }));
    result.before = { ...sample(), ...(await serverSample(client)) };
    for (const p of [1, 2]) {
      const t0 = process.hrtime.bigint();
      await pass(fence, strategy, n, p, owned, wrong);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      result[`pass${p}`] = {
        seconds: Number(secs.toFixed(1)),
        tenantsPerSecond: Math.round(n / secs),
        calls: n * 5,
        ...sample(),
        ...(await serverSample(client)),
      };
      log(`${strategy}: pass ${p} over ${n} tenants in ${secs.toFixed(1)} s, ${wrong.count} wrong answers, rss ${result[`pass${p}`].rssMiB} MiB`);
    }
  } catch (e) {
    // Keep what was measured up to here (mongod giving out, say) and report the error with it.
    result.error = String((e && e.message) || e);
    log(`${strategy}: ${result.error}`);
  } finally {
    await fence.close().catch(() => {});
  }
  result.wrongAnswers = wrong.count;
  if (wrong.samples.length) result.wrongSamples = wrong.samples;
  return result;
}

/** Headroom for mongod's own files (journal, catalog, oplog, sockets) beside the tenants' files. */
const FD_MARGIN = 1000;

/** The soft "Max open files" of process `pid` (Linux /proc), or undefined where it cannot be read. */
function openFilesLimit(pid) {
  try {
    const line = require('node:fs')
      .readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = Number(line.split(/\s{2,}/)[1]);
    return Number.isFinite(soft) ? soft : undefined;
  } catch {
    return undefined;
  }
}

/** Drops what a run made on a server it did not start (a started server is simply removed). */
async function dropAll(client, prefix) {
  const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
  const mine = databases.map((d) => d.name).filter((name) => name.startsWith(prefix));
  await pool(mine.length, 8, (i) => client.db(mine[i]).dropDatabase());
  log(`dropped ${mine.length} databases`);
}

async function main() {
  const server = await require('./mongod.js').serverFromEnv();
  // The npm driver (a devDependency) only samples the server and cleans up; the calls measured go through the fence.
  const { MongoClient } = require('mongodb');
  const client = new MongoClient(server.uri);
  const results = [];
  let failed = false;
  try {
    await client.connect();
    for (const strategy of STRATEGIES) {
      let n = strategy === 'database' ? DB_TENANTS : TENANTS;
      let capped;
      if (strategy === 'database' && server.started) {
        // Each tenant database holds at least two WiredTiger files (the collection and its _id
        // index), and mongod keeps them open (idle handles close after 10 minutes): past its
        // open-files limit WiredTiger panics and mongod aborts ("Too many open files").
        const maxOpenFiles = openFilesLimit(server.pid);
        const fits = maxOpenFiles ? Math.floor((maxOpenFiles - FD_MARGIN) / 2) : n;
        if (fits < n) {
          capped = { requested: n, mongodMaxOpenFiles: maxOpenFiles, reason: `2 files per tenant database + ${FD_MARGIN} must stay under mongod's open-files limit` };
          log(`database: capping ${n} tenants to ${fits}: mongod may open ${maxOpenFiles} files (raise ulimit -n for more)`);
          n = fits;
        }
      }
      log(`${strategy}: ${n} tenants, ${CONCURRENCY} in flight${strategy === 'database' ? ` (${n} databases)` : ''}`);
      const r = await run(server.uri, client, strategy, n);
      if (capped) r.capped = capped;
      results.push(r);
      if (r.wrongAnswers || r.error) failed = true;
      if (!server.started && r.database) await dropAll(client, r.database);
    }
  } finally {
    await client.close();
    await server.stop();
  }
  console.log(JSON.stringify({ node: process.version, gcBeforeSamples: Boolean(global.gc), results }, null, 2));
  if (failed) {
    log('FAIL: some tenant got a wrong answer (see wrongSamples)');
    process.exitCode = 1;
  } else {
    log('ok: every tenant saw exactly its own documents');
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
