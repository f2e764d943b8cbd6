'use strict';
// Sessions and transactions, as the driver's ClientSession: `fence.startSession()` for code
// that passes `{ session }` (as Mongoose does), and `fence.withTransaction(fn)`, whose callback's
// calls join the transaction through the async context without passing anything. Rust holds the
// driver session and refuses any call of a tenant other than the one that owns it.

const { AsyncLocalStorage } = require('node:async_hooks');
const context = require('./context');
const BSON = require('bson');
const { encode } = require('./codec');
const args = require('./args');
const { fromNative, invalidArg, TenantError, MongoError, MongoAPIError, MongoTransactionError, MongoExpiredSessionError } = require('./errors');

// The session `withTransaction` binds to its callback's async chain; one store per process.
const KEY = Symbol.for('tenantfence.session.v1');
const bound = globalThis[KEY] || (globalThis[KEY] = new AsyncLocalStorage());

// The driver's transaction states (`session.transaction.state`).
const NO_TRANSACTION = 'NO_TRANSACTION';
const STARTING = 'STARTING_TRANSACTION';
const IN_PROGRESS = 'TRANSACTION_IN_PROGRESS';
const COMMITTED = 'TRANSACTION_COMMITTED';
const COMMITTED_EMPTY = 'TRANSACTION_COMMITTED_EMPTY';
const ABORTED = 'TRANSACTION_ABORTED';

// As the driver's convenient transaction API: retries stop after two minutes. Between runs of
// fn, an exponential backoff with jitter (the transactions spec's): without it, a transaction
// that keeps conflicting ran its callback thousands of times a second (red-team round 18).
const RETRY_WINDOW_MS = 120_000;
const BACKOFF_FIRST_MS = 5;
const BACKOFF_MAX_MS = 500;
const MAX_TIME_EXPIRED = 50;

/** The context a session method is called under, for Rust to admit (only the owner may). */
function callerContext() {
  const ctx = context.current();
  return context.describe(ctx) ? ctx : null;
}

const transactionError = (message) => new MongoTransactionError({ message });
const expired = () => new MongoExpiredSessionError({ message: 'Cannot use a session that has ended' });

/** A session of one fence; every call in it runs as the one tenant that owns it. */
class FenceSession {
  #native;
  #fence;
  #state = NO_TRANSACTION;
  #ended = false;
  #starting = null;
  #options;

  /** @internal Made by `fence.startSession()`. */
  constructor(nativeSession, fence, options) {
    this.#native = nativeSession;
    this.#fence = fence;
    this.#options = options;
  }

  /** The server session id, `{ id: Binary }`, or undefined once ended. */
  get id() {
    if (this.#ended) return undefined;
    const raw = this.#native.id();
    return raw ? BSON.deserialize(raw, { promoteBuffers: false }) : undefined;
  }

  /** Always true: every fence session is started by the app (the driver's implicit ones stay in Rust). */
  get explicit() {
    return true;
  }

  /** The transaction options `startSession({ defaultTransactionOptions })` gave. */
  get defaultTransactionOptions() {
    return { ...(this.#options?.defaultTransactionOptions ?? {}) };
  }

  /** Snapshot sessions are not offered. */
  get snapshotEnabled() {
    return false;
  }

  /** Whether the session is pinned to a mongos or a load-balanced connection: the Rust driver keeps that. */
  get isPinned() {
    return false;
  }

  /** The fence does not connect in load-balanced mode. */
  get loadBalanced() {
    return false;
  }

  /** What the session supports, as the driver says it. */
  get supports() {
    return { causalConsistency: this.#options?.causalConsistency !== false };
  }

  /** True when `other` is this session (each fence session has its own server session). */
  equals(other) {
    return other === this;
  }

  /** A session is never serialized into a command, as with the driver. */
  toBSON() {
    throw new MongoAPIError('ClientSession cannot be serialized to BSON.');
  }

  /** `await using session = await fence.startSession()` ends it at the end of the block. */
  [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    return this.endSession();
  }

  /** True once `endSession()` was called. */
  get hasEnded() {
    return this.#ended;
  }

  /** The transaction's state, as the driver names it, and whether one is active. */
  get transaction() {
    const state = this.#state;
    return { state, isActive: this.inTransaction(), isCommitted: state === COMMITTED || state === COMMITTED_EMPTY };
  }

  /** True between `startTransaction()` and its commit or abort. */
  inTransaction() {
    return this.#state === STARTING || this.#state === IN_PROGRESS;
  }

  /** Starts a transaction; its calls go out once the driver has begun it. */
  startTransaction(options) {
    if (this.#ended) throw expired();
    if (this.inTransaction()) throw transactionError('Transaction already in progress');
    // As the driver's, `null` options are none.
    const bytes = encode({ ...args.optionalObject(options ?? undefined, 'options') });
    try {
      this.#native.admitCaller(callerContext());
    } catch (e) {
      throw fromNative(e);
    }
    this.#state = STARTING;
    const starting = this.#native.startTransaction(callerContext(), bytes);
    starting.catch(() => {}); // read by the next call in the session, or by commit/abort
    this.#starting = starting;
  }

  /** Commits the transaction (again after a failed commit, as the driver allows). */
  async commitTransaction() {
    if (this.#state === NO_TRANSACTION) throw transactionError('No transaction started');
    if (this.#state === ABORTED) throw transactionError('Cannot call commitTransaction after calling abortTransaction');
    await this.#ready();
    const empty = this.#state === STARTING || this.#state === COMMITTED_EMPTY;
    try {
      await this.#native.commitTransaction(callerContext());
    } catch (e) {
      const err = fromNative(e);
      // Refused (another tenant's call): nothing was sent, the owner's transaction is as it was.
      if (err instanceof TenantError) throw err;
      // As the driver: committed whatever the outcome; a failed commit may be retried, and a
      // new transaction may start after it.
      this.#state = empty ? COMMITTED_EMPTY : COMMITTED;
      throw err;
    }
    this.#state = empty ? COMMITTED_EMPTY : COMMITTED;
  }

  /** Aborts the transaction; its writes are discarded. */
  async abortTransaction() {
    if (this.#state === NO_TRANSACTION) throw transactionError('No transaction started');
    if (this.#state === COMMITTED || this.#state === COMMITTED_EMPTY) throw transactionError('Cannot call abortTransaction after calling commitTransaction');
    if (this.#state === ABORTED) throw transactionError('Cannot call abortTransaction twice');
    await this.#ready();
    try {
      await this.#native.abortTransaction(callerContext());
    } catch (e) {
      const err = fromNative(e);
      if (err instanceof TenantError) throw err;
      this.#state = ABORTED;
      throw err;
    }
    this.#state = ABORTED;
  }

  /** Ends the session, aborting an open transaction; later calls in it fail. */
  async endSession() {
    if (this.#ended) return;
    this.#ended = true;
    await this.#starting?.catch(() => {});
    try {
      await this.#native.endSession(callerContext());
    } catch (e) {
      this.#ended = false; // refused (another tenant's call): the session is still its owner's
      throw fromNative(e);
    }
    if (this.inTransaction()) this.#state = ABORTED;
  }

  /**
   * Runs `fn(session)` in a transaction, retried and committed as the driver's
   * `withTransaction` does; resolves to what `fn` resolves to. Calls must pass `{ session }`.
   */
  async withTransaction(fn, options) {
    return this.#withTransaction(fn, options, false);
  }

  /** @internal `fence.withTransaction`: the same, with the session bound to fn's async chain. */
  _runBound(fn, options) {
    return this.#withTransaction(fn, options, true);
  }

  /** @internal The native session for a call of `fence`, once its transaction has begun. */
  async _forCall(fence) {
    if (fence !== this.#fence) throw invalidArg('options.session was started by another fence: a session runs on the client that started it');
    if (this.#ended) throw expired();
    await this.#ready();
    if (this.#state === STARTING) this.#state = IN_PROGRESS;
    return this.#native;
  }

  /** @internal True when this session was started by `fence`. */
  _belongsTo(fence) {
    return fence === this.#fence;
  }

  async #ready() {
    const starting = this.#starting;
    if (!starting) return;
    try {
      await starting;
    } catch (e) {
      if (this.#starting === starting) {
        this.#starting = null;
        this.#state = NO_TRANSACTION;
      }
      throw fromNative(e);
    }
    if (this.#starting === starting) this.#starting = null;
  }

  async #withTransaction(fn, options, bindToChain) {
    if (typeof fn !== 'function') throw invalidArg('withTransaction(fn): fn must be a function');
    const started = Date.now();
    const inWindow = () => Date.now() - started < RETRY_WINDOW_MS;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        const ceiling = Math.min(BACKOFF_FIRST_MS * 1.5 ** (attempt - 1), BACKOFF_MAX_MS);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
      }
      this.startTransaction(options);
      let result;
      // The binding lasts while fn runs: work fn left behind (a timer, a listener) that runs
      // after it settled is not in this transaction, nor in the session (red-team round 18).
      const scope = { session: this, live: true };
      try {
        const run = () => fn(this);
        try {
          const promise = bindToChain ? bound.run(scope, run) : run();
          if (!promise || typeof promise.then !== 'function') {
            throw invalidArg('Function provided to `withTransaction` must return a Promise');
          }
          result = await promise;
        } finally {
          scope.live = false;
        }
        // The callback committed or aborted itself: nothing left to do, as with the driver.
        if (!this.inTransaction()) return result;
      } catch (e) {
        if (this.inTransaction()) await this.abortTransaction().catch(() => {});
        if (e instanceof MongoError && e.hasErrorLabel('TransientTransactionError') && inWindow()) continue;
        throw e;
      }
      for (;;) {
        try {
          await this.commitTransaction();
          return result;
        } catch (e) {
          const unknown = e instanceof MongoError && e.hasErrorLabel('UnknownTransactionCommitResult');
          if (unknown && e.code !== MAX_TIME_EXPIRED && inWindow()) continue;
          if (e instanceof MongoError && e.hasErrorLabel('TransientTransactionError') && inWindow()) break;
          throw e;
        }
      }
    }
  }
}

/**
 * The session `fence.withTransaction` bound to the current async chain, for `fence`, while its
 * callback runs.
 */
function boundSession(fence) {
  const scope = bound.getStore();
  if (!scope || !scope.live) return undefined;
  return scope.session._belongsTo(fence) ? scope.session : undefined;
}

module.exports = { FenceSession, boundSession };
