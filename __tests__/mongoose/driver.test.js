'use strict';
// tenantfence/mongoose over real models, called directly (fence.runAs): every Model, Query and
// Document method the issue names, with three tenants; each sees and changes only its own
// documents, refusals reject with the TenantError, and no context is TENANT_MISSING. The raw
// driver is the oracle for what is stored. Run for Mongoose 9 and Mongoose 8.

const { uri, dbName, rawClient } = require('../helpers/fixtures');
const { ObjectId } = require('mongodb');
const { TenantError } = require('../..');
const { mongooseOn, defineModels } = require('./models');

const TENANTS = ['acme', 'globex', 'initech'];

describe.each([['mongoose'], ['mongoose8']])('%s on tenantfence', (pkg) => {
  let m;
  let M;
  let fence;
  let raw;
  let DB;
  const ids = {}; // per tenant: { author, book, books: [] }

  const as = (t, fn) => fence.runAs(t, fn);

  beforeAll(async () => {
    DB = dbName(`mg${pkg === 'mongoose' ? 9 : 8}`);
    raw = await rawClient();
    m = mongooseOn(pkg);
    M = defineModels(m);
    await m.connect(uri(), { database: DB });
    fence = m.connection.fence;
    await Promise.all(Object.values(m.models).map((Model) => Model.init()));
    for (const t of TENANTS) {
      await as(t, async () => {
        const author = await M.Author.create({ name: `author of ${t}`, email: 'same@example.com' });
        const books = await M.Book.create([
          { title: `${t} one`, author: author._id, pages: 100, tags: [t] },
          { title: `${t} two`, author: author._id, pages: 200, tags: [t, 'x'] },
        ]);
        ids[t] = { author: author._id, book: books[0]._id, books: books.map((b) => b._id) };
      });
    }
  });

  afterAll(async () => {
    if (m) await m.disconnect();
    if (raw) {
      await raw.db(DB).dropDatabase();
      await raw.close();
    }
  });

  const stored = (coll, filter = {}) => raw.db(DB).collection(coll).find(filter).toArray();
  // The oracle's own ObjectId for an id Mongoose made (Mongoose 9's are bson 7's).
  const oid = (id) => new ObjectId(String(id));
  const oids = (list) => ({ $in: list.map(oid) });

  test('connect: autoCreate and autoIndex ran as system, each index led by the tenant field', async () => {
    const idx = await raw.db(DB).collection('authors').indexes();
    const email = idx.find((i) => i.key.email === 1);
    expect(Object.keys(email.key)).toEqual(['tenantId', 'email']);
    expect(email.unique).toBe(true);
    // unique per tenant: every tenant created an author with the same email
    expect((await stored('authors', { email: 'same@example.com' })).map((a) => a.tenantId).sort()).toEqual([...TENANTS].sort());
  });

  test('documents are stamped though no schema declares the tenant field', async () => {
    for (const t of TENANTS) {
      const books = await stored('books', { _id: oids(ids[t].books) });
      expect(books.map((b) => b.tenantId)).toEqual([t, t]);
    }
  });

  test('reads: find, findOne, findById, exists, counts, distinct see only the tenant', async () => {
    for (const t of TENANTS) {
      await as(t, async () => {
        const all = await M.Book.find().sort({ pages: 1 });
        expect(all.map((b) => b.title)).toEqual([`${t} one`, `${t} two`]);
        expect(all[0].label).toBe(`${t} one (100)`); // virtual
        expect(all[0].slug).toBe(`${t}-one`); // pre('save') hook
        expect(all[0].createdAt).toBeInstanceOf(Date); // timestamps
        expect(await M.Book.countDocuments()).toBe(2);
        expect(await M.Book.estimatedDocumentCount()).toBe(2);
        expect((await M.Book.distinct('tags')).sort()).toEqual([t, 'x'].sort());
        const lean = await M.Book.find({}, { title: 1 }).lean();
        expect(lean).toHaveLength(2);
        for (const o of TENANTS.filter((x) => x !== t)) {
          expect(await M.Book.findById(ids[o].book)).toBeNull();
          expect(await M.Book.findOne({ _id: ids[o].book })).toBeNull();
          expect(await M.Book.exists({ _id: ids[o].book })).toBeNull();
          expect(await M.Book.countDocuments({ tenantId: o }).setOptions({ strictQuery: false })).toBe(0);
          expect(await M.Book.find({ $or: [{ tenantId: o }, { title: `${o} one` }] }).setOptions({ strictQuery: false })).toEqual([]);
        }
      });
    }
  });

  test('populate and virtual populate resolve only the tenant\'s documents', async () => {
    // acme's book points at globex's author: populate must not bring it in
    const stray = await as('acme', () => M.Book.create({ title: 'stray', author: ids.globex.author }));
    await as('acme', async () => {
      const b = await M.Book.findById(stray._id).populate('author');
      expect(b.author).toBeNull();
      const own = await M.Book.findById(ids.acme.book).populate('author');
      expect(own.author.name).toBe('author of acme');
      const a = await M.Author.findById(ids.acme.author).populate('books');
      expect(a.books.map((x) => x.title).sort()).toEqual(['acme one', 'acme two']);
      await M.Book.deleteOne({ _id: stray._id });
    });
    await as('globex', async () => {
      const a = await M.Author.findById(ids.globex.author).populate('books');
      expect(a.books.map((x) => x.title).sort()).toEqual(['globex one', 'globex two']);
    });
  });

  test('aggregate with $lookup joins only the tenant\'s documents', async () => {
    await as('acme', () => M.Book.create({ title: 'stray2', author: ids.initech.author }));
    await as('acme', async () => {
      const rows = await M.Book.aggregate([
        { $lookup: { from: 'authors', localField: 'author', foreignField: '_id', as: 'a' } },
        { $project: { title: 1, names: '$a.name', tenantId: 1 } },
        { $sort: { title: 1 } },
      ]);
      expect(rows.map((r) => [r.title, r.names])).toEqual([
        ['acme one', ['author of acme']],
        ['acme two', ['author of acme']],
        ['stray2', []],
      ]);
      expect(new Set(rows.map((r) => r.tenantId))).toEqual(new Set(['acme']));
      await M.Book.deleteOne({ title: 'stray2' });
    });
  });

  test("what Mongoose reads holds its own bson classes (Mongoose 9's bson 7): instanceof and equality hold", async () => {
    const { ObjectId: MObjectId } = m.Types;
    const t = TENANTS[0];
    const isOwn = (v) => v instanceof MObjectId;
    const read = await as(t, async () => ({
      hydrated: await M.Book.findOne({ _id: ids[t].book }),
      lean: await M.Book.findOne({ _id: ids[t].book }).lean(),
      leanMany: await M.Book.find({ author: ids[t].author }).lean(),
      cursor: await M.Book.find({ author: ids[t].author }).lean().cursor().next(),
      aggregate: await M.Book.aggregate([{ $match: { author: ids[t].author } }, { $sort: { pages: 1 } }]),
      updated: await M.Book.findOneAndUpdate({ _id: ids[t].book }, { $inc: { pages: 0 } }, { new: true }).lean(),
      distinct: await M.Book.distinct('author', { _id: ids[t].book }),
      direct: await M.Book.collection.findOne({ _id: ids[t].book }),
      populated: await M.Book.findOne({ _id: ids[t].book }).populate('author').lean(),
    }));
    expect(isOwn(read.hydrated._id) && isOwn(read.hydrated.author)).toBe(true);
    expect(isOwn(read.lean._id) && isOwn(read.lean.author)).toBe(true);
    expect(read.leanMany.every((d) => isOwn(d._id))).toBe(true);
    expect(isOwn(read.cursor._id)).toBe(true);
    expect(read.aggregate.every((d) => isOwn(d._id) && isOwn(d.author))).toBe(true);
    expect(isOwn(read.updated._id)).toBe(true);
    expect(read.distinct.length === 1 && isOwn(read.distinct[0])).toBe(true);
    expect(isOwn(read.direct._id)).toBe(true);
    expect(isOwn(read.populated.author._id)).toBe(true);
    // Equal to the id Mongoose made at create, by the value equality apps and tests use.
    expect(read.lean._id).toEqual(ids[t].book);
    expect(read.lean.author.equals(ids[t].author)).toBe(true);
  });

  test('Query.cursor() / eachAsync and Model.find().cursor() read only the tenant', async () => {
    for (const t of TENANTS) {
      const seen = await as(t, async () => {
        const out = [];
        await M.Book.find().cursor().eachAsync((d) => out.push(d.title));
        const c = M.Book.find().sort({ pages: -1 }).cursor();
        for (let d = await c.next(); d != null; d = await c.next()) out.push(d.title);
        return out;
      });
      expect(seen.sort()).toEqual([`${t} one`, `${t} one`, `${t} two`, `${t} two`]);
    }
  });

  test('updates, replaceOne and deletes cannot reach another tenant', async () => {
    await as('globex', async () => {
      const target = { _id: ids.acme.book };
      expect((await M.Book.updateOne(target, { $set: { pages: 1 } })).matchedCount).toBe(0);
      expect((await M.Book.updateMany({ tenantId: 'acme' }, { $set: { pages: 1 } }).setOptions({ strictQuery: false })).matchedCount).toBe(0);
      expect((await M.Book.replaceOne(target, { title: 'hijack' })).matchedCount).toBe(0);
      expect((await M.Book.deleteOne(target)).deletedCount).toBe(0);
      expect((await M.Book.deleteMany({ _id: oids(ids.acme.books) })).deletedCount).toBe(0);
      // own documents do change
      expect((await M.Book.updateMany({}, { $inc: { pages: 1 } })).modifiedCount).toBe(2);
    });
    const acme = await stored('books', { _id: oids(ids.acme.books) });
    expect(acme.map((b) => b.pages).sort()).toEqual([100, 200]);
    const globex = await stored('books', { _id: oids(ids.globex.books) });
    expect(globex.map((b) => b.pages).sort()).toEqual([101, 201]);
    await as('globex', async () => await M.Book.updateMany({}, { $inc: { pages: -1 } }));
  });

  test('findOneAndUpdate / Replace / Delete see only the tenant', async () => {
    await as('initech', async () => {
      expect(await M.Book.findOneAndUpdate({ _id: ids.acme.book }, { title: 'x1' }, { returnDocument: 'after' })).toBeNull();
      expect(await M.Book.findOneAndReplace({ _id: ids.acme.book }, { title: 'x2' })).toBeNull();
      expect(await M.Book.findOneAndDelete({ _id: ids.acme.book })).toBeNull();
      expect(await M.Book.findByIdAndUpdate(ids.acme.book, { title: 'x3' })).toBeNull();
      expect(await M.Book.findByIdAndDelete(ids.acme.book)).toBeNull();
      const after = await M.Book.findOneAndUpdate({ _id: ids.initech.book }, { $set: { pages: 150 } }, { returnDocument: 'after' });
      expect(after.pages).toBe(150);
      const meta = await M.Book.findOneAndUpdate({ _id: ids.initech.book }, { $set: { pages: 100 } }, { includeResultMetadata: true });
      expect(meta.value.pages).toBe(150);
      expect(meta.lastErrorObject.updatedExisting).toBe(true);
      const up = await M.Book.findOneAndUpdate({ title: 'upserted' }, { $set: { pages: 5 } }, { upsert: true, returnDocument: 'after' });
      expect(up.title).toBe('upserted');
      const gone = await M.Book.findOneAndDelete({ title: 'upserted' });
      expect(String(gone._id)).toBe(String(up._id));
    });
    expect((await stored('books', { _id: oid(ids.acme.book) }))[0].title).toBe('acme one');
    expect(await stored('books', { title: 'upserted' })).toEqual([]);
  });

  test('bulkWrite, insertMany and bulkSave write only the tenant\'s documents', async () => {
    await as('acme', async () => {
      const r = await M.Book.bulkWrite([
        { insertOne: { document: { title: 'bulk one' } } },
        { updateOne: { filter: { _id: ids.globex.book }, update: { $set: { title: 'hijack' } } } },
        { updateMany: { filter: {}, update: { $set: { bulk: true } } } },
        { deleteOne: { filter: { _id: ids.globex.books[1] } } },
        { replaceOne: { filter: { _id: ids.initech.book }, replacement: { title: 'hijack' } } },
      ]);
      expect(r.insertedCount).toBe(1);
      expect(r.deletedCount).toBe(0);
      const many = await M.Book.insertMany([{ title: 'many one' }, { title: 'many two' }]);
      expect(many).toHaveLength(2);
      const docs = await M.Book.find({ title: { $in: ['many one', 'many two'] } });
      for (const d of docs) d.pages = 42;
      await M.Book.bulkSave(docs);
    });
    const globex = await stored('books', { _id: oids(ids.globex.books) });
    expect(globex.map((b) => b.title).sort()).toEqual(['globex one', 'globex two']);
    expect((await stored('books', { _id: oid(ids.initech.book) }))[0].title).toBe('initech one');
    const acmeNew = await stored('books', { title: { $in: ['bulk one', 'many one', 'many two'] } });
    expect(acmeNew.map((b) => b.tenantId)).toEqual(['acme', 'acme', 'acme']);
    expect(acmeNew.filter((b) => b.title.startsWith('many')).map((b) => b.pages)).toEqual([42, 42]);
    await as('acme', async () => await M.Book.deleteMany({ title: { $in: ['bulk one', 'many one', 'many two'] } }));
  });

  test('validation, defaults and save hooks run; doc.save() updates only the tenant\'s document', async () => {
    await as('acme', async () => {
      await expect(M.Book.create({ title: 'x' })).rejects.toMatchObject({ name: 'ValidationError' });
      const b = await M.Book.findById(ids.acme.book);
      b.title = 'Acme One';
      await b.save();
      expect(b.slug).toBe('acme-one');
      b.title = 'acme one';
      await b.save();
    });
    expect(M.saved).toEqual(expect.arrayContaining(['Acme One']));
  });

  test('doc.save() can never move a document to another tenant', async () => {
    const loose = await as('acme', () => M.Loose.create({ note: 'mine' }));
    expect((await stored('looses', { _id: oid(loose._id) }))[0].tenantId).toBe('acme');
    await as('acme', async () => {
      const d = await M.Loose.findById(loose._id);
      d.set('tenantId', 'globex'); // strict: false lets the model set it
      const err = await d.save().catch((e) => e);
      expect(err).toBeInstanceOf(TenantError);
      expect(err.code).toBe('TENANT_VIOLATION');
      await expect(M.Loose.create({ note: 'theirs', tenantId: 'globex' })).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
      await expect(M.Loose.updateOne({ _id: loose._id }, { $set: { tenantId: 'globex' } }, { strict: false })).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
      // strict schema: Mongoose drops the undeclared path, nothing moves
      const b = await M.Book.findById(ids.acme.book);
      b.set('tenantId', 'globex');
      await b.save();
    });
    expect((await stored('looses', { _id: oid(loose._id) }))[0].tenantId).toBe('acme');
    expect(await stored('looses', { note: 'theirs' })).toEqual([]);
    expect((await stored('books', { _id: oid(ids.acme.book) }))[0].tenantId).toBe('acme');
  });

  test('discriminators: each tenant sees its own events of every kind', async () => {
    for (const t of TENANTS) {
      await as(t, async () => {
        await M.Click.create({ x: TENANTS.indexOf(t), book: ids[t].book });
        await M.Purchase.create({ amount: 10 });
        await expect(M.Purchase.create({})).rejects.toMatchObject({ name: 'ValidationError' });
      });
    }
    await as('globex', async () => {
      const events = await M.Event.find().sort({ kind: 1 });
      expect(events.map((e) => e.kind)).toEqual(['Click', 'Purchase']);
      expect(events[0]).toBeInstanceOf(M.Click);
      expect(events[0].x).toBe(1);
      expect(await M.Click.countDocuments()).toBe(1);
      const withBook = await M.Click.findOne().populate('book');
      expect(withBook.book.title).toBe('globex one');
    });
    expect((await stored('events')).length).toBe(6);
  });

  test('connection.transaction() and { session } use the fence\'s sessions', async () => {
    await as('initech', async () => {
      const n = await m.connection.transaction(async (session) => {
        await M.Book.create([{ title: 'in tx' }], { session });
        return M.Book.countDocuments({ title: 'in tx' }).session(session);
      });
      expect(n).toBe(1);
      const err = await m.connection
        .transaction(async (session) => {
          await M.Book.create([{ title: 'rolled back' }], { session });
          throw new Error('abort');
        })
        .catch((e) => e);
      expect(err.message).toBe('abort');
      const session = await m.startSession();
      session.startTransaction();
      await M.Book.updateOne({ title: 'in tx' }, { $set: { pages: 7 } }, { session });
      await session.abortTransaction();
      await session.endSession();
    });
    expect((await stored('books', { title: 'in tx' })).map((b) => [b.tenantId, b.pages])).toEqual([['initech', 10]]);
    expect(await stored('books', { title: 'rolled back' })).toEqual([]);
    // a session belongs to one tenant
    const session = await as('initech', () => m.startSession());
    // A Query runs when awaited: inside the callback, so that it runs as that tenant.
    await as('initech', async () => await M.Book.findOne().session(session));
    await expect(as('acme', async () => await M.Book.findOne().session(session))).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
    await session.endSession();
    await as('initech', async () => await M.Book.deleteOne({ title: 'in tx' }));
  });

  test('syncIndexes / createIndexes inside runAsSystem put the tenant field first', async () => {
    M.Book.schema.index({ pages: 1, title: 1 });
    try {
      await fence.runAsSystem({ reason: 'test: sync indexes' }, () => M.Book.syncIndexes());
      await fence.runAsSystem({ reason: 'test: create indexes' }, () => M.Book.createIndexes());
    } finally {
      M.Book.schema._indexes.pop();
    }
    const idx = (await raw.db(DB).collection('books').indexes()).find((i) => i.key.pages === 1);
    expect(Object.keys(idx.key)).toEqual(['tenantId', 'pages', 'title']);
  });

  test('refused operations reject the Mongoose promise with the TenantError, code unchanged', async () => {
    await as('acme', async () => {
      const out = await M.Book.aggregate([{ $out: 'elsewhere' }]).catch((e) => e);
      expect(out).toBeInstanceOf(TenantError);
      expect(out.code).toBe('TENANT_VIOLATION');
      const union = await M.Book.aggregate([{ $collStats: {} }]).catch((e) => e);
      expect(union.code).toBe('TENANT_VIOLATION');
      await expect(M.Book.updateOne({ _id: ids.acme.book }, { $rename: { tenantId: 'owner' } }, { strict: false })).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
      await expect(M.Book.find().explain()).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
    });
    expect(await stored('elsewhere')).toEqual([]);
  });

  test('no tenant in context: every method rejects with TENANT_MISSING and nothing is written', async () => {
    const calls = [
      () => M.Book.find(),
      () => M.Book.findOne(),
      () => M.Book.countDocuments(),
      () => M.Book.distinct('title'),
      () => M.Book.create({ title: 'nobody' }),
      () => M.Book.insertMany([{ title: 'nobody' }]),
      () => M.Book.updateMany({}, { $set: { pages: 0 } }),
      () => M.Book.deleteMany({}),
      () => M.Book.findOneAndUpdate({}, { pages: 0 }),
      () => M.Book.bulkWrite([{ insertOne: { document: { title: 'nobody' } } }]),
      () => M.Book.aggregate([{ $match: {} }]),
      () => M.Book.find().cursor().next(),
    ];
    for (const call of calls) {
      const err = await call().catch((e) => e);
      expect(err).toBeInstanceOf(TenantError);
      expect(err.code).toBe('TENANT_MISSING');
    }
    expect(await stored('books', { title: 'nobody' })).toEqual([]);
  });

  test("options Mongoose leaves for the Node driver to ignore are dropped; a Map's ObjectIds reach the fence", async () => {
    const { Schema } = m;
    const Shelf = m.models.Shelf || m.model('Shelf', new Schema({ byTag: { type: Map, of: new Schema({ book: { type: Schema.Types.ObjectId, ref: 'Book' } }) } }));
    await as('acme', async () => {
      const shelf = await Shelf.create({ byTag: { fav: { book: ids.acme.book }, theirs: { book: ids.globex.book } } });
      const got = await Shelf.findById(shelf._id).populate('byTag.$*.book');
      expect(got.byTag.get('fav').book.title).toBe('acme one');
      expect(got.byTag.get('theirs').book).toBeNull();
      expect(await M.Book.findOneAndDelete({ _id: ids.globex.book }, { new: true, upsert: true })).toBeNull();
      expect(await M.Book.findOneAndUpdate({ _id: ids.acme.book }, { $set: { pages: 100 } }, { new: true, overwrite: false, setDefaultsOnInsert: true, rawResult: false })).toMatchObject({ pages: 100 });
      expect((await M.Book.deleteMany({ _id: ids.globex.book }).select('+title')).deletedCount).toBe(0);
      const bulk = await M.Book.bulkWrite([
        { updateOne: { filter: { _id: ids.acme.book }, update: { $set: { pages: 100 } }, timestamps: false, setDefaultsOnInsert: true } },
        { updateOne: { filter: { _id: ids.globex.book }, update: { $set: { pages: 1 } }, timestamps: false } },
      ]);
      expect(bulk.matchedCount).toBe(1);
      // an option of the app's own invention is still named by the fence
      await expect(M.Book.updateOne({ _id: ids.acme.book }, { $set: { pages: 100 } }, { myOption: 1 })).rejects.toThrow(/options\.myOption/);
    });
    expect((await stored('books', { _id: oid(ids.globex.book) }))[0].title).toBe('globex one');
  });

  test('an index autoIndex cannot build rejects Model.init() and is not thrown as an unheard error event', async () => {
    // '2d' must come first in an index; the fence puts the tenant field first.
    const Geo = m.model('Geo', new m.Schema({ loc: { type: [Number], index: '2d' } }));
    const unhandled = [];
    const onUnhandled = (e) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const err = await Geo.init().then(() => null, (e) => e);
      expect(err).toMatchObject({ name: 'MongoServerError' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      process.off('unhandledRejection', onUnhandled);
      m.deleteModel('Geo');
    }
    expect(unhandled).toEqual([]);
  });

  test('connection surface: unknown options named, { fence } adopted and left open, createConnection, refusals', async () => {
    const { TenantFence } = require('../..');
    const { Mongoose } = require(pkg);
    const other = new Mongoose();
    other.setDriver(require('../../lib/mongoose'));
    await expect(other.connect(uri(), { dbName: DB, family: 4 })).rejects.toThrow(/options\.family is not a tenantfence option/);
    const given = await TenantFence.connect(uri(), { database: DB });
    await other.connect(uri(), { fence: given });
    const B = other.model('Book', M.Book.schema);
    expect(await given.runAs('acme', async () => await B.countDocuments())).toBe(2);
    await other.disconnect();
    expect(await given.runAs('acme', () => given.collection('books').countDocuments())).toBe(2);
    await given.close();

    const conn = m.createConnection(uri(), { dbName: DB });
    await conn.asPromise();
    expect(conn.fence).not.toBe(fence);
    expect(await conn.fence.runAs('globex', async () => await conn.model('Book', M.Book.schema).countDocuments())).toBe(2);
    await conn.close();

    expect(() => m.connection.useDb('other')).toThrow(expect.objectContaining({ code: 'TENANT_VIOLATION' }));
    await as('acme', async () => {
      await expect(M.Book.aggregate([{ $match: {} }]).explain()).rejects.toMatchObject({ code: 'TENANT_VIOLATION' });
      expect(() => M.Book.collection.initializeOrderedBulkOp()).toThrow(expect.objectContaining({ code: 'TENANT_VIOLATION' }));
    });
  });

  test('Model.watch() follows the scoped collection\'s watch: refused without pre-images, then only the tenant\'s events', async () => {
    // Without pre-images a delete cannot be attributed: the stream reports the fence's refusal.
    const refused = as('acme', () => M.Book.watch());
    const err = await new Promise((resolve) => refused.on('error', resolve));
    await refused.close().catch(() => {});
    expect(err).toBeInstanceOf(TenantError);
    expect(err.code).toBe('TENANT_VIOLATION');
    expect(err.message).toMatch(/pre-images/);
    await raw.db(DB).command({ collMod: 'books', changeStreamPreAndPostImages: { enabled: true } });
    const stream = as('acme', () => M.Book.watch([], { maxAwaitTimeMS: 200 }));
    const seen = [];
    const done = new Promise((resolve, reject) => {
      stream.on('error', reject);
      stream.on('change', (e) => {
        seen.push(e);
        if (e.fullDocument && e.fullDocument.title === 'watched-last') resolve();
      });
    });
    // Mongoose opens the stream when the model is ready: give it a moment before writing.
    await new Promise((r) => setTimeout(r, 500));
    await as('globex', () => M.Book.create({ title: 'watched-other' }));
    await as('acme', () => M.Book.create({ title: 'watched-mine' }));
    await as('acme', async () => await M.Book.deleteOne({ title: 'watched-mine' }));
    await as('acme', () => M.Book.create({ title: 'watched-last' }));
    await done;
    await stream.close().catch(() => {});
    expect(seen.map((e) => e.operationType)).toEqual(['insert', 'delete', 'insert']);
    expect(JSON.stringify(seen)).not.toContain('watched-other');
    await as('acme', async () => await M.Book.deleteMany({ title: /^watched/ }));
    await as('globex', async () => await M.Book.deleteMany({ title: /^watched/ }));
  });

  test('runAsTenants through Mongoose: queries read the union, saves and creates are refused', async () => {
    const union = await fence.runAsTenants(['acme', 'globex'], async () => await M.Book.find().lean());
    const acme = await as('acme', async () => await M.Book.countDocuments());
    const globex = await as('globex', async () => await M.Book.countDocuments());
    expect(union).toHaveLength(acme + globex);
    expect(new Set(union.map((b) => b.tenantId))).toEqual(new Set(['acme', 'globex']));
    await fence.runAsTenants(['acme', 'globex'], async () => {
      const err = await M.Book.create({ title: 'union' }).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(TenantError);
      expect(err.code).toBe('TENANT_VIOLATION');
      const doc = await M.Book.findOne();
      doc.title = 'changed through a union';
      const saved = await doc.save().then(() => null, (e) => e);
      expect(saved && saved.code).toBe('TENANT_VIOLATION');
      // A runAs naming a member writes as that member.
      await fence.runAs('acme', async () => await M.Book.updateOne({ _id: doc._id, tenantId: 'acme' }, { $set: { touched: 1 } }));
    });
    expect(await stored('books', { title: 'changed through a union' })).toEqual([]);
  });
});

describe.each([['mongoose'], ['mongoose8']])("%s on tenantfence, strategy 'database'", (pkg) => {
  let m;
  let M;
  let fence;
  let raw;
  let DB;

  beforeAll(async () => {
    DB = dbName(`mgd${pkg === 'mongoose' ? 9 : 8}`);
    raw = await rawClient();
    m = mongooseOn(pkg);
    M = defineModels(m);
    await m.connect(uri(), { database: DB, strategy: 'database' });
    fence = m.connection.fence;
  });

  afterAll(async () => {
    if (m) await m.disconnect();
    if (raw) {
      for (const t of ['acme', 'globex']) await raw.db(fence.databaseFor(t)).dropDatabase();
      await raw.db(DB).dropDatabase();
      await raw.close();
    }
  });

  test("Model.init builds nothing; syncIndexes inside runAs builds the tenant's own indexes; data stays in each tenant's database", async () => {
    await Promise.all(Object.values(m.models).map((Model) => Model.init()));
    for (const t of ['acme', 'globex']) {
      await fence.runAs(t, async () => {
        await M.Author.syncIndexes();
        const a = await M.Author.create({ name: `author ${t}`, email: 'same@example.com' });
        await M.Book.create({ title: `${t} book`, author: a._id });
        const books = await M.Book.find().populate('author');
        expect(books.map((b) => [b.title, b.author.name])).toEqual([[`${t} book`, `author ${t}`]]);
      });
      const idx = await raw.db(fence.databaseFor(t)).collection('authors').indexes();
      expect(idx.find((i) => i.key.email === 1)).toMatchObject({ unique: true });
      expect((await raw.db(fence.databaseFor(t)).collection('books').find().toArray()).map((b) => b.title)).toEqual([`${t} book`]);
    }
    expect((await raw.db(DB).listCollections().toArray()).map((c) => c.name)).toEqual([]);
  });
});
