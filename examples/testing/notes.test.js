const { withTenant, useIsolationProbe } = require('tenantfence/testing');
const { createNotes } = require('./notes');

let app;
beforeAll(async () => {
  app = await createNotes(process.env.MONGODB_URI, 'notes_test');
});
afterAll(async () => {
  for (const tenant of ['acme', 'globex']) await withTenant(tenant, () => app.clear());
  await app.fence.close();
});

// Fails a test when any command it sent to MongoDB was not scoped to its tenant.
const probe = useIsolationProbe(() => app.fence);

test('each tenant sees only its own notes', async () => {
  await withTenant('acme', () => app.add('acme: launch plan'));
  await withTenant('globex', () => app.add('globex: launch plan'));

  const acme = await withTenant('acme', () => app.list());
  expect(acme.map((n) => n.text)).toEqual(['acme: launch plan']);
  const found = await withTenant('globex', () => app.search('launch'));
  expect(found.map((n) => n.text)).toEqual(['globex: launch plan']);

  // What reached MongoDB: two inserts, a find and an aggregate, each for its tenant.
  const sent = probe.commands.filter((c) => c.data).map((c) => `${c.command} ${c.tenant}`);
  expect(sent).toEqual(['insert acme', 'insert globex', 'find acme', 'aggregate globex']);
});
