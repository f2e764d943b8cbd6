'use strict';
// One random case: a collection method and its arguments, as tenant A would call it. A case is
// plain data (objects, arrays, strings, numbers, Dates, null) so it can be cloned, printed,
// shrunk and replayed.
//
// Flags the oracle reads:
//   ordered     the result order is total (compare in order, else as a multiset)
//   single      a single-document write without a total sort (which document it hits is the
//               server's choice; the oracle pins the reference to the scoped side's choice)
//   mustRefuse  holds a stage the contract says is refused; no reference run
//   tenantRefuse  'js' (server-side JavaScript the server would evaluate) or 'counter' ($meta
//               recordId/indexKey, $$CLUSTER_TIME): refused under a tenant, like mustRefuse;
//               under runAsSystem a 'js' case runs as usual (issue 12)
//   mustAgree   an issue-12 leak shape: the fence must answer as the reference does (a refusal
//               fails the case too)
//   mustFail    { kind, code }: the call must fail so (a document naming a key twice:
//               TENANT_VIOLATION or a TypeError; a system write naming an id the fence's
//               pattern refuses: TENANT_INVALID) and write nothing; no reference run
//
// Some arguments are not plain data: MinKey/MaxKey and Maps with String-object keys (issue 12's
// shapes); fuzz/clone.js copies them.

const { Rng, caseSeed } = require('./prng');
const { FIELD, A_IDS, FRESH_IDS, OTHER_IDS } = require('./dataset');
const { filter } = require('./gen/filter');
const { update, replacement, needsArrayFilters } = require('./gen/update');
const { pipeline, sortSpec } = require('./gen/pipeline');
const { TENANTS, anyValue } = require('./gen/values');
const { shapeCase } = require('./gen/shapes');

const COLLATIONS = [
  { locale: 'en', strength: 1 },
  { locale: 'en', strength: 2 },
  { locale: 'simple' },
  { locale: 'fr', caseFirst: 'upper' },
  { locale: 'en', strength: 1, alternate: 'shifted' },
];
const PROJECTIONS = [
  { x: 1, y: 1 },
  { tags: 0, sub: 0 },
  { _id: 0, x: 1, [FIELD]: 1 },
  { [FIELD]: 0 },
  { tags: { $slice: 1 } },
  { 'sub.arr': { $elemMatch: { n: { $gte: 1 } } } },
  { x: 1, z: { $concat: [{ $ifNull: ['$y', ''] }, `$${FIELD}`] } },
];
const HINTS = [{ x: 1 }, '_id_', { 'sub.k': 1, y: 1 }];
const DISTINCT_KEYS = ['x', 'y', 'tags', 'sub.k', 'sub.arr.n', FIELD, '_id', 'n', 'nope', 'sub'];

/** Query options shared by reads and writes: collation, hint, let (sets `ctx.vars`). */
function queryOptions(r, ctx, { hint = true, letVars = true } = {}) {
  const o = {};
  if (r.chance(0.15)) o.collation = r.pick(COLLATIONS);
  if (hint && r.chance(0.08)) o.hint = r.pick(HINTS);
  if (letVars && r.chance(0.1)) {
    o.let = { lt: r.pick(TENANTS.filter((t) => t !== null)), lx: r.int(0, 5) };
    ctx.vars = ['lt', 'lx'];
  }
  return o;
}

function newDoc(r) {
  const doc = {};
  const idChoice = r.int(0, 9);
  if (idChoice < 5) doc._id = r.pick(FRESH_IDS);
  else if (idChoice < 7) doc._id = r.pick(A_IDS);
  if (r.chance(0.3)) doc[FIELD] = r.pick(TENANTS);
  doc.x = r.int(0, 9);
  doc.y = r.pick(['new', 'apple', 'zz']);
  if (r.chance(0.3)) doc.tags = ['red', 'new'];
  if (r.chance(0.2)) doc.sub = { k: r.int(0, 3), arr: [{ n: 1, s: 'p' }] };
  if (r.chance(0.1)) doc.extra = anyValue(r);
  return doc;
}

function writeOptions(r, ctx, upd) {
  const o = queryOptions(r, ctx);
  if (upd !== undefined && needsArrayFilters(upd)) o.arrayFilters = [{ 'e.n': { $gte: r.int(0, 3) } }];
  // A write with maxTimeMS goes through the fence's bulkWrite path (src/binding/max_time.rs): the same
  // answers and errors as the plain path, checked against the driver's.
  if (r.chance(0.2)) o.maxTimeMS = 60000;
  return o;
}

/** A single-document write filter for bulkWrite, pinned to one _id so the hit document is known. */
function pinned(r, ctx) {
  const f = filter(r, 1, ctx);
  return { $and: [f, { _id: r.pick([...A_IDS, ...OTHER_IDS, ...FRESH_IDS]) }] };
}

function bulkOp(r) {
  const op = bulkOpBody(r);
  // Issue 12: a per-operation `collation: null` / `undefined` skipped the simple-collation pin,
  // so on a collection with a case-insensitive default tenant 'A' updated and deleted 'a''s.
  const [kind] = Object.keys(op);
  if (kind !== 'insertOne' && r.chance(0.25)) op[kind].collation = r.pick([null, undefined]);
  return op;
}

function bulkOpBody(r) {
  const ctx = {};
  return r.pick([
    () => ({ insertOne: { document: newDoc(r) } }),
    () => {
      const u = update(r);
      const op = { filter: pinned(r, ctx), update: u, upsert: r.chance(0.2) };
      if (needsArrayFilters(u)) op.arrayFilters = [{ 'e.n': { $gte: 1 } }];
      return { updateOne: op };
    },
    () => {
      const u = update(r);
      const op = { filter: filter(r, 0, ctx), update: u };
      if (needsArrayFilters(u)) op.arrayFilters = [{ 'e.n': { $gte: 1 } }];
      return { updateMany: op };
    },
    () => ({ replaceOne: { filter: pinned(r, ctx), replacement: replacement(r, A_IDS), upsert: r.chance(0.2) } }),
    () => ({ deleteOne: { filter: pinned(r, ctx) } }),
    () => ({ deleteMany: { filter: filter(r, 0, ctx) } }),
  ]);
}

const METHODS = {
  find(r) {
    const ctx = {};
    const o = queryOptions(r, ctx);
    let ordered = false;
    if (r.chance(0.5)) {
      ordered = r.chance(0.7);
      o.sort = sortSpec(r, ordered);
      if (ordered && r.chance(0.5)) o.limit = r.int(1, 4);
      if (ordered && r.chance(0.3)) o.skip = r.int(1, 3);
    }
    if (r.chance(0.3)) o.projection = r.pick(PROJECTIONS);
    const near = !o.sort && !o.hint && !o.collation;
    // Sometimes the cursor's sort/skip/limit/project chaining instead of the options.
    const chain = r.chance(0.3);
    return { method: 'find', args: [filter(r, 0, { text: !o.sort && !o.hint, near, vars: ctx.vars }), o], ordered, ...(chain ? { chain } : {}) };
  },
  findOne(r) {
    const ctx = {};
    const o = queryOptions(r, ctx);
    let ordered = false;
    if (r.chance(0.6)) {
      ordered = true;
      o.sort = sortSpec(r, true);
    }
    if (r.chance(0.2)) o.skip = r.int(1, 3);
    if (r.chance(0.3)) o.projection = r.pick(PROJECTIONS);
    return { method: 'findOne', args: [filter(r, 0, { vars: ctx.vars, text: !o.sort }), o], ordered };
  },
  countDocuments(r) {
    const ctx = {};
    const o = queryOptions(r, ctx, { letVars: false });
    if (r.chance(0.2)) o.limit = r.int(1, 4);
    if (r.chance(0.2)) o.skip = r.int(1, 3);
    return { method: 'countDocuments', args: [filter(r, 0, { text: true }), o] };
  },
  distinct(r) {
    const ctx = {};
    const o = queryOptions(r, ctx, { hint: false, letVars: false });
    return { method: 'distinct', args: [r.pick(DISTINCT_KEYS), filter(r, 0, { text: true }), o] };
  },
  aggregate(r) {
    const ctx = {};
    const o = queryOptions(r, ctx, { hint: false });
    if (r.chance(0.1)) o.allowDiskUse = true;
    const p = pipeline(r, ctx.vars || []);
    return { method: 'aggregate', args: [p.pipeline, o], ordered: p.ordered, mustRefuse: p.mustRefuse };
  },
  updateOne: (r) => updateCase(r, 'updateOne'),
  updateMany: (r) => updateCase(r, 'updateMany'),
  replaceOne(r) {
    const ctx = {};
    const o = queryOptions(r, ctx);
    if (r.chance(0.3)) o.upsert = true;
    return { method: 'replaceOne', args: [filter(r, 0, { vars: ctx.vars }), replacement(r, A_IDS), o], single: true };
  },
  deleteOne(r) {
    const ctx = {};
    const o = queryOptions(r, ctx);
    return { method: 'deleteOne', args: [filter(r, 0, { vars: ctx.vars, text: true }), o], single: true };
  },
  deleteMany(r) {
    const ctx = {};
    const o = queryOptions(r, ctx);
    return { method: 'deleteMany', args: [filter(r, 0, { vars: ctx.vars, text: true }), o] };
  },
  findOneAndUpdate(r) {
    const u = update(r);
    return findOneAnd(r, 'findOneAndUpdate', u, (o) => writeOptions(r, o.ctx, u));
  },
  findOneAndReplace(r) {
    return findOneAnd(r, 'findOneAndReplace', replacement(r, A_IDS));
  },
  findOneAndDelete(r) {
    return findOneAnd(r, 'findOneAndDelete');
  },
  estimatedDocumentCount() {
    return { method: 'estimatedDocumentCount', args: [{}] };
  },
  insertOne(r) {
    return { method: 'insertOne', args: [newDoc(r)] };
  },
  insertMany(r) {
    const docs = Array.from({ length: r.int(1, 3) }, () => newDoc(r));
    return { method: 'insertMany', args: [docs, r.chance(0.3) ? { ordered: false } : {}] };
  },
  bulkWrite(r) {
    const ops = Array.from({ length: r.int(1, 4) }, () => bulkOp(r));
    return { method: 'bulkWrite', args: [ops, r.chance(0.3) ? { ordered: false } : {}] };
  },
};

function updateCase(r, method) {
  const ctx = {};
  const u = update(r);
  const o = writeOptions(r, ctx, u);
  if (r.chance(0.25)) o.upsert = true;
  return { method, args: [filter(r, 0, { vars: ctx.vars, text: true }), u, o], single: method === 'updateOne' };
}

function findOneAnd(r, method, body, optionsFor) {
  const ctx = {};
  const o = optionsFor ? optionsFor({ ctx }) : queryOptions(r, ctx);
  const sorted = r.chance(0.6);
  if (sorted) o.sort = sortSpec(r, true);
  if (r.chance(0.25)) o.projection = r.pick(PROJECTIONS);
  if (method !== 'findOneAndDelete') {
    if (r.chance(0.5)) o.returnDocument = r.pick(['before', 'after']);
    if (r.chance(0.25)) o.upsert = true;
  }
  const args = [filter(r, 0, { vars: ctx.vars }), ...(body === undefined ? [] : [body]), o];
  return { method, args, single: !sorted };
}

const WEIGHTS = [
  [8, 'find'],
  [4, 'findOne'],
  [4, 'countDocuments'],
  [3, 'distinct'],
  [0.5, 'estimatedDocumentCount'],
  [12, 'aggregate'],
  [5, 'updateOne'],
  [5, 'updateMany'],
  [3, 'replaceOne'],
  [3, 'deleteOne'],
  [3, 'deleteMany'],
  [3, 'findOneAndUpdate'],
  [2, 'findOneAndReplace'],
  [2, 'findOneAndDelete'],
  [2, 'insertOne'],
  [2, 'insertMany'],
  [4, 'bulkWrite'],
];

/** Methods that can write (the oracle resets state after them). */
const WRITES = new Set(['updateOne', 'updateMany', 'replaceOne', 'deleteOne', 'deleteMany', 'findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete', 'insertOne', 'insertMany', 'bulkWrite']);

/** Share of cases drawn from the issue-12 shapes (gen/shapes.js). */
const SHAPE_RATE = 0.1;

/** Operators that run server-side JavaScript. */
const JS_OPERATORS = new Set(['$where', '$function', '$accumulator']);

function holdsJs(value, depth = 0) {
  if (depth > 60 || !value || typeof value !== 'object' || value._bsontype || value instanceof Date || value instanceof Map) return false;
  if (Array.isArray(value)) return value.some((v) => holdsJs(v, depth + 1));
  return Object.entries(value).some(([k, v]) => JS_OPERATORS.has(k) || holdsJs(v, depth + 1));
}

/**
 * Does the case ask the server to evaluate JavaScript? Only what the server evaluates counts
 * (filters, pipelines, pipeline updates, options): documents written and operator updates are data.
 */
function evaluatesJs(c) {
  const a = c.args;
  const evaluated = (update) => (Array.isArray(update) ? [update] : []);
  switch (c.method) {
    case 'insertOne':
    case 'insertMany':
    case 'estimatedDocumentCount':
      return false;
    case 'distinct':
      return holdsJs([a[1], a[2]]);
    case 'updateOne':
    case 'updateMany':
    case 'findOneAndUpdate':
      return holdsJs([a[0], ...evaluated(a[1]), a[2]]);
    case 'replaceOne':
    case 'findOneAndReplace':
      return holdsJs([a[0], a[2]]);
    case 'bulkWrite':
      return a[0].some((op) => {
        const body = Object.values(op)[0] || {};
        return holdsJs([body.filter, ...evaluated(body.update), body.arrayFilters]);
      });
    default:
      return holdsJs(a);
  }
}

/** Case number `index` of the run seeded `seed`. */
function generate(seed, index, { counters = true } = {}) {
  // The shapes draw from their own stream, so the other cases stay what they were.
  const s = new Rng(caseSeed((seed ^ 0x12b17) >>> 0, index));
  if (s.chance(SHAPE_RATE)) return { seed, index, shape: true, ...shapeCase(s, { counters }) };
  const r = new Rng(caseSeed(seed, index));
  const method = r.weighted(WEIGHTS);
  const c = { seed, index, ...METHODS[method](r) };
  // Issue 16: some cases run on the shared collection (reads see it whole; a tenant's writes are
  // refused; runAsSystem's are compared). From a stream of its own, so other cases stay as they were.
  if (!c.single && new Rng(caseSeed((seed ^ 0x5ba7ed) >>> 0, index)).chance(0.12)) c.coll = 'plans';
  // $where in a filter: refused under a tenant since issue 12 (it ran on every document).
  if (!c.mustRefuse && evaluatesJs(c)) c.tenantRefuse = 'js';
  return c;
}

module.exports = { generate, WRITES, METHODS, evaluatesJs };
