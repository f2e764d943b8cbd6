'use strict';
// The fixed data every case starts from. Tenant A's documents are shared by both sides; the
// neighbours exist only on the scoped side. Neighbour values deliberately collide with A's
// (same x, y, tags, parent links, _id ranges in the other collection) so that any filter or
// stage that escapes the tenant match would change a result.

const TENANT = 'A';
const FIELD = 'tenantId';

// Tenant values that sit next to 'A' under case folding, prefixes, collations and regexes, plus
// documents with a null or no tenant. Only strings (or nothing/null): an array or Symbol tenant
// field is a documented known limit for reads (docs/limits.md) and is left out on purpose.
const NEIGHBOURS = ['B', 'a', 'A-1', 'AB', 'A ', 'Ａ', '', null, undefined];

/**
 * Values only the neighbours' documents hold, in a field (`secret`) A's documents lack: an
 * expression that fails on them (issue 12: `{$toInt: {$concat: ['#', '$secret']}}`) fails only
 * if the fence let it run on another tenant's document; on A's it is null.
 */
const SECRETS = ['078-05-1120', '4111111111111111', '5821', 'hunter2'];

const DAY = 86400000;
const BASE = Date.UTC(2001, 0, 1);

/** A document of the `items` collection; `tenant` undefined means no tenant field at all. */
function item(_id, tenant, i) {
  const doc = { _id };
  if (tenant !== undefined) doc[FIELD] = tenant;
  Object.assign(doc, {
    x: i % 7,
    y: ['apple', 'banana', 'cherry', 'date', 'Apple pie', 'elder'][i % 6],
    tags: [['red', 'fruit'], ['green'], [], ['red', 'green', 'blue'], ['fruit', 'fruit']][i % 5],
    sub: { k: i % 4, arr: [{ n: i % 3, s: 'p' }, { n: (i + 1) % 5, s: 'q' }] },
    n: i % 3 === 0 ? null : i,
    d: new Date(BASE + (i % 5) * DAY),
    parent: i % 4 === 0 ? null : (i % 4),
    ref: i % 5,
    loc: { type: 'Point', coordinates: [(i % 5) * 0.01, (i % 3) * 0.01] },
  });
  if (i % 4 === 1) delete doc.n; // some documents lack fields entirely
  if (i % 6 === 2) doc.bits = i * 5;
  return doc;
}

/** A document of the `other` collection (the join target). */
function other(_id, tenant, i) {
  const doc = { _id };
  if (tenant !== undefined) doc[FIELD] = tenant;
  Object.assign(doc, { k: i % 5, v: ['p', 'q', 'r'][i % 3], parent: i % 3 === 0 ? null : (_id % 10) - 1, w: i % 4 });
  return doc;
}

/** A document of the shared collection `plans` (issue 16): no tenant field, every tenant reads it. */
function plan(_id, i) {
  return { _id, k: i % 5, ref: i % 5, parent: i % 3 === 0 ? null : _id - 1, x: i % 7, y: ['apple', 'banana', 'cherry'][i % 3], w: i % 4 };
}

/** The documents of each collection, split into A's and the neighbours'. */
function build() {
  const itemsA = [];
  const itemsOthers = [];
  const otherA = [];
  const otherOthers = [];
  for (let i = 1; i <= 8; i++) itemsA.push(item(i, TENANT, i));
  NEIGHBOURS.forEach((t, j) => {
    // Two per neighbour; the same i values as A's so their fields collide.
    itemsOthers.push({ ...item(100 + 2 * j, t, j + 1), secret: SECRETS[(2 * j) % SECRETS.length] });
    itemsOthers.push({ ...item(101 + 2 * j, t, j + 4), secret: SECRETS[(2 * j + 1) % SECRETS.length] });
  });
  for (let i = 1; i <= 6; i++) otherA.push(other(i, TENANT, i));
  const plans = [1, 2, 3, 4, 5, 6].map((i) => plan(i, i));
  NEIGHBOURS.forEach((t, j) => {
    otherOthers.push({ ...other(10 * (j + 1) + 1, t, j), secret: SECRETS[j % SECRETS.length] });
    // _ids that collide with A's items, so an unscoped $lookup by _id would find them
    otherOthers.push(other(200 + j, t, j + 2));
  });
  // Interleave A's with the neighbours' so natural order is not "A first".
  const interleave = (a, b) => {
    const out = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (b[i]) out.push(b[i]);
      if (a[i]) out.push(a[i]);
    }
    return out;
  };
  return {
    items: { a: itemsA, scoped: interleave(itemsA, itemsOthers) },
    other: { a: otherA, scoped: interleave(otherA, otherOthers) },
    // Shared: the same documents on both sides, none of them any tenant's.
    plans: { a: plans, scoped: plans },
  };
}

/** Indexes created identically on both sides (raw driver, outside the fence). */
const INDEXES = {
  items: [{ key: { x: 1 } }, { key: { 'sub.k': 1, y: 1 } }, { key: { y: 'text' } }, { key: { loc: '2dsphere' } }],
  other: [{ key: { k: 1 } }],
  plans: [{ key: { k: 1 } }],
};

/** The collection every world's fence declares shared (`shared: [SHARED]`, issue 16). */
const SHARED = 'plans';

/** The _ids of A's items (writes that may create documents draw their _ids from these or FRESH_IDS). */
const A_IDS = [1, 2, 3, 4, 5, 6, 7, 8];
/** _ids nobody uses. */
const FRESH_IDS = [50, 51, 52];
/** _ids of neighbours' items (reads and non-upsert writes use them: they must match nothing). */
const OTHER_IDS = [100, 101, 104, 110, 116];

module.exports = { TENANT, FIELD, NEIGHBOURS, SECRETS, build, INDEXES, A_IDS, FRESH_IDS, OTHER_IDS, SHARED };
