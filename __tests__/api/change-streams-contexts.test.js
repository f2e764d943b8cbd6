'use strict';
// watch() under the other contexts of issue 16: a runAsTenants stream carries the events of its
// tenants and no one else's (deletes included), and a shared collection's stream carries every
// event of it to any tenant. The probe audits the commands (a union's change stream is judged
// by its set). Tokens of a union's stream resume that union only.

const { ObjectId } = require('../..');
const { useIsolationProbe } = require('../../lib/testing');
const { useSuite } = require('../helpers/fixtures');

const suite = useSuite('wctx', { shared: ['plans'], monitorCommands: true });
useIsolationProbe(() => suite.fence, { allowSystem: true });
const FAST = { maxAwaitTimeMS: 200 };
const sys = (fn) => suite.fence.runAsSystem({ reason: 'setup' }, fn);

/** Every event of `stream` until one whose document holds `marker` (written by `write`). */
async function upTo(stream, write) {
  const marker = `m-${new ObjectId().toHexString()}`;
  await write(marker);
  const out = [];
  const deadline = Date.now() + 15000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`marker not seen: ${JSON.stringify(out)}`);
    const e = await stream.tryNext();
    if (!e) continue;
    if (e.fullDocument && e.fullDocument.marker === marker) return out;
    out.push(e);
  }
}

beforeAll(async () => {
  await sys(() => suite.fence.db.createCollection('notes', { changeStreamPreAndPostImages: { enabled: true } }));
});

/** A promise and its resolve. */
function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Runs `read(stream)` inside runAsTenants(ids) over a stream opened there (a union's access ends
 * with its callback), while `outside()` writes from outside the union once the stream is open.
 */
async function unionStream(ids, pipeline, outside, read) {
  const open = deferred();
  const written = deferred();
  const inside = suite.fence.runAsTenants(ids, async () => {
    const s = suite.fence.collection('notes').watch(pipeline, FAST);
    expect(await s.tryNext()).toBeNull();
    open.resolve();
    await written.promise;
    try {
      return await read(s);
    } finally {
      await s.close();
    }
  });
  await open.promise;
  await outside();
  written.resolve();
  return inside;
}

test("a union's stream carries its tenants' events, deletes included, and no one else's", async () => {
  const notes = suite.fence.collection('notes');
  const write = async (t) => {
    await suite.as(t, async () => {
      const { insertedId } = await notes.insertOne({ who: t });
      await notes.updateOne({ _id: insertedId }, { $set: { v: 1 } });
      await notes.deleteOne({ _id: insertedId });
    });
  };
  const marker = `m-${new ObjectId().toHexString()}`;
  const { got, token } = await unionStream(
    ['acme', 'globex'],
    [],
    async () => {
      await Promise.all(['acme', 'globex', 'initech'].map(write));
      await suite.as('acme', () => notes.insertOne({ marker }));
    },
    async (s) => {
      const out = [];
      const deadline = Date.now() + 15000;
      for (;;) {
        if (Date.now() > deadline) throw new Error(`marker not seen: ${JSON.stringify(out)}`);
        const e = await s.tryNext();
        if (!e) continue;
        if (e.fullDocument && e.fullDocument.marker === marker) return { got: out, token: s.resumeToken };
        out.push(e);
      }
    },
  );
  const owner = (e) => (e.fullDocument ? e.fullDocument.tenantId : undefined);
  expect(got.map((e) => e.operationType).sort()).toEqual(['delete', 'delete', 'insert', 'insert', 'update', 'update']);
  expect(got.filter((e) => e.operationType === 'insert').map(owner).sort()).toEqual(['acme', 'globex']);
  expect(JSON.stringify(got)).not.toContain('initech');
  // Its token resumes the union's stream, and no single tenant's.
  const single = await suite.as('acme', async () => {
    const s = notes.watch([], { ...FAST, resumeAfter: token });
    return s.tryNext().then(() => null, (e) => e);
  });
  expect(single && single.code).toBe('TENANT_VIOLATION');
  await suite.fence.runAsTenants(['acme', 'globex'], async () => {
    const again = notes.watch([], { ...FAST, resumeAfter: token });
    expect(await again.tryNext()).toBeNull();
    await again.close();
  });
});

test("a shared collection's stream carries every event of it to any tenant", async () => {
  const s = suite.as('acme', () => suite.fence.collection('plans').watch([], FAST));
  expect(await s.tryNext()).toBeNull();
  await sys(async () => {
    await suite.fence.collection('plans').insertOne({ _id: 'pro', seats: 10 });
    await suite.fence.collection('plans').deleteOne({ _id: 'pro' });
  });
  const got = await upTo(s, (marker) => sys(() => suite.fence.collection('plans').insertOne({ marker })));
  expect(got.map((e) => e.operationType)).toEqual(['insert', 'delete']);
  await s.close();
});

test("a union of one reads one tenant's events", async () => {
  const notes = suite.fence.collection('notes');
  const marker = `m-${new ObjectId().toHexString()}`;
  const got = await unionStream(
    ['globex'],
    [{ $match: { operationType: 'insert' } }],
    async () => {
      await suite.as('acme', () => notes.insertOne({ x: 1 }));
      await suite.as('globex', () => notes.insertOne({ x: 2 }));
      await suite.as('globex', () => notes.insertOne({ marker }));
    },
    async (s) => {
      const out = [];
      for (const deadline = Date.now() + 15000; Date.now() < deadline; ) {
        const e = await s.tryNext();
        if (e && e.fullDocument.marker === marker) return out;
        if (e) out.push(e);
      }
      throw new Error('marker not seen');
    },
  );
  expect(got.map((e) => e.fullDocument.tenantId)).toEqual(['globex']);
});
