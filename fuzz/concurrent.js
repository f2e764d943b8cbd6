'use strict';
// Concurrency mode (issue 11): several principals' generated operations in flight at once.
//
// A principal is a tenant of a fence. Each round runs two fences in one process on the same
// collection names: under strategy 'field' both share one database and differ in their tenant
// field ('tenantId' and 'org'); under strategy 'database' they have different base databases.
// Six principals: tenants ta, tb, tc, td of the first fence and ta, te of the second (so one
// tenant id names two different principals).
//
// Each principal runs its own deterministic sequence of steps, one after another; all the
// principals run at the same time (Promise.all). A step is one call, or a burst of independent
// calls of that principal sent together (inserts of distinct new _ids, or findOne by _id), so
// that many plain insertOne and findOne({ _id }) calls of different tenants are in flight at
// once: the calls the fence shares commands for (src/binding/lanes/). The reference of a
// principal is the same sequence run one call at a time, unscoped through the raw driver, on a
// database holding only that principal's documents (stamped with its tenant under 'field').
//
// Beside them, two multi-tenant readers (issue 16): fence.runAsTenants(['ta', 'tb']) on the first
// fence and (['ta', 'te']) on the second (whose quota gate is then keyed by the set), reading
// while the members and their neighbours write. Their answers depend on the interleaving, so
// they are judged by containment: every document a union read returns (joined ones included)
// is a member's, every write of theirs is refused with TENANT_VIOLATION and stores nothing, and
// under 'database' every union call is refused (one call reads one database).
//
// The oracle: every call's result (or error code) equals its reference's; afterwards each
// principal's stored documents, read through the raw driver, equal its reference's (as sets of
// whole documents), and nothing was stored anywhere else (no document of no principal, no
// other database or collection). Under 'database' all principals use the SAME _ids, so a
// call sent to another tenant's database reads a foreign document or hits a duplicate key.

const crypto = require('node:crypto');
const { MongoClient, ObjectId, BSON } = require('mongodb');
const { TenantFence } = require('..');
const { Rng, caseSeed } = require('./prng');
const { tenantDatabase } = require('./world');
const { call, errorSig, diffLists, fail, pass } = require('./oracle');

const COLLS = ['items', 'other'];
const PRINCIPALS = [
  [0, 'ta'],
  [0, 'tb'],
  [0, 'tc'],
  [0, 'td'],
  [1, 'ta'],
  [1, 'te'],
];
const FIELDS = ['tenantId', 'org'];
// The multi-tenant readers: [fence, member tenants].
const UNIONS = [
  [0, ['ta', 'tb']],
  [1, ['ta', 'te']],
];
const STEPS = 24;
const SEED_DOCS = 3;

/** A deterministic ObjectId: `slot` (principal, or 0 when every principal shares ids) and a counter. */
function oid(slot, n) {
  return new ObjectId(`c0ffee${slot.toString(16).padStart(2, '0')}${n.toString(16).padStart(16, '0')}`);
}

/** EJSON with exact types and ObjectIds, top-level keys sorted (where the stamp goes is not compared). */
function exact(v) {
  const sortTop = (d) => (d && typeof d === 'object' && !Array.isArray(d) && !d._bsontype ? Object.fromEntries(Object.keys(d).sort().map((k) => [k, d[k]])) : d);
  return BSON.EJSON.stringify(Array.isArray(v) ? v.map(sortTop) : sortTop(v), { relaxed: false });
}

/** A deep copy that keeps BSON values (ObjectId …) as they are (structuredClone would not). */
function clone(v) {
  if (Array.isArray(v)) return v.map(clone);
  if (v && typeof v === 'object' && !v._bsontype && !(v instanceof Date)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  return v;
}

function exactSet(docs) {
  return docs.map(exact).sort();
}

/** Opens the two fences and every database of one strategy's sub-world. */
async function openSide(uri, raw, strategy, nPrincipals) {
  const suffix = `${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const bases = [`tf_fzc_${suffix}`, strategy === 'field' ? `tf_fzc_${suffix}` : `tf_fzd_${suffix}`];
  const fences = [];
  for (let f = 0; f < 2; f++) {
    const o = { database: bases[f] };
    if (strategy === 'database') o.strategy = 'database';
    else o.tenantField = FIELDS[f];
    // The second fence holds every tenant to quotas, so calls of many tenants queue at their
    // gates in Rust while others run (never refused: the queue is deep), and its reads carry the
    // quota's maxTimeMS: the answers must stay those of the oracle.
    if (f === 1) o.quotas = { maxConcurrent: 2, opsPerSecond: 1e6, maxTimeMS: 600000, maxQueue: 1e6 };
    fences.push(await TenantFence.connect(uri, o));
  }
  const principals = [];
  for (const [i, [f, tenant]] of principalList(nPrincipals).entries()) {
    const p = { i, f, tenant, fence: fences[f], field: strategy === 'field' ? FIELDS[f] : null, ref: raw.db(`tf_fzr_${suffix}_${i}`) };
    p.store = strategy === 'database' ? raw.db(await tenantDatabase(p.fence, raw, tenant)) : raw.db(bases[0]);
    principals.push(p);
  }
  return { strategy, fences, bases, principals, suffix };
}

function principalList(n) {
  const out = [...PRINCIPALS];
  for (let k = out.length; k < n; k++) out.push([k % 2, `t${k}`]);
  return out.slice(0, Math.max(n, 5));
}

/** The world: one sub-world per strategy, a raw client. `principals`: how many (default 6). */
async function open(uri, { principals = PRINCIPALS.length } = {}) {
  const raw = new MongoClient(uri);
  await raw.connect();
  const world = { raw, sides: {} };
  for (const strategy of ['field', 'database']) world.sides[strategy] = await openSide(uri, raw, strategy, principals);
  return world;
}

async function close(world) {
  for (const side of Object.values(world.sides)) {
    for (const f of side.fences) await f.close().catch(() => {});
    const dbs = new Set([...side.bases, ...side.principals.flatMap((p) => [p.store.databaseName, p.ref.databaseName])]);
    for (const name of dbs) await world.raw.db(name).dropDatabase().catch(() => {});
  }
  await world.raw.close();
}

/** A principal's seed documents of `coll` (as stored: stamped under 'field'). */
function seedDocs(side, p, coll) {
  const slot = side.strategy === 'database' ? 0 : p.i + 1;
  return Array.from({ length: SEED_DOCS }, (_, k) => {
    const d = { _id: oid(slot, coll === 'items' ? k : 1000 + k), owner: `${p.f}:${p.tenant}`, k, v: k * 10 + (coll === 'items' ? 0 : 5) };
    return p.field ? { ...d, [p.field]: p.tenant } : d;
  });
}

/** Deletes everything and puts every principal's seed documents back, on both sides. */
async function resetSide(side) {
  const jobs = [];
  for (const coll of COLLS) {
    if (side.strategy === 'field') {
      jobs.push([side.principals[0].store.collection(coll), side.principals.flatMap((p) => seedDocs(side, p, coll))]);
    } else {
      for (const p of side.principals) jobs.push([p.store.collection(coll), seedDocs(side, p, coll)]);
    }
    for (const p of side.principals) jobs.push([p.ref.collection(coll), seedDocs(side, p, coll)]);
  }
  await Promise.all(
    jobs.map(async ([c, docs]) => {
      await c.deleteMany({});
      await c.insertMany(docs);
    }),
  );
}

/**
 * The steps of principal `pi` in round (seed, index) under `strategy`. A step is a list of
 * calls { coll, method, args } sent together (one call, or a burst of independent ones).
 */
function stepsFor(seed, index, strategy, pi, nPrincipals) {
  const r = new Rng(caseSeed(seed ^ Math.imul(pi + 1, 0x2545f491), index));
  // Under 'database' every principal uses the same _ids; under 'field' each its own.
  const slot = strategy === 'database' ? 0 : pi + 1;
  const known = { items: [], other: [] };
  for (let k = 0; k < SEED_DOCS; k++) {
    known.items.push(oid(slot, k));
    known.other.push(oid(slot, 1000 + k));
  }
  let counter = 100;
  const fresh = () => oid(slot, counter++);
  const owner = `${PRINCIPALS[pi] ? PRINCIPALS[pi][0] : pi % 2}:${PRINCIPALS[pi] ? PRINCIPALS[pi][1] : `t${pi}`}`;
  const doc = (coll, id) => {
    const d = id ? { _id: id } : {};
    Object.assign(d, { owner, k: r.int(0, 5), v: r.int(0, 99) });
    if (r.chance(0.2)) d.tags = ['a', r.pick(['b', 'c'])];
    if (id) known[coll].push(id);
    return d;
  };
  // An _id to look up: own (stored or not yet), another principal's, or nobody's.
  const lookupId = (coll) =>
    r.weighted([
      [5, () => r.pick(known[coll])],
      [1, () => oid(slot, counter + r.int(0, 3))],
      [2, () => oid(strategy === 'database' ? 0 : r.int(1, nPrincipals), r.pick([0, 1, 2, 100, 101, 102, 1000]))],
      [1, () => oid(250, r.int(0, 5))],
    ]);
  const plainInsert = (coll) => ({ coll, method: 'insertOne', args: [doc(coll, r.chance(0.85) ? fresh() : undefined)] });
  const plainFind = (coll) => ({ coll, method: 'findOne', args: [{ _id: lookupId(coll) }] });
  // Calls that cannot fail (a failed one would abort the transaction the reference has not got).
  const txCalls = (coll) =>
    Array.from({ length: r.int(2, 4) }, () =>
      r.weighted([
        [3, () => plainInsert(coll)],
        [3, () => plainFind(coll)],
        [2, () => ({ coll, method: 'updateOne', args: [{ _id: lookupId(coll) }, { $inc: { v: 1 } }] })],
        [1, () => ({ coll, method: 'find', args: [{}, { sort: { _id: 1 } }] })],
      ]),
    );
  const steps = [];
  for (let s = 0; s < STEPS; s++) {
    const coll = r.chance(0.75) ? 'items' : 'other';
    steps.push(
      r.weighted([
        [24, () => [plainInsert(coll)]],
        [10, () => Array.from({ length: r.int(2, 4) }, () => plainInsert(coll))],
        [20, () => [plainFind(coll)]],
        [10, () => Array.from({ length: r.int(2, 5) }, () => plainFind(coll))],
        [3, () => [{ coll, method: 'insertOne', args: [{ ...doc(coll, undefined), _id: r.pick(known[coll]) }] }]],
        [4, () => [{ coll, method: 'find', args: [{}, { sort: { _id: 1 } }] }]],
        [3, () => [{ coll, method: 'countDocuments', args: [{}] }]],
        [5, () => [{ coll, method: 'updateOne', args: [{ _id: lookupId(coll) }, { $inc: { v: 1 }, $set: { touched: s } }] }]],
        [3, () => [{ coll, method: 'deleteOne', args: [{ _id: lookupId(coll) }] }]],
        [3, () => [{ coll, method: 'insertMany', args: [[doc(coll, fresh()), doc(coll, fresh())]] }]],
        [2, () => [{ coll, method: 'findOne', args: [{ _id: lookupId(coll) }, { projection: { v: 1, owner: 1 } }] }]],
        [2, () => [{ coll, method: 'aggregate', args: [[{ $sort: { _id: 1 } }, { $lookup: { from: coll === 'items' ? 'other' : 'items', localField: 'k', foreignField: 'k', as: 'j' } }, { $project: { owner: 1, k: 1, n: { $size: '$j' } } }]] }]],
        // Issue 14: a few calls in one fence.withTransaction, one after another, while the other
        // principals' plain calls take the lanes; committed, or aborted (nothing of it stays).
        [4, () => Object.assign(txCalls(coll), { tx: 'commit' })],
        [2, () => Object.assign(txCalls(coll), { tx: 'abort' })],
      ]),
    );
  }
  return steps;
}

/**
 * The steps of union reader `ui`: reads (bursts of findOne by _id among them, the calls the
 * fence shares commands for) of its members', its neighbours' and nobody's ids, and a few writes.
 */
function unionStepsFor(seed, index, strategy, ui, nPrincipals) {
  const r = new Rng(caseSeed(seed ^ Math.imul(ui + 1, 0x6b43a9b5), index));
  const slotOf = () => (strategy === 'database' ? 0 : r.int(1, nPrincipals));
  const anyId = () => (r.chance(0.1) ? oid(250, r.int(0, 5)) : oid(slotOf(), r.pick([0, 1, 2, 100, 101, 102, 103, 1000, 1001])));
  const steps = [];
  for (let s = 0; s < STEPS; s++) {
    const coll = r.chance(0.75) ? 'items' : 'other';
    const findOne = () => ({ coll, method: 'findOne', args: [{ _id: anyId() }] });
    steps.push(
      r.weighted([
        [20, () => [findOne()]],
        [12, () => Array.from({ length: r.int(2, 5) }, findOne)],
        [6, () => [{ coll, method: 'find', args: [{}, { sort: { _id: 1 } }] }]],
        [3, () => [{ coll, method: 'find', args: [{ _id: { $in: [anyId(), anyId(), anyId()] } }, {}] }]],
        [3, () => [{ coll, method: 'countDocuments', args: [{}] }]],
        [2, () => [{ coll, method: 'distinct', args: ['owner', {}] }]],
        [3, () => [{ coll, method: 'aggregate', args: [[{ $sort: { _id: 1 } }, { $lookup: { from: coll === 'items' ? 'other' : 'items', localField: 'k', foreignField: 'k', as: 'j' } }]] }]],
        [2, () => [{ coll, method: 'insertOne', args: [{ _id: oid(251, s), owner: 'union', k: 0, v: 0 }] }]],
        [2, () => [{ coll, method: 'updateOne', args: [{ _id: anyId() }, { $set: { touched: 'union' } }] }]],
        [1, () => [{ coll, method: 'deleteMany', args: [{}] }]],
      ]),
    );
  }
  return steps;
}

/** Round `index` of `seed`: even rounds run strategy 'field', odd ones 'database'. */
function generate(seed, index, { principals = PRINCIPALS.length } = {}) {
  const strategy = index % 2 ? 'database' : 'field';
  const n = Math.max(principals, 5);
  return {
    seed,
    index,
    strategy,
    principals: n,
    steps: Array.from({ length: n }, (_, pi) => stepsFor(seed, index, strategy, pi, n)),
    unions: UNIONS.map((_, ui) => unionStepsFor(seed, index, strategy, ui, n)),
  };
}

/** What a result is compared by (the contract's fields of write summaries). */
function resultOf(method, v) {
  if (!v || typeof v !== 'object' || Array.isArray(v) || v._id !== undefined) return v;
  const pick = (...k) => Object.fromEntries(k.map((x) => [x, v[x]]));
  if (method === 'insertOne') return pick('insertedId');
  if (method === 'insertMany') return pick('insertedCount', 'insertedIds');
  if (method === 'updateOne') return pick('matchedCount', 'modifiedCount', 'upsertedCount', 'upsertedId');
  if (method === 'deleteOne') return pick('deletedCount');
  return v;
}

function sig(o) {
  if (o.error) {
    const e = errorSig(o.error);
    return `error ${e.kind}:${e.code}`;
  }
  return exact(resultOf(o.method, o.value));
}

/** One call through the fence as principal `p` (or, in `broken` tests, the stand-in). */
async function scopedCall(world, side, p, op) {
  const args = clone(op.args);
  let out;
  const brokenTarget = world.broken && p.i === 1 && op.method === 'insertOne' ? side.principals[0] : null;
  if (brokenTarget) {
    // A stand-in for the batching bug: principal 1's insert lands with principal 0's.
    const d = brokenTarget.field ? { ...args[0], [brokenTarget.field]: brokenTarget.tenant } : args[0];
    if (d._id === undefined) d._id = new ObjectId();
    out = await call(brokenTarget.store.collection(op.coll), 'insertOne', [d]);
    args[0]._id = d._id;
  } else {
    out = await p.fence.runAs(p.tenant, () => call(p.fence.collection(op.coll), op.method, args));
  }
  // The _id the fence generated was written back into the caller's document: the reference
  // inserts that same _id.
  return { ...out, method: op.method, args };
}

/**
 * A transaction step: its calls one after another inside `fence.withTransaction` (the session
 * bound to the async chain: the calls pass nothing), then committed, or aborted by throwing.
 */
async function transactionStep(world, side, p, step) {
  const ABORT = new Error('abort this transaction step');
  const outs = [];
  try {
    await p.fence.runAs(p.tenant, () =>
      p.fence.withTransaction(async () => {
        outs.length = 0;
        for (const op of step) outs.push(await scopedCall(world, side, p, op));
        if (step.tx === 'abort') throw ABORT;
      }),
    );
  } catch (e) {
    if (e !== ABORT) return step.map((op) => ({ error: e, method: op.method, args: op.args }));
  }
  return outs;
}

/** The same call on the principal's reference database (documents stamped under 'field'). */
async function referenceCall(p, op, args) {
  const a = clone(args);
  if (p.field && op.method === 'insertOne') a[0] = { ...a[0], [p.field]: p.tenant };
  if (p.field && op.method === 'insertMany') a[0] = a[0].map((d) => ({ ...d, [p.field]: p.tenant }));
  return { ...(await call(p.ref.collection(op.coll), op.method, a)), method: op.method };
}

async function runCase(world, c) {
  const side = world.sides[c.strategy];
  await resetSide(side);
  const principals = side.principals.slice(0, c.principals);
  // All principals and union readers at once; each one's steps one after another.
  const unionRuns = Promise.all((c.unions || []).map((steps, ui) => unionRun(world, side, ui, steps, unionBound(c, principals, ui))));
  const scoped = await Promise.all(
    principals.map(async (p) => {
      const out = [];
      for (const step of c.steps[p.i]) out.push(step.tx ? await transactionStep(world, side, p, step) : await Promise.all(step.map((op) => scopedCall(world, side, p, op))));
      return out;
    }),
  );
  const unions = await unionRuns;
  const unionProblems = unions.flatMap((u) => u.problems);
  const perPrincipal = await Promise.all(
    principals.map(async (p) => {
      const problems = [];
      for (const [si, step] of c.steps[p.i].entries()) {
        // An aborted transaction's calls: nothing to compare on the reference, which never
        // made them (the final state shows that none of their writes stayed).
        if (step.tx === 'abort') continue;
        for (const [oi, op] of step.entries()) {
          const s = scoped[p.i][si][oi];
          const r = await referenceCall(p, op, s.args);
          if (sig(s) !== sig(r)) {
            problems.push(`principal ${p.f}:${p.tenant} step ${si}${step.length > 1 ? `.${oi}` : ''} ${op.coll}.${op.method}(${BSON.EJSON.stringify(s.args)}): scoped ${sig(s)} / reference ${sig(r)}${s.error ? ` (${String(s.error.message).slice(0, 160)})` : ''}`);
          }
        }
      }
      return problems;
    }),
  );
  // The first few differences of each principal, then the stored state.
  const problems = perPrincipal.flatMap((l) => (l.length > 4 ? [...l.slice(0, 4), `... and ${l.length - 4} more of this principal`] : l));
  problems.push(...unionProblems.slice(0, 8));
  problems.push(...(await finalState(world, side, principals)));
  const counts = { calls: c.steps.flat(2).length + (c.unions || []).flat(2).length, unionDocs: unions.reduce((a, u) => a + u.seen, 0) };
  if (!problems.length) return pass('agree', counts);
  return fail('concurrent', problems.length > 40 ? [...problems.slice(0, 40), `... and ${problems.length - 40} more`] : problems, problems.some((x) => x.startsWith('principal')) ? 'results differ' : 'stored documents differ');
}

/**
 * The most documents union `ui`'s members can hold in each collection during the round: their
 * seed documents and every insert they attempt (nothing else adds one). A count above it read
 * beyond the members.
 */
function unionBound(c, principals, ui) {
  const [f, members] = UNIONS[ui];
  const bound = Object.fromEntries(COLLS.map((coll) => [coll, 0]));
  for (const p of principals.filter((x) => x.f === f && members.includes(x.tenant))) {
    for (const coll of COLLS) bound[coll] += SEED_DOCS;
    for (const op of c.steps[p.i].flat()) {
      if (op.method === 'insertOne') bound[op.coll] += 1;
      if (op.method === 'insertMany') bound[op.coll] += op.args[0].length;
    }
  }
  return bound;
}

/** Runs union reader `ui`'s steps (each step's calls together); returns what broke its rules and how many documents its finds read. */
async function unionRun(world, side, ui, steps, bound) {
  const [f, members] = UNIONS[ui];
  const fence = side.fences[f];
  const field = side.strategy === 'field' ? FIELDS[f] : null;
  const owners = new Set(members.map((t) => `${f}:${t}`));
  const problems = [];
  let seen = 0;
  for (const [si, step] of steps.entries()) {
    const outs = await Promise.all(
      step.map((op) => {
        const coll = fence.collection(op.coll);
        const args = clone(op.args);
        // A stand-in for a union read that lost its scope: it runs unscoped, as the system.
        const run = world.brokenUnion && BROKEN.has(op.method) ? () => fence.runAsSystem({ reason: 'fuzz stand-in' }, () => call(coll, op.method, args)) : () => fence.runAsTenants(members, () => call(coll, op.method, args));
        // A refusal thrown by runAsTenants itself is judged like one from the call.
        return Promise.resolve().then(run).catch((error) => ({ error }));
      }),
    );
    for (const [oi, op] of step.entries()) {
      const why = unionVerdict(side.strategy, op, outs[oi], owners, field, bound[op.coll]);
      if (!outs[oi].error && (op.method === 'findOne' || op.method === 'find')) seen += [].concat(outs[oi].value ?? []).length;
      if (why) problems.push(`union ${f}:[${members.join(',')}] step ${si}${step.length > 1 ? `.${oi}` : ''} ${op.coll}.${op.method}(${BSON.EJSON.stringify(op.args)}): ${why}`);
    }
  }
  return { problems, seen };
}

const UNION_WRITES = new Set(['insertOne', 'updateOne', 'deleteMany']);
// The reads the stand-in for a union that lost its scope runs as the system (`world.brokenUnion`).
const BROKEN = new Set(['findOne', 'countDocuments', 'distinct']);

/** Why a union call's outcome breaks the rules, or null; `most` bounds a count. */
function unionVerdict(strategy, op, out, owners, field, most) {
  const code = out.error ? errorSig(out.error) : null;
  if (strategy === 'database' || UNION_WRITES.has(op.method)) {
    if (code && code.kind === 'tenant' && code.code === 'TENANT_VIOLATION') return null;
    return `expected a TENANT_VIOLATION refusal, got ${code ? `error ${code.kind}:${code.code} (${String(out.error.message).slice(0, 120)})` : exact(out.value)}`;
  }
  if (out.error) return `a union read failed: ${code.kind}:${code.code} (${String(out.error.message).slice(0, 160)})`;
  // A document belongs to a member when its owner is one and it carries that member in this
  // fence's tenant field (and no other fence's field).
  const mine = (d) => owners.has(d.owner) && d[field] === d.owner.split(':')[1] && !FIELDS.some((x) => x !== field && x in d);
  const docs = op.method === 'findOne' ? (out.value ? [out.value] : []) : op.method === 'find' || op.method === 'aggregate' ? out.value : [];
  const foreign = [...docs, ...docs.flatMap((d) => d.j || [])].filter((d) => !mine(d));
  if (foreign.length) return `read ${foreign.length} document(s) of no member: ${exact(foreign.slice(0, 2))}`;
  if (op.method === 'distinct' && !out.value.every((o) => owners.has(o))) return `distinct owners ${exact(out.value)} name a non-member`;
  if (op.method === 'countDocuments' && !(Number.isInteger(out.value) && out.value >= 0 && out.value <= most)) return `count ${exact(out.value)}, above the ${most} documents its members can hold`;
  return null;
}

/** Each principal's stored documents equal its reference's; nothing is stored elsewhere. */
async function finalState(world, side, principals) {
  const problems = [];
  for (const coll of COLLS) {
    if (side.strategy === 'field') {
      const all = await principals[0].store.collection(coll).find({}).toArray();
      const mine = new Map(principals.map((p) => [p.i, []]));
      const stray = [];
      for (const d of all) {
        const owners = principals.filter((p) => p.field in d && d[p.field] === p.tenant && !FIELDS.some((f) => f !== p.field && f in d));
        if (owners.length === 1) mine.get(owners[0].i).push(d);
        else stray.push(d);
      }
      if (stray.length) problems.push(`${coll}: ${stray.length} stored document(s) of no principal: ${exact(stray.slice(0, 3))}`);
      for (const p of principals) problems.push(...(await compareDocs(p, coll, mine.get(p.i))));
    } else {
      for (const p of principals) problems.push(...(await compareDocs(p, coll, await p.store.collection(coll).find({}).toArray())));
    }
  }
  // No other collection in a principal's store, and (database) no database the principals do not own.
  const expected = new Set(principals.map((p) => p.store.databaseName));
  for (const name of expected) {
    const colls = (await world.raw.db(name).listCollections({}, { nameOnly: true }).toArray()).map((x) => x.name).sort();
    if (colls.join() !== COLLS.slice().sort().join()) problems.push(`database ${name} holds collections ${colls.join()}`);
  }
  if (side.strategy === 'database') {
    const { databases } = await world.raw.db('admin').admin().listDatabases({ nameOnly: true });
    const extra = databases.map((d) => d.name).filter((n) => side.bases.some((b) => n.startsWith(b)) && !expected.has(n));
    if (extra.length) problems.push(`databases no principal owns: ${extra.join(', ')}`);
  }
  return problems;
}

async function compareDocs(p, coll, stored) {
  const ref = await p.ref.collection(coll).find({}).toArray();
  const a = exactSet(stored);
  const b = exactSet(ref);
  if (a.join('\n') === b.join('\n')) return [];
  return [`stored ${coll} of principal ${p.f}:${p.tenant} differ from its reference (reference = expected, stored = actual): ${diffLists(b, a)}`];
}

const MODE = {
  name: 'concurrent',
  open,
  close,
  generate,
  runCase,
  shrinkable: false,
  code: (c) => `${c.principals} principals × ${STEPS} steps at once, strategy '${c.strategy}' (see fuzz/concurrent.js)`,
};

module.exports = { MODE, open, close, generate, runCase, PRINCIPALS, UNIONS };
