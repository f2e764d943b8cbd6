'use strict';
// A scoped change stream across a primary stepdown: the driver resumes it by itself (with the
// server's token, never shown to JS), and the stream goes on with the tenant's events only,
// deletes included, none lost or repeated. The three-member set is this file's own
// (scripts/mongod.js startReplicaSet) and is removed even when the test fails.

const { MongoClient } = require('mongodb');
const { TenantFence } = require('../..');
const { startReplicaSet } = require('../../scripts/mongod');

// Generous: three mongods and an election on a loaded two-core machine.
jest.setTimeout(240_000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('primary stepped down under an open change stream', () => {
  let rs;
  let raw;
  let fence;

  afterAll(async () => {
    if (fence) await fence.close().catch(() => {});
    if (raw) await raw.close().catch(() => {});
    if (rs) await rs.stop();
  });

  test('the stream resumes on the new primary and still carries only its tenant’s events', async () => {
    rs = await startReplicaSet({ members: 3, replSet: 'rsWatchStepdown' });
    raw = new MongoClient(rs.uri, { serverSelectionTimeoutMS: 60_000 });
    await raw.connect();
    const admin = raw.db('admin');
    fence = await TenantFence.connect(rs.uri, { database: 'watchfaults', serverSelectionTimeoutMS: 60_000 });
    await fence.runAsSystem({ reason: 'test setup' }, () =>
      fence.db.createCollection('notes', { changeStreamPreAndPostImages: { enabled: true } }),
    );
    const notes = fence.collection('notes');
    const stream = fence.runAs('t1', () => notes.watch([], { maxAwaitTimeMS: 200 }));
    expect(await stream.tryNext()).toBeNull();

    await fence.runAs('t2', () => notes.insertOne({ _id: 'x1', v: 'other' }));
    await fence.runAs('t1', () => notes.insertOne({ _id: 'a', v: 1 }));
    // Read across the stepdown: a read is waiting on the old primary when it steps down.
    const events = [];
    const reading = (async () => {
      while (events.length < 4) {
        const e = await stream.next();
        if (e === null) break;
        events.push(e);
      }
    })();
    await sleep(300);
    const before = (await admin.command({ hello: 1 })).primary;
    await admin.command({ replSetStepDown: 60, secondaryCatchUpPeriodSecs: 10 }).catch(() => {});
    for (let k = 0; k < 2400; k++) {
      const hello = await admin.command({ hello: 1 }).catch(() => ({}));
      if (hello.primary && hello.primary !== before) break;
      await sleep(50);
    }
    expect((await admin.command({ hello: 1 })).primary).not.toBe(before);

    await fence.runAs('t2', () => notes.insertOne({ _id: 'x2', v: 'other' }));
    await fence.runAs('t1', () => notes.insertOne({ _id: 'b', v: 2 }));
    await fence.runAs('t2', () => notes.deleteOne({ _id: 'x1' }));
    await fence.runAs('t1', () => notes.updateOne({ _id: 'a' }, { $set: { v: 3 } }));
    await fence.runAs('t1', () => notes.deleteOne({ _id: 'a' }));
    await reading;
    await stream.close();
    expect(events.map((e) => `${e.operationType}:${e.documentKey._id}`)).toEqual(['insert:a', 'insert:b', 'update:a', 'delete:a']);
    expect(JSON.stringify(events)).not.toContain('other');
  });
});
