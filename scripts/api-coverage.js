#!/usr/bin/env node
'use strict';
// The API coverage table: every member of the official driver's `Collection` and cursor classes,
// and every option of each `Collection` method, read from the driver's own typings
// (node_modules/mongodb/mongodb.d.ts), marked supported, refused (with the reason) or missing.
// `node scripts/api-coverage.js --write` rewrites docs/api-coverage.md;
// __tests__/docs/api-coverage.test.js fails when the page is stale or when the driver gains a
// member or option that is none of the three known states (a new row is "missing" until decided).

const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const PAGE = path.join(ROOT, 'docs', 'api-coverage.md');

/** The text of a class or interface body `{ ... }` in the typings, and what it extends. */
function block(typings, kind, name) {
  const m = new RegExp(`export declare (?:abstract )?${kind} ${name}\\b([^{]*)\\{`).exec(typings);
  if (!m) return null;
  const start = m.index + m[0].length;
  return { head: m[1], body: typings.slice(start, typings.indexOf('\n}\n', start)) };
}

/** Public member names of a class body (methods, getters, properties, well-known symbols). */
function members(body) {
  const out = new Set();
  for (const line of body.split('\n')) {
    const m = /^ {4}(?:get |set |static |readonly )*([A-Za-z_$][\w$]*|\[Symbol\.\w+\])\??[(<:]/.exec(line);
    if (m && m[1] !== 'constructor') out.add(m[1]);
  }
  return out;
}

/** Every option name of an options interface, its bases included (`Omit<Base, 'a' | 'b'>` honoured). */
function optionNames(typings, name, seen = new Set()) {
  if (seen.has(name)) return new Set();
  seen.add(name);
  const b = block(typings, 'interface', name);
  if (!b) {
    // A type alias (`type DropIndexesOptions = CommandOperationOptions;`, `A & { … }`, `Omit<…>`).
    const alias = new RegExp(`export declare type ${name}(?:<[^=]*>)? = ([^;]+);`).exec(typings);
    return alias ? typeOptions(typings, alias[1], seen) : new Set();
  }
  const out = members(b.body);
  const bases = (b.head.match(/extends\s+(.+)$/s) || [])[1] || '';
  for (const part of bases.split(/,(?![^<]*>)/)) {
    const omit = /Omit<\s*(\w+)(?:<[^>]*>)?\s*,\s*([^>]+)>/.exec(part);
    if (omit) {
      const dropped = new Set([...omit[2].matchAll(/'([^']+)'/g)].map((x) => x[1]));
      for (const o of optionNames(typings, omit[1], seen)) if (!dropped.has(o)) out.add(o);
      continue;
    }
    const base = /(\w+)/.exec(part.trim());
    if (base) for (const o of optionNames(typings, base[1], seen)) out.add(o);
  }
  return out;
}

/** The option names of a type expression: parts joined by `&`, each a name, an `Omit<…>` or `{ … }`. */
function typeOptions(typings, expr, seen = new Set()) {
  const names = new Set();
  // Comments inside `{ … }` are prose, not option names.
  const bare = expr.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  for (const part of bare.split(/&(?![^{]*\})/)) {
    const t = part.trim();
    const omit = /^Omit<\s*(\w+)(?:<[^>]*>)?\s*,\s*([^>]+)>$/.exec(t);
    if (omit) {
      const dropped = new Set([...omit[2].matchAll(/'([^']+)'/g)].map((x) => x[1]));
      for (const n of optionNames(typings, omit[1], seen)) if (!dropped.has(n)) names.add(n);
    } else if (t.startsWith('{')) {
      for (const x of t.matchAll(/(\w+)\??:/g)) names.add(x[1]);
    } else {
      const base = /^(\w+)/.exec(t);
      if (base) for (const n of optionNames(typings, base[1], seen)) names.add(n);
    }
  }
  return names;
}

/**
 * The option names of each `Collection` method, from every overload's `options` parameter: a type
 * expression such as `UpdateOptions & { sort?: Sort }` or `Omit<FindOneOptions, 'timeoutMode'> & Abortable`.
 */
function methodOptions(typings, collectionBody) {
  const out = {};
  // One signature per entry, however many lines it spans.
  const sigs = collectionBody.split(/;\n(?= {4}[A-Za-z_/[])/);
  for (const sig of sigs) {
    const m = /^\s*(?:\/\*\*[\s\S]*?\*\/\s*)?([a-zA-Z]\w*)(?:<[^(]*?>)?\(/.exec(sig);
    if (!m) continue;
    const o = /\boptions\??: ([\s\S]*?)\): /.exec(sig);
    if (!o) continue;
    const names = (out[m[1]] ??= new Set());
    for (const n of typeOptions(typings, o[1])) names.add(n);
  }
  return out;
}

// What tenantfence refuses on purpose, and why (the "refused" rows). A member or option not
// listed here and not supported is "missing": work still to do.
const REFUSED_MEMBERS = {
  watch: "a collection's change stream carries every tenant's events; scoped change streams are issue 16",
  initializeOrderedBulkOp: 'use bulkWrite, which checks every operation before any is sent',
  initializeUnorderedBulkOp: 'use bulkWrite, which checks every operation before any is sent',
  count: 'deprecated by the driver (it reads collection metadata across tenants): use countDocuments',
  listSearchIndexes: 'Atlas Search indexes span every tenant; not available on a self-managed server',
  createSearchIndex: 'Atlas Search indexes span every tenant; not available on a self-managed server',
  createSearchIndexes: 'Atlas Search indexes span every tenant; not available on a self-managed server',
  dropSearchIndex: 'Atlas Search indexes span every tenant; not available on a self-managed server',
  updateSearchIndex: 'Atlas Search indexes span every tenant; not available on a self-managed server',
  explain: 'a plan shows index bounds and counts across every tenant',
  addCursorFlag: 'tailable, exhaust and partial cursors are not scoped by the fence yet',
  addQueryModifier: 'legacy query modifiers could change the query after the fence checked it',
  filter: 'would change the query after the fence checked it: pass the filter to find()',
  collation: 'would change the query after the fence checked it (the contract): pass collation as a find() / aggregate() option',
  hint: 'would change the query after the fence checked it (the contract): pass hint as a find() / aggregate() option',
  addStage: 'would add an unchecked stage after the fence checked the pipeline: pass it to aggregate()',
  returnKey: 'returns index keys, which may come from entries the fence did not check',
  showRecordId: "record ids are the storage engine's, shared by all tenants",
  min: 'index bounds set by hand could reach outside the tenant',
  max: 'index bounds set by hand could reach outside the tenant',
  // AggregationCursor's stage builders append a stage after the fence checked the pipeline.
  ...Object.fromEntries(['geoNear', 'group', 'lookup', 'match', 'redact', 'unwind', 'pipeline'].map((m) => [
    m, 'would add an unchecked stage after the fence checked the pipeline: pass the stages to aggregate()',
  ])),
  out: 'writes the results outside the tenant, as the $out stage does (refused in aggregate() too)',
  id: "the server cursor's id stays in the Rust driver, which does not hand it out: `closed` says whether the cursor is done",
  loadBalanced: "load balancing is a connection setting of the fence's Rust driver (the connection string), not a cursor's",
  CLOSE: "the fence's cursor is not an event emitter: `closed` and `close()` say and do what the 'close' event would",
  maxAwaitTimeMS: 'tailable cursors are not scoped by the fence yet',
  // Collection-level defaults.
  ...Object.fromEntries(['readConcern', 'readPreference', 'writeConcern', 'bsonOptions', 'timeoutMS'].map((m) => [
    m, 'the fence keeps no collection-level defaults: pass it to each call, which takes it as the driver does',
  ])),
};
const REFUSED_SESSION_MEMBERS = {
  clusterTime: "the cluster's clock moves with every tenant's writes: reading it would show a tenant when others write",
  operationTime: "the cluster's clock moves with every tenant's writes: reading it would show a tenant when others write",
  advanceClusterTime: 'it takes a cluster time read elsewhere, which the fence does not hand out (see clusterTime)',
  advanceOperationTime: 'it takes an operation time read elsewhere, which the fence does not hand out (see operationTime)',
  timeoutMS: "a session-wide default the fence does not keep: pass timeoutMS to each call (or withTransaction's callback's calls)",
  client: "the fence's Rust driver client is not a Node MongoClient: use the fence",
  clientOptions: "the fence's Rust driver client is not a Node MongoClient: use the fence",
  serverSession: 'the server session (its id, transaction number) lives in the Rust driver; `id` gives its id',
  incrementTransactionNumber: "the driver's internal step; the Rust driver numbers the transactions",
};
/** The options src/scope/option_rules.rs refuses on purpose, with the reason the caller reads. */
function ruledOptions() {
  const rs = fs.readFileSync(path.join(ROOT, 'src', 'scope', 'option_rules.rs'), 'utf8');
  const out = {};
  for (const m of rs.matchAll(/((?:"\w+"\s*\|\s*)*"\w+")\s*=>\s*(?:violation|argument)\(\s*"((?:[^"\\]|\\.)*)"/g)) {
    for (const name of m[1].match(/\w+/g)) out[name] = m[2];
  }
  return out;
}

// Refused for one method only: `method().option`.
const REFUSED_OPTIONS = {
  ...ruledOptions(),
  ...Object.fromEntries(
    ['background', 'bits', 'bucketSize', 'collation', 'default_language', 'expireAfterSeconds', 'hidden', 'language_override',
      'max', 'min', 'name', 'partialFilterExpression', 'sparse', 'storageEngine', 'textIndexVersion', 'unique', 'version',
      'weights', 'wildcardProjection'].map((o) => [
      `createIndexes().${o}`,
      "an option of one index: the driver ignores it beside createIndexes' list, so tenantfence refuses it there (put it in the index's description)",
    ]),
  ),
  // watch(): src/scope/change_stream.rs REFUSED, with its reasons.
  ...Object.fromEntries(
    [...fs.readFileSync(path.join(ROOT, 'src', 'scope', 'change_stream.rs'), 'utf8').matchAll(/\(\s*"(\w+)",\s*"((?:[^"\\]|\\.)*)",?\s*\)/g)].map((m) => [`watch().${m[1]}`, m[2]]),
  ),
  'drop().encryptedFields': "Queryable Encryption's auxiliary collections are not managed by the fence: drop them as an operator",
  explain: 'a plan shows index bounds and counts across every tenant',
  includeResultMetadata: 'not supported yet',
};

/** The members and options tenantfence supports, read from its own code. */
function supported() {
  const { ScopedCollection } = require(path.join(ROOT, 'lib', 'collection.js'));
  const { FenceCursor } = require(path.join(ROOT, 'lib', 'cursor.js'));
  const own = (proto) => new Set(Reflect.ownKeys(proto).map((k) => (typeof k === 'symbol' ? `[${k.description.replace(/^nodejs\./, 'Symbol.')}]` : k)));
  const collection = own(ScopedCollection.prototype);
  collection.add('collectionName');
  const cursor = own(FenceCursor.prototype);
  // The option lists the binding accepts per method (src/binding/options.rs), plus what the JS face reads.
  const rs = fs.readFileSync(path.join(ROOT, 'src', 'binding', 'options.rs'), 'utf8');
  const list = (name) => new Set([...(new RegExp(`pub const ${name}: &\\[&str\\] =([^;]+);`).exec(rs) || ['', ''])[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]));
  const per = {
    find: list('FIND'), findOne: list('FIND_ONE'), countDocuments: list('COUNT'), distinct: list('DISTINCT'),
    aggregate: list('AGGREGATE'), insertOne: list('INSERT'), insertMany: list('INSERT'), updateOne: list('UPDATE_ONE'),
    updateMany: list('UPDATE'), replaceOne: list('REPLACE'), deleteOne: list('DELETE'), deleteMany: list('DELETE'),
    findOneAndUpdate: list('FIND_AND_MODIFY'), findOneAndReplace: list('FIND_AND_MODIFY'),
    findOneAndDelete: list('FIND_AND_MODIFY'), bulkWrite: list('BULK'), createIndex: new Set([...list('INDEX'), ...list('CREATE_INDEX_COMMAND')]),
    estimatedDocumentCount: new Set(['maxTimeMS', 'comment', 'readPreference', 'readConcern']),
  };
  // Administration (src/binding/admin.rs): the option list each method takes (`options(&mut req, …)`),
  // plus the options the driver ignores for these commands, taken and ignored alike (IGNORED).
  const admin = fs.readFileSync(path.join(ROOT, 'src', 'binding', 'admin.rs'), 'utf8');
  const strings = (text) => [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  const constant = (name) => strings((new RegExp(`const ${name}: &\\[&str\\] =([^;]+);`).exec(admin) || ['', ''])[1]);
  const adminList = (fn) => {
    const at = admin.indexOf(`async fn ${fn}(`);
    const body = admin.slice(at, admin.indexOf('\n}\n', at));
    const m = /options\(\s*&mut req,\s*(&\[[^\]]*\]|[A-Z_]+)\s*,?\s*\)/.exec(body);
    if (at < 0 || !m) throw new Error(`api-coverage: cannot read the options of admin.rs ${fn}`);
    return new Set([...(m[1].startsWith('&') ? strings(m[1]) : constant(m[1])), ...constant('IGNORED')]);
  };
  Object.assign(per, {
    listIndexes: adminList('list_indexes'), dropIndex: adminList('drop_index'), dropIndexes: adminList('drop_indexes'),
    drop: adminList('drop'), rename: adminList('rename'), options: adminList('collection_options'),
    isCapped: adminList('collection_options'),
    createIndexes: new Set(['comment', 'commitQuorum', 'writeConcern', 'maxTimeMS', 'readConcern', 'retryWrites']),
  });
  for (const m of ['findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete']) per[m].add('returnOriginal');
  for (const m of ['indexes', 'indexExists', 'indexInformation']) per[m] = new Set([...per.listIndexes, ...(m === 'indexExists' ? [] : ['full'])]);
  // Taken by the JS face from every method's options (lib/collection.js clientOptions, takeSession):
  // the BSON read and write options, the session, timeoutMS and signal, and what the driver ignores.
  const { READ } = require(path.join(ROOT, 'lib', 'codec.js'));
  const { IGNORED, EVERYWHERE_IGNORED } = require(path.join(ROOT, 'lib', 'collection.js'));
  const everywhere = [
    ...Object.keys(READ), 'raw', 'fieldsAsRaw', 'enableUtf8Validation', 'checkKeys', 'serializeFunctions', 'ignoreUndefined',
    'session', 'timeoutMS', 'signal', ...EVERYWHERE_IGNORED,
  ];
  for (const m of Object.keys(per)) for (const o of [...everywhere, ...(IGNORED[m] || [])]) per[m].add(o);
  // Cursors (lib/cursor.js): timeoutMode; find's singleBatch and timeout; the aggregation's cursor.
  for (const m of ['find', 'aggregate', 'listIndexes', 'indexes', 'indexExists', 'indexInformation']) per[m].add('timeoutMode');
  for (const o of ['singleBatch', 'timeout']) per.find.add(o);
  for (const m of ['aggregate', 'countDocuments']) per[m].add('cursor');
  // The family reads through listIndexes, with its options.
  for (const m of ['indexes', 'indexExists', 'indexInformation']) for (const o of IGNORED.listIndexes) per[m].add(o);
  // createIndex's `version` is sent as `v`; a write's maxTimeMS goes through a bulkWrite (src/binding/max_time.rs).
  per.createIndex.add('version');
  for (const m of ['insertOne', 'insertMany', 'updateOne', 'updateMany', 'replaceOne', 'deleteOne', 'deleteMany']) per[m].add('maxTimeMS');
  // Taken and ignored by src/binding/indexes.rs, as the driver ignores them there.
  for (const o of ['readPreference']) per.createIndexes.add(o);
  // watch(): the options src/scope/change_stream.rs takes, and the BSON ones lib/collection.js reads.
  const cs = fs.readFileSync(path.join(ROOT, 'src', 'scope', 'change_stream.rs'), 'utf8');
  per.watch = new Set([
    ...strings((/const OPTIONS: &\[&str\] = &\[([^\]]+)\]/.exec(cs) || ['', ''])[1]),
    ...Object.keys(READ), 'enableUtf8Validation', 'checkKeys', 'serializeFunctions', 'ignoreUndefined', ...EVERYWHERE_IGNORED,
  ]);
  const { FenceSession } = require(path.join(ROOT, 'lib', 'session.js'));
  const session = own(FenceSession.prototype);
  return { collection, cursor, per, session };
}

/** The folder of package `name` as `from` resolves it (its exports map hides package.json). */
function packageDir(name, from) {
  let dir = path.dirname(require.resolve(name, { paths: [from] }));
  while (!fs.existsSync(path.join(dir, 'package.json')) || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== name) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the package folder of ${name}`);
    dir = up;
  }
  return dir;
}

/** The coverage rows: [area, name, status, reason]. */
function rows() {
  // The driver's BSON options come from the bson package's typings (DeserializeOptions, ...).
  const driverTypes = require.resolve('mongodb/mongodb.d.ts', { paths: [ROOT] });
  const bsonTypes = path.join(packageDir('bson', path.dirname(driverTypes)), 'bson.d.ts');
  // Comments are prose (they hold `NOTE:`, `;`, URLs): parsed without them.
  const typings = (fs.readFileSync(driverTypes, 'utf8') + fs.readFileSync(bsonTypes, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/\n[ \t]*(?=\n)/g, '');
  const coll = block(typings, 'class', 'Collection');
  const ours = supported();
  const out = [];
  const judge = (area, name, have, refused) => {
    if (have) out.push([area, name, 'supported', '']);
    else if (refused[`${area}.${name}`]) out.push([area, name, 'refused', refused[`${area}.${name}`]]);
    else if (refused[name]) out.push([area, name, 'refused', refused[name]]);
    else out.push([area, name, 'missing', '']);
  };
  for (const m of [...members(coll.body)].sort()) judge('Collection', m, ours.collection.has(m), REFUSED_MEMBERS);
  const cursorMembers = new Set();
  for (const name of ['AbstractCursor', 'ExplainableCursor', 'FindCursor', 'AggregationCursor']) {
    const b = block(typings, 'class', name);
    if (b) for (const m of members(b.body)) cursorMembers.add(m);
  }
  for (const m of [...cursorMembers].sort()) judge('cursor', m, ours.cursor.has(m), REFUSED_MEMBERS);
  const clientSession = block(typings, 'class', 'ClientSession');
  for (const m of [...members(clientSession.body)].sort()) judge('ClientSession', m, ours.session.has(m), REFUSED_SESSION_MEMBERS);
  const opts = methodOptions(typings, coll.body);
  for (const method of Object.keys(opts).sort()) {
    if (!ours.collection.has(method)) continue;
    for (const o of [...opts[method]].sort()) judge(`${method}()`, o, ours.per[method]?.has(o), REFUSED_OPTIONS);
  }
  return out;
}

/** The page: a summary, then one table per area. */
function page(all = rows()) {
  const version = require(require.resolve('mongodb/package.json', { paths: [ROOT] })).version;
  const count = (s) => all.filter((r) => r[2] === s).length;
  const lines = [
    '# API coverage against the official driver',
    '',
    `Every member of the \`mongodb\` driver's \`Collection\` and cursor classes, and every option of each`,
    `\`Collection\` method tenantfence has, read from the driver's own typings (\`mongodb\` ${version}, the`,
    'devDependency). Generated by `node scripts/api-coverage.js --write`; `__tests__/docs/api-coverage.test.js`',
    'fails when this page is stale, so a driver upgrade that adds a member or an option shows up here as',
    '"missing" until it is supported or refused with a reason.',
    '',
    `Supported: ${count('supported')}. Refused on purpose: ${count('refused')}. Missing: ${count('missing')}.`,
    '',
  ];
  let area = null;
  for (const [a, name, status, reason] of all) {
    if (a !== area) {
      area = a;
      lines.push(`## ${['Collection', 'cursor', 'ClientSession'].includes(a) ? `${a} members` : `\`${a}\` options`}`, '', '| name | status | why |', '|---|---|---|');
    }
    lines.push(`| \`${name}\` | ${status} | ${reason} |`);
    const next = all[all.indexOf(all.find((r) => r[0] === a && r[1] === name)) + 1];
    if (!next || next[0] !== a) lines.push('');
  }
  return lines.join('\n');
}

if (require.main === module) {
  const text = page();
  if (process.argv.includes('--write')) fs.writeFileSync(PAGE, text);
  else process.stdout.write(text);
}

module.exports = { rows, page, PAGE };
