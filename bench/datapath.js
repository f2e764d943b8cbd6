#!/usr/bin/env node
'use strict';
// Data-path benchmark: the same request work (JS document -> bson::Document in Rust,
// stamp `tenantId`, document back to JS) over each way of crossing the JS/Rust
// boundary. Checks every path for BSON type-exactness first, then times round trips
// in interleaved rounds. Needs the bench build: `npm run bench:build`.

const path = require('node:path');
const { ObjectId, Decimal128, Long, Binary, Int32, Double, EJSON, BSON } = require('bson');
const { machine, writeSection, table, median, fmt } = require('./lib/report');

let native;
try {
  native = require(path.join(__dirname, 'native', 'binding.js'));
} catch (e) {
  console.error(`bench/native is missing or stale (${e.message.split('\n')[0]}); run: npm run bench:build`);
  process.exit(1);
}
native.benchSetClasses({ ObjectId, Long, Decimal128, Binary });

const ROUNDS = Number(process.env.BENCH_ROUNDS || 7);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS || 300);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS || 500);

// --- documents -------------------------------------------------------------------

function item(i) {
  return { sku: `SKU-${1000 + i}`, qty: (i % 5) + 1, unit: Decimal128.fromString(`${(i % 97) + 0.99}`) };
}

function order(items) {
  return {
    _id: new ObjectId(),
    customer: 'Ada Lovelace',
    status: 'paid',
    total: 123.45,
    createdAt: new Date('2024-02-29T12:34:56.789Z'),
    price: Decimal128.fromString('1234567890.123456789012345678901234'),
    seq: Long.fromString('9007199254740993'), // 2^53 + 1: only a Long holds it
    blob: new Binary(Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'), 0),
    items: Array.from({ length: items }, (_, i) => item(i)),
  };
}

// --- the paths ---------------------------------------------------------------------

const READ = { promoteLongs: false, promoteBuffers: false, bsonRegExp: false };
const WRITE = { checkKeys: false, ignoreUndefined: false };

/** EJSON canonical parse yields Int32/Double wrappers; a driver user expects plain numbers. */
function unwrapNumbers(v) {
  if (v instanceof Int32 || v instanceof Double) return v.valueOf();
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = unwrapNumbers(v[i]);
    return v;
  }
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const k of Object.keys(v)) v[k] = unwrapNumbers(v[k]);
  }
  return v;
}

const CANONICAL = { relaxed: false };

const PATHS = [
  {
    name: 'bson-bytes',
    what: 'js-bson `serialize` → `&[u8]` → `Document::from_reader` … `to_vec` → `Buffer` → js-bson `deserialize` (shipped)',
    run: (d) => BSON.deserialize(native.benchRoundtripBson(BSON.serialize(d, WRITE)), READ),
  },
  {
    name: 'ejson-text',
    what: '`EJSON.stringify` (canonical) → `String` → serde_json + `Bson::try_from` … `into_canonical_extjson` → `EJSON.parse` (canonical) + unwrap Int32/Double',
    run: (d) => unwrapNumbers(EJSON.parse(native.benchRoundtripJson(EJSON.stringify(d, CANONICAL)), CANONICAL)),
  },
  {
    name: 'ejson-text-raw',
    what: 'as `ejson-text` without the unwrap pass (numbers come back as Int32/Double objects)',
    run: (d) => EJSON.parse(native.benchRoundtripJson(EJSON.stringify(d, CANONICAL)), CANONICAL),
    timed: false,
  },
  {
    name: 'napi-serde-plain',
    what: 'the plain JS document through napi\'s `serde-json` feature (`serde_json::Value` argument, relaxed Extended JSON result)',
    run: (d) => native.benchRoundtripValue(d, false),
  },
  {
    name: 'napi-serde-ejson',
    what: '`EJSON.serialize` (canonical objects) → napi `serde_json::Value` → `Bson::try_from` … → `EJSON.deserialize` + unwrap',
    run: (d) => unwrapNumbers(EJSON.deserialize(native.benchRoundtripValue(EJSON.serialize(d, CANONICAL), true), CANONICAL)),
  },
  {
    name: 'napi-object-walk',
    what: 'hand-written walk of the JS object with raw `napi_*` calls, js-bson classes found by `_bsontype`, rebuilt with their constructors',
    run: (d) => native.benchRoundtripObject(d),
  },
  {
    name: 'js-only (reference)',
    what: 'js-bson `serialize` + `deserialize` with no native call and no stamp: the floor under `bson-bytes`',
    run: (d) => {
      const out = BSON.deserialize(BSON.serialize(d, WRITE), READ);
      out.tenantId = 'acme';
      return out;
    },
    reference: true,
  },
  {
    name: 'bytes-echo (reference)',
    what: 'js-bson `serialize` → native call that copies the bytes back untouched → js-bson `deserialize`: `bson-bytes` minus the Rust parse/stamp/encode',
    run: (d) => {
      const out = BSON.deserialize(native.benchEchoBytes(BSON.serialize(d, WRITE)), READ);
      out.tenantId = 'acme';
      return out;
    },
    reference: true,
  },
];

// --- type-exactness ------------------------------------------------------------------

function kind(v) {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  if (v._bsontype) return v._bsontype;
  if (v instanceof Date) return 'Date';
  if (Array.isArray(v)) return 'Array';
  return Object.getPrototypeOf(v) === Object.prototype ? 'Object' : v.constructor?.name || 'object';
}

/** First difference between `want` and `got`, or null: same classes, same values, same key order. */
function diff(want, got, at = '') {
  const kw = kind(want);
  const kg = kind(got);
  if (kw !== kg || (typeof want === 'object' && want !== null && Object.getPrototypeOf(want) !== Object.getPrototypeOf(got))) {
    return `${at || 'value'}: ${kw} became ${kg === 'Object' ? JSON.stringify(got).slice(0, 60) : kg}`;
  }
  const same = (ok) => (ok ? null : `${at}: ${kw} value changed`);
  switch (kw) {
    case 'number':
      return same(Object.is(want, got));
    case 'string':
    case 'boolean':
    case 'null':
      return same(want === got);
    case 'Date':
      return same(want.getTime() === got.getTime());
    case 'ObjectId':
      return same(want.equals(got));
    case 'Long':
      return same(want.equals(got) && want.unsigned === got.unsigned);
    case 'Decimal128':
      return same(Buffer.compare(Buffer.from(want.bytes), Buffer.from(got.bytes)) === 0);
    case 'Binary':
      return same(want.sub_type === got.sub_type && Buffer.compare(Buffer.from(want.read(0, want.length())), Buffer.from(got.read(0, got.length()))) === 0);
    case 'Array':
      if (want.length !== got.length) return `${at}: array length ${want.length} became ${got.length}`;
      for (let i = 0; i < want.length; i++) {
        const d = diff(want[i], got[i], `${at}[${i}]`);
        if (d) return d;
      }
      return null;
    case 'Object': {
      const kw2 = Object.keys(want);
      const kg2 = Object.keys(got);
      if (kw2.join('\0') !== kg2.join('\0')) return `${at || 'document'}: keys ${kw2} became ${kg2}`;
      for (const k of kw2) {
        const d = diff(want[k], got[k], at ? `${at}.${k}` : k);
        if (d) return d;
      }
      return null;
    }
    default:
      return `${at}: cannot compare ${kw}`;
  }
}

/** Round-trips `doc` through `p`; null when exact (plus the stamp), else why not. */
function exactness(p, doc) {
  let out;
  try {
    out = p.run(doc);
  } catch (e) {
    return `error: ${e.message}`;
  }
  if (!out || out.tenantId !== 'acme') return 'tenantId missing from the reply';
  const { tenantId, ...rest } = out;
  return diff(doc, rest);
}

// --- timing -----------------------------------------------------------------------

function timeFor(run, doc, ms) {
  let n = 0;
  const end = process.hrtime.bigint() + BigInt(ms * 1e6);
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 16; i++) run(doc);
    n += 16;
  }
  return n;
}

function timeN(run, doc, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) run(doc);
  return Number(process.hrtime.bigint() - t0); // ns
}

function bench(paths, doc) {
  const iters = new Map();
  for (const p of paths) {
    // Warm-up also calibrates: N round trips take about ROUND_MS.
    const n = timeFor(p.run, doc, WARMUP_MS);
    iters.set(p, Math.max(16, Math.round((n * ROUND_MS) / WARMUP_MS)));
  }
  const samples = new Map(paths.map((p) => [p, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, with a rotating start, so drift (thermal, other load) hits every path alike.
    for (let i = 0; i < paths.length; i++) {
      const p = paths[(i + r) % paths.length];
      const n = iters.get(p);
      samples.get(p).push((n * 1e9) / timeN(p.run, doc, n));
    }
  }
  return paths.map((p) => {
    const s = samples.get(p);
    return { p, n: iters.get(p), med: median(s), min: Math.min(...s), max: Math.max(...s) };
  });
}

// --- main -------------------------------------------------------------------------

function main() {
  const docs = [
    { label: 'order, 3 items', doc: order(3) },
    { label: 'order, 50 items', doc: order(50) },
  ];
  for (const d of docs) d.bytes = BSON.serialize(d.doc).length;

  // Per field: which paths keep which types.
  const sample = order(3);
  const fields = Object.keys(sample);
  const exactRows = fields.map((f) => [
    `\`${f}\` (${kind(sample[f])})`,
    ...PATHS.filter((p) => !p.reference).map((p) => {
      const why = exactness(p, { [f]: sample[f] });
      return why ? `✗ ${why.replace(/\|/g, '\\|').slice(0, 70)}` : '✓';
    }),
  ]);
  const whole = PATHS.map((p) => ({ p, why: exactness(p, order(50)) }));
  for (const { p, why } of whole) console.log(`${p.name.padEnd(20)} ${why ? `NOT exact: ${why}` : 'type-exact'}`);

  // Time every path that returns a document at all; a path that throws cannot be timed.
  const timed = PATHS.filter((p) => p.timed !== false && !whole.find((w) => w.p === p).why?.startsWith('error'));
  const results = [];
  for (const d of docs) {
    console.log(`\n${d.label} (${d.bytes} bytes as BSON): ${ROUNDS} rounds of ~${ROUND_MS} ms per path`);
    const rows = bench(timed, d.doc);
    const base = rows.find((r) => r.p.name === 'bson-bytes');
    for (const r of rows) {
      console.log(
        `  ${r.p.name.padEnd(20)} ${fmt(r.med).padStart(9)} ops/s  ${fmt(1e9 / r.med).padStart(7)} ns/op  ` +
          `(min ${fmt(r.min)}, max ${fmt(r.max)}; ${(r.med / base.med).toFixed(2)}x bson-bytes)`,
      );
    }
    results.push({ d, rows, base });
  }

  const exactOf = (p) => {
    const why = whole.find((w) => w.p === p).why;
    return why ? `no: ${why.replace(/\|/g, '\\|').slice(0, 80)}` : 'yes';
  };
  // A run under another allocator setting gets its own section, beside the plain one.
  const tunables = process.env.GLIBC_TUNABLES;
  const md = [
    `## Data path: BSON bytes vs Extended JSON vs napi object conversion${tunables ? ` (GLIBC_TUNABLES=${tunables})` : ''}`,
    '',
    `Run: \`${tunables ? `GLIBC_TUNABLES=${tunables} ` : ''}npm run bench:datapath\` — ${machine()}.`,
    `Each path does the same work: JS document → \`bson::Document\` in Rust → insert \`tenantId: "acme"\` → document back in JS.`,
    `Round trips per path: warm-up ${WARMUP_MS} ms (also sets N so a round takes ~${ROUND_MS} ms), then ${ROUNDS} interleaved rounds;`,
    'the table gives the median, and min/max over the rounds to show the noise.',
    '',
    '### Paths',
    '',
    table(['path', 'how', 'type-exact (50-item order)'], PATHS.map((p) => [`\`${p.name}\``, p.what, p.reference ? '(reference)' : exactOf(p)])),
    '',
    '### Type-exactness per field (each field of the 3-item order round-tripped alone)',
    '',
    table(['field', ...PATHS.filter((p) => !p.reference).map((p) => `\`${p.name}\``)], exactRows),
    '',
    ...results.flatMap(({ d, rows, base }) => [
      `### Speed: ${d.label} (${d.bytes} bytes as BSON)`,
      '',
      table(
        ['path', 'median ops/s', 'ns/op', 'min ops/s', 'max ops/s', 'vs bson-bytes', 'N per round'],
        rows.map((r) => [
          `\`${r.p.name}\``,
          fmt(r.med),
          fmt(1e9 / r.med),
          fmt(r.min),
          fmt(r.max),
          `${(r.med / base.med).toFixed(2)}x`,
          fmt(r.n),
        ]),
      ),
      '',
    ]),
  ].join('\n');
  const file = writeSection(tunables ? `datapath-${tunables}` : 'datapath', `${md}\n${verdict(results, whole)}`);
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
}

/** One paragraph on which path wins among the type-exact ones, from the numbers just measured. */
function verdict(results, whole) {
  const exact = new Set(whole.filter((w) => !w.why && !w.p.reference).map((w) => w.p.name));
  const lines = ['### Verdict (computed from this run)', ''];
  for (const { d, rows } of results) {
    const ranked = rows.filter((r) => exact.has(r.p.name)).sort((a, b) => b.med - a.med);
    if (!ranked.length) continue;
    const [best, next] = ranked;
    lines.push(
      `- ${d.label}: fastest type-exact path is \`${best.p.name}\` (${fmt(best.med)} ops/s)` +
        (next ? `, ${(best.med / next.med).toFixed(2)}x the next (\`${next.p.name}\`, ${fmt(next.med)} ops/s).` : '.'),
    );
  }
  return lines.join('\n');
}

main();
