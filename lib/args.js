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

/** Normalizes the driver's sort forms ('a', ['a', 'b'], [['a', -1]], {a: 1}, Map) to an object. */
function sort(value, name = 'sort') {
  const dir = (d) => {
    if (d === 1 || d === -1) return d;
    if (d === 'asc' || d === 'ascending') return 1;
    if (d === 'desc' || d === 'descending') return -1;
    if (d && typeof d === 'object' && d.$meta) return d;
    throw invalidArg(`${name} direction must be 1, -1, 'asc', 'desc' or {$meta}`);
  };
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return { [value]: 1 };
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, d]) => [k, dir(d)]));
  if (Array.isArray(value)) {
    if (value.length === 2 && typeof value[0] === 'string' && !Array.isArray(value[1]) && typeof value[1] !== 'string') {
      return { [value[0]]: dir(value[1]) };
    }
    const out = {};
    for (const item of value) {
      if (typeof item === 'string') out[item] = 1;
      else if (Array.isArray(item) && typeof item[0] === 'string') out[item[0]] = dir(item[1]);
      else throw invalidArg(`${name} has an entry that is not a field or [field, direction]`);
    }
    return out;
  }
  if (typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value)) out[k] = dir(value[k]);
    return out;
  }
  throw invalidArg(`${name} must be an object, a field name or an array`);
}

/** Checks an integer option used by cursors. */
function integer(value, name) {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArg(`${name} must be an integer`);
  return value;
}

module.exports = { object, optionalObject, array, update, sort, integer };
