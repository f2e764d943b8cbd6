'use strict';
// The driver suite's methods again, through Express: fence.middleware() sets each request's
// tenant and the routes call Mongoose as if there were one tenant. Three tenants; each route is
// called by each tenant with another tenant's ids, and the raw driver shows nothing of theirs
// changed. Run on Mongoose 9 and Mongoose 8.

const express = require('express');
const request = require('supertest');
const { ObjectId } = require('mongodb');
const { uri, dbName, rawClient } = require('../helpers/fixtures');
const { mongooseOn, defineModels } = require('./models');

const TENANTS = ['acme', 'globex', 'initech'];

function routes(m, M, fence) {
  const app = express();
  app.use(express.json());
  app.use(fence.middleware());
  const r = (fn) => (req, res, next) => fn(req, res).then((body) => (body === null ? res.status(404).json({}) : res.json(body)), next);
  app.post('/authors', r(async (req) => M.Author.create(req.body)));
  app.post('/books', r(async (req) => M.Book.create(req.body)));
  app.post('/books/many', r(async (req) => M.Book.insertMany(req.body)));
  app.get('/books', r(async () => M.Book.find().sort({ title: 1 }).lean()));
  app.get('/books/populated', r(async () => M.Book.find().populate('author').sort({ title: 1 })));
  app.get('/books/:id', r(async (req) => M.Book.findById(req.params.id)));
  app.get('/counts', r(async () => ({ count: await M.Book.countDocuments(), estimated: await M.Book.estimatedDocumentCount(), tags: (await M.Book.distinct('tags')).sort() })));
  app.get('/cursor', r(async () => {
    const titles = [];
    await M.Book.find().sort({ title: 1 }).cursor().eachAsync((d) => titles.push(d.title));
    return titles;
  }));
  app.get('/lookup', r(async () => M.Book.aggregate([{ $lookup: { from: 'authors', localField: 'author', foreignField: '_id', as: 'a' } }, { $project: { title: 1, names: '$a.name' } }, { $sort: { title: 1 } }])));
  app.get('/authors/:id/books', r(async (req) => {
    const a = await M.Author.findById(req.params.id).populate('books');
    return a && a.books.map((b) => b.title).sort();
  }));
  app.patch('/books/:id', r(async (req) => M.Book.findOneAndUpdate({ _id: req.params.id }, { $set: req.body }, { returnDocument: 'after' })));
  app.put('/books/:id', r(async (req) => M.Book.findOneAndReplace({ _id: req.params.id }, req.body, { returnDocument: 'after' })));
  app.delete('/books/:id', r(async (req) => M.Book.findOneAndDelete({ _id: req.params.id })));
  app.post('/books/:id/writes', r(async (req) => {
    const id = req.params.id;
    return {
      updateOne: (await M.Book.updateOne({ _id: id }, { $set: { title: 'hijack' } })).matchedCount,
      updateMany: (await M.Book.updateMany({ _id: { $in: [id] } }, { $set: { title: 'hijack' } })).matchedCount,
      replaceOne: (await M.Book.replaceOne({ _id: id }, { title: 'hijack' })).matchedCount,
      bulkWrite: (await M.Book.bulkWrite([{ updateOne: { filter: { _id: id }, update: { $set: { title: 'hijack' } } } }, { deleteOne: { filter: { _id: id } } }])).deletedCount,
      deleteOne: (await M.Book.deleteOne({ _id: id })).deletedCount,
      deleteMany: (await M.Book.deleteMany({ _id: id })).deletedCount,
    };
  }));
  app.post('/books/bulksave', r(async () => {
    const docs = await M.Book.find();
    for (const d of docs) d.pages += 1;
    await M.Book.bulkSave(docs);
    return docs.length;
  }));
  app.post('/loose', r(async (req) => M.Loose.create(req.body)));
  app.post('/loose/:id/move', r(async (req) => {
    const d = await M.Loose.findById(req.params.id);
    if (!d) return null;
    d.set('tenantId', req.body.to);
    return d.save();
  }));
  app.post('/tx', r(async (req) => m.connection.transaction(async (session) => {
    await M.Book.create([{ title: req.body.title }], { session });
    if (req.body.fail) throw new Error('rolled back');
    return M.Book.countDocuments().session(session);
  })));
  app.use((err, req, res, next) => res.status(err.name === 'TenantError' ? 403 : 500).json({ code: err.code, message: err.message }));
  return app;
}

describe.each([['mongoose'], ['mongoose8']])('%s on tenantfence, through Express', (pkg) => {
  let m;
  let app;
  let raw;
  let DB;
  const ids = {};
  const as = (t) => ({
    get: (p) => request(app).get(p).set('x-tenant-id', t),
    post: (p, b) => request(app).post(p).set('x-tenant-id', t).send(b),
    patch: (p, b) => request(app).patch(p).set('x-tenant-id', t).send(b),
    put: (p, b) => request(app).put(p).set('x-tenant-id', t).send(b),
    delete: (p) => request(app).delete(p).set('x-tenant-id', t),
  });
  const stored = (coll, filter = {}) => raw.db(DB).collection(coll).find(filter).sort({ title: 1 }).toArray();

  beforeAll(async () => {
    DB = dbName(`mgx${pkg === 'mongoose' ? 9 : 8}`);
    raw = await rawClient();
    m = mongooseOn(pkg);
    const M = defineModels(m);
    await m.connect(uri(), { database: DB });
    await Promise.all(Object.values(m.models).map((Model) => Model.init()));
    app = routes(m, M, m.connection.fence);
    for (const t of TENANTS) {
      const author = (await as(t).post('/authors', { name: `author ${t}` }).expect(200)).body;
      const one = (await as(t).post('/books', { title: `${t} one`, author: author._id, tags: [t] }).expect(200)).body;
      const more = (await as(t).post('/books/many', [{ title: `${t} two`, author: author._id }, { title: `${t} three` }]).expect(200)).body;
      ids[t] = { author: author._id, book: one._id, books: [one._id, ...more.map((b) => b._id)] };
    }
  });

  afterAll(async () => {
    if (m) await m.disconnect();
    if (raw) {
      await raw.db(DB).dropDatabase();
      await raw.close();
    }
  });

  test('reads: find, findById, counts, distinct, cursor, populate, virtual populate, $lookup', async () => {
    for (const t of TENANTS) {
      const c = as(t);
      expect((await c.get('/books').expect(200)).body.map((b) => b.title)).toEqual([`${t} one`, `${t} three`, `${t} two`]);
      expect((await c.get('/counts').expect(200)).body).toEqual({ count: 3, estimated: 3, tags: [t] });
      expect((await c.get('/cursor').expect(200)).body).toEqual([`${t} one`, `${t} three`, `${t} two`]);
      const populated = (await c.get('/books/populated').expect(200)).body;
      expect(populated.map((b) => (b.author ? b.author.name : 'none'))).toEqual([`author ${t}`, 'none', `author ${t}`]);
      expect((await c.get(`/authors/${ids[t].author}/books`).expect(200)).body).toEqual([`${t} one`, `${t} two`]);
      expect((await c.get('/lookup').expect(200)).body.map((r) => r.names)).toEqual([[`author ${t}`], [], [`author ${t}`]]);
      for (const o of TENANTS.filter((x) => x !== t)) {
        await c.get(`/books/${ids[o].book}`).expect(404);
        await c.get(`/authors/${ids[o].author}/books`).expect(404);
      }
    }
  });

  test("writes: findOneAnd*, update*, replaceOne, delete*, bulkWrite on another tenant's ids change nothing", async () => {
    for (const t of TENANTS) {
      for (const o of TENANTS.filter((x) => x !== t)) {
        await as(t).patch(`/books/${ids[o].book}`, { title: 'hijack' }).expect(404);
        await as(t).put(`/books/${ids[o].book}`, { title: 'hijack' }).expect(404);
        await as(t).delete(`/books/${ids[o].book}`).expect(404);
        const writes = (await as(t).post(`/books/${ids[o].book}/writes`).expect(200)).body;
        expect(writes).toEqual({ updateOne: 0, updateMany: 0, replaceOne: 0, bulkWrite: 0, deleteOne: 0, deleteMany: 0 });
      }
    }
    const all = await stored('books');
    expect(all.map((b) => [b.tenantId, b.title])).toEqual(TENANTS.flatMap((t) => [[t, `${t} one`], [t, `${t} three`], [t, `${t} two`]]));
    // and on its own ids they do work
    expect((await as('acme').patch(`/books/${ids.acme.book}`, { pages: 5 }).expect(200)).body.pages).toBe(5);
    expect((await as('acme').put(`/books/${ids.acme.book}`, { title: 'acme one', pages: 6 }).expect(200)).body.pages).toBe(6);
  });

  test('bulkSave and transactions write only the tenant\'s documents', async () => {
    expect((await as('globex').post('/books/bulksave').expect(200)).body).toBe(3);
    const pages = async (t) => (await stored('books', { tenantId: t })).map((b) => b.pages);
    expect(await pages('globex')).toEqual([11, 11, 11]);
    expect(await pages('initech')).toEqual([10, 10, 10]);
    expect((await as('initech').post('/tx', { title: 'in tx' }).expect(200)).body).toBe(4);
    await as('initech').post('/tx', { title: 'not kept', fail: true }).expect(500);
    expect((await stored('books', { title: { $in: ['in tx', 'not kept'] } })).map((b) => [b.tenantId, b.title])).toEqual([['initech', 'in tx']]);
  });

  test('doc.save() that would move a document to another tenant is a TenantError; nothing moves', async () => {
    const loose = (await as('acme').post('/loose', { note: 'mine' }).expect(200)).body;
    const refused = await as('acme').post(`/loose/${loose._id}/move`, { to: 'globex' }).expect(403);
    expect(refused.body.code).toBe('TENANT_VIOLATION');
    expect((await stored('looses', { _id: new ObjectId(loose._id) }))[0].tenantId).toBe('acme');
    await as('globex').post(`/loose/${loose._id}/move`, { to: 'globex' }).expect(404);
  });

  test('a request without a tenant never reaches a route', async () => {
    expect((await request(app).get('/books').expect(400)).body.error.code).toBe('TENANT_MISSING');
  });
});
