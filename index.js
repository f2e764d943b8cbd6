'use strict';
// tenantfence: tenant isolation for Express apps on MongoDB, enforced in Rust.

const { TenantFence } = require('./lib/fence');
const { FenceSession } = require('./lib/session');
const errors = require('./lib/errors');

const { TenantError, TenantFenceError } = errors;
// The driver's error classes, so `err instanceof MongoServerError` works (docs/errors.md).
const MONGO_ERRORS = ['MongoError', 'MongoServerError', 'MongoWriteConcernError', 'MongoBulkWriteError', 'MongoDriverError', 'MongoNetworkError', 'MongoServerSelectionError', 'MongoClientClosedError', 'MongoAPIError', 'MongoTransactionError', 'MongoExpiredSessionError', 'MongoOperationTimeoutError', 'MongoCompatibilityError'];
const { ObjectId, Decimal128, Long, Binary, Timestamp } = require('bson');

const { BulkWriteResult, WriteError } = require('./lib/results');
const { sendJSON } = require('./lib/send-json');

module.exports = { TenantFence, TenantError, TenantFenceError, FenceSession, BulkWriteResult, WriteError, sendJSON, ObjectId, Decimal128, Long, Binary, Timestamp };
for (const name of MONGO_ERRORS) module.exports[name] = errors[name];
