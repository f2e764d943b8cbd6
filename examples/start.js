#!/usr/bin/env node
'use strict';
// `npm start`: the demo. Uses MONGODB_URI when set; otherwise starts a throwaway
// single-node replica set (scripts/mongod.js) in a temp directory and removes it
// on exit. Seeds two tenants, then serves the notes API of examples/app.js.

const fs = require('node:fs');
const { TenantFence } = require('..');
const { createApp } = require('./app');

const DATABASE = 'tenantfence_demo';
const SEED = {
  acme: ['Order more anvils', 'Test the rocket skates', 'Call the roadrunner expert'],
  globex: ['Quarterly volcano inspection', 'Hire a new henchman'],
};

let mongod = null; // { pid, dbpath, stop } when this process started mongod
let fence = null;
let server = null;
let shuttingDown = null;

// Last resort (uncaught error, process.exit): `exit` handlers must be synchronous, so
// kill the throwaway mongod outright and remove its temp directory.
process.on('exit', () => {
  if (!mongod) return;
  try {
    process.kill(mongod.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  fs.rmSync(mongod.dbpath, { recursive: true, force: true });
});

async function shutdown(code) {
  shuttingDown ||= (async () => {
    if (server) {
      server.close();
      server.closeAllConnections();
    }
    if (fence) await fence.close().catch(() => {});
    if (mongod) {
      await mongod.stop(); // SIGTERM, wait, remove the temp dbpath
      mongod = null;
    }
  })();
  await shuttingDown;
  process.exit(code);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (shuttingDown) process.exit(1); // a second Ctrl-C: the exit handler cleans up
    console.log(`\n${signal}: shutting down`);
    shutdown(0);
  });
}

/** Gives each tenant a few notes, unless it already has some (MONGODB_URI may point at a kept database). */
async function seed() {
  const notes = fence.collection('notes');
  // Admin work: scoping is lifted, and the audit hook sees every call.
  // Under strategy 'field' the tenant field is put first: { tenantId: 1, createdAt: -1 }.
  // Pre-images let GET /notes/events attribute a delete to its tenant (docs/change-streams.md).
  await fence.runAsSystem({ reason: 'demo setup: notes records pre-images' }, async () => {
    const [exists] = await fence.db.listCollections({ name: 'notes' }).toArray();
    if (!exists) await fence.db.createCollection('notes', { changeStreamPreAndPostImages: { enabled: true } });
  });
  await fence.runAsSystem({ reason: 'demo setup: index notes' }, () => notes.createIndex({ createdAt: -1 }));
  const day = 24 * 60 * 60 * 1000;
  for (const [tenant, texts] of Object.entries(SEED)) {
    await fence.runAs(tenant, async () => {
      if ((await notes.countDocuments()) > 0) return;
      const now = Date.now();
      await notes.insertMany(texts.map((text, i) => ({ text, createdAt: new Date(now - (texts.length - i) * day) })));
    });
  }
}

async function main() {
  let uri = process.env.MONGODB_URI;
  if (!uri) {
    const { startReplSet } = require('../scripts/mongod');
    console.log('MONGODB_URI is not set: starting a throwaway MongoDB (nothing is kept)...');
    mongod = await startReplSet();
    uri = mongod.uri;
  }

  fence = await TenantFence.connect(uri, {
    database: DATABASE,
    // Every system call and every refusal, as one line each.
    audit: (e) => console.log(`[audit] ${e.type} ${e.operation}${e.collection ? ` on ${e.collection}` : ''}: ${e.reason || `${e.code} ${e.message}`}`),
    // No tenant may hold more than 20 calls in flight or start more than 200 a second.
    quotas: { maxConcurrent: 20, opsPerSecond: 200, maxQueue: 100 },
  });
  await seed();

  const port = Number(process.env.PORT || 3000);
  const app = createApp(fence);
  server = app.listen(port);
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });

  const url = `http://localhost:${server.address().port}`;
  console.log(`
tenantfence demo listening on ${url} (database '${fence.databaseName}')

Each tenant sees only its own notes:
  curl -s -H 'x-tenant-id: acme'   ${url}/notes
  curl -s -H 'x-tenant-id: globex' ${url}/notes

Add a note for acme, then count and group acme's notes:
  curl -s -H 'x-tenant-id: acme' -H 'content-type: application/json' -d '{"text":"Buy bird seed"}' ${url}/notes
  curl -s -H 'x-tenant-id: acme' ${url}/notes/count
  curl -s -H 'x-tenant-id: acme' ${url}/stats

The notes as a bare JSON array rendered in Rust, and every tenant's call metrics (Prometheus):
  curl -s -H 'x-tenant-id: acme' ${url}/notes/export
  curl -s ${url}/metrics

No tenant header: 400 TENANT_MISSING; an invalid id: 400 TENANT_INVALID:
  curl -s -i ${url}/notes
  curl -s -i -H 'x-tenant-id: a.b' ${url}/notes

Ctrl-C stops the server${mongod ? ' and the throwaway MongoDB' : ''}.`);
}

main().catch(async (err) => {
  console.error(err);
  await shutdown(1);
});
