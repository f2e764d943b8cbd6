'use strict';
// A run of many cases against one world: counts outcomes per method, shrinks failures.

const { BSON } = require('mongodb');
const { generate } = require('./generator');
const { runCase } = require('./oracle');
const { shrink } = require('./shrink');

/** How to replay and what a minimal failing case looks like, as text. */
function reproduction(seed, index, c, verdict) {
  const { seed: _s, index: _i, ...body } = c;
  return [
    `FAILURE (${verdict.outcome}) in case ${index} of seed ${seed}`,
    `  replay: npm run fuzz -- --seed ${seed} --case ${index}`,
    `  minimal case (EJSON): ${BSON.EJSON.stringify(body, { relaxed: true })}`,
    `  as code: await fence.runAs('A', () => fence.collection('items').${c.method}(${c.args.map((a) => BSON.EJSON.stringify(a, { relaxed: true })).join(', ')})${c.method === 'find' || c.method === 'aggregate' ? '.toArray()' : ''})`,
    ...verdict.problems.map((p) => `  - ${p}`),
  ].join('\n');
}

/**
 * Runs cases `from`..`from+cases-1` of `seed`. Options: `maxFailures` (stop after that many,
 * default 1), `shrinkBudget`, `log` (progress lines), `onlyIndex` (replay one case).
 * Returns { seed, cases, outcomes, byMethod, failures, ms }.
 */
async function runCampaign(world, { seed, cases, from = 0, maxFailures = 1, shrinkBudget = 400, log = () => {}, progressEvery = 0 }) {
  const outcomes = {};
  const byMethod = {};
  const failures = [];
  const t0 = Date.now();
  let done = 0;
  for (let index = from; index < from + cases; index++) {
    const c = generate(seed, index);
    let verdict;
    try {
      verdict = await runCase(world, c);
    } catch (err) {
      verdict = { pass: false, outcome: 'harness error', problems: [String((err && err.stack) || err)] };
    }
    done++;
    outcomes[verdict.outcome] = (outcomes[verdict.outcome] || 0) + 1;
    const m = (byMethod[c.method] = byMethod[c.method] || {});
    m[verdict.outcome] = (m[verdict.outcome] || 0) + 1;
    if (!verdict.pass) {
      log(`case ${index}: ${verdict.outcome}; shrinking...`);
      const small = verdict.outcome === 'harness error' ? { case: c, verdict } : await shrink(world, c, verdict, { budget: shrinkBudget });
      const text = reproduction(seed, index, small.case, small.verdict);
      failures.push({ index, case: small.case, original: c, verdict: small.verdict, text });
      log(text);
      if (failures.length >= maxFailures) break;
    }
    if (progressEvery && done % progressEvery === 0) {
      const s = (Date.now() - t0) / 1000;
      log(`  ${done} cases, ${(done / s).toFixed(0)} cases/s, outcomes ${JSON.stringify(outcomes)}`);
    }
  }
  return { seed, cases: done, outcomes, byMethod, failures, ms: Date.now() - t0 };
}

module.exports = { runCampaign, reproduction };
