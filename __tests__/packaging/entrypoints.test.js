'use strict';
// `import … from 'tenantfence'` and `require('tenantfence')` as a user's app runs them: a
// separate `node` process (the one running Jest, so each Node version in npm test is covered)
// in a temp project whose node_modules/tenantfence links to this package, resolved through
// the package.json "exports" map.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { uri, dbName, rawClient } = require('../helpers/fixtures');

const root = path.join(__dirname, '..', '..');
const MONGO_ERRORS = ['MongoError', 'MongoServerError', 'MongoWriteConcernError', 'MongoBulkWriteError', 'MongoDriverError', 'MongoNetworkError', 'MongoServerSelectionError', 'MongoClientClosedError', 'MongoAPIError'];
const NAMES = ['TenantFence', 'TenantError', 'TenantFenceError', 'ObjectId', 'Decimal128', 'Long', 'Binary', 'Timestamp', ...MONGO_ERRORS];
const BSON_NAMES = NAMES.slice(3, 8);
// What the probe script reports from either entry point (CommonJS and ESM must agree).
const EXPECTED_REPORT = {
  exported: NAMES,
  sameAsOther: NAMES,
  sameAsBson: BSON_NAMES,
  roundTrip: true,
  missing: 'TENANT_MISSING',
};

let dir;
const DB = dbName('entry');

/** Writes `file` into the temp project, runs it with this Node and returns its JSON output. */
function runApp(file, source) {
  fs.writeFileSync(path.join(dir, file), source);
  const out = execFileSync(process.execPath, [file], {
    cwd: dir,
    env: { ...process.env, MONGODB_URI: uri(), TF_DB: DB },
    encoding: 'utf8',
    timeout: 60000,
  });
  return JSON.parse(out.trim().split('\n').pop());
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantfence-entry-'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'tenantfence'), 'dir');
  // The app's own bson (the same version, as npm would dedupe it).
  fs.symlinkSync(path.join(root, 'node_modules', 'bson'), path.join(dir, 'node_modules', 'bson'), 'dir');
});

afterAll(async () => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  const raw = await rawClient();
  await raw.db(DB).dropDatabase();
  await raw.close();
});

// The checks both scripts print: which names exist, and which classes are the very objects
// of the other module system's entry and of the `bson` package this package depends on.
const CHECKS = `
const names = ${JSON.stringify(NAMES)};
const bsonNames = ${JSON.stringify(BSON_NAMES)};
const pkgBson = createRequire(require.resolve('tenantfence/package.json'))('bson');
const report = {
  exported: names.filter((n) => typeof tf[n] === 'function'),
  sameAsOther: names.filter((n) => tf[n] === other[n]),
  sameAsBson: bsonNames.filter((n) => tf[n] === pkgBson[n]),
};`;

// Connects through the entry, writes and reads one document: the result's values are
// instances of the exported classes.
const ROUND_TRIP = `
const fence = await tf.TenantFence.connect(process.env.MONGODB_URI, { database: process.env.TF_DB });
const id = new tf.ObjectId();
const got = await fence.runAs('acme', async () => {
  const c = fence.collection(entry);
  await c.insertOne({ _id: id, price: tf.Decimal128.fromString('1.50'), n: tf.Long.fromNumber(7) });
  const plain = await c.findOne({ _id: id });
  const long = await c.findOne({ _id: id }, { promoteLongs: false });
  return { ...plain, longN: long.n };
});
await fence.close();
report.roundTrip = got._id instanceof tf.ObjectId && got._id.equals(id) &&
  got.price instanceof tf.Decimal128 && got.price.toString() === '1.50' && got.n === 7 && got.longN instanceof tf.Long &&
  got.tenantId === 'acme';
let missing;
try { fence.collection('x').find({}); } catch (e) { missing = e instanceof tf.TenantError && e.code; }
report.missing = missing;
console.log(JSON.stringify(report));`;

test('ESM: named imports by package name, the same objects as require()', () => {
  const report = runApp(
    'app.mjs',
    `import * as tf from 'tenantfence';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const other = require('tenantfence');
const entry = 'esm';
${CHECKS}
${ROUND_TRIP}`,
  );
  expect(report).toEqual(EXPECTED_REPORT);
});

test("ESM: bson's own ESM classes are other objects, but its values are accepted", () => {
  // bson ships separate ESM and CommonJS builds; tenantfence decodes with the CommonJS one, so
  // `instanceof` on results needs the classes exported by tenantfence (docs/install.md).
  const report = runApp(
    'esm-bson.mjs',
    `import * as tf from 'tenantfence';
import * as bson from 'bson';
const fence = await tf.TenantFence.connect(process.env.MONGODB_URI, { database: process.env.TF_DB });
const id = new bson.ObjectId();
const got = await fence.runAs('acme', async () => {
  const c = fence.collection('esmbson');
  await c.insertOne({ _id: id, at: new bson.Timestamp({ t: 1, i: 2 }) });
  const plain = await c.findOne({ _id: id });
  const long = await c.findOne({ _id: id }, { promoteLongs: false });
  return { ...plain, longN: long.n };
});
await fence.close();
console.log(JSON.stringify({
  sameClass: bson.ObjectId === tf.ObjectId,
  id: got._id instanceof tf.ObjectId && got._id.toHexString() === id.toHexString(),
  at: got.at instanceof tf.Timestamp && got.at.t === 1 && got.at.i === 2,
}));`,
  );
  expect(report).toEqual({ sameClass: false, id: true, at: true });
});

test('CommonJS: require by package name, the same objects as import()', () => {
  const report = runApp(
    'app.cjs',
    `const { createRequire } = require('node:module');
const tf = require('tenantfence');
const entry = 'cjs';
(async () => {
const other = await import('tenantfence');
${CHECKS}
${ROUND_TRIP}
})().catch((e) => { console.error(e); process.exit(1); });`,
  );
  expect(report).toEqual(EXPECTED_REPORT);
});

test('the exports map offers import, require and types, and hides internals', () => {
  const pkg = require('../../package.json');
  expect(pkg.exports['.']).toEqual({ types: './index.d.ts', import: './index.mjs', require: './index.js' });
  fs.writeFileSync(
    path.join(dir, 'deep.cjs'),
    `try { require('tenantfence/lib/fence.js'); console.log('"reachable"'); } catch (e) { console.log(JSON.stringify(e.code)); }`,
  );
  const out = execFileSync(process.execPath, ['deep.cjs'], { cwd: dir, encoding: 'utf8' });
  expect(JSON.parse(out)).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
});

test('tenantfence/mongoose: the same driver from require() and import, needing no Mongoose to load', () => {
  const pkg = require('../../package.json');
  expect(pkg.exports['./mongoose']).toEqual({ types: './mongoose.d.ts', import: './lib/mongoose/index.mjs', require: './lib/mongoose/index.js' });
  expect(pkg.peerDependenciesMeta.mongoose.optional).toBe(true);
  const report = runApp(
    'mongoose-entry.cjs',
    `const driver = require('tenantfence/mongoose');
import('tenantfence/mongoose').then((esm) => {
  console.log(JSON.stringify({
    cjs: ['Connection', 'Collection', 'fenceOf'].filter((k) => typeof driver[k] === 'function'),
    same: ['Connection', 'Collection', 'fenceOf'].filter((k) => esm[k] === driver[k]),
    defaultIsDriver: esm.default === driver,
  }));
});`,
  );
  expect(report).toEqual({ cjs: ['Connection', 'Collection', 'fenceOf'], same: ['Connection', 'Collection', 'fenceOf'], defaultIsDriver: true });
});
