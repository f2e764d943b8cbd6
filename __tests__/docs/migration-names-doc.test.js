'use strict';
// docs/migration-database-names.md, its script run for real: tenant databases under the old
// names `<base>_<tenantId>` (seeded by the raw driver), the page's migrate(), then the fence finds
// each tenant's documents and indexes in fence.databaseFor(tenantId), and the app's own
// `<base>_billing` is left alone.

const { readDoc, codeBlocks } = require('../helpers/markdown');
const { useSuite, uri, dbName } = require('../helpers/fixtures');
const { TenantFence } = require('../..');

const suite = useSuite('mignames');

/** The page's script as a function `migrate(uri, base, tenantIds)` (its last line, the call, dropped). */
function pageMigrate(logged) {
  const blocks = codeBlocks(readDoc('docs/migration-database-names.md')).filter((b) => b.lang === 'js');
  expect(blocks).toHaveLength(1);
  const code = blocks[0].code.replace(/^migrate\(process\.env\.MONGODB_URI.*$/m, 'return migrate;');
  expect(code).toContain('return migrate;');
  const load = (name) => require(name === 'tenantfence' ? '../..' : name);
  return new Function('require', 'process', 'console', code)(load, process, { log: (...a) => logged.push(a.join(' ')), error: () => {} });
}

describe('docs/migration-database-names.md', () => {
  const tenants = ['acme', 'Globex', 'eu_x', 'a-b'];

  test('the script moves every <base>_<tenantId> database to fence.databaseFor(tenantId), and can run again', async () => {
    const base = dbName('mn');
    const old = (t) => suite.raw.db(suite.dropAfter(`${base}_${t}`));
    for (const t of tenants) {
      await old(t).collection('notes').insertMany([{ _id: `${t}-1`, text: `${t} one` }, { _id: `${t}-2`, text: `${t} two` }]);
      await old(t).collection('notes').createIndex({ text: 1 }, { unique: true });
      await old(t).collection('users').insertOne({ _id: `${t}-u`, name: t });
    }
    // The app's own database that tenant 'billing' used to open: not in the list, not touched.
    const own = suite.raw.db(suite.dropAfter(`${base}_billing`));
    await own.collection('ledger').insertOne({ _id: 'secret' });

    const logged = [];
    const migrate = pageMigrate(logged);
    await migrate(uri(), base, tenants);
    expect(logged).toHaveLength(tenants.length);

    const fence = suite.closeAfter(await TenantFence.connect(uri(), { database: base, strategy: 'database' }));
    for (const t of tenants) {
      suite.dropAfter(fence.databaseFor(t));
      const notes = await fence.runAs(t, () => fence.collection('notes').find({}).sort({ _id: 1 }).toArray());
      expect(notes).toEqual([{ _id: `${t}-1`, text: `${t} one` }, { _id: `${t}-2`, text: `${t} two` }]);
      expect(await fence.runAs(t, () => fence.collection('users').findOne({}))).toEqual({ _id: `${t}-u`, name: t });
      const indexes = await suite.raw.db(fence.databaseFor(t)).collection('notes').listIndexes().toArray();
      expect(indexes.find((i) => i.key.text === 1)).toMatchObject({ unique: true });
      expect(await old(t).listCollections().toArray()).toEqual([]);
    }
    expect(await fence.runAs('billing', () => fence.collection('ledger').find({}).toArray())).toEqual([]);
    expect(await own.collection('ledger').find({}).toArray()).toEqual([{ _id: 'secret' }]);

    // Run again (after a failure, say): nothing left to move, nothing broken.
    await migrate(uri(), base, tenants);
    for (const t of tenants) {
      expect(await fence.runAs(t, () => fence.collection('notes').countDocuments({}))).toBe(2);
    }
  });
});
