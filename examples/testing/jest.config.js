module.exports = {
  testEnvironment: 'node',
  globalSetup: 'tenantfence/testing/global-setup',
  globalTeardown: 'tenantfence/testing/global-teardown',
};
