'use strict';
// The demo's GET /notes/events (examples/app.js): a tenant's Server-Sent Events carry its own
// inserts and deletes only, while other tenants add and delete notes in the same collection.

const { createApp } = require('../../examples/app');
const { useSuite } = require('../helpers/fixtures');

const suite = useSuite('sse');

let base;
let server;
beforeAll(async () => {
  await suite.fence.runAsSystem({ reason: 'test setup' }, () =>
    suite.fence.db.createCollection('notes', { changeStreamPreAndPostImages: { enabled: true } }),
  );
  server = createApp(suite.fence).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${server.address().port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const post = async (tenant, text) => {
  const res = await fetch(`${base}/notes`, { method: 'POST', headers: { 'x-tenant-id': tenant, 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  expect(res.status).toBe(201);
  return (await res.json())._id;
};
const del = async (tenant, id) => (await fetch(`${base}/notes/${id}`, { method: 'DELETE', headers: { 'x-tenant-id': tenant } })).status;

/** Opens the SSE stream as `tenant`; `next()` resolves with each parsed event `{ id, event, data }`. */
async function events(tenant, headers = {}) {
  const abort = new AbortController();
  const res = await fetch(`${base}/notes/events`, { headers: { 'x-tenant-id': tenant, ...headers }, signal: abort.signal });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const queue = [];
  const pump = async () => {
    for (;;) {
      const blocks = text.split('\n\n');
      text = blocks.pop();
      for (const b of blocks) {
        if (b.startsWith(':')) continue;
        const e = {};
        for (const line of b.split('\n')) {
          const i = line.indexOf(': ');
          e[line.slice(0, i)] = line.slice(i + 2);
        }
        e.data = JSON.parse(e.data);
        queue.push(e);
      }
      if (queue.length) return queue.shift();
      const { value, done } = await reader.read();
      if (done) return null;
      text += decoder.decode(value, { stream: true });
    }
  };
  // Wait for the ': open' comment: the stream is open on the server.
  while (!text.includes(': open\n\n')) {
    const { value } = await reader.read();
    text += decoder.decode(value, { stream: true });
  }
  return { res, next: pump, close: () => abort.abort() };
}

test('one tenant’s SSE stream carries its inserts and deletes, and nothing of the tenants writing beside it', async () => {
  const acme = await events('acme');
  expect(acme.res.status).toBe(200);
  expect(acme.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const others = ['globex', 'initech'].map(async (t) => {
    for (let i = 0; i < 5; i++) {
      const id = await post(t, `${t} secret ${i}`);
      if (i % 2 === 0) expect(await del(t, id)).toBe(204);
    }
  });
  const mine = (async () => {
    const id = await post('acme', 'acme note');
    // Another tenant's delete of acme's note finds nothing, and writes nothing.
    expect(await del('globex', id)).toBe(404);
    expect(await del('acme', id)).toBe(204);
    return id;
  })();
  const [id] = await Promise.all([mine, ...others]);
  const last = await post('acme', 'acme last');
  const got = [];
  for (;;) {
    const e = await acme.next();
    got.push(e);
    if (e.data._id === last) break;
  }
  acme.close();
  expect(got.map((e) => [e.event, e.data._id, e.data.text])).toEqual([
    ['insert', id, 'acme note'],
    ['delete', id, undefined],
    ['insert', last, 'acme last'],
  ]);
  expect(JSON.stringify(got)).not.toMatch(/globex|initech|secret/);
});

test('Last-Event-ID resumes the tenant’s own stream; another tenant’s is refused', async () => {
  const first = await events('acme');
  const a = await post('acme', 'one');
  const e1 = await first.next();
  expect(e1.data._id).toBe(a);
  first.close();
  const b = await post('acme', 'two');
  await post('globex', 'g');
  const resumed = await events('acme', { 'last-event-id': e1.id });
  const e2 = await resumed.next();
  expect([e2.event, e2.data._id]).toEqual(['insert', b]);
  resumed.close();
  const res = await fetch(`${base}/notes/events`, { headers: { 'x-tenant-id': 'globex', 'last-event-id': e1.id } });
  expect(res.status).toBe(403);
  expect((await res.json()).error.code).toBe('TENANT_VIOLATION');
});
