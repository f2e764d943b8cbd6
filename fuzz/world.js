'use strict';
// The two sides the oracle compares. SCOPED holds A's documents and the neighbours' and is
// reached through the fence as tenant A; REFERENCE holds only A's documents (same bytes, same
// indexes) and is reached unscoped through the raw `mongodb` driver.
//
// A world has a `kind` (issue 11):
//   field      strategy 'field': one shared database, neighbours' documents beside A's.
//   collation  as field, but both sides' collections were created OUTSIDE the fence with the
//              default collation { locale: 'en', strength: 2 }, under which 'A' and the
//              neighbour 'a' compare equal; the fence must still see only 'A'. `stale`: the
//              fence first saw them with the simple collation, before they were re-created.
//   database   strategy 'database': A's collections live in A's own database, neighbours
//              (B, A-1, AB, A_1) in theirs, holding documents with A's very _ids and values.
//              Documents are not stamped; the reference is A's data in a plain database.
//   system     runAsSystem: scoping is lifted, so both sides hold every tenant's documents
//              (only valid tenant ids: a system write must name one). Every call must pass
//              the onSystemAccess hook (recorded in `world.events`).

const crypto = require('node:crypto');
const { MongoClient } = require('mongodb');
const { TenantFence } = require('..');
const { build, INDEXES, TENANT, FIELD, SHARED } = require('./dataset');
const { decodeExact } = require('./canon');

const COLLECTIONS = ['items', 'other', 'plans'];
const KINDS = ['field', 'collation', 'database', 'system', 'union'];
const DEFAULT_COLLATION = { locale: 'en', strength: 2 };
/**
 * Neighbour tenants of the database world. Issue 12: under the old `<base>_<id>` names, 'a'
 * and 'A' differed only by case (MongoDB refuses the second, 13297), 'billing' was the app's own
 * database `<base>_billing` (DB_APP), and 'eu_x' here was tenant 'x' of a second fence whose
 * base is `<base>_eu` (DB_SECOND).
 */
const DB_NEIGHBOURS = ['B', 'A-1', 'AB', 'A_1', 'a', 'billing', 'eu_x'];
/** The app's own database beside the tenants' (not a tenant's): `<base>_billing`. */
const DB_APP = { label: '(app database <base>_billing)', suffix: '_billing' };
/** A second fence on base `<base>_eu`, and its tenant 'x' (a neighbour of A too). */
const DB_SECOND = { label: "x (fence on <base>_eu)", baseSuffix: '_eu', tenant: 'x' };
/** Tenants of the system world (valid ids only, 'a' included: it differs from 'A' only by case). */
const SYSTEM_TENANTS = new Set([TENANT, 'B', 'a', 'A-1', 'AB']);
/**
 * The system world's custom id rule (issue 12): every SYSTEM_TENANTS id passes, while ids the
 * default rule allows ('A_1', '1A', 'ABCDEFG') do not, so a system write naming one must be
 * refused (TENANT_INVALID).
 */
const SYSTEM_PATTERN = /^[A-Za-z][A-Za-z0-9-]{0,5}$/;
/**
 * The union world (issue 16): the fence reads as runAsTenants(UNION), strategy 'field'; the
 * reference holds the documents of both (and the shared collection's), nothing else.
 */
const UNION = [TENANT, 'B'];

/**
 * The database that `fence` uses for `tenant` under strategy 'database', found by writing a
 * probe through the fence (so the fuzzer does not depend on the naming scheme) and asking the
 * server which database received it; it must be the one `fence.databaseFor(tenant)` names.
 * One call at a time: nothing here shares a command.
 */
async function tenantDatabase(fence, raw, tenant, prefix = fence.databaseName) {
  const marker = crypto.randomBytes(8).toString('hex');
  try {
    await fence.runAs(tenant, () => fence.collection('tf_fuzz_probe').insertOne({ _id: marker }));
  } catch (e) {
    throw new Error(`the probe of tenant ${tenant} failed: ${e.code ?? ''} ${e.message}`);
  }
  const { databases } = await raw.db('admin').admin().listDatabases({ nameOnly: true });
  let found;
  for (const { name } of databases) {
    if (!name.startsWith(prefix)) continue;
    const hit = await raw.db(name).collection('tf_fuzz_probe').findOne({ _id: marker });
    if (hit) {
      if (found) throw new Error(`the probe of tenant ${tenant} landed in two databases: ${found} and ${name}`);
      found = name;
    }
  }
  if (!found) throw new Error(`the probe of tenant ${tenant} landed in no database starting with ${fence.databaseName}`);
  // (The pre-issue-12 fence has no databaseFor.)
  if (typeof fence.databaseFor === 'function' && found !== fence.databaseFor(tenant)) throw new Error(`the probe of tenant ${tenant} landed in ${found}, but fence.databaseFor says ${fence.databaseFor(tenant)}`);
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
      // The shared collection's documents name no tenant, and need none.
      const all = data[name].scoped.filter((d) => name === SHARED || SYSTEM_TENANTS.has(d[FIELD]));
      data[name] = { a: all, scoped: all };
    }
  }
  if (kind === 'union') {
    for (const name of COLLECTIONS) {
      if (name === SHARED) continue;
      data[name].a = data[name].scoped.filter((d) => UNION.includes(d[FIELD]));
      // Members' documents are the union's to read: the leak shapes' `secret` (which makes an
      // expression fail on a neighbour's document) would fail on them too, in an order the
      // server chooses differently on each side (red-team round 26).
      for (const d of data[name].a) delete d.secret;
    }
  }
  if (kind === 'database') {
    for (const name of COLLECTIONS) {
      // A's documents relabelled, the dataset's own documents of that tenant, and one more (so
      // that no count of a neighbour's database equals A's).
      const own = (t) => data[name].scoped.filter((d) => d[FIELD] === t && !data[name].a.some((x) => x._id === d._id));
      data[name].neighbours = Object.fromEntries(DB_NEIGHBOURS.map((t) => [t, [...relabel(data[name].a, t), ...own(t), { _id: 999, [FIELD]: t, x: 1, y: 'banana' }]]));
      data[name].neighbours[DB_APP.label] = [...relabel(data[name].a, 'app'), { _id: 998, invoice: 1, secret: 'app-own' }];
      data[name].neighbours[DB_SECOND.label] = [...relabel(data[name].a, DB_SECOND.tenant), { _id: 997, [FIELD]: DB_SECOND.tenant, x: 2 }];
      data[name].scoped = data[name].a;
    }
  }
  return data;
}

/** Opens both sides on `uri` (a world of `kind`, default 'field'), seeds them and remembers the initial bytes. */
async function openWorld(uri, { kind = 'field', stale = false } = {}) {
  if (!KINDS.includes(kind)) throw new TypeError(`unknown world kind ${kind}`);
  const suffix = `${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const scopedName = `tf_fuzz_s_${suffix}`;
  const refName = `tf_fuzz_r_${suffix}`;
  // The driver's defaults on both sides: a fitting int64 comes back as a number.
  const raw = new MongoClient(uri);
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
  // Under 'database' a shared collection lives in the base database, which this world does not
  // compare: there `plans` stays an ordinary collection of A's database.
  else options.shared = [SHARED];
  // Quotas as a function of the tenant id (a gate per tenant, in Rust); never refusing here.
  if (kind === 'field') options.quotas = () => ({ maxConcurrent: 4, maxQueue: 1e6 });
  if (kind === 'system') {
    options.tenantIdPattern = SYSTEM_PATTERN;
    world.tenantIdPattern = SYSTEM_PATTERN;
    options.onSystemAccess = (event) => {
      events.push(event);
      if (world.hookThrows) throw world.hookThrows;
    };
    // The audit sink hears the same system calls; it never changes one.
    options.audit = () => {};
  }
  world.fence = await TenantFence.connect(uri, options);
  if (kind === 'database') {
    await openDatabaseWorld(world, uri);
  } else {
    world.scoped = raw.db(scopedName);
  }
  const collOptions = kind === 'collation' ? { collation: DEFAULT_COLLATION } : {};
  if (stale) {
    // The fence first sees the collections with the simple collation (and remembers that), then
    // they are dropped and re-created with a case-insensitive default behind its back (issue 12:
    // a bulkWrite operation with `collation: null` then skipped the simple-collation pin).
    for (const name of COLLECTIONS) {
      await world.scoped.createCollection(name);
      await world.fence.runAs(TENANT, () => world.fence.collection(name).countDocuments({}));
      await world.scoped.collection(name).drop();
    }
  }
  world.stale = stale;
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
 * strategy 'database': finds A's database and every neighbour's through probes (tenantDatabase),
 * with the app's own `<base>_billing` and a second fence on `<base>_eu` beside them (issue 12),
 * and fails when two of them, or one and the app's database, are one database (MongoDB compares
 * database names case-insensitively, so names that differ only by case meet too).
 */
async function openDatabaseWorld(world, uri) {
  const { raw, fence, scopedName } = world;
  const app = raw.db(`${scopedName}${DB_APP.suffix}`);
  world.second = await TenantFence.connect(uri, { database: `${scopedName}${DB_SECOND.baseSuffix}`, strategy: 'database' });
  const principals = [
    ['A', () => tenantDatabase(fence, raw, TENANT, scopedName)],
    ...DB_NEIGHBOURS.map((t) => [t, () => tenantDatabase(fence, raw, t, scopedName)]),
    [DB_SECOND.label, () => tenantDatabase(world.second, raw, DB_SECOND.tenant, scopedName)],
  ];
  const problems = [];
  const owner = new Map([[app.databaseName.toLowerCase(), DB_APP.label]]);
  const found = {};
  for (const [label, probe] of principals) {
    let name;
    try {
      name = await probe();
    } catch (e) {
      problems.push(e.message);
      continue;
    }
    const key = name.toLowerCase();
    if (owner.has(key)) problems.push(`tenant ${label}'s database ${name} is also ${owner.get(key)}'s`);
    else owner.set(key, label);
    found[label] = name;
  }
  if (problems.length) throw new Error(`database world: tenant databases collide (issue 12):\n  ${problems.join('\n  ')}`);
  world.scoped = raw.db(found.A);
  for (const t of DB_NEIGHBOURS) world.neighbourDbs.push({ tenant: t, db: raw.db(found[t]) });
  world.neighbourDbs.push({ tenant: DB_APP.label, db: app });
  world.neighbourDbs.push({ tenant: DB_SECOND.label, db: raw.db(found[DB_SECOND.label]) });
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
  const mine = world.kind === 'union' ? (t) => UNION.includes(t) : (t) => t === TENANT;
  for (const b of bufs) (mine(decodeExact(b)[FIELD]) ? a : others).push(b);
  return { a, others, all: bufs };
}

/** Collections present in the scoped database (a refused $out/$merge must not create one). */
async function scopedCollections(world) {
  // (system.profile: the oracle's record of the fence's plans, finding 9.)
  const names = async (db) => (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => n !== 'system.profile').sort().join();
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
  if (world.second) await world.second.close().catch(() => {});
  const extra = world.kind === 'database' ? [`${world.scopedName}${DB_APP.suffix}`, `${world.scopedName}${DB_SECOND.baseSuffix}`].map((n) => world.raw.db(n)) : [];
  for (const db of [world.scoped, world.ref, world.raw.db(world.scopedName), ...world.neighbourDbs.map((n) => n.db), ...extra].filter(Boolean)) await db.dropDatabase().catch(() => {});
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
  UNION,
  DEFAULT_COLLATION,
  DB_NEIGHBOURS,
  SYSTEM_PATTERN,
};
