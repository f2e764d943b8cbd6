'use strict';
// The differential fuzzer's change stream mode (fuzz/watch-mode.js), short form with a fixed
// seed: tenant A's scoped stream equals the npm driver's stream on a database holding only A's
// writes, while neighbours write beside A; and the oracle fails an unscoped stand-in.

const { MODES } = require('../../fuzz/modes');
const { runCampaign } = require('../../fuzz/campaign');
const watchMode = require('../../fuzz/watch-mode');
const { uri } = require('../helpers/fixtures');

const SEED = 1616;
let world;
beforeAll(async () => {
  world = await MODES.watch.open(uri());
});
afterAll(async () => {
  if (world) await MODES.watch.close(world);
});

test('fuzz mode watch: scoped streams match the oracle, caller errors included', async () => {
  const r = await runCampaign([world], { mode: MODES.watch, seed: SEED, cases: 24, maxFailures: 1 });
  expect(r.failures).toEqual([]);
  const outcomes = Object.keys(r.outcomes);
  // Not vacuous: streams with events, and cases where the caller's expression fails on A's own events.
  expect(outcomes.some((o) => /^events:[1-9]/.test(o))).toBe(true);
  expect(outcomes).toContain('both-failed');
});

test('the oracle fails a stand-in that watches the collection unscoped', async () => {
  const unscoped = (w, c) => w.raw.db(w.scoped).collection(watchMode.COLL).watch(c.pipeline, { ...c.options, ...watchMode.FAST });
  let failed = 0;
  for (let i = 0; i < 6; i++) {
    const c = MODES.watch.generate(SEED, i);
    if (!c.writes.some((w) => w.who !== 'A')) continue;
    const v = await watchMode.runCase(world, c, unscoped);
    if (!v.pass) failed += 1;
  }
  expect(failed).toBeGreaterThan(0);
});
