'use strict';
// Update documents: all 15 operators over plain, dotted and positional paths (including the
// tenant field and paths inside it), pipeline updates, and replacement documents.

const { FIELD } = require('../dataset');
const { TENANTS, valueFor, anyValue, valueExpr, boolExpr } = require('./values');

const SET_PATHS = ['x', 'y', 'z', 'sub.k', 'sub.new', 'tags.0', 'tags.$[]', 'sub.arr.$[].n', 'sub.arr.$[e].s', 'tags.$', 'n', FIELD, FIELD, `${FIELD}.x`, 'sub.arr.1.n'];
const NUM_PATHS = ['x', 'sub.k', 'bits', 'z', 'sub.arr.$[].n', 'sub.arr.$[e].n', FIELD];

/** The value an operator gets for `path`; the tenant field gets tenant-ish values. */
function setValue(r, path) {
  if (path === FIELD) return r.pick(TENANTS);
  // 'sub.arr.$[e].n' -> 'sub.arr.n', 'tags.0' -> 'tags': the value suits the element's field.
  return valueFor(r, path.replace(/\.(\$(\[\w*\])?|\d+)/g, ''));
}

function paths(r, pool, max = 2) {
  const out = new Set();
  const n = r.int(1, max);
  for (let i = 0; i < n; i++) out.add(r.pick(pool));
  return [...out];
}

const OPERATORS = {
  $set: (r) => Object.fromEntries(paths(r, SET_PATHS).map((p) => [p, setValue(r, p)])),
  $setOnInsert: (r) => Object.fromEntries(paths(r, ['z', 'w', FIELD, 'sub.k']).map((p) => [p, setValue(r, p)])),
  $unset: (r) => Object.fromEntries(paths(r, ['z', 'n', 'sub.k', 'tags', FIELD, 'bits', `${FIELD}.x`]).map((p) => [p, ''])),
  $inc: (r) => Object.fromEntries(paths(r, NUM_PATHS).map((p) => [p, r.int(-2, 3)])),
  $mul: (r) => Object.fromEntries(paths(r, NUM_PATHS).map((p) => [p, r.int(0, 3)])),
  $min: (r) => Object.fromEntries(paths(r, ['x', 'd', 'z', FIELD]).map((p) => [p, setValue(r, p)])),
  $max: (r) => Object.fromEntries(paths(r, ['x', 'd', 'z', FIELD]).map((p) => [p, setValue(r, p)])),
  $rename: (r) => {
    const from = r.pick(['n', 'z', 'bits', 'sub.k', FIELD, 'y']);
    const to = r.pick(['m', 'w2', FIELD, 'sub.kk', `${FIELD}.x`].filter((t) => t !== from));
    return { [from]: to };
  },
  // Only the tenant field: elsewhere its clock value would differ between the two sides.
  $currentDate: (r) => ({ [r.pick([FIELD, `${FIELD}.x`])]: r.pick([true, { $type: 'date' }, { $type: 'timestamp' }]) }),
  $push: (r) => {
    const path = r.pick(['tags', 'tags', 'sub.arr', FIELD, 'newArr']);
    const item = () => (path === 'sub.arr' ? { n: r.int(0, 9), s: 'z' } : r.pick(['red', 'zz', 'A', 'B']));
    if (r.chance(0.5)) return { [path]: item() };
    const each = { $each: [item(), item()] };
    if (r.chance(0.5)) each.$slice = r.int(-3, 3);
    if (r.chance(0.4) && path !== 'sub.arr') each.$sort = r.pick([1, -1]);
    if (r.chance(0.3)) each.$position = r.int(0, 2);
    return { [path]: each };
  },
  $addToSet: (r) => {
    const path = r.pick(['tags', 'tags', FIELD, 'newSet']);
    const v = () => r.pick(['red', 'green', 'zz', 'A']);
    return { [path]: r.chance(0.6) ? v() : { $each: [v(), v()] } };
  },
  $pop: (r) => ({ [r.pick(['tags', 'sub.arr', FIELD])]: r.pick([1, -1]) }),
  $pull: (r) =>
    r.pick([
      () => ({ tags: r.pick(['red', 'fruit']) }),
      () => ({ tags: { $in: ['red', 'green'] } }),
      () => ({ 'sub.arr': { n: { $gte: r.int(0, 3) } } }),
      () => ({ [FIELD]: 'A' }),
    ]),
  $pullAll: (r) => ({ [r.pick(['tags', FIELD])]: ['red', r.pick(['fruit', 'green'])] }),
  $bit: (r) => ({ [r.pick(['bits', 'x', FIELD])]: { [r.pick(['and', 'or', 'xor'])]: r.int(1, 7) } }),
};

/** An operator update: one to three operators. `arrayFilters` is set when `$[e]` is used. */
function operatorUpdate(r) {
  const names = Object.keys(OPERATORS);
  const update = {};
  const n = r.weighted([[5, 1], [3, 2], [1, 3]]);
  for (let i = 0; i < n; i++) {
    const op = r.pick(names);
    update[op] = { ...(update[op] || {}), ...OPERATORS[op](r) };
  }
  return update;
}

/** True when the update (or pipeline) uses the `$[e]` identifier and so needs arrayFilters. */
function needsArrayFilters(update) {
  return JSON.stringify(update).includes('$[e]');
}

const PIPELINE_STAGES = {
  $set: (r) => setStage(r),
  $addFields: (r) => setStage(r),
  $unset: (r) => (r.chance(0.7) ? r.pick(['n', 'z', 'tags']) : r.pick([FIELD, ['n', FIELD], ['sub.k']])),
  $project: (r) =>
    r.pick([
      { x: 1, y: 1 },
      { tags: 0 },
      { [FIELD]: 1, x: 1 },
      { [FIELD]: 0 },
      { x: 1, [FIELD]: 'A' },
      { y: 1, [FIELD]: 'B' },
      { z: { $add: ['$x', 1] } },
    ]),
  $replaceRoot: (r) => ({ newRoot: newRoot(r) }),
  $replaceWith: (r) => newRoot(r),
};

function setStage(r) {
  const out = {};
  const n = r.int(1, 2);
  for (let i = 0; i < n; i++) {
    const path = r.pick(['z', 'x', 'y', 'sub.k', FIELD, 'flag']);
    out[path] =
      path === FIELD
        ? r.pick(['A', 'B', { $literal: 'A' }, '$y', { $concat: [`$${FIELD}`, 'x'] }, { $toLower: `$${FIELD}` }])
        : r.chance(0.3)
          ? { $cond: [boolExpr(r), 1, 0] }
          : valueExpr(r);
  }
  return out;
}

function newRoot(r) {
  return r.pick([
    { $mergeObjects: ['$$ROOT', { z: 1 }] },
    { _id: '$_id', y: '$y' },
    { $mergeObjects: ['$$ROOT', { [FIELD]: r.pick(['B', 'A', 'a']) }] },
    { $mergeObjects: ['$$ROOT', '$sub'] },
    { _id: '$_id', [FIELD]: '$y', x: '$x' },
  ]);
}

/** A pipeline update of one to three stages. */
function pipelineUpdate(r) {
  const names = Object.keys(PIPELINE_STAGES);
  return Array.from({ length: r.int(1, 3) }, () => {
    const stage = r.pick(names);
    return { [stage]: PIPELINE_STAGES[stage](r) };
  });
}

/** A replacement document, sometimes naming the tenant field or an _id. */
function replacement(r, idPool) {
  const doc = {};
  if (r.chance(0.15)) doc._id = r.pick(idPool);
  if (r.chance(0.35)) doc[FIELD] = r.pick(TENANTS);
  doc.y = r.pick(['replaced', 'apple', 'zz']);
  if (r.chance(0.6)) doc.x = r.int(0, 9);
  if (r.chance(0.3)) doc.tags = ['red'];
  if (r.chance(0.2)) doc.sub = { k: r.int(0, 3), arr: [] };
  if (r.chance(0.1)) doc.extra = anyValue(r);
  return doc;
}

/** An update of either form: operators (mostly) or a pipeline. */
function update(r) {
  return r.chance(0.75) ? operatorUpdate(r) : pipelineUpdate(r);
}

module.exports = { update, operatorUpdate, pipelineUpdate, replacement, needsArrayFilters };
