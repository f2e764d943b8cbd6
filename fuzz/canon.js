'use strict';
// Canonical string forms for comparing the two sides. Exact BSON types are kept (stored
// documents are decoded without promoting numbers, so int32 and double differ). Only three
// things are neutralised, each because the two sides cannot agree on it by design:
//   - ObjectIds: the dataset has none, so every ObjectId is one the driver or server generated
//     for an insert or upsert (the two sides generate different ones);
//   - Dates after 2020 and Timestamps: values of $currentDate (the dataset's dates are in 2001);
//   - the order of a stored or returned document's TOP-LEVEL fields: where the fence stamps the
//     tenant field among them is not part of the contract (nested order is compared exactly).

const { BSON } = require('mongodb');

const { EJSON } = BSON;
const CLOCK_FLOOR = Date.UTC(2020, 0, 1);

function tag(v) {
  return v && typeof v === 'object' ? v._bsontype || Object.prototype.toString.call(v) : typeof v;
}

/** `value` with generated ids, clock values and top-level key order neutralised. */
function normalise(value, top = true) {
  const t = tag(value);
  if (t === 'ObjectId' || t === 'ObjectID') return '<generated ObjectId>';
  if (t === 'Timestamp') return '<clock Timestamp>';
  if (t === '[object Date]') return value.getTime() > CLOCK_FLOOR ? '<clock Date>' : value;
  if (Array.isArray(value)) return value.map((v) => normalise(v, false));
  if (t === '[object Object]') {
    const keys = Object.keys(value);
    if (top) keys.sort();
    const out = {};
    for (const k of keys) out[k] = normalise(value[k], false);
    return out;
  }
  return value;
}

/** The canonical Extended JSON of `value` after `normalise`. */
function canon(value) {
  return EJSON.stringify(normalise(value), { relaxed: false });
}

/** Canonical form of a list of documents, one string per document, as a multiset (sorted). */
function canonSet(docs) {
  return docs.map((d) => canon(d)).sort();
}

/** A stored document (raw BSON bytes) decoded with exact number types. */
function decodeExact(buf) {
  return BSON.deserialize(buf, { promoteValues: false, promoteLongs: false, promoteBuffers: false });
}

module.exports = { canon, canonSet, decodeExact, normalise };
