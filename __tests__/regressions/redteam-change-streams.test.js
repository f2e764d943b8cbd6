'use strict';
// Red-team: attacks on collection.watch() by a caller who controls the pipeline and the options
// (e.g. from req.body) but not the code. Other tenants ('b', and 'A', which a case-folding
// collation would equate with 'a') write beside tenant 'a' in the same collection; nothing of
// theirs may come back to 'a': not an event, a document, an error, or a resumed position.

const { MongoClient } = require('mongodb');
const { useSuite, uri, captureError } = require('../helpers/fixtures');

const suite = useSuite('rtwatch');
const { as } = suite;

const COLL = 'rtw';
const SECRET = 'TOPSECRET';
const coll = () => suite.fence.collection(COLL);

beforeAll(async () => {
  await suite.fence.runAsSystem({ reason: 'test setup' }, () =>
    suite.fence.db.createCollection(COLL, { changeStreamPreAndPostImages: { enabled: true } }),
  );
});

/** Opens a stream as 'a' and waits until it is open on the server. */
async function open(pipeline, options = {}) {
  const s = as('a', () => coll().watch(pipeline, { maxAwaitTimeMS: 200, ...options }));
  expect(await s.tryNext()).toBeNull();
  return s;
}

/**
 * Other tenants write every operation type on documents that would make a caller's expression
 * fail (a zero, a non-number, no fullDocument), then 'a' writes one document. What the stream
 * shows in three server reads is returned, errors included as text.
 */
async function attack(stream) {
  for (const t of ['b', 'A']) {
    const { insertedId } = await as(t, () => coll().insertOne({ n: 0, s: SECRET, arr: 'x' }));
    await as(t, () => coll().updateOne({ _id: insertedId }, { $set: { s: `${SECRET}2` } }));
    await as(t, () => coll().replaceOne({ _id: insertedId }, { n: 0, s: `${SECRET}3` }));
    await as(t, () => coll().deleteOne({ _id: insertedId }));
  }
  await as('a', () => coll().insertOne({ n: 1, s: '7', arr: [1], mine: true }));
  const seen = [];
  try {
    for (let i = 0; i < 3; i++) {
      const e = await stream.tryNext();
      if (e) seen.push(e);
    }
  } catch (err) {
    seen.push({ error: `${err.name} ${err.message} ${JSON.stringify(err)}` });
  }
  await stream.close();
  return seen;
}

describe('stopped: a change stream shows nothing of another tenant', () => {
  test('error oracle: expressions that fail on other tenants’ events never run there', async () => {
    const failing = [
      { $divide: [1, '$fullDocument.n'] },
      { $toInt: '$fullDocument.s' },
      { $toInt: '$fullDocumentBeforeChange.s' },
      { $arrayElemAt: ['$fullDocument.arr', 0] },
      { $size: '$fullDocument.arr' },
    ];
    const pipelines = [];
    for (const e of failing) {
      pipelines.push([{ $match: { $expr: { $gte: [e, -1e9] } } }]);
      pipelines.push([{ $match: { $or: [{ nope: 1 }, { $and: [{ $expr: { $gte: [e, -1e9] } }] }] } }]);
      pipelines.push([{ $match: { $nor: [{ $expr: { $lt: [e, -1e9] } }] } }]);
      // Beside a predicate the server can translate to the oplog (the fuzzer's case 237 shape).
      pipelines.push([{ $match: { 'fullDocumentBeforeChange.x': { $lte: 3 } } }, { $match: { $or: [{ operationType: 'delete' }, { $expr: { $gte: [e, -1e9] } }] } }]);
      pipelines.push([{ $addFields: { probe: e } }]);
      pipelines.push([{ $project: { _id: 1, probe: e } }]);
      pipelines.push([{ $redact: { $cond: [{ $gte: [e, -1e9] }, '$$KEEP', '$$PRUNE'] } }]);
    }
    pipelines.push([{ $replaceWith: { $cond: [{ $eq: ['$fullDocument.n', 0] }, 'not a document', '$$ROOT'] } }]);
    for (const p of pipelines) {
      const seen = await attack(await open(p));
      const text = JSON.stringify(seen);
      expect({ p, text }).toEqual({ p, text: expect.not.stringContaining(SECRET) });
      expect({ p, errors: seen.filter((e) => e.error) }).toEqual({ p, errors: [] });
    }
  });

  test('a case-folding collation does not equate tenant "a" with tenant "A"', async () => {
    const seen = await attack(await open([{ $match: { 'fullDocument.tenantId': { $in: ['a', 'A'] } } }], { collation: { locale: 'en', strength: 1 } }));
    expect(seen.map((e) => e.fullDocument && e.fullDocument.tenantId)).toEqual(['a']);
  });

  test('reshaping an event to look like another tenant’s, or like a’s, delivers nothing that is not a’s', async () => {
    const pipelines = [
      [{ $replaceRoot: { newRoot: { _id: '$_id', fullDocument: { tenantId: 'b', copied: '$fullDocument' } } } }],
      [{ $set: { operationType: 'insert', fullDocument: { tenantId: 'a' } } }],
      [{ $project: { _id: 1, documentKey: 1 } }],
    ];
    for (const p of pipelines) {
      const seen = await attack(await open(p));
      expect(JSON.stringify(seen)).not.toContain(SECRET);
      expect(seen.length).toBeLessThanOrEqual(1);
    }
  });

  test('resume tokens: another tenant’s, one with a’s MAC on b’s server token, and an oplog probe with a raw token are refused', async () => {
    const s = await open([]);
    await as('a', () => coll().insertOne({ t: 1 }));
    let mine = null;
    while (!mine) mine = await s.tryNext();
    await s.close();
    const [, mac] = mine._id._data.split('.');
    // b's own event, seen through the npm driver (outside the fence): its server token.
    const raw = new MongoClient(uri());
    await raw.connect();
    try {
      const rs = raw.db(suite.DB).collection(COLL).watch([], { maxAwaitTimeMS: 200 });
      await rs.tryNext();
      await as('b', () => coll().insertOne({ t: SECRET }));
      let theirs = null;
      while (!theirs) theirs = await rs.tryNext();
      await rs.close();
      const tokens = [
        ['b', mine._id],
        ['a', { _data: `${theirs._id._data}.${mac}` }],
        ['a', theirs._id],
        ['a', { ...mine._id, _typeBits: Buffer.from([1]) }],
        ['a', { _data: mine._id._data.toLowerCase().replace(/^./, 'F') }],
      ];
      for (const [tenant, token] of tokens) {
        for (const key of ['resumeAfter', 'startAfter']) {
          const err = await captureError(as(tenant, () => coll().watch([], { [key]: token })).next());
          expect(err.code).toBe('TENANT_VIOLATION');
          expect(err.message).not.toContain(SECRET);
        }
      }
    } finally {
      await raw.close();
    }
  });

  test('a stream opened inside runAsSystem reads nothing once the callback has settled', async () => {
    let s;
    await suite.fence.runAsSystem({ reason: 'test' }, async () => {
      s = coll().watch([], { maxAwaitTimeMS: 200 });
      expect(await s.tryNext()).toBeNull();
    });
    await as('b', () => coll().insertOne({ after: SECRET }));
    const err = await captureError(s.next());
    expect(err.code).toBe('TENANT_MISSING');
  });
});
