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
  if (typeof res.send === 'function' && res.req) {
    const app = res.app;
    if (app && typeof app.get === 'function' && (app.get('json replacer') || app.get('json spaces') || app.get('json escape'))) {
      // The app shapes its JSON (a replacer that redacts, escaping for HTML, indentation):
      // res.json applies it. JSON.stringify hands a replacer the values' toJSON forms, which is
      // what parsing the rendered text gives back, so the bytes are res.json's own.
      res.json(JSON.parse(buf));
      return;
    }
    if (res.get('Content-Type')) {
      // A type set beforehand: res.send gives a string body `charset=utf-8`, as res.json does.
      res.send(buf.toString('utf8'));
      return;
    }
    // Express's res.send: the Content-Type res.json sets, the same ETag on the same bytes, HEAD
    // and fresh (304) requests answered the same way.
    res.set('Content-Type', 'application/json; charset=utf-8');
    res.send(buf);
    return;
  }
  if (!res.getHeader('Content-Type')) res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', buf.length);
  res.end(buf);
}

module.exports = { sendJSON };
