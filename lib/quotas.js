'use strict';
// The `quotas` connect option: fixed limits for every tenant (kept in Rust), or a function of
// the tenant id whose answers are cached here and handed to Rust with each call.

const { invalidArg } = require('./errors');
const { ignoreRejection } = require('./audit');

const KEYS = ['maxConcurrent', 'opsPerSecond', 'maxTimeMS', 'maxQueue'];
// How long a function's answer for one tenant is used before it is asked again, and how many
// tenants' answers are kept: a plan change reaches calls within a minute, memory stays bounded.
const TTL_MS = 60_000;
const CACHE = 10_000;

/** Checks a limits object and turns it into the native limits (Rust checks the numbers). */
function limitsOf(native, value, where) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArg(`${where} must be an object`);
  for (const k of Object.keys(value)) {
    if (!KEYS.includes(k)) throw invalidArg(`${where}.${k} is not a quota (known: ${KEYS.join(', ')})`);
  }
  const num = (k) => {
    const v = value[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number') throw invalidArg(`${where}.${k} must be a number`);
    return v;
  };
  try {
    return new native.QuotaLimits(num('maxConcurrent'), num('opsPerSecond'), num('maxTimeMS'), num('maxQueue'));
  } catch (e) {
    // Rust's message names the quota as `quotas.<name>`.
    throw invalidArg(String(e.message).split('\x1f').pop().replace(/^quotas(?=\.)/, where));
  }
}

/** Checks the option at connect: undefined, an object of limits, or a function of the tenant id. */
function checkQuotas(value) {
  if (value === undefined) return;
  if (typeof value === 'function') return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArg('options.quotas must be an object ({ maxConcurrent, opsPerSecond, maxTimeMS, maxQueue }) or a function (tenantId) => limits');
  }
  for (const k of Object.keys(value)) {
    if (!KEYS.includes(k)) throw invalidArg(`options.quotas.${k} is not a quota (known: ${KEYS.join(', ')})`);
  }
}

/** Per-tenant limits from a function, asked once a minute per tenant. */
class TenantQuotas {
  #fn;
  #native;
  #cache = new Map();

  constructor(native, fn) {
    this.#native = native;
    this.#fn = fn;
  }

  /** The native limits of `tenantId` (null: none for it). A function that throws fails the call. */
  for(tenantId) {
    const now = Date.now();
    const hit = this.#cache.get(tenantId);
    if (hit && now - hit.at < TTL_MS) return hit.limits;
    const answer = this.#fn(tenantId);
    if (answer && typeof answer.then === 'function') {
      ignoreRejection(answer);
      throw invalidArg('options.quotas(tenantId) must return the limits, not a promise');
    }
    const limits = answer === undefined || answer === null ? null : limitsOf(this.#native, answer, `quotas(${JSON.stringify(tenantId)})`);
    this.#cache.delete(tenantId);
    if (this.#cache.size >= CACHE) this.#cache.delete(this.#cache.keys().next().value);
    this.#cache.set(tenantId, { at: now, limits });
    return limits;
  }
}

module.exports = { checkQuotas, limitsOf, TenantQuotas };
