'use strict';
// tenantfence/testing starts and initiates its replica set through tenantfence's own Rust
// driver: an app's tests need no `mongodb` package. Run in a child process where requiring
// `mongodb` fails as it does in an app without it.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

test('globalSetup initiates a replica set, and a fence uses it, without the mongodb package', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-nodriver-'));
  const block = path.join(dir, 'block.js');
  fs.writeFileSync(
    block,
    `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'mongodb' || request.startsWith('mongodb/')) {
    const e = new Error("Cannot find module '" + request + "'");
    e.code = 'MODULE_NOT_FOUND';
    throw e;
  }
  return resolve.call(this, request, ...rest);
};
`,
  );
  const script = `
const { globalSetup, globalTeardown } = require(${JSON.stringify(path.join(ROOT, 'lib/testing'))});
const { TenantFence } = require(${JSON.stringify(ROOT)});
(async () => {
  let driver = 'loadable';
  try { require('mongodb'); } catch (e) { driver = e.code; }
  delete process.env.MONGODB_URI;
  await globalSetup();
  const fence = await TenantFence.connect(process.env.MONGODB_URI, { database: 'nodriver' });
  const n = await fence.withTransaction(() => fence.runAs('a', async () => {
    await fence.collection('c').insertOne({ x: 1 });
    return fence.collection('c').countDocuments({});
  })).catch((e) => 'tx: ' + e.message);
  await fence.close();
  await globalTeardown();
  console.log(JSON.stringify({ driver, n }));
})().catch((e) => { console.error(e); process.exit(1); });
`;
  const r = spawnSync(process.execPath, ['-r', block, '-e', script], {
    cwd: dir,
    env: { ...process.env, MONGODB_URI: '' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(r.stderr.split('\n').filter((l) => /Error|error:/.test(l))).toEqual([]);
  expect(r.status).toBe(0);
  const last = r.stdout.trim().split('\n').pop();
  expect(JSON.parse(last)).toEqual({ driver: 'MODULE_NOT_FOUND', n: 1 });
}, 150_000);
