'use strict';
// fence.middleware() on Express 4 and Express 5, over real HTTP (app.listen(0) + fetch).

const express5 = require('express');
const express4 = require('express4');
const { useSuite, sleep, settleAll } = require('../helpers/fixtures');

const suite = useSuite('http');

/** Starts `app` on an ephemeral port; returns { url, close }. */
function listen(app) {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1');
    server.once('error', reject);
    server.once('listening', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
          }),
      });
    });
  });
}

/** fetch(url, init); returns { status, type, body } with the body parsed as JSON when it is JSON. */
async function request(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, type: res.headers.get('content-type') || '', body };
}

const get = (url, headers = {}) => request(url, { headers });

const post = (url, data, headers = {}) =>
  request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(data),
  });

/** Express 4 does not forward rejected promises to next(); Express 5 does. Wrap for both. */
const wrap = (fn) => (req, res, next) => {
  Promise.resolve()
    .then(() => fn(req, res, next))
    .catch(next);
};

function expect400(r, code) {
  expect(r.status).toBe(400);
  expect(r.type).toMatch(/application\/json/);
  expect(r.body).toEqual({ error: { code, message: expect.any(String) } });
  expect(r.body.error.message.length).toBeGreaterThan(0);
}

describe.each([
  ['express 5', express5],
  ['express 4', express4],
])('%s', (label, express) => {
  const coll = `docs_${label.replace(/\W/g, '')}`;
  const servers = [];
  let calls;
  let plain; // default header
  let custom; // header: 'X-Org'
  let resolved; // async resolve
  let syncResolved; // sync resolve from the path
  let resolverErrors;

  function mountRoutes(app) {
    app.get(
      '/whoami',
      wrap(async (req, res) => {
        calls++;
        const before = suite.fence.currentTenant();
        await sleep(Math.floor(Math.random() * 5));
        await suite.fence.collection(coll).countDocuments({});
        res.json({ before, after: suite.fence.currentTenant() });
      }),
    );
    app.post(
      '/docs',
      wrap(async (req, res) => {
        calls++;
        const r = await suite.fence.collection(coll).insertOne({ ...req.body });
        await sleep(Math.floor(Math.random() * 5));
        res.status(201).json({ tenant: suite.fence.currentTenant(), id: String(r.insertedId) });
      }),
    );
    app.get(
      '/docs',
      wrap(async (req, res) => {
        calls++;
        await sleep(Math.floor(Math.random() * 5));
        const docs = await suite.fence.collection(coll).find({}).toArray();
        res.json({ tenant: suite.fence.currentTenant(), docs });
      }),
    );
    // eslint-disable-next-line no-unused-vars
    app.use((err, req, res, next) => {
      resolverErrors.push(err);
      res.status(502).json({ caught: err && err.message });
    });
  }

  /** Starts an app with express.json() and what `setup(app)` mounts; closed in afterAll. */
  async function start(setup) {
    const app = express();
    app.use(express.json());
    setup(app);
    const server = await listen(app);
    servers.push(server);
    return server;
  }

  beforeAll(async () => {
    calls = 0;
    resolverErrors = [];

    plain = await start((app) => {
      // mounted before the middleware: must never see a tenant
      app.get('/public', (req, res) => res.json({ tenant: suite.fence.currentTenant() ?? null }));
      app.use(suite.fence.middleware());
      mountRoutes(app);
    });

    custom = await start((app) => {
      app.use(suite.fence.middleware({ header: 'X-Org' }));
      mountRoutes(app);
    });

    resolved = await start((app) => {
      app.use(
        suite.fence.middleware({
          resolve: async (req) => {
            await sleep(1);
            const claim = req.get('x-claim');
            if (claim === 'throw') throw new Error('resolver exploded');
            if (claim === 'null') return null;
            if (claim === 'empty') return '';
            return claim; // undefined when the header is absent
          },
        }),
      );
      mountRoutes(app);
    });

    syncResolved = await start((app) => {
      const router = express.Router();
      mountRoutes(router);
      app.use(
        '/t/:tenant',
        suite.fence.middleware({ resolve: (req) => req.originalUrl.split('/')[2] }),
        router,
      );
    });
  });

  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  describe('header', () => {
    test('default header x-tenant-id sets the tenant for the handler and its awaited continuations', async () => {
      const r = await get(`${plain.url}/whoami`, { 'x-tenant-id': 'acme' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ before: 'acme', after: 'acme' });
    });

    test('missing, empty or invalid header: 400 JSON and the handler never runs', async () => {
      const before = calls;
      expect400(await get(`${plain.url}/whoami`), 'TENANT_MISSING');
      expect400(await get(`${plain.url}/whoami`, { 'x-tenant-id': '' }), 'TENANT_MISSING');
      expect400(await post(`${plain.url}/docs`, { x: 1 }), 'TENANT_MISSING');
      for (const bad of ['a.b', '$x', 'x'.repeat(65), 'a/b', 'a"b', 'a:b']) {
        expect400(await get(`${plain.url}/whoami`, { 'x-tenant-id': bad }), 'TENANT_INVALID');
      }
      expect400(await post(`${plain.url}/docs`, { x: 1 }, { 'x-tenant-id': 'a.b' }), 'TENANT_INVALID');
      expect(calls).toBe(before);
      expect(await suite.rdb.collection(coll).countDocuments({ x: 1 })).toBe(0);
    });

    test('custom header option (HTTP header names are case-insensitive)', async () => {
      const r = await get(`${custom.url}/whoami`, { 'x-org': 'org1' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ before: 'org1', after: 'org1' });
      const before = calls;
      expect400(await get(`${custom.url}/whoami`, { 'x-tenant-id': 'org1' }), 'TENANT_MISSING');
      expect400(await get(`${custom.url}/whoami`, { 'x-org': 'bad id' }), 'TENANT_INVALID');
      expect(calls).toBe(before);
    });

    test('the tenant does not leak to routes outside the middleware', async () => {
      await settleAll(
        Array.from({ length: 20 }, (_, i) => get(`${plain.url}/whoami`, { 'x-tenant-id': `leak${i}` })),
      );
      const results = await settleAll(Array.from({ length: 20 }, () => get(`${plain.url}/public`)));
      for (const r of results) expect(r.body).toEqual({ tenant: null });
      expect(suite.fence.currentTenant()).toBeUndefined();
    });
  });

  describe('resolve', () => {
    test('async resolve supplies the tenant', async () => {
      const r = await get(`${resolved.url}/whoami`, { 'x-claim': 'jwt-tenant' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ before: 'jwt-tenant', after: 'jwt-tenant' });
      // the default header is not consulted when resolve is given
      const before = calls;
      expect400(await get(`${resolved.url}/whoami`, { 'x-tenant-id': 'acme' }), 'TENANT_MISSING');
      expect(calls).toBe(before);
    });

    test('resolve returning nothing: 400 TENANT_MISSING; an invalid id: 400 TENANT_INVALID', async () => {
      const before = calls;
      expect400(await get(`${resolved.url}/whoami`), 'TENANT_MISSING');
      expect400(await get(`${resolved.url}/whoami`, { 'x-claim': 'null' }), 'TENANT_MISSING');
      expect400(await get(`${resolved.url}/whoami`, { 'x-claim': 'empty' }), 'TENANT_MISSING');
      expect400(await get(`${resolved.url}/whoami`, { 'x-claim': 'a.b' }), 'TENANT_INVALID');
      expect(calls).toBe(before);
    });

    test('resolve that throws passes its error to next(err)', async () => {
      const before = calls;
      const errorsBefore = resolverErrors.length;
      const r = await get(`${resolved.url}/whoami`, { 'x-claim': 'throw' });
      expect(r.status).toBe(502);
      expect(r.body).toEqual({ caught: 'resolver exploded' });
      expect(resolverErrors.length).toBe(errorsBefore + 1);
      expect(resolverErrors[resolverErrors.length - 1].message).toBe('resolver exploded');
      expect(calls).toBe(before);
    });

    test('a synchronous resolve works (tenant from the path)', async () => {
      const r = await get(`${syncResolved.url}/t/pathtenant/whoami`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ before: 'pathtenant', after: 'pathtenant' });
      expect400(await get(`${syncResolved.url}/t/bad$id/whoami`), 'TENANT_INVALID');
    });
  });

  describe('options are validated when the middleware is created', () => {
    test.each([
      ['header: 5', { header: 5 }, /header/],
      ['header: {}', { header: {} }, /header/],
      ['unknown option', { heder: 'x-tenant-id' }, /heder/],
      ['resolve not a function', { resolve: 'x-tenant-id' }, /resolve/],
      ['resolve: 5', { resolve: 5 }, /resolve/],
    ])('%s throws', (name, options, pattern) => {
      let err;
      try {
        suite.fence.middleware(options);
      } catch (e) {
        err = e;
      }
      expect(err).toBeDefined();
      expect(String(err && err.message)).toMatch(pattern);
    });

    test('valid options return a middleware function', () => {
      expect(typeof suite.fence.middleware()).toBe('function');
      expect(typeof suite.fence.middleware({})).toBe('function');
      expect(typeof suite.fence.middleware({ header: 'x-org' })).toBe('function');
      expect(typeof suite.fence.middleware({ resolve: async () => 'a' })).toBe('function');
    });
  });

  test('end to end: 400 concurrent requests across 20 tenants each see only their own docs', async () => {
    const N = 400;
    const TENANTS = 20;
    const one = async (i) => {
      const t = `tenant${i % TENANTS}`;
      const tag = `${t}:${i}`;
      const posted = await post(`${plain.url}/docs`, { tag, i }, { 'x-tenant-id': t });
      if (posted.status !== 201 || posted.body.tenant !== t) {
        throw new Error(`POST ${i}: ${posted.status} ${JSON.stringify(posted.body)}`);
      }
      const got = await get(`${plain.url}/docs`, { 'x-tenant-id': t });
      if (got.status !== 200 || got.body.tenant !== t) {
        throw new Error(`GET ${i}: ${got.status} ${JSON.stringify(got.body).slice(0, 200)}`);
      }
      for (const d of got.body.docs) {
        if (!String(d.tag).startsWith(`${t}:`) || (d.tenantId !== undefined && d.tenantId !== t)) {
          throw new Error(`request ${i} as ${t} saw ${JSON.stringify(d)}`);
        }
      }
      if (!got.body.docs.some((d) => d.tag === tag && d._id === posted.body.id)) {
        throw new Error(`request ${i} as ${t} did not see its own doc ${tag}`);
      }
      return got.body.docs.length;
    };
    const counts = await settleAll(Array.from({ length: N }, (_, i) => one(i)));
    expect(counts).toHaveLength(N);

    const stored = await suite.rdb.collection(coll).find({ tag: { $exists: true } }).toArray();
    expect(stored).toHaveLength(N);
    const wrong = stored.filter((d) => d.tenantId !== d.tag.split(':')[0]);
    expect(wrong).toEqual([]);
    // afterwards each tenant sees exactly its N / TENANTS documents
    const final = await get(`${plain.url}/docs`, { 'x-tenant-id': 'tenant3' });
    expect(final.body.docs).toHaveLength(N / TENANTS);
  });
});
