'use strict';
// The reference side's arguments: the case's own arguments plus exactly what the contract says
// the fence adds to a write as tenant A, and nothing else:
//   - documents written (inserts, replacements) carry tenantId 'A' when they name none
//     (a document naming another tenant is left as is: the fence must refuse it);
//   - a pipeline update ends with { $set: { tenantId: { $literal: 'A' } } };
//   - an upsert inserts into tenant A (a filter that does not name the tenant field is ANDed
//     with tenantId 'A', which matches every reference document, so only the inserted
//     document changes).
//   - under a non-simple collation, a top-level `tenantId: '<string>'` (or `$eq`) equality in
//     a filter (the leading $match of a pipeline, a $graphLookup's restrictSearchWithMatch)
//     compares exactly, not by collation
//     (docs/enforcement.md: "A tenantId: 'x' equality in the caller's filter is made
//     exact the same way"); the reference gets the same `{$regex: '^x\\z'}`.
// Everything else is passed unchanged: the reference holds only A's documents, so an unscoped
// run is the specification.

const { FIELD, TENANT } = require('./dataset');
const { clone } = require('./clone');

function stamp(doc) {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || FIELD in doc) return doc;
  return { ...doc, [FIELD]: TENANT };
}

function forceTenant(update) {
  return Array.isArray(update) ? [...update, { $set: { [FIELD]: { $literal: TENANT } } }] : update;
}

/** Does the filter name the tenant field where an upsert takes equalities from (top level, $and)? */
function mentionsTenant(filter) {
  if (!filter || typeof filter !== 'object') return false;
  return Object.entries(filter).some(
    ([k, v]) => k === FIELD || k.startsWith(`${FIELD}.`) || (k === '$and' && Array.isArray(v) && v.some(mentionsTenant)),
  );
}

function upsertFilter(filter, upsert) {
  // A filter that names the tenant field already decides it (the fence accepts only an
  // equality with A in an upsert filter; adding a second equality would be a server error).
  return upsert && !mentionsTenant(filter) ? { $and: [filter, { [FIELD]: TENANT }] } : filter;
}

function bulkOp(op, collectionDefault) {
  const [kind] = Object.keys(op);
  const body = { ...op[kind] };
  if (body.filter && guarded(body, collectionDefault)) body.filter = exactTenant(body.filter);
  if (kind === 'insertOne') body.document = stamp(body.document);
  if (kind === 'replaceOne') body.replacement = stamp(body.replacement);
  if (kind === 'updateOne' || kind === 'updateMany') body.update = forceTenant(body.update);
  if (body.filter) body.filter = upsertFilter(body.filter, body.upsert);
  return { [kind]: body };
}

function escapeRegex(s) {
  return s.replace(/[.*+?^${}()|[\]\\\/:@#-]/g, '\\$&');
}

/**
 * True for a collation that is not `{locale: 'simple'}` alone (the fence then guards). With
 * `collectionDefault` (the collection was created with a non-simple default collation), a call
 * that names no collation is guarded too.
 */
function guarded(opts, collectionDefault = false) {
  const c = opts && opts.collation;
  if (!c) return collectionDefault;
  return !(c.locale === 'simple' && Object.keys(c).length === 1);
}

/** `filter` with a top-level string equality on the tenant field made exact. */
function exactTenant(filter) {
  if (!filter || typeof filter !== 'object' || !(FIELD in filter)) return filter;
  const v = filter[FIELD];
  const eq = v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && Object.keys(v).length === 1 && '$eq' in v ? v.$eq : v;
  if (typeof eq !== 'string' || eq === TENANT) return filter;
  return { ...filter, [FIELD]: { $regex: `^${escapeRegex(eq)}\\z` } };
}

/**
 * The argument list to run case `c` with on the reference side (a fresh copy). `world` (its
 * kind) says what the fence adds: under 'field' and 'collation' all of the above; under
 * 'database' and 'system' nothing (documents are not stamped, filters are not rewritten), so
 * the reference runs the caller's own arguments.
 */
function toReference(c, world = { kind: 'field' }) {
  const args = clone(c.args);
  if (world.kind === 'database' || world.kind === 'system') return args;
  if (world.stale) {
    // The fence saw the collection without a default collation (docs/limits.md: "Calls
    // on a collection without one are pinned to {locale: 'simple'} ... the caller's queries then
    // compare binary"): what it does is what a call with the simple collation does.
    return pinSimple(c.method, stampWrites(c, exactUnderCollation(c.method, args, false), false));
  }
  const collectionDefault = world.kind === 'collation';
  return stampWrites(c, exactUnderCollation(c.method, args, collectionDefault), collectionDefault);
}

/** Where each method takes its options (the index into its arguments). */
const OPTIONS_AT = {
  find: 1,
  findOne: 1,
  countDocuments: 1,
  distinct: 2,
  aggregate: 1,
  updateOne: 2,
  updateMany: 2,
  replaceOne: 2,
  deleteOne: 1,
  deleteMany: 1,
  findOneAndUpdate: 2,
  findOneAndReplace: 2,
  findOneAndDelete: 1,
};

const SIMPLE = { locale: 'simple' };

/** `args` with `{locale: 'simple'}` wherever no collation is given (a bulk op's null / undefined too). */
function pinSimple(method, args) {
  if (method === 'bulkWrite') {
    args[0] = args[0].map((op) => {
      const [kind] = Object.keys(op);
      if (kind === 'insertOne' || op[kind].collation) return op;
      return { [kind]: { ...op[kind], collation: SIMPLE } };
    });
    return args;
  }
  const at = OPTIONS_AT[method];
  if (at === undefined) return args;
  while (args.length < at) args.push(method === 'distinct' && args.length === 1 ? {} : undefined);
  const o = args[at] || {};
  if (!o.collation) args[at] = { ...o, collation: SIMPLE };
  return args;
}

/**
 * `$graphLookup`'s restrictSearchWithMatch is scoped like a filter (docs/enforcement.md), so the same rule
 * applies to it, at any depth of $facet / $lookup / $unionWith nesting.
 */
function exactInGraphLookups(value, depth) {
  if (depth > 40 || !value || typeof value !== 'object' || value instanceof Date) return;
  if (Array.isArray(value)) {
    for (const v of value) exactInGraphLookups(v, depth + 1);
    return;
  }
  const g = value.$graphLookup;
  if (g && typeof g === 'object' && g.restrictSearchWithMatch) g.restrictSearchWithMatch = exactTenant(g.restrictSearchWithMatch);
  for (const v of Object.values(value)) exactInGraphLookups(v, depth + 1);
}

/** Applies `exactTenant` to the filter (or leading $match) of a call with a guarding collation. */
function exactUnderCollation(method, args, collectionDefault = false) {
  if (method === 'aggregate') {
    if (guarded(args[1], collectionDefault)) {
      if (args[0][0] && args[0][0].$match) args[0][0] = { $match: exactTenant(args[0][0].$match) };
      exactInGraphLookups(args[0], 0);
    }
    return args;
  }
  if (method === 'distinct') {
    if (guarded(args[2], collectionDefault)) args[1] = exactTenant(args[1]);
    return args;
  }
  if (method === 'bulkWrite' || method.startsWith('insert')) return args;
  const optsIndex = args.length - 1;
  if (guarded(args[optsIndex], collectionDefault)) args[0] = exactTenant(args[0]);
  return args;
}

function stampWrites(c, args, collectionDefault = false) {
  const opts = (i) => args[i] || {};
  switch (c.method) {
    case 'insertOne':
      return [stamp(args[0]), ...args.slice(1)];
    case 'insertMany':
      return [args[0].map(stamp), ...args.slice(1)];
    case 'updateOne':
    case 'updateMany':
    case 'findOneAndUpdate':
      return [upsertFilter(args[0], opts(2).upsert), forceTenant(args[1]), args[2]];
    case 'replaceOne':
    case 'findOneAndReplace':
      return [upsertFilter(args[0], opts(2).upsert), stamp(args[1]), args[2]];
    case 'bulkWrite':
      return [args[0].map((op) => bulkOp(op, collectionDefault)), ...args.slice(1)];
    default:
      return args;
  }
}

/** `toReference(c)` with the filter narrowed to the document `_id` (see oracle retryPinned). */
function pinTo(c, _id, world) {
  const args = toReference(c, world);
  args[0] = { $and: [args[0], { _id }] };
  return args;
}

module.exports = { toReference, pinTo };
