'use strict';
// MongoDB's CRUD unified spec tests (mongodb/specifications source/crud/tests/unified, copied in
// ./crud-unified with their licence) run through tenantfence under tenant 'acme', with tenant
// 'globex' holding a copy of the data in every collection (issue 14 item 8). Every test that runs
// on MongoDB 6.0 must pass, except those listed in ./refused.js with their reasons; a listed test
// that starts to pass fails here too, so the list stays true. The runner: ./unified.js.

const { MongoClient } = require('mongodb');
const { uri } = require('../helpers/fixtures');
const u = require('./unified');
const { REFUSED, GAPS } = require('./refused');

const PREFIX = `tfspec${process.pid}`;
let raw;

beforeAll(async () => {
  raw = new MongoClient(uri());
  await raw.connect();
});

afterAll(async () => {
  const { databases } = await raw.db('admin').admin().listDatabases();
  for (const d of databases) if (d.name.startsWith(PREFIX)) await raw.db(d.name).dropDatabase();
  await raw.close();
});

const dbOf = (name) => `${PREFIX}_${name}`.slice(0, 60);

/** Sets up the initial data: 'acme''s documents as written, 'globex''s copies under new _ids. */
async function seed(initialData = []) {
  for (const { databaseName, collectionName, documents = [], createOptions } of initialData) {
    const db = raw.db(dbOf(databaseName));
    await db.collection(collectionName).drop().catch(() => {});
    await db.createCollection(collectionName, createOptions || {});
    const mine = documents.map((d) => ({ ...d, [u.FIELD]: u.TENANT }));
    const theirs = documents.map((d) => ({ ...d, _id: new u.ObjectId(), [u.FIELD]: u.OTHER }));
    if (mine.length) await db.collection(collectionName).insertMany([...mine, ...theirs], { bypassDocumentValidation: true });
  }
}

/** 'globex''s documents in every collection the test names. */
async function others(spec, test) {
  const names = new Set();
  for (const d of spec.initialData || []) names.add(`${d.databaseName}\u0000${d.collectionName}`);
  for (const d of test.outcome || []) names.add(`${d.databaseName}\u0000${d.collectionName}`);
  const out = {};
  for (const n of [...names].sort()) {
    const [db, c] = n.split('\u0000');
    out[n] = await raw.db(dbOf(db)).collection(c).find({ [u.FIELD]: u.OTHER }, { sort: { _id: 1 } }).toArray();
  }
  return out;
}

/** Runs one test; resolves to null when it passed, else what went wrong. */
async function run(spec, test) {
  await seed(spec.initialData);
  const before = await others(spec, test);
  const fences = [];
  const entities = {};
  try {
    const dbs = {};
    for (const e of spec.createEntities || []) {
      if (e.database) dbs[e.database.id] = e.database.databaseName;
      if (e.collection) {
        const name = dbs[e.collection.database];
        let f = fences.find((x) => x.name === name);
        if (!f) {
          f = { name, fence: await u.TenantFence.connect(uri(), { database: dbOf(name) }) };
          fences.push(f);
        }
        entities[e.collection.id] = f.fence.collection(e.collection.collectionName);
        entities[`${e.collection.id}#fence`] = f.fence;
      }
      if (e.session) throw new u.RunnerGap('sessions as entities are not in the runner');
      if (e.bucket || e.clientEncryption) throw new u.RunnerGap('not a CRUD entity');
    }
    for (const op of test.operations) {
      if (op.object === 'testRunner') throw new u.RunnerGap(`testRunner.${op.name} is not in the runner (fail points would reach other test files)`);
      const target = entities[op.object];
      if (!target) throw new u.RunnerGap(`operations on ${op.object} are not in the runner`);
      const fence = entities[`${op.object}#fence`];
      let result;
      let error;
      try {
        if (op.name === 'iterateUntilDocumentOrError') result = u.untenanted(await fence.runAs(u.TENANT, () => target.next()));
        else if (op.name === 'close') result = await target.close();
        else result = await fence.runAs(u.TENANT, () => u.operate(target, op, entities));
      } catch (e) {
        if (e instanceof u.RunnerGap) throw e;
        error = e;
      }
      if (op.saveResultAsEntity) entities[op.saveResultAsEntity] = result;
      if (op.ignoreResultAndError) continue;
      if (op.expectError) {
        const m = u.checkError(op.expectError, error, entities);
        if (m) return `${op.name}: ${m}`;
        continue;
      }
      if (error) return `${op.name}: ${error.name} ${error.code ?? ''} ${error.message}`;
      if (op.expectResult !== undefined) {
        const m = u.match(op.expectResult, result, 'result', true, entities);
        if (m) return `${op.name}: ${m}`;
      }
    }
    for (const { databaseName, collectionName, documents } of test.outcome || []) {
      const found = await raw.db(dbOf(databaseName)).collection(collectionName).find({ [u.FIELD]: u.TENANT }, { sort: { _id: 1 } }).toArray();
      const m = u.match(documents, found.map(u.untenanted), `outcome ${collectionName}`, false, entities);
      if (m) return m;
    }
    const after = await others(spec, test);
    const m = u.match(before, after, 'globex', false, entities);
    if (m) return `another tenant's documents changed: ${m}`;
    return null;
  } finally {
    for (const f of fences) await f.fence.close();
  }
}

const outcomes = [];
for (const { file, spec } of u.files()) {
  const fileSkip = u.unmet(spec.runOnRequirements);
  describe(file, () => {
    for (const test of spec.tests) {
      const id = `${file}: ${test.description}`;
      const skip = fileSkip || u.unmet(test.runOnRequirements) || (test.skipReason && `skipped by the spec: ${test.skipReason}`);
      if (skip) {
        it.skip(`${test.description} (${skip})`, () => {});
        outcomes.push({ id, state: 'not run', why: skip });
        continue;
      }
      const refused = REFUSED[id] || REFUSED[file];
      const gap = GAPS[id] || GAPS[file];
      it(test.description, async () => {
        let problem;
        try {
          problem = await run(spec, test);
        } catch (e) {
          if (!(e instanceof u.RunnerGap)) throw e;
          problem = `runner: ${e.message}`;
        }
        const listed = refused || gap;
        outcomes.push({ id, state: problem ? (listed ? 'listed' : 'failed') : 'passed', why: listed, problem });
        if (listed) {
          // A listed test must still fail: one that passes now comes off the list.
          expect([id, problem ? 'still refused' : 'passes now: take it off __tests__/spec/refused.js']).toEqual([id, 'still refused']);
        } else {
          expect([id, problem]).toEqual([id, null]);
        }
      });
    }
  });
}

afterAll(() => {
  if (process.env.SPEC_REPORT) {
    const count = (s) => outcomes.filter((o) => o.state === s).length;
    console.log(`crud unified: passed ${count('passed')}, listed ${count('listed')}, failed ${count('failed')}, not run ${count('not run')}`);
    for (const o of outcomes.filter((x) => x.state === 'failed')) console.log(`FAILED ${o.id}\n   ${o.problem}`);
  }
});
