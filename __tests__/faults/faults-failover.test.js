'use strict';
// Failover: a three-member replica set whose primary is stepped down, and later SIGKILLed
// (writes in flight then break mid-call), while writes stream through the fence. Every write has a unique sequence number as its _id (and a unique index
// on it), so afterwards the raw driver can tell a lost write from a duplicated one. The set is
// this file's own (scripts/mongod.js startReplicaSet) and is removed even when the test fails.

const { MongoClient } = require('mongodb');
const { TenantFence, TenantError } = require('../..');
const { startReplicaSet } = require('../../scripts/mongod');

// Generous: three mongods and an election on a loaded two-core machine.
jest.setTimeout(240_000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => process.stderr.write(`[faults] ${msg}\n`);

const TOTAL = 600;
const WRITERS = 4;
const STEP_DOWN_AFTER = 150;
const KILL_PRIMARY_AFTER = 400;
const RETRY_DEADLINE_MS = 90_000;

describe('primary stepped down during a stream of writes', () => {
  let rs;
  let raw;
  let fence;

  afterAll(async () => {
    if (fence) await fence.close().catch(() => {});
    if (raw) await raw.close().catch(() => {});
    if (rs) await rs.stop();
  });

  test('no acknowledged write is lost or duplicated through a stepdown and a killed primary', async () => {
    rs = await startReplicaSet({ members: 3, replSet: 'rsFailover' });
    raw = new MongoClient(rs.uri, { serverSelectionTimeoutMS: 60_000 });
    await raw.connect();
    const admin = raw.db('admin');
    const stored = raw.db('faults').collection('stream', { readConcern: { level: 'majority' } });
    await stored.createIndex({ seq: 1 }, { unique: true });
    // Shorter than an election after a kill (electionTimeoutMillis 2000): the driver's own retry then
    // fails too, and the test's retry path (with its duplicate-key rule) really runs.
    fence = await TenantFence.connect(rs.uri, { database: 'faults', serverSelectionTimeoutMS: 1_000 });
    const col = fence.collection('stream');

    const acked = new Set();
    const errors = [];
    let retriedDuplicates = 0;
    let next = 0;
    let lastAckAt = Date.now();
    let longestStallMs = 0;
    let stepDown;

    /** Runs `disrupt(primaryHost)` and resolves to { oldPrimary, newPrimary, electedMs } once another member leads. */
    async function failOver(disrupt) {
      const before = await admin.command({ hello: 1 });
      const t0 = Date.now();
      await disrupt(before.primary);
      const deadline = Date.now() + 120_000;
      for (;;) {
        const hello = await admin.command({ hello: 1 }).catch(() => ({}));
        if (hello.primary && hello.primary !== before.primary) {
          return { oldPrimary: before.primary, newPrimary: hello.primary, electedMs: Date.now() - t0 };
        }
        if (Date.now() > deadline) throw new Error(`no new primary 120 s after disrupting ${before.primary}`);
        await sleep(50);
      }
    }

    /** Inserts `seq` until it is acknowledged; a duplicate key on a retry means an earlier attempt was written. */
    async function write(seq) {
      const deadline = Date.now() + RETRY_DEADLINE_MS;
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await fence.runAs('t1', () => col.insertOne({ _id: seq, seq }));
          expect(r).toEqual({ acknowledged: true, insertedId: seq });
          return;
        } catch (e) {
          errors.push({ seq, attempt, name: e.name, code: e.code, message: e.message });
          expect(e).not.toBeInstanceOf(TenantError);
          expect(e.message).toEqual(expect.any(String));
          if (e.code === 11000) {
            // On a first attempt it would be a real duplicate: the test writes each seq once.
            if (attempt === 0) throw e;
            retriedDuplicates++;
            return;
          }
          if (Date.now() > deadline) throw new Error(`seq ${seq} still failing after ${RETRY_DEADLINE_MS} ms: ${e.message}`);
          await sleep(100);
        }
      }
    }

    const stepDownPrimary = () =>
      failOver(() =>
        // The old primary may not stand again for 60 s, so the new one keeps the role.
        admin.command({ replSetStepDown: 60, secondaryCatchUpPeriodSecs: 10 }).catch((e) => {
          // Older servers closed every connection on stepdown; the command itself then "fails".
          log(`replSetStepDown reply: ${e.name}: ${e.message}`);
        }),
      );
    const killPrimary = () =>
      failOver(async (host) => {
        const member = rs.members.find((m) => host === `127.0.0.1:${m.port}`);
        process.kill(member.pid, 'SIGKILL');
      });
    let kill;

    async function writer() {
      for (let seq = next++; seq < TOTAL; seq = next++) {
        await write(seq);
        acked.add(seq);
        const now = Date.now();
        longestStallMs = Math.max(longestStallMs, now - lastAckAt);
        lastAckAt = now;
        if (acked.size === STEP_DOWN_AFTER && !stepDown) stepDown = stepDownPrimary();
        // Only after the stepdown settled, so the two failovers do not overlap.
        if (acked.size >= KILL_PRIMARY_AFTER && !kill && stepDown) kill = stepDown.then(killPrimary);
      }
    }

    const t0 = Date.now();
    await Promise.all(Array.from({ length: WRITERS }, writer));
    const failover = await stepDown;
    const killed = await kill;
    const totalMs = Date.now() - t0;

    // Both disruptions really moved the primary, and the stream went on on the last one.
    expect(failover.newPrimary).not.toBe(failover.oldPrimary);
    expect(killed.oldPrimary).toBe(failover.newPrimary);
    expect(killed.newPrimary).not.toBe(killed.oldPrimary);
    expect((await admin.command({ hello: 1 })).primary).toBe(killed.newPrimary);
    expect(acked.size).toBe(TOTAL);

    // Every acknowledged write is there exactly once, with its tenant.
    const docs = await stored.find({}, { projection: { seq: 1, tenantId: 1 } }).toArray();
    const seqs = docs.map((d) => d.seq);
    expect(new Set(seqs).size).toBe(docs.length);
    expect(docs).toHaveLength(TOTAL);
    for (const d of docs) {
      expect(d.tenantId).toBe('t1');
      expect(d._id).toBe(d.seq);
    }
    expect([...acked].filter((s) => !seqs.includes(s))).toEqual([]);

    const names = {};
    for (const e of errors) names[e.name] = (names[e.name] || 0) + 1;
    log(
      `failover: ${TOTAL} writes by ${WRITERS} writers in ${totalMs} ms; stepdown ${failover.oldPrimary} -> ` +
        `${failover.newPrimary}: new primary seen ${failover.electedMs} ms after replSetStepDown; SIGKILL ` +
        `${killed.oldPrimary} -> ${killed.newPrimary}: new primary seen ${killed.electedMs} ms after the kill; longest stall ` +
        `between acknowledged writes ${longestStallMs} ms; ${errors.length} failed attempts ` +
        `${JSON.stringify(names)}, ${retriedDuplicates} retries found their write already done` +
        (errors.length ? `; e.g. "${errors[0].message}"` : ''),
    );
  });
});
