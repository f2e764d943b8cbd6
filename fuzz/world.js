'use strict';
// The two sides the oracle compares. SCOPED holds A's documents and the neighbours' and is
// reached through the fence as tenant A; REFERENCE holds only A's documents (same bytes, same
// indexes) and is reached unscoped through the raw `mongodb` driver.
//
// A world has a `kind` (issue 11):
//   field      strategy 'field': one shared database, neighbours' documents beside A's.
//   collation  as field, but both sides' collections were created OUTSIDE the fence with the
//              default collation { locale: 'en', strength: 2 }, under which 'A' and the
//              neighbour 'a' compare equal; the fence must still see only 'A'.
//   database   strategy 'database': A's collections live in A's own database, neighbours
//              (B, A-1, AB, A_1) in theirs, holding documents with A's very _ids and values.
//              Documents are not stamped; the reference is A's data in a plain database.
//   system     runAsSystem: scoping is lifted, so both sides hold every tenant's documents
//              (only valid tenant ids: a system write must name one). Every call must pass
//              the onSystemAccess hook (recorded in `world.events`).

const crypto = require('node:crypto');
const { MongoClient } = require('mongodb');
const { TenantFence } = require('..');
const { build, INDEXES, TENANT, FIELD } = require('./dataset');
const { decodeExact } = require('./canon');

const COLLECTIONS = ['items', 'other'];
const KINDS = ['field', 'collation', 'database', 'system'];
const DEFAULT_COLLATION = { locale: 'en', strength: 2 };
/** Neighbour tenants of the database world (valid ids whose database names differ from A's by more than case). */
const DB_NEIGHBOURS = ['B', 'A-1', 'AB', 'A_1'];
/** Tenants of the system world (valid ids only, 'a' included: it differs from 'A' only by case). */
const SYSTEM_TENANTS = new Set([TENANT, 'B', 'a', 'A-1', 'AB']);

/**
 * The database that `fence` uses for `tenant` under strategy 'database', found by writing a
 * probe through the fence (so the fuzzer does not depend on the naming scheme) and asking the
 * server which database received it; it must be the one `fence.databaseFor(tenant)` names.
 * One call at a time: nothing here shares a command.
 */
async function tenantDatabase(fence, raw, tenant) {
  const marker = crypto.randomBytes(8).toString('hex');
  await fence.runAs(tenant, () => fence.collection('tf_fuzz_probe').insertOne({ _id: marker }));
  const { databases } = await raw.db('admin').admin().listDatabases({ nameOnly: true });
  let found;
  for (const { name } of databases) {
    if (!name.startsWith(fence.databaseName)) continue;
    const hit = await raw.db(name).collection('tf_fuzz_probe').findOne({ _id: marker });
    if (hit) {
      if (found) throw new Error(`the probe of tenant ${tenant} landed in two databases: ${found} and ${name}`);
      found = name;
    }
  }
  if (!found) throw new Error(`the probe of tenant ${tenant} landed in no database starting with ${fence.databaseName}`);
  if (found !== fence.databaseFor(tenant)) throw new Error(`the probe of tenant ${tenant} landed in ${found}, but fence.databaseFor says ${fence.databaseFor(tenant)}`);
  await raw.db(found).collection('tf_fuzz_probe').drop();
  return found;
}

/** A's documents re-labelled as `tenant`'s (same _ids and values): what a wrong-database read would see. */
function relabel(docs, tenant) {
  return docs.map((d) => ({ ...structuredClone(d), [FIELD]: tenant }));
}

/** The seed documents of each side, per collection, for a world of `kind`. */
function seedData(kind) {
  const data = build();
  if (kind === 'system') {
    for (const name of COLLECTIONS) {
      const all = data[name].scoped.filter((d) => SYSTEM_TENANTS.has(d[FIELD]));
      data[name] = { a: all, scoped: all };
    }
  }
  if (kind === 'database') {
    for (const name of COLLECTIONS) {
      // A's documents relabelled, the dataset's own documents of that tenant, and one more (so
      // that no count of a neighbour's database equals A's).
      const own = (t) => data[name].scoped.filter((d) => d[FIELD] === t && !data[name].a.some((x) => x._id === d._id));
      data[name].neighbours = Object.fromEntries(DB_NEIGHBOURS.map((t) => [t, [...relabel(data[name].a, t), ...own(t), { _id: 999, [FIELD]: t, x: 1, y: 'banana' }]]));
      data[name].scoped = data[name].a;
    }
  }
  return data;
}

/** Opens both sides on `uri` (a world of `kind`, default 'field'), seeds them and remembers the initial bytes. */
async function openWorld(uri, { kind = 'field' } = {}) {
  if (!KINDS.includes(kind)) throw new TypeError(`unknown world kind ${kind}`);
  const suffix = `${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const scopedName = `tf_fuzz_s_${suffix}`;
  const refName = `tf_fuzz_r_${suffix}`;
  // promoteLongs false: the fence returns int64 as Long, so the reference must too.
  const raw = new MongoClient(uri, { promoteLongs: false });
  await raw.connect();
  const events = [];
  const world = {
    kind,
    raw,
    events,
    scopedName,
    refName,
    ref: raw.db(refName),
    data: seedData(kind),
    neighbourDbs: [],
    initial: {},
  };
  const options = { database: scopedName };
  if (kind === 'database') options.strategy = 'database';
  if (kind === 'system') {
    options.onSystemAccess = (event) => {
      events.push(event);
      if (world.hookThrows) throw world.hookThrows;
    };
  }
  world.fence = await TenantFence.connect(uri, options);
  if (kind === 'database') {
    world.scoped = raw.db(await tenantDatabase(world.fence, raw, TENANT));
    for (const t of DB_NEIGHBOURS) world.neighbourDbs.push({ tenant: t, db: raw.db(await tenantDatabase(world.fence, raw, t)) });
  } else {
    world.scoped = raw.db(scopedName);
  }
  const collOptions = kind === 'collation' ? { collation: DEFAULT_COLLATION } : {};
  for (const name of COLLECTIONS) {
    for (const db of [world.scoped, world.ref, ...world.neighbourDbs.map((n) => n.db)]) {
      await db.createCollection(name, collOptions);
      for (const { key } of INDEXES[name]) {
        // text and 2dsphere indexes take no collation: give them the simple one explicitly.
        const special = Object.values(key).some((v) => typeof v === 'string');
        await db.collection(name).createIndex(key, kind === 'collation' && special ? { collation: { locale: 'simple' } } : {});
      }
    }
  }
  await reset(world);
  world.initialHash = await hashes(world);
  for (const name of COLLECTIONS) {
    const scoped = await readState(world, 'scoped', name);
    world.initial[name] = { others: scoped.others, a: scoped.a, ref: await readRaw(world.ref, name) };
  }
  return world;
}

/**
 * Puts the seed documents back (delete everything, insert in the fixed order). `which` lists
 * [side, collection] pairs; default: all of them. Under 'database' the scoped side of a
 * collection is A's database and every neighbour's.
 */
async function reset(world, which = ['scoped', 'ref'].flatMap((side) => COLLECTIONS.map((name) => [side, name]))) {
  const jobs = [];
  for (const [side, name] of which) {
    const docs = side === 'scoped' ? world.data[name].scoped : world.data[name].a;
    jobs.push([world[side], name, docs]);
    if (side === 'scoped') for (const n of world.neighbourDbs) jobs.push([n.db, name, world.data[name].neighbours[n.tenant]]);
  }
  await Promise.all(
    jobs.map(async ([db, name, docs]) => {
      const coll = db.collection(name);
      await coll.deleteMany({});
      await coll.insertMany(structuredClone(docs));
    }),
  );
}

/**
 * The server's MD5 of each collection's documents on each side (dbHash: one round trip per
 * database). Equal to the seed's hash means byte-identical to the seed.
 */
async function hashes(world) {
  const dbs = [world.scoped, world.ref, ...world.neighbourDbs.map((n) => n.db)];
  const all = await Promise.all(dbs.map((db) => db.command({ dbHash: 1, collections: COLLECTIONS })));
  const scoped = { ...all[0].collections };
  for (const h of all.slice(2)) for (const name of COLLECTIONS) scoped[name] = `${scoped[name]}|${h.collections[name]}`;
  return { scoped, ref: all[1].collections };
}

/** The [side, collection] pairs whose hash differs from the seed's. */
function changed(world, h) {
  const out = [];
  for (const side of ['scoped', 'ref']) for (const name of COLLECTIONS) if (h[side][name] !== world.initialHash[side][name]) out.push([side, name]);
  return out;
}

/** Every stored document of `name` as raw BSON bytes, in _id order. */
async function readRaw(db, name) {
  return db.collection(name).find({}, { raw: true, sort: { _id: 1 } }).toArray();
}

/**
 * The scoped side's `name`, split: `a` = the documents tenant A's calls may see and write,
 * `others` = everything else, both as raw bytes. Field worlds split by the tenant field (the
 * string 'A' exactly); a database world's `a` is A's database and `others` the neighbours'
 * databases in order; a system world's `a` is everything.
 */
async function readState(world, side, name) {
  const bufs = await readRaw(side === 'scoped' ? world.scoped : world.ref, name);
  if (world.kind === 'system' || world.kind === 'database' || side === 'ref') {
    const others = [];
    if (side === 'scoped') for (const n of world.neighbourDbs) others.push(...(await readRaw(n.db, name)));
    return { a: bufs, others, all: bufs };
  }
  const a = [];
  const others = [];
  for (const b of bufs) (decodeExact(b)[FIELD] === TENANT ? a : others).push(b);
  return { a, others, all: bufs };
}

/** Collections present in the scoped database (a refused $out/$merge must not create one). */
async function scopedCollections(world) {
  const names = async (db) => (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort().join();
  const out = [await names(world.scoped)];
  for (const n of world.neighbourDbs) out.push(`${n.tenant}: ${await names(n.db)}`);
  if (world.kind === 'database') out.push(`base: ${await names(world.raw.db(world.scopedName))}`);
  return out;
}

/** What `scopedCollections` must return when nothing created a collection. */
function expectedCollections(world) {
  const out = [COLLECTIONS.join()];
  for (const n of world.neighbourDbs) out.push(`${n.tenant}: ${COLLECTIONS.join()}`);
  if (world.kind === 'database') out.push('base: ');
  return out;
}

/** Closes the fence, drops every database of the world, closes the client. */
async function closeWorld(world) {
  await world.fence.close().catch(() => {});
  for (const db of [world.scoped, world.ref, world.raw.db(world.scopedName), ...world.neighbourDbs.map((n) => n.db)]) await db.dropDatabase().catch(() => {});
  await world.raw.close();
}

module.exports = {
  openWorld,
  closeWorld,
  reset,
  hashes,
  changed,
  readRaw,
  readState,
  scopedCollections,
  expectedCollections,
  tenantDatabase,
  COLLECTIONS,
  KINDS,
  DEFAULT_COLLATION,
  DB_NEIGHBOURS,
};
