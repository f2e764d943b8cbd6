'use strict';
// The JSON renderer (src/json): for a server batch, `renderJson` must give the very bytes of
// Buffer.from(JSON.stringify(docs)), docs being js-bson's decode of the batch with the reply
// options (lib/codec.js READ), or throw; never other bytes. js-bson here is the package's own
// (node_modules/bson), so the truth is whatever that version does.
//
// Needs no MongoDB: with MONGODB_URI set the global setup starts none, e.g.
// `MONGODB_URI=mongodb://unused npx jest __tests__/native/json-render.test.js`.

const BSON = require('bson');
const { READ } = require('../../lib/codec');
const { renderJson } = require('../../binding.js');

const { Binary, Code, DBRef, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, BSONSymbol, BSONRegExp, UUID } = BSON;

// Hand-built BSON (repeated keys, undefined, array keys, old types, broken bytes).
const { EMPTY, int32, lenstr, doc, V } = require('../helpers/raw-bson');

// ---- the two paths ----

/** What the JS path sends: js-bson's batch decode (as BatchReader does it), then JSON.stringify. */
function viaJs(batch) {
  let n = 0;
  for (let at = 0; at < batch.length; at += batch.readInt32LE(at)) n++;
  const docs = new Array(n);
  BSON.deserializeStream(batch, 0, n, docs, 0, READ);
  return Buffer.from(JSON.stringify(docs));
}

/** Both paths: { js, rust }, each { bytes } or { error } (errors from the addon and from js-bson
 * come from other realms than Jest's, so `instanceof Error` cannot tell them apart). */
function both(batch) {
  const run = (f) => { try { return { bytes: f() }; } catch (e) { return { error: e }; } };
  return { js: run(() => viaJs(batch)), rust: run(() => renderJson(batch)) };
}

/** The renderer's bytes equal the JS path's. */
function expectSame(batch) {
  const { js, rust } = both(batch);
  if (js.error) throw new Error(`js-bson refused a case meant to decode: ${js.error.message}`);
  if (rust.error) throw new Error(`renderJson refused ${js.bytes}: ${rust.error.message}`);
  expect(rust.bytes.toString()).toBe(js.bytes.toString());
  expect(Buffer.compare(rust.bytes, js.bytes)).toBe(0);
}

const batchOf = (...docs) => Buffer.concat(docs);
const serialize = (o) => BSON.serialize(o);
const OID = '0123456789abcdef01234567';
const decBytes = (hi, lo) => { const b = Buffer.alloc(16); b.writeBigUInt64LE(BigInt(lo), 0); b.writeBigUInt64LE(BigInt(hi), 8); return b; };

// ---- (a) one case per type and edge ----

const DOUBLES = [0, -0, 1, -1.5, 0.1 + 0.2, 1e21, 1e20, 123456789012345680000, 1e-7, 1e-6, 5e-324, -5e-324, 2.2250738585072014e-308,
  1.7976931348623157e308, 2 ** 53, -(2 ** 53), 2 ** 53 + 2, 4.35, 0.000001234, 1 / 3, 100, 1e300, NaN, Infinity, -Infinity];
const LONGS = ['0', '-1', '4294967296', '9007199254740992', '-9007199254740992', '9007199254740993', '-9007199254740993',
  '9223372036854775807', '-9223372036854775808', '1152921504606846976'];
const DATES = [0, -1, 1709210096789, 951782400000, -62167219200000, -62198755200000, 253402300799999, 253402300800000,
  8.64e15, -8.64e15, 8640000000000001n, -8640000000000001n, 9007199254740993n, 2n ** 63n - 1n, -(2n ** 63n)];
const DECIMALS = ['0', '-0', '1', '-1.5', '1.23E+5', '0.000001', '1E-7', '1234567890123456789012345678901234', '1234567890.123456789012345678901234', 'NaN', 'Infinity',
  '-Infinity', '9.999999999999999999999999999999999E+6144', '1E-6176', '100.00', '-0E+3', '0.1E-6170'];
// Raw 128-bit patterns, non-canonical ones included: js-bson prints them its own way.
const DECIMAL_BITS = [[0x2fffffffffffffffn, 0xffffffffffffffffn], [0x6c10000000000000n, 5n], [0x6ffe000000000000n, 1n],
  [0x3041ed09bead87c0n, 0x378d8e6400000000n], [0x3031ed09bead87c0n, 0x378d8e6400000001n], [0xfe00000000000000n, 1n],
  [0x7a00000000000000n, 0n], [0x8000000000000000n, 0n]];
const STRINGS = ['', 'plain', 'quote " backslash \\ slash /', '\b\f\n\r\t\v', 'nul \u0000 inside',
  Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(''), 'del \u007f', 'line sep \u2028 para sep \u2029',
  'ü ß 中文 🚀 👨‍👩‍👧', '\uFEFFbom first', 'replacement \uFFFD char', 'a'.repeat(300) + '\n'];
const REGEXES = [['', ''], ['ab+c', 'i'], ['^a.*$', 'ims'], ['a', 'xlu'], ['(a)|(?:b)(?=c)(?!d)(?<=e)(?<!f)', 'm'], ['[a-z\\d_-]+', ''],
  ['\\w\\s\\b\\.\\/', 's'], ['a{2,3}?b*c+?', ''], ['{', ''], ['😀[é]', 'i']];

const CASES = [
  ...DOUBLES.map((x) => [`double ${Object.is(x, -0) ? '-0' : x}`, serialize({ v: new Double(x) })]),
  ...[0, -1, 2147483647, -2147483648].map((x) => [`int32 ${x}`, serialize({ v: new Int32(x) })]),
  ...LONGS.map((x) => [`int64 ${x}`, serialize({ v: Long.fromString(x) })]),
  ...DECIMALS.map((x) => [`decimal128 ${x}`, serialize({ v: Decimal128.fromString(x) })]),
  ...DECIMAL_BITS.map(([h, l]) => [`decimal128 bits ${h.toString(16)} ${l.toString(16)}`, doc(['v', V.decimal(decBytes(h, l))])]),
  ['ObjectId', serialize({ v: new ObjectId(OID) })],
  ...DATES.map((ms) => [`date ${ms}`, doc(['v', V.date(ms)])]),
  ...[0, 1, 3, 4, 5, 6, 7, 8, 9, 0x80, 0xff].map((sub) => [`binary subtype ${sub}`, doc(['v', V.binary(sub, Buffer.from([0, 1, 2, 250, 255]))])]),
  ['binary subtype 2 (old)', doc(['v', V.binary(2, Buffer.from('hello'))])],
  ['binary empty', doc(['v', V.binary(0, EMPTY)])],
  ['UUID (subtype 4, 16 bytes)', serialize({ v: new UUID('0123456789abcdef0123456789abcdef') })],
  ['subtype 4 of 15 bytes', doc(['v', V.binary(4, Buffer.alloc(15, 0xab))])],
  ['subtype 3 of 16 bytes', doc(['v', V.binary(3, Buffer.alloc(16, 0xab))])],
  ['timestamp', serialize({ v: new Timestamp({ t: 1700000000, i: 7 }) })],
  ['timestamp max', doc(['v', V.timestamp(0xffffffff, 0xffffffff)])],
  ['timestamp zero', doc(['v', V.timestamp(0, 0)])],
  ...REGEXES.map(([p, o]) => [`regex /${p}/${o}`, doc(['v', V.regex(p, o)])]),
  ['BSONRegExp written by js-bson', serialize({ v: new BSONRegExp('a+', 'imsx') })],
  ['MinKey and MaxKey', serialize({ lo: new MinKey(), hi: new MaxKey() })],
  ['Code', serialize({ v: new Code('function () { return "x"; }') })],
  ['Code with scope', serialize({ v: new Code('x', { a: 1, b: Long.fromString('9007199254740993'), d: new Date(0) }) })],
  ['Code with empty scope', doc(['v', V.codeWithScope('y', doc())])],
  ['Code with a DBRef-shaped scope', doc(['v', V.codeWithScope('y', doc(['$ref', V.string('c')], ['$id', V.int32(1)]))])],
  ['Symbol', serialize({ v: new BSONSymbol('sym') })],
  ['undefined in an object', doc(['a', V.int32(1)], ['u', V.undef()], ['b', V.int32(2)])],
  ['undefined in an array', doc(['a', V.array(V.undef(), V.int32(1), V.undef())])],
  ['undefined only', doc(['u', V.undef()])],
  ['null and booleans', doc(['n', V.null()], ['t', V.bool(true)], ['f', V.bool(false)])],
  ...['coll', 'db.coll', 'a.b.c', '.coll', 'db.', ''].map((ns) => [`DBPointer "${ns}"`, doc(['v', V.dbPointer(ns, OID)])]),
  ['DBRef written by js-bson', serialize({ v: new DBRef('coll', new ObjectId(OID), 'db', { x: 1, 0: 2 }) })],
  ['DBRef: $ref, $id only', doc(['$ref', V.string('c')], ['$id', V.oid(OID)])],
  ['DBRef: fields, index key, $db first', doc(['$db', V.string('d')], ['x', V.int32(1)], ['3', V.int32(2)], ['$id', V.int32(5)], ['$ref', V.string('c')])],
  ['DBRef: $ref with one dot wins over $db', doc(['$ref', V.string('a.b')], ['$id', V.int32(1)], ['$db', V.string('z')])],
  ['DBRef: $ref with two dots', doc(['$ref', V.string('a.b.c')], ['$id', V.int32(1)])],
  ['DBRef: empty $db', doc(['$ref', V.string('c')], ['$id', V.int32(1)], ['$db', V.string('')])],
  ['DBRef: symbol $ref', doc(['$ref', V.symbol('c')], ['$id', V.int32(1)])],
  ['DBRef: __proto__ field', doc(['$ref', V.string('c')], ['$id', V.int32(1)], ['__proto__', V.int32(2)], ['y', V.int32(3)])],
  ['DBRef: __proto__ document field', doc(['$ref', V.string('c')], ['$id', V.int32(1)], ['__proto__', V.doc(['toJSON', V.int32(1)])])],
  ['DBRef: undefined field', doc(['$ref', V.string('c')], ['$id', V.int32(1)], ['u', V.undef()])],
  ['DBRef: $id a document', doc(['$ref', V.string('c')], ['$id', V.doc(['$ref', V.string('d')], ['$id', V.int32(2)])])],
  ['DBRef: repeated $ref, last wins', doc(['$ref', V.string('c')], ['$id', V.int32(1)], ['$ref', V.string('e')])],
  ['DBRef nested in an array', doc(['a', V.array(V.doc(['$ref', V.string('c')], ['$id', V.int32(1)]))])],
  ['not a DBRef: another $ key', doc(['$ref', V.string('c')], ['$id', V.int32(1)], ['$x', V.int32(2)])],
  ['not a DBRef: null $id', doc(['$ref', V.string('c')], ['$id', V.null()])],
  ['not a DBRef: undefined $id', doc(['$ref', V.string('c')], ['$id', V.undef()])],
  ['not a DBRef: $ref a number', doc(['$ref', V.int32(1)], ['$id', V.int32(1)])],
  ['not a DBRef: $db undefined', doc(['$ref', V.string('c')], ['$id', V.int32(1)], ['$db', V.undef()])],
  ['not a DBRef: $db a number', doc(['$ref', V.string('c')], ['$id', V.int32(1)], ['$db', V.int32(1)])],
  ['not a DBRef: no $id', doc(['$ref', V.string('c')], ['x', V.int32(1)])],
  ...STRINGS.map((s, i) => [`string ${i}: ${JSON.stringify(s).slice(0, 40)}`, serialize({ v: s })]),
  ...STRINGS.map((s, i) => [`key ${i}`, doc([s.replace(/\u0000/g, ''), V.int32(1)])]),
  ['numeric-like keys', doc(...['b', '10', '01', '2', '4294967295', '4294967294', '-1', '0', '1.5', '1e3', ' 1', '00'].map((k, i) => [k, V.int32(i)]))],
  ['repeated keys', doc(['a', V.int32(1)], ['b', V.int32(2)], ['a', V.string('last')], ['5', V.int32(3)], ['5', V.int32(4)])],
  ['repeated key: undefined then a value', doc(['a', V.undef()], ['b', V.int32(2)], ['a', V.int32(1)])],
  ['repeated key: a value then undefined', doc(['a', V.int32(1)], ['b', V.int32(2)], ['a', V.undef()])],
  ['many keys, repeated', doc(...Array.from({ length: 60 }, (_, i) => [`k${i % 37}`, V.int32(i)]))],
  ['__proto__ as a key', doc(['x', V.int32(1)], ['__proto__', V.doc(['polluted', V.bool(true)])], ['y', V.int32(2)])],
  ['__proto__ repeated', doc(['__proto__', V.int32(1)], ['x', V.int32(2)], ['__proto__', V.int32(3)])],
  ['empty key', doc(['', V.int32(1)])],
  ['array with odd keys', doc(['a', V.arrayKeyed(['5', V.int32(1)], ['x', V.int32(2)], ['0', V.int32(3)], ['0', V.int32(4)])])],
  ['nested arrays and documents', serialize({ a: [1, [2, [3, [4, { b: [[], {}] }]]], { c: { d: { e: 'deep' } } }], e: {} })],
  ['top-level DBRef', doc(['$ref', V.string('c')], ['$id', V.int32(1)])],
  ['empty document', doc()],
  ['a batch of three', batchOf(serialize({ a: 1 }), doc(['u', V.undef()]), serialize({ b: [new Date(0)] }))],
  ['an empty batch', EMPTY],
];

describe('(a) each BSON type and edge case renders as JSON.stringify of js-bson\'s decode', () => {
  test.each(CASES)('%s', (_label, batch) => expectSame(batch));
});

// ---- (b) seeded random documents ----

/** A small seeded PRNG (mulberry32), so a failure names its seed. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (xs) => xs[int(xs.length)];
  const bytes = (n) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}

const KEYS = ['a', 'b', 'name', '_id', '0', '1', '2', '10', '01', '00', '-1', '1.5', '4294967294', '4294967295', '9007199254740993',
  '__proto__', 'constructor', 'toJSON', '$ref', '$id', '$db', '$x', '', 'ключ', 'k"\\\n\t', '😀', '\u2028', '\u007f', ' '];
const CHARS = ['a', 'z', 'Z', '0', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u0001', '\u001f', '\u007f', '\u0080',
  'é', 'ß', '中', '\u2028', '\u2029', '\uFEFF', '\uFFFD', '\uFFFF', '😀', '👍🏽', '𝄞', '<', '>', '&', "'"];
const SAFE_PATTERNS = ['', 'a', 'ab+c', '^x$', 'a|b', '(a)(b)', '(?:x)*', '[a-z]', '[^0-9]+', '\\d{2,4}', '.*?', '\\.\\*', 'é+', 'x{', '}'];
const NAMESPACES = ['c', 'db.c', 'a.b.c', '.c', 'd.', ''];
const INTERESTING_DOUBLES = [0, -0, 1e21, 1e-7, 5e-324, 0.1 + 0.2, 2 ** 53, 2 ** 53 + 2, -(2 ** 31), 1e20, 1e-6, NaN, Infinity, -Infinity, 1.7976931348623157e308];

function genString(r, max = 24) {
  let s = '';
  for (let n = r.int(max); n > 0; n--) s += r.pick(CHARS);
  return s;
}

function genDouble(r) {
  switch (r.int(5)) {
    case 0: return r.pick(INTERESTING_DOUBLES);
    case 1: return r.bytes(8).readDoubleLE(0); // any bit pattern: NaN payloads, subnormals, huge
    case 2: return (r.next() - 0.5) * 10 ** (r.int(640) - 330);
    case 3: return Math.round((r.next() - 0.5) * 10 ** r.int(20));
    default: return Number(((r.next() - 0.5) * 10 ** r.int(8)).toFixed(r.int(8)));
  }
}

function genLong(r) {
  switch (r.int(3)) {
    case 0: return 2n ** 53n + BigInt(r.int(5) - 2) * (r.int(2) ? 1n : -1n);
    case 1: return r.bytes(8).readBigInt64LE(0);
    default: return BigInt(r.int(2000001) - 1000000);
  }
}

function genDate(r) {
  switch (r.int(4)) {
    case 0: return BigInt(Math.round((r.next() - 0.5) * 2 * 8.64e15));
    case 1: return r.bytes(8).readBigInt64LE(0);
    case 2: return BigInt(Math.round((r.next() - 0.5) * 2 * 4e12));
    default: return BigInt(r.pick([8.64e15, -8.64e15])) + BigInt(r.int(3) - 1);
  }
}

function genKey(r) {
  return r.int(3) ? r.pick(KEYS) : genString(r, 8).replace(/\u0000/g, '');
}

function genValue(r, depth) {
  const kinds = depth > 3 ? 21 : 25;
  switch (r.int(kinds)) {
    case 0: return V.double(genDouble(r));
    case 1: return V.string(genString(r));
    case 2: return V.int32(r.bytes(4).readInt32LE(0));
    case 3: return V.int64(genLong(r));
    case 4: return V.decimal(r.int(2) ? r.bytes(16) : Buffer.from(Decimal128.fromString(`${r.int(1e9)}E${r.int(80) - 40}`).bytes));
    case 5: return V.oid(r.bytes(12).toString('hex'));
    case 6: return V.date(genDate(r));
    case 7: {
      const sub = r.pick([0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 0x80, 0xff]);
      return V.binary(sub, r.bytes(sub === 4 && r.int(2) ? 16 : r.int(20)));
    }
    case 8: return V.timestamp(r.bytes(4).readUInt32LE(0), r.bytes(4).readUInt32LE(0));
    // Options may repeat a flag: js-bson throws then, and so must the renderer.
    case 9: return V.regex(r.pick(SAFE_PATTERNS), r.int(8) ? r.pick(['', 'i', 'm', 's', 'x', 'imsx', 'lu']) : r.pick(['ii', 'mm', 'ss']));
    case 10: return r.int(2) ? V.minKey() : V.maxKey();
    case 11: return V.code(genString(r));
    case 12: return V.symbol(genString(r));
    case 13: return V.undef();
    case 14: return V.null();
    case 15: return V.bool(r.int(2) === 1);
    case 16: return V.dbPointer(r.pick(NAMESPACES), r.bytes(12).toString('hex'));
    case 17: return V.int32(r.int(20) - 10);
    case 18: return V.double(r.int(100) / 8);
    case 19: return V.string(r.pick(KEYS));
    case 20: return V.int64(BigInt(r.int(100)));
    case 21: return [0x03, genDoc(r, depth + 1)];
    case 22: return [0x04, genArray(r, depth + 1)];
    case 23: return V.codeWithScope(genString(r, 8), genDoc(r, depth + 1));
    default: return [0x03, genDbRefLike(r, depth + 1)];
  }
}

function genDoc(r, depth) {
  const fields = [];
  for (let n = r.int(depth === 0 ? 12 : 6); n > 0; n--) fields.push([genKey(r), genValue(r, depth)]);
  return doc(...fields);
}

/** An array, mostly keyed 0, 1, 2…; sometimes with keys js-bson must ignore. */
function genArray(r, depth) {
  const odd = r.int(5) === 0;
  const fields = [];
  for (let i = 0, n = r.int(6); i < n; i++) fields.push([odd ? genKey(r) : String(i), genValue(r, depth)]);
  return doc(...fields);
}

/** A document shaped like a DBRef, which js-bson may or may not turn into one. */
function genDbRefLike(r, depth) {
  const fields = [];
  if (r.int(8)) fields.push(['$ref', r.int(6) ? V.string(r.pick(NAMESPACES)) : genValue(r, depth)]);
  if (r.int(8)) fields.push(['$id', r.int(2) ? V.oid(r.bytes(12).toString('hex')) : genValue(r, depth)]);
  if (r.int(3) === 0) fields.push(['$db', r.int(4) ? V.string(genString(r, 5)) : genValue(r, depth)]);
  for (let n = r.int(4); n > 0; n--) fields.push([genKey(r), genValue(r, depth)]);
  for (let i = fields.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [fields[i], fields[j]] = [fields[j], fields[i]];
  }
  return doc(...fields);
}

describe('(b) seeded random documents', () => {
  const SEEDS = 60;
  const PER_SEED = 80;
  const seen = { docs: 0, batches: 0, jsThrew: 0 };

  test.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i: byte-equal, or both throw', (seed) => {
    const r = rng(seed);
    const docs = [];
    while (docs.length < PER_SEED) {
      const batch = [];
      for (let n = 1 + r.int(4); n > 0; n--) batch.push(r.int(6) ? genDoc(r, 0) : genDbRefLike(r, 0));
      docs.push(...batch);
      const bytes = Buffer.concat(batch);
      const { js, rust } = both(bytes);
      seen.batches++;
      if (js.error) {
        // Only a repeated regex flag makes js-bson throw here; the renderer must refuse too.
        seen.jsThrew++;
        expect(js.error.message).toMatch(/Invalid flags/);
        expect(rust.error).toBeDefined();
        continue;
      }
      seen.docs += batch.length;
      if (rust.error) throw new Error(`seed ${seed}: refused ${bytes.toString('hex')}: ${rust.error.message}`);
      if (Buffer.compare(rust.bytes, js.bytes) !== 0) {
        const bson = bytes.toString('hex');
        expect({ seed, bson, json: rust.bytes.toString() }).toEqual({ seed, bson, json: js.bytes.toString() });
      }
    }
    // The same documents as one batch.
    const all = Buffer.concat(docs.filter((d) => !both(d).js.error));
    expectSame(all);
  });

  afterAll(() => {
    // Thousands of documents, of which a few batches js-bson refuses.
    expect(seen.docs).toBeGreaterThan(3000);
    expect(seen.jsThrew).toBeGreaterThan(0);
    process.stdout.write(`json-render random: ${seen.docs} documents in ${seen.batches} batches rendered byte-equal; ${seen.jsThrew} batches refused by both\n`);
  });
});

describe('(b) scalars in bulk: doubles, int64s, dates, decimals from random bits', () => {
  const KINDS = [
    ['doubles', (r) => V.double(r.int(2) ? r.bytes(8).readDoubleLE(0) : genDouble(r))],
    ['int64s', (r) => V.int64(genLong(r))],
    ['dates', (r) => V.date(genDate(r))],
    ['decimals', (r) => V.decimal(r.bytes(16))],
  ];
  test.each(KINDS)('50,000 %s', (_kind, gen) => {
    const r = rng(99);
    for (let k = 0; k < 50; k++) {
      const values = Array.from({ length: 1000 }, () => gen(r));
      expectSame(doc(['v', V.array(...values)]));
    }
  });
});

describe('(b) random regular expressions: never accepted where JS throws', () => {
  const LITERALS = ['a', 'b', 'z', '0', '9', ',', '-', '=', '<', ':', ' ', 'é', '😀'];
  const META = ['.', '^', '$', '|', '(', ')', '(?:', '(?=', '(?!', '(?<=', '(?<!', '(?<n>', '[', ']', '[^', '\\', '\\d', '\\b',
    '\\1', '\\c', '\\x4', '\\u00', '\\-', '*', '+', '?', '{', '}', '{1}', '{2,1}', '{1,}', '{,3}', '{0,99}'];
  test('10,000 patterns', () => {
    const r = rng(4242);
    const tally = { same: 0, bothThrow: 0, refused: 0 };
    for (let k = 0; k < 10000; k++) {
      let p = '';
      for (let n = 1 + r.int(10); n > 0; n--) p += r.int(2) ? r.pick(LITERALS) : r.pick(META);
      const { js, rust } = both(doc(['r', V.regex(p, r.pick(['', 'i', 'ms', 'imsx', 'ii']))]));
      if (js.error) {
        expect({ p, refused: Boolean(rust.error) }).toEqual({ p, refused: true });
        tally.bothThrow++;
      } else if (rust.error) {
        expect(rust.error.message).toMatch(/regular expression/);
        tally.refused++;
      } else {
        expect(rust.bytes.toString()).toBe(js.bytes.toString());
        tally.same++;
      }
    }
    // Most patterns JS accepts are rendered, not refused.
    expect(tally.same).toBeGreaterThan(3 * tally.refused);
    process.stdout.write(`json-render regex: ${JSON.stringify(tally)}\n`);
  });
});

// ---- (c) refusals ----

const deep = (n) => { let d = doc(); for (let i = 0; i < n; i++) d = doc(['d', [0x03, d]]); return d; };

describe('(c) refused on purpose: js-bson decodes these, the renderer throws', () => {
  test.each([
    ['a key that is not UTF-8 (js-bson writes U+FFFD)', doc([Buffer.from([0x61, 0xff]), V.int32(1)]), /malformed BSON/],
    ['a regex pattern that is not UTF-8', doc(['r', V.regex(Buffer.from([0x61, 0xff]), '')]), /malformed BSON/],
    ['a regex with a named group', doc(['r', V.regex('(?<n>a)\\k<n>', '')]), /regular expression outside/],
    ['a regex class range from a class escape', doc(['r', V.regex('[\\d-z]', '')]), /regular expression outside/],
    ['a regex repeat count of ten digits', doc(['r', V.regex('a{1234567890}', '')]), /above 9 digits/],
    ['documents nested 300 deep', deep(300), /256 levels/],
  ])('%s', (_label, batch, why) => {
    const { js, rust } = both(batch);
    expect(js.error).toBeUndefined();
    expect(rust.error.message).toMatch(/^ERR_JSON\x1f/);
    expect(rust.error.message).toMatch(why);
  });
});

describe('(c) refused because js-bson throws on them too', () => {
  const badLength = doc(['a', V.int32(1)]);
  badLength.writeInt32LE(badLength.length + 1, 0);
  test.each([
    ['a string that is not UTF-8', doc(['s', [0x02, lenstr(Buffer.from([0xff]))]])],
    ['a surrogate encoded in UTF-8', doc(['s', [0x02, lenstr(Buffer.from([0xed, 0xa0, 0x80]))]])],
    ['a code string that is not UTF-8', doc(['c', [0x0d, lenstr(Buffer.from([0xc3]))]])],
    ['a boolean byte of 2', doc(['b', [0x08, Buffer.from([2])]])],
    ['an unknown type', doc(['x', [0x14, EMPTY]])],
    ['a regex with a repeated flag', doc(['r', V.regex('a', 'ii')])],
    ['a regex JS cannot compile', doc(['r', V.regex('(', '')])],
    ['a regex with nothing to repeat', doc(['r', V.regex('a**', '')])],
    ['old binary with a wrong inner length', doc(['b', [0x05, Buffer.concat([int32(7), Buffer.from([2]), int32(2), Buffer.from('abc')])]])],
    ['a document length past the batch', badLength],
    ['a truncated batch', Buffer.from([5, 0, 0])],
  ])('%s', (_label, batch) => {
    const { js, rust } = both(batch);
    expect(js.error).toBeDefined();
    expect(rust.error.message).toMatch(/^ERR_JSON\x1f/);
  });
});
