'use strict';
// ARCHITECTURE.md's table of tenant decisions against the code: every function it names exists in
// src/scope, every test it names exists there, and src/binding decides nothing the table does not
// send back to scope (no strategy, principal or collation-guard test of its own).

const fs = require('node:fs');
const path = require('node:path');
const { ROOT, readDoc, section } = require('../helpers/markdown');

const DOC = readDoc('ARCHITECTURE.md');

/** The rows of the decisions table: [decision, functions cell, tests cell]. */
function rows() {
  const table = section(DOC, '## Tenant decisions').split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| decision') && !l.startsWith('|---'));
  return table.map((l) => l.slice(2, -2).split(' | '));
}

/** The source of `src/scope/<module>.rs` (or `<module>/mod.rs`). */
function scopeSource(module) {
  const file = path.join(ROOT, 'src', 'scope', `${module}.rs`);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : fs.readFileSync(path.join(ROOT, 'src', 'scope', module, 'mod.rs'), 'utf8');
}

/** `a::b::c` paths quoted in a cell. */
const paths = (cell) => [...cell.matchAll(/`([a-z_]+(?:::[A-Za-z_*]+)+)`/g)].map((m) => m[1]);

describe('ARCHITECTURE.md: the decisions table', () => {
  const all = rows();

  test('has a row per decision, each with a function and a test', () => {
    expect(all.length).toBeGreaterThanOrEqual(20);
    for (const [decision, fns, tests] of all) {
      expect({ decision, fns: paths(fns).length > 0, tests: paths(tests).length > 0 }).toEqual({ decision, fns: true, tests: true });
    }
  });

  test.each(rows().map((r) => [r[0], r]))('%s: its functions and tests exist in src/scope', (decision, [, fns, tests]) => {
    for (const p of paths(fns)) {
      const [module, ...rest] = p.split('::');
      const name = rest[rest.length - 1];
      const src = scopeSource(module);
      expect({ p, found: new RegExp(`(fn|struct|enum|mod) ${name}\\b`).test(src) || new RegExp(`pub use .*\\b${name}\\b`).test(src) }).toEqual({ p, found: true });
    }
    for (const p of paths(tests)) {
      const [module, ...rest] = p.split('::');
      const src = scopeSource(module);
      const name = rest[rest.length - 1];
      const found = name === '*' ? src.includes('#[test]') : new RegExp(`fn ${name}\\b`).test(src);
      expect({ p, found }).toEqual({ p, found: true });
    }
  });

  test('every scope module that decides something has a row', () => {
    const named = new Set(all.flatMap(([, fns]) => paths(fns).map((p) => p.split('::')[0])));
    // Helpers of the rules, not decisions of their own.
    const helpers = new Set(['mod', 'error', 'walk']);
    const modules = fs.readdirSync(path.join(ROOT, 'src', 'scope')).filter((f) => f.endsWith('.rs')).map((f) => f.slice(0, -3));
    for (const m of modules.filter((m) => !helpers.has(m))) expect({ m, row: named.has(m) }).toEqual({ m, row: true });
  });
});

describe('src/binding makes no tenant decision', () => {
  const dir = path.join(ROOT, 'src', 'binding');
  const files = [];
  (function list(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) list(path.join(d, e.name));
      else if (e.name.endsWith('.rs') && e.name !== 'bench.rs') files.push(path.join(d, e.name));
    }
  })(dir);

  // What a rule tests: the strategy, the caller being a tenant, the collation guard, the id rule,
  // a collation being simple. The binding carries these values to scope but never branches on them.
  const DECIDING = [/\bStrategy::(Field|Database)\b/, /\.strategy\s*[=!]=/, /collation_guard\s*[=!]=|if .*collation_guard/, /is_simple\(/, /default_rule\s*[&|]/, /matches!\([^)]*Principal::Tenant/];

  test.each(files.map((f) => [path.relative(ROOT, f), f]))('%s', (rel, file) => {
    const src = fs.readFileSync(file, 'utf8').replace(/#\[cfg\(test\)\][\s\S]*$/, '');
    for (const re of DECIDING) {
      const hit = src.split('\n').find((l) => re.test(l) && !l.trim().startsWith('//'));
      expect({ rel, rule: String(re), hit }).toEqual({ rel, rule: String(re), hit: undefined });
    }
  });
});
