'use strict';
// Sort and index specifications mean what they mean to the official driver: every form its `Sort`
// and `IndexSpecification` types allow is run through the driver and through tenantfence, and the
// `sort` / index `key` each sends are compared, key order included. Before this, `['createdAt',
// 'desc']` sorted ascending on two fields and `['loc', '2dsphere']` built `{loc: 1, '2dsphere': 1}`.

const { MongoClient } = require('mongodb');
const { TenantFence } = require('../..');
const { uri, dbName } = require('../helpers/fixtures');

const DB = dbName('specs');
let driver;
let fence;
let tenantDb;

beforeAll(async () => {
  driver = new MongoClient(uri());
  await driver.connect();
  // 'database': index keys reach the server as given (no tenant field in front) and compare as is.
  fence = await TenantFence.connect(uri(), { database: DB, strategy: 'database' });
  tenantDb = fence.databaseFor('acme');
  await driver.db(tenantDb).collection('s').insertMany([{ a: 1, b: 2, createdAt: 1, loc: [0, 0] }, { a: 2, b: 1, createdAt: 2, loc: [1, 1] }]);
  // The server's profiler shows each command as it arrived, from either client, key order kept.
  await driver.db(tenantDb).command({ profile: 2 });
});

afterAll(async () => {
  await fence.close();
  await driver.db(tenantDb).dropDatabase();
  await driver.db(DB).dropDatabase();
  await driver.close();
});

let calls = 0;

/** The first command named `name` that `run` sent, as the profiler recorded it. */
async function profiled(name, run) {
  const mark = `specs-${++calls}`;
  await driver.db(tenantDb).collection('marks').insertOne({ mark });
  await run();
  // system.profile is capped: its natural order is the order commands arrived in. Timestamps are
  // not enough (two commands can share a millisecond), so read on from the marker.
  const all = await driver.db(tenantDb).collection('system.profile').find({}).sort({ $natural: 1 }).toArray();
  const from = all.findIndex((e) => e.command?.documents?.[0]?.mark === mark);
  expect(from).toBeGreaterThanOrEqual(0);
  const found = all.slice(from + 1).find((e) => e.command && name in e.command);
  expect(found).toBeDefined();
  return found.command;
}

/** The command named `name` the driver sent while `fn` ran. */
const viaDriver = (name, fn) => profiled(name, () => fn(driver.db(tenantDb).collection('s')));

/** The command named `name` the fence sent while `fn` ran as tenant acme. */
const viaFence = (name, fn) => profiled(name, () => fence.runAs('acme', () => fn(fence.collection('s'))));

/** Key order matters in a sort and an index key: compared as [key, value] lists. */
const pairs = (d) => (d === undefined ? undefined : Object.entries(d));

const SORTS = [
  ['a field name', 'a'],
  ['a field and direction (the silent divergence)', ['createdAt', 'desc']],
  ['a direction in capitals', ['createdAt', 'DESC']],
  ["'-1' as a string", ['a', '-1']],
  ['a pair with a number', ['b', -1]],
  ['pairs', [['b', -1], ['a', 'asc']]],
  ['field names', ['b', 'a']],
  ['an object', { b: 'descending', a: 1 }],
  ['a Map', new Map([['b', -1], ['a', 'ASC']])],
  ['an object with a numeric-looking key last', { b: 1, 2: -1 }],
  ['an empty object (no sort)', {}],
  ['an empty array (no sort)', []],
];

describe('sort: the same command as the official driver', () => {
  test.each(SORTS)('find option: %s', async (_, spec) => {
    const d = await viaDriver('find', (c) => c.find({}, { sort: spec }).toArray());
    const f = await viaFence('find', (c) => c.find({}, { sort: spec }).toArray());
    expect(pairs(f.sort)).toEqual(pairs(d.sort));
  });

  test.each(SORTS)('cursor.sort(): %s', async (_, spec) => {
    const d = await viaDriver('find', (c) => c.find({}).sort(spec).toArray());
    const f = await viaFence('find', (c) => c.find({}).sort(spec).toArray());
    expect(pairs(f.sort)).toEqual(pairs(d.sort));
  });

  test.each(SORTS)('findOneAndUpdate: %s', async (_, spec) => {
    const d = await viaDriver('findAndModify', (c) => c.findOneAndUpdate({}, { $set: { x: 1 } }, { sort: spec }));
    const f = await viaFence('findAndModify', (c) => c.findOneAndUpdate({}, { $set: { x: 1 } }, { sort: spec }));
    expect(pairs(f.sort)).toEqual(pairs(d.sort));
  });

  test("cursor.sort(field, direction), and the driver's refusals", async () => {
    const d = await viaDriver('find', (c) => c.find({}).sort('a', 'desc').toArray());
    const f = await viaFence('find', (c) => c.find({}).sort('a', 'desc').toArray());
    expect(pairs(f.sort)).toEqual(pairs(d.sort));
    for (const bad of [{ a: 'sideways' }, [['a', 'up']], 7]) {
      const expected = await (async () => {
        try {
          await driver.db(tenantDb).collection('s').find({}, { sort: bad }).toArray();
        } catch (e) {
          return e.message;
        }
        return 'no error';
      })();
      let got = 'no error';
      try {
        await fence.runAs('acme', () => fence.collection('s').find({}, { sort: bad }).toArray());
      } catch (e) {
        got = [e.name, e.code, e.message];
      }
      expect(got).toEqual(['TypeError', 'ERR_INVALID_ARG', expected]);
    }
  });
});

const INDEXES = [
  ['a field name', 'a'],
  ['a field and direction', ['a', -1]],
  ['a geo direction (the silent divergence)', ['loc', '2dsphere']],
  ['pairs', [['a', 1], ['b', -1]]],
  ['field names', ['a', 'b']],
  ['an object', { b: -1, a: 1 }],
  ['a Map', new Map([['b', 1], ['a', -1]])],
  ['a list mixing the forms', ['a', ['b', -1], { createdAt: 1 }]],
  ['a hashed object', { b: 'hashed' }],
];

describe('createIndex: the same key as the official driver', () => {
  test.each(INDEXES)('%s', async (_, spec) => {
    const d = await viaDriver('createIndexes', (c) => c.createIndex(spec));
    await driver.db(tenantDb).collection('s').dropIndexes();
    const f = await viaFence('createIndexes', (c) => c.createIndex(spec));
    await driver.db(tenantDb).collection('s').dropIndexes();
    expect(pairs(f.indexes[0].key)).toEqual(pairs(d.indexes[0].key));
    expect(f.indexes[0].name).toBe(d.indexes[0].name);
  });
});

test("the sort reader gives what the driver's own formatSort gives, errors included", () => {
  // The driver's internal module: the reference this port follows line by line.
  const { formatSort } = require('mongodb/lib/sort.js');
  const args = require('../../lib/args');
  const cases = [
    ...SORTS.map(([, spec]) => spec),
    ['a', { $meta: 'textScore' }], [['a', { $meta: 'textScore' }]], { a: { $meta: 'x' } },
    ['a', 'sideways'], { a: 'sideways' }, [['a', 'up']], 7, ['a', 'Ascending'], [['a', '1'], ['b', '-1']],
    new Map(), ['a'], [['a']], ['a', 1.0], { a: true },
  ];
  const read = (fn) => {
    try {
      const m = fn();
      return m === undefined ? 'none' : [...m];
    } catch (e) {
      return `error: ${e.message}`;
    }
  };
  for (const spec of cases) {
    expect({ spec, ours: read(() => args.sort(spec)) }).toEqual({ spec, ours: read(() => formatSort(spec)) });
  }
});
