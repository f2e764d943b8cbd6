'use strict';
// BSON in and out: one serialize per call, one deserialize per reply, so values keep
// their exact BSON types (Long stays Long, Binary stays Binary).

const { invalidArg } = require('./errors');
const BSON = require('bson');

// The bson library a call's reply is read with, when not this package's: tenantfence/mongoose
// hands Mongoose 9 values of its own bson 7 (instanceof, equality). A symbol key, so it is never
// sent to Rust and never taken for a driver option.
const READ_BSON = Symbol.for('tenantfence.readBson');

// How replies are decoded: the driver's defaults (a 64-bit integer that fits a double's 53 bits
// comes back as a number, a larger one as a Long), changed per call by the BSON options below.
const READ = Object.freeze({ promoteLongs: true, promoteValues: true, promoteBuffers: false, useBigInt64: false, bsonRegExp: false });
const BSON_READ = Object.keys(READ);

// The driver's other read options: `raw` (documents as Buffers), `fieldsAsRaw` (the named arrays'
// elements as Buffers) and `enableUtf8Validation` (js-bson's `validation.utf8`).
const READ_EXTRA = ['raw', 'fieldsAsRaw', 'enableUtf8Validation'];

/** Splits the driver's BSON read options off a call's `options`: [the rest, how to decode the reply]. */
function splitReadOptions(options) {
  const lib = options ? options[READ_BSON] : undefined;
  if (lib !== undefined) {
    if (!lib || typeof lib.deserialize !== 'function' || typeof lib.deserializeStream !== 'function') {
      throw invalidArg('the bson library to read with must have deserialize and deserializeStream');
    }
    const { [READ_BSON]: _lib, ...rest } = options;
    const [r, read] = splitReadOptions(rest);
    return [r, { ...read, [READ_BSON]: lib }];
  }
  if (!options || ![...BSON_READ, ...READ_EXTRA].some((k) => options[k] !== undefined)) return [options, READ];
  const rest = { ...options };
  const read = { ...READ };
  for (const k of BSON_READ) {
    if (rest[k] === undefined) continue;
    if (typeof rest[k] !== 'boolean') throw invalidArg(`options.${k} must be a boolean`);
    read[k] = rest[k];
    delete rest[k];
  }
  if (rest.raw !== undefined) {
    if (typeof rest.raw !== 'boolean') throw invalidArg('options.raw must be a boolean');
    if (rest.raw) read.raw = true;
  }
  if (rest.fieldsAsRaw !== undefined && rest.fieldsAsRaw !== null) {
    if (typeof rest.fieldsAsRaw !== 'object' || Array.isArray(rest.fieldsAsRaw)) throw invalidArg('options.fieldsAsRaw must be an object');
    read.fieldsAsRaw = { ...rest.fieldsAsRaw };
  }
  if (rest.enableUtf8Validation !== undefined) {
    if (typeof rest.enableUtf8Validation !== 'boolean') throw invalidArg('options.enableUtf8Validation must be a boolean');
    read.validation = { utf8: rest.enableUtf8Validation };
  }
  for (const k of READ_EXTRA) delete rest[k];
  return [rest, read];
}

// The driver's BSON write options, applied to the whole request as the driver applies them to the
// command (but `checkKeys`, which checks the documents written: docs/options.md).
const BSON_WRITE = ['checkKeys', 'serializeFunctions', 'ignoreUndefined'];

/** Splits the driver's BSON write options off a call's `options`: [the rest, how to encode it]. */
function splitWriteOptions(options) {
  if (!options || !BSON_WRITE.some((k) => options[k] !== undefined)) return [options, null];
  const rest = { ...options };
  const write = {};
  for (const k of BSON_WRITE) {
    if (rest[k] === undefined) continue;
    if (typeof rest[k] !== 'boolean') throw invalidArg(`options.${k} must be a boolean`);
    write[k] = rest[k];
    delete rest[k];
  }
  return [rest, write];
}

/** Throws js-bson's error for a document whose keys the server would not store as fields. */
function checkKeys(doc) {
  BSON.serialize(doc, { checkKeys: true, ignoreUndefined: false });
}

const WRITE = { checkKeys: false, ignoreUndefined: false };

/**
 * Serializes a request; when it cannot be encoded, names the offending argument as the caller
 * knows it (`labels` maps request keys to argument names, e.g. documents -> docs), down to the
 * array element (`docs[3]`).
 */
function encode(request, labels = {}, write = null) {
  const how = write ? { ...WRITE, serializeFunctions: !!write.serializeFunctions, ignoreUndefined: !!write.ignoreUndefined } : WRITE;
  let bytes;
  try {
    bytes = BSON.serialize(request, how);
  } catch (e) {
    for (const [key, value] of Object.entries(request)) {
      const failure = fails(value);
      if (failure) throw invalidArg(`${narrow(labels[key] || key, value, 2)} cannot be sent to MongoDB: ${describe(failure)}`);
    }
    throw invalidArg(`arguments cannot be sent to MongoDB: ${describe(e)}`);
  }
  // The fast check builds no paths; only a request that fails it is walked again to name the part.
  // With serializeFunctions a function is sent (as Code), not lost; a Symbol or a too-large
  // BigInt still is (red-team round 21).
  if (holdsLost(request, 0, how.serializeFunctions)) {
    const lost = silentlyLost(request, labels, how.serializeFunctions);
    if (lost) throw invalidArg(`${lost.path} cannot be sent to MongoDB: ${lost.why}`);
  }
  return bytes;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
// Deeper than the server or the Rust core accept anyway.
const WALK_DEPTH = 200;

/** Why js-bson would change the leaf `v` without a word, or undefined. */
function lostBecause(v, functionsSent = false) {
  const t = typeof v;
  if (t === 'function') return functionsSent ? undefined : 'it is a function (BSON would drop it)';
  if (t === 'symbol') return 'it is a Symbol (BSON would drop it)';
  if (t === 'bigint' && (v < INT64_MIN || v > INT64_MAX)) return 'the BigInt does not fit in 64 bits';
  return undefined;
}

/** Whether the walks look inside `v`: plain objects, arrays and Maps, not BSON values. */
function container(v) {
  return (
    typeof v === 'object' && v !== null &&
    !(v._bsontype || typeof v.toBSON === 'function' || ArrayBuffer.isView(v) || v instanceof Date || v instanceof RegExp || v instanceof ArrayBuffer)
  );
}

/**
 * Whether `v` holds a value `silentlyLost` would name. It runs on every request, so it keeps
 * no visited set: it runs only after serialize succeeded, and serialize refuses cycles.
 */
function holdsLost(v, depth, functionsSent = false) {
  if (lostBecause(v, functionsSent)) return true;
  if (depth >= WALK_DEPTH || !container(v)) return false;
  try {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (holdsLost(v[i], depth + 1, functionsSent)) return true;
    } else if (v instanceof Map) {
      for (const item of v.values()) if (holdsLost(item, depth + 1, functionsSent)) return true;
    } else {
      for (const k in v) if (Object.prototype.hasOwnProperty.call(v, k) && holdsLost(v[k], depth + 1, functionsSent)) return true;
    }
  } catch {
    // A getter or Proxy that threw only now: serialize already encoded what it saw.
  }
  return false;
}

/**
 * The first value js-bson would change without a word: a function or Symbol (dropped, so
 * `deleteMany({ _id: fn })` would match every document of the tenant) or a BigInt outside
 * int64 (wrapped modulo 2^64). Runs after a successful serialize, so there is no cycle to fear.
 */
function silentlyLost(request, labels, functionsSent = false) {
  const seen = new Set();
  const stack = Object.keys(request).map((k) => [request[k], labels[k] || k, 0]);
  try {
    while (stack.length) {
      const [v, path, depth] = stack.pop();
      const why = lostBecause(v, functionsSent);
      if (why) return { path, why };
      if (depth >= WALK_DEPTH || !container(v) || seen.has(v)) continue;
      seen.add(v);
      if (v instanceof Map) {
        for (const [k, item] of v) stack.push([item, `${path}.${k}`, depth + 1]);
      } else if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`, depth + 1]);
      } else {
        for (const k of Object.keys(v)) stack.push([v[k], `${path}.${k}`, depth + 1]);
      }
    }
  } catch {
    // A getter or Proxy that threw only now: serialize already encoded what it saw.
  }
  return undefined;
}

/**
 * The path of the part of `value` that cannot be encoded, up to `depth` levels below `name`
 * (`options.projection`, `docs[3]`, `pipeline[1].$project`): enough to find it, never a walk.
 */
function narrow(name, value, depth) {
  if (depth === 0 || value === null || typeof value !== 'object') return name;
  let keys;
  try {
    keys = Object.keys(value);
  } catch {
    return name; // a Proxy whose ownKeys trap throws: the argument itself is the culprit
  }
  for (const k of keys) {
    let child;
    try {
      child = value[k];
    } catch {
      return `${name}.${k}`;
    }
    if (fails(child)) return narrow(Array.isArray(value) ? `${name}[${k}]` : `${name}.${k}`, child, depth - 1);
  }
  return name;
}

/** The error serializing `value` throws, or undefined. */
function fails(value) {
  try {
    BSON.serialize({ v: value }, WRITE);
    return undefined;
  } catch (e) {
    return e;
  }
}

function describe(e) {
  if (e instanceof RangeError) {
    // js-bson overflows the stack on deep nesting and its buffer on huge documents.
    return /call stack/i.test(e.message) ? 'it is nested too deeply' : 'it is larger than the 16 MiB BSON document limit';
  }
  const text = e && e.message ? e.message : String(e);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Reads a `{v}` reply; with `raw`, a document comes back as its bytes (a Buffer). */
function decode(buffer, read = READ) {
  if (read.raw) {
    // `{v: <doc>}`: int32 length, type 0x03, "v\0", then the document itself.
    if (buffer[4] === 0x03) return Buffer.from(buffer.subarray(7, 7 + buffer.readInt32LE(7)));
    const { raw: _raw, ...rest } = read;
    return (read[READ_BSON] || BSON).deserialize(buffer, rest).v;
  }
  return (read[READ_BSON] || BSON).deserialize(buffer, read).v;
}

/**
 * Reads a server batch (concatenated documents) a slice at a time: a 16 MiB batch holds
 * ~160,000 small documents, and decoding them all at once keeps them alive until a full GC.
 */
class BatchReader {
  constructor(buffer, read = READ) {
    this.buffer = buffer;
    this.read = read;
    this.at = 0;
  }

  /** True when every document of the batch has been taken. */
  get done() {
    return this.at >= this.buffer.length;
  }

  /** How many documents are left in the batch (walks their length prefixes; nothing is decoded). */
  get remaining() {
    let n = 0;
    for (let at = this.at; at < this.buffer.length; at += this.buffer.readInt32LE(at)) n++;
    return n;
  }

  /** The next `max` documents at most. */
  take(max) {
    const buf = this.buffer;
    let end = this.at;
    let n = 0;
    while (end < buf.length && n < max) {
      end += buf.readInt32LE(end);
      n++;
    }
    const docs = new Array(n);
    if (this.read.raw) {
      for (let i = 0, at = this.at; i < n; i++, at += buf.readInt32LE(at)) docs[i] = Buffer.from(buf.subarray(at, at + buf.readInt32LE(at)));
    } else {
      (this.read[READ_BSON] || BSON).deserializeStream(buf, this.at, n, docs, 0, this.read);
    }
    this.at = end;
    return docs;
  }
}

module.exports = { encode, decode, BatchReader, splitReadOptions, splitWriteOptions, checkKeys, READ, READ_BSON };
