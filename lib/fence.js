'use strict';
// TenantFence: connect, contexts (runAs / runAsSystem / currentTenant), middleware, collections.

const native = require('../binding.js');
const context = require('./context');
const { fromNative, TenantError, invalidArg } = require('./errors');
const { createMiddleware } = require('./middleware');
const { ScopedCollection } = require('./collection');
const { FenceDb } = require('./db');
const args = require('./args');
const { FenceSession } = require('./session');
const { encode } = require('./codec');
const { checkQuotas, limitsOf, TenantQuotas } = require('./quotas');
const metrics = require('./metrics');
const { auditSink, refusal, ignoreRejection } = require('./audit');

const CONNECT_OPTIONS = [
  'tenantField', 'strategy', 'database', 'onSystemAccess', 'tenantIdPattern',
  'serverSelectionTimeoutMS', 'connectTimeoutMS', 'maxPoolSize', 'appName', 'monitorCommands', 'quotas', 'metrics', 'audit',
  'shared',
  'resumeTokenKey',
];
// Set by tenantfence/testing's globalSetup so an app's own connect() call records its
// commands for the isolation probe in tests, without a code change.
const MONITOR_ENV = 'TENANTFENCE_MONITOR_COMMANDS';

function checkConnectOptions(o) {
  if (o === undefined) o = {};
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw invalidArg('options must be an object');
  for (const k of Object.keys(o)) {
    if (!CONNECT_OPTIONS.includes(k)) throw invalidArg(`options.${k} is not a tenantfence option (known: ${CONNECT_OPTIONS.join(', ')})`);
  }
  // The rules for these three live in Rust (`scope::spec`); JS only hands over strings that
  // survive the trip to UTF-8 unchanged ('' for anything else, which Rust refuses by name).
  const text = (v, dflt) => (v === undefined ? dflt : typeof v === 'string' && context.isWellFormed(v) ? v : '');
  const field = text(o.tenantField, 'tenantId');
  const strategy = text(o.strategy, 'field');
  const database = text(o.database, undefined);
  if (o.onSystemAccess !== undefined && typeof o.onSystemAccess !== 'function') {
    throw invalidArg('options.onSystemAccess must be a function');
  }
  let pattern;
  if (o.tenantIdPattern !== undefined) {
    if (!(o.tenantIdPattern instanceof RegExp) && Object.prototype.toString.call(o.tenantIdPattern) !== '[object RegExp]') {
      throw invalidArg('options.tenantIdPattern must be a RegExp');
    }
    // A /g or /y pattern keeps lastIndex between tests; a fresh copy without them does not.
    pattern = new RegExp(o.tenantIdPattern.source, o.tenantIdPattern.flags.replace(/[gy]/g, ''));
  }
  for (const k of ['serverSelectionTimeoutMS', 'connectTimeoutMS', 'maxPoolSize']) {
    if (o[k] !== undefined && (!Number.isInteger(o[k]) || o[k] < 0)) throw invalidArg(`options.${k} must be a non-negative integer`);
  }
  if (o.monitorCommands !== undefined && typeof o.monitorCommands !== 'boolean') {
    throw invalidArg('options.monitorCommands must be a boolean');
  }
  const monitor = o.monitorCommands ?? process.env[MONITOR_ENV] === '1';
  checkQuotas(o.quotas);
  // metrics: true (the default: 100 tenants with series of their own), false, or { limit }.
  let metricsLimit = 100;
  if (o.metrics === false) metricsLimit = 0;
  else if (o.metrics !== undefined && o.metrics !== true) {
    const m = o.metrics;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw invalidArg('options.metrics must be true, false or { limit }');
    for (const k of Object.keys(m)) if (k !== 'limit') throw invalidArg(`options.metrics.${k} is not known; the option is limit`);
    if (m.limit !== undefined && (!Number.isInteger(m.limit) || m.limit < 1 || m.limit > 100_000)) {
      throw invalidArg('options.metrics.limit must be an integer from 1 to 100000 (tenants with series of their own)');
    }
    metricsLimit = m.limit ?? 100;
  }
  // Fixed limits are checked (in Rust) before anything is dialled.
  const quotas = o.quotas && typeof o.quotas === 'object' ? limitsOf(native, o.quotas, 'options.quotas') : undefined;
  const audit = auditSink(o.audit);
  // Shared collections: an array of names, each checked in Rust (`scope::shared`).
  // Array.from: a sparse array's holes are checked too (`every` skips them).
  const shared = o.shared === undefined ? [] : Array.isArray(o.shared) ? Array.from(o.shared) : null;
  if (shared === null || !shared.every((n) => typeof n === 'string')) {
    throw invalidArg('options.shared must be an array of collection names');
  }
  for (let i = 0; i < shared.length; i++) if (!context.isWellFormed(shared[i])) shared[i] = '';
  return { field, strategy, pattern, database, hook: o.onSystemAccess, monitor, quotas, metricsLimit, audit, shared, raw: o };
}

function withUriOptions(uri, o) {
  const extra = [];
  for (const k of ['serverSelectionTimeoutMS', 'connectTimeoutMS', 'maxPoolSize', 'appName']) {
    if (o[k] !== undefined) extra.push(`${k}=${encodeURIComponent(String(o[k]))}`);
  }
  if (!extra.length) return uri;
  const q = uri.indexOf('?');
  if (q >= 0) return `${uri}${q === uri.length - 1 ? '' : '&'}${extra.join('&')}`;
  const afterScheme = uri.indexOf('://') + 3;
  const slash = uri.indexOf('/', afterScheme);
  return `${uri}${slash < 0 ? '/' : ''}?${extra.join('&')}`;
}

/**
 * Runs fn in `ctx` (a system or multi-tenant context) and ends the context when fn settles: a
 * server started, or a callback bound, inside it must not serve later work with that access
 * (Rust refuses calls under an ended context).
 */
function runUntilSettled(ctx, fn) {
  let result;
  try {
    result = context.store.run(ctx, fn);
  } catch (e) {
    ctx.end();
    throw e;
  }
  let thenable;
  try {
    thenable = result !== null && (typeof result === 'object' || typeof result === 'function') && typeof result.then === 'function';
  } catch (e) {
    // A `then` getter that throws: the access still ends.
    ctx.end();
    throw e;
  }
  if (!thenable) {
    ctx.end();
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      ctx.end();
      return value;
    },
    (error) => {
      ctx.end();
      throw error;
    },
  );
}

/** True for an Error napi passes through as it is (a Proxy's traps may throw: then not). */
function isError(e) {
  try {
    return require('node:util').types.isNativeError(e) || e instanceof Error;
  } catch {
    return false;
  }
}

/** A thrown value in words, whatever its toString does. */
function shown(e) {
  if (typeof e === 'symbol') return e.toString();
  if (e === null || (typeof e !== 'object' && typeof e !== 'function')) return String(e);
  try {
    return Object.prototype.toString.call(e);
  } catch {
    return 'an object';
  }
}

/**
 * Calls the `onSystemAccess` hook. It refuses a call by throwing; napi passes an Error through
 * as it is, but not anything else thrown (`throw null`, a string, a Symbol, a plain object, a
 * Proxy): that becomes a TenantError naming it, with the value as its `cause` (but a Symbol).
 */
function refuseWith(hook, event) {
  try {
    return hook(event);
  } catch (e) {
    if (isError(e)) throw e;
    const refused = new TenantError('TENANT_VIOLATION', `onSystemAccess refused the call: it threw ${shown(e)}`);
    // (A Symbol cannot be a cause: napi turns the error's fields into strings on its way through.)
    if (typeof e !== 'symbol') refused.cause = e;
    throw refused;
  }
}

class TenantFence {
  #native;
  #db = null;
  #settings;
  #collections = new Map();
  #tenantQuotas = null;

  constructor(nativeFence, settings) {
    if (!nativeFence || !settings) throw invalidArg('use TenantFence.connect(uri, options)');
    this.#native = nativeFence;
    this.#settings = settings;
    if (typeof settings.raw.quotas === 'function') this.#tenantQuotas = new TenantQuotas(native, settings.raw.quotas);
  }

  /** Connects to MongoDB; rejects with a clear error when the server cannot be reached. */
  static async connect(uri, options) {
    if (typeof uri !== 'string' || uri === '') throw invalidArg('uri must be a MongoDB connection string');
    const s = checkConnectOptions(options);
    let nf;
    try {
      nf = await native.NativeFence.connect(withUriOptions(uri, s.raw), s.database, s.field, s.strategy, !s.pattern, s.monitor, s.metricsLimit, s.shared);
    } catch (e) {
      throw fromNative(e);
    }
    const { hook, audit } = s;
    // Rust calls it before every system call of this fence: no JS label decides that.
    if (hook || audit) {
      nf.setAuditHook(([reason, collection, operation, target, tenants]) => {
        // `target`: the new name of a rename (which `dropTarget` would replace); `tenants`: the
        // tenants a runAsTenants call reads.
        const event = { reason, collection, operation };
        if (target != null) event.target = target;
        if (tenants != null) event.tenants = tenants;
        if (audit) audit({ type: tenants != null ? 'tenants' : 'system', ...event });
        // The hook refuses by throwing; a promise it returns cannot refuse, and its rejection
        // must not stop Node.
        if (hook) ignoreRejection(refuseWith(hook, event));
      });
    }
    if (s.quotas) nf.setQuotas(s.quotas);
    if (s.raw.resumeTokenKey !== undefined) {
      // Binds change stream resume tokens to their tenant (docs/change-streams.md); Rust checks its length.
      const k = s.raw.resumeTokenKey;
      try {
        if (typeof k !== 'string' && !(k instanceof Uint8Array)) throw invalidArg('options.resumeTokenKey must be a string or a Buffer');
        nf.setResumeTokenKey(Buffer.from(k));
      } catch (e) {
        await nf.close().catch(() => {});
        throw fromNative(e);
      }
    }
    return new TenantFence(nf, s);
  }

  /** The field that holds the tenant id. */
  get tenantField() {
    return this.#settings.field;
  }

  /** 'field' or 'database'. */
  get strategy() {
    return this.#settings.strategy;
  }

  /** The (base) database name. */
  get databaseName() {
    return this.#native.database;
  }

  /**
   * The database a tenant's collections live in: under strategy 'database' its own
   * (`<database>~<escaped id>`, docs/options.md), under 'field' the shared one.
   */
  databaseFor(tenantId) {
    if (typeof tenantId !== 'string') throw invalidArg('databaseFor(tenantId): tenantId must be a string');
    // The same id rule as runAs: this fence's pattern here, the default rule or the hard rules in Rust.
    if (this.#settings.pattern && !this.#settings.pattern.test(tenantId)) {
      throw new TenantError('TENANT_INVALID', `tenant id ${JSON.stringify(tenantId)} does not match tenantIdPattern`);
    }
    try {
      return this.#native.databaseFor(tenantId);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Runs fn with `tenantId` as the current tenant and returns what fn returns. */
  runAs(tenantId, fn) {
    if (typeof fn !== 'function') throw invalidArg('runAs(tenantId, fn): fn must be a function');
    let ctx = context.tenantContext(tenantId, this.#settings.pattern);
    // Inside runAsTenants (however deep), only one of its tenants, and only while it lasts
    // (Rust decides: scope::tenants::may_narrow).
    const outer = context.current();
    const about = context.describe(outer);
    if (about && about.limited) ctx = context.narrowed(outer, tenantId, this.#settings.pattern);
    return context.store.run(ctx, fn);
  }

  /**
   * Runs fn reading the union of several tenants (`runAsTenants(ids, fn)` or
   * `runAsTenants(ids, { reason }, fn)`): every write inside is refused unless a runAs names
   * one of them; every call is audited like runAsSystem's; access ends when fn settles.
   */
  runAsTenants(tenantIds, options, fn) {
    if (typeof options === 'function' && fn === undefined) {
      fn = options;
      options = {};
    }
    if (options === null || typeof options !== 'object') throw invalidArg('runAsTenants(tenantIds, options, fn): options must be an object');
    if (options.reason !== undefined && (typeof options.reason !== 'string' || options.reason.trim() === '')) {
      throw invalidArg('runAsTenants(tenantIds, options, fn): options.reason must be a non-empty string');
    }
    if (typeof fn !== 'function') throw invalidArg('runAsTenants(tenantIds, fn): fn must be a function');
    const ctx = context.tenantsContext(tenantIds, this.#settings.pattern, options.reason, context.current());
    return runUntilSettled(ctx, fn);
  }

  /** Runs fn with tenant scoping lifted; every operation inside is audited first. */
  runAsSystem(options, fn) {
    if (options === null || typeof options !== 'object') throw invalidArg('runAsSystem(options, fn): options must be an object with a reason');
    if (typeof options.reason !== 'string' || options.reason.trim() === '') {
      throw invalidArg('runAsSystem(options, fn): options.reason must be a non-empty string');
    }
    if (typeof fn !== 'function') throw invalidArg('runAsSystem(options, fn): fn must be a function');
    const ctx = context.systemContext(this.#native, options.reason);
    return runUntilSettled(ctx, fn);
  }

  /**
   * Captures the current tenant (or runAsSystem) context: the returned function runs fn in it,
   * whoever calls it later. Throws TENANT_MISSING now when there is no context to capture.
   */
  bind(fn) {
    if (typeof fn !== 'function') throw invalidArg('bind(fn): fn must be a function');
    const ctx = context.current();
    if (!context.describe(ctx)) {
      // Now, not later: a callback bound outside any context would otherwise fail (or be
      // mistaken for scoped work) far from the line that forgot the runAs.
      throw new TenantError('TENANT_MISSING', 'bind(fn) needs a context to capture: call it inside runAs(), runAsSystem() or the middleware');
    }
    const bound = function (...params) {
      return context.store.run(ctx, () => fn.apply(this, params));
    };
    Object.defineProperty(bound, 'name', { value: `bound ${fn.name}` });
    return bound;
  }

  /** The current tenant id, or undefined. */
  currentTenant() {
    const about = context.describe(context.current());
    return about ? about.tenantId : undefined;
  }

  /** Express middleware that sets the tenant for each request. */
  middleware(options) {
    const audit = this.#settings.audit;
    const refused = audit && ((req, code, message) => audit({ type: 'refusal', code, operation: 'middleware', method: req.method, path: req.originalUrl || req.url, message }));
    const pattern = this.#settings.pattern;
    const enter = (tenantId, fn, req, res) => {
      if (!Array.isArray(tenantId)) return this.runAs(tenantId, fn);
      // A resolve that returns several tenants: the request reads their union, audited, until
      // its response is done (the handler's work outlives the middleware's callback).
      const ctx = context.tenantsContext(tenantId, pattern, `${req.method} ${req.originalUrl || req.url}`);
      // A response already closed (the client left while resolve ran) has no 'close' to come.
      if (res.destroyed || res.writableEnded || res.closed) ctx.end();
      else res.once('close', () => ctx.end());
      return context.store.run(ctx, fn);
    };
    return createMiddleware(options, enter, refused);
  }

  /** Database-level administration (`listCollections`, `createCollection`, `dropCollection`). */
  get db() {
    if (!this.#db) this.#db = new FenceDb(this, this.#native);
    return this.#db;
  }

  /** A scoped collection handle; the tenant is read from the context at each call. */
  collection(name) {
    if (typeof name !== 'string' || name === '') throw invalidArg('collection(name): name must be a non-empty string');
    // UTF-8 turns a lone surrogate into U+FFFD: two names would silently share one collection.
    if (!context.isWellFormed(name)) throw invalidArg('collection(name): name must be well-formed Unicode (no lone surrogates)');
    let c = this.#collections.get(name);
    if (!c) {
      c = new ScopedCollection(this, this.#native, name);
      this.#collections.set(name, c);
    }
    return c;
  }

  /**
   * Starts a session, as the driver's `client.startSession()`. Started under a tenant (or
   * runAsSystem), it belongs to it; otherwise to the first context that uses it.
   */
  async startSession(options) {
    args.optionalObject(options, 'startSession(options): options');
    const ctx = context.current();
    const owner = context.describe(ctx) ? ctx : undefined;
    let nativeSession;
    try {
      nativeSession = await this.#native.startSession(owner, encode({ ...options }));
    } catch (e) {
      throw fromNative(e);
    }
    return new FenceSession(nativeSession, this, options);
  }

  /**
   * Runs `fn` in a transaction of the current tenant: every collection call inside it (any
   * collection of this fence, any depth of await) joins it without passing a session. Retried
   * and committed as the driver's `withTransaction`; resolves to what `fn` resolves to.
   */
  async withTransaction(fn, options) {
    if (typeof fn !== 'function') throw invalidArg('withTransaction(fn, options): fn must be a function');
    const session = await this.startSession();
    try {
      return await session._runBound(fn, options);
    } finally {
      await session.endSession();
    }
  }

  /**
   * Per-tenant call metrics since connect (or `resetMetrics`): an object, or with
   * `{ format: 'prometheus' }` the Prometheus text; null when connected with `metrics: false`.
   * Not available to a tenant (TENANT_VIOLATION): they count every tenant's calls.
   */
  metrics(options) {
    const format = metrics.formatOf(options);
    let text;
    try {
      text = this.#native.metrics(context.current(), format === 'prometheus');
    } catch (e) {
      throw fromNative(e);
    }
    if (text == null) return null;
    return format === 'prometheus' ? text : metrics.fromJson(text);
  }

  /** Forgets every metric; not available to a tenant. */
  resetMetrics() {
    try {
      this.#native.resetMetrics(context.current());
    } catch (e) {
      throw fromNative(e);
    }
  }

  /**
   * Registers this fence's metrics with a prom-client `Registry` (e.g. `client.register`), so
   * the app's own `/metrics` route serves them; read at each scrape. Returns the registry.
   */
  registerMetrics(registry) {
    if (!registry || typeof registry.registerMetric !== 'function') {
      throw invalidArg("registerMetrics(registry): registry must be a prom-client Registry (require('prom-client').register)");
    }
    // Read in the scrape's own context: a scrape made inside a tenant's request is refused, as
    // fence.metrics() is (mount /metrics before the tenant middleware).
    const read = () => this.metrics();
    for (const m of metrics.promMetrics(read)) registry.registerMetric(m);
    return registry;
  }

  /** Closes the connection pool. */
  async close() {
    try {
      await this.#native.close();
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** @internal The audited commands since the last call (BSON), or null without monitorCommands. */
  _drainCommands() {
    return this.#native.drainCommands();
  }

  /** @internal Calls queued behind a shared command in flight (tests hold a lane with it). */
  _queuedCalls() {
    return this.#native.queuedCalls();
  }

  /**
   * @internal The limits a call under `ctx` brings to Rust: only when `quotas` is a function
   * (fixed limits live in Rust); undefined for a system context or no context.
   */
  _quotaFor(ctx) {
    if (!this.#tenantQuotas) return undefined;
    const about = context.describe(ctx);
    if (!about || about.system) return undefined;
    if (!about.tenantIds) return this.#tenantQuotas.for(about.tenantId) ?? undefined;
    // A runAsTenants read passes its set's gate held to the strictest limits of its members,
    // so no one union is looser than a member's quota. Each distinct set has its own gate (a
    // union neither waits for nor holds up a tenant's own calls), so a member's limit bounds
    // each union the app opens, not their sum. Members without limits add none.
    const each = about.tenantIds.map((id) => this.#tenantQuotas.for(id)).filter(Boolean);
    return each.length ? each.reduce((a, b) => a.stricter(b)) : undefined;
  }

  /** @internal Sends a refusal of a call under `ctx` to the audit sink; returns `err`. */
  _refused(err, ctx, collection, operation) {
    const audit = this.#settings.audit;
    if (audit && err && err.name === 'TenantError') {
      const about = context.describe(ctx);
      const event = refusal(err, about ? about.tenantId : undefined, collection, operation);
      if (about && about.tenantIds) event.tenants = about.tenantIds;
      audit(event);
    }
    return err;
  }

  /** @internal True when this fence has a custom tenantIdPattern. */
  _customIds() {
    return Boolean(this.#settings.pattern);
  }

  /** @internal True when a context's tenant id satisfies this fence's id rule. */
  _accepts(about) {
    const ids = about.tenantIds ?? [about.tenantId];
    return this.#settings.pattern ? ids.every((id) => this.#settings.pattern.test(id)) : about.defaultRule;
  }
}

module.exports = { TenantFence, TenantError, MONITOR_ENV };
