'use strict';
// The audit sink (`audit` at connect): system access and refusals as structured events, sent to a
// function or written as JSON lines to a stream, so an operator has a trail without wrapping calls.

const { invalidArg } = require('./errors');

/** Checks the option; returns `emit(event)` or null. A sink that throws never changes a call. */
function auditSink(option) {
  if (option === undefined || option === null) return null;
  let send;
  if (typeof option === 'function') send = option;
  else if (typeof option === 'object' && typeof option.write === 'function') send = (event) => option.write(`${JSON.stringify(event)}\n`);
  else throw invalidArg('options.audit must be a function (event) => {} or a writable stream (JSON lines)');
  return (event) => {
    try {
      ignoreRejection(send({ time: new Date().toISOString(), ...event }));
    } catch {
      // The trail is the operator's; a failing sink must not fail, or refuse, a tenant's call.
    }
  };
}

/**
 * Handles a promise an app's callback returned, so its later rejection (a log store down) is not
 * an unhandled rejection that stops Node for every tenant.
 */
function ignoreRejection(value) {
  try {
    if (value && typeof value.then === 'function') Promise.resolve(value).catch(() => {});
  } catch {
    // a `then` getter that throws: nothing was pending (red-team round 29)
  }
}

/** The refusal event for `err` if it is a fence refusal (a TenantError), else null. */
function refusal(err, tenant, collection, operation) {
  if (!err || err.name !== 'TenantError') return null;
  const event = { type: 'refusal', code: err.code, tenant, collection, operation, message: err.message };
  if (err.retryAfterMs !== undefined) event.retryAfterMs = err.retryAfterMs;
  return event;
}

module.exports = { auditSink, refusal, ignoreRejection };
