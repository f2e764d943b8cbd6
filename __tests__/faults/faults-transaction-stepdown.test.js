'use strict';
// A primary stepped down in the middle of fence.withTransaction (issue 14, item 1): the call that
// meets the stepdown fails with TransientTransactionError, withTransaction runs fn again on the
// new primary, and the data holds exactly one run's writes. The three-member set is this file's
// own (scripts/mongod.js startReplicaSet) and is removed even when the test fails.

const { MongoClient } = require('mongodb');
const { TenantFence } = require('../..');
const { startReplicaSet } = require('../../scripts/mongod');

// Generous: three mongods and an election on a loaded two-core machine.
jest.setTimeout(240_000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('primary stepped down mid-transaction', () => {
  let rs;
  let raw;
  let fence;

  afterAll(async () => {
    if (fence) await fence.close().catch(() => {});
    if (raw) await raw.close().catch(() => {});
    if (rs) await rs.stop();
  });

  test('withTransaction reruns fn on the new primary; exactly one run is committed, in the tenant\'s scope', async () => {
    rs = await startReplicaSet({ members: 3, replSet: 'rsTxStepdown' });
    raw = new MongoClient(rs.uri, { serverSelectionTimeoutMS: 60_000 });
    await raw.connect();
    const admin = raw.db('admin');
    fence = await TenantFence.connect(rs.uri, { database: 'txfaults', serverSelectionTimeoutMS: 60_000 });
    const accounts = fence.collection('accounts');
    // The collection and its tenant index exist before the transaction, as in production.
    await fence.runAs('t1', () => accounts.insertMany([{ _id: 'from', balance: 100 }, { _id: 'to', balance: 0 }]));
    await fence.runAs('t2', () => accounts.countDocuments({}));

    const before = (await admin.command({ hello: 1 })).primary;
    const errors = [];
    let runs = 0;
    const result = await fence.runAs('t1', () =>
      fence.withTransaction(async () => {
        runs += 1;
        await accounts.updateOne({ _id: 'from' }, { $inc: { balance: -30 } });
        if (runs === 1) {
          // The old primary may not stand again for 60 s, so the new one keeps the role.
          await admin.command({ replSetStepDown: 60, secondaryCatchUpPeriodSecs: 10 }).catch(() => {});
          for (let k = 0; k < 1200; k++) {
            const hello = await admin.command({ hello: 1 }).catch(() => ({}));
            if (hello.primary && hello.primary !== before) break;
            await sleep(50);
          }
        }
        try {
          await accounts.updateOne({ _id: 'to' }, { $inc: { balance: 30 } });
        } catch (e) {
          errors.push({ name: e.name, labels: e.errorLabels });
          throw e;
        }
        return runs;
      }),
    );
    const after = (await admin.command({ hello: 1 })).primary;
    expect(after).not.toBe(before);
    // The stepdown reached the transaction: its call failed as transient, and fn ran again.
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(result).toBe(runs);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0].labels).toContain('TransientTransactionError');
    const stored = await raw.db('txfaults').collection('accounts', { readConcern: { level: 'majority' } }).find({}, { sort: { _id: 1 } }).toArray();
    expect(stored).toEqual([
      { _id: 'from', tenantId: 't1', balance: 70 },
      { _id: 'to', tenantId: 't1', balance: 30 },
    ]);
  });
});
