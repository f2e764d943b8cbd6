'use strict';
// Mongoose 9 builds its values with bson 7 (the fence takes bson 6's, as its `mongodb` peer
// does): its ObjectIds, Decimal128s … are copied into this package's bson classes before a
// call. Values the fence returns are bson 6's, which Mongoose reads by `_bsontype`.

const BSON = require('bson');
const { FenceSession } = require('../session');

const VERSION = Symbol.for('@@mdb.bson.version');
const OWN = BSON.ObjectId.prototype[VERSION] ?? 6;
const MAX_DEPTH = 256;

function bytesOf(binary) {
  const b = binary.buffer;
  return typeof binary.position === 'number' ? b.subarray(0, binary.position) : b;
}

/** A copy of one foreign bson value as this package's class (undefined when not known). */
function convertValue(v, depth) {
  switch (v._bsontype) {
    case 'ObjectId':
      return new BSON.ObjectId(v.toHexString());
    case 'Decimal128':
      return new BSON.Decimal128(v.bytes);
    case 'Long':
      return BSON.Long.fromBits(v.low, v.high, v.unsigned);
    case 'Binary':
      return new BSON.Binary(bytesOf(v), v.sub_type);
    case 'Timestamp':
      return new BSON.Timestamp({ t: v.high >>> 0, i: v.low >>> 0 });
    case 'Int32':
      return new BSON.Int32(v.value);
    case 'Double':
      return new BSON.Double(v.value);
    case 'MinKey':
      return new BSON.MinKey();
    case 'MaxKey':
      return new BSON.MaxKey();
    case 'BSONRegExp':
      return new BSON.BSONRegExp(v.pattern, v.options);
    case 'BSONSymbol':
      return new BSON.BSONSymbol(v.value);
    case 'Code':
      return new BSON.Code(v.code, v.scope == null ? v.scope : toFenceBson(v.scope, depth + 1));
    case 'DBRef':
      return new BSON.DBRef(v.collection, toFenceBson(v.oid, depth + 1), v.db, toFenceBson(v.fields, depth + 1));
    default:
      return undefined;
  }
}

/**
 * `value` with every bson value of another bson major version replaced by this package's, in
 * plain objects and arrays at any depth; unchanged (the same object) when there is none.
 */
function toFenceBson(value, depth = 0) {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (typeof value._bsontype === 'string') {
    // Only a real bson value of another major version (it carries its version): a plain object
    // naming a `_bsontype` (parsed from JSON, a request body) stays as it is, for bson 6 to
    // refuse, as it refuses it from any app (red-team round 27).
    const version = value[VERSION];
    if (version === OWN || typeof version !== 'number') return value;
    return convertValue(value, depth) ?? value;
  }
  if (Array.isArray(value)) {
    let out = null;
    for (let i = 0; i < value.length; i++) {
      const c = toFenceBson(value[i], depth + 1);
      if (c !== value[i]) {
        if (!out) out = value.slice();
        out[i] = c;
      }
    }
    return out ?? value;
  }
  if (value instanceof Map) {
    // A Map is a document to BSON (Mongoose's maps of subdocuments reach here as Maps).
    let changed = false;
    const out = new Map();
    for (const [k, v] of value) {
      const c = toFenceBson(v, depth + 1);
      if (c !== v) changed = true;
      out.set(k, c);
    }
    return changed ? out : value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    // A Mongoose document, array or map (as in `bulkWrite`'s insertOne): what it serializes to.
    if (typeof value.toBSON === 'function' && !(value instanceof FenceSession)) return toFenceBson(value.toBSON(), depth + 1);
    return value;
  }
  let out = null;
  for (const k of Object.keys(value)) {
    const c = toFenceBson(value[k], depth + 1);
    if (c !== value[k]) {
      if (!out) out = { ...value };
      out[k] = c;
    }
  }
  return out ?? value;
}

const same = (value) => value;

/**
 * The conversion a Mongoose copy needs: none when its ObjectId is of this package's bson major
 * version (Mongoose 8), `toFenceBson` otherwise (Mongoose 9).
 */
function converterFor(base) {
  const ObjectId = base && base.Types && base.Types.ObjectId;
  return ObjectId && ObjectId.prototype[VERSION] === OWN ? same : toFenceBson;
}

/**
 * The bson library the fence reads a Mongoose copy's replies with: its own when it is of
 * another bson major version than this package's (Mongoose 9's bson 7), so `instanceof
 * mongoose.Types.ObjectId` and deep equality hold on what it reads; undefined otherwise.
 */
function readBsonFor(base) {
  const lib = base && base.mongo && base.mongo.BSON;
  const ObjectId = lib && lib.ObjectId;
  if (!ObjectId || ObjectId.prototype[VERSION] === OWN) return undefined;
  return typeof lib.deserialize === 'function' && typeof lib.deserializeStream === 'function' ? lib : undefined;
}

module.exports = { toFenceBson, converterFor, readBsonFor };
