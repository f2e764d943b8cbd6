'use strict';
// Replies come back through one queue per JS thread (src/binding/settle.rs), not one napi
// threadsafe function per promise. A mix-up there would hand one tenant's reply to another's
// promise, and a wrong ref count would hang the process or let it exit with calls unsettled.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { useSuite, uri } = require('../helpers/fixtures');

const suite = useSuite('settle');
const PKG = path.resolve(__dirname, '..', '..');

/** Runs `script` in a fresh Node process (with MONGODB_URI and DB set) and returns what it printed. */
function runScript(script, timeout = 60000) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-settle-'));
  const file = path.join(dir, 'script.js');
  fs.writeFileSync(file, script);
  try {
    const r = spawnSync(process.execPath, [file], {
      encoding: 'utf8',
      timeout,
      env: { ...process.env, MONGODB_URI: uri(), DB: suite.DB },
    });
    return { signal: r.signal, status: r.status, out: r.stdout.trim().split('\n'), err: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('settling many calls at once', () => {
  test('2,000 calls in flight over 20 tenants: every promise gets its own tenant\'s reply', async () => {
    const c = suite.fence.collection('mix');
    const tenants = Array.from({ length: 20 }, (_, i) => `t${i}`);
    await Promise.all(tenants.map((t, i) => suite.fence.runAs(t, () => c.insertMany(Array.from({ length: i + 1 }, () => ({ owner: t }))))));
    const calls = Array.from({ length: 2000 }, (_, k) => {
      const t = tenants[(k * 7) % tenants.length];
      const kind = k % 4;
      return suite.fence.runAs(t, async () => {
        if (kind === 0) return { t, kind, v: await c.countDocuments({}) };
        if (kind === 1) return { t, kind, v: await c.find({}).toArray() };
        if (kind === 2) return { t, kind, v: await c.findOne({}) };
        return { t, kind, v: await c.distinct('owner') };
      });
    });
    const results = await Promise.all(calls);
    for (const { t, kind, v } of results) {
      const n = Number(t.slice(1)) + 1;
      if (kind === 0) expect(v).toBe(n);
      if (kind === 1) expect(v.map((d) => d.owner)).toEqual(Array(n).fill(t));
      if (kind === 2) expect(v.owner).toBe(t);
      if (kind === 3) expect(v).toEqual([t]);
    }
  });

  test('errors and replies interleaved in one burst settle to the right promises', async () => {
    const c = suite.fence.collection('burst');
    const calls = Array.from({ length: 600 }, (_, k) =>
      suite.fence.runAs(`b${k % 3}`, () =>
        k % 2 ? c.insertOne({ k }).then((r) => ({ ok: r.acknowledged, k })) : c.find({ $bogus: 1 }).toArray().then(() => ({ ok: 'unexpected', k }), (e) => ({ err: e.code ?? e.name, k })),
      ),
    );
    const out = await Promise.all(calls);
    out.forEach((r, k) => {
      expect(r.k).toBe(k);
      if (k % 2) expect(r.ok).toBe(true);
      else expect(r.err).toBeDefined();
    });
    expect(await suite.rdb.collection('burst').countDocuments({})).toBe(300);
  });
});

describe('the event loop and settling', () => {
  test('a process with calls in flight waits for them, and exits by itself without close()', () => {
    const r = runScript(`
      const { TenantFence } = require(${JSON.stringify(PKG)});
      TenantFence.connect(process.env.MONGODB_URI, { database: process.env.DB }).then((f) => {
        // Nothing else keeps the loop alive: the pending calls must, and only until they settle.
        for (let i = 0; i < 3; i++) {
          f.runAs('x', () => f.collection('loop').insertOne({ i })).then(() => console.log('settled ' + i));
        }
      });`);
    expect({ signal: r.signal, status: r.status, out: r.out.sort() }).toEqual({
      signal: null,
      status: 0,
      out: ['settled 0', 'settled 1', 'settled 2'],
    });
  });

  test('workers with their own fences, one stopped with calls in flight; the main thread carries on', () => {
    const r = runScript(`
      const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
      const { TenantFence } = require(${JSON.stringify(PKG)});
      async function work(t) {
        const f = await TenantFence.connect(process.env.MONGODB_URI, { database: process.env.DB });
        const c = f.collection('workers');
        await f.runAs(t, () => c.insertMany([{ t }, { t }]));
        const counts = await Promise.all(Array.from({ length: 50 }, () => f.runAs(t, () => c.countDocuments({}))));
        await f.close();
        return t + ':' + [...new Set(counts)].join(',');
      }
      if (isMainThread) {
        (async () => {
          const done = [0, 1, 2].map((i) => new Promise((res, rej) => {
            const w = new Worker(__filename, { workerData: { mode: 'work', t: 'w' + i } });
            w.once('message', res);
            w.once('error', rej);
          }));
          console.log(await work('main'));
          for (const m of await Promise.all(done)) console.log(m);
          const busy = new Worker(__filename, { workerData: { mode: 'busy' } });
          await new Promise((r) => busy.once('message', r));
          await busy.terminate();
          console.log(await work('after'));
        })().catch((e) => { console.error(e); process.exit(1); });
      } else if (workerData.mode === 'work') {
        work(workerData.t).then((m) => parentPort.postMessage(m));
      } else {
        TenantFence.connect(process.env.MONGODB_URI, { database: process.env.DB }).then((f) => {
          for (let i = 0; i < 200; i++) f.runAs('busy', () => f.collection('workers').find({}).toArray()).catch(() => {});
          parentPort.postMessage('started');
        });
      }`);
    expect({ signal: r.signal, status: r.status, err: r.err }).toEqual({ signal: null, status: 0, err: '' });
    expect(r.out).toEqual(['main:2', 'w0:2', 'w1:2', 'w2:2', 'after:2']);
  });
});
