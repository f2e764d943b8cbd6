'use strict';
// BSON in and out: one serialize per call, one deserialize per reply, so values keep
// their exact BSON types (Long stays Long, Binary stays Binary).

const BSON = require('bson');

const READ = { promoteLongs: false, promoteBuffers: false, bsonRegExp: false };
const WRITE = { checkKeys: false, ignoreUndefined: false };

/** Serializes a request; names the offending argument when one cannot be encoded. */
function encode(request) {
  try {
    return BSON.serialize(request, WRITE);
  } catch (e) {
    for (const [name, value] of Object.entries(request)) {
      try {
        BSON.serialize({ v: value }, WRITE);
      } catch (inner) {
        throw new TypeError(`${name} cannot be sent to MongoDB: ${describe(inner)}`);
      }
    }
    throw new TypeError(`arguments cannot be sent to MongoDB: ${describe(e)}`);
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

/** Reads a `{v}` reply. */
function decode(buffer) {
  return BSON.deserialize(buffer, READ).v;
}

/** Reads a batch of concatenated documents. */
function decodeBatch(buffer) {
  let count = 0;
  for (let at = 0; at < buffer.length; count++) at += buffer.readInt32LE(at);
  const docs = new Array(count);
  BSON.deserializeStream(buffer, 0, count, docs, 0, READ);
  return docs;
}

module.exports = { encode, decode, decodeBatch };
