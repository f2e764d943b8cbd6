'use strict';
// docs/migrating-from-mongoose.md, its "After" code run for real: data as a Mongoose plugin
// stored it (ObjectId tenant ids, __v), the page's mongosh step that converts it, then the
// page's notes.js (the fence's collections) and models.js (Mongoose on tenantfence/mongoose),
// loaded from a folder where `tenantfence` and `mongoose` resolve like installed packages.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ObjectId } = require('mongodb');
const { ROOT, readDoc, codeBlocks } = require('../helpers/markdown');
const { useSuite } = require('../helpers/fixtures');

const blocks = codeBlocks(readDoc('docs/migrating-from-mongoose.md'));
const suite = useSuite('migdoc');

/** Runs the page's mongosh lines with `db.<collection>` bound to the real database. */
async function runMongosh(code, db) {
  const shell = new Proxy({}, { get: (_, name) => db.collection(String(name)) });
  for (const line of code.split('\n').filter((l) => l.trim())) {
    await new Function('db', `return (${line});`)(shell);
  }
}

describe('docs/migrating-from-mongoose.md', () => {
  const A = new ObjectId();
  const B = new ObjectId();
  let repo;
  let dir;
  const ids = {};

  beforeAll(async () => {
    const notes = suite.rdb.collection('notes');
    // What the plugin left behind: tenantIdType ObjectId, Mongoose's version key.
    const r = await notes.insertMany([
      { tenantId: A, text: 'a1', tags: ['x'], createdAt: new Date(1000), __v: 0 },
      { tenantId: A, text: 'a2', tags: ['y'], createdAt: new Date(2000), __v: 0 },
      { tenantId: B, text: 'b1', tags: ['secret'], createdAt: new Date(3000), __v: 0 },
    ]);
    [ids.a1, ids.a2, ids.b1] = Object.values(r.insertedIds).map(String);

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantfence-migration-'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'tenantfence'), 'dir');
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'mongoose'), path.join(dir, 'node_modules', 'mongoose'), 'dir');
    const files = blocks.filter((b) => b.attrs.file);
    expect(files.map((b) => b.attrs.file)).toEqual(['models.js', 'notes.js']);
    for (const b of files) fs.writeFileSync(path.join(dir, b.attrs.file), b.code);
    repo = require(path.join(dir, 'notes.js')).notesRepository(suite.fence);
  });

  let models;

  afterAll(async () => {
    if (models) await models.mongoose.disconnect();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('before the data step the fence sees none of the ObjectId-tagged notes', async () => {
    expect(await suite.fence.runAs(A.toHexString(), () => repo.list())).toEqual([]);
  });

  test('the mongosh step turns the tenant ids into strings, and nothing else', async () => {
    const step = blocks.filter((b) => b.attrs.mongosh);
    expect(step).toHaveLength(1);
    await runMongosh(step[0].code, suite.rdb);
    const stored = await suite.rdb.collection('notes').find({}, { sort: { createdAt: 1 } }).toArray();
    expect(stored.map((d) => [d.tenantId, d.text, d.__v])).toEqual([
      [A.toHexString(), 'a1', 0],
      [A.toHexString(), 'a2', 0],
      [B.toHexString(), 'b1', 0],
    ]);
  });

  test("notes.js lists, reads, creates, renames and removes only the current tenant's notes", async () => {
    await suite.fence.runAs(A.toHexString(), async () => {
      expect((await repo.list()).map((n) => n.text)).toEqual(['a2', 'a1']);
      expect((await repo.get(ids.a1)).text).toBe('a1');
      expect(await repo.get(ids.b1)).toBeNull();
      expect((await repo.tags()).sort()).toEqual(['x', 'y']);

      const created = await repo.create('a3');
      expect(created._id).toBeInstanceOf(ObjectId);
      expect((await repo.rename(String(created._id), 'a3!')).text).toBe('a3!');
      // Another tenant's _id matches nothing, whatever the caller knows.
      expect(await repo.rename(ids.b1, 'taken')).toBeNull();
      expect((await repo.remove(ids.b1)).deletedCount).toBe(0);
      expect((await repo.remove(ids.a2)).deletedCount).toBe(1);
    });
    const stored = await suite.rdb.collection('notes').find({}, { sort: { createdAt: 1 } }).toArray();
    expect(stored.map((d) => [d.tenantId, d.text])).toEqual([
      [A.toHexString(), 'a1'],
      [B.toHexString(), 'b1'],
      [A.toHexString(), 'a3!'],
    ]);
  });

  test('what the page says differs from Mongoose: no $set wrapping, before-image by default, no tenant outside runAs', async () => {
    const notes = suite.fence.collection('notes');
    await suite.fence.runAs(A.toHexString(), async () => {
      await expect(notes.updateOne({ _id: new ObjectId(ids.a1) }, { text: 'bare' })).rejects.toBeInstanceOf(TypeError);
      const before = await notes.findOneAndUpdate({ _id: new ObjectId(ids.a1) }, { $set: { text: 'a1!' } });
      expect(before.text).toBe('a1');
    });
    expect(() => repo.list()).toThrow(expect.objectContaining({ code: 'TENANT_MISSING' }));
  });

  test('models.js: the same data through Mongoose on the driver, each tenant only its own notes', async () => {
    models = require(path.join(dir, 'models.js'));
    const fence = await models.connect(process.env.MONGODB_URI, { dbName: suite.DB });
    const a = A.toHexString();
    await fence.runAs(a, async () => {
      expect((await models.list()).map((n) => [n.text, n.tenantId])).toEqual([
        ['a3!', a],
        ['a1!', a],
      ]);
      expect((await models.rename(ids.a1, 'a1?')).text).toBe('a1?');
      expect(await models.rename(ids.b1, 'taken')).toBeNull();
      const created = await models.Note.create({ text: 'a4', tags: ['z'] });
      expect(created.createdAt).toBeInstanceOf(Date); // the schema's default
    });
    await fence.runAs(B.toHexString(), async () => {
      expect((await models.list()).map((n) => n.text)).toEqual(['b1']);
      expect(await models.Note.countDocuments()).toBe(1);
    });
    await expect(models.list()).rejects.toMatchObject({ code: 'TENANT_MISSING' });
    const stored = await suite.rdb.collection('notes').find({}, { sort: { createdAt: 1 } }).toArray();
    expect(stored.map((d) => [d.tenantId, d.text])).toEqual([
      [a, 'a1?'],
      [B.toHexString(), 'b1'],
      [a, 'a3!'],
      [a, 'a4'],
    ]);
  });
});
