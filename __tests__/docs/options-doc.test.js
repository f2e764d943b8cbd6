'use strict';
// docs/options.md against the code: its headings are exactly the options lib/ knows, the
// defaults it states are the ones a fence reports, and its method tables say which options
// each collection method accepts -- checked by calling every method with every option.

const { readDoc, headings, section } = require('../helpers/markdown');
const { useSuite, uri, captureError } = require('../helpers/fixtures');
const { TenantFence, TenantError } = require('../..');

const DOC = readDoc('docs/options.md');
const CONNECT = '## `TenantFence.connect(uri, options)`';
const MIDDLEWARE = '## `fence.middleware(options)`';
const SYSTEM = '## `fence.runAsSystem(options, fn)`';

/** The `### option` headings of one `##` section. */
function optionHeadings(h2) {
  return headings(section(DOC, h2), '###');
}

/** The "Default: …" line under an option heading. */
function statedDefault(h2, option) {
  const m = /^Default: (.+)$/m.exec(section(section(DOC, h2), `### \`${option}\``));
  return m && m[1];
}

/** Rows of the markdown table that follows `intro`: [[names of column 1], [names of column 2]]. */
function tableRows(text, intro) {
  const at = text.indexOf(intro);
  if (at < 0) throw new Error(`docs/options.md lost its table "${intro}"`);
  const rows = [];
  const names = (cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
  for (const line of text.slice(at).split('\n').slice(1)) {
    if (!line.startsWith('|')) {
      if (rows.length) break;
      continue;
    }
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells[0] === '---' || /^(method|operation)$/.test(cells[0])) continue;
    rows.push([names(cells[0]), cells[1] === 'none' ? [] : names(cells[1])]);
  }
  return rows;
}

// A well-formed value for each option, so an accepted option never fails on its value.
const SAMPLE = {
  sort: { _id: 1 }, limit: 1, skip: 0, projection: { _id: 1 }, batchSize: 10, hint: { _id: 1 },
  collation: { locale: 'simple' }, comment: 'options-doc', maxTimeMS: 5000, let: { v: 1 },
  allowDiskUse: false, writeConcern: { w: 1 }, bypassDocumentValidation: false, ordered: true,
  upsert: false, arrayFilters: [], returnDocument: 'after', returnOriginal: true,
  name: 'x_opt', unique: false, sparse: false, expireAfterSeconds: 3600,
  partialFilterExpression: { x: { $exists: true } }, background: true, hidden: false,
  default_language: 'english', language_override: 'lang', weights: { x: 1 }, textIndexVersion: 3,
  '2dsphereIndexVersion': 3, min: -180, max: 180, bits: 26, wildcardProjection: { x: 1 },
  // The driver's BSON read options: taken by the methods that return documents.
  bsonRegExp: true, promoteLongs: false, promoteValues: true, promoteBuffers: false, useBigInt64: false,
  readPreference: 'primary', readConcern: { level: 'local' },
  allowPartialResults: false, noCursorTimeout: false, timeout: true, singleBatch: false, timeoutMode: 'cursorLifetime',
  cursor: { batchSize: 5 }, storageEngine: { wiredTiger: {} }, version: 2, commitQuorum: 'votingMembers',
  // Taken by every method (lib/collection.js clientOptions).
  raw: false, fieldsAsRaw: {}, enableUtf8Validation: true, checkKeys: false, serializeFunctions: false,
  ignoreUndefined: false, timeoutMS: 30000, signal: new AbortController().signal, retryWrites: true,
  // Refused on purpose (the "Refused on purpose" table).
  includeResultMetadata: true, dbName: 'other', authdb: 'admin', forceServerObjectId: true, tailable: true,
  awaitData: true, maxAwaitTimeMS: 10, oplogReplay: true, returnKey: true, showRecordId: true, out: 'elsewhere',
  encryptedFields: {}, bucketSize: 1, noResponse: true, willRetryWrite: true,
};

// Taken by every method, and left out of the table's rows.
const EVERYWHERE = [
  'promoteLongs', 'promoteValues', 'promoteBuffers', 'useBigInt64', 'bsonRegExp', 'raw', 'fieldsAsRaw',
  'enableUtf8Validation', 'checkKeys', 'serializeFunctions', 'ignoreUndefined', 'timeoutMS', 'signal', 'retryWrites',
];

// One call per method. Writes name another tenant, so the tenant rules refuse them right after
// the options are read: an accepted option never writes anything.
const CALLS = {
  find: (c, o) => c.find({}, o).toArray(),
  findOne: (c, o) => c.findOne({}, o),
  countDocuments: (c, o) => c.countDocuments({}, o),
  estimatedDocumentCount: (c, o) => c.estimatedDocumentCount(o),
  distinct: (c, o) => c.distinct('x', {}, o),
  aggregate: (c, o) => c.aggregate([], o).toArray(),
  insertOne: (c, o) => c.insertOne({ tenantId: 'other' }, o),
  insertMany: (c, o) => c.insertMany([{ tenantId: 'other' }], o),
  updateOne: (c, o) => c.updateOne({}, { $set: { tenantId: 'other' } }, o),
  updateMany: (c, o) => c.updateMany({}, { $set: { tenantId: 'other' } }, o),
  replaceOne: (c, o) => c.replaceOne({}, { tenantId: 'other' }, o),
  deleteOne: (c, o) => c.deleteOne({ none: true }, o),
  deleteMany: (c, o) => c.deleteMany({ none: true }, o),
  findOneAndUpdate: (c, o) => c.findOneAndUpdate({}, { $set: { tenantId: 'other' } }, o),
  findOneAndReplace: (c, o) => c.findOneAndReplace({}, { tenantId: 'other' }, o),
  findOneAndDelete: (c, o) => c.findOneAndDelete({ none: true }, o),
  bulkWrite: (c, o) => c.bulkWrite([{ insertOne: { document: { tenantId: 'other' } } }], o),
  createIndex: (c, o) => c.createIndex({ x: 1 }, o),
};

/** True when the call refused the option itself (as opposed to succeeding or failing on something else). */
async function refusesOption(call) {
  try {
    await call();
    return false;
  } catch (e) {
    return (e instanceof TypeError || e instanceof TenantError) && /is not supported|takes no|is refused/.test(e.message);
  }
}

const suite = useSuite('optdoc');

describe('docs/options.md: connect, middleware and runAsSystem options', () => {
  test('the connect headings are exactly the options connect knows', async () => {
    const err = await TenantFence.connect(uri(), { notAnOption: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    const known = /\(known: ([^)]+)\)/.exec(err.message)[1].split(', ');
    expect(optionHeadings(CONNECT).sort()).toEqual([...known].sort());
    for (const o of known) expect(statedDefault(CONNECT, o)).toBeTruthy();
  });

  test('the connect defaults the page states are the ones a fence reports', async () => {
    expect(statedDefault(CONNECT, 'tenantField')).toBe("`'tenantId'`.");
    expect(statedDefault(CONNECT, 'strategy')).toBe("`'field'`.");
    expect(statedDefault(CONNECT, 'database')).toMatch(/the database named in the URI path .*, else `'test'`\.$/);
    // The suite's URI names no database: the fallback applies.
    expect(new URL(uri()).pathname.replace('/', '')).toBe('');
    const bare = await TenantFence.connect(uri());
    try {
      expect([bare.tenantField, bare.strategy, bare.databaseName]).toEqual(['tenantId', 'field', 'test']);
    } finally {
      await bare.close();
    }
  });

  test('a connection-string option given twice is the TypeError the page quotes', async () => {
    expect(DOC).toContain('repeated options are not allowed in the connection string');
    const sep = uri().includes('?') ? '&' : '?';
    const err = await TenantFence.connect(`${uri()}${sep}maxPoolSize=5`, { maxPoolSize: 7 }).catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('repeated options are not allowed in the connection string');
  });

  test('the middleware headings are exactly its options, and the header default is the one it reads', () => {
    let err;
    try {
      suite.fence.middleware({ notAnOption: 1 });
    } catch (e) {
      err = e;
    }
    const known = /options are (.+)$/.exec(err.message)[1].split(', ');
    expect(optionHeadings(MIDDLEWARE).sort()).toEqual([...known].sort());
    expect(statedDefault(MIDDLEWARE, 'header')).toBe("`'x-tenant-id'`.");
    // Without a header the middleware answers 400 and names the header it looked for.
    const sent = {};
    const res = { setHeader() {}, end: (body) => (sent.body = JSON.parse(body)) };
    suite.fence.middleware()({ headers: {} }, res, () => {
      throw new Error('the handler must not run');
    });
    expect(res.statusCode).toBe(400);
    expect(sent.body.error.message).toBe('the x-tenant-id header is required');
  });

  test('runAsSystem has the one option the page lists, and it is required', () => {
    expect(optionHeadings(SYSTEM)).toEqual(['reason']);
    expect(() => suite.fence.runAsSystem({}, () => {})).toThrow(/options\.reason must be a non-empty string/);
  });
});

describe('docs/options.md: collection method options', () => {
  const methodTable = tableRows(DOC, '| method | accepted options |');
  const accepted = new Map();
  for (const [methods, opts] of methodTable) for (const m of methods) accepted.set(m, opts);

  test('the table covers every collection method', () => {
    expect([...accepted.keys()].sort()).toEqual(Object.keys(CALLS).sort());
    for (const opts of accepted.values()) for (const o of opts) expect(SAMPLE).toHaveProperty([o]);
  });

  // Every method takes these (the page says so once, not per row).
  const BSON_READ = EVERYWHERE;
  for (const opts of accepted.values()) opts.push(...BSON_READ);

  test('each method accepts the options the table lists and refuses every other', async () => {
    const c = suite.fence.collection('optdoc');
    const wrong = [];
    await suite.fence.runAs('acme', async () => {
      for (const [method, call] of Object.entries(CALLS)) {
        for (const option of Object.keys(SAMPLE)) {
          const refused = await refusesOption(() => call(c, { [option]: SAMPLE[option] }));
          const listed = accepted.get(method).includes(option);
          if (refused === listed) wrong.push(`${method} ${option}: page says ${listed ? 'accepted' : 'refused'}`);
        }
      }
    });
    expect(wrong).toEqual([]);
    // The writes were all refused by the tenant rules: nothing was stored.
    expect(await suite.rdb.collection('optdoc').countDocuments()).toBe(0);
  });

  test('each administration method accepts the options its table lists (and what the driver ignores) and refuses every other', async () => {
    const rows = tableRows(DOC, '| administration method | accepted options |');
    const IGNORED = ['readConcern', 'retryWrites'];
    const sample = { ...SAMPLE, commitQuorum: 'majority', dropTarget: false, nameOnly: true, authorizedCollections: false, full: true };
    const ADMIN = {
      createIndexes: (c, o) => c.createIndexes([{ key: { y: 1 } }], o),
      listIndexes: (c, o) => c.listIndexes(o).toArray(),
      indexes: (c, o) => c.indexes(o),
      indexInformation: (c, o) => c.indexInformation(o),
      indexExists: (c, o) => c.indexExists('_id_', o),
      dropIndex: (c, o) => c.dropIndex('nope', o),
      dropIndexes: (c, o) => c.dropIndexes(o),
      drop: (c, o) => c.drop(o),
      rename: (c, o) => c.rename('optadmin_to', o),
      options: (c, o) => c.options(o),
      isCapped: (c, o) => c.isCapped(o),
      'fence.db.listCollections': (c, o) => suite.fence.db.listCollections({}, o).toArray(),
    };
    const listed = new Map();
    for (const [methods, opts] of rows) for (const m of methods) listed.set(m, opts);
    expect([...listed.keys()].sort()).toEqual([...Object.keys(ADMIN), 'fence.db.createCollection'].sort());
    const wrong = [];
    const c = suite.fence.collection('optadmin');
    await suite.fence.runAsSystem({ reason: 'options-doc' }, async () => {
      for (const [method, call] of Object.entries(ADMIN)) {
        const accepts = [...listed.get(method), ...IGNORED, 'session'];
        for (const option of Object.keys(sample)) {
          const refused = await refusesOption(() => call(c, { [option]: sample[option] }));
          const ok = accepts.includes(option) || BSON_READ.includes(option);
          if (refused === ok) wrong.push(`${method} ${option}: page says ${ok ? 'accepted' : 'refused'}`);
        }
      }
    });
    expect(wrong).toEqual([]);
  });

  test('every option in the "Refused on purpose" table is refused, with its reason, by every method that does not list it', async () => {
    const c = suite.fence.collection('optdoc');
    await suite.fence.runAs('acme', async () => {
      const session = await c.findOne({}, { session: {} }).catch((e) => e);
      expect(session).toBeInstanceOf(TypeError);
      const explain = await c.find({}, { explain: true }).toArray().catch((e) => e);
      expect(explain).toBeInstanceOf(TenantError);
      expect(explain.code).toBe('TENANT_VIOLATION');
      const w0 = await c.insertOne({ x: 1 }, { writeConcern: { w: 0 } }).catch((e) => e);
      expect(w0).toBeInstanceOf(TypeError);
      const meta = await c.findOneAndDelete({}, { includeResultMetadata: true }).catch((e) => e);
      expect(meta).toBeInstanceOf(TypeError);
    });
    const rows = tableRows(section(DOC, '### Refused on purpose'), '| option | result | why |');
    const wrong = [];
    await suite.fence.runAs('acme', async () => {
      for (const row of rows) {
        for (const n of row[0].map((x) => x.split(':')[0]).filter((x) => !['session', 'explain', 'writeConcern', 'includeResultMetadata'].includes(x))) {
          expect(SAMPLE).toHaveProperty([n]);
          for (const [m, run] of Object.entries(CALLS)) {
            if (accepted.get(m).includes(n)) continue;
            const e = await captureError(() => run(c, { [n]: SAMPLE[n] }));
            if (!e || !e.message.startsWith(`options.${n} is refused: `)) wrong.push(`${m} ${n}: ${e && e.message}`);
          }
        }
      }
    });
    expect(wrong).toEqual([]);
  });

  test('each bulkWrite operation accepts the options its table lists and refuses every other', async () => {
    const rows = tableRows(DOC, '| operation | accepted options |');
    const ops = {
      insertOne: (extra) => ({ insertOne: { document: { x: 1 }, ...extra } }),
      updateOne: (extra) => ({ updateOne: { filter: { none: true }, update: { $set: { x: 1 } }, ...extra } }),
      updateMany: (extra) => ({ updateMany: { filter: { none: true }, update: { $set: { x: 1 } }, ...extra } }),
      replaceOne: (extra) => ({ replaceOne: { filter: { none: true }, replacement: { x: 1 }, ...extra } }),
      deleteOne: (extra) => ({ deleteOne: { filter: { none: true }, ...extra } }),
      deleteMany: (extra) => ({ deleteMany: { filter: { none: true }, ...extra } }),
    };
    const listed = new Map();
    for (const [names, opts] of rows) for (const n of names) listed.set(n, opts);
    expect([...listed.keys()].sort()).toEqual(Object.keys(ops).sort());
    const candidates = ['upsert', 'collation', 'hint', 'arrayFilters', 'let', 'comment', 'ordered', 'writeConcern'];
    const c = suite.fence.collection('optdoc_bulk');
    const wrong = [];
    await suite.fence.runAs('acme', async () => {
      for (const [name, make] of Object.entries(ops)) {
        for (const option of candidates) {
          // insertOne would write when an option is accepted; pair it with a refused operation.
          const batch = [make({ [option]: SAMPLE[option] }), { insertOne: { document: { tenantId: 'other' } } }];
          const err = await c.bulkWrite(batch).then(() => null, (e) => e);
          const refused = err instanceof TypeError && err.message.includes(`operations[0].${name}.${option} is not supported`);
          if (refused === listed.get(name).includes(option)) wrong.push(`${name} ${option}`);
        }
      }
    });
    expect(wrong).toEqual([]);
    expect(await suite.rdb.collection('optdoc_bulk').countDocuments()).toBe(0);
  });
});
