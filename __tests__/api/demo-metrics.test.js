'use strict';
// The demo app (examples/app.js, `npm start`): after traffic of several tenants, /metrics shows
// per-tenant figures, /notes/export is res.json's bytes, and each tenant sees only its notes.

const { createApp } = require('../../examples/app');
const { useSuite } = require('../helpers/fixtures');

const suite = useSuite('demo', { quotas: { maxConcurrent: 20, maxQueue: 100 } });

let base;
let server;
beforeAll(async () => {
  server = createApp(suite.fence).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${server.address().port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const call = (path, tenant, body) =>
  fetch(`${base}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { ...(tenant ? { 'x-tenant-id': tenant } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });

test('/metrics shows per-tenant figures after several tenants call', async () => {
  const traffic = { acme: 3, globex: 2, initech: 1 };
  for (const [tenant, n] of Object.entries(traffic)) {
    for (let i = 0; i < n; i++) expect((await call('/notes', tenant, { text: `${tenant} ${i}` })).status).toBe(201);
    expect((await call('/notes', tenant)).status).toBe(200);
  }
  const res = await call('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  for (const [tenant, n] of Object.entries(traffic)) {
    expect(text).toContain(`tenantfence_calls_total{tenant="${tenant}",operation="insertOne"} ${n}`);
    expect(text).toContain(`tenantfence_documents_written_total{tenant="${tenant}",operation="insertOne"} ${n}`);
    expect(text).toContain(`tenantfence_documents_read_total{tenant="${tenant}",operation="getMore"} ${n}`);
  }
  expect(text).toMatch(/tenantfence_call_duration_seconds_bucket\{tenant="acme",operation="insertOne",le="\+Inf"\} 3/);
});

test("/notes/export is what res.json would send, and only the tenant's notes", async () => {
  const exported = await (await call('/notes/export', 'acme')).text();
  const notes = JSON.parse(exported);
  expect(notes.map((n) => n.tenantId)).toEqual(['acme', 'acme', 'acme']);
  const viaRoute = await (await call('/notes', 'acme')).json();
  expect(exported).toBe(JSON.stringify(viaRoute.notes));
});
