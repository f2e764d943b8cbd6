'use strict';
// docs/errors.md against the code: every error code, error name and filled-in codeName the
// code can produce appears on the page, and every message the page quotes is the one the
// listed call really produces (so a reworded error cannot leave the page behind).

const { readDoc, section } = require('../helpers/markdown');
const { useSuite, uri, dbName } = require('../helpers/fixtures');
const { TenantFence, TenantError } = require('../..');

const DOC = readDoc('docs/errors.md');

/** True when the page quotes `text` as inline code. */
const quoted = (text) => DOC.includes(`\`${text}\``);

/** The error a sync or async call ends with (fails the test if it succeeds). */
async function failure(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error(`expected ${fn} to fail`);
}

/** Runs a middleware on a bare request and returns the JSON body of its answer. */
function answer(mw, req) {
  return new Promise((resolve, reject) => {
    const res = { setHeader() {}, end: (body) => resolve({ status: res.statusCode, body: JSON.parse(body) }) };
    mw({ headers: {}, ...req }, res, (err) => reject(err || new Error('the handler must not run')));
  });
}

const suite = useSuite('errdoc');

describe('docs/errors.md covers every code and name the code produces', () => {
  test('every ErrorKind code in src/scope/error.rs and every code lib/errors.js maps', () => {
    const rust = [...readDoc('src/scope/error.rs').matchAll(/=> "([A-Z_]+)"/g)].map((m) => m[1]);
    expect(rust).toEqual(expect.arrayContaining(['TENANT_MISSING', 'TENANT_INVALID', 'TENANT_VIOLATION']));
    const js = [...readDoc('lib/errors.js').matchAll(/case '([A-Z_]+)':/g)].map((m) => m[1]);
    expect(js.length).toBeGreaterThanOrEqual(5);
    for (const code of new Set([...rust, ...js])) {
      // MONGO_SERVER / MONGO_DRIVER are how the binding marks server and driver errors.
      if (code === 'MONGO_SERVER' || code === 'MONGO_DRIVER') continue;
      expect({ code, onPage: quoted(code) }).toEqual({ code, onPage: true });
    }
    for (const code of ['TENANT_MISSING', 'TENANT_INVALID', 'TENANT_VIOLATION']) {
      expect(section(DOC, `### \`${code}\``).length).toBeGreaterThan(100);
    }
  });

  test('every error name the binding produces', () => {
    const src = ['src/binding/error.rs', 'src/binding/fence.rs', 'src/binding/bulk.rs'].map(readDoc).join('\n');
    const names = new Set([...src.matchAll(/"(Mongo[A-Za-z]*Error)"/g)].map((m) => m[1]));
    names.add('MongoError'); // lib/errors.js's default for a driver error without a name
    expect(names.size).toBeGreaterThanOrEqual(6);
    for (const name of names) expect({ name, onPage: quoted(name) }).toEqual({ name, onPage: true });
  });

  test('every codeName the binding fills in, with its number', () => {
    const body = /fn code_name[\s\S]*?\n}/.exec(readDoc('src/binding/error.rs'))[0];
    const pairs = [...body.matchAll(/(\d+) => "(\w+)"/g)].map((m) => `${m[1]} \`${m[2]}\``);
    expect(pairs.length).toBeGreaterThan(10);
    const text = DOC.replace(/\s+/g, ' ');
    for (const p of pairs) expect({ p, onPage: text.includes(p) }).toEqual({ p, onPage: true });
  });
});

describe('the messages docs/errors.md quotes are the ones the calls produce', () => {
  const c = () => suite.fence.collection('errdoc');
  const as = (t, fn) => () => suite.fence.runAs(t, fn);
  const system = (fn) => () => suite.fence.runAsSystem({ reason: 'errors-doc test' }, fn);

  // [what, call, code or error class, the message the page quotes]
  const CASES = [
    ['no tenant', () => c().findOne({}), 'TENANT_MISSING', 'no tenant in context: call inside fence.runAs(), the middleware, or runAsSystem()'],
    ['find without tenant', () => c().find({}), 'TENANT_MISSING', 'find() needs a tenant in context: call it inside runAs() or the middleware'],
    ['non-string id', () => suite.fence.runAs(42, () => {}), 'TENANT_INVALID', 'tenant id must be a string, got number'],
    ['empty id', () => suite.fence.runAs('', () => {}), 'TENANT_INVALID', 'tenant id must not be empty'],
    ['dot', () => suite.fence.runAs('a.b', () => {}), 'TENANT_INVALID', "tenant id must not contain '.'"],
    ['control', () => suite.fence.runAs('a\nb', () => {}), 'TENANT_INVALID', 'tenant id must not contain control characters (found U+000A)'],
    ['129 bytes', () => suite.fence.runAs('a'.repeat(129), () => {}), 'TENANT_INVALID', 'tenant id is 129 bytes long; at most 128 are allowed'],
    ['non-ASCII', () => suite.fence.runAs('é', () => {}), 'TENANT_INVALID', "tenant id may only contain letters A-Z a-z, digits, '_' and '-'"],
    ['65 chars', () => suite.fence.runAs('a'.repeat(65), () => {}), 'TENANT_INVALID', 'tenant id is 65 characters long; at most 64 are allowed'],
    ['lone surrogate', () => suite.fence.runAs('x\uD800', () => {}), 'TENANT_INVALID', 'tenant id must be well-formed Unicode (no lone surrogates)'],
    ['system non-string tenant', system(() => c().insertOne({ tenantId: 42 })), 'TENANT_INVALID', "tenant field 'tenantId' must be a string, not 42"],
    ['other tenant doc', as('acme', () => c().insertOne({ tenantId: 'globex' })), 'TENANT_VIOLATION', "document names tenant 'globex' but the current tenant is 'acme'"],
    ['non-string tenant doc', as('acme', () => c().insertOne({ tenantId: 42 })), 'TENANT_VIOLATION', "tenant field 'tenantId' must be a string, not 42"],
    ['system doc without tenant', system(() => c().insertOne({ x: 1 })), 'TENANT_VIOLATION', "documents written under runAsSystem must name their tenant in 'tenantId'"],
    ['$set move', as('acme', () => c().updateOne({}, { $set: { tenantId: 'globex' } })), 'TENANT_VIOLATION', "$set would move the document to tenant 'globex' but the current tenant is 'acme'"],
    ['$unset op', as('acme', () => c().updateOne({}, { $unset: { tenantId: '' } })), 'TENANT_VIOLATION', "$unset must not change the tenant field ('tenantId')"],
    ['$rename onto', as('acme', () => c().updateOne({}, { $rename: { owner: 'tenantId' } })), 'TENANT_VIOLATION', "$rename must not move 'owner' onto the tenant field ('tenantId')"],
    ['pipeline $unset', as('acme', () => c().updateOne({}, [{ $unset: 'tenantId' }])), 'TENANT_VIOLATION', "$unset must not remove the tenant field ('tenantId')"],
    ['system $replaceWith', system(() => c().updateOne({ tenantId: 'acme' }, [{ $replaceWith: { a: 1 } }])), 'TENANT_VIOLATION', '$replaceWith in an update pipeline is not allowed under runAsSystem: the result might name no valid tenant'],
    ['upsert other tenant', as('acme', () => c().updateOne({ tenantId: 'globex' }, { $set: { x: 1 } }, { upsert: true })), 'TENANT_VIOLATION', "upsert filter names tenant 'globex' but the current tenant is 'acme'"],
    ['upsert under $or', as('acme', () => c().updateOne({ $or: [{ tenantId: 'acme' }] }, { $set: { x: 1 } }, { upsert: true })), 'TENANT_VIOLATION', "an upsert filter must not name 'tenantId' under $or or $nor"],
    ['system upsert', system(() => c().updateOne({ x: 1 }, { $set: { y: 1 } }, { upsert: true })), 'TENANT_VIOLATION', 'an upsert under runAsSystem must name the tenant: put {tenantId: <id>} in the filter or $setOnInsert it'],
    ['$out', as('acme', () => c().aggregate([{ $out: 'x' }]).toArray()), 'TENANT_VIOLATION', 'stage $out is not allowed under a tenant: it writes to another collection'],
    ['$geoNear second', as('acme', () => c().aggregate([{ $match: {} }, { $geoNear: { near: [0, 0], distanceField: 'd' } }]).toArray()), 'TENANT_VIOLATION', '$geoNear is only allowed as the first stage of a pipeline'],
    ['$lookup db', as('acme', () => c().aggregate([{ $lookup: { from: { db: 'x', coll: 'y' }, pipeline: [], as: 'z' } }]).toArray()), 'TENANT_VIOLATION', "$lookup 'from' must name a collection of this database; {db, coll} is not allowed under a tenant"],
    ['explain', as('acme', () => c().find({}, { explain: true }).toArray()), 'TENANT_VIOLATION', 'explain is not available through tenantfence'],
    ['index collation', as('acme', () => c().createIndex({ x: 1 }, { collation: { locale: 'en', strength: 2 } })), 'TENANT_VIOLATION', `index collation { "locale": "en", "strength": 2 } could make two tenant ids compare equal; use strength 3 or more, alternate 'non-ignorable' and numericOrdering false`],
    ['hint off the tenant', as('acme', () => c().countDocuments({}, { hint: { _id: 1 } })), 'TENANT_VIOLATION', "hint must name an index that leads with 'tenantId' in the simple collation: any other plan would run this query's predicates on other tenants' documents"],
    ['$text without a tenant text index', as('acme', () => c().find({ $text: { $search: 'x' } }).toArray()), 'TENANT_VIOLATION', "$text under a tenant needs a text index that starts with 'tenantId', in the simple collation (build it inside runAsSystem: the fence puts 'tenantId' first; on a collection with another default collation pass collation: { locale: 'simple' }), and no hint: on any other index it would examine other tenants' documents"],
    ['$near in another collation', as('acme', () => c().find({ loc: { $near: [0, 0] } }, { collation: { locale: 'en' } }).toArray()), 'TENANT_VIOLATION', "$near under a tenant runs only in the simple collation: pass collation: { locale: 'simple' } (under another collation its index scan would read the documents of tenants whose id starts with this one's)"],
    ['$geoNear in a join', as('acme', () => c().aggregate([{ $unionWith: { coll: 'x', pipeline: [{ $geoNear: { near: [0, 0], distanceField: 'd' } }] } }]).toArray()), 'TENANT_VIOLATION', "$geoNear is not allowed inside $lookup, $unionWith or $graphLookup under a tenant: its index cannot be checked there; run it as the first stage of an aggregate on that collection"],
    ['graphLookup on _id', as('acme', () => c().aggregate([{ $graphLookup: { from: 'x', startWith: '$r', connectFromField: 'p', connectToField: '_id', as: 'g' } }]).toArray()), 'TENANT_VIOLATION', "$graphLookup with connectToField '_id' is not allowed under a tenant: its steps look up values, regexes included, on the _id index every tenant shares; connect through a field of your own with an index that starts with the tenant field"],
    ['index twin', async () => { await as('acme', () => c().countDocuments({ x: 1 }))(); return as('acme', () => c().createIndex({ _id: 1 }, { collation: { locale: 'fr' } }))(); }, 'TENANT_VIOLATION', "an index on this key already exists ('tenantfence_tenantId_1__id_1'): a second one with the same key, in another collation or under another name, would make every tenant's hints by this key ambiguous"],
    ['$natural sort', as('acme', () => c().find({}, { sort: { $natural: 1 } }).toArray()), 'TENANT_VIOLATION', "sort by $natural under a tenant is not allowed: it walks the collection in storage order, every tenant's documents included"],
    ['hidden fence key', system(() => c().createIndex({ _id: 1 }, { hidden: true })), 'TENANT_VIOLATION', "a hidden index on (tenantId, _id) is not allowed: it would take the place of the index the fence bounds every tenant's queries with"],
    ['reserved index name', as('acme', () => c().createIndex({ x: 1 }, { name: 'tenantfence_x' })), 'TENANT_VIOLATION', "index names starting with 'tenantfence_' are the fence's own: a tenant that took one first would make the fence's index build fail for every tenant"],
    ['distinct numeric key', as('acme', () => c().distinct('a.0')), TypeError, "distinct key 'a.0' has a numeric path segment: on MongoDB before 7.1 a tenant's distinct runs as an aggregation, which cannot read array positions; use aggregate"],
    ['partial index', as('acme', () => c().createIndex({ x: 1 }, { partialFilterExpression: { tenantId: 'acme' } })), 'TENANT_VIOLATION', "partialFilterExpression must not name the tenant field 'tenantId' under a tenant: it would shape other tenants' slice of the index"],
    ['unique under a tenant', as('acme', () => c().createIndex({ email: 1 }, { unique: true })), 'TENANT_VIOLATION', "a unique index is not allowed under a tenant: the index spans every tenant's documents, so its build or later writes could fail because of another tenant's data; build it inside runAsSystem"],
    ['unique on tenant', system(() => c().createIndex({ tenantId: 1 }, { unique: true })), 'TENANT_VIOLATION', "a unique index on 'tenantId' alone would allow one document per tenant"],
    ['filter type', as('acme', () => c().findOne('x')), TypeError, 'filter must be an object'],
    ['docs type', as('acme', () => c().insertMany('x')), TypeError, 'docs must be an array'],
    ['options type', as('acme', () => c().findOne({}, 'x')), TypeError, 'options must be an object'],
    ['unknown option', as('acme', () => c().findOne({}, { foo: 1 })), TypeError, 'options.foo is not supported by this method'],
    ['session', as('acme', () => c().findOne({}, { session: {} })), TypeError, 'options.session must be a session from fence.startSession() (a session of the Node driver cannot be used)'],
    ['w: 0', as('acme', () => c().insertOne({}, { writeConcern: { w: 0 } })), TypeError, 'options.writeConcern.w: 0 (unacknowledged writes) is not supported'],
    ['unknown operator', as('acme', () => c().updateOne({}, { $foo: { a: 1 } })), TypeError, 'unknown update operator $foo'],
    ['system collection', as('acme', () => suite.fence.collection('system.users').findOne({})), TypeError, 'collection name "system.users" is not valid'],
    ['strategy option', () => TenantFence.connect(uri(), { strategy: 'x' }), TypeError, "options.strategy must be 'field' or 'database'"],
    // The tenantField, strategy and database rules are Rust's (`scope::spec`), checked before dialling.
    ['tenantField option', () => TenantFence.connect('mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1', { tenantField: 'a.b' }), TypeError, "options.tenantField must be a top-level field name (no '.' or '$', not _id)"],
    ['tenantField not a string', () => TenantFence.connect(uri(), { tenantField: 7 }), TypeError, "options.tenantField must be a top-level field name (no '.' or '$', not _id)"],
    ['database option', () => TenantFence.connect(uri(), { database: 'a/b' }), TypeError, 'options.database must be a valid database name'],
    ['middleware typo', () => suite.fence.middleware({ headers: 'x' }), TypeError, "middleware option 'headers' is not known (did you mean 'header'?); options are header, resolve"],
  ];

  test.each(CASES)('%s', async (what, call, kind, message) => {
    const err = await failure(call);
    if (typeof kind === 'string') {
      expect(err).toBeInstanceOf(TenantError);
      expect(err.code).toBe(kind);
      expect(section(DOC, `### \`${kind}\``)).toContain(`\`${message}\``);
    } else {
      expect(err).toBeInstanceOf(kind);
      expect(quoted(message)).toBe(true);
      // Every bad argument carries the code, whether JS or Rust refused it.
      if (kind === TypeError) expect(err.code).toBe('ERR_INVALID_ARG');
    }
    expect(err.message).toBe(message);
  });

  test('a document nested deeper than 160 levels', async () => {
    let deep = { x: 1 };
    for (let i = 0; i < 200; i++) deep = { a: deep };
    const err = await failure(as('acme', () => suite.fence.collection('errdoc').findOne(deep)));
    expect(err).toBeInstanceOf(TypeError);
    expect(quoted(err.message)).toBe(true);
  });

  test('runAsSystem under strategy database, and a fence whose id rule the context breaks', async () => {
    const dbFence = await TenantFence.connect(uri(), { database: dbName('errdb'), strategy: 'database' });
    const strict = await TenantFence.connect(uri(), { database: suite.DB, tenantIdPattern: /^[a-z]+$/ });
    suite.closeAfter(dbFence);
    suite.closeAfter(strict);
    const noCross = await failure(() => dbFence.runAsSystem({ reason: 'test' }, () => dbFence.collection('x').findOne({})));
    expect([noCross.code, quoted(noCross.message)]).toEqual(['TENANT_MISSING', true]);
    const pattern = await failure(() => strict.runAs('ACME', () => {}));
    expect([pattern.code, pattern.message]).toEqual(['TENANT_INVALID', 'tenant id "ACME" does not match tenantIdPattern']);
    expect(quoted(pattern.message)).toBe(true);
    const other = await failure(() => suite.fence.runAs('ACME', () => strict.collection('x').findOne({})));
    expect([other.code, other.message]).toEqual(['TENANT_INVALID', 'tenant id "ACME" is not valid for this fence']);
    expect(quoted(other.message)).toBe(true);
  });

  test("strategy database: a tenant database name past 63 bytes, and a base holding '~'", async () => {
    // Base 'app' as on the page; nothing is written, so no database 'app…' is created.
    const app = suite.closeAfter(await TenantFence.connect(uri(), { database: 'app', strategy: 'database' }));
    const id = 'A'.repeat(30);
    const long = await failure(() => app.runAs(id, () => app.collection('x').findOne({})));
    expect([long.code, quoted(long.message)]).toEqual(['TENANT_INVALID', true]);
    const named = await failure(() => app.databaseFor(id));
    expect([named.code, named.message]).toEqual(['TENANT_INVALID', long.message]);
    expect(section(DOC, '### `TENANT_INVALID`')).toContain(long.message);
    const tilde = await failure(() => TenantFence.connect(uri(), { database: 'app~x', strategy: 'database' }));
    expect([tilde.name, quoted(tilde.message)]).toEqual(['TypeError', true]);
  });

  test("the middleware's 400 answers", async () => {
    const byHeader = suite.fence.middleware();
    const missing = await answer(byHeader, {});
    expect(missing).toEqual({ status: 400, body: { error: { code: 'TENANT_MISSING', message: 'the x-tenant-id header is required' } } });
    expect(DOC).toContain(JSON.stringify(missing.body));
    const invalid = await answer(byHeader, { headers: { 'x-tenant-id': '../globex' } });
    expect(invalid.body.error).toEqual({ code: 'TENANT_INVALID', message: "tenant id must not contain '.'" });
    const none = await answer(suite.fence.middleware({ resolve: async () => undefined }), {});
    expect(none.body.error.code).toBe('TENANT_MISSING');
    const notString = await answer(suite.fence.middleware({ resolve: async () => 7 }), {});
    expect(notString.body.error.code).toBe('TENANT_INVALID');
    const table = section(DOC, "### The middleware's 400 answer");
    for (const e of [missing, invalid, none, notString].map((a) => a.body.error)) {
      expect(table).toContain(`\`${e.code}\``);
      expect(table).toContain(`\`${e.message}\``);
    }
    const boom = new Error('resolve failed');
    await expect(answer(suite.fence.middleware({ resolve: () => { throw boom; } }), {})).rejects.toBe(boom);
  });

  test('server and driver errors keep their names and codes', async () => {
    const c = suite.fence.collection('errdoc_dup');
    await suite.fence.runAs('acme', () => c.insertOne({ _id: 'a' }));
    const dup = await failure(as('acme', () => c.insertOne({ _id: 'a' })));
    expect([dup.name, dup.code, dup.codeName]).toEqual(['MongoServerError', 11000, 'DuplicateKey']);
    const bulk = await failure(as('acme', () => c.insertMany([{ _id: 'b' }, { _id: 'a' }])));
    expect([bulk.name, bulk.code, bulk.codeName]).toEqual(['MongoBulkWriteError', 11000, 'DuplicateKey']);
    expect(bulk.writeErrors).toEqual([{ index: 1, code: 11000, errmsg: expect.any(String) }]);
    const closed = await TenantFence.connect(uri(), { database: suite.DB });
    await closed.close();
    const after = await failure(() => closed.runAs('acme', () => closed.collection('x').findOne({})));
    expect([after.name, after.message]).toEqual(['MongoClientClosedError', 'the fence is closed']);
    expect(quoted(after.message)).toBe(true);
    const unreachable = await failure(() => TenantFence.connect('mongodb://127.0.0.1:1/', { serverSelectionTimeoutMS: 300 }));
    expect(unreachable.name).toBe('MongoServerSelectionError');
    expect(unreachable.message).toMatch(/^Server selection timeout: No available servers/);
    expect(DOC).toContain('`Server selection timeout: No available servers. …`');
  });

  test("a throwing onSystemAccess hook's own error refuses the call", async () => {
    const hookError = new Error('audit log unavailable');
    const audited = await TenantFence.connect(uri(), { database: suite.DB, onSystemAccess: () => { throw hookError; } });
    suite.closeAfter(audited);
    const err = await failure(() => audited.runAsSystem({ reason: 'x' }, () => audited.collection('errdoc').findOne({})));
    expect(err).toBe(hookError);
  });
});
