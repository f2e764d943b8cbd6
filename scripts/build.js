#!/usr/bin/env node
'use strict';
// `npm install` / `npm run build`: compile the addon from source with napi build.
// Installed as someone's dependency, the ~0.5 GB cargo target dir is removed
// afterwards; in this repo it is kept so rebuilds stay incremental.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = ['build', '--platform', '--release', '--features', 'napi', '--js', 'binding.js', '--dts', 'binding.d.ts'];
const r = spawnSync('napi', args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) {
  console.error(`tenantfence: could not run napi build (${r.error.message}); a Rust toolchain (cargo) is required`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status ?? 1);
if (root.split(path.sep).includes('node_modules')) {
  fs.rmSync(path.join(root, 'target'), { recursive: true, force: true });
}
