'use strict';
// tenantfence/testing: helpers for an app's own Jest suites.

const globalSetup = require('./global-setup');
const globalTeardown = require('./global-teardown');
const { withTenant } = require('./with-tenant');
const { isolationProbe, useIsolationProbe, probeCommand, auditCommand } = require('./probe');

module.exports = { globalSetup, globalTeardown, withTenant, isolationProbe, useIsolationProbe, probeCommand, auditCommand };
