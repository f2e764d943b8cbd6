'use strict';
// tenantfence: tenant isolation for Express apps on MongoDB, enforced in Rust.

const { TenantFence } = require('./lib/fence');
const { TenantError, TenantFenceError } = require('./lib/errors');
const { ObjectId, Decimal128, Long, Binary, Timestamp } = require('bson');

module.exports = { TenantFence, TenantError, TenantFenceError, ObjectId, Decimal128, Long, Binary, Timestamp };
