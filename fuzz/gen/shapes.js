'use strict';
// The shapes the red-team rounds of issue 12 found holes with, as cases of the ordinary methods:
//
//   leak     an `_id` predicate (`{_id: {$gte: MinKey}}` …) and often `hint: {_id: 1}` next to
//            a `$expr` that ERRORS on a document holding `secret` (only the neighbours' do) and
//            is null/false/true without error on A's. The plan scans the shared _id index, so
//            unless the fence keeps the caller's expression off other tenants' documents the
//            server evaluates it there and fails (quoting the secret), or fails only when a
//            neighbour's secret has a chosen value (a one-bit oracle). The reference holds only
//            A's documents and never errors: flag `mustAgree` (a refusal fails too).
//            find, findOne, countDocuments, distinct (no hint: MongoDB 6.0's distinct takes
//            none), updates, deletes, findOneAnd*, bulkWrite, aggregate (leading $match, a later
//            $match the server coalesces, $lookup / $unionWith sub-pipelines).
//   js       server-side JavaScript ($where, $function, $accumulator) wherever the server
//            evaluates it: flag `tenantRefuse: 'js'` (refused with TENANT_VIOLATION under a
//            tenant; run as usual under runAsSystem).
//   counter  `{$meta: 'recordId'}`, `{$meta: 'indexKey'}`, `$$CLUSTER_TIME`: flag
//            `tenantRefuse: 'counter'` (refused under a tenant; not generated under runAsSystem,
//            where the two sides' record ids differ by design).
//   bulk-null  bulkWrite operations with `collation: null` / `undefined` (mustAgree)
//   twice    a document naming a key twice (a Map with keys `new String('tenantId')` and
//            'tenantId', or another key) in every write path: flag `mustFail` ({kind, code}:
//            TENANT_VIOLATION for the tenant field, TypeError for any other key), nothing written.

const { MinKey, MaxKey } = require('mongodb');
const { FIELD, A_IDS, OTHER_IDS, SECRETS } = require('../dataset');
const { filter } = require('./filter');
const { boolExpr } = require('./values');

/** Expressions that fail on a document holding `secret` and never on A's (which lack it). */
const LEAKY = [
  // null on A's documents; on a neighbour's: "Failed to parse number '#078-05-1120'".
  () => ({ $toInt: { $concat: ['#', '$secret'] } }),
  // A one-bit oracle: fails only when a neighbour's secret has the chosen value. The failing
  // branch reads a field, so the server cannot fold it into a constant.
  (r) => ({ $cond: [{ $eq: ['$secret', r.pick([...SECRETS, 'nobody-has-this'])] }, { $toInt: { $concat: ['x', { $toString: '$_id' }] } }, false] }),
  // The whole document flattened into the message, only where a secret exists.
  () => ({
    $cond: [
      { $gt: ['$secret', null] },
      { $toInt: { $reduce: { input: { $objectToArray: '$$ROOT' }, initialValue: '#', in: { $concat: ['$$value', '|', '$$this.k'] } } } },
      false,
    ],
  }),
  // True on every A document; a division by zero on a neighbour's.
  () => ({ $gt: [{ $divide: [1, { $cond: [{ $gt: ['$secret', null] }, 0, 1] }] }, 0] }),
  // Inside a logical operator next to an ordinary predicate.
  (r) => ({ [r.pick(['$and', '$or'])]: [boolExpr(r, 1, []), { $toInt: { $concat: ['#', '$secret'] } }] }),
];

/** Predicates on _id that make the planner scan the shared _id index. */
const ID_PREDICATES = [
  () => ({ _id: { $gte: new MinKey() } }),
  () => ({ _id: { $lte: new MaxKey() } }),
  () => ({ _id: { $gt: -1000000 } }),
  () => ({ _id: { $in: [...A_IDS.slice(0, 4), ...OTHER_IDS] } }),
  () => ({ _id: { $ne: -1 } }),
];

const HINTS = [{ _id: 1 }, { _id: 1 }, '_id_'];
/** Paths an extra clause may name: never the tenant field (the case must not be refused). */
const SAFE_PATHS = ['x', 'y', 'tags', 'sub.k', 'n', 'd', 'parent', 'ref', 'nope'];

function leaky(r) {
  return r.pick(LEAKY.map((f) => () => f(r)));
}

/** `{<_id predicate>, $expr: <leaky>}`, sometimes beside (or ANDed with) an ordinary clause. */
function leakFilter(r) {
  const base = { ...r.pick(ID_PREDICATES), $expr: leaky(r) };
  if (r.chance(0.5)) return base;
  const extra = filter(r, 1, { noTop: true, paths: SAFE_PATHS });
  return r.chance(0.5) ? { $and: [extra, base] } : { ...extra, ...base };
}

/**
 * Options with the _id hint some of the time: refused under a tenant of strategy 'field'
 * (finding 9), so the rest runs the same shape on the tenant's own index.
 */
function hinted(r, extra = {}) {
  return r.chance(0.4) ? { hint: r.pick(HINTS), ...extra } : { ...extra };
}

const SAFE_UPDATES = [() => ({ $set: { seen: 1 } }), () => ({ $inc: { x: 1 } }), () => [{ $set: { seen: '$x' } }], () => ({ $set: { y: 'leak' } })];

/** A later $match the server moves or coalesces into the first stage. */
function laterMatch(r, f) {
  return r.pick([
    () => [{ $sort: { _id: 1 } }, { $match: f }],
    () => [{ $addFields: { w: 1 } }, { $match: f }],
    () => [{ $match: { x: { $gte: 0 } } }, { $match: f }],
    () => [{ $project: { x: 1, y: 1, [FIELD]: 1, secret: 1 } }, { $match: f }],
  ]);
}

/** A leak case of `method` (one of the generator's methods). */
const LEAK = {
  find: (r) => {
    const sorted = r.chance(0.5);
    return { args: [leakFilter(r), hinted(r, sorted ? { sort: { _id: 1 } } : {})], ordered: sorted };
  },
  findOne: (r) => ({ args: [leakFilter(r), hinted(r, { sort: { _id: 1 } })], ordered: true }),
  countDocuments: (r) => ({ args: [leakFilter(r), hinted(r)] }),
  distinct: (r) => ({ args: [r.pick(['x', 'y', 'secret', '_id']), leakFilter(r), {}] }),
  // No upserts: MongoDB refuses $expr in an upsert's filter before it reads a document.
  updateOne: (r) => ({ args: [leakFilter(r), r.pick(SAFE_UPDATES), hinted(r)], single: true }),
  updateMany: (r) => ({ args: [leakFilter(r), r.pick(SAFE_UPDATES), hinted(r)] }),
  replaceOne: (r) => ({ args: [leakFilter(r), { y: 'replaced', x: 9 }, hinted(r)], single: true }),
  deleteOne: (r) => ({ args: [leakFilter(r), hinted(r)], single: true }),
  deleteMany: (r) => ({ args: [leakFilter(r), hinted(r)] }),
  findOneAndUpdate: (r) => ({ args: [leakFilter(r), r.pick(SAFE_UPDATES), hinted(r, { sort: { _id: 1 }, returnDocument: r.pick(['before', 'after']) })] }),
  findOneAndReplace: (r) => ({ args: [leakFilter(r), { y: 'replaced' }, hinted(r, { sort: { _id: 1 } })] }),
  findOneAndDelete: (r) => ({ args: [leakFilter(r), hinted(r, { sort: { _id: 1 } })] }),
  bulkWrite: (r) => {
    const ops = [
      () => ({ updateMany: { filter: leakFilter(r), update: r.pick(SAFE_UPDATES), ...hinted(r) } }),
      () => ({ deleteMany: { filter: leakFilter(r), ...hinted(r) } }),
      () => ({ deleteOne: { filter: { $and: [leakFilter(r), { _id: r.pick(A_IDS) }] }, ...hinted(r) } }),
      () => ({ updateOne: { filter: { $and: [leakFilter(r), { _id: r.pick(A_IDS) }] }, update: { $set: { seen: 2 } }, ...hinted(r) } }),
    ];
    return { args: [Array.from({ length: r.int(1, 3) }, () => r.pick(ops)), r.chance(0.3) ? { ordered: false } : {}] };
  },
  aggregate: (r) => {
    const f = leakFilter(r);
    const sortJ = { $set: { j: { $sortArray: { input: '$j', sortBy: { _id: 1 } } } } };
    return r.pick([
      () => ({ args: [[{ $match: f }, { $sort: { _id: 1 } }], hinted(r)], ordered: true }),
      () => ({ args: [[...laterMatch(r, f), { $sort: { _id: 1 } }], hinted(r)], ordered: true }),
      () => ({ args: [[{ $match: f }, { $count: 'c' }], hinted(r)], ordered: true }),
      () => ({
        args: [[{ $sort: { _id: 1 } }, { $limit: 2 }, { $lookup: { from: r.pick(['items', 'other']), pipeline: [{ $match: f }], as: 'j' } }, sortJ], {}],
        ordered: true,
      }),
      () => ({
        args: [[{ $sort: { _id: 1 } }, { $limit: 2 }, { $lookup: { from: 'other', localField: 'ref', foreignField: 'k', let: { r: '$ref' }, pipeline: [{ $match: f }], as: 'j' } }, sortJ], {}],
        ordered: true,
      }),
      () => ({ args: [[{ $match: { _id: 1 } }, { $unionWith: { coll: r.pick(['items', 'other']), pipeline: [{ $match: f }] } }, { $sort: { _id: 1 } }], {}], ordered: true }),
      () => ({ args: [[{ $facet: { a: [{ $match: f }, { $sort: { _id: 1 } }] } }], hinted(r)], ordered: true }),
      // Round 10: a join keyed on _id with the caller's conditions in its pipeline.
      () => ({
        args: [[{ $sort: { _id: 1 } }, { $limit: 2 }, { $lookup: { from: r.pick(['items', 'other']), localField: 'ref', foreignField: '_id', pipeline: [{ $match: f }], as: 'j' } }, sortJ], {}],
        ordered: true,
      }),
      // Round 9: a second join after a held expression $match needs a barrier of its own.
      () => ({
        args: [[{ $sort: { _id: 1 } }, { $limit: 1 }, { $unionWith: 'other' }, { $match: { $expr: true } }, { $unionWith: r.pick(['items', 'other']) }, { $match: f }, { $sort: { _id: 1 } }], {}],
        ordered: true,
      }),
      // Red-team round 8: the server moves a branch's $match into a join of the same branch.
      () => ({
        args: [[{ $sort: { _id: 1 } }, { $limit: 1 }, { $facet: { a: [{ $unionWith: r.pick(['items', 'other']) }, { $match: f }, { $sort: { _id: 1 } }] } }], {}],
        ordered: true,
      }),
    ]);
  },
};

// ---- server-side JavaScript and shared counters (refused under a tenant) ----

const FN = () => ({ $function: { body: 'function(s) { return s === "078-05-1120"; }', args: [{ $ifNull: ['$secret', ''] }], lang: 'js' } });
const ACC = () => ({
  $accumulator: {
    init: 'function() { return 0; }',
    accumulate: 'function(s, x) { return s + (x || 0); }',
    accumulateArgs: ['$x'],
    merge: 'function(a, b) { return a + b; }',
    lang: 'js',
  },
});
const WHERE = () => ({ $where: 'this.secret === "078-05-1120" || this.x > 3' });

/** A case holding server-side JavaScript where the server evaluates it. */
function jsCase(r) {
  const idf = () => ({ ...r.pick(ID_PREDICATES) });
  const c = r.pick([
    () => ({ method: 'find', args: [{ ...idf(), ...WHERE() }, hinted(r)] }),
    () => ({ method: 'find', args: [{ ...idf(), $expr: FN() }, hinted(r)] }),
    () => ({ method: 'find', args: [{}, { projection: { x: 1, f: FN() } }] }),
    () => ({ method: 'findOne', args: [{ $and: [{ x: { $gte: 0 } }, WHERE()] }, { sort: { _id: 1 } }], ordered: true }),
    () => ({ method: 'countDocuments', args: [{ $expr: FN() }, hinted(r)] }),
    () => ({ method: 'distinct', args: ['x', { $or: [WHERE(), { x: 1 }] }, {}] }),
    () => ({ method: 'updateMany', args: [{ ...idf(), $expr: FN() }, { $set: { seen: 1 } }, hinted(r)] }),
    () => ({ method: 'updateOne', args: [{ _id: 1 }, [{ $set: { f: FN() } }], {}] }),
    () => ({ method: 'deleteMany', args: [WHERE(), hinted(r)] }),
    () => ({ method: 'findOneAndUpdate', args: [{ $expr: FN() }, { $set: { seen: 1 } }, { sort: { _id: 1 } }] }),
    () => ({ method: 'findOneAndDelete', args: [WHERE(), { sort: { _id: 1 } }] }),
    () => ({ method: 'aggregate', args: [[{ $match: { ...idf(), $expr: FN() } }, { $sort: { _id: 1 } }], hinted(r)], ordered: true }),
    () => ({ method: 'aggregate', args: [[{ $project: { x: 1, f: FN() } }, { $sort: { _id: 1 } }], {}], ordered: true }),
    () => ({ method: 'aggregate', args: [[{ $group: { _id: null, s: ACC() } }], {}], ordered: true }),
    () => ({ method: 'aggregate', args: [[{ $sort: { _id: 1 } }, { $limit: 1 }, { $lookup: { from: 'other', pipeline: [{ $match: WHERE() }], as: 'j' } }], {}], ordered: true }),
    () => ({ method: 'aggregate', args: [[{ $sort: { _id: 1 } }, { $match: WHERE() }], {}], ordered: true }),
    () => ({ method: 'bulkWrite', args: [[{ deleteMany: { filter: { $expr: FN() } } }, { updateMany: { filter: WHERE(), update: { $set: { seen: 3 } } } }], {}] }),
    () => ({ method: 'find', args: [{ x: 1 }, { let: { v: FN() } }] }),
  ]);
  return { ...c, tenantRefuse: 'js' };
}

/** A case reading a counter every tenant's writes move. */
function counterCase(r) {
  const recordId = { $meta: 'recordId' };
  const indexKey = { $meta: 'indexKey' };
  const c = r.pick([
    () => ({ method: 'find', args: [{}, { projection: { r: recordId } }] }),
    () => ({ method: 'find', args: [{ x: { $gte: 0 } }, { projection: { x: 1, k: indexKey }, hint: { x: 1 } }] }),
    () => ({ method: 'findOne', args: [{}, { projection: { r: recordId }, sort: { _id: 1 } }], ordered: true }),
    () => ({ method: 'findOneAndUpdate', args: [{ _id: 1 }, { $set: { seen: 1 } }, { projection: { r: recordId } }] }),
    () => ({ method: 'findOneAndDelete', args: [{ _id: 2 }, { projection: { r: recordId } }] }),
    () => ({ method: 'aggregate', args: [[{ $project: { r: recordId } }], {}] }),
    () => ({ method: 'aggregate', args: [[{ $match: { x: { $gte: 0 } } }, { $project: { k: indexKey } }], {}] }),
    () => ({ method: 'aggregate', args: [[{ $set: { t: '$$CLUSTER_TIME' } }], {}] }),
    () => ({ method: 'aggregate', args: [[{ $match: { $expr: { $gt: ['$$CLUSTER_TIME', null] } } }], {}] }),
    () => ({ method: 'aggregate', args: [[{ $sort: { _id: 1 } }, { $limit: 1 }, { $lookup: { from: 'other', pipeline: [{ $project: { r: recordId } }], as: 'j' } }], {}] }),
    () => ({ method: 'updateOne', args: [{ _id: 3 }, [{ $set: { t: '$$CLUSTER_TIME' } }], {}] }),
    () => ({ method: 'updateMany', args: [{}, [{ $set: { t: { $toString: '$$CLUSTER_TIME' } } }], {}] }),
    () => ({ method: 'findOneAndUpdate', args: [{ _id: 4 }, [{ $set: { t: '$$CLUSTER_TIME' } }], {}] }),
    () => ({ method: 'bulkWrite', args: [[{ updateOne: { filter: { _id: 5 }, update: [{ $set: { t: '$$CLUSTER_TIME' } }] } }], {}] }),
  ]);
  return { ...c, tenantRefuse: 'counter' };
}

// ---- documents naming a key twice ----

/* eslint-disable no-new-wrappers */
/** A Map naming `key` twice: once as a String object, once as a string (js-bson writes both). */
function twice(r, key, values, rest = {}) {
  const entries = [[new String(key), values[0]], [key, values[1]]];
  if (r.chance(0.5)) entries.reverse();
  const m = new Map(r.chance(0.5) ? entries : [...Object.entries(rest), ...entries]);
  for (const [k, v] of Object.entries(rest)) if (!m.has(k)) m.set(k, v);
  return m;
}
/* eslint-enable no-new-wrappers */

function twiceDoc(r) {
  const tenant = r.chance(0.6);
  if (tenant) {
    const pair = r.pick([['B', 'A'], ['A', 'B'], ['A', 'A'], [['A', 'B'], 'A'], ['a', 'A']]);
    return { doc: twice(r, FIELD, pair, { x: 7, y: 'twice' }), want: { kind: 'tenant', code: 'TENANT_VIOLATION' } };
  }
  const key = r.pick(['x', 'y', '_id', 'sub']);
  const values = key === '_id' ? [60, 61] : key === 'sub' ? [{ k: 1 }, { k: 2 }] : [1, 2];
  const doc = r.chance(0.25) ? { x: 7, nested: twice(r, key, values) } : twice(r, key, values, { y: 'twice' });
  return { doc, want: { kind: 'type', code: null } };
}

/** A write whose document names a key twice. */
function twiceCase(r) {
  const { doc, want } = twiceDoc(r);
  const ok = { x: 8, y: 'fine' };
  const c = r.pick([
    () => ({ method: 'insertOne', args: [doc] }),
    () => ({ method: 'insertMany', args: [[ok, doc], r.chance(0.5) ? { ordered: false } : {}] }),
    () => ({ method: 'bulkWrite', args: [[{ insertOne: { document: ok } }, { insertOne: { document: doc } }], r.chance(0.5) ? { ordered: false } : {}] }),
    () => ({ method: 'bulkWrite', args: [[{ deleteOne: { filter: { _id: 1 } } }, { replaceOne: { filter: { _id: 2 }, replacement: doc, upsert: r.chance(0.5) } }], { ordered: false }] }),
    () => ({ method: 'replaceOne', args: [{ _id: r.pick([1, 50]) }, doc, r.chance(0.5) ? { upsert: true } : {}] }),
    () => ({ method: 'findOneAndReplace', args: [{ _id: r.pick([2, 51]) }, doc, { upsert: true }] }),
    () => ({ method: 'updateOne', args: [{ _id: 52 }, { $setOnInsert: doc }, { upsert: true }] }),
    () => ({ method: 'updateMany', args: [{}, { $set: doc }, {}] }),
  ]);
  return { ...c, mustFail: want };
}

// ---- bulkWrite operations with `collation: null` / `undefined` ----

/**
 * Issue 12: a bulkWrite operation's `collation: null` (or `undefined`) skipped the pin to the
 * simple collation, so on a collection re-created with a case-insensitive default (the
 * collation-stale mode) tenant 'A' updated and deleted 'a''s documents. Plain filters and
 * updates that do not name the tenant field, so the fence answers them.
 */
function bulkNullCase(r) {
  const f = () => filter(r, 1, { noTop: true, paths: SAFE_PATHS });
  const c = () => ({ collation: r.pick([null, undefined]) });
  const ops = [
    () => ({ updateMany: { filter: f(), update: r.pick(SAFE_UPDATES), ...c() } }),
    () => ({ deleteMany: { filter: f(), ...c() } }),
    () => ({ updateOne: { filter: { $and: [f(), { _id: r.pick(A_IDS) }] }, update: r.pick(SAFE_UPDATES), ...c() } }),
    () => ({ deleteOne: { filter: { _id: r.pick([...A_IDS, ...OTHER_IDS]) }, ...c() } }),
    () => ({ replaceOne: { filter: { _id: r.pick(A_IDS), y: r.pick(['apple', 'APPLE', 'banana']) }, replacement: { y: 'replaced' }, ...c() } }),
    () => ({ updateMany: { filter: {}, update: { $set: { hit: 1 } }, ...c() } }),
  ];
  return { method: 'bulkWrite', args: [Array.from({ length: r.int(1, 3) }, () => r.pick(ops)), r.chance(0.3) ? { ordered: false } : {}], mustAgree: true };
}

/**
 * One issue-12 shape (the method is chosen here). `kinds`: which families may be drawn
 * (a mode leaves out what does not apply to it).
 */
function shapeCase(r, { counters = true } = {}) {
  const family = r.weighted([
    [6, 'leak'],
    [1.5, 'js'],
    [counters ? 1 : 0, 'counter'],
    [1.5, 'twice'],
    [1, 'bulk-null'],
  ]);
  if (family === 'bulk-null') return bulkNullCase(r);
  if (family === 'js') return jsCase(r);
  if (family === 'counter') return counterCase(r);
  if (family === 'twice') return twiceCase(r);
  const method = r.pick([...Object.keys(LEAK), 'aggregate', 'aggregate', 'find', 'countDocuments']);
  // With a hint (none leads with the tenant field) the oracle expects a refusal under a tenant
  // of strategy 'field' (fuzz/oracle.js, offTenantHint); without one it must agree.
  return { method, ...LEAK[method](r), mustAgree: true };
}

module.exports = { shapeCase, leakFilter, LEAKY, ID_PREDICATES };
