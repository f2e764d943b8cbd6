'use strict';
// Minimises a failing case: greedily deletes object keys and array elements and replaces
// subtrees with trivial values, keeping each change under which the case still fails the same
// way, until nothing more can be removed (or the attempt budget runs out).

const { runCase } = require('./oracle');
const { clone } = require('./clone');

// Arguments a bulk operation must have: dropping one tests argument checking, not isolation
// (a bulk op without a filter is a separate finding, see the report of issue 3).
const REQUIRED = new Set(['filter', 'update', 'replacement', 'document']);

/** Every path (list of keys) to a node of `value`, children before parents' simplification. */
function paths(value, prefix = [], out = []) {
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    for (const k of Object.keys(value)) {
      out.push([...prefix, k]);
      paths(value[k], [...prefix, k], out);
    }
  }
  return out;
}

function getAt(root, path) {
  return path.reduce((v, k) => v[k], root);
}

/** Candidate smaller versions of `args` at `path`. */
function candidates(args, path) {
  const parent = getAt(args, path.slice(0, -1));
  const key = path[path.length - 1];
  const node = parent[key];
  const out = [];
  const edit = (fn) => {
    const copy = clone(args);
    fn(getAt(copy, path.slice(0, -1)), key);
    out.push(copy);
  };
  if (path.length > 1) {
    if (Array.isArray(parent)) edit((p, k) => p.splice(Number(k), 1));
    else if (!REQUIRED.has(key)) edit((p, k) => delete p[k]);
    else if (node && typeof node === 'object' && !(node instanceof Date) && Object.keys(node).length) edit((p, k) => (p[k] = Array.isArray(node) ? [] : {}));
  }
  if (node && typeof node === 'object' && !(node instanceof Date)) {
    if (Array.isArray(node) && node.length > 1) edit((p, k) => (p[k] = [p[k][0]]));
    if (!Array.isArray(node) && Object.keys(node).length > 1) {
      for (const only of Object.keys(node)) edit((p, k) => (p[k] = { [only]: p[k][only] }));
    }
  }
  return out;
}

/**
 * `c` with new `args`, its flags made conservative again: a smaller case may have lost the total
 * sort that made its order (or its single-document write) deterministic.
 */
function withFlags(c, args) {
  const t = { ...c, args };
  const opts = (c.method === 'findOneAndDelete' ? args[1] : c.method.startsWith('findOneAnd') ? args[2] : args[1]) || {};
  const total = Boolean(opts.sort && '_id' in opts.sort);
  if (c.method === 'find' || c.method === 'findOne') t.ordered = c.ordered && total;
  if (c.method.startsWith('findOneAnd')) t.single = !total;
  if (c.method === 'aggregate') t.ordered = c.ordered && JSON.stringify(args) === JSON.stringify(c.args);
  return t;
}

/**
 * Shrinks `c` (which failed with verdict `first`) against `world`. Returns { case, verdict, tries }.
 */
async function shrink(world, c, first, { budget = 400, runCase: run = runCase } = {}) {
  let best = c;
  let verdict = first;
  let tries = 0;
  let improved = true;
  while (improved && tries < budget) {
    improved = false;
    for (const path of paths(best.args)) {
      let done = false;
      for (const args of candidates(best.args, path)) {
        if (tries >= budget) break;
        tries++;
        const trial = withFlags(best, args);
        let v;
        try {
          v = await run(world, trial);
        } catch {
          continue;
        }
        if (!v.pass && v.sig === first.sig) {
          best = trial;
          verdict = v;
          improved = true;
          done = true;
          break;
        }
      }
      if (done) break; // paths changed: recompute them
    }
  }
  return { case: best, verdict, tries };
}

module.exports = { shrink };
