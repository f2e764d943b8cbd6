'use strict';
// A deep copy of a case's arguments. Cases are mostly plain data, but some shapes need values
// structuredClone would change: BSON values such as MinKey (structuredClone makes them empty
// plain objects, i.e. `{}`), and Maps whose keys are `String` objects (a document naming a key
// twice, issue 12). BSON values are immutable and kept as they are; a Map keeps its keys (the
// very key objects: js-bson writes a String object key as its string) and copies its values.

function clone(v) {
  if (Array.isArray(v)) return v.map(clone);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, clone(x)]));
  if (v instanceof Date) return new Date(v.getTime());
  if (v && typeof v === 'object' && !v._bsontype && !(v instanceof String)) {
    const out = {};
    for (const k of Object.keys(v)) out[k] = clone(v[k]);
    return out;
  }
  return v;
}

/** Case arguments as text (Extended JSON; a Map is shown as its entries, so a repeated key stays visible). */
function showArgs(value) {
  const { BSON } = require('mongodb');
  const plain = (v) => {
    if (Array.isArray(v)) return v.map(plain);
    if (v instanceof Map) return { $map: [...v].map(([k, x]) => [k instanceof String ? `new String(${JSON.stringify(String(k))})` : k, plain(x)]) };
    if (v && typeof v === 'object' && !v._bsontype && !(v instanceof Date)) return Object.fromEntries(Object.keys(v).map((k) => [k, plain(v[k])]));
    return v;
  };
  return BSON.EJSON.stringify(plain(value), { relaxed: true });
}

module.exports = { clone, showArgs };
