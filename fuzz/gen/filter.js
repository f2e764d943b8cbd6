'use strict';
// Query filters: every query operator, the tenant field named in every way, deep logical nesting.

const { FIELD } = require('../dataset');
const { TENANTS, valueFor, anyValue, FILTER_PATHS, boolExpr } = require('./values');

const TYPES = ['string', 'int', 'array', 'null', 'object', 'double', 'date', 'number', 'missing', 'bool'];
const WHERE = [
  'this.x > 3',
  'this.y && this.y.length > 5',
  "this.tenantId !== 'A'",
  "typeof this.tenantId === 'string' && this.tenantId.toLowerCase() === 'a'",
  'function () { return Array.isArray(this.tags) && this.tags.length > 1; }',
];
const SCHEMAS = [
  { required: ['n'] },
  { properties: { x: { bsonType: 'int', minimum: 3 } } },
  { properties: { [FIELD]: { enum: ['A'] } } },
  { properties: { [FIELD]: { enum: ['B', 'a'] } } },
  { required: [FIELD], properties: { [FIELD]: { bsonType: 'string', pattern: '^[Aa]' } } },
  { properties: { tags: { bsonType: 'array', minItems: 2 } } },
  { not: { required: ['bits'] } },
  { properties: { sub: { bsonType: 'object', properties: { k: { enum: [1, 2] } } } } },
];
const POLY = { type: 'Polygon', coordinates: [[[-1, -1], [0.025, -1], [0.025, 1], [-1, 1], [-1, -1]]] };

/** One operator (or a few) applied to `path`. */
function condition(r, path, depth) {
  const v = () => valueFor(r, path);
  const ops = {
    $eq: v,
    $ne: v,
    $gt: v,
    $gte: v,
    $lt: v,
    $lte: v,
    $in: () => [v(), v(), ...(r.chance(0.3) ? [v()] : [])],
    $nin: () => [v(), v()],
    $exists: () => r.chance(0.5),
    $type: () => (r.chance(0.8) ? r.pick(TYPES) : [r.pick(TYPES), r.pick(TYPES)]),
    $regex: () => r.pick(['^a', '^A', 'pp', 'e$', '^.*$', '^A$', 'A|B']),
    $size: () => r.int(0, 3),
    $all: () => [r.pick(['red', 'fruit', 'green']), ...(r.chance(0.5) ? [r.pick(['red', 'fruit'])] : [])],
    $mod: () => [r.int(2, 4), r.int(0, 1)],
    $bitsAllSet: () => r.int(0, 7),
    $bitsAnySet: () => r.int(0, 7),
    $bitsAllClear: () => r.int(0, 7),
    $bitsAnyClear: () => r.int(0, 7),
    $elemMatch: () => elemMatch(r, path, depth),
    $not: () => (r.chance(0.3) ? { $regex: r.pick(['^a', 'A']) } : condition(r, path, depth + 1)),
  };
  const names = Object.keys(ops);
  const out = {};
  const count = r.chance(0.75) ? 1 : 2;
  for (let i = 0; i < count; i++) {
    const op = r.pick(names);
    out[op] = ops[op]();
  }
  if (out.$regex !== undefined && r.chance(0.4)) out.$options = r.pick(['i', '', 'm']);
  return out;
}

function elemMatch(r, path, depth) {
  if (path === 'sub.arr' || path === 'sub') {
    return depth > 3 ? { n: r.int(0, 4) } : filter(r, depth + 1, { paths: ['n', 's'], noTop: true });
  }
  return r.pick([{ $in: ['red', 'green'] }, { $eq: 'fruit' }, { $gte: 2, $lte: 5 }, { $ne: 'red' }]);
}

/** One `path: value` or `path: {op...}` clause. */
function fieldClause(r, paths, depth) {
  const path = r.pick(paths);
  if (r.chance(0.35)) return { [path]: valueFor(r, path) };
  return { [path]: condition(r, path, depth) };
}

/** The tenant field named directly: a neighbour, A itself, operators, case tricks. */
function tenantClause(r) {
  return {
    [FIELD]: r.pick([
      () => r.pick(TENANTS),
      () => ({ $in: [r.pick(TENANTS), r.pick(TENANTS)] }),
      () => ({ $ne: r.pick(TENANTS) }),
      () => ({ $nin: ['A'] }),
      () => ({ $regex: r.pick(['^a$', '^A', '.*', 'B']), $options: r.pick(['i', '']) }),
      () => ({ $exists: r.chance(0.5) }),
      () => ({ $type: r.pick(['string', 'null', 'array']) }),
      () => ({ $gt: r.pick(['', 'A', 'a']) }),
      () => ({ $not: { $eq: 'A' } }),
      () => ({ $eq: 'A' }),
    ]),
  };
}

/**
 * A filter. `ctx`: `paths` (default FILTER_PATHS), `noTop` (inside $elemMatch: no $where, $text,
 * $expr, geo), `text` ($text allowed: first stage / top level only), `near` ($near allowed), `vars`
 * (let variables in scope for $expr).
 */
function filter(r, depth = 0, ctx = {}) {
  const paths = ctx.paths || FILTER_PATHS;
  const out = {};
  const n = depth === 0 ? r.weighted([[1, 0], [4, 1], [3, 2], [1, 3]]) : r.int(1, 2);
  for (let i = 0; i < n; i++) {
    const clause = r.weighted([
      [10, () => fieldClause(r, paths, depth)],
      [ctx.noTop ? 0 : 2.5, () => tenantClause(r)],
      [depth < 5 ? 3 : 0, () => ({ [r.pick(['$and', '$or', '$nor'])]: Array.from({ length: r.int(1, 3) }, () => filter(r, depth + 1, { ...ctx, text: false, near: false })) })],
      [ctx.noTop ? 0 : 2, () => ({ $expr: boolExpr(r, 0, ctx.vars || []) })],
      [ctx.noTop ? 0 : 0.6, () => ({ $where: r.pick(WHERE) })],
      [ctx.noTop ? 0 : 1, () => ({ $jsonSchema: r.pick(SCHEMAS) })],
      [ctx.text && depth === 0 ? 1 : 0, () => ({ $text: { $search: r.pick(['apple', 'pie', 'banana cherry', '"apple pie"']), ...(r.chance(0.3) ? { $caseSensitive: true } : {}) } })],
      [ctx.noTop ? 0 : 0.3, () => ({ $comment: 'fuzz' })],
      [ctx.noTop ? 0 : 0.6, () => ({ loc: { [r.pick(['$geoWithin', '$geoIntersects'])]: { $geometry: POLY } } })],
      [ctx.noTop ? 0 : 0.3, () => ({ loc: { $geoWithin: { $centerSphere: [[0, 0], r.pick([0.00001, 0.0002, 0.001])] } } })],
      [ctx.near && depth === 0 ? 0.6 : 0, () => ({ loc: { [r.pick(['$near', '$nearSphere'])]: { $geometry: { type: 'Point', coordinates: [0, 0] }, $maxDistance: r.pick([500, 2000, 5000]) } } })],
      [0.3, () => ({ [r.pick(paths)]: anyValue(r) })],
    ]);
    Object.assign(out, clause);
  }
  return out;
}

module.exports = { filter, tenantClause };
