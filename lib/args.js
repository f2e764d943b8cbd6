'use strict';
// Argument checks shared by the collection methods: a TypeError that names the argument.

const { invalidArg } = require('./errors');

/** Throws unless `value` is a plain object (not null, not an array). */
function object(value, name) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArg(`${name} must be an object`);
  }
  return value;
}

/** Like `object`, but undefined becomes `{}`. */
function optionalObject(value, name) {
  return value === undefined ? {} : object(value, name);
}

/** Throws unless `value` is an array. */
function array(value, name) {
  if (!Array.isArray(value)) throw invalidArg(`${name} must be an array`);
  return value;
}

/** Throws unless `value` is an update document or an update pipeline. */
function update(value) {
  if (value === null || typeof value !== 'object') throw invalidArg('update must be an object or a pipeline array');
  return value;
}

// Sort and index specifications are read exactly as the official driver reads them (its
// `formatSort` and `constructIndexDescriptionMap`, mongodb 6.x and 7.x), so every form its `Sort`
// and `IndexSpecification` types allow means the same here: `['createdAt', 'desc']` is one field
// descending, not two fields. Both give a Map, which keeps the key order on its way to BSON.

/** A value as the driver's messages show it (JSON), or its type when JSON cannot show it. */
function shown(v) {
  try {
    const text = JSON.stringify(v);
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return typeof v;
  }
}

/** A sort direction as the driver reads it: 1, -1, 'asc', 'DESC', '1', '-1', ... or {$meta}. */
function sortDirection(direction = 1) {
  if (typeof direction === 'object' && direction !== null && typeof direction.$meta === 'string') return direction;
  // `${}` throws on a Symbol and on objects whose toString throws: no direction either way.
  let text;
  try {
    text = `${direction}`.toLowerCase();
  } catch {
    text = '';
  }
  switch (text) {
    case 'ascending':
    case 'asc':
    case '1':
      return 1;
    case 'descending':
    case 'desc':
    case '-1':
      return -1;
    default:
      throw invalidArg(`Invalid sort direction: ${shown(direction)}`);
  }
}

/** True for `[field, direction]`. */
function isSortPair(t) {
  if (!Array.isArray(t) || t.length !== 2) return false;
  try {
    sortDirection(t[1]);
    return true;
  } catch {
    return false;
  }
}

/**
 * A sort as the driver sends it, or undefined for none: 'a' (with `direction`), {a: 'desc'},
 * a Map, ['a', 'desc'], [['a', -1], ['b', 1]] or ['a', 'b'].
 */
function sort(value, direction) {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return new Map([[value, sortDirection(direction)]]);
  if (typeof value !== 'object') throw invalidArg(`Invalid sort format: ${shown(value)} Sort must be a valid object`);
  const entries = (list) => new Map(list.map(([k, d]) => [`${k}`, sortDirection(d)]));
  if (!Array.isArray(value)) {
    if (value instanceof Map && value.size > 0) return entries([...value]);
    const keys = Object.entries(value);
    return keys.length ? entries(keys) : undefined;
  }
  if (!value.length) return undefined;
  if (Array.isArray(value[0])) return entries(value);
  // As the driver's pairToMap, which reads the direction wrapped in an array: so `['a', {$meta}]` is refused.
  if (isSortPair(value)) return new Map([[`${value[0]}`, sortDirection([value[1]])]]);
  return new Map(value.map((k) => [`${k}`, 1]));
}

/** True for the directions that make `[field, direction]` one index key rather than two fields. */
function isIndexDirection(x) {
  return typeof x === 'number' || x === '2d' || x === '2dsphere' || x === 'text' || x === 'geoHaystack';
}

/**
 * An index key as the driver builds it: 'a', ['loc', '2dsphere'], [['a', 1], ['b', -1]], {a: 1},
 * a Map, ['a', 'b'], or a list mixing them. Values are kept as given (the server checks them).
 */
function indexKeys(spec) {
  const key = new Map();
  const single = !Array.isArray(spec) || (spec.length === 2 && isIndexDirection(spec[1]));
  for (const one of single ? [spec] : spec) {
    if (typeof one === 'string') key.set(one, 1);
    else if (Array.isArray(one)) key.set(one[0], one[1] ?? 1);
    else if (one instanceof Map) for (const [k, v] of one) key.set(k, v);
    else if (Object.prototype.toString.call(one) === '[object Object]') for (const [k, v] of Object.entries(one)) key.set(k, v);
  }
  return key;
}

/** Checks an integer option used by cursors. */
function integer(value, name) {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArg(`${name} must be an integer`);
  return value;
}

module.exports = { object, optionalObject, array, update, sort, indexKeys, integer };
