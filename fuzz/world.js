'use strict';
// The two databases the oracle compares. SCOPED holds A's documents and the neighbours' and is
// reached through the fence as tenant A; REFERENCE holds only A's documents (same bytes, same
// indexes) and is reached unscoped through the raw `mongodb` driver.

const crypto = require('node:crypto');
const { MongoClient } = require('mongodb');
const { TenantFence } = require('..');
const { build, INDEXES, TENANT, FIELD } = require('./dataset');
const { decodeExact } = require('./canon');

const COLLECTIONS = ['items', 'other'];

/** Opens both databases on `uri`, seeds them and remembers the initial bytes. */
async function openWorld(uri) {
  const suffix = `${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const scopedName = `tf_fuzz_s_${suffix}`;
  const refName = `tf_fuzz_r_${suffix}`;
  // promoteLongs false: the fence returns int64 as Long, so the reference must too.
  const raw = new MongoClient(uri, { promoteLongs: false });
  await raw.connect();
  const fence = await TenantFence.connect(uri, { database: scopedName });
  const world = {
    raw,
    fence,
    scopedName,
    refName,
    scoped: raw.db(scopedName),
    ref: raw.db(refName),
    data: build(),
    initial: {},
  };
  for (const name of COLLECTIONS) {
    for (const db of [world.scoped, world.ref]) {
      await db.createCollection(name);
      for (const { key } of INDEXES[name]) await db.collection(name).createIndex(key);
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
 * [side, collection] pairs; default: all of them.
 */
async function reset(world, which = ['scoped', 'ref'].flatMap((side) => COLLECTIONS.map((name) => [side, name]))) {
  await Promise.all(
    which.map(async ([side, name]) => {
      const coll = world[side].collection(name);
      await coll.deleteMany({});
      await coll.insertMany(structuredClone(side === 'scoped' ? world.data[name].scoped : world.data[name].a));
    }),
  );
}

/**
 * The server's MD5 of each collection's documents on each side (dbHash: one round trip per side).
 * Equal to the seed's hash means byte-identical to the seed.
 */
async function hashes(world) {
  const [s, r] = await Promise.all([world.scoped, world.ref].map((db) => db.command({ dbHash: 1, collections: COLLECTIONS })));
  return { scoped: s.collections, ref: r.collections };
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
 * The scoped side's `name`, split: `a` = documents whose tenant field is the string 'A',
 * `others` = everything else, both as raw bytes.
 */
async function readState(world, side, name) {
  const bufs = await readRaw(side === 'scoped' ? world.scoped : world.ref, name);
  const a = [];
  const others = [];
  for (const b of bufs) (decodeExact(b)[FIELD] === TENANT ? a : others).push(b);
  return { a, others, all: bufs };
}

/** Collections present in the scoped database (a refused $out/$merge must not create one). */
async function scopedCollections(world) {
  const list = await world.scoped.listCollections({}, { nameOnly: true }).toArray();
  return list.map((c) => c.name).sort();
}

/** Closes the fence, drops both databases, closes the client. */
async function closeWorld(world) {
  await world.fence.close().catch(() => {});
  await world.scoped.dropDatabase().catch(() => {});
  await world.ref.dropDatabase().catch(() => {});
  await world.raw.close();
}

module.exports = { openWorld, closeWorld, reset, hashes, changed, readRaw, readState, scopedCollections, COLLECTIONS };
