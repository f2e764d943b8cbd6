// The whole public API as a TypeScript user writes it; results are checked for their exact types.
import express from 'express';
import {
  sendJSON,
  type AuditEvent,
  type MetricsSnapshot,
  TenantFenceError,
  Binary,
  Decimal128,
  Long,
  ObjectId,
  Timestamp,
  TenantError,
  TenantFence,
  FenceSession,
  MongoExpiredSessionError,
  MongoTransactionError,
  type TransactionState,
  type Document,
  type Filter,
  type FenceCursor,
  type IndexDirection,
  type ScopedCollection,
  type SystemAccessEvent,
  type TenantErrorCode,
  type UpdateFilter,
  type WithId,
} from 'tenantfence';
import { check, type Equal } from './assert';

interface Note {
  _id?: ObjectId;
  title: string;
  body?: string;
  views: number;
  tags: string[];
  price?: Decimal128;
  big?: Long;
  blob?: Binary;
  seen?: Timestamp;
  createdAt: Date;
}

interface Slug {
  _id: string;
  target: string;
}

async function main(): Promise<void> {
  const audit: SystemAccessEvent[] = [];
  const fence: TenantFence = await TenantFence.connect('mongodb://127.0.0.1:27017/app', {
    tenantField: 'tenantId',
    strategy: 'field',
    database: 'app',
    tenantIdPattern: /^[a-z]{1,16}$/,
    onSystemAccess: (event) => {
      audit.push(event);
    },
    serverSelectionTimeoutMS: 2000,
  });
  check<Equal<typeof fence.tenantField, string>>(true);
  check<Equal<typeof fence.strategy, 'field' | 'database'>>(true);

  const notes = fence.collection<Note>('notes');
  check<Equal<typeof notes, ScopedCollection<Note>>>(true);
  const slugs = fence.collection<Slug>('slugs');
  const loose = fence.collection('anything');
  check<Equal<typeof loose, ScopedCollection<Document>>>(true);

  await fence.runAs('acme', async () => {
    check<Equal<ReturnType<typeof fence.currentTenant>, string | undefined>>(true);

    // Inserts: _id optional, insertedId typed from the schema.
    const one = await notes.insertOne({ title: 'a', views: 0, tags: [], createdAt: new Date() });
    check<Equal<typeof one.insertedId, ObjectId>>(true);
    const many = await notes.insertMany([{ title: 'b', views: 1, tags: ['x'], createdAt: new Date() }]);
    check<Equal<(typeof many.insertedIds)[number], ObjectId>>(true);
    const slug = await slugs.insertOne({ _id: 'home', target: '/' });
    check<Equal<typeof slug.insertedId, string>>(true);
    const anyDoc = await loose.insertOne({ whatever: 1 });
    check<Equal<typeof anyDoc.insertedId, ObjectId>>(true);

    // Reads: WithId<TSchema> results; filters typed per field; operators; dotted paths unchecked.
    const found = await notes.findOne({ title: /^a/, views: { $gte: 1, $in: [1, 2] }, tags: 'x' });
    check<Equal<typeof found, WithId<Note> | null>>(true);
    if (found) check<Equal<typeof found._id, ObjectId>>(true);
    const filter: Filter<Note> = { $or: [{ tags: { $all: ['x'] } }, { 'meta.deep': 1 }], body: { $exists: false } };
    const cursor = notes.find(filter, { sort: { createdAt: -1 }, limit: 10, skip: 0, projection: { title: 1 }, batchSize: 5 });
    check<Equal<typeof cursor, FenceCursor<WithId<Note>>>>(true);
    const list = await cursor.sort('views', -1).limit(5).skip(1).batchSize(2).toArray();
    check<Equal<typeof list, WithId<Note>[]>>(true);
    const next = await notes.find().next();
    check<Equal<typeof next, WithId<Note> | null>>(true);
    for await (const n of notes.find({ views: 3 })) check<Equal<typeof n, WithId<Note>>>(true);
    await notes.find().close();
    const titles = await notes.find<{ title: string }>({}, { projection: { title: 1, _id: 0 } }).toArray();
    check<Equal<typeof titles, { title: string }[]>>(true);
    const projected = await notes.find().project<{ views: number }>({ views: 1 }).toArray();
    check<Equal<typeof projected, { views: number }[]>>(true);
    const looseDoc = await loose.findOne({ _id: 'string ids are fine untyped', any: { $gt: 1 } });
    check<Equal<typeof looseDoc, WithId<Document> | null>>(true);

    // Aggregate: generic result.
    const perDay = await notes
      .aggregate<{ day: string; n: number }>([{ $group: { _id: '$title', n: { $sum: 1 } } }], { allowDiskUse: true })
      .toArray();
    check<Equal<typeof perDay, { day: string; n: number }[]>>(true);
    const raw = await notes.aggregate([{ $match: {} }]).next();
    check<Equal<typeof raw, Document | null>>(true);

    // Counts and distinct.
    const count = await notes.countDocuments({ views: { $lt: 5 } }, { limit: 100 });
    check<Equal<typeof count, number>>(true);
    check<Equal<Awaited<ReturnType<typeof notes.estimatedDocumentCount>>, number>>(true);
    const tags = await notes.distinct('tags');
    check<Equal<typeof tags, string[]>>(true);
    const viewCounts = await notes.distinct('views', { title: 'a' });
    check<Equal<typeof viewCounts, number[]>>(true);

    // Updates: operators typed per field, or a pipeline.
    const update: UpdateFilter<Note> = {
      $set: { title: 'b', 'meta.flag': true },
      $inc: { views: 1 },
      $push: { tags: { $each: ['y', 'z'], $slice: -10 } },
      $addToSet: { tags: 'w' },
      $unset: { body: '' },
      $currentDate: { createdAt: true },
    };
    const updated = await notes.updateOne({ _id: new ObjectId() }, update, { upsert: true });
    check<Equal<typeof updated.upsertedId, ObjectId | null>>(true);
    check<Equal<typeof updated.matchedCount, number>>(true);
    await notes.updateMany({}, [{ $set: { views: { $add: ['$views', 1] } } }]);
    await notes.replaceOne({ title: 'a' }, { title: 'c', views: 0, tags: [], createdAt: new Date() });
    const deleted = await notes.deleteMany({ views: 0 });
    check<Equal<typeof deleted.deletedCount, number>>(true);
    await notes.deleteOne({ title: 'c' });

    const after = await notes.findOneAndUpdate({ title: 'a' }, { $set: { views: 2 } }, { returnDocument: 'after' });
    check<Equal<typeof after, WithId<Note> | null>>(true);
    await notes.findOneAndReplace({ title: 'a' }, { title: 'd', views: 0, tags: [], createdAt: new Date() });
    await notes.findOneAndDelete({ title: 'd' }, { sort: { views: 1 } });

    const bulk = await notes.bulkWrite(
      [
        { insertOne: { document: { title: 'e', views: 0, tags: [], createdAt: new Date() } } },
        { updateOne: { filter: { title: 'e' }, update: { $inc: { views: 1 } }, upsert: true } },
        { updateMany: { filter: {}, update: { $set: { body: '' } } } },
        { replaceOne: { filter: { title: 'e' }, replacement: { title: 'f', views: 1, tags: [], createdAt: new Date() } } },
        { deleteOne: { filter: { title: 'f' } } },
        { deleteMany: { filter: { views: { $gt: 100 } } } },
      ],
      { ordered: false },
    );
    check<Equal<(typeof bulk.insertedIds)[number], ObjectId>>(true);

    const indexName = await notes.createIndex({ title: 1 }, { unique: true, name: 'title_1' });
    check<Equal<typeof indexName, string>>(true);

    const names = await notes.createIndexes([{ key: { title: 1 } }, { key: new Map([['views', -1]]), name: 'v' }]);
    check<Equal<typeof names, string[]>>(true);
    const listed = await notes.listIndexes().map((i) => i.name).toArray();
    check<Equal<typeof listed, string[]>>(true);
    const info = await notes.indexInformation();
    check<Equal<typeof info, Record<string, Array<[string, IndexDirection]>>>>(true);
    const full = await notes.indexes();
    check<Equal<typeof full[number]['name'], string>>(true);
    const exists: boolean = await notes.indexExists(['title_1']);
    void exists;
  });

  await fence.runAsSystem({ reason: 'maintenance' }, async () => {
    const made = await fence.db.createCollection<Note>('archive', { validator: { title: { $type: 'string' } } });
    const renamed = await made.rename('archive_2024');
    check<Equal<typeof renamed, ScopedCollection<Note>>>(true);
    const dropped: boolean = await renamed.drop();
    const cols = await fence.db.listCollections({}, { nameOnly: true }).toArray();
    void dropped;
    void cols;
  });

  // runAs / runAsSystem return what the callback returns.
  const sum = fence.runAs('acme', () => 1 + 1);
  check<Equal<typeof sum, number>>(true);
  const total = await fence.runAsSystem({ reason: 'nightly report' }, () => notes.countDocuments());
  check<Equal<typeof total, number>>(true);

  // Errors: the code is a union; narrowing with instanceof.
  try {
    await notes.insertOne({ title: 'x', views: 0, tags: [], createdAt: new Date() });
  } catch (err) {
    if (err instanceof TenantError) {
      check<Equal<typeof err.code, TenantErrorCode>>(true);
      const code: 'TENANT_MISSING' | 'TENANT_INVALID' | 'TENANT_VIOLATION' | 'TENANT_QUOTA' = err.code;
      void code;
      const wait: number | undefined = err.retryAfterMs;
      void wait;
    }
  }

  // Express 5 (its own type definitions): the middleware fits app.use, also with resolve.
  const app = express();
  app.use(fence.middleware());
  app.use(fence.middleware({ header: 'x-tenant' }));
  app.use(fence.middleware<express.Request>({ resolve: (req) => req.get('x-org') }));
  app.use(fence.middleware({ resolve: async () => undefined }));

  await fence.close();
}

/** The driver's cursor members, typed as the driver types them. */
export async function cursors(fence: TenantFence): Promise<void> {
  const c = fence.collection<{ text: string; n: number }>('notes');
  const lengths: number[] = await c.find({}).sort(['n', 'desc']).maxTimeMS(500).comment('c').map((d) => d.text.length).toArray();
  const cur = c.find({}, { hint: { tenantId: 1, _id: 1 }, collation: { locale: 'en', strength: 3 } }).allowDiskUse();
  const has: boolean = await cur.hasNext();
  const first = await cur.tryNext();
  const buffered: number = cur.bufferedCount();
  cur.readBufferedDocuments(2);
  await cur.forEach((d) => d.n > 3);
  const again = cur.clone();
  cur.rewind();
  const closed: boolean = cur.closed;
  for await (const d of again.stream()) void d;
  void [lengths, has, first?.text, buffered, closed];
}

/** A failure of the addon itself is told apart by class and code. */
export function isInternal(e: unknown): boolean {
  if (!(e instanceof TenantFenceError)) return false;
  const code: 'ERR_INTERNAL' | 'ERR_CANCELLED' = e.code;
  return code === 'ERR_INTERNAL';
}

void main;

/** Transactions: bound to the context, and explicit sessions passed as `{ session }`. */
export async function transactions(fence: TenantFence): Promise<number> {
  const notes = fence.collection<{ text: string; n: number }>('notes');
  const n: number = await fence.withTransaction(async () => {
    await notes.insertOne({ text: 'in a transaction', n: 1 });
    return notes.countDocuments({});
  }, { readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority' }, maxCommitTimeMS: 1000 });
  const session: FenceSession = await fence.startSession({ causalConsistency: true });
  session.startTransaction();
  await notes.updateOne({ n: 1 }, { $inc: { n: 1 } }, { session });
  const inside = await notes.find({}, { session }).toArray();
  await (session.inTransaction() ? session.commitTransaction() : session.abortTransaction());
  const state: TransactionState = session.transaction.state;
  const r: string = await session.withTransaction(async (s) => {
    await notes.deleteMany({}, { session: s });
    return 'done';
  });
  await session.endSession();
  void [inside.length, state, r];
  return n;
}

export function transactionErrors(e: unknown): string | undefined {
  if (e instanceof MongoExpiredSessionError) return 'ended';
  if (e instanceof MongoTransactionError && e.hasErrorLabel('TransientTransactionError')) return 'retry';
  return undefined;
}

export async function operations(uri: string, app: express.Express): Promise<void> {
  const fence = await TenantFence.connect(uri, {
    quotas: (tenantId) => (tenantId === 'gold' ? null : { maxConcurrent: 4, opsPerSecond: 50, maxQueue: 10 }),
    metrics: { limit: 50 },
    audit: (event: AuditEvent) => {
      if (event.type === 'refusal') void event.code;
    },
  });
  const snap: MetricsSnapshot | null = fence.metrics();
  const calls: number | undefined = snap?.tenants.acme?.find?.calls;
  const text: string | null = fence.metrics({ format: 'prometheus' });
  fence.resetMetrics();
  const registry = fence.registerMetrics({ registerMetric(_m: unknown) {} });
  void [calls, text, registry];
  const notes = fence.collection<{ title: string }>('notes');
  app.get('/notes', async (req, res) => {
    await sendJSON(res, notes.findJSON({}, { limit: 10 }));
  });
  const buf: Buffer = await notes.find({}).toJSONBuffer();
  void buf;
}
