'use strict';
// Change streams (issue 16). A case is a caller pipeline, watch options and a sequence of writes
// by tenant A and its neighbours (B, a, A-1) to one collection. Tenant A's scoped stream is
// compared with an ORACLE stream: the npm driver's watch, with the same pipeline and options, on
// a database that receives only A's writes (stamped with A, same _ids and values).
//   1. The two streams deliver the same events, in order (resume tokens, times, namespaces and
//      session fields aside), deletes included.
//   2. An error of the oracle stream (the caller's expression failing on A's own event) is the
//      scoped stream's too, with the same code; the scoped stream fails for no other reason.
//   3. Nothing of a neighbour's (its _ids, its values) appears in A's stream.
// Pipelines read the pre-image only where the case asks for it (the fence fetches it for
// itself otherwise, and the caller's stages could see it: docs/change-streams.md).

const crypto = require('node:crypto');
const { MongoClient, BSON } = require('mongodb');
const { TenantFence } = require('..');
const { Rng, caseSeed } = require('./prng');
const { fail, pass } = require('./oracle');

const TENANT = 'A';
const NEIGHBOURS = ['B', 'a', 'A-1'];
const FIELD = 'tenantId';
const COLL = 'events';
/** Fields of an event that differ between the two databases by design. */
const VOLATILE = ['_id', 'clusterTime', 'wallTime', 'ns', 'collectionUUID', 'lsid', 'txnNumber'];

async function open(uri) {
  const base = `tf_fuzzw_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const raw = new MongoClient(uri);
  await raw.connect();
  const fence = await TenantFence.connect(uri, { database: base });
  for (const db of [base, `${base}_ref`]) await raw.db(db).createCollection(COLL, { changeStreamPreAndPostImages: { enabled: true } });
  return { raw, fence, scoped: base, ref: `${base}_ref` };
}

async function close(w) {
  await w.fence.close().catch(() => {});
  for (const db of [w.scoped, w.ref]) await w.raw.db(db).dropDatabase().catch(() => {});
  await w.raw.close().catch(() => {});
}

/** A stage of the caller's pipeline. */
function stage(r, preImage) {
  const kinds = [
    () => ({ $match: { operationType: r.pick(['insert', 'update', 'replace', 'delete']) } }),
    () => ({ $match: { operationType: { $in: r.pick([['insert', 'delete'], ['update', 'replace'], ['delete']]) } } }),
    () => ({ $match: { 'fullDocument.x': { $gte: r.int(0, 3) } } }),
    () => ({ $match: { $or: [{}, { [`fullDocument.${FIELD}`]: r.pick(NEIGHBOURS) }] } }),
    () => ({ $match: { $expr: { $gte: [{ $divide: [12, { $ifNull: ['$fullDocument.x', 1] }] }, 0] } } }),
    () => ({ $match: { $or: [{ operationType: 'delete' }, { $expr: { $eq: [{ $toInt: { $ifNull: ['$fullDocument.s', '1'] } }, 1] } }] } }),
    () => ({ $addFields: { inv: { $divide: [6, { $ifNull: ['$fullDocument.x', 2] }] } } }),
    () => ({ $project: { operationType: 1, documentKey: 1, fullDocument: 1 } }),
    () => ({ $project: { updateDescription: 0 } }),
    () => ({ $unset: 'fullDocument.s' }),
  ];
  if (preImage) {
    kinds.push(() => ({ $match: { [`fullDocumentBeforeChange.${FIELD}`]: r.pick([TENANT, ...NEIGHBOURS]) } }));
    kinds.push(() => ({ $match: { 'fullDocumentBeforeChange.x': { $lte: r.int(0, 3) } } }));
  }
  return r.pick(kinds);
}

function generate(seed, index) {
  const r = new Rng(caseSeed(seed ^ 0x5717ea, index));
  const options = {};
  if (r.chance(0.4)) options.fullDocument = r.pick(['updateLookup', 'whenAvailable']);
  if (r.chance(0.4)) options.fullDocumentBeforeChange = 'whenAvailable';
  const pipeline = Array.from({ length: r.int(0, 2) }, () => stage(r, options.fullDocumentBeforeChange !== undefined));
  // Writes: each tenant's own _ids (never reused across tenants), values that make some caller
  // expressions fail (x 0, s not a number).
  const ids = { [TENANT]: [], B: [], a: [], 'A-1': [] };
  const writes = [];
  const n = r.int(4, 12);
  for (let k = 0; k < n; k++) {
    const who = r.chance(0.4) ? TENANT : r.pick(NEIGHBOURS);
    const mine = ids[who];
    const value = () => ({ x: r.int(0, 3), s: r.pick(['1', '2', 'no']) });
    const op = mine.length ? r.pick(['insertOne', 'insertOne', 'updateOne', 'replaceOne', 'deleteOne', 'updateMany', 'deleteMany']) : 'insertOne';
    if (op === 'insertOne') {
      const _id = `${index}-${k}`;
      mine.push(_id);
      writes.push({ who, op, args: [{ _id, ...value() }] });
    } else if (op === 'updateOne') writes.push({ who, op, args: [{ _id: r.pick(mine) }, { $set: { x: r.int(0, 3) } }] });
    else if (op === 'replaceOne') writes.push({ who, op, args: [{ _id: r.pick(mine) }, value()] });
    else if (op === 'deleteOne') writes.push({ who, op, args: [{ _id: r.pick(mine) }] });
    else if (op === 'updateMany') writes.push({ who, op, args: [{ x: { $gte: r.int(0, 3) } }, { $inc: { x: 1 } }] });
    else writes.push({ who, op, args: [{ x: r.int(2, 4) }] });
  }
  return { seed, index, method: 'watch', pipeline, options, writes };
}

/** The reference's copy of an A write: documents stamped with A, as the fence stamps them. */
function stamped(op, args) {
  // Where the fence puts the tenant field: after `_id`, else first.
  if (op === 'insertOne') {
    const { _id, ...rest } = args[0];
    return [{ _id, [FIELD]: TENANT, ...rest }];
  }
  if (op === 'replaceOne') return [args[0], { [FIELD]: TENANT, ...args[1] }];
  return args;
}

/** Reads a stream until `quiet` consecutive empty reads (every write is already committed). */
async function drain(stream, quiet = 3) {
  const events = [];
  let empty = 0;
  try {
    while (empty < quiet && events.length < 500) {
      const e = await stream.tryNext();
      if (e) {
        events.push(e);
        empty = 0;
      } else empty += 1;
    }
  } catch (err) {
    return { events, error: err };
  } finally {
    await stream.close().catch(() => {});
  }
  return { events };
}

const canon = (e) => {
  const c = { ...e };
  for (const k of VOLATILE) delete c[k];
  return BSON.EJSON.stringify(c, { relaxed: false });
};

const FAST = { maxAwaitTimeMS: 100 };

/** A's stream through the fence. */
const fenced = (w, c) => w.fence.runAs(TENANT, () => w.fence.collection(COLL).watch(c.pipeline, { ...c.options, ...FAST }));

/** `open(world, case)` opens the stream under test (a stand-in in the oracle's own test). */
async function runCase(w, c, open = fenced) {
  const scopedColl = w.fence.collection(COLL);
  const scoped = open(w, c);
  const oracle = w.raw.db(w.ref).collection(COLL).watch(c.pipeline, { ...c.options, ...FAST });
  // Both open on the server before the first write.
  const opened = await Promise.allSettled([scoped.tryNext(), oracle.tryNext()]);
  const openErr = opened.find((o) => o.status === 'rejected');
  if (openErr) {
    await Promise.all([scoped.close(), oracle.close()].map((p) => p.catch(() => {})));
    return fail('open-failed', [`a stream failed to open: ${openErr.reason && openErr.reason.message}`]);
  }
  for (const wr of c.writes) {
    await w.fence.runAs(wr.who, () => scopedColl[wr.op](...structuredClone(wr.args)));
    if (wr.who === TENANT) await w.raw.db(w.ref).collection(COLL)[wr.op](...stamped(wr.op, wr.args));
  }
  const [s, r] = await Promise.all([drain(scoped), drain(oracle)]);
  const problems = [];
  const got = s.events.map(canon);
  const want = r.events.map(canon);
  // The server evaluates a merged $match in an order of its own: the oracle may fail on A's own
  // event where the scoped stream (whose caller $expr is wrapped) did not reach the expression.
  // That error comes from A's data alone (the oracle holds nothing else), so it is tolerated; a
  // scoped failure the oracle does not share is not (it could come from a neighbour's event).
  if (r.error && s.error && s.error.code !== r.error.code) problems.push(`error codes differ: scoped ${s.error.code} ${s.error.message}, oracle ${r.error.code}`);
  if (!r.error && s.error) problems.push(`the scoped stream failed: ${s.error.code} ${s.error.message}`);
  if (!r.error && !s.error && JSON.stringify(got) !== JSON.stringify(want)) {
    problems.push(`events differ:\n  scoped ${got.join('\n         ')}\n  oracle ${want.join('\n         ')}`);
  }
  const foreign = c.writes.filter((x) => x.who !== TENANT && x.op === 'insertOne').map((x) => `"${x.args[0]._id}"`);
  const text = JSON.stringify(s.events);
  for (const id of foreign) if (text.includes(id)) problems.push(`a neighbour's _id ${id} reached A's stream`);
  for (const t of NEIGHBOURS) if (text.includes(`"${FIELD}":"${t}"`)) problems.push(`tenant ${t}'s document reached A's stream`);
  // A clean slate for the next case: both collections emptied (their deletes go to no stream).
  await w.fence.runAsSystem({ reason: 'fuzz reset' }, () => scopedColl.deleteMany({}));
  await w.raw.db(w.ref).collection(COLL).deleteMany({});
  if (problems.length) return fail('events', problems);
  if (r.error && !s.error) return pass('oracle-only-failed');
  return pass(r.error ? 'both-failed' : `events:${Math.min(want.length, 5)}`);
}

const MODE = {
  name: 'watch',
  open,
  close,
  generate,
  runCase,
  shrinkable: false,
  code: (c) => `fence.runAs('A', () => fence.collection('${COLL}').watch(${JSON.stringify(c.pipeline)}, ${JSON.stringify(c.options)})) // writes: ${JSON.stringify(c.writes)}`,
};

module.exports = { MODE, generate, runCase, open, close, COLL, FAST };
