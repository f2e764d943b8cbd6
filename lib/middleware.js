'use strict';
// Express middleware (4 and 5): resolve the tenant for a request, answer 400 when
// there is none or it is invalid, otherwise run the rest of the request inside it.

const { invalidArg } = require('./errors');
const OPTIONS = ['header', 'resolve'];
// An HTTP header name is an RFC 9110 token.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function suggest(key) {
  // 'headers', 'Header', 'head', 'resolver' all share a prefix with the option meant.
  const k = key.toLowerCase();
  const near = OPTIONS.find((o) => k.startsWith(o) || o.startsWith(k));
  return near ? ` (did you mean '${near}'?)` : '';
}

function looksLikeRequest(v) {
  return v && typeof v === 'object' && typeof v.method === 'string' && (typeof v.url === 'string' || v.headers);
}

/** Validates middleware options now, so a typo fails at startup instead of per request. */
function validate(options) {
  if (looksLikeRequest(options)) {
    throw invalidArg('fence.middleware must be called: use app.use(fence.middleware()), not app.use(fence.middleware)');
  }
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArg('middleware options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key)) {
      throw invalidArg(`middleware option '${key}' is not known${suggest(key)}; options are header, resolve`);
    }
  }
  const { header, resolve } = options;
  if (header !== undefined && (typeof header !== 'string' || header.trim() === '')) {
    throw invalidArg('middleware option header must be a non-empty string');
  }
  if (header !== undefined && !HEADER_NAME.test(header)) {
    // No request can carry such a header: every request would be answered 400.
    throw invalidArg(`middleware option header ${JSON.stringify(header)} is not a valid HTTP header name`);
  }
  if (resolve !== undefined && typeof resolve !== 'function') {
    throw invalidArg('middleware option resolve must be a function (req) => tenantId');
  }
  if (header !== undefined && resolve !== undefined) {
    throw invalidArg('give the middleware either header or resolve, not both');
  }
  return { header: (header || 'x-tenant-id').toLowerCase(), resolve };
}

function reject(res, code, message) {
  const body = JSON.stringify({ error: { code, message } });
  res.statusCode = 400;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * Builds the middleware; `enter(tenantId, fn)` runs fn under the tenant (throws TenantError);
 * `refused(req, code, message)`, if given, hears of every request answered 400.
 */
function createMiddleware(options, enter, refused) {
  const { header, resolve } = validate(options);

  function proceed(req, tenantId, res, next) {
    const answer = (code, message) => {
      if (refused) refused(req, code, message);
      return reject(res, code, message);
    };
    if (tenantId === undefined || tenantId === null || tenantId === '' || (Array.isArray(tenantId) && tenantId.length === 0)) {
      return answer('TENANT_MISSING', resolve ? 'no tenant could be resolved for this request' : `the ${header} header is required`);
    }
    // A list (from resolve only: a repeated header is joined above) reads those tenants' union.
    const many = resolve !== undefined && Array.isArray(tenantId);
    if (!many && typeof tenantId !== 'string') {
      return answer('TENANT_INVALID', 'the resolved tenant id is not a string or an array of them');
    }
    let ok = false;
    try {
      enter(tenantId, () => {
        ok = true;
        next();
      }, req, res);
    } catch (e) {
      if (!ok && e && e.name === 'TenantError') return answer(e.code, e.message);
      throw e;
    }
  }

  if (resolve) {
    return function tenantfenceMiddleware(req, res, next) {
      let pending;
      try {
        pending = Promise.resolve(resolve(req));
      } catch (e) {
        return next(e);
      }
      pending.then((tenantId) => proceed(req, tenantId, res, next)).catch(next);
    };
  }
  return function tenantfenceMiddleware(req, res, next) {
    const value = req.headers[header];
    proceed(req, Array.isArray(value) ? value.join(',') : value, res, next);
  };
}

module.exports = { createMiddleware };
