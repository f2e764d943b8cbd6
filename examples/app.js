'use strict';
// The demo app: a tiny notes API where every request belongs to one tenant.
// Nothing in the route handlers mentions the tenant: the middleware puts it in
// the async context and every collection call is scoped by the Rust core.

const express = require('express');
const { TenantError, ObjectId, sendJSON } = require('..');

/** Builds the Express 5 app around a connected TenantFence. */
function createApp(fence) {
  const app = express();
  const notes = fence.collection('notes');

  // Per-tenant figures for Prometheus, mounted before the tenant middleware: they are every
  // tenant's, for the operator (protect this route as you would any operator endpoint).
  app.get('/metrics', (req, res) => {
    res.type('text/plain; version=0.0.4').send(fence.metrics({ format: 'prometheus' }));
  });

  app.use(express.json({ limit: '16kb' }));
  // Reads the `x-tenant-id` header; no header (or an invalid id) -> 400, handler never runs.
  app.use(fence.middleware({ header: 'x-tenant-id' }));

  // The current tenant's notes, newest first.
  app.get('/notes', async (req, res) => {
    const list = await notes.find({}, { sort: { createdAt: -1 }, limit: 100 }).toArray();
    res.json({ tenant: fence.currentTenant(), notes: list });
  });

  // Adds a note; the tenant field is stamped on it by the fence.
  app.post('/notes', async (req, res) => {
    const text = req.body && req.body.text;
    if (typeof text !== 'string' || text.trim() === '' || text.length > 1000) {
      res.status(400).json({ error: { code: 'BAD_REQUEST', message: 'body must be JSON {"text": "<1 to 1000 characters>"}' } });
      return;
    }
    const note = { text: text.trim(), createdAt: new Date() };
    const { insertedId } = await notes.insertOne(note);
    res.status(201).json({ _id: insertedId, text: note.text, createdAt: note.createdAt });
  });

  // The same notes as a bare JSON array, rendered in Rust straight from MongoDB's reply
  // (the bytes res.json would send, without making JS objects).
  app.get('/notes/export', (req, res, next) => {
    sendJSON(res, notes.findJSON({}, { sort: { createdAt: -1 }, limit: 1000 })).catch(next);
  });

  // Deletes one of the current tenant's notes (another tenant's id is simply not found).
  app.delete('/notes/:id', async (req, res) => {
    if (!ObjectId.isValid(req.params.id)) {
      res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such note' } });
      return;
    }
    const { deletedCount } = await notes.deleteOne({ _id: new ObjectId(req.params.id) });
    res.status(deletedCount ? 204 : 404).end();
  });

  // The current tenant's changes to its notes as Server-Sent Events, from a scoped change
  // stream: its inserts, edits and deletes only, while every tenant writes to the same
  // collection. A reconnecting browser sends Last-Event-ID, a resume token bound to this tenant:
  // the stream resumes after it, and another tenant's token is refused (403).
  app.get('/notes/events', async (req, res) => {
    const lastId = req.get('last-event-id');
    const stream = notes.watch([], lastId ? { resumeAfter: { _data: lastId } } : {});
    res.on('close', () => stream.close());
    // The first read opens the stream: a refusal still reaches the error handler as JSON.
    const first = await stream.tryNext();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': open\n\n');
    const send = (change) => {
      const note = { _id: change.documentKey._id, text: change.fullDocument ? change.fullDocument.text : undefined };
      res.write(`id: ${change._id._data}\nevent: ${change.operationType}\ndata: ${JSON.stringify(note)}\n\n`);
    };
    if (first) send(first);
    try {
      for await (const change of stream) send(change);
    } catch (err) {
      // Headers are sent: the client sees the stream end and reconnects with Last-Event-ID.
      console.error(err);
    }
    res.end();
  });

  // How many notes the current tenant has.
  app.get('/notes/count', async (req, res) => {
    res.json({ tenant: fence.currentTenant(), count: await notes.countDocuments() });
  });

  // Notes per day for the current tenant: the pipeline gets the tenant $match in front.
  app.get('/stats', async (req, res) => {
    const days = await notes
      .aggregate([
        { $group: { _id: { $dateToString: { format: '%Y-%m-%d', date: '$createdAt' } }, notes: { $sum: 1 } } },
        { $sort: { _id: 1 } },
        { $project: { _id: 0, day: '$_id', notes: '$notes' } },
      ])
      .toArray();
    res.json({ tenant: fence.currentTenant(), days });
  });

  app.use((req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: `no route for ${req.method} ${req.path}` } });
  });

  // Express 5 forwards rejected promises from async handlers here.
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => {
    if (err instanceof TenantError) {
      // Over quota: 429 with Retry-After (err.status, err.headers); any other refusal: 403.
      if (err.headers) res.set(err.headers);
      res.status(err.status ?? 403).json({ error: { code: err.code, message: err.message } });
    } else if (err && err.expose && err.status >= 400 && err.status < 500) {
      // body-parser errors (invalid JSON, body too large) carry a safe status and message.
      res.status(err.status).json({ error: { code: 'BAD_REQUEST', message: err.message } });
    } else if (err && err.name === 'TypeError') {
      res.status(400).json({ error: { code: 'BAD_REQUEST', message: err.message } });
    } else {
      console.error(err);
      res.status(500).json({ error: { code: 'INTERNAL', message: 'internal error' } });
    }
  });

  return app;
}

module.exports = { createApp };
