'use strict';
// The driver's cursor members on a fence cursor (issue 14, item 2): map, hasNext, tryNext,
// forEach, bufferedCount, readBufferedDocuments, closed, rewind, clone, stream, the chainable
// options and `await using`. Each runs with another tenant's documents in the collection and
// checks it sees only its own; rewound and cloned cursors keep the context they were made in.

const { Writable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { useSuite } = require('../helpers/fixtures');

const suite = useSuite('cursors', { strategy: 'field' });
const { as } = suite;
const C = 'items';

beforeAll(async () => {
  const docs = [];
  for (let i = 0; i < 25; i++) docs.push({ _id: `a${i}`, tenantId: 'acme', n: i }, { _id: `b${i}`, tenantId: 'beta', n: i });
  await suite.rdb.collection(C).insertMany(docs);
});

const mine = (docs, tenant = 'acme') => docs.every((d) => d.tenantId === tenant);
const items = () => suite.fence.collection(C);

test('map: applied on every read path, composed, and only before the first read', async () => {
  await as('acme', async () => {
    const ids = await items().find({}).sort({ n: 1 }).map((d) => d._id).map((id) => id.toUpperCase()).toArray();
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => `A${i}`));
    const c = items().find({ n: { $lt: 3 } }).sort({ n: 1 }).map((d) => d.n * 10);
    expect([await c.next(), await c.tryNext()]).toEqual([0, 10]);
    expect(() => c.map((x) => x)).toThrow('cursor.map() must be called before the cursor is read');
    const seen = [];
    for await (const x of items().find({ n: { $lt: 2 } }).sort({ n: 1 }).map((d) => `${d.tenantId}:${d.n}`)) seen.push(x);
    expect(seen).toEqual(['acme:0', 'acme:1']);
    // A map function that throws fails the read and closes the cursor, as the driver's does.
    const bad = items().find({}).map(() => {
      throw new Error('boom');
    });
    await expect(bad.next()).rejects.toThrow('boom');
    expect(bad.closed).toBe(true);
  });
});

test('hasNext, tryNext, forEach that stops early', async () => {
  await as('acme', async () => {
    const c = items().find({ n: { $gte: 23 } }).sort({ n: 1 });
    expect(await c.hasNext()).toBe(true);
    expect((await c.next()).n).toBe(23);
    expect((await c.tryNext()).n).toBe(24);
    expect(await c.hasNext()).toBe(false);
    expect(await c.tryNext()).toBe(null);
    const seen = [];
    await items().find({}).sort({ n: 1 }).forEach((d) => {
      seen.push(d);
      return d.n < 4;
    });
    expect(seen.map((d) => d.n)).toEqual([0, 1, 2, 3, 4]);
    expect(mine(seen)).toBe(true);
  });
});

test('bufferedCount and readBufferedDocuments read what the server sent and nothing more', async () => {
  await as('acme', async () => {
    const c = items().find({}).sort({ n: 1 }).batchSize(10);
    expect(c.bufferedCount()).toBe(0);
    expect((await c.next()).n).toBe(0);
    expect(c.bufferedCount()).toBe(9);
    const taken = c.readBufferedDocuments(4);
    expect(taken.map((d) => d.n)).toEqual([1, 2, 3, 4]);
    expect(c.bufferedCount()).toBe(5);
    expect(c.readBufferedDocuments().map((d) => d.n)).toEqual([5, 6, 7, 8, 9]);
    expect((await c.next()).n).toBe(10);
    const rest = await c.toArray();
    expect(rest.map((d) => d.n)).toEqual(Array.from({ length: 14 }, (_, i) => i + 11));
    expect(mine([...taken, ...rest])).toBe(true);
    expect(c.closed).toBe(true);
  });
});

test('rewind and clone send the query again in the context the cursor was made in', async () => {
  const c = await as('beta', async () => items().find({ n: { $lt: 5 } }).sort({ n: 1 }));
  // Read, rewound and cloned outside any context, and inside another tenant's: still beta's.
  const first = await c.toArray();
  expect(first.map((d) => d._id)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
  c.rewind();
  expect(c.closed).toBe(false);
  const again = await as('acme', () => c.toArray());
  expect(again).toEqual(first);
  const copy = c.clone();
  expect((await copy.toArray()).map((d) => d._id)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
  // A clone has the options (sort, filter) but not map().
  const mapped = await as('acme', async () => items().find({ n: 1 }).map((d) => d.n));
  expect(await mapped.clone().toArray()).toEqual([expect.objectContaining({ _id: 'a1' })]);
  // Rewinding mid-read releases the old server cursor and starts over.
  const half = await as('acme', async () => items().find({}).sort({ n: 1 }).batchSize(2));
  await half.next();
  half.rewind();
  expect((await half.toArray()).length).toBe(25);
});

test('stream: every document of the tenant, one at a time for a slow reader', async () => {
  const got = [];
  let inFlight = 0;
  let most = 0;
  const slow = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(doc, _, done) {
      inFlight++;
      most = Math.max(most, inFlight);
      got.push(doc);
      setTimeout(() => {
        inFlight--;
        done();
      }, 2);
    },
  });
  await as('acme', () => pipeline(items().find({}).sort({ n: 1 }).stream(), slow));
  expect(got.map((d) => d.n)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  expect(mine(got)).toBe(true);
  expect(most).toBe(1);
  const transformed = [];
  await as('beta', () => pipeline(items().find({ n: { $lt: 3 } }).sort({ n: 1 }).stream({ transform: (d) => d._id }), new Writable({
    objectMode: true,
    write(id, _, done) {
      transformed.push(id);
      done();
    },
  })));
  expect(transformed).toEqual(['b0', 'b1', 'b2']);
});

test('the chainable options reach the server; a collation option cannot widen the tenant match', async () => {
  await suite.rdb.command({ profile: 2 });
  await as('acme', async () => {
    // collation and hint are options, not chainers (the contract: nothing that changes the query).
    const docs = await items()
      .find({ n: { $lt: 3 } }, { hint: { tenantId: 1, _id: 1 }, collation: { locale: 'en', strength: 1 } })
      .maxTimeMS(5000)
      .comment('cursor-members')
      .allowDiskUse(true)
      .toArray();
    expect(docs.length).toBe(3);
    expect(mine(docs)).toBe(true);
    const agg = await items().aggregate([{ $match: { n: { $lt: 2 } } }], { collation: { locale: 'en', strength: 1 } }).maxTimeMS(5000).comment('agg').toArray();
    expect(agg.map((d) => d._id).sort()).toEqual(['a0', 'a1']);
  });
  await suite.rdb.command({ profile: 0 });
  const [sent] = await suite.rdb.collection('system.profile').find({ 'command.comment': 'cursor-members' }).toArray();
  expect(sent.command).toMatchObject({ maxTimeMS: 5000, allowDiskUse: true, collation: { locale: 'en', strength: 1 } });
  expect(sent.command.hint).toEqual({ tenantId: 1, _id: 1 });
  const [agg] = await suite.rdb.collection('system.profile').find({ 'command.comment': 'agg' }).toArray();
  expect(agg.command).toMatchObject({ aggregate: C, maxTimeMS: 5000, collation: { locale: 'en', strength: 1 } });
  // An id that differs only in case: strength 1 would equate 'ACME' and 'acme', the fence's match does not.
  await suite.rdb.collection(C).insertOne({ _id: 'upper', tenantId: 'ACME', n: 0 });
  const seen = await as('acme', () => items().find({ n: 0 }, { collation: { locale: 'en', strength: 1 } }).toArray());
  expect(seen.map((d) => d._id)).toEqual(['a0']);
  await suite.rdb.collection(C).deleteOne({ _id: 'upper' });
  await as('acme', () => expect(() => items().find({}).maxTimeMS('x')).toThrow('Argument for maxTimeMS must be a number'));
});

test('await using closes the cursor', async () => {
  let cursor;
  await as('acme', async () => {
    try {
      const run = new Function('open', 'return (async () => { await using c = open(); await c.next(); return c; })()');
      cursor = await run(() => items().find({}).batchSize(2));
    } catch (e) {
      // `await using` needs Node 24's parser; on older Nodes call the method it binds to.
      if (!(e instanceof SyntaxError)) throw e;
      cursor = items().find({}).batchSize(2);
      await cursor.next();
      await cursor[Symbol.asyncDispose]();
    }
  });
  expect(cursor.closed).toBe(true);
});

test('readPreference and readConcern reach the server and change nothing of what matches', async () => {
  await suite.rdb.command({ profile: 2 });
  await as('acme', async () => {
    const c = items();
    const viaOption = await c.find({ n: { $lt: 2 } }, { readConcern: { level: 'majority' }, readPreference: 'nearest', comment: 'rc-find' }).toArray();
    expect(viaOption.map((d) => d._id).sort()).toEqual(['a0', 'a1']);
    const chained = await c.find({ n: 3 }).withReadConcern('majority').withReadPreference({ mode: 'primaryPreferred', maxStalenessSeconds: 120 }).comment('rc-chain').toArray();
    expect(chained.map((d) => d._id)).toEqual(['a3']);
    // A lookup by _id with a read concern is sent alone, with it; beta's document stays beta's.
    expect(await c.findOne({ _id: 'b1' }, { readConcern: { level: 'majority' }, comment: 'rc-id' })).toBe(null);
    expect((await c.findOne({ _id: 'a1' }, { readConcern: { level: 'local' } })).n).toBe(1);
    expect(await c.countDocuments({}, { readConcern: { level: 'majority' }, readPreference: 'secondaryPreferred' })).toBe(25);
    expect(await c.estimatedDocumentCount({ readConcern: { level: 'local' } })).toBe(25);
    expect(await c.distinct('n', { n: { $lt: 2 } }, { readPreference: { mode: 'nearest', tags: [{}] } })).toEqual([0, 1]);
    for (const [opts, message] of [
      [{ readPreference: 'sideways' }, 'options.readPreference: unknown mode "sideways"'],
      [{ readPreference: { mode: 'primary', maxStalenessSeconds: 120 } }, 'options.readPreference: primary takes no tags or maxStalenessSeconds'],
      [{ readConcern: 7 }, 'options.readConcern must be an object'],
      [{ readPreference: { mode: 'nearest', maxStalenessSeconds: 30 } }, 'options.readPreference.maxStalenessSeconds must be at least 90'],
      [{ readPreference: { mode: 'nearest', maxStalenessSeconds: 0 } }, 'options.readPreference.maxStalenessSeconds must be a positive integer'],
    ]) {
      const e = await c.findOne({}, opts).catch((x) => x);
      expect([e.name, e.message]).toEqual(['TypeError', message]);
    }
  });
  await suite.rdb.command({ profile: 0 });
  const sent = async (comment) => (await suite.rdb.collection('system.profile').find({ 'command.comment': comment }).toArray())[0].command;
  expect((await sent('rc-find')).readConcern).toEqual({ level: 'majority' });
  expect((await sent('rc-chain')).readConcern).toEqual({ level: 'majority' });
  const id = await sent('rc-id');
  expect(id.readConcern).toEqual({ level: 'majority' });
  expect(id.filter).toEqual({ _id: 'b1' });
});

test('map() returning null is refused as the driver refuses it; forEach stopping early leaves the cursor open', async () => {
  const { MongoAPIError } = require('../..');
  await as('acme', async () => {
    const c = items().find({ n: { $lt: 2 } }).sort({ n: 1 }).map((d) => (d.n === 0 ? null : d.n));
    const e = await c.next().catch((x) => x);
    expect(e).toBeInstanceOf(MongoAPIError);
    expect(e.message).toMatch(/^Cursor returned a `null` document, but the cursor is not exhausted/);
    expect(c.closed).toBe(true);
    const f = items().find({ n: { $lt: 3 } }).sort({ n: 1 });
    await f.forEach((d) => d.n < 0);
    expect(f.closed).toBe(false);
    expect((await f.next()).n).toBe(1);
  });
});

test('a cursor opened inside runAsSystem fetches no batch after the callback settles', async () => {
  const c = await suite.fence.runAsSystem({ reason: 'cursor-members test' }, async () => {
    const cur = items().find({}).sort({ tenantId: 1, n: 1 }).batchSize(2);
    await cur.next();
    return cur;
  });
  // The document already fetched is the caller's; the next batch would be system access after the end.
  expect((await c.next())._id).toBe('a1');
  const e = await c.next().catch((x) => x);
  expect([e.name, e.code, e.message]).toEqual(['TenantError', 'TENANT_MISSING', 'this runAsSystem (or runAsTenants) context has ended: its access ends when its callback settles']);
  // A tenant's cursor keeps reading wherever it is read.
  const t = await as('beta', async () => {
    const cur = items().find({}).sort({ n: 1 }).batchSize(2);
    await cur.next();
    return cur;
  });
  expect((await t.toArray()).length).toBe(24);
});

test('rewind() while a read is in flight: that read starts over on the new query', async () => {
  await as('acme', async () => {
    const c = items().find({ n: { $lt: 3 } }).sort({ n: 1 }).batchSize(1);
    const pending = c.toArray();
    c.rewind();
    expect((await pending).map((d) => d._id)).toEqual(['a0', 'a1', 'a2']);
    // The read after it finds the cursor exhausted, as with the driver; a rewind reads again.
    expect(await c.toArray()).toEqual([]);
    c.rewind();
    expect((await c.toArray()).map((d) => d._id)).toEqual(['a0', 'a1', 'a2']);
  });
});
