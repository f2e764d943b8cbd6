'use strict';
// The per-async-chain tenant context. The store is one per process (kept under a
// Symbol.for key so a second copy of this module shares it) and only ever holds
// context objects made by the native addon.

const { AsyncLocalStorage } = require('node:async_hooks');
const native = require('../binding.js');

// The native classes' methods cannot be replaced once tenantfence is loaded: code that patched
// NativeFence.prototype.run could capture a fence and swap its audit hook or mint contexts.
for (const cls of [native.NativeFence, native.TenantContext, native.NativeCursor, native.NativeSession]) {
  if (cls && cls.prototype && !Object.isFrozen(cls.prototype)) Object.freeze(cls.prototype);
}
const { TenantError, fromNative } = require('./errors');

const KEY = Symbol.for('tenantfence.context.v1');
const store = globalThis[KEY] || (globalThis[KEY] = new AsyncLocalStorage());

// What JS remembers about each native context, so hot paths skip napi getters: a frozen
// object on a non-writable, non-configurable property of the context itself, so no code can
// relabel a context once made (a process-wide map could be overwritten). Rust stays the
// judge: it decides system access and calls the audit hook; this label only saves getters.
const ABOUT = Symbol.for('tenantfence.context-about.v2');

/** Labels a native context, once and for good. */
function label(ctx, about) {
  Object.defineProperty(ctx, ABOUT, { value: Object.freeze(about), writable: false, configurable: false, enumerable: false });
}

// Contexts are immutable, so one per tenant id is reused: making a native object per runAs
// (wrap, finalizer, WeakMap entry) was ~3% of a small operation's CPU. Bounded, oldest out.
// Keyed by the id and by which native rule made it (default or hard-only): a context holds
// nothing else, it is not tied to a fence (one runAs scopes every fence), and a custom
// pattern is tested on every call before the cache is read, so no fence's rule is skipped.
const RECENT_MAX = 1000;
const recent = { builtin: new Map(), custom: new Map() };

/** True when a string has no lone UTF-16 surrogate. */
function isWellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** Makes a tenant context, checking `pattern` (a custom rule) or the default rule. */
function tenantContext(tenantId, pattern) {
  if (typeof tenantId !== 'string') {
    throw new TenantError('TENANT_INVALID', `tenant id must be a string, got ${typeof tenantId}`);
  }
  // A lone surrogate becomes U+FFFD on its way to UTF-8, so 'x\uD800' and 'x\uDC00' would be
  // two ids to the app but one tenant in MongoDB.
  if (!isWellFormed(tenantId)) {
    throw new TenantError('TENANT_INVALID', 'tenant id must be well-formed Unicode (no lone surrogates)');
  }
  if (pattern && !pattern.test(tenantId)) {
    throw new TenantError('TENANT_INVALID', `tenant id ${JSON.stringify(tenantId)} does not match tenantIdPattern`);
  }
  // The native check depends only on which rule applies (`pattern` itself was tested above).
  const cache = pattern ? recent.custom : recent.builtin;
  let ctx = cache.get(tenantId);
  if (ctx !== undefined) return ctx;
  try {
    ctx = native.createContext(tenantId, !pattern);
  } catch (e) {
    throw fromNative(e);
  }
  // Rust says whether the id follows the default rule: the rule is written once, there.
  label(ctx, { tenantId, system: false, reason: undefined, defaultRule: ctx.followsDefaultRule });
  if (cache.size >= RECENT_MAX) cache.delete(cache.keys().next().value);
  cache.set(tenantId, ctx);
  return ctx;
}

/**
 * Makes a `runAsTenants` context over `ids` (each checked as `tenantContext` checks one; Rust
 * sorts them, drops repeats and limits their number); `reason` goes to the audit hook.
 */
function tenantsContext(ids, pattern, reason, outer) {
  if (!Array.isArray(ids)) throw new TenantError('TENANT_INVALID', 'runAsTenants needs an array of tenant ids');
  const list = Array.from(ids);
  for (const id of list) {
    if (typeof id !== 'string') throw new TenantError('TENANT_INVALID', `tenant id must be a string, got ${typeof id}`);
    if (!isWellFormed(id)) throw new TenantError('TENANT_INVALID', 'tenant id must be well-formed Unicode (no lone surrogates)');
    if (pattern && !pattern.test(id)) throw new TenantError('TENANT_INVALID', `tenant id ${JSON.stringify(id)} does not match tenantIdPattern`);
  }
  let ctx;
  try {
    // Inside another runAsTenants (however deep): within its tenants, ending when it ends.
    const about = outer ? describe(outer) : undefined;
    ctx = about && about.limited ? outer.narrowTenants(list, !pattern, reason) : native.createTenantsContext(list, !pattern, reason);
  } catch (e) {
    throw fromNative(e);
  }
  label(ctx, { tenantId: undefined, tenantIds: Object.freeze(ctx.tenantIds), system: false, reason, defaultRule: ctx.followsDefaultRule, limited: true });
  return ctx;
}

/**
 * The context of `runAs(tenantId)` inside a context made by runAsTenants (`outer`, limited):
 * checked there, confined to the union's tenants and ending with it. Not cached: it is tied to
 * that union.
 */
function narrowed(outer, tenantId, pattern) {
  let ctx;
  try {
    ctx = outer.narrow(tenantId, !pattern);
  } catch (e) {
    throw fromNative(e);
  }
  label(ctx, { tenantId, system: false, reason: undefined, defaultRule: ctx.followsDefaultRule, limited: true });
  return ctx;
}

/** Makes a system context for `runAsSystem` through `nativeFence` (only a fence makes one). */
function systemContext(nativeFence, reason) {
  let ctx;
  try {
    ctx = nativeFence.systemContext(reason);
  } catch (e) {
    throw fromNative(e);
  }
  label(ctx, { tenantId: undefined, system: true, reason, defaultRule: true });
  return ctx;
}

/** The context of the current async chain, or undefined. */
function current() {
  return store.getStore();
}

/** What JS knows about a context (tenantId, system, reason). */
function describe(ctx) {
  return ctx ? ctx[ABOUT] : undefined;
}

module.exports = { store, tenantContext, tenantsContext, narrowed, systemContext, current, describe, isWellFormed };
