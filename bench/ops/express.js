'use strict';
// End to end: each app mode in its own process, loaded by autocannon (64 connections, 10 s,
// tenants rotating per request), modes interleaved for several rounds.

const { fork } = require('node:child_process');
const path = require('node:path');
const autocannon = require('autocannon');
const { TENANTS } = require('./data');

const MODES = ['tenantfence', 'tenantfence-json', 'driver+als', 'mongoose', 'ceiling'];

/** Starts `app` (this tree's express-app.js unless given: bench/ab/express.js runs another build's) in `mode`. */
async function startApp(mode, uri, db, app = path.join(__dirname, 'express-app.js')) {
  const p = fork(app, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () =>
    new Promise((resolve, reject) => {
      const onExit = (code) => reject(new Error(`express app ${mode} exited with ${code}`));
      p.once('exit', onExit);
      p.once('message', (m) => {
        p.off('exit', onExit);
        resolve(m);
      });
    });
  const ready = next();
  p.send({ type: 'start', mode, uri, db });
  const { port } = await ready;
  const cpu = async () => {
    const r = next();
    p.send({ type: 'cpu' });
    return (await r).cpu;
  };
  return { mode, port, cpu, kill: () => p.kill() };
}

function load(port, seconds) {
  let i = 0;
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 64,
    duration: seconds,
    requests: [{
      method: 'GET',
      path: '/orders?status=open',
      setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'x-tenant-id': TENANTS[i++ % TENANTS.length] } }),
    }],
  });
}

/** Runs the end-to-end comparison and returns { samples: { mode: [result per round] } }. */
async function run({ uri, db, rounds, log, seconds = 10 }) {
  const apps = [];
  const samples = {};
  try {
    for (const mode of MODES) apps.push(await startApp(mode, uri, db));
    for (let round = 0; round < rounds; round++) {
      for (const app of apps.map((_, k) => apps[(k + round) % apps.length])) {
        await load(app.port, 2); // warm-up
        const cpu0 = await app.cpu();
        const r = await load(app.port, seconds);
        const cpu1 = await app.cpu();
        const requests = r.requests.total;
        const cpuUsPerReq = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / requests;
        const out = { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors, cpuUsPerReq };
        (samples[app.mode] ??= []).push(out);
        log(`express round ${round + 1} ${app.mode}: ${Math.round(out.rps)} req/s, p50 ${out.p50} ms, p99 ${out.p99} ms, ${Math.round(cpuUsPerReq)} µs server CPU/req, non-2xx ${out.non2xx}, errors ${out.errors}`);
      }
    }
  } finally {
    for (const a of apps) a.kill();
  }
  return { samples, seconds };
}

module.exports = { run, MODES, startApp, load };
