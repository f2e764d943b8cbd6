#!/usr/bin/env node
'use strict';
// `npm test`: Rust unit tests, then Jest (whose globalSetup provisions mongod).
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

/** Runs a command with inherited stdio and returns its exit code (1 if killed by a signal). */
function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    console.error(`failed to run ${cmd}: ${r.error.message}`);
    return 1;
  }
  return r.status ?? 1;
}

const code =
  run('cargo', ['test', '--no-default-features', '--lib']) ||
  run(process.execPath, [
    path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
    '--ci',
    '--runInBand',
    ...process.argv.slice(2),
  ]);
process.exit(code);
