#!/usr/bin/env node
'use strict';
// `npm test`: Rust unit tests, the type checks, then Jest (whose globalSetup
// provisions mongod) once per Node version (scripts/node-versions.js).
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { nodeBinaries } = require('./node-versions');

const root = path.join(__dirname, '..');
const timings = [];

/** Runs a command with inherited stdio, records how long it took, and returns its exit code (1 if killed by a signal). */
function run(label, cmd, args, env = process.env) {
  console.log(`\n== ${label}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  timings.push(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (r.error) {
    console.error(`failed to run ${cmd}: ${r.error.message}`);
    return 1;
  }
  return r.status ?? 1;
}

/** Runs the steps in order and stops at the first failure. */
function main() {
  let code =
    run('cargo test (core)', 'cargo', ['test', '--no-default-features', '--lib']) ||
    run('tsc --noEmit (types/)', process.execPath, [
      path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '--noEmit',
      '-p',
      path.join(root, 'types', 'tsconfig.json'),
    ]);
  if (code) return code;
  let nodes;
  try {
    nodes = nodeBinaries();
  } catch (e) {
    console.error(e.message);
    return 1;
  }
  for (const [i, { label, bin }] of nodes.entries()) {
    // The publish-flow check (prebuilt-install.test.js) does not depend on the Node version: once is enough.
    const env = i === 0 ? process.env : { ...process.env, TENANTFENCE_SKIP_PACKING: '1' };
    const jest = [path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', '--runInBand', ...process.argv.slice(2)];
    code = run(`jest on ${label}`, bin, jest, env);
    if (code) return code;
  }
  return 0;
}

const code = main();
console.log(`\n${timings.join('\n')}`);
process.exit(code);
