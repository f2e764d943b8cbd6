'use strict';
// The fuzzer's modes (issue 11): what world a case runs in, how a case is generated and judged.
//
//   field       strategy 'field', tenant A beside its neighbours (the original mode, issue 3)
//   collation   as field, the collections created outside the fence with a default collation
//               ({ locale: 'en', strength: 2 }) under which tenants 'A' and 'a' compare equal
//   collation-stale  as collation, but the fence first saw the collections with the simple
//               collation before they were re-created (issue 12)
//   database    strategy 'database': A's database beside the neighbours' databases
//   system      runAsSystem with an audit hook: unscoped, audited, every write names a tenant
//   index       createIndex as tenant A (strategy 'field'), then every tenant's later writes
//   concurrent  5+ principals (tenants of two fences) in flight at once, both strategies
//   watch       a change stream of tenant A against an oracle stream on A's writes alone
//   tx-field, tx-database, tx-system  as field, database and system, each case inside
//               fence.withTransaction, against the driver's session.withTransaction
//   mongoose    as field, each case the Mongoose call an app would make for it (Mongoose 9 or 8
//               on tenantfence/mongoose as A), against a plain Mongoose on the reference (issue 15)
//
// A mode: { name, kinds (the worlds it opens), open(uri), close(world), generate(seed, index),
// runCase(world, c), shrinkable, code(c) (a case as a line of code, for the reproduction) }.

const { generate } = require('./generator');
const { showArgs } = require('./clone');
const { runCase } = require('./oracle');
const { openWorld, closeWorld } = require('./world');
const { Rng, caseSeed } = require('./prng');
const indexMode = require('./index-mode');
const { FIELD } = require('./dataset');
const concurrent = require('./concurrent');
const watchMode = require('./watch-mode');
const mongooseMode = require('./mongoose-mode');


function callCode(c) {
  const tail = c.method === 'find' || c.method === 'aggregate' ? '.toArray()' : '';
  return `fence.collection('${c.coll ?? 'items'}').${c.method}(${c.args.map(showArgs).join(', ')})${tail}`;
}

function generic(name, kind, { code, generateCase = generate, stale = false, tx = false } = {}) {
  return {
    name,
    open: async (uri) => Object.assign(await openWorld(uri, { kind, stale }), { tx }),
    close: closeWorld,
    generate: generateCase,
    runCase,
    shrinkable: true,
    code: code || ((c) => `await fence.runAs('A', () => ${callCode(c)})`),
  };
}

/**
 * System cases: the grammar's cases minus those holding a refused stage ($out/$merge are refused
 * under runAsSystem too, and would write on the reference side); one in ten has a hook that
 * throws. Both choices come from the case's own seed, so (seed, index) still names one case.
 */
function generateSystem(seed, index) {
  // No shared-counter shapes: the two sides' record ids differ by design (not a tenant rule).
  let c = generate(seed, index, { counters: false });
  for (let k = 1; c.mustRefuse; k++) c = { ...generate((seed + Math.imul(k, 0x3c6ef372)) >>> 0, index, { counters: false }), seed, index };
  const r = new Rng(caseSeed(seed ^ 0x5ad17, index));
  if (r.chance(0.08)) c = { ...invalidIdWrite(r), seed, index };
  return r.chance(0.1) ? { ...c, hookThrows: true } : c;
}

/** Ids the default rule allows but the system world's tenantIdPattern (world.js) refuses. */
const PATTERN_BREAKERS = ['A_1', '1A', 'ABCDEFG', '_x', 'a_b'];

/**
 * Issue 12: a system write naming an id that breaks the fence's custom tenantIdPattern, on every
 * write path: refused with TENANT_INVALID, and nothing written (not even the valid documents of
 * an unordered batch).
 */
function invalidIdWrite(r) {
  const bad = r.pick(PATTERN_BREAKERS);
  const c = r.pick([
    () => ({ method: 'insertOne', args: [{ x: 1, [FIELD]: bad }] }),
    () => ({ method: 'insertMany', args: [[{ [FIELD]: 'B', x: 1 }, { [FIELD]: bad, x: 2 }], { ordered: false }] }),
    () => ({ method: 'bulkWrite', args: [[{ insertOne: { document: { [FIELD]: 'A', x: 3 } } }, { updateOne: { filter: { _id: 1 }, update: { $set: { [FIELD]: bad } } } }], { ordered: false }] }),
    () => ({ method: 'bulkWrite', args: [[{ deleteOne: { filter: { _id: 2 } } }, { replaceOne: { filter: { _id: 60 }, replacement: { [FIELD]: bad }, upsert: true } }], {}] }),
    () => ({ method: 'updateMany', args: [{ x: { $gte: 0 } }, { $set: { [FIELD]: bad } }, {}] }),
    () => ({ method: 'updateOne', args: [{ _id: 2 }, [{ $set: { [FIELD]: bad } }], {}] }),
    () => ({ method: 'updateOne', args: [{ [FIELD]: bad, _id: 60 }, { $set: { z: 1 } }, { upsert: true }] }),
    () => ({ method: 'updateOne', args: [{ _id: 61 }, { $setOnInsert: { [FIELD]: bad } }, { upsert: true }] }),
    () => ({ method: 'replaceOne', args: [{ _id: 3 }, { [FIELD]: bad, y: 'r' }, {}] }),
    () => ({ method: 'findOneAndReplace', args: [{ _id: 61 }, { [FIELD]: bad }, { upsert: true }] }),
    () => ({ method: 'findOneAndUpdate', args: [{ _id: 4 }, { $set: { [FIELD]: bad } }, {}] }),
  ]);
  return { ...c, mustFail: { kind: 'tenant', code: 'TENANT_INVALID' } };
}

const MODES = {
  field: generic('field', 'field'),
  collation: generic('collation', 'collation'),
  'collation-stale': generic('collation-stale', 'collation', { stale: true }),
  database: generic('database', 'database'),
  system: generic('system', 'system', {
    generateCase: generateSystem,
    code: (c) => `await fence.runAsSystem({ reason: 'fuzz case ${c.index}' }, () => ${callCode(c)})${c.hookThrows ? ' // with a hook that throws' : ''}`,
  }),
  // Issue 16: tenant A's and B's union through runAsTenants: reads against a reference holding
  // both tenants' documents; every write must be refused.
  union: generic('union', 'union', { code: (c) => `await fence.runAsTenants(['A', 'B'], () => ${callCode(c)})` }),
  index: indexMode.MODE,
  concurrent: concurrent.MODE,
  watch: watchMode.MODE,
  mongoose: mongooseMode.MODE,
  // Issue 14: each case inside fence.withTransaction (the session bound to the async context),
  // against the driver's session.withTransaction on the reference.
  'tx-field': generic('tx-field', 'field', { tx: true, code: (c) => `await fence.runAs('A', () => fence.withTransaction(() => ${callCode(c)}))` }),
  'tx-database': generic('tx-database', 'database', { tx: true, code: (c) => `await fence.runAs('A', () => fence.withTransaction(() => ${callCode(c)}))` }),
  'tx-system': generic('tx-system', 'system', {
    tx: true,
    generateCase: generateSystem,
    code: (c) => `await fence.runAsSystem({ reason: 'fuzz case ${c.index}' }, () => fence.withTransaction(() => ${callCode(c)}))`,
  }),
};

/** Mode names in the order `--all` runs them. */
const ALL = ['field', 'collation', 'collation-stale', 'database', 'system', 'union', 'index', 'concurrent', 'tx-field', 'tx-database', 'tx-system', 'watch', 'mongoose'];

/**
 * How `--all` (or a list of modes) splits a total case count: weights per mode. A concurrent
 * case is a round of ~5+ principals × ~24 steps, so it gets few; an index case runs ~10 calls.
 */
const WEIGHTS = { field: 50, collation: 6, 'collation-stale': 4, database: 15, system: 15, union: 8, index: 5, concurrent: 5, 'tx-field': 8, 'tx-database': 4, 'tx-system': 4, watch: 3, mongoose: 8 };

function split(total, names) {
  const w = names.reduce((s, n) => s + WEIGHTS[n], 0);
  const out = {};
  let left = total;
  names.forEach((n, i) => {
    out[n] = i === names.length - 1 ? left : Math.floor((total * WEIGHTS[n]) / w);
    left -= out[n];
  });
  return out;
}

module.exports = { MODES, ALL, WEIGHTS, split };
