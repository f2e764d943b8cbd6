'use strict';
// Runs one case on both sides and judges it.
//
// The oracle (issue 3): as tenant A through the fence, the operation is either refused with
// TENANT_VIOLATION (and then writes nothing), or it gives exactly the result - documents returned
// and documents written - of the same operation run unscoped on a database holding only A's
// documents. Either way every other tenant's stored documents are byte-identical afterwards.
//
// What the reference side is told about the contract (reference.js) is only what the contract
// itself promises the fence adds: written documents are stamped with tenant A, pipeline updates
// end with a forced `$set` of the tenant, and upserts insert into tenant A.

const { BSON } = require('mongodb');
const { TenantError } = require('..');
const { canon, canonSet, decodeExact } = require('./canon');
const { readState, readRaw, reset, hashes, changed, scopedCollections, expectedCollections, COLLECTIONS, UNION } = require('./world');
const { toReference, pinTo } = require('./reference');
const { WRITES } = require('./generator');
const { TENANT, FIELD, SHARED } = require('./dataset');
const { clone } = require('./clone');

/** The default tenant id rule (CONTRACT.md): what every document a system write leaves must name. */
const VALID_TENANT = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Calls `method` on `coll` with `args`; cursors are drained. `chain`: find's sort, skip, limit
 * and projection go through the cursor's chaining methods instead. Returns { value } or { error }.
 */
async function call(coll, method, args, chain = false) {
  try {
    if (method === 'find' && chain) {
      const { sort, skip, limit, projection, ...rest } = args[1] || {};
      let cursor = coll.find(args[0], rest);
      if (sort) cursor = cursor.sort(sort);
      if (skip !== undefined) cursor = cursor.skip(skip);
      if (limit !== undefined) cursor = cursor.limit(limit);
      if (projection) cursor = cursor.project(projection);
      return { value: await cursor.toArray() };
    }
    if (method === 'find' || method === 'aggregate') return { value: await coll[method](...args).toArray() };
    return { value: await coll[method](...args) };
  } catch (error) {
    return { error };
  }
}

/** Where each method takes its options: the argument a transaction's session goes into. */
const OPTIONS_AT = {
  find: 1, findOne: 1, aggregate: 1, countDocuments: 1, estimatedDocumentCount: 0, distinct: 2,
  insertOne: 1, insertMany: 1, updateOne: 2, updateMany: 2, replaceOne: 2, deleteOne: 1,
  deleteMany: 1, findOneAndUpdate: 2, findOneAndReplace: 2, findOneAndDelete: 1, bulkWrite: 1,
  createIndex: 1,
};

/**
 * Transaction worlds (`world.tx`): `run(inTx)` inside a transaction, the call's error thrown so
 * that the transaction aborts (a callback that swallowed it would commit what the failed call
 * left, or retry a server-aborted transaction for two minutes, as with the driver). Returns
 * { value } or { error }, as `call` does.
 */
async function inTransaction(withTransaction, run) {
  try {
    return await withTransaction(async (session) => {
      const r = await run(session);
      // Wrapped: a call's own error is the case's outcome, not a reason to run it again (an
      // unordered bulkWrite whose first command failed gets NoSuchTransaction, labelled
      // transient, for the next: the driver's withTransaction then retried it for two minutes).
      if (r.error) throw Object.assign(new Error('the call failed'), { callError: r.error });
      return r;
    });
  } catch (error) {
    return { error: error.callError || error };
  }
}

function runScoped(world, c) {
  // A world may bring its own way of making the call (the mongoose mode: a Mongoose operation).
  if (world.runScoped) return world.runScoped(c);
  if (world.tx && !world.broken) {
    // Started under the caller's context; the session is bound to the callback's async chain,
    // so the call passes nothing.
    const fence = world.fence;
    const scoped = () => inTransaction((fn) => fence.withTransaction(fn), () => runScopedCall(world, c));
    return world.kind === 'system' ? fence.runAsSystem({ reason: `${reasonOf(c)} (transaction)` }, scoped) : fence.runAs(TENANT, scoped);
  }
  return runScopedCall(world, c);
}

function runScopedCall(world, c) {
  const args = clone(c.args);
  // `world.broken` (tests of the oracle itself only): a stand-in for a fence that forgot the
  // tenant, i.e. the raw driver on the scoped database. The oracle must fail such cases.
  // Under 'database' the stand-in is the raw driver on a neighbour's database (the wrong one).
  if (world.broken) {
    const db = world.kind === 'database' ? world.neighbourDbs[0].db : world.scoped;
    return call(db.collection(c.coll ?? 'items'), c.method, toReference(c, world), c.chain);
  }
  if (world.kind === 'system') {
    // runAsSystem: every call passes the audit hook first; `hookThrows` makes the hook refuse.
    world.events.length = 0;
    world.hookThrows = c.hookThrows ? Object.assign(new Error(`audit refused case ${c.index}`), { auditRefusal: true }) : undefined;
    return world.fence.runAsSystem({ reason: reasonOf(c) }, () => call(world.fence.collection(c.coll ?? 'items'), c.method, args, c.chain));
  }
  if (world.kind === 'union') return world.fence.runAsTenants(UNION, () => call(world.fence.collection(c.coll ?? 'items'), c.method, args, c.chain));
  return world.fence.runAs(TENANT, () => call(world.fence.collection(c.coll ?? 'items'), c.method, args, c.chain));
}

function reasonOf(c) {
  return `fuzz case ${c.index}`;
}

function runReference(world, c) {
  if (world.runReference) return world.runReference(c, toReference(c, world));
  if (!world.tx) return call(world.ref.collection(c.coll ?? 'items'), c.method, toReference(c, world), c.chain);
  // The driver's transaction, its session passed explicitly in the call's options.
  return inTransaction(
    async (fn) => {
      const session = world.raw.startSession();
      try {
        return await session.withTransaction(fn);
      } finally {
        await session.endSession();
      }
    },
    (session) => {
      const args = toReference(c, world);
      const at = OPTIONS_AT[c.method];
      while (args.length <= at) args.push(undefined);
      args[at] = { ...(args[at] || {}), session };
      return call(world.ref.collection(c.coll ?? 'items'), c.method, args, c.chain);
    },
  );
}

/**
 * runAsSystem: the hook saw this call before anything else, with the caller's reason, the
 * collection and the method.
 */
function auditProblems(world, c, s) {
  if (world.kind !== 'system') return [];
  if (invalidBeforeHook(world, s)) return [];
  const first = world.events[0];
  const want = { reason: reasonOf(c), collection: c.coll ?? 'items', operation: c.method };
  if (!first) return [`onSystemAccess was not called for ${c.method}`];
  const bad = world.events.filter((e) => e.reason !== want.reason);
  const problems = [];
  if (first.collection !== want.collection || first.operation !== want.operation) problems.push(`onSystemAccess got ${JSON.stringify(first)}, expected ${JSON.stringify(want)}`);
  if (bad.length) problems.push(`onSystemAccess got another reason: ${JSON.stringify(bad[0])}`);
  return problems;
}

/**
 * Found by this fuzzer (issue 12 item 6): with a custom tenantIdPattern the fence checks the ids
 * a system write names in JS, before Rust calls onSystemAccess, so such a call is refused with
 * TENANT_INVALID and the hook never hears of it (with the default rule the hook is called first,
 * then the call is refused). Nothing reaches the server either way; tolerated here so the rest
 * of the system mode keeps running, and reported (see the commit message).
 */
function invalidBeforeHook(world, s) {
  return Boolean(world.tenantIdPattern && world.events.length === 0 && s && s.error && errorSig(s.error).code === 'TENANT_INVALID');
}

/** runAsSystem: after a write the fence let through, every stored document names a valid tenant. */
async function systemTenantProblems(world) {
  if (world.kind !== 'system') return [];
  const docs = (await readRaw(world.scoped, 'items')).map(decodeExact);
  const bad = docs.filter((d) => typeof d[FIELD] !== 'string' || !VALID_TENANT.test(d[FIELD]) || (world.tenantIdPattern && !world.tenantIdPattern.test(d[FIELD])));
  return bad.length ? [`a system write left ${bad.length} document(s) without a valid tenant: ${canon(bad.slice(0, 3))}`] : [];
}

/** The comparable part of a result: write summaries keep only the contract's fields. */
function resultOf(method, value, unordered = false) {
  if (value === null || value === undefined || Array.isArray(value) || typeof value !== 'object') return value;
  const pick = (...keys) => Object.fromEntries(keys.map((k) => [k, value[k]]));
  switch (method) {
    case 'updateOne':
    case 'updateMany':
    case 'replaceOne':
      return pick('matchedCount', 'modifiedCount', 'upsertedCount', 'upsertedId');
    case 'deleteOne':
    case 'deleteMany':
      return pick('deletedCount');
    case 'insertOne':
      return pick('insertedId');
    case 'insertMany':
      return pick('insertedCount', 'insertedIds');
    case 'bulkWrite': {
      const out = pick('insertedCount', 'matchedCount', 'modifiedCount', 'deletedCount', 'upsertedCount', 'insertedIds', 'upsertedIds');
      // Unordered, the Node driver keys insertedIds by the count of inserts so far, not by the
      // operation's index (mongodb 6.22 lib/bulk/unordered.js); the fence keys by the index.
      // Both list the same ids in the same order, so compare the ids only.
      if (unordered) out.insertedIds = Object.keys(out.insertedIds || {}).sort((a, b) => a - b).map((k) => out.insertedIds[k]);
      return out;
    }
    default:
      return value;
  }
}

/** A short signature of an error: kind and code. */
function errorSig(err) {
  if (err instanceof TenantError || (err && err.name === 'TenantError')) return { kind: 'tenant', code: err.code };
  if (err && err.name === 'TypeError') return { kind: 'type', code: null };
  const code = err && (err.code ?? (err.writeErrors && err.writeErrors[0] && err.writeErrors[0].code));
  return { kind: 'server', code: typeof code === 'number' ? code : null };
}

function show(out) {
  if (out.error) return `${out.error.name} ${out.error.code ?? ''}: ${String(out.error.message).slice(0, 300)}`;
  return canon(out.value);
}

/** A readable difference between two results (lists: only the documents that differ). */
function resultDiff(c, s, r) {
  const a = resultOf(c.method, s);
  const b = resultOf(c.method, r);
  if (Array.isArray(a) && Array.isArray(b)) {
    const d = diffLists(b.map((x) => canon(x)), a.map((x) => canon(x)));
    return d === 'expected-only [] actual-only []' ? 'the same documents in a different order' : `(reference = expected, scoped = actual) ${d}`;
  }
  return `scoped ${canon(a)} / reference ${canon(b)}`;
}

/** Compares two successful results; `ordered` false compares lists as multisets. */
function sameResult(c, s, r) {
  const unordered = c.method === 'bulkWrite' && c.args[1] && c.args[1].ordered === false;
  const a = resultOf(c.method, s, unordered);
  const b = resultOf(c.method, r, unordered);
  if (c.method === 'distinct' || ((c.method === 'find' || c.method === 'aggregate') && !c.ordered)) {
    return canon(canonSet(a)) === canon(canonSet(b));
  }
  return canon(a) === canon(b);
}

/**
 * Judges the stored state after a case: neighbours byte-identical; A's documents unchanged
 * (`refused`, or a read) or equal to the reference's (`compareA`, a write). Cheap when nothing
 * changed: one dbHash per side. Records what changed in `world.dirty` for the reset.
 */
async function judgeState(world, { refused = false, compareA = false } = {}) {
  const problems = [];
  const ch = changed(world, await hashes(world));
  world.dirty = ch;
  const scopedChanged = new Set(ch.filter(([side]) => side === 'scoped').map(([, name]) => name));
  for (const name of scopedChanged) {
    const s = await readState(world, 'scoped', name);
    const init = world.initial[name];
    const othersSame = s.others.length === init.others.length && s.others.every((b, i) => b.equals(init.others[i]));
    if (!othersSame) problems.push(`other tenants' documents in ${name} changed: ${diffDocs(init.others, s.others)}`);
    if (refused || !compareA || name !== (world.caseColl ?? 'items')) {
      const aSame = s.a.length === init.a.length && s.a.every((b, i) => b.equals(init.a[i]));
      if (!aSame) problems.push(`${refused ? 'refused operation' : 'operation'} changed A's documents in ${name}: ${diffDocs(init.a, s.a)}`);
    }
  }
  const coll = world.caseColl ?? 'items';
  if (compareA && ch.some(([, name]) => name === coll)) {
    const [s, ref] = await Promise.all([readState(world, 'scoped', coll), readRaw(world.ref, coll)]);
    const sa = canonSet(s.a.map(decodeExact));
    const ra = canonSet(ref.map(decodeExact));
    if (canon(sa) !== canon(ra)) problems.push(`A's documents differ from the reference after the write: ${diffLists(ra, sa)}`);
  }
  return problems;
}

function diffDocs(before, after) {
  return diffLists(canonSet(before.map(decodeExact)), canonSet(after.map(decodeExact)));
}

/** What only `expected` has and what only `actual` has (multisets of canonical strings), cut short. */
function diffLists(expected, actual) {
  const left = [...actual];
  const missing = [];
  for (const x of expected) {
    const i = left.indexOf(x);
    if (i >= 0) left.splice(i, 1);
    else missing.push(x);
  }
  const cut = (l) => {
    const t = JSON.stringify(l);
    return t.length > 1500 ? `${t.slice(0, 1500)}... (${l.length})` : t;
  };
  return `expected-only ${cut(missing)} actual-only ${cut(left)}`;
}

/**
 * Runs case `c` and returns { pass, outcome, problems }. `outcome` is one of 'agree',
 * 'refused', 'both-error', 'known-limit-shared-id'. Leaves both sides reset.
 */
async function runCase(world, c) {
  // (`c.write`: a case of a method the collection has not, such as the mongoose mode's doc.save().)
  const write = c.write ?? WRITES.has(c.method);
  world.dirty = undefined;
  world.caseColl = c.coll;
  try {
    const since = await profiling(world);
    const v = await judge(world, c, write);
    const unbounded = since ? await unboundedPlans(world, since) : [];
    return v.pass && unbounded.length ? fail('unbounded plan', unbounded) : v;
  } finally {
    // Put back only what changed; everything if the case threw before the state was judged.
    if (world.dirty === undefined) await reset(world);
    else if (world.dirty.length) await reset(world, world.dirty);
  }
}

/**
 * Finding 9: under a tenant of strategy 'field' every plan the fence's commands get must stay
 * inside the tenant. MongoDB's profiler (the fence's commands only, by appName) records each
 * plan; returns the time from which to read it, or null in other worlds.
 */
async function profiling(world) {
  if (!underFieldTenant(world) || world.broken) return null;
  if (!world.profiling) {
    await world.scoped.command({ profile: 2, filter: { appName: 'tenantfence' } });
    world.profiling = true;
  }
  return new Date();
}

/** A profiled filter of nothing but the tenant and `_id` values (the `_id` index may serve it). */
function idsOnly(f) {
  if (!f || typeof f !== 'object') return false;
  const rest = Object.keys(f).filter((k) => k !== FIELD && !(k === '$and' && f.$and.every((x) => Object.keys(x).every((y) => y === FIELD))));
  if (rest.length !== 1 || rest[0] !== '_id') return false;
  const v = f._id;
  return v === null || typeof v !== 'object' || v instanceof Date || v._bsontype !== undefined || Object.keys(v).every((k) => k === '$in' || k === '$eq');
}

const BOUNDED_PLAN = /^(IXSCAN|COUNT_SCAN|DISTINCT_SCAN|GEO_NEAR_2DSPHERE) \{ tenantId: |^IDHACK$|^EOF$/;

/** The profiled plans since `since` that may have examined other tenants' keys or documents. */
async function unboundedPlans(world, since) {
  const entries = await world.scoped.collection('system.profile').find({ ts: { $gte: since }, planSummary: { $exists: true } }).toArray();
  const bad = [];
  for (const e of entries) {
    if (BOUNDED_PLAN.test(e.planSummary)) continue;
    // The shared collection holds no tenant's documents: any plan over it is fine.
    if (e.ns === `${world.scoped.databaseName}.${SHARED}`) continue;
    const cmd = e.command || {};
    // The harness's own runAsSystem reads (unscoped by design) do not carry the tenant match.
    const text = JSON.stringify(cmd);
    if (!text.includes(`"${FIELD}":"${TENANT}"`) && !text.includes(`"${FIELD}":{"$in":${JSON.stringify(UNION)}}`)) continue;
    if (e.planSummary === 'IXSCAN { _id: 1 }' && idsOnly(cmd.filter || cmd.query || cmd.q)) continue;
    bad.push(`${e.op} ${e.ns}: plan ${e.planSummary}, keys ${e.keysExamined}, docs ${e.docsExamined} (${JSON.stringify(cmd).slice(0, 300)})`);
  }
  return bad;
}

/** The worlds where the caller is a tenant (not runAsSystem). */
function underTenant(world) {
  return world.kind !== 'system';
}

/** A tenant of a fence with strategy 'field': the worlds whose plans are bounded (scope::bounds). */
function underFieldTenant(world) {
  return world.kind !== 'system' && world.kind !== 'database';
}

/**
 * True when the call's options, or one of its bulkWrite operations, carry a `hint` that does not
 * lead with the tenant field: refused under a tenant of strategy 'field' (finding 9), since its
 * plan could run the caller's predicates on other tenants' documents.
 */
function offTenantHint(c) {
  const off = (h) => h !== undefined && !(h && typeof h === 'object' && Object.keys(h)[0] === FIELD);
  const obj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (c.method === 'bulkWrite') return Array.isArray(c.args[0]) && c.args[0].some((op) => obj(op) && Object.values(op).some((b) => obj(b) && off(b.hint)));
  const last = c.args[c.args.length - 1];
  return c.args.length > 1 && obj(last) && off(last.hint);
}

async function judge(world, c, write) {
  // Server-side JavaScript and shared counters are refused under a tenant (issue 12).
  // (A shared collection holds no tenant's documents: any hint may plan over it.)
  const offHint = underFieldTenant(world) && c.coll !== SHARED && offTenantHint(c);
  const mustRefuse = Boolean(c.mustRefuse || (c.tenantRefuse && underTenant(world)) || offHint);
  // Both sides at once (separate databases); a case that must be refused or fail never reaches
  // the reference (it would run $out/$merge there, or write a Map's repeated key).
  const [s, r] = await Promise.all([runScoped(world, c), mustRefuse || c.mustFail || c.hookThrows ? null : runReference(world, c)]);
  const audit = auditProblems(world, c, s);
  if (audit.length) return fail('audit', audit);
  if (c.hookThrows) {
    // A throwing hook refuses the call with the hook's own error, and nothing is written.
    const problems = await judgeState(world, { refused: true });
    if ((!s.error || !s.error.auditRefusal) && !invalidBeforeHook(world, s)) problems.unshift(`the hook threw but the call ${s.error ? `failed otherwise: ${show(s)}` : 'went through'}`);
    return problems.length ? fail('audit refusal', problems) : pass('refused');
  }
  const sig = s.error ? errorSig(s.error) : null;
  if (c.mustFail) return judgeMustFail(world, c, s, sig);
  // A system write naming an invalid tenant id is refused with TENANT_INVALID.
  const refused = Boolean(sig && sig.kind === 'tenant' && (sig.code === 'TENANT_VIOLATION' || (world.kind === 'system' && sig.code === 'TENANT_INVALID')));
  if (sig && sig.kind === 'tenant' && !refused) {
    return fail('unexpected tenant error', [`scoped: ${show(s)}`]);
  }
  if (mustRefuse) {
    // Under 'database' a stage writing into the tenant's own database may be allowed.
    if (!refused && world.kind === 'database' && !c.tenantRefuse) return judgeOwnDatabaseWrite(world, c, s);
    const problems = await judgeState(world, { refused: true });
    const colls = await scopedCollections(world);
    if (colls.join(' / ') !== expectedCollections(world).join(' / ')) problems.push(`scoped databases now have collections ${colls.join(' / ')}`);
    if (!refused) problems.unshift(`a stage the contract refuses was not refused: ${show(s)}`);
    return problems.length ? fail('must-refuse', problems) : pass('refused');
  }
  if (refused) {
    const problems = await judgeState(world, { refused: true });
    // A leak shape (issue 12) is an ordinary call on A's documents: the reference answers it,
    // so the fence must too (refusing it would hide whether the expression ran on a neighbour).
    // (A union refuses every write: a refused write is its answer.)
    if (c.mustAgree && underTenant(world) && !(world.kind === 'union' && WRITES.has(c.method))) problems.unshift(`the fence refused a call the reference answers: ${show(s)}`);
    return problems.length ? fail('refused but wrote', problems) : pass('refused', { refusal: s.error.message });
  }
  if (c.method === 'findOne' && !c.ordered) return judgeFindOne(world, c, s, r);
  let v = await compare(world, c, s, r, write);
  if (!v.pass && c.single && !s.error) v = await retryPinned(world, c, s, v);
  if (v.pass && write && !s.error) {
    const bad = await systemTenantProblems(world);
    if (bad.length) return fail('system write without tenant', bad);
  }
  return v;
}

/**
 * A write whose document names a key twice (issue 12): it fails with `c.mustFail` (TENANT_VIOLATION
 * for the tenant field, a TypeError for another key) and writes nothing, in every mode.
 */
async function judgeMustFail(world, c, s, sig) {
  const want = c.mustFail;
  const problems = await judgeState(world, { refused: true });
  if (!s.error) problems.unshift(`a document naming a key twice was written: ${show(s)}`);
  // A union refuses every write first, whatever else is wrong with it.
  else if (world.kind === 'union' && sig.kind === 'tenant' && sig.code === 'TENANT_VIOLATION') return problems.length ? fail('key named twice', problems) : pass('refused');
  else if (sig.kind !== want.kind || sig.code !== want.code) problems.unshift(`expected ${want.kind === 'tenant' ? want.code : 'a TypeError'}, got ${show(s)}`);
  return problems.length ? fail('key named twice', problems) : pass('refused');
}

/**
 * strategy 'database': an $out/$merge the fence let through must have written into A's own
 * database only, exactly what the reference's run wrote into the reference database.
 */
async function judgeOwnDatabaseWrite(world, c, s) {
  const r = await runReference(world, c);
  const problems = [];
  if (Boolean(r.error) !== Boolean(s.error)) problems.push(`one side failed: scoped ${show(s)} / reference ${show(r)}`);
  else if (s.error && errorSig(s.error).code !== errorSig(r.error).code) problems.push(`error codes differ: scoped ${show(s)} / reference ${show(r)}`);
  else if (!s.error && !sameResult(c, s.value, r.value)) problems.push(`results differ: ${resultDiff(c, s.value, r.value)}`);
  const names = async (db) => (await db.listCollections({}, { nameOnly: true }).toArray()).map((x) => x.name).sort();
  const [sn, rn] = await Promise.all([names(world.scoped), names(world.ref)]);
  if (sn.join() !== rn.join()) problems.push(`collections differ: scoped ${sn.join()} / reference ${rn.join()}`);
  for (const name of sn.filter((n) => !COLLECTIONS.includes(n) && rn.includes(n))) {
    const [a, b] = await Promise.all([readRaw(world.scoped, name), readRaw(world.ref, name)]);
    const sa = canonSet(a.map(decodeExact));
    const ra = canonSet(b.map(decodeExact));
    if (canon(sa) !== canon(ra)) problems.push(`${name} differs from the reference: ${diffLists(ra, sa)}`);
  }
  for (const n of sn.filter((x) => !COLLECTIONS.includes(x))) await world.scoped.collection(n).drop().catch(() => {});
  for (const n of rn.filter((x) => !COLLECTIONS.includes(x))) await world.ref.collection(n).drop().catch(() => {});
  problems.push(...(await judgeState(world, { compareA: true })));
  const colls = await scopedCollections(world);
  if (colls.join(' / ') !== expectedCollections(world).join(' / ')) problems.push(`scoped databases now have collections ${colls.join(' / ')}`);
  return problems.length ? fail('own-database write', problems) : pass('agree');
}

async function compare(world, c, s, r, write) {
  if (s.error && r.error) {
    const a = errorSig(s.error);
    const b = errorSig(r.error);
    const problems = write ? await judgeState(world, { compareA: true }) : await judgeState(world, {});
    // An unordered bulk write reports its first error: the shared _id index may be the scoped
    // side's while the reference's is another op's.
    if ((problems.length || a.code !== b.code) && (await sharedIdLimit(world, s, r))) return judgeSharedIdLimit(world);
    if (a.kind === 'server' && b.kind === 'server' && a.code !== b.code) problems.unshift(`error codes differ: scoped ${show(s)} / reference ${show(r)}`);
    return problems.length ? fail('both error', problems) : pass('both-error', { scopedError: a, refError: b });
  }
  if (s.error || r.error) {
    // Known limit (docs/limits.md): the shared _id index.
    if (await sharedIdLimit(world, s, r)) return judgeSharedIdLimit(world);
    const side = (o) => (o.error ? `${o.error.name} ${o.error.code ?? ''}` : 'ok');
    return fail('one side failed', [`scoped: ${show(s)}`, `reference: ${show(r)}`], `scoped ${side(s)} / reference ${side(r)}`);
  }
  const problems = [];
  if (!sameResult(c, s.value, r.value)) problems.push(`results differ: ${resultDiff(c, s.value, r.value)}`);
  problems.push(...(await judgeState(world, { compareA: write })));
  return problems.length ? fail('mismatch', problems) : pass('agree');
}

/**
 * Did the reference insert (or upsert) an _id that a neighbour holds on the scoped side? Then
 * the scoped side's duplicate-key error is the documented shared-_id-index limit.
 */
async function insertedNeighbourId(world, r) {
  const ids = new Set(world.initial.items.others.map((b) => canon(BSON.deserialize(b)._id)));
  const v = (r.error ? r.error.result : r.value) || {};
  const reported = [v.insertedId, v.upsertedId, ...Object.values(v.insertedIds || {}), ...Object.values(v.upsertedIds || {})];
  if (reported.some((id) => id !== undefined && id !== null && ids.has(canon(id && id._id !== undefined ? id._id : id)))) return true;
  // findOneAnd* upserts report no id; look at what the reference now stores.
  const ref = await readRaw(world.ref, 'items');
  return ref.some((b) => ids.has(canon(BSON.deserialize(b)._id)));
}

/** The known limit applies: scoped failed with 11000 where the reference wrote a neighbour's _id. */
async function sharedIdLimit(world, s, r) {
  // Only a shared collection has a shared _id index.
  if (world.kind !== 'field' && world.kind !== 'collation') return false;
  return Boolean(s.error) && errorSig(s.error).code === 11000 && (await insertedNeighbourId(world, r));
}

/** Judging under the known limit: only the neighbours' bytes (A's state depends on where it stopped). */
async function judgeSharedIdLimit(world) {
  const problems = (await judgeState(world, {})).filter((p) => p.startsWith('other tenants'));
  return problems.length ? fail('known limit', problems) : pass('known-limit-shared-id');
}

/** findOne without a total sort: any one of the documents the reference matches is right. */
async function judgeFindOne(world, c, s, r) {
  if (s.error || r.error) return compare(world, c, s, r, false);
  const [filter, opts = {}] = toReference(c, world);
  const { skip = 0, ...rest } = opts;
  const all = await world.ref.collection(c.coll ?? 'items').find(filter, rest).toArray();
  const problems = [];
  if (s.value === null) {
    if (all.length > skip) problems.push(`scoped found nothing; the reference matches ${all.length} (skip ${skip})`);
  } else if (!canonSet(all).includes(canon(s.value))) {
    problems.push(`scoped returned a document the reference does not match: ${canon(s.value)}`);
  }
  problems.push(...(await judgeState(world, {})));
  return problems.length ? fail('findOne', problems) : pass('agree');
}

/**
 * A single-document write without a total sort may hit any matching document. Pin the
 * reference to the document the scoped side hit and compare again: that document must be one
 * the reference filter matches, and the effect must be the same.
 */
async function retryPinned(world, c, s, first) {
  const hit = await hitId(world, c, s.value);
  if (hit === undefined) return first;
  // Only the reference is put back; the scoped side stays as the case left it.
  await world.ref.collection(c.coll ?? 'items').deleteMany({});
  await world.ref.collection(c.coll ?? 'items').insertMany(structuredClone(world.data[c.coll ?? 'items'].a));
  const args = pinTo(c, hit, world);
  const r = world.runReference ? await world.runReference(c, args) : await call(world.ref.collection(c.coll ?? 'items'), c.method, args);
  const v = await compare(world, c, s, r, true);
  if (!v.pass) v.problems.unshift(`(reference pinned to _id ${canon(hit)}, the document the scoped side hit)`);
  return v;
}

/** The _id of the A document the scoped side's single write touched, if it can be told. */
async function hitId(world, c, value) {
  if (value && typeof value === 'object' && value._id !== undefined && c.method.startsWith('findOneAnd')) return value._id;
  const s = await readState(world, 'scoped', 'items');
  const before = new Map(world.initial.items.a.map((b) => [canon(decodeExact(b)._id), b]));
  const after = new Map(s.a.map((b) => [canon(decodeExact(b)._id), b]));
  const changed = [];
  for (const [id, b] of before) if (!after.has(id) || !after.get(id).equals(b)) changed.push(BSON.deserialize(b)._id);
  return changed.length === 1 ? changed[0] : undefined;
}

function pass(outcome, extra = {}) {
  return { pass: true, outcome, problems: [], ...extra };
}

/**
 * A failed verdict. `sig` says what kind of failure it is (by default: which checks failed), so
 * the shrinker keeps only smaller cases that fail for the same reason.
 */
function fail(kind, problems, sig = problems.map((p) => p.replace(/[:(].*$/s, '')).join(' | ')) {
  return { pass: false, outcome: kind, problems, sig: `${kind}: ${sig}` };
}

module.exports = { runCase, call, errorSig, diffLists, fail, pass };
