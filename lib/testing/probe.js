'use strict';
// The isolation probe: every command a monitored fence sends to MongoDB, audited in Rust
// (src/scope/verdict.rs) against the tenant of the operation that sent it. Tests read what
// was seen and fail when a data command was not confined to its tenant.

const { invalidArg } = require('../errors');
const { deserialize, serialize } = require('bson');
const native = require('../../binding.js');

// Commands kept in JS between resets; violations are always kept.
const KEEP = 10_000;

/** Per fence: the records drained so far, shared by every probe of that fence. */
const stores = new WeakMap();

function storeOf(fence) {
  // Duck-typed: an app and its tests may load two copies of the package.
  if (!fence || typeof fence._drainCommands !== 'function') throw invalidArg('isolationProbe(fence): fence must be a TenantFence');
  let store = stores.get(fence);
  if (!store) {
    if (fence._drainCommands() === null) {
      throw invalidArg(
        'isolationProbe(fence): this fence does not monitor its commands; connect it with { monitorCommands: true }, ' +
          "or run the tests with tenantfence/testing's globalSetup (which sets TENANTFENCE_MONITOR_COMMANDS=1)",
      );
    }
    store = { commands: [], violations: [], dropped: 0, droppedViolations: 0 };
    stores.set(fence, store);
  }
  return store;
}

function pull(fence, store) {
  const buf = fence._drainCommands();
  if (!buf) return;
  const { records, dropped, droppedViolations } = deserialize(buf, { promoteLongs: true });
  store.dropped += dropped;
  store.droppedViolations += droppedViolations;
  for (const r of records) {
    if (!r.scoped) store.violations.push(r);
    if (store.commands.length < KEEP) store.commands.push(r);
    else store.dropped += 1;
  }
}

function who(r) {
  if (r.tenant !== undefined) return `as tenant '${r.tenant}'`;
  if (r.system) return `inside runAsSystem${r.systemReason ? ` (reason: ${JSON.stringify(r.systemReason)})` : ''}`;
  return 'outside any tenant operation';
}

/** One line per offending command, for error messages. */
function describe(r) {
  const target = r.collection ? `${r.database}.${r.collection}` : r.database;
  return `${r.command} on ${target} ${who(r)}: ${r.reason}`;
}

class IsolationProbe {
  #fence;
  #allowSystem;

  /** @param fence a TenantFence, or a function returning one (resolved at first use) */
  constructor(fence, options = {}) {
    if (options === null || typeof options !== 'object') throw invalidArg('isolationProbe(fence, options): options must be an object');
    if (options.allowSystem !== undefined && typeof options.allowSystem !== 'boolean') {
      throw invalidArg('options.allowSystem must be a boolean');
    }
    this.#fence = fence;
    this.#allowSystem = options.allowSystem === true;
    if (typeof fence !== 'function') storeOf(fence);
  }

  #store() {
    const fence = typeof this.#fence === 'function' ? this.#fence() : this.#fence;
    const store = storeOf(fence);
    pull(fence, store);
    return store;
  }

  /** Every command seen since the last reset (the first 10,000): { command, database, collection, tenant, system, data, scoped, reason }. */
  get commands() {
    return this.#store().commands.slice();
  }

  /** The data commands that were not confined to their tenant (runAsSystem ones unless allowSystem). */
  violations(options = {}) {
    const allowSystem = options.allowSystem ?? this.#allowSystem;
    return this.#store().violations.filter((r) => !(allowSystem && r.system));
  }

  /** Throws an Error listing every violation (and any command that went unrecorded). */
  assertIsolated(options = {}) {
    const found = this.violations(options);
    const { droppedViolations } = this.#store();
    if (found.length === 0 && droppedViolations === 0) return;
    const lines = found.slice(0, 20).map((r) => `  - ${describe(r)}`);
    if (found.length > 20) lines.push(`  ... and ${found.length - 20} more`);
    if (droppedViolations) lines.push(`  ... and ${droppedViolations} more that overflowed the probe's buffer`);
    const total = found.length + droppedViolations;
    let hint = '';
    if (found.some((r) => r.system)) hint = '\n(runAsSystem commands are allowed with { allowSystem: true })';
    const err = new Error(`tenantfence isolation probe: ${total} command(s) reached MongoDB without being scoped to their tenant:\n${lines.join('\n')}${hint}`);
    err.name = 'TenantIsolationError';
    err.violations = found;
    throw err;
  }

  /** Forgets everything seen so far. */
  reset() {
    const store = this.#store();
    store.commands.length = 0;
    store.violations.length = 0;
    store.dropped = 0;
    store.droppedViolations = 0;
  }
}

/** A probe over the commands `fence` sends (the fence must monitor its commands). */
function isolationProbe(fence, options) {
  if (typeof fence === 'function') throw invalidArg('isolationProbe(fence): pass the fence itself (useIsolationProbe takes a getter)');
  return new IsolationProbe(fence, options);
}

/**
 * Jest helper: resets the probe before each test and asserts after it, so a test fails
 * when any command it sent was not tenant-scoped. `fence` may be a getter, for fences
 * connected in beforeAll.
 */
function useIsolationProbe(fence, options) {
  const { beforeEach, afterEach } = globalThis;
  if (typeof beforeEach !== 'function' || typeof afterEach !== 'function') {
    throw new Error('useIsolationProbe() must be called inside a Jest test file (beforeEach/afterEach are not defined)');
  }
  const probe = new IsolationProbe(fence, options);
  beforeEach(() => probe.reset());
  afterEach(() => probe.assertIsolated());
  return probe;
}

/**
 * Audits one command document (as MongoDB would receive it, `$db` aside) with the
 * probe's rule: { tenant } or { system: true }, the database it is sent to, and the
 * fence settings (tenantField, strategy, database).
 */
function probeCommand(command, options) {
  if (command === null || typeof command !== 'object' || Array.isArray(command)) throw invalidArg('probeCommand(command, options): command must be an object');
  if (options === null || typeof options !== 'object') throw invalidArg('probeCommand(command, options): options must be an object');
  const { tenant, system = false, tenantField = 'tenantId', strategy = 'field', database = 'test' } = options;
  const db = options.db ?? database;
  if (tenant !== undefined && typeof tenant !== 'string') throw invalidArg('options.tenant must be a string');
  for (const [k, v] of Object.entries({ tenantField, strategy, database, db })) {
    if (typeof v !== 'string') throw invalidArg(`options.${k} must be a string`);
  }
  let rec;
  try {
    rec = native.probeCommand(tenantField, strategy, database, tenant, system === true, db, serialize(command));
  } catch (e) {
    throw require('../errors').fromNative(e);
  }
  return deserialize(rec, { promoteLongs: true });
}

// `auditCommand` is the old name, kept so existing tests keep working: "audit" now means the
// system-access hook only.
module.exports = { isolationProbe, useIsolationProbe, probeCommand, auditCommand: probeCommand, IsolationProbe };
