'use strict';
// Raw BSON built byte by byte, and raw OP_MSG inserts of documents the drivers would not write
// (invalid UTF-8, duplicate keys …), from red-team round 23 of JSON straight from Rust.
const BSON = require('bson');

const EMPTY = Buffer.alloc(0);
const int32 = (v) => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
const uint32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const int64 = (v) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v)); return b; };
const bytesOf = (s) => (Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8'));
const lenstr = (s) => { const b = bytesOf(s); return Buffer.concat([int32(b.length + 1), b, Buffer.from([0])]); };
const cstr = (s) => Buffer.concat([bytesOf(s), Buffer.from([0])]);
const el = (type, key, payload) => Buffer.concat([Buffer.from([type]), cstr(key), payload]);
function doc(...fields) {
  const body = Buffer.concat([...fields.map((f) => (Buffer.isBuffer(f) ? f : el(f[1][0], f[0], f[1][1]))), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
}
const V = {
  double: (x) => { const b = Buffer.alloc(8); b.writeDoubleLE(x); return [0x01, b]; },
  string: (s) => [0x02, lenstr(s)],
  doc: (...fields) => [0x03, doc(...fields)],
  rawdoc: (d) => [0x03, d],
  array: (...vals) => [0x04, doc(...vals.map((v, i) => [String(i), v]))],
  arrayKeyed: (...pairs) => [0x04, doc(...pairs)],
  binary: (sub, bytes) =>
    sub === 2
      ? [0x05, Buffer.concat([int32(bytes.length + 4), Buffer.from([2]), int32(bytes.length), bytes])]
      : [0x05, Buffer.concat([int32(bytes.length), Buffer.from([sub]), bytes])],
  undef: () => [0x06, EMPTY],
  oid: (hex) => [0x07, Buffer.from(hex, 'hex')],
  bool: (b) => [0x08, Buffer.from([b ? 1 : 0])],
  date: (ms) => [0x09, int64(ms)],
  null: () => [0x0a, EMPTY],
  regex: (p, o) => [0x0b, Buffer.concat([cstr(p), cstr(o)])],
  dbPointer: (ns, hex) => [0x0c, Buffer.concat([lenstr(ns), Buffer.from(hex, 'hex')])],
  code: (s) => [0x0d, lenstr(s)],
  symbol: (s) => [0x0e, lenstr(s)],
  codeWithScope: (s, scope) => { const c = lenstr(s); return [0x0f, Buffer.concat([int32(4 + c.length + scope.length), c, scope])]; },
  int32: (v) => [0x10, int32(v)],
  timestamp: (i, t) => [0x11, Buffer.concat([uint32(i), uint32(t)])],
  int64: (v) => [0x12, int64(v)],
  decimal: (bytes) => [0x13, bytes],
  minKey: () => [0xff, EMPTY],
  maxKey: () => [0x7f, EMPTY],
};

// ---- raw OP_MSG to the server, to store documents the drivers would not write ----
const net = require('node:net');
function opMsg(bodyBson, reqId = 1) {
  const header = Buffer.alloc(16);
  const flags = int32(0);
  const section = Buffer.concat([Buffer.from([0]), bodyBson]);
  const len = 16 + 4 + section.length;
  header.writeInt32LE(len, 0); header.writeInt32LE(reqId, 4); header.writeInt32LE(0, 8); header.writeInt32LE(2013, 12);
  return Buffer.concat([header, flags, section]);
}
function hostPort() {
  const m = /mongodb:\/\/([^/?]+)/.exec(process.env.MONGODB_URI || 'mongodb://127.0.0.1:43327');
  const [host, port] = m[1].split(':');
  return { host, port: Number(port) };
}
/** Sends one command (raw BSON body, must contain $db) and returns the reply document (js-bson decoded, raw kept). */
function rawCommand(bodyBson) {
  return new Promise((resolve, reject) => {
    const { host, port } = hostPort();
    const s = net.connect(port, host);
    let chunks = [];
    s.on('connect', () => s.write(opMsg(bodyBson)));
    s.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 4 && all.length >= all.readInt32LE(0)) {
        s.end();
        const body = all.subarray(21, all.readInt32LE(0));
        try { resolve(BSON.deserialize(body, { promoteValues: false, validation: { utf8: false } })); } catch (e) { resolve({ rawReply: body, e }); }
      }
    });
    s.on('error', reject);
  });
}
/** Inserts raw BSON documents into db.coll. */
async function rawInsert(db, coll, docs) {
  const body = doc(['insert', V.string(coll)], ['documents', V.array(...docs.map((d) => V.rawdoc(d)))], ['$db', V.string(db)]);
  const r = await rawCommand(body);
  if (!r.ok || (r.ok.valueOf && r.ok.valueOf() !== 1) || r.writeErrors) throw new Error('raw insert failed: ' + JSON.stringify(r));
  return r;
}

module.exports = { EMPTY, int32, uint32, int64, lenstr, cstr, el, doc, V, rawCommand, rawInsert };
