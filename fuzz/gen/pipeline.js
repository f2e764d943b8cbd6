'use strict';
// Aggregation pipelines: every allowed stage, nested $lookup / $unionWith / $graphLookup / $facet,
// and (rarely) a stage the contract says must be refused.
//
// The generator tracks two facts about the document stream so that results stay deterministic
// without loosening the oracle: `unique` (every document has a distinct _id) and `ordered` (the
// stream's order is total). $limit/$skip and order-dependent accumulators only follow a total
// sort; arrays built by joins are sorted by _id inside the pipeline itself; a $facet branch ends
// totally ordered. The top-level result is compared in order only when `ordered` holds at the end.

const { FIELD } = require('../dataset');
const { filter, tenantClause } = require('./filter');
const { valueExpr, boolExpr } = require('./values');

const SORT_FIELDS = ['x', 'y', 'sub.k', 'n', 'd', 'ref', FIELD];

/** Stages that must be refused wherever they appear (rule 4 of the contract). */
const REFUSED = [
  () => ({ $out: 'fuzz_out' }),
  () => ({ $merge: { into: 'fuzz_out' } }),
  () => ({ $collStats: { count: {} } }),
  () => ({ $indexStats: {} }),
  () => ({ $currentOp: {} }),
  () => ({ $documents: [{ [FIELD]: 'B' }] }),
  () => ({ $listSessions: {} }),
  () => ({ $planCacheStats: {} }),
  () => ({ $changeStream: {} }),
  () => ({ $lookup: { from: { db: 'admin', coll: 'system.users' }, pipeline: [], as: 'j' } }),
  () => ({ $unionWith: { pipeline: [{ $documents: [{ x: 1 }] }] } }),
  () => ({ $geoNear: { near: { type: 'Point', coordinates: [0, 0] }, distanceField: 'dist', key: 'loc' } }), // not first
];

/** A sort spec; `total` appends _id so ties cannot reorder. */
function sortSpec(r, total) {
  const spec = {};
  const n = r.int(1, 2);
  for (let i = 0; i < n; i++) spec[r.pick(SORT_FIELDS)] = r.pick([1, -1]);
  if (total) spec._id = r.pick([1, -1]);
  return spec;
}

function sortArray(field) {
  return { $set: { [field]: { $sortArray: { input: `$${field}`, sortBy: { _id: 1 } } } } };
}

/**
 * Generates stages into `out`. `st`: { coll, top, depth, ordered, unique, inSub (join
 * sub-pipeline: keep _id unique), inFacet, vars, refuse (set when a refused stage was placed),
 * computed (an expression stage ran: a field may now hold an array) }.
 */
function stages(r, st, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const first = out.length === 0;
    const alternatives = [
      [4, () => [{ $match: filter(r, 0, { text: first && st.top && st.coll === 'items', vars: st.vars }) }]],
      [2, () => project(r, st)],
      [2, () => computed(st, [{ [r.pick(['$addFields', '$set'])]: { [r.pick(['z', 'x', 'w', FIELD])]: valueExpr(r, 0, st.vars) } }])],
      [1, () => [{ $unset: r.pick(['tags', 'sub', ['n', 'd']]) }]],
      [2, () => group(r, st)],
      [3, () => sort(r, st)],
      [st.ordered ? 2 : 0, () => [{ [r.pick(['$limit', '$skip'])]: r.int(1, 4) }]],
      [0.5, () => countStage(st)],
      [st.inSub ? 0 : 1.5, () => unwind(r, st)],
      [1, () => sortByCount(r, st)],
      [1, () => bucket(r, st)],
      [st.depth < 2 && !st.inFacet ? 1.5 : 0, () => facet(r, st)],
      [st.depth < 2 ? 3 : 0, () => lookup(r, st)],
      [st.depth < 2 ? 1.5 : 0, () => graphLookup(r, st)],
      [st.depth < 2 && !st.inSub ? 1.5 : 0, () => unionWith(r, st)],
      [1, () => replaceRoot(r, st)],
      [0.7, () => [{ $redact: { $cond: { if: boolExpr(r, 0, st.vars), then: r.pick(['$$KEEP', '$$DESCEND']), else: '$$PRUNE' } } }]],
      [st.unique ? 0.7 : 0, () => windowFields(r, st)],
      [st.inSub ? 0 : 0.4, () => densify(st)],
      [0.5, () => fill(r, st)],
      [first && st.coll === 'items' && !st.inFacet ? 0.8 : 0, () => geoNear(r, st)],
      [0.25, () => refused(r, st, first)],
    ];
    out.push(...r.weighted(alternatives));
  }
  return out;
}

/** Marks that a stage computed field values (which may be arrays); returns `stages`. */
function computed(st, stages) {
  st.computed = true;
  return stages;
}

function project(r, st) {
  const spec = r.pick([
    { x: 1, y: 1, [FIELD]: 1 },
    { tags: 0, sub: 0 },
    { [FIELD]: 0 },
    { y: 1, t: `$${FIELD}` },
    { x: 1, sub: 1, e: valueExpr(r, 0, st.vars) },
  ]);
  st.computed = true;
  if (!st.inSub && r.chance(0.15)) {
    spec._id = 0; // documents no longer unique
    st.unique = false;
    st.ordered = false;
  }
  return [{ $project: spec }];
}

function group(r, st) {
  const spec = { _id: r.pick(['$x', '$y', '$sub.k', `$${FIELD}`, null, { a: '$x', b: '$ref' }, '$tags']) };
  spec.c = { $sum: 1 };
  if (r.chance(0.6)) spec.s = { [r.pick(['$sum', '$min', '$max', '$avg'])]: '$x' };
  if (r.chance(0.3)) spec.t = { $max: `$${FIELD}` };
  if (r.chance(0.3)) spec.cnt = { $count: {} };
  if (st.ordered && r.chance(0.5)) spec.p = { [r.pick(['$push', '$first', '$last'])]: r.pick(['$_id', '$y', `$${FIELD}`]) };
  // Group keys are distinct, but array keys ('$tags', or a field an expression may have made an
  // array) sort by their smallest / largest element, so a sort on such an _id is not total.
  st.unique = spec._id !== '$tags' && !st.computed;
  st.ordered = false;
  return [{ $group: spec }];
}

function sort(r, st) {
  const total = st.unique && r.chance(0.8);
  st.ordered = total;
  return [{ $sort: sortSpec(r, total) }];
}

function countStage(st) {
  st.unique = true;
  st.ordered = true;
  return [{ $count: 'c' }];
}

function unwind(r, st) {
  st.unique = false;
  return [r.pick([{ $unwind: '$tags' }, { $unwind: { path: '$sub.arr', includeArrayIndex: 'i', preserveNullAndEmptyArrays: r.chance(0.5) } }])];
}

function sortByCount(r, st) {
  st.unique = !st.computed; // see group()
  st.ordered = st.unique;
  return [{ $sortByCount: r.pick(['$y', `$${FIELD}`, '$x']) }, { $sort: { count: -1, _id: 1 } }];
}

function bucket(r, st) {
  st.unique = true;
  st.ordered = true;
  return [
    r.pick([
      { $bucket: { groupBy: { $ifNull: ['$ref', -1] }, boundaries: [-1, 1, 3, 10], default: 'other', output: { c: { $sum: 1 }, t: { $max: `$${FIELD}` } } } },
      { $bucketAuto: { groupBy: { $ifNull: ['$ref', -1] }, buckets: r.int(1, 3), output: { c: { $sum: 1 } } } },
    ]),
  ];
}

function facet(r, st) {
  const spec = {};
  const n = r.int(1, 3);
  for (let i = 0; i < n; i++) {
    const sub = { ...st, depth: st.depth + 1, inFacet: true, top: false };
    const body = stages(r, sub, r.int(0, 3));
    spec[`f${i}`] = finishOrdered(body, sub);
    if (sub.refuse) st.refuse = true;
  }
  st.unique = true;
  st.ordered = true;
  return [{ $facet: spec }];
}

/** Ends a sub-pipeline with a total order so its output array is deterministic. */
function finishOrdered(body, sub) {
  if (sub.ordered) return body;
  if (sub.unique) return [...body, { $sort: { _id: 1 } }];
  return [...body, { $group: { _id: null, c: { $sum: 1 } } }];
}

/** A join sub-pipeline over `coll`: keeps _id unique, ends sorted by _id. */
function subPipeline(r, st, coll, vars) {
  const sub = { coll, top: false, depth: st.depth + 1, ordered: false, unique: true, inSub: true, vars };
  const body = stages(r, sub, r.int(0, 3));
  if (sub.refuse) st.refuse = true;
  return finishOrdered(body, sub);
}

function lookup(r, st) {
  const from = r.pick(['other', 'other', 'items', 'plans']);
  const as = r.pick(['j', 'j2']);
  const form = r.int(0, 2);
  if (form === 0) {
    const [localField, foreignField] = r.pick([['ref', 'k'], ['_id', '_id'], ['parent', 'parent'], [FIELD, FIELD], ['x', 'w']]);
    return [{ $lookup: { from, localField, foreignField, as } }, sortArray(as)];
  }
  const vars = ['t', 'r'];
  const spec = { from, let: { t: `$${FIELD}`, r: '$ref' }, pipeline: subPipeline(r, st, from, vars), as };
  if (form === 2) Object.assign(spec, { localField: 'ref', foreignField: from === 'items' ? 'ref' : 'k' });
  if (r.chance(0.3)) spec.pipeline.unshift({ $match: { $expr: { [r.pick(['$eq', '$ne'])]: [`$${FIELD}`, '$$t'] } } });
  return [{ $lookup: spec }];
}

function graphLookup(r, st) {
  const from = r.pick(['items', 'other', 'plans']);
  const spec = {
    from,
    startWith: r.pick(['$parent', '$_id', '$ref']),
    connectFromField: r.pick(['parent', '_id']),
    connectToField: r.pick(['_id', 'parent', from === 'items' ? 'ref' : 'k']),
    as: 'g',
  };
  if (r.chance(0.5)) spec.maxDepth = r.int(0, 2);
  if (r.chance(0.3)) spec.depthField = 'dep';
  if (r.chance(0.5)) spec.restrictSearchWithMatch = r.chance(0.5) ? tenantClause(r) : filter(r, 1, { noTop: true, paths: ['x', 'k', 'v', 'parent', '_id', FIELD] });
  return [{ $graphLookup: spec }, sortArray('g')];
}

function unionWith(r, st) {
  st.unique = false;
  st.ordered = false;
  const coll = r.pick(['other', 'items', 'plans']);
  if (r.chance(0.3)) return [{ $unionWith: coll }];
  return [{ $unionWith: { coll, pipeline: subPipeline(r, st, coll, []) } }];
}

function replaceRoot(r, st) {
  const keep = r.chance(0.6);
  if (!keep) {
    st.unique = false;
    if (st.inSub) return [];
  }
  const root = keep
    ? { $mergeObjects: [{ $ifNull: ['$sub', {}] }, { _id: '$_id', t: `$${FIELD}` }] }
    : { t: { $ifNull: [`$${FIELD}`, 'none'] }, x: { $ifNull: ['$x', 0] } };
  st.computed = true;
  return [r.chance(0.5) ? { $replaceRoot: { newRoot: root } } : { $replaceWith: root }];
}

function windowFields(r, st) {
  st.ordered = false;
  const spec = {
    sortBy: { _id: 1 },
    // One output field: MongoDB 6.0 writes several in no fixed order (seen: rk,rs vs rs,rk).
    output: r.pick([
      { rs: { $sum: { $ifNull: ['$x', 0] }, window: { documents: ['unbounded', 'current'] } } },
      { rk: { $documentNumber: {} } },
    ]),
  };
  if (r.chance(0.5)) spec.partitionBy = '$ref';
  return [{ $setWindowFields: spec }];
}

function densify(st) {
  st.unique = false;
  st.ordered = false;
  return [{ $match: { x: { $type: 'number' } } }, { $densify: { field: 'x', range: { step: 1, bounds: 'full' } } }];
}

function fill(r, st) {
  if (st.unique && r.chance(0.5)) return [{ $fill: { sortBy: { _id: 1 }, output: { n: { method: 'locf' } } } }];
  return [{ $fill: { output: { n: { value: 0 } } } }];
}

function geoNear(r, st) {
  st.ordered = false;
  const spec = { near: { type: 'Point', coordinates: [0, 0] }, distanceField: 'dist', spherical: true, key: 'loc' };
  if (r.chance(0.5)) spec.query = filter(r, 0, {});
  if (r.chance(0.4)) spec.maxDistance = r.pick([800, 2000]);
  return [{ $geoNear: spec }];
}

function refused(r, st, first) {
  st.refuse = true;
  // A $geoNear is refused only when it is not the first stage.
  return [r.pick(first ? REFUSED.slice(0, -1) : REFUSED)];
}

/** A top-level pipeline on `items` (`vars`: `let` names in scope). Returns { pipeline, ordered, mustRefuse }. */
function pipeline(r, vars = []) {
  const st = { coll: 'items', top: true, depth: 0, ordered: false, unique: true, vars };
  const body = stages(r, st, r.weighted([[1, 1], [3, 2], [3, 3], [2, 4], [1, 6]]));
  return { pipeline: body, ordered: st.ordered, mustRefuse: Boolean(st.refuse) };
}

module.exports = { pipeline, sortSpec };
