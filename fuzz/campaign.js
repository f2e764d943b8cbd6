'use strict';
// A run of many cases against one world: counts outcomes per method, shrinks failures.

const { generate } = require('./generator');
const { runCase } = require('./oracle');
const { shrink } = require('./shrink');
const { showArgs } = require('./clone');

/** The original mode (strategy 'field', tenant A), used when a campaign names none. */
const FIELD_MODE = {
  name: 'field',
  generate,
  runCase,
  shrinkable: true,
  code: (c) =>
    `await fence.runAs('A', () => fence.collection('${c.coll ?? 'items'}').${c.method}(${c.args.map(showArgs).join(', ')})${c.method === 'find' || c.method === 'aggregate' ? '.toArray()' : ''})`,
};

/**
 * Which issue-12 shape a case is, if any: 'leak' (an _id predicate or hint beside an expression
 * that errors on neighbours' documents), 'js', 'counter', 'twice' (a key named twice),
 * 'invalid-id' (a system write breaking the custom id pattern), 'bulk-collation-null',
 * 'index-system' (createIndex under runAsSystem).
 */
function shapeFamily(c) {
  if (c.method === 'bulkWrite' && c.args[0].some((op) => 'collation' in (Object.values(op)[0] || {}))) return 'bulk-collation-null';
  if (c.mustAgree) return 'leak';
  if (c.tenantRefuse) return c.tenantRefuse;
  if (c.mustFail) return c.mustFail.code === 'TENANT_INVALID' ? 'invalid-id' : 'twice';
  if (c.method === 'createIndex') return c.system ? 'index-system' : null;
  return null;
}

/** How to replay and what a minimal failing case looks like, as text. */
function strip(c) {
  const { seed: _s, index: _i, ...body } = c;
  return body;
}

function reproduction(seed, index, c, verdict, original, mode = FIELD_MODE) {
  const body = strip(c);
  const text = showArgs(body);
  return [
    `FAILURE (${verdict.outcome}) in ${mode.name} case ${index} of seed ${seed}`,
    `  replay: npm run fuzz -- --mode ${mode.name} --seed ${seed} --case ${index}`,
    `  ${mode.shrinkable ? 'minimal case' : 'case'} (EJSON): ${text.length > 2000 ? `${text.slice(0, 2000)}... (${text.length} chars; replay prints it whole with --verbose)` : text}`,
    `  as code: ${mode.code(c)}`,
    ...verdict.problems.map((p) => `  - ${p}`),
    ...(original && original !== c ? [`  original case (before shrinking): ${showArgs(strip(original))}`] : []),
  ].join('\n');
}

/**
 * Runs cases `from`..`from+cases-1` of `seed` on `worlds` (one world, or several that take turns
 * picking the next case: the cases and their outcomes do not depend on how many). Options:
 * `maxFailures` (stop after that many, default 1), `shrinkBudget`, `log`, `progressEvery`.
 * Returns { seed, cases, outcomes, byMethod, errorPairs (both sides failed: how), perMethodMs,
 * failures, ms }.
 */
async function runCampaign(worlds, { seed, cases, from = 0, maxFailures = 1, shrinkBudget = 400, log = () => {}, progressEvery = 0, mode = FIELD_MODE }) {
  const list = Array.isArray(worlds) ? worlds : [worlds];
  const outcomes = {};
  const byMethod = {};
  const failures = [];
  const errorPairs = {};
  const byShape = {};
  const perMethodMs = {};
  const t0 = Date.now();
  let done = 0;
  let next = from;
  const end = from + cases;

  async function worker(world) {
    while (next < end && failures.length < maxFailures) {
      const index = next++;
      const c = mode.generate(seed, index);
      let verdict;
      const tc = Date.now();
      try {
        verdict = await mode.runCase(world, c);
      } catch (err) {
        verdict = { pass: false, outcome: 'harness error', problems: [String((err && err.stack) || err)] };
      }
      done++;
      perMethodMs[c.method] = (perMethodMs[c.method] || 0) + (Date.now() - tc);
      if (verdict.scopedError) {
        const k = `${c.method} scoped ${verdict.scopedError.kind}:${verdict.scopedError.code} / reference ${verdict.refError.kind}:${verdict.refError.code}`;
        errorPairs[k] = (errorPairs[k] || 0) + 1;
      }
      outcomes[verdict.outcome] = (outcomes[verdict.outcome] || 0) + 1;
      const m = (byMethod[c.method] = byMethod[c.method] || {});
      m[verdict.outcome] = (m[verdict.outcome] || 0) + 1;
      const family = shapeFamily(c);
      if (family) {
        const f = (byShape[family] = byShape[family] || {});
        f[verdict.outcome] = (f[verdict.outcome] || 0) + 1;
      }
      if (!verdict.pass) {
        log(`case ${index}: ${verdict.outcome}; shrinking...`);
        const small =
          verdict.outcome === 'harness error' || !mode.shrinkable ? { case: c, verdict } : await shrink(world, c, verdict, { budget: shrinkBudget, runCase: mode.runCase });
        const text = reproduction(seed, index, small.case, small.verdict, c, mode);
        failures.push({ index, case: small.case, original: c, verdict: small.verdict, text });
        log(text);
      }
      if (progressEvery && done % progressEvery === 0) {
        const s = (Date.now() - t0) / 1000;
        log(`  ${done} cases, ${(done / s).toFixed(0)} cases/s, outcomes ${JSON.stringify(outcomes)}`);
      }
    }
  }

  await Promise.all(list.map(worker));
  failures.sort((a, b) => a.index - b.index);
  return { mode: mode.name, seed, cases: done, outcomes, byMethod, byShape, errorPairs, perMethodMs, failures, ms: Date.now() - t0 };
}

module.exports = { runCampaign, reproduction, shapeFamily };
