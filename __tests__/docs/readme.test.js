'use strict';
// The README's quick start, run as written (only the port, database name and
// package path are swapped), so the README cannot drift from the code.

const fs = require('node:fs');
const path = require('node:path');
const { uri, dbName, rawClient } = require('../helpers/fixtures');

function quickStart() {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README has no js block under "## Quick start"');
  return match[1];
}

describe('README quick start', () => {
  const DB = dbName('readme');
  let server;
  let fence;
  const logged = [];

  beforeAll(async () => {
    const code = quickStart()
      .replace("{ database: 'app' }", `{ database: '${DB}' }`)
      .replace('app.listen(3000);', 'server = app.listen(0); exposeFence(fence);')
      .replace(/^main\(\);\s*$/m, 'return main();');
    expect(code).toContain('server = app.listen(0)');
    expect(code).toContain('return main();');
    const load = (name) => require(name === 'tenantfence' ? '../..' : name);
    const log = { log: (...args) => logged.push(args) };
    const run = new Function('require', 'process', 'console', 'exposeFence', 'let server;\n' + code.replace('return main();', 'return main().then(() => server);'));
    server = await run(load, { env: { MONGODB_URI: uri() } }, log, (f) => {
      fence = f;
    });
  });

  afterAll(async () => {
    if (server) await new Promise((r) => server.close(r));
    if (fence) await fence.close();
    const raw = await rawClient();
    await raw.db(DB).dropDatabase();
    await raw.close();
  });

  const url = (p) => `http://127.0.0.1:${server.address().port}${p}`;

  test('counts acme notes outside a request (runAs)', () => {
    expect(logged).toEqual([[0]]);
  });

  test('each tenant sees only its own notes; no header gives 400', async () => {
    const post = (tenant, text) =>
      fetch(url('/notes'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tenant-id': tenant },
        body: JSON.stringify({ text }),
      });
    const created = await post('acme', 'hello');
    expect(created.status).toBe(201);
    const note = await created.json();
    expect(note).toEqual({ text: 'hello', _id: expect.any(String) });
    expect((await post('globex', 'other')).status).toBe(201);

    const list = async (tenant) => (await fetch(url('/notes'), { headers: { 'x-tenant-id': tenant } })).json();
    expect((await list('acme')).map((n) => [n.text, n.tenantId])).toEqual([['hello', 'acme']]);
    expect((await list('globex')).map((n) => [n.text, n.tenantId])).toEqual([['other', 'globex']]);

    const bare = await fetch(url('/notes'));
    expect(bare.status).toBe(400);
    expect((await bare.json()).error.code).toBe('TENANT_MISSING');
  });
});
