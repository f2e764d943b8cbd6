#!/usr/bin/env node
'use strict';
// `npm run fuzz -- [--seed N] [--cases N] [--case I] [--keep-going] [--max-failures N]`
// The differential isolation fuzzer's long form. Uses MONGODB_URI, or starts a throwaway mongod.
// Prints the seed and the case count; a failure prints a minimal reproduction and exits 1.

const { serverFromEnv } = require('../scripts/mongod');
const { openWorld, closeWorld } = require('./world');
const { runCampaign } = require('./campaign');

const DEFAULT_CASES = 100000;

function parseArgs(argv) {
  const o = { seed: Date.now() % 2 ** 31, cases: DEFAULT_CASES, from: 0, maxFailures: 1, workers: 2 };
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
    } else if (a === '--from') o.from = num();
    else if (a === '--max-failures') o.maxFailures = num();
    else if (a === '--keep-going') o.maxFailures = Infinity;
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--workers') o.workers = Math.max(1, num());
    else if (a === '--help' || a === '-h') {
      console.log('npm run fuzz -- [--seed N] [--cases N (default 100000)] [--case I] [--from I] [--max-failures N | --keep-going] [--verbose] [--workers N (default 2)]');
      process.exit(0);
    } else throw new TypeError(`unknown argument ${a} (try --help)`);
  }
  return o;
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
  const worlds = [];
  let code = 1;
  try {
    for (let i = 0; i < (opts.cases > 1 ? opts.workers : 1); i++) worlds.push(await openWorld(uri));
    console.log(`tenantfence differential fuzz: seed ${opts.seed}, cases ${opts.cases} from ${opts.from}, ${worlds.length} worker(s)`);
    const r = await runCampaign(worlds, {
      seed: opts.seed,
      cases: opts.cases,
      from: opts.from,
      maxFailures: opts.maxFailures,
      log: (l) => console.log(l),
      progressEvery: opts.cases >= 5000 ? 5000 : 0,
    });
    const secs = r.ms / 1000;
    console.log(`seed ${r.seed}: ${r.cases} cases in ${secs.toFixed(1)} s (${(r.cases / secs).toFixed(0)} cases/s), ${r.failures.length} failure(s)`);
    console.log(`outcomes: ${JSON.stringify(r.outcomes)}`);
    for (const [m, o] of Object.entries(r.byMethod).sort()) {
      console.log(`  ${m.padEnd(18)} ${JSON.stringify(o)} ${(r.perMethodMs[m] / Object.values(o).reduce((a, b) => a + b, 0)).toFixed(1)} ms/case`);
    }
    if (opts.verbose) {
      console.log('both sides failed:');
      for (const [k, n] of Object.entries(r.errorPairs).sort()) console.log(`  ${String(n).padStart(5)}  ${k}`);
    }
    code = r.failures.length ? 1 : 0;
  } finally {
    for (const w of worlds) await closeWorld(w);
    await mongod.stop();
  }
  process.exit(code);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
