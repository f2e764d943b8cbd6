'use strict';
// The fuzzer's mongoose mode (issue 15), short form with a fixed seed: the field mode's cases
// as the Mongoose calls an app makes (Mongoose 9 and 8 on tenantfence/mongoose as tenant A:
// lean, hydrated documents, cursors, eachAsync, populate, doc.save() …) against a plain
// Mongoose on a database holding only A's documents. The long form is
// `npm run fuzz -- --mode mongoose`.

const { uri } = require('../helpers/fixtures');
const { runCampaign } = require('../../fuzz/campaign');
const { MODES } = require('../../fuzz/modes');

const SEED = 20261206;
const CASES = 300;
const mode = MODES.mongoose;

describe('fuzz mode mongoose', () => {
  let world;
  beforeAll(async () => {
    world = await mode.open(uri());
  }, 60000);
  afterAll(async () => {
    if (world) await mode.close(world);
  });

  test(`seed ${SEED}: ${CASES} Mongoose calls agree with the reference or are refused`, async () => {
    const r = await runCampaign([world], { mode, seed: SEED, cases: CASES, maxFailures: 1, shrinkBudget: 150 });
    console.log(`fuzz [mongoose]: seed ${SEED}, ${r.cases} cases in ${(r.ms / 1000).toFixed(1)} s, outcomes ${JSON.stringify(r.outcomes)}` + (r.failures.length ? `\n${r.failures.map((f) => f.text).join('\n')}` : ''));
    expect(r.failures.map((f) => f.text)).toEqual([]);
    expect(r.cases).toBe(CASES);
    // About a third of the generator's writes name another tenant or touch the tenant field.
    expect(r.outcomes.agree).toBeGreaterThan(CASES * 0.5);
    // Not vacuous: every kind of call ran and was answered somewhere in the run.
    for (const m of ['find', 'findOne', 'countDocuments', 'distinct', 'aggregate', 'updateOne', 'updateMany', 'deleteOne', 'deleteMany', 'findOneAndDelete', 'insertOne', 'insertMany', 'bulkWrite', 'save']) {
      expect([m, (r.byMethod[m] || {}).agree > 0]).toEqual([m, true]);
    }
    expect((r.byShape.leak || {}).agree).toBeGreaterThan(0);
  }, 120000);

  test('every form is generated: both Mongoose versions, lean / hydrated / cursor / eachAsync, populate, save', () => {
    const seen = new Set();
    for (let i = 0; i < CASES; i++) {
      const c = mode.generate(SEED, i);
      seen.add(c.mg.pkg);
      seen.add(`${c.method}/${c.mg.form}`);
      if (c.mg.populate) seen.add('populate');
      if (c.method === 'save' && c.args[2].some(([path]) => path === 'tenantId')) seen.add('save sets tenantId');
    }
    for (const want of ['mongoose', 'mongoose8', 'find/lean', 'find/docs', 'find/cursor', 'find/eachAsync', 'aggregate/cursor', 'aggregate/eachAsync', 'findOne/doc', 'insertOne/save', 'insertMany/lean', 'populate', 'save sets tenantId']) {
      expect([want, seen.has(want)]).toEqual([want, true]);
    }
  });

  test('the oracle fails a stand-in for a driver that forgot the fence (a plain Mongoose on the scoped database)', async () => {
    world.broken = true;
    try {
      const cases = [
        { method: 'find', args: [{ x: 1 }, {}], mg: { pkg: 'mongoose', form: 'lean' } },
        { method: 'countDocuments', args: [{}, {}], mg: { pkg: 'mongoose8' } },
        { method: 'updateMany', args: [{ y: 'banana' }, { $set: { z: 1 } }, {}], mg: { pkg: 'mongoose' } },
      ];
      for (const c of cases) expect([c.method, (await mode.runCase(world, { seed: 0, index: 0, ...c })).pass]).toEqual([c.method, false]);
    } finally {
      world.broken = false;
    }
  }, 60000);
});
