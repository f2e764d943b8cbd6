'use strict';
// Leaf values, field paths and aggregation expressions shared by the filter, update and pipeline
// grammars. Values lean towards ones the dataset really holds, so that generated clauses match.

const { FIELD } = require('../dataset');

const DAY = 86400000;
const BASE = Date.UTC(2001, 0, 1);

const STRINGS = ['apple', 'banana', 'cherry', 'Apple pie', 'red', 'green', 'fruit', 'p', 'q', 'A', 'B', 'a', 'AB', ''];
/** Tenant-ish values a filter or update may name. */
const TENANTS = ['A', 'A', 'B', 'a', 'AB', 'A-1', '', 'Ａ', 'A ', null];

/** A scalar or small array of any of the dataset's types. */
function anyValue(r) {
  return r.weighted([
    [5, () => r.int(-1, 9)],
    [4, () => r.pick(STRINGS)],
    [1, () => new Date(BASE + r.int(0, 5) * DAY)],
    [1, null],
    [0.5, () => r.chance(0.5)],
    [0.5, () => r.int(0, 6) + 0.5],
    [1, () => [r.pick(['red', 'green', 'fruit', 'blue']), r.pick(['red', 'fruit'])]],
  ]);
}

/** A value that suits `path` most of the time. */
function valueFor(r, path) {
  if (r.chance(0.15)) return anyValue(r);
  switch (path) {
    case 'x':
    case 'sub.k':
    case 'sub.arr.n':
    case 'ref':
    case 'bits':
      return r.int(-1, 7);
    case 'parent':
    case '_id':
      return r.pick([1, 2, 3, 5, 8, 100, 101, 104, 50, null]);
    case 'y':
      return r.pick(['apple', 'banana', 'cherry', 'date', 'Apple pie', 'elder', 'APPLE']);
    case 'tags':
      return r.pick(['red', 'green', 'fruit', 'blue', ['red', 'fruit'], ['green'], []]);
    case 'sub.arr.s':
      return r.pick(['p', 'q', 'P']);
    case 'd':
      return new Date(BASE + r.int(0, 5) * DAY);
    case FIELD:
      return r.pick(TENANTS);
    case 'n':
      return r.pick([null, 2, 4, 5, 7]);
    default:
      return anyValue(r);
  }
}

/** Paths a filter may name (dotted and array paths included). */
const FILTER_PATHS = ['x', 'y', 'tags', 'sub.k', 'sub.arr.n', 'sub.arr.s', 'sub.arr', 'n', '_id', FIELD, 'nope', 'd', 'parent', 'ref', 'bits', 'sub'];

/** An aggregation expression yielding a value (never `$$NOW`, `$rand` or other nondeterminism). */
function valueExpr(r, depth = 0, vars = []) {
  const leaf = () =>
    r.pick([
      '$x',
      '$y',
      '$sub.k',
      `$${FIELD}`,
      '$n',
      '$$ROOT.x',
      '$parent',
      () => r.int(-1, 7),
      () => r.pick(STRINGS),
      () => ({ $literal: r.pick(['A', 'B', '$x']) }),
      ...(vars.length ? [() => `$$${r.pick(vars)}`] : []),
    ]);
  if (depth > 2) return leaf();
  return r.weighted([
    [5, leaf],
    [1, () => ({ $add: [{ $ifNull: ['$x', 0] }, r.int(0, 3)] })],
    [1, () => ({ $concat: [{ $ifNull: ['$y', ''] }, '-', { $ifNull: [`$${FIELD}`, 'none'] }] })],
    [1, () => ({ $size: { $ifNull: ['$tags', []] } })],
    [1, () => ({ $toUpper: { $ifNull: [`$${FIELD}`, ''] } })],
    [1, () => ({ $cond: [boolExpr(r, depth + 1, vars), valueExpr(r, depth + 1, vars), valueExpr(r, depth + 1, vars)] })],
    [0.5, () => ({ $type: r.pick(['$n', '$nope', `$${FIELD}`]) })],
    [0.5, () => ({ $getField: { field: FIELD, input: '$$ROOT' } })],
    [0.5, () => ({ $filter: { input: { $ifNull: ['$tags', []] }, cond: { $ne: ['$$this', 'red'] } } })],
  ]);
}

/** An aggregation expression yielding a boolean. */
function boolExpr(r, depth = 0, vars = []) {
  const cmp = () => ({ [r.pick(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte'])]: [valueExpr(r, depth + 1, vars), valueExpr(r, depth + 1, vars)] });
  if (depth > 2) return cmp();
  return r.weighted([
    [5, cmp],
    [1, () => ({ [r.pick(['$and', '$or'])]: [boolExpr(r, depth + 1, vars), boolExpr(r, depth + 1, vars)] })],
    [1, () => ({ $not: [boolExpr(r, depth + 1, vars)] })],
    [1, () => ({ $in: [valueExpr(r, depth + 1, vars), [r.pick(TENANTS), r.int(0, 5), r.pick(STRINGS)]] })],
    [1, () => ({ $regexMatch: { input: { $ifNull: [r.pick(['$y', `$${FIELD}`]), ''] }, regex: r.pick(['^a', '^A', 'e$', '^A$']), options: r.pick(['', 'i']) } })],
    [1, () => ({ $eq: [`$${FIELD}`, r.pick(TENANTS)] })],
  ]);
}

module.exports = { STRINGS, TENANTS, anyValue, valueFor, FILTER_PATHS, valueExpr, boolExpr, BASE, DAY };
