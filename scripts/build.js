#!/usr/bin/env node
'use strict';
// Builds the addon from source with `napi build`. Runs as `prepare` when you
// `npm install` inside this repo (or install it from git), and as
// `npm run build` / `npm run build:source`. Users of the published package get
// a prebuilt binary instead (an optional dependency per platform) and need
// this only on a platform without one: it then needs cargo, and fetches the
// napi CLI with npx when it is not installed (it is a devDependency).
// Run inside someone's node_modules, the ~0.5 GB cargo target dir is removed
// afterwards; in this repo it is kept so rebuilds stay incremental.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = ['build', '--platform', '--release', '--features', 'napi', '--js', 'binding.js', '--dts', 'binding.d.ts'];

/** The napi CLI as [command, args]: the installed devDependency, else the pinned version through npx. */
function napiCommand() {
  try {
    const pkg = require.resolve('@napi-rs/cli/package.json', { paths: [root] });
    const bin = require(pkg).bin;
    return [process.execPath, [path.join(path.dirname(pkg), typeof bin === 'string' ? bin : bin.napi)]];
  } catch {
    const version = require(path.join(root, 'package.json')).devDependencies['@napi-rs/cli'];
    return ['npx', ['--yes', '--package', `@napi-rs/cli@${version}`, 'napi']];
  }
}

if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).error) {
  console.error('tenantfence: building from source needs a Rust toolchain (cargo on PATH): https://rustup.rs');
  process.exit(1);
}
const [cmd, pre] = napiCommand();
const r = spawnSync(cmd, [...pre, ...args], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) {
  console.error(`tenantfence: could not run napi build (${r.error.message})`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status ?? 1);
if (root.split(path.sep).includes('node_modules')) {
  fs.rmSync(path.join(root, 'target'), { recursive: true, force: true });
}
