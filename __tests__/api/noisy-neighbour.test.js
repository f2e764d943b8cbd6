'use strict';
// The noisy-neighbour test (issue 17): one tenant keeps 64 calls in flight; with quotas
// (maxConcurrent 1) the flood waits in its own tenant's queue in Rust, and another tenant's calls
// go straight through. Proved by the order of events, not by timing: the flood's first call is
// held on the server by the `failCommand` fail point (keyed to this fence's appName), and every
// one of quiet's calls must finish while it is still held. Behind one gate for every tenant
// (`scope::quota::gate_of` returning a constant) quiet's first call would wait for it, and this
// test fails: docs/red-team.md round 23. The latency goal (p99 under the flood within 2x of p99
// alone) is measured by `npm run bench:noisy` and written to bench/RESULTS.md: a timed assertion
// here failed on a loaded CI machine (2.11x-2.83x), and tests assert no timings.

const { TenantFence } = require('../..');
const { useSuite, uri, sleep } = require('../helpers/fixtures');

const suite = useSuite('noisy');
const FLOOD = 64;
const QUIET_CALLS = 50;
const HOLD_MS = 10_000;

const admin = () => suite.raw.db('admin');

/** How many `aggregate` commands (countDocuments) of `app` are on the server now. */
async function serverCounts(app) {
  const ops = await admin().aggregate([{ $currentOp: {} }, { $match: { appName: app, 'command.aggregate': { $exists: true } } }]).toArray();
  return ops.length;
}

afterEach(() => admin().command({ configureFailPoint: 'failCommand', mode: 'off' }));

test.each(['field', 'database'])("under '%s', a tenant's flood of 64 waits at its own gate while another tenant's calls go through", async (strategy) => {
  const app = `nn_${strategy}_${Date.now()}`;
  const f = suite.closeAfter(
    await TenantFence.connect(`${uri()}${uri().includes('?') ? '&' : '?'}appName=${app}`, {
      database: suite.DB,
      strategy,
      quotas: { maxConcurrent: 1, maxQueue: FLOOD },
    }),
  );
  const c = f.collection(`nn_${strategy}`);
  await f.runAs('noisy', () => c.insertMany(Array.from({ length: 20 }, (_, i) => ({ i, who: 'noisy' }))));
  await f.runAs('quiet', () => c.insertMany(Array.from({ length: 20 }, (_, i) => ({ i, who: 'quiet' }))));
  // Only the next count of this fence is held; quiet's finds are never blocked by the server.
  await admin().command({
    configureFailPoint: 'failCommand',
    mode: { times: 1 },
    data: { failCommands: ['aggregate'], blockConnection: true, blockTimeMS: HOLD_MS, appName: app },
  });

  let done = 0;
  const results = Array.from({ length: FLOOD }, () => f.runAs('noisy', () => c.countDocuments({}).then((n) => (done++, n))));
  while ((await serverCounts(app)) === 0) await sleep(10);

  for (let k = 0; k < QUIET_CALLS; k++) {
    const d = await f.runAs('quiet', () => c.findOne({ i: k % 20 }));
    expect([d.who, d.i]).toEqual(['quiet', k % 20]);
  }
  // Every quiet call finished while the flood's first call was still held: none of noisy's is
  // done, and the server still sees exactly one of them (the other 63 wait in Rust, unsent).
  expect(done).toBe(0);
  expect(await serverCounts(app)).toBe(1);

  await admin().command({ configureFailPoint: 'failCommand', mode: 'off' });
  // Turning the fail point off does not release a command already sleeping in it.
  expect(await Promise.all(results)).toEqual(Array(FLOOD).fill(20));
}, HOLD_MS + 30_000);
