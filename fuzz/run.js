#!/usr/bin/env node
'use strict';
// `npm run fuzz -- [--mode M[,M...] | --all] [--seed N] [--cases N] [--case I] [--from I]
//                  [--keep-going | --max-failures N] [--workers N] [--principals N] [--verbose]`
// The differential isolation fuzzer's long form. Uses MONGODB_URI, or starts a throwaway mongod.
// Prints the seed and the case count per mode; a failure prints a reproduction (shrunk where the
// mode can be) and exits 1.

const { serverFromEnv } = require('../scripts/mongod');
const { runCampaign } = require('./campaign');
const { MODES, ALL, WEIGHTS, split } = require('./modes');
const concurrent = require('./concurrent');

const DEFAULT_CASES = 100000;

const HELP = `npm run fuzz -- [options]

  --mode M[,M...]   modes to run (default: field):
                      field       strategy 'field', tenant A beside its neighbours (issue 3)
                      collation   as field, collections with a default collation { locale: 'en',
                                  strength: 2 } made outside the fence; tenants 'A' and 'a' exist
                      collation-stale  as collation, but the fence first saw the collections
                                  with the simple collation, then they were re-created
                      database    strategy 'database': A's database beside its neighbours', the
                                  app's own <base>_billing and a second fence on <base>_eu
                      system      runAsSystem: audited (onSystemAccess checked per call), writes
                                  must name a valid tenant (a custom tenantIdPattern); 1 in 10
                                  cases has a throwing hook
                      index       createIndex as A (tenant field first), then every tenant's writes
                      concurrent  ${concurrent.PRINCIPALS.length} principals (tenants of two fences on the same collection names)
                                  in flight at once, plain insertOne / findOne({_id}) bursts
                                  included; even rounds strategy 'field', odd ones 'database'
                      mongoose    as field, each case the Mongoose call an app makes for it
                                  (Mongoose 9 or 8 on tenantfence/mongoose as A: lean, hydrated,
                                  cursors, populate, doc.save() …) against a plain Mongoose on
                                  the reference database
  --all             every mode, in the order ${ALL.join(', ')}
  --cases N         total cases (default ${DEFAULT_CASES}); with several modes split by weight
                    (${ALL.map((m) => `${m} ${WEIGHTS[m]}`).join(', ')}); a concurrent case is a
                    round of every principal's ~24 steps
  --seed N          the run's seed (default: random, printed)
  --case I          replay case I only (needs one --mode)
  --from I          first case index (default 0)
  --max-failures N  stop a mode after N failures (default 1); --keep-going: never stop
  --workers N       worlds per mode taking turns (default 2)
  --principals N    principals in concurrent mode (default ${concurrent.PRINCIPALS.length}, at least 5)
  --verbose         list how both sides failed when both did`;

function parseArgs(argv) {
  const o = { seed: Date.now() % 2 ** 31, cases: DEFAULT_CASES, from: 0, maxFailures: 1, workers: 2, modes: ['field'], single: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new TypeError(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === '--seed') o.seed = num();
    else if (a === '--cases') o.cases = num();
    else if (a === '--case') {
      o.from = num();
      o.cases = 1;
      o.single = true;
    } else if (a === '--from') o.from = num();
    else if (a === '--max-failures') o.maxFailures = num();
    else if (a === '--keep-going') o.maxFailures = Infinity;
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--workers') o.workers = Math.max(1, num());
    else if (a === '--principals') o.principals = Math.max(5, num());
    else if (a === '--all') o.modes = [...ALL];
    else if (a === '--mode') {
      o.modes = String(argv[++i] || '').split(',').filter(Boolean);
      for (const m of o.modes) if (!MODES[m]) throw new TypeError(`unknown mode ${m} (one of ${ALL.join(', ')})`);
    } else if (a === '--help' || a === '-h') {
      console.log(HELP);
      process.exit(0);
    } else throw new TypeError(`unknown argument ${a} (try --help)`);
  }
  if (o.single && o.modes.length !== 1) throw new TypeError('--case replays one case of one mode: give one --mode');
  return o;
}

/** The mode, with the concurrent mode's principal count applied. */
function modeFor(name, opts) {
  const mode = MODES[name];
  if (name !== 'concurrent' || !opts.principals) return mode;
  return {
    ...mode,
    open: (uri) => concurrent.open(uri, { principals: opts.principals }),
    generate: (seed, index) => concurrent.generate(seed, index, { principals: opts.principals }),
  };
}

async function runMode(uri, name, cases, opts) {
  const mode = modeFor(name, opts);
  const worlds = [];
  try {
    for (let i = 0; i < (cases > 1 ? opts.workers : 1); i++) worlds.push(await mode.open(uri));
    console.log(`tenantfence differential fuzz [${name}]: seed ${opts.seed}, cases ${cases} from ${opts.from}, ${worlds.length} worker(s)`);
    const r = await runCampaign(worlds, {
      mode,
      seed: opts.seed,
      cases,
      from: opts.from,
      maxFailures: opts.maxFailures,
      log: (l) => console.log(l),
      progressEvery: cases >= 5000 ? 5000 : name === 'concurrent' && cases >= 500 ? 250 : 0,
    });
    const secs = r.ms / 1000;
    console.log(`[${name}] seed ${r.seed}: ${r.cases} cases in ${secs.toFixed(1)} s (${(r.cases / secs).toFixed(1)} cases/s), ${r.failures.length} failure(s)`);
    console.log(`[${name}] outcomes: ${JSON.stringify(r.outcomes)}`);
    if (name !== 'concurrent') {
      for (const [m, o] of Object.entries(r.byMethod).sort()) {
        console.log(`  ${m.padEnd(18)} ${JSON.stringify(o)} ${(r.perMethodMs[m] / Object.values(o).reduce((a, b) => a + b, 0)).toFixed(1)} ms/case`);
      }
    }
    const shapes = Object.entries(r.byShape).sort();
    if (shapes.length) console.log(`[${name}] issue-12 shapes: ${shapes.map(([f, o]) => `${f} ${JSON.stringify(o)}`).join('; ')}`);
    if (opts.verbose) {
      console.log('both sides failed:');
      for (const [k, n] of Object.entries(r.errorPairs).sort()) console.log(`  ${String(n).padStart(5)}  ${k}`);
    }
    return r;
  } finally {
    for (const w of worlds) await mode.close(w);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const mongod = await serverFromEnv();
  const { uri } = mongod;
  if (mongod.started) {
    // A long run is often interrupted: do not leave the throwaway mongod behind.
    for (const sig of ['SIGINT', 'SIGTERM']) {
      process.once(sig, () => {
        console.log(`${sig}: stopping mongod`);
        mongod.stop().finally(() => process.exit(130));
      });
    }
  }
  let code = 1;
  try {
    const counts = opts.single ? { [opts.modes[0]]: 1 } : split(opts.cases, opts.modes);
    const summary = [];
    for (const name of opts.modes) {
      if (!counts[name]) continue;
      const r = await runMode(uri, name, counts[name], opts);
      summary.push(`${name} ${r.cases} cases, ${r.failures.length} failure(s)`);
    }
    console.log(`seed ${opts.seed}: ${summary.join('; ')}`);
    code = summary.some((s) => !s.endsWith(' 0 failure(s)')) ? 1 : 0;
  } finally {
    await mongod.stop();
  }
  process.exit(code);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
