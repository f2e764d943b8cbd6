'use strict';
// Every entry point of the public API, one row per argument and placement, for the hostile-input
// catalogue. `call(g, kind, env)` puts the garbage `g` in that argument: `whole` replaces the
// argument, `nested` puts it inside an otherwise valid argument (see hostile-kinds.field).
// `env` = { fence, C (collection name), uri, DB, connected (collects fences to close) }.
// Collection rows run inside runAs('a'); the target document `target-a` exists for tenant a.

const { field } = require('./hostile-kinds');

const TARGET = { _id: 'target-a' };
/** The one document of tenant a the rows aim at, as seeded. */
const SEED_A = { _id: 'target-a', tenantId: 'a', v: 1 };
const col = (env) => env.fence.collection(env.C);
const opts = (kind, g) => ({ comment: field(kind, g) });

/**
 * [entry, argument, placement, call, argPattern (what a TypeError must name), stores]
 * `stores(F, g)`, for rows that can write: what a successful call leaves in the collection, given
 * F = how the garbage field reads back (see STORED in hostile.test.js): `added` documents (without
 * _id), the `target` document after (null: deleted), `indexes` created (keys).
 */
const COLLECTION_ROWS = [
  // A whole document that is an operator ({ $ne: 'a' }) is a document with a `$`-prefixed field,
  // which MongoDB 5.0+ stores and the driver sends: stored as it is, with the tenant.
  ['insertOne', 'doc', 'whole', (g, k, e) => col(e).insertOne(g), /doc/, () => ({ added: [{ tenantId: 'a', $ne: 'a' }] })],
  ['insertOne', 'doc', 'nested', (g, k, e) => col(e).insertOne({ cell: 1, ...field(k, g) }), /doc/, (F) => ({ added: [{ tenantId: 'a', cell: 1, ...F }] })],
  ['insertOne', 'options', 'whole', (g, k, e) => col(e).insertOne({ cell: 1 }, g), /options/],
  ['insertOne', 'options', 'nested', (g, k, e) => col(e).insertOne({ cell: 1 }, opts(k, g)), /options/, () => ({ added: [{ tenantId: 'a', cell: 1 }] })],
  ['insertMany', 'docs', 'whole', (g, k, e) => col(e).insertMany(g), /docs/],
  ['insertMany', 'docs', 'nested', (g, k, e) => col(e).insertMany([{ cell: 1 }, { cell: 2, ...field(k, g) }]), /docs\[1\]|document field/, (F) => ({ added: [{ tenantId: 'a', cell: 1 }, { tenantId: 'a', cell: 2, ...F }] })],
  ['insertMany', 'docs', 'element', (g, k, e) => col(e).insertMany([{ cell: 1 }, g], { ordered: false }), /docs\[1\]|document field/, () => ({ added: [{ tenantId: 'a', cell: 1 }, { tenantId: 'a', $ne: 'a' }] })],
  ['findOne', 'filter', 'whole', (g, k, e) => col(e).findOne(g), /filter/],
  ['findOne', 'filter', 'nested', (g, k, e) => col(e).findOne(field(k, g)), /filter/],
  ['findOne', 'options', 'whole', (g, k, e) => col(e).findOne({}, g), /options/],
  ['findOne', 'options', 'nested', (g, k, e) => col(e).findOne({}, { projection: field(k, g) }), /options|projection/],
  ['find', 'filter', 'whole', (g, k, e) => col(e).find(g).toArray(), /filter/],
  ['find', 'filter', 'nested', (g, k, e) => col(e).find(field(k, g)).toArray(), /filter/],
  ['find', 'options', 'whole', (g, k, e) => col(e).find({}, g).toArray(), /options/],
  ['find', 'options', 'nested', (g, k, e) => col(e).find({}, { sort: field(k, g) }).toArray(), /options|sort/],
  ['countDocuments', 'filter', 'whole', (g, k, e) => col(e).countDocuments(g), /filter/],
  ['countDocuments', 'filter', 'nested', (g, k, e) => col(e).countDocuments(field(k, g)), /filter/],
  ['countDocuments', 'options', 'nested', (g, k, e) => col(e).countDocuments({}, opts(k, g)), /options/],
  ['estimatedDocumentCount', 'options', 'whole', (g, k, e) => col(e).estimatedDocumentCount(g), /options/],
  ['distinct', 'key', 'whole', (g, k, e) => col(e).distinct(g), /key/],
  ['distinct', 'filter', 'nested', (g, k, e) => col(e).distinct('v', field(k, g)), /filter/],
  ['updateOne', 'filter', 'whole', (g, k, e) => col(e).updateOne(g, { $set: { cell: 1 } }), /filter/],
  ['updateOne', 'filter', 'nested', (g, k, e) => col(e).updateOne(field(k, g), { $set: { cell: 1 } }), /filter/, () => ({ target: { ...SEED_A, cell: 1 } })],
  ['updateOne', 'update', 'whole', (g, k, e) => col(e).updateOne(TARGET, g), /update/],
  ['updateOne', 'update', 'nested', (g, k, e) => col(e).updateOne(TARGET, { $set: field(k, g) }), /update/, (F) => ({ target: { ...SEED_A, ...F } })],
  ['updateOne', 'options', 'nested', (g, k, e) => col(e).updateOne(TARGET, { $set: { cell: 1 } }, opts(k, g)), /options/, () => ({ target: { ...SEED_A, cell: 1 } })],
  ['updateMany', 'update', 'pipeline', (g, k, e) => col(e).updateMany(TARGET, [{ $set: field(k, g) }]), /update/, (F) => ({ target: { ...SEED_A, ...F } })],
  ['replaceOne', 'replacement', 'whole', (g, k, e) => col(e).replaceOne(TARGET, g), /replacement/],
  ['replaceOne', 'replacement', 'nested', (g, k, e) => col(e).replaceOne(TARGET, { cell: 1, ...field(k, g) }), /replacement/, (F) => ({ target: { ...TARGET, tenantId: 'a', cell: 1, ...F } })],
  ['deleteOne', 'filter', 'whole', (g, k, e) => col(e).deleteOne(g), /filter/],
  ['deleteMany', 'filter', 'nested', (g, k, e) => col(e).deleteMany(field(k, g)), /filter/, () => ({ target: null })],
  ['deleteMany', 'options', 'whole', (g, k, e) => col(e).deleteMany({ none: 1 }, g), /options/],
  ['findOneAndUpdate', 'update', 'nested', (g, k, e) => col(e).findOneAndUpdate(TARGET, { $set: field(k, g) }), /update/, (F) => ({ target: { ...SEED_A, ...F } })],
  ['findOneAndUpdate', 'options', 'whole', (g, k, e) => col(e).findOneAndUpdate(TARGET, { $set: { cell: 1 } }, g), /options/],
  ['findOneAndReplace', 'replacement', 'nested', (g, k, e) => col(e).findOneAndReplace(TARGET, { cell: 1, ...field(k, g) }), /replacement/, (F) => ({ target: { ...TARGET, tenantId: 'a', cell: 1, ...F } })],
  ['findOneAndDelete', 'filter', 'whole', (g, k, e) => col(e).findOneAndDelete(g), /filter/],
  ['findOneAndDelete', 'options', 'nested', (g, k, e) => col(e).findOneAndDelete({ none: 1 }, { sort: field(k, g) }), /options|sort/],
  ['bulkWrite', 'operations', 'whole', (g, k, e) => col(e).bulkWrite(g), /operations/],
  ['bulkWrite', 'operations', 'element', (g, k, e) => col(e).bulkWrite([{ insertOne: { document: { cell: 1 } } }, g], { ordered: false }), /operations/],
  ['bulkWrite', 'operations', 'nested', (g, k, e) => col(e).bulkWrite([{ insertOne: { document: { cell: 1 } } }, { insertOne: { document: field(k, g) } }], { ordered: false }), /operations|document field/, (F) => ({ added: [{ tenantId: 'a', cell: 1 }, { tenantId: 'a', ...F }] })],
  ['bulkWrite', 'operations', 'update', (g, k, e) => col(e).bulkWrite([{ insertOne: { document: { cell: 1 } } }, { updateOne: { filter: TARGET, update: { $set: field(k, g) } } }]), /operations/, (F) => ({ added: [{ tenantId: 'a', cell: 1 }], target: { ...SEED_A, ...F } })],
  ['bulkWrite', 'options', 'whole', (g, k, e) => col(e).bulkWrite([{ insertOne: { document: { cell: 1 } } }], g), /options/],
  ['aggregate', 'pipeline', 'whole', (g, k, e) => col(e).aggregate(g).toArray(), /pipeline/],
  ['aggregate', 'pipeline', 'nested', (g, k, e) => col(e).aggregate([{ $match: field(k, g) }]).toArray(), /pipeline/],
  ['aggregate', 'pipeline', 'element', (g, k, e) => col(e).aggregate([{ $match: {} }, g]).toArray(), /pipeline/],
  ['aggregate', 'options', 'nested', (g, k, e) => col(e).aggregate([], opts(k, g)).toArray(), /options/],
  ['createIndex', 'spec', 'whole', (g, k, e) => col(e).createIndex(g), /indexSpec/, (F) => ({ indexes: [{ tenantId: 1, [F.f]: 1 }] })],
  ['createIndex', 'spec', 'nested', (g, k, e) => col(e).createIndex(field(k, g)), /indexSpec/, (F) => ({ indexes: [{ tenantId: 1, ...F }] })],
  ['createIndex', 'options', 'nested', (g, k, e) => col(e).createIndex({ v: 1 }, { name: g }), /options|name/, () => ({ indexes: [{ tenantId: 1, v: 1 }] })],
  ['find().sort', 'spec', 'whole', (g, k, e) => col(e).find({}).sort(g).toArray(), /sort/],
  ['find().limit', 'n', 'whole', (g, k, e) => col(e).find({}).limit(g).toArray(), /limit/],
  ['find().skip', 'n', 'whole', (g, k, e) => col(e).find({}).skip(g).toArray(), /skip/],
  ['find().project', 'projection', 'whole', (g, k, e) => col(e).find({}).project(g).toArray(), /projection/],
  ['find().project', 'projection', 'nested', (g, k, e) => col(e).find({}).project(field(k, g)).toArray(), /projection/],
  ['find().batchSize', 'n', 'whole', (g, k, e) => col(e).find({}).batchSize(g).toArray(), /batchSize/],
  ['aggregate().sort', 'spec', 'nested', (g, k, e) => col(e).aggregate([]).sort(field(k, g)).toArray(), /sort/],
  ['aggregate().limit', 'n', 'whole', (g, k, e) => col(e).aggregate([]).limit(g).toArray(), /limit/],
  ['aggregate().skip', 'n', 'whole', (g, k, e) => col(e).aggregate([]).skip(g).toArray(), /skip/],
  ['aggregate().batchSize', 'n', 'whole', (g, k, e) => col(e).aggregate([]).batchSize(g).toArray(), /batchSize/],
  ['aggregate().project', 'projection', 'nested', (g, k, e) => col(e).aggregate([]).project(field(k, g)).toArray(), /projection|\$project/],
];

/** Rows that need no tenant context: connecting, entering contexts, middleware, handles. */
const CONTEXT_ROWS = [
  ['connect', 'uri', 'whole', async (g, k, e) => e.connected.push(await require('../..').TenantFence.connect(g, { database: e.DB, serverSelectionTimeoutMS: 2000 })), /uri/],
  ['connect', 'options', 'whole', async (g, k, e) => e.connected.push(await require('../..').TenantFence.connect(e.uri, g)), /options/],
  ['connect', 'options', 'database', async (g, k, e) => e.connected.push(await require('../..').TenantFence.connect(e.uri, { database: g })), /database/],
  ['connect', 'options', 'tenantField', async (g, k, e) => e.connected.push(await require('../..').TenantFence.connect(e.uri, { database: e.DB, tenantField: g })), /tenantField/],
  ['connect', 'options', 'unknown', async (g, k, e) => e.connected.push(await require('../..').TenantFence.connect(e.uri, { database: e.DB, ...field(k, g) })), /options/],
  ['runAs', 'tenantId', 'whole', (g, k, e) => e.fence.runAs(g, () => col(e).insertOne({ cell: 1 })), /tenant/],
  ['runAs', 'fn', 'whole', (g, k, e) => e.fence.runAs('a', g), /fn/],
  ['runAsSystem', 'options', 'whole', (g, k, e) => e.fence.runAsSystem(g, () => col(e).insertOne({ cell: 1, tenantId: 'a' })), /options/],
  ['runAsSystem', 'options', 'reason', (g, k, e) => e.fence.runAsSystem({ reason: g }, () => col(e).insertOne({ cell: 1, tenantId: 'a' })), /reason/, () => ({ added: [{ tenantId: 'a', cell: 1 }] })],
  ['runAsSystem', 'fn', 'whole', (g, k, e) => e.fence.runAsSystem({ reason: 'hostile' }, g), /fn/],
  ['runAsSystem', 'doc', 'tenantField', (g, k, e) => e.fence.runAsSystem({ reason: 'hostile' }, () => col(e).insertOne({ cell: 1, tenantId: g })), /doc/],
  ['middleware', 'options', 'whole', (g, k, e) => e.fence.middleware(g), /options|middleware/],
  ['middleware', 'options', 'header', (g, k, e) => e.fence.middleware({ header: g }), /header/],
  ['middleware', 'options', 'resolve', (g, k, e) => e.fence.middleware({ resolve: g }), /resolve/],
  ['collection', 'name', 'whole', (g, k, e) => e.fence.runAs('a', () => e.fence.collection(g).insertOne({ cell: 1 })), /name/],
  ['bind', 'fn', 'whole', (g, k, e) => e.fence.runAs('a', () => e.fence.bind(g)), /fn/],
];

module.exports = { COLLECTION_ROWS, CONTEXT_ROWS, TARGET, SEED_A };
