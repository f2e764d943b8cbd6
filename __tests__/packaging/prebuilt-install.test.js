'use strict';
// The publish flow end to end, offline, for the one platform this machine builds: pack the root
// package, let `napi pre-publish` fill its optionalDependencies (publishing of the platform package
// skipped), pack the platform package with the binary this repo built, then install both
// tarballs into a fresh app with no Rust toolchain on PATH. The app must load the binary from
// the platform package, with no install script, and work against the real mongod.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { uri, dbName, rawClient } = require('../helpers/fixtures');

const root = path.join(__dirname, '..', '..');
const pkg = require('../../package.json');
const napiCli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const DB = dbName('prebuilt');

// PATH without the directories that hold cargo: the app must not need Rust.
const noRustPath = (process.env.PATH || '')
  .split(path.delimiter)
  .filter((d) => d && !fs.existsSync(path.join(d, 'cargo')))
  .join(path.delimiter);

let tmp;

/** Runs a command quietly and returns its stdout. */
function sh(cmd, args, cwd, env = process.env) {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
}

/** `npm pack` of `dir` into `tmp`; returns the tarball path. */
function pack(dir) {
  const [info] = JSON.parse(sh(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], dir));
  return path.join(tmp, info.filename);
}

afterAll(async () => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  const raw = await rawClient();
  await raw.db(DB).dropDatabase();
  await raw.close();
});

// Packing the ~15 MB binary is slow and does not depend on the Node running Jest, so npm test
// runs this once (on the machine's Node); entrypoints.test.js loads the addon on every version.
const once = process.env.TENANTFENCE_SKIP_PACKING === '1' ? test.skip : test;

once('a user without Rust installs the prebuilt binary and runs it', () => {
  const built = fs.readdirSync(root).find((f) => /^tenantfence\..+\.node$/.test(f));
  expect(built).toBeDefined(); // the repo's own build (npm install -> prepare)
  const abi = built.split('.')[1];
  // The one target this machine builds (the loader names it linux-x64-gnu).
  const triple = { 'linux-x64-gnu': 'x86_64-unknown-linux-gnu' }[abi];
  expect(pkg.napi.targets).toContain(triple);

  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantfence-prebuilt-'));
  // The root package as npm would publish it, unpacked, with the one platform this machine built.
  sh('tar', ['xzf', pack(root)], tmp);
  const stage = path.join(tmp, 'package');
  fs.rmSync(path.join(tmp, `${pkg.name}-${pkg.version}.tgz`));
  const stagedPkg = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'));
  stagedPkg.napi.targets = [triple];
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(stagedPkg, null, 2));
  fs.cpSync(path.join(root, 'npm', abi), path.join(stage, 'npm', abi), { recursive: true });
  fs.copyFileSync(path.join(root, built), path.join(stage, 'npm', abi, built));
  // pre-publish reads the release commit, as on a publishing CI.
  const git = ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false'];
  sh('git', ['init', '-q'], stage);
  sh('git', ['add', '-A'], stage);
  sh('git', [...git, 'commit', '-qm', 'release'], stage);
  sh(process.execPath, [napiCli, 'pre-publish', '-t', 'npm', '--skip-optional-publish'], stage);
  const published = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'));
  expect(published.optionalDependencies).toEqual({ [`${pkg.name}-${abi}`]: pkg.version });

  const rootTgz = pack(stage);
  const platformTgz = pack(path.join(stage, 'npm', abi));
  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  const env = { ...process.env, PATH: noRustPath, npm_config_audit: 'false', npm_config_fund: 'false' };
  sh(npm, ['install', '--prefer-offline', '--foreground-scripts', platformTgz, rootTgz], app, env);

  const lock = JSON.parse(fs.readFileSync(path.join(app, 'package-lock.json'), 'utf8'));
  const installed = lock.packages['node_modules/tenantfence'];
  expect(installed.hasInstallScript).toBeUndefined();
  expect(installed.optionalDependencies).toEqual({ [`${pkg.name}-${abi}`]: pkg.version });
  expect(fs.readdirSync(path.join(app, 'node_modules', 'tenantfence')).filter((f) => f.endsWith('.node'))).toEqual([]);

  fs.writeFileSync(
    path.join(app, 'main.js'),
    `const { TenantFence } = require('tenantfence');
(async () => {
  const fence = await TenantFence.connect(process.env.MONGODB_URI, { database: process.env.TF_DB });
  const notes = fence.collection('notes');
  const docs = await fence.runAs('acme', async () => {
    await notes.insertOne({ text: 'hi' });
    return notes.find({}).toArray();
  });
  await fence.close();
  const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  console.log(JSON.stringify({ docs: docs.map((d) => [d.tenantId, d.text]), loaded }));
})().catch((e) => { console.error(e); process.exit(1); });`,
  );
  const out = JSON.parse(sh(process.execPath, ['main.js'], app, { ...env, MONGODB_URI: uri(), TF_DB: DB }));
  expect(out.docs).toEqual([['acme', 'hi']]);
  expect(out.loaded).toEqual([path.join(fs.realpathSync(app), 'node_modules', `${pkg.name}-${abi}`, built)]);
}, 300000);
