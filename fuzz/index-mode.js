'use strict';
// createIndex as tenant A (strategy 'field'; issue 11). A case is an index spec and options.
//
// The oracle: the fence puts the tenant field first (CONTRACT.md), so the reference runs
// createIndex({ tenantId: 1, ...spec }, options) on the database holding only A's documents.
//   1. Outcome: refused with TENANT_VIOLATION (no index left behind), or the same outcome as the
//      reference (the same index name, or the same server error code). An index build that
//      fails or succeeds because of another tenant's documents shows up here. Since issue 12
//      which builds are refused is exact: under a tenant every unique, TTL, 2dsphere, text,
//      hashed or wildcard build, or a partial filter naming the tenant field, and a collation
//      that could equate tenant ids (also under runAsSystem); a plain 1/-1 build never is.
//      A quarter of the cases run under runAsSystem: the reference is then a copy of every
//      tenant's documents, and step 3 is skipped (an admin's unique index may block writes).
//   2. Nothing stored changed (a dbHash per side).
//   3. Later writes, when the index was built: each valid tenant (A and its neighbours B, a,
//      A-1, AB) inserts a copy of its own first document, inserts a copy of A's values, and
//      updates its first document to its second's values. A's outcomes must equal the
//      reference's. A neighbour's write may fail only as it would in a collection holding only
//      that neighbour's documents with the same tenant-first index (A's index must not break
//      their writes through A's documents); then every tenant's stored documents must equal
//      its own reference's, and the invalid neighbours' documents are unchanged.

const { BSON } = require('mongodb');
const { Rng, caseSeed } = require('./prng');
const { FIELD, TENANT, INDEXES } = require('./dataset');
const { openWorld, closeWorld, reset, readRaw } = require('./world');
const { canon, canonSet, decodeExact } = require('./canon');
const { call, errorSig, diffLists, fail, pass } = require('./oracle');

const KEYS = ['x', 'y', 'sub.k', 'n', 'tags', 'd', 'parent', 'ref'];
const COLLATIONS = [{ locale: 'en', strength: 2 }, { locale: 'en', strength: 1 }, { locale: 'en', strength: 3 }, { locale: 'simple' }, { locale: 'fr', caseLevel: true, strength: 1 }];
const PARTIALS = [{ x: { $gte: 2 } }, { y: { $exists: true } }, { n: { $type: 'number' } }];
/** Tenants whose later writes are checked (valid ids; the others only must stay unchanged). */
const WRITERS = [TENANT, 'B', 'a', 'A-1', 'AB'];

function generate(seed, index) {
  const r = new Rng(caseSeed(seed ^ 0x1dec5, index));
  const keys = [...KEYS].sort(() => r.next() - 0.5).slice(0, r.int(1, 2));
  const hashed = keys.length === 1 && r.chance(0.08);
  const spec = Object.fromEntries(keys.map((k) => [k, hashed ? 'hashed' : r.pick([1, -1])]));
  const opts = {};
  if (!hashed && r.chance(0.5)) opts.unique = true;
  if (r.chance(0.15)) opts.sparse = true;
  if (r.chance(0.15)) opts.partialFilterExpression = r.pick(PARTIALS);
  if (r.chance(0.25)) opts.collation = r.pick(COLLATIONS);
  if (r.chance(0.1)) opts.name = 'fz_idx';
  if (r.chance(0.04)) opts.expireAfterSeconds = 3600;
  if (r.chance(0.04)) opts.hidden = true;
  const form = keys.length === 1 && !hashed && spec[keys[0]] === 1 && r.chance(0.3) ? 'string' : 'object';
  const c = { seed, index, method: 'createIndex', args: [form === 'string' ? keys[0] : spec, opts], writeSeed: r.int(0, 1e9) };
  // Issue 12: the index kinds whose build or later writes can depend on other tenants' data
  // (the red-team's partial 2dsphere index recovered a PIN in 13 calls), on their own stream.
  const s = new Rng(caseSeed(seed ^ 0x1dec6, index));
  if (s.chance(0.3)) c.args = special(s);
  // Under runAsSystem (audited admin work) those builds are allowed, still tenant field first.
  if (s.chance(0.25)) c.system = true;
  return c;
}

/** An index a tenant may not build (or, rarely, a plain partial one it may). */
function special(s) {
  return s.pick([
    () => [{ loc: '2dsphere' }, s.chance(0.5) ? { partialFilterExpression: { y: 'banana', x: { $gte: s.int(0, 6) } } } : {}],
    () => [{ y: 'text' }, {}],
    () => [{ [s.pick(['x', 'y', 'ref'])]: 'hashed' }, {}],
    () => [{ d: 1 }, { expireAfterSeconds: s.pick([0, 3600]) }],
    () => [{ [s.pick(['x', 'y', 'ref', 'sub.k'])]: 1 }, { unique: true, ...(s.chance(0.5) ? { partialFilterExpression: { x: { $gte: s.int(0, 6) } } } : {}) }],
    () => [{ x: 1 }, { partialFilterExpression: s.pick([{ [FIELD]: 'A' }, { $or: [{ [FIELD]: 'B' }, { x: 1 }] }, { [`${FIELD}`]: { $exists: true } }]) }],
    () => [{ [s.pick(['x', 'ref'])]: s.pick([1, -1]) }, { partialFilterExpression: { y: s.pick(['apple', 'banana']), x: { $gte: s.int(0, 6) } } }],
    () => [{ 'sub.$**': 1 }, {}],
  ]);
}

/** Could this index collation make two tenant ids compare equal (scope::collation, ASCII ids)? */
function mayEquate(c) {
  if (!c) return false;
  if (c.locale === 'simple') return Object.keys(c).length > 1;
  return !(c.strength === undefined || (c.strength >= 3 && c.strength <= 5));
}

function mentionsTenant(v, depth = 0) {
  if (depth > 30 || !v || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some((x) => mentionsTenant(x, depth + 1));
  return Object.entries(v).some(([k, x]) => k === FIELD || k.startsWith(`${FIELD}.`) || mentionsTenant(x, depth + 1));
}

/**
 * Must the fence refuse this build (TENANT_VIOLATION)? Under a tenant it builds only plain
 * ascending/descending keys on one field besides the tenant field (two fields that are both
 * arrays cannot be indexed), not unique, not TTL, not hidden (a flag counts as set for any
 * value the server takes as set), with no partial filter naming the tenant field, and no name
 * starting with 'tenantfence_' (scope::indexes); nobody builds with a collation that could
 * equate tenant ids.
 */
function mustRefuseIndex(spec, opts, system) {
  if (mayEquate(opts.collation)) return true;
  if (system) return false;
  const keys = Object.entries(keyOf(spec));
  if (keys.some(([k, v]) => (v !== 1 && v !== -1) || k.includes('$**'))) return true;
  if (keys.filter(([k]) => k !== FIELD).length > 1) return true;
  const set = (v) => v !== undefined && v !== null && v !== false && v !== 0;
  if (set(opts.unique) || set(opts.hidden) || 'expireAfterSeconds' in opts) return true;
  if (typeof opts.name === 'string' && opts.name.startsWith('tenantfence_')) return true;
  return Boolean(opts.partialFilterExpression && mentionsTenant(opts.partialFilterExpression));
}

function keyOf(spec) {
  return typeof spec === 'string' ? { [spec]: 1 } : spec;
}

function tenantFirst(spec) {
  return { [FIELD]: 1, ...keyOf(spec) };
}

async function open(uri) {
  const world = await openWorld(uri, { kind: 'field' });
  world.scratch = world.raw.db(`${world.refName}x`);
  world.initialIndexes = (await world.scoped.collection('items').listIndexes().toArray()).map((i) => i.name).sort();
  return world;
}

async function close(world) {
  await world.scratch.dropDatabase().catch(() => {});
  await closeWorld(world);
}

/** Drops every index a case added (scoped and reference) and puts the seed documents back. */
async function cleanup(world) {
  for (const db of [world.scoped, world.ref]) {
    for (const ix of await db.collection('items').listIndexes().toArray()) {
      if (!world.initialIndexes.includes(ix.name)) await db.collection('items').dropIndex(ix.name);
    }
  }
  await world.scratch.collection('n').drop().catch(() => {});
  await world.scratch.collection('all').drop().catch(() => {});
  await reset(world);
}

/** The stored documents of tenant `t` in the scoped collection, canonical. */
async function scopedDocsOf(world, t) {
  const docs = (await readRaw(world.scoped, 'items')).map(decodeExact);
  return canonSet(docs.filter((d) => d[FIELD] === t));
}

/** The three later writes of tenant `t` (plain data), the same shape for every tenant. */
function writesFor(world, t, r) {
  const own = world.data.items.scoped.filter((d) => d[FIELD] === t);
  const strip = (d) => Object.fromEntries(Object.entries(d).filter(([k]) => k !== '_id' && k !== FIELD));
  const aDoc = world.data.items.a[r.int(0, world.data.items.a.length - 1)];
  const k = WRITERS.indexOf(t);
  const second = strip(own[1] || own[0]);
  return [
    ['insertOne', [{ _id: 900 + k, ...strip(own[0]) }]],
    ['insertOne', [{ _id: 950 + k, ...strip(aDoc) }]],
    ['updateOne', [{ _id: own[0]._id }, { $set: { x: second.x, y: second.y, sub: second.sub, n: second.n ?? null, tags: second.tags, d: second.d, parent: second.parent, ref: second.ref } }]],
  ];
}

const stamp = (t) => (doc) => ({ ...doc, [FIELD]: t });

async function runCase(world, c) {
  try {
    return await judge(world, c);
  } finally {
    await cleanup(world);
  }
}

async function judge(world, c) {
  const [spec, opts] = c.args;
  const as = c.system ? (fn) => world.fence.runAsSystem({ reason: `fuzz index case ${c.index}` }, fn) : (fn) => world.fence.runAs(TENANT, fn);
  const s = await as(() => call(world.fence.collection('items'), 'createIndex', structuredClone(c.args)));
  // runAsSystem: the reference is a copy of every tenant's documents (the scratch database).
  let refColl = world.ref.collection('items');
  if (c.system) {
    refColl = world.scratch.collection('all');
    await refColl.insertMany(structuredClone(world.data.items.scoped));
    // The world's own indexes too (a second text index fails: one per collection).
    for (const { key } of INDEXES.items) await refColl.createIndex(key);
  }
  const r = await call(refColl, 'createIndex', [tenantFirst(spec), structuredClone(opts)]);
  const problems = [];
  const refuse = mustRefuseIndex(spec, opts, Boolean(c.system));
  const refusedNow = Boolean(s.error && errorSig(s.error).code === 'TENANT_VIOLATION');
  if (refuse && !refusedNow) {
    const what = s.error ? `it failed otherwise: ${s.error.name} ${errorSig(s.error).code}: ${String(s.error.message).slice(0, 200)}` : `it built ${s.value}`;
    const sig = s.error ? `failed ${errorSig(s.error).code}` : 'built';
    return fail('index not refused', [`${c.system ? 'runAsSystem' : 'a tenant'} must not build this index (${c.system ? 'collation' : 'unique / TTL / non-plain key / partial filter naming the tenant / collation'}), but ${what}`], sig);
  }
  if (!refuse && refusedNow) return fail('plain index refused', [`${c.system ? 'runAsSystem' : 'a tenant'} may build this index, but: ${s.error.message}`]);
  const stateSame = async () => {
    const h = await Promise.all([world.scoped, world.ref].map((db) => db.command({ dbHash: 1, collections: ['items'] })));
    if (h[0].collections.items !== world.initialHash.scoped.items) problems.push('createIndex changed stored documents (scoped)');
  };
  const sig = s.error && errorSig(s.error);
  if (sig && sig.kind === 'tenant') {
    if (sig.code !== 'TENANT_VIOLATION') return fail('unexpected tenant error', [`${sig.code}: ${s.error.message}`]);
    const names = (await world.scoped.collection('items').listIndexes().toArray()).map((i) => i.name).sort();
    if (names.join() !== world.initialIndexes.join()) problems.push(`refused createIndex left indexes ${names.join()}`);
    await stateSame();
    return problems.length ? fail('refused but built', problems) : pass('refused');
  }
  if (s.error || r.error) {
    const show = (o) => (o.error ? `${o.error.name} ${o.error.code ?? ''}: ${String(o.error.message).slice(0, 200)}` : `ok ${canon(o.value)}`);
    if (!s.error || !r.error) return fail('one side failed', [`scoped: ${show(s)}`, `reference: ${show(r)}`], `scoped ${s.error ? errorSig(s.error).code : 'ok'} / reference ${r.error ? errorSig(r.error).code : 'ok'}`);
    if (errorSig(s.error).code !== errorSig(r.error).code) problems.push(`error codes differ: scoped ${show(s)} / reference ${show(r)}`);
    await stateSame();
    return problems.length ? fail('both error', problems) : pass('both-error', { scopedError: errorSig(s.error), refError: errorSig(r.error) });
  }
  if (s.value !== r.value) problems.push(`index names differ: scoped ${s.value} / reference ${r.value}`);
  const built = (await world.scoped.collection('items').listIndexes().toArray()).find((i) => i.name === s.value);
  if (!built) problems.push(`no index ${s.value} on the scoped collection`);
  else if (canon(built.key) !== canon(tenantFirst(spec))) problems.push(`the index's key is ${canon(built.key)}, expected ${canon(tenantFirst(spec))}`);
  await stateSame();
  // A system build may block later writes of every tenant (that is the admin's choice).
  if (!c.system) problems.push(...(await laterWrites(world, c, spec, opts)));
  return problems.length ? fail('index', problems) : pass('agree');
}

/** Step 3: every valid tenant's writes after A's index exists. */
async function laterWrites(world, c, spec, opts) {
  const problems = [];
  const r = new Rng(c.writeSeed);
  const show = (o) => (o.error ? `${o.error.name} ${errorSig(o.error).code}` : 'ok');
  // The neighbours' reference: one scratch collection holding only the valid neighbours'
  // documents with the same tenant-first index (per tenant, since the tenant comes first).
  const scratch = world.scratch.collection('n');
  await scratch.insertMany(structuredClone(world.data.items.scoped.filter((d) => d[FIELD] !== TENANT && WRITERS.includes(d[FIELD]))));
  const scratchIndex = await call(scratch, 'createIndex', [tenantFirst(spec), structuredClone(opts)]);
  if (scratchIndex.error) {
    // Their own documents cannot hold this index: then A's build must have been refused or failed.
    problems.push(`the neighbours' own documents cannot hold the index (${show(scratchIndex)}), yet A's createIndex built it: A's call depends on their data`);
    return problems;
  }
  for (const t of WRITERS) {
    const writes = writesFor(world, t, r);
    // The tenant's own reference: A's is the reference database; a neighbour's a scratch
    // collection holding only its documents, with the same tenant-first index.
    const refColl = t === TENANT ? world.ref.collection('items') : scratch;
    let diverged = false;
    for (const [method, args] of writes) {
      const s = await world.fence.runAs(t, () => call(world.fence.collection('items'), method, structuredClone(args)));
      const refArgs = method === 'insertOne' ? [stamp(t)(args[0])] : structuredClone(args);
      const e = await call(refColl, method, refArgs);
      const same = Boolean(s.error) === Boolean(e.error) && (!s.error || errorSig(s.error).code === errorSig(e.error).code);
      // A neighbour's write may succeed where its own reference fails (an index that applies
      // to A only would be stricter isolation); it may not fail where its reference succeeds.
      if (!same) diverged = true;
      if (!same && !(t !== TENANT && !s.error)) problems.push(`tenant ${t}: ${method}(${BSON.EJSON.stringify(args)}) scoped ${show(s)} / its reference ${show(e)}`);
    }
    const sd = await scopedDocsOf(world, t);
    const rd = canonSet((await refColl.find({}, { raw: true }).toArray()).map(decodeExact).filter((d) => d[FIELD] === t));
    if (canon(sd) !== canon(rd) && !diverged) problems.push(`tenant ${t}'s documents differ from its reference: ${diffLists(rd, sd)}`);
  }
  // The invalid neighbours ('', null, no field, 'A ', 'Ａ') wrote nothing: unchanged.
  const docs = (await readRaw(world.scoped, 'items')).map(decodeExact).filter((d) => !WRITERS.includes(d[FIELD]));
  const before = world.data.items.scoped.filter((d) => !WRITERS.includes(d[FIELD]));
  if (canon(canonSet(docs)) !== canon(canonSet(before))) problems.push(`documents of other tenants changed: ${diffLists(canonSet(before), canonSet(docs))}`);
  return problems;
}

const MODE = {
  name: 'index',
  open,
  close,
  generate,
  runCase,
  shrinkable: true,
  code: (c) => `await fence.${c.system ? `runAsSystem({ reason: 'fuzz index case ${c.index}' }` : "runAs('A'"}, () => fence.collection('items').createIndex(${c.args.map((a) => BSON.EJSON.stringify(a, { relaxed: true })).join(', ')}))`,
};

module.exports = { MODE, generate, runCase, open, close };
