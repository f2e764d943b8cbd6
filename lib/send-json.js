'use strict';
// sendJSON(res, body): an Express (or bare Node) response with JSON bytes already rendered, such
// as `cursor.toJSONBuffer()`'s, answered as `res.json()` would answer: same body, same headers.

const { invalidArg } = require('./errors');

/** Sends `body` (a Buffer of JSON text, or a promise of one) as `application/json`; resolves when sent. */
async function sendJSON(res, body) {
  if (!res || typeof res.setHeader !== 'function' || typeof res.end !== 'function') {
    throw invalidArg('sendJSON(res, body): res must be an HTTP response (Express res or http.ServerResponse)');
  }
  const buf = await body;
  if (!Buffer.isBuffer(buf)) throw invalidArg('sendJSON(res, body): body must be a Buffer of JSON text, or a promise of one (cursor.toJSONBuffer())');
  // Express's res.send: it sets the Content-Type res.json sets, computes the same ETag on the
  // same bytes and answers HEAD and fresh (304) requests the same way.
  if (typeof res.send === 'function' && res.req) {
    if (!res.get('Content-Type')) res.set('Content-Type', 'application/json; charset=utf-8');
    res.send(buf);
    return;
  }
  if (!res.getHeader('Content-Type')) res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', buf.length);
  res.end(buf);
}

module.exports = { sendJSON };
