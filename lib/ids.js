'use strict';
// Generated _ids. The bson package's generator shares one process-wide 5-byte value and one
// counter between every tenant: a tenant could count the others' inserts from its own ids and
// insert the next ones first to make their inserts fail with a duplicate key. Here each tenant
// gets its own generator: a random 5-byte value and a counter starting at a random point, both
// unknown to every other tenant and moved only by that tenant's own inserts. Ids stay real
// ObjectIds, ordered by their second and, within one process, by insertion for each tenant.

const { randomFillSync } = require('node:crypto');
const { ObjectId } = require('bson');

// Generators kept at once; one evicted later starts again from new random bytes.
const MAX_GENERATORS = 10_000;
const generators = new Map();

/** A new generator: 5 random bytes and a random 24-bit counter start. */
function generator() {
  const seed = randomFillSync(Buffer.allocUnsafe(8));
  return { prefix: seed.subarray(0, 5), counter: seed.readUIntBE(5, 3) };
}

/** A new ObjectId for documents inserted by `owner` (the tenant id; '' for runAsSystem). */
function newObjectId(owner = '') {
  let g = generators.get(owner);
  if (g === undefined) {
    if (generators.size >= MAX_GENERATORS) generators.delete(generators.keys().next().value);
    g = generator();
    generators.set(owner, g);
  }
  g.counter = (g.counter + 1) & 0xffffff;
  const bytes = Buffer.allocUnsafe(12);
  bytes.writeUInt32BE(Math.floor(Date.now() / 1000) >>> 0, 0);
  g.prefix.copy(bytes, 4);
  bytes.writeUIntBE(g.counter, 9, 3);
  return new ObjectId(bytes);
}

module.exports = { newObjectId };
