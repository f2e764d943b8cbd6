'use strict';
// The driver's per-call limits that live on the client: `timeoutMS` (a deadline for the whole call,
// or for a cursor's lifetime or each of its reads) and `signal` (an AbortSignal). A call past its
// deadline, or aborted, rejects at once; what was already sent may still run on the server, as with
// the driver (docs/options.md). `maxTimeMS` bounds the server's side where a method takes it.

const { invalidArg, MongoOperationTimeoutError } = require('./errors');

/** Takes `timeoutMS`, `timeoutMode` and `signal` out of `options`: [the rest, the limits or null]. */
function splitLimits(options, { cursor = false } = {}) {
  if (!options || (options.timeoutMS === undefined && options.signal === undefined && options.timeoutMode === undefined)) {
    return [options, null];
  }
  const { timeoutMS, timeoutMode, signal, ...rest } = options;
  if (timeoutMS !== undefined && (typeof timeoutMS !== 'number' || !Number.isInteger(timeoutMS) || timeoutMS < 0)) {
    throw invalidArg('options.timeoutMS must be a non-negative integer');
  }
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    throw invalidArg('options.signal must be an AbortSignal');
  }
  if (timeoutMode !== undefined) {
    if (!cursor) throw invalidArg('options.timeoutMode is not supported by this method: cursors take it (find, aggregate, listIndexes)');
    if (timeoutMode !== 'cursorLifetime' && timeoutMode !== 'iteration') {
      throw invalidArg("options.timeoutMode must be 'cursorLifetime' or 'iteration'");
    }
    if (!timeoutMS) throw invalidArg('options.timeoutMode needs options.timeoutMS');
  }
  const ms = timeoutMS || 0; // 0: no limit, as the driver reads it
  return [rest, { timeoutMS: ms, mode: timeoutMode || 'cursorLifetime', signal, started: Date.now() }];
}

function timeoutError(limits) {
  return new MongoOperationTimeoutError({ message: `Timed out after ${limits.timeoutMS}ms (timeoutMS)` });
}

/** Rejects with the signal's reason when it is aborted already. */
function throwIfAborted(limits) {
  if (limits && limits.signal && limits.signal.aborted) throw limits.signal.reason;
}

/**
 * What `start()` resolves to, or a rejection when the deadline passes or the signal aborts first.
 * Nothing is started once the signal is aborted or the deadline has passed (as the driver sends
 * nothing then), and a call given up later still has its rejection handled (a failure that comes
 * after the caller stopped waiting must not be an unhandled rejection). `deadline` is a time (ms
 * since the epoch) or 0 for none. `onGiveUp` runs once when the call is given up.
 */
function bounded(start, limits, deadline, onGiveUp) {
  if (!limits) return start();
  throwIfAborted(limits);
  if (deadline && Date.now() >= deadline) return Promise.reject(timeoutError(limits));
  const promise = start();
  if (!deadline && !limits.signal) return promise;
  // Handled from the start: the caller may be gone when it settles.
  promise.catch(() => {});
  return new Promise((resolve, reject) => {
    let timer = null;
    const done = () => {
      if (timer) clearTimeout(timer);
      if (limits.signal) limits.signal.removeEventListener('abort', onAbort);
    };
    const giveUp = (err) => {
      done();
      if (onGiveUp) onGiveUp();
      reject(err);
    };
    const onAbort = () => giveUp(limits.signal.reason);
    if (limits.signal) limits.signal.addEventListener('abort', onAbort, { once: true });
    if (deadline) {
      const left = deadline - Date.now();
      const expire = () => giveUp(timeoutError(limits));
      if (left <= 0) return expire();
      timer = setTimeout(expire, left);
    }
    promise.then(
      (v) => {
        done();
        resolve(v);
      },
      (e) => {
        done();
        reject(e);
      },
    );
  });
}

/**
 * `err`, or the timeout it stands for: the server's MaxTimeMSExpired (50) on a call whose
 * `timeoutMS` was sent as its `maxTimeMS` is that call's `MongoOperationTimeoutError`.
 */
function timedOut(err, limits) {
  if (!limits || !limits.serverSide || !err || err.code !== 50) return err;
  const e = new MongoOperationTimeoutError({ message: `Timed out after ${limits.timeoutMS}ms (timeoutMS): ${err.message}` });
  e.cause = err;
  return e;
}

/** The deadline of a whole call made now under `limits` (0: none). */
function callDeadline(limits) {
  return limits && limits.timeoutMS ? limits.started + limits.timeoutMS : 0;
}

module.exports = { splitLimits, bounded, callDeadline, throwIfAborted, timedOut };
