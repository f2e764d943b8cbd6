'use strict';
// A small seeded PRNG (mulberry32) so that a seed and a case number name one case forever.

/** A random source over a 32-bit seed, with the picking helpers the generator needs. */
class Rng {
  constructor(seed) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next() {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p) {
    return this.next() < p;
  }

  /** One element of `list`; functions are called (lazy alternatives). */
  pick(list) {
    const v = list[Math.floor(this.next() * list.length)];
    return typeof v === 'function' ? v() : v;
  }

  /** One of `[weight, alternative]` pairs, by weight. */
  weighted(pairs) {
    const total = pairs.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of pairs) {
      r -= w;
      if (r < 0) return typeof v === 'function' ? v() : v;
    }
    const v = pairs[pairs.length - 1][1];
    return typeof v === 'function' ? v() : v;
  }
}

/** murmur3's 32-bit finaliser: a bijective mix of all input bits. */
function fmix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of case `index` of a run with seed `seed` (so one case can be replayed alone). */
function caseSeed(seed, index) {
  // Mix the seed before combining, so (seed, index) pairs do not collide across nearby seeds.
  return fmix32((fmix32(seed >>> 0) + Math.imul(index + 1, 0x9e3779b9)) >>> 0);
}

module.exports = { Rng, caseSeed };
