'use strict';
// A runner of MongoDB's unified test format (the CRUD tests of mongodb/specifications, copied in
// ./crud-unified with their licence) over tenantfence: each test runs under tenant 'acme' of a
// strategy-'field' fence, with tenant 'globex' holding a copy of the initial data in every
// collection. Results and outcomes are compared as the format says, with the tenant field taken
// off 'acme''s documents; 'globex''s documents must come out unchanged. Command-monitoring
// expectations (`expectEvents`) are not checked: the fence's commands are its own (the probe and
// the driver-spec tests check what it sends).

const fs = require('node:fs');
const path = require('node:path');
const { EJSON, ObjectId, Long, Decimal128, Binary } = require('bson');
const { TenantFence, TenantError } = require('../..');

const DIR = path.join(__dirname, 'crud-unified');
const SERVER = [6, 0, 5];
const TENANT = 'acme';
const OTHER = 'globex';
const FIELD = 'tenantId';

/** Every spec file, parsed. */
function files() {
  return fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, spec: EJSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'), { relaxed: true }) }));
}

function version(v) {
  return String(v).split('.').map(Number).concat([0, 0, 0]).slice(0, 3);
}

function cmp(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** Why a runOnRequirements list does not hold here (6.0.5, a one-member replica set), or null. */
function unmet(reqs) {
  if (!reqs || reqs.length === 0) return null;
  const why = reqs.map((r) => {
    if (r.minServerVersion && cmp(SERVER, version(r.minServerVersion)) < 0) return `needs MongoDB ${r.minServerVersion}`;
    if (r.maxServerVersion && cmp(SERVER, version(r.maxServerVersion)) > 0) return `needs MongoDB <= ${r.maxServerVersion}`;
    if (r.topologies && !r.topologies.includes('replicaset')) return `needs ${r.topologies.join('/')}`;
    if (r.serverless === 'require') return 'needs serverless';
    if (r.auth === true) return 'needs auth';
    if (r.csfle) return 'needs CSFLE';
    if (r.serverParameters) return 'needs server parameters';
    return null;
  });
  return why.includes(null) ? null : why[0];
}

/** The documents of 'acme' as the spec wrote them: the tenant field taken off. */
function untenanted(v) {
  if (Buffer.isBuffer(v)) return v;
  if (v && typeof v === 'object' && !Array.isArray(v) && !v._bsontype && Object.getPrototypeOf(v) === Object.prototype) {
    const { [FIELD]: _t, ...rest } = v;
    return rest;
  }
  return v;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !v._bsontype && !(v instanceof Date) && !Buffer.isBuffer(v) && !(v instanceof Uint8Array);

function num(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && (v._bsontype === 'Long' || v._bsontype === 'Int32' || v._bsontype === 'Double')) return Number(v.valueOf ? v.valueOf() : v);
  if (v && v._bsontype === 'Decimal128') return Number(v.toString());
  return undefined;
}

const TYPES = {
  double: (v) => typeof v === 'number' || v?._bsontype === 'Double',
  string: (v) => typeof v === 'string',
  object: (v) => isObject(v),
  array: (v) => Array.isArray(v),
  binData: (v) => v?._bsontype === 'Binary' || Buffer.isBuffer(v),
  objectId: (v) => v?._bsontype === 'ObjectId',
  bool: (v) => typeof v === 'boolean',
  date: (v) => v instanceof Date,
  null: (v) => v === null,
  regex: (v) => v instanceof RegExp || v?._bsontype === 'BSONRegExp',
  int: (v) => (typeof v === 'number' && Number.isInteger(v)) || v?._bsontype === 'Int32',
  timestamp: (v) => v?._bsontype === 'Timestamp',
  long: (v) => v?._bsontype === 'Long' || typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)),
  decimal: (v) => v?._bsontype === 'Decimal128',
  number: (v) => num(v) !== undefined,
};

/**
 * Whether `actual` matches `expected` under the unified format's rules ($$ operators; extra
 * fields allowed in root-level documents only); returns the first mismatch's path, or null.
 */
function match(expected, actual, at = '', root = true, entities = {}) {
  if (isObject(expected)) {
    const keys = Object.keys(expected);
    if (keys.length === 1 && keys[0].startsWith('$$')) {
      const op = keys[0];
      const arg = expected[op];
      switch (op) {
        case '$$exists':
          return (actual !== undefined) === arg ? null : `${at}: exists should be ${arg}`;
        case '$$type': {
          const list = Array.isArray(arg) ? arg : [arg];
          return list.some((t) => TYPES[t] && TYPES[t](actual)) ? null : `${at}: type ${list} expected, got ${typeof actual}`;
        }
        case '$$unsetOrMatches':
          return actual === undefined ? null : match(arg, actual, at, root, entities);
        case '$$matchesEntity':
          return match(entities[arg], actual, at, root, entities);
        case '$$matchesHexBytes':
          return Buffer.from(actual.buffer || actual).toString('hex') === arg.toLowerCase() ? null : `${at}: bytes`;
        case '$$lte':
          return num(actual) <= num(arg) ? null : `${at}: ${actual} > ${arg}`;
        case '$$matchAsDocument':
          return match(arg, typeof actual === 'string' ? EJSON.parse(actual) : actual, at, false, entities);
        case '$$matchAsRoot':
          return match(arg, actual, at, true, entities);
        case '$$sessionLsid':
          return null;
        default:
          return `${at}: unknown operator ${op}`;
      }
    }
    if (!isObject(actual)) return `${at}: expected a document, got ${EJSON.stringify(actual)}`;
    for (const k of keys) {
      const m = match(expected[k], actual[k], `${at}.${k}`, false, entities);
      if (m) return m;
    }
    if (!root) {
      const extra = Object.keys(actual).filter((k) => !(k in expected) && actual[k] !== undefined);
      if (extra.length) return `${at}: extra fields ${extra.join(', ')}`;
    }
    return null;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${at}: expected an array, got ${EJSON.stringify(actual)}`;
    if (actual.length !== expected.length) return `${at}: ${actual.length} items, expected ${expected.length}`;
    // The documents of a root-level array (a find's result) are root-level documents too.
    for (let i = 0; i < expected.length; i++) {
      const m = match(expected[i], actual[i], `${at}[${i}]`, root, entities);
      if (m) return m;
    }
    return null;
  }
  const e = num(expected);
  if (e !== undefined) return num(actual) === e ? null : `${at}: ${EJSON.stringify(actual)} != ${EJSON.stringify(expected)}`;
  if (expected && expected._bsontype) {
    return actual && EJSON.stringify(actual) === EJSON.stringify(expected) ? null : `${at}: ${EJSON.stringify(actual)} != ${EJSON.stringify(expected)}`;
  }
  if (expected instanceof Date) return actual instanceof Date && actual.getTime() === expected.getTime() ? null : `${at}: date`;
  return actual === expected ? null : `${at}: ${EJSON.stringify(actual)} != ${EJSON.stringify(expected)}`;
}

// The arguments each operation takes by position; the rest are its options.
const POSITIONAL = {
  insertOne: ['document'],
  insertMany: ['documents'],
  find: ['filter'],
  findOne: ['filter'],
  aggregate: ['pipeline'],
  countDocuments: ['filter'],
  estimatedDocumentCount: [],
  distinct: ['fieldName', 'filter'],
  updateOne: ['filter', 'update'],
  updateMany: ['filter', 'update'],
  replaceOne: ['filter', 'replacement'],
  deleteOne: ['filter'],
  deleteMany: ['filter'],
  findOneAndDelete: ['filter'],
  findOneAndReplace: ['filter', 'replacement'],
  findOneAndUpdate: ['filter', 'update'],
  bulkWrite: ['requests'],
  createIndex: ['keys'],
  dropIndex: ['name'],
  listIndexes: [],
  createFindCursor: ['filter'],
  count: ['filter'],
};

/** Runs one operation on collection `c` as the tenant; resolves to its result. */
async function operate(c, op, entities) {
  const args = { ...(op.arguments || {}) };
  const positional = POSITIONAL[op.name];
  if (!positional) throw new RunnerGap(`operation ${op.name} on a collection is not in the runner`);
  const given = positional.map((k) => args[k]);
  for (const k of positional) delete args[k];
  if (args.session) args.session = entities[args.session];
  if (args.returnDocument) args.returnDocument = String(args.returnDocument).toLowerCase();
  const options = Object.keys(args).length ? args : undefined;
  switch (op.name) {
    case 'find':
      return (await c.find(given[0], options).toArray()).map(untenanted);
    case 'createFindCursor':
      return c.find(given[0], options);
    case 'aggregate':
      return (await c.aggregate(given[0], options).toArray()).map(untenanted);
    case 'findOne':
    case 'findOneAndDelete':
    case 'findOneAndReplace':
    case 'findOneAndUpdate':
      return untenanted(await c[op.name](...given, options));
    case 'count':
      return c.count(...given, options);
    default:
      return c[op.name](...given, options);
  }
}

class RunnerGap extends Error {}

function isClientError(e) {
  return e instanceof TenantError || e instanceof TypeError || (e && /^(MongoAPIError|MongoDriverError|MongoCompatibilityError|BSONError|MongoInvalidArgumentError)$/.test(e.name)) || !(e && e.code !== undefined && typeof e.code === 'number');
}

/** The mismatch between error `e` and the expectation, or null. */
function checkError(expect, e, entities) {
  if (!e) return 'no error';
  if (expect.isClientError && !isClientError(e)) return `expected a client error, got ${e.name} ${e.code}`;
  if (expect.isClientError === false && isClientError(e)) return `expected a server error, got ${e.name}: ${e.message}`;
  if (expect.errorContains && !String(e.message).toLowerCase().includes(expect.errorContains.toLowerCase())) {
    return `message "${e.message}" lacks "${expect.errorContains}"`;
  }
  if (expect.errorCode !== undefined && e.code !== expect.errorCode) return `code ${e.code}, expected ${expect.errorCode}`;
  if (expect.errorCodeName !== undefined && e.codeName !== expect.errorCodeName) return `codeName ${e.codeName}, expected ${expect.errorCodeName}`;
  for (const l of expect.errorLabelsContain || []) if (!e.hasErrorLabel || !e.hasErrorLabel(l)) return `no label ${l}`;
  for (const l of expect.errorLabelsOmit || []) if (e.hasErrorLabel && e.hasErrorLabel(l)) return `label ${l}`;
  if (expect.expectResult !== undefined) {
    const m = match(expect.expectResult, e.result, 'error.result', true, entities);
    if (m) return m;
  }
  if (expect.errorResponse !== undefined) {
    const m = match(expect.errorResponse, e.errorResponse, 'errorResponse', true, entities);
    if (m) return m;
  }
  return null;
}

module.exports = { files, unmet, match, operate, checkError, untenanted, RunnerGap, TENANT, OTHER, FIELD, TenantFence, ObjectId, Long, Decimal128, Binary };
