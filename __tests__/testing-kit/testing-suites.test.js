'use strict';
// tenantfence/testing as a user's Jest suite uses it: child Jest runs of docs/testing.md's worked
// example (examples/testing, with its own globalSetup starting its own mongod) and of a
// fixture suite that must fail because a test sent an unscoped command.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { uri, dbName, rawClient } = require('../helpers/fixtures');

const root = path.join(__dirname, '..', '..');
const jestBin = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');

/** Runs Jest with `config` in a child process; resolves to { code, report, stderr }. */
function runJest(config, env) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tf-jest-')), 'report.json');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [jestBin, '--ci', '--config', config, '--json', '--outputFile', out], {
      cwd: path.dirname(config),
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let report = null;
      try {
        report = JSON.parse(fs.readFileSync(out, 'utf8'));
      } catch {}
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
      resolve({ code, report, stderr });
    });
  });
}

/** The environment without the variables the parent's own globalSetup set. */
function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.TENANTFENCE_MONITOR_COMMANDS;
  delete env.JEST_WORKER_ID;
  return env;
}

const results = (report) =>
  report.testResults.flatMap((f) => f.assertionResults.map((a) => [a.title, a.status]));

test('the worked example of docs/testing.md passes as written, on a mongod its globalSetup starts and stops', async () => {
  const env = cleanEnv();
  delete env.MONGODB_URI; // so the example's globalSetup provisions its own server
  const run = await runJest(path.join(root, 'examples', 'testing', 'jest.config.js'), env);
  expect(run.report).not.toBeNull();
  expect(results(run.report)).toEqual([['each tenant sees only its own notes', 'passed']]);
  expect(run.code).toBe(0);
}, 180_000);

test('useIsolationProbe fails the test that sent an unscoped command, and only that one', async () => {
  const db = dbName('probe_fixture');
  const config = path.join(__dirname, '..', 'fixtures', 'probe-failing', 'jest.config.js');
  // The parent's mongod: the fixture's globalSetup sees MONGODB_URI and starts none.
  const run = await runJest(config, cleanEnv({ MONGODB_URI: uri(), PROBE_FIXTURE_DB: db }));
  const raw = await rawClient();
  await raw.db(db).dropDatabase();
  await raw.close();
  expect(run.report).not.toBeNull();
  expect(results(run.report)).toEqual([
    ['scoped work passes', 'passed'],
    ['an unscoped read fails the test', 'failed'],
  ]);
  const failure = run.report.testResults[0].assertionResults[1].failureMessages.join('\n');
  expect(failure).toContain('TenantIsolationError');
  expect(failure).toContain(`find on ${db}.notes inside runAsSystem (reason: "peek at every tenant")`);
  expect(run.code).toBe(1);
}, 120_000);

test("docs/testing.md's worked example is these exact files", () => {
  const page = fs.readFileSync(path.join(root, 'docs', 'testing.md'), 'utf8');
  expect(page.startsWith('# Testing your app with tenantfence/testing\n')).toBe(true);
  const section = page;
  for (const file of ['notes.js', 'jest.config.js', 'notes.test.js']) {
    const code = fs.readFileSync(path.join(root, 'examples', 'testing', file), 'utf8');
    expect(section).toContain(`\`${file}\``);
    expect(section).toContain('```js\n' + code + '```');
  }
});
