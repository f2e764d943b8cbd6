// Negative checks: each line under `@ts-expect-error` must fail to compile. If the types grew
// loose enough to accept one, tsc reports the directive as unused and `npm test` fails.
import { TenantError, TenantFence, ObjectId, type TenantErrorCode, type UpdateFilter } from 'tenantfence';

interface Note {
  _id?: ObjectId;
  title: string;
  views: number;
  tags: string[];
}

export async function refused(fence: TenantFence): Promise<void> {
  const notes = fence.collection<Note>('notes');

  // Wrong field types in filters, documents and updates.
  // @ts-expect-error views is a number
  await notes.findOne({ views: 'many' });
  // @ts-expect-error $gt on a number field takes a number
  await notes.find({ views: { $gt: 'x' } }).toArray();
  // @ts-expect-error $regex is for string fields
  await notes.countDocuments({ views: { $regex: 'x' } });
  // @ts-expect-error _id is an ObjectId
  await notes.deleteOne({ _id: 42 });
  // @ts-expect-error title is required
  await notes.insertOne({ views: 1, tags: [] });
  // @ts-expect-error title is a string
  await notes.insertOne({ title: 1, views: 1, tags: [] });
  // @ts-expect-error $set of a known field checks its type
  await notes.updateOne({}, { $set: { views: 'x' } });
  // @ts-expect-error $inc only on numeric fields
  await notes.updateOne({}, { $inc: { title: 1 } });
  // @ts-expect-error $push only on array fields
  await notes.updateMany({}, { $push: { title: 'x' } });
  // @ts-expect-error tags holds strings
  await notes.updateMany({}, { $addToSet: { tags: 3 } });
  // @ts-expect-error not an update operator
  const bad: UpdateFilter<Note> = { $where: 'x' };
  void bad;
  // @ts-expect-error the replacement is a whole Note
  await notes.replaceOne({}, { views: 1 });
  // @ts-expect-error the result of a typed findOne has no such field
  (await notes.findOne({}))?.nope;
  // @ts-expect-error distinct of a known key keeps its element type
  const d: number[] = await notes.distinct('tags');
  void d;

  // Cursors have no method that could change the query.
  // @ts-expect-error no cursor.filter
  notes.find({}).filter({ tenantId: 'other' });
  // @ts-expect-error no cursor.collation (pass it as a find() option)
  notes.find({}).collation({ locale: 'en', strength: 1 });
  // @ts-expect-error no cursor.hint (pass it as a find() option)
  notes.find({}).hint({ tenantId: 1 });
  // @ts-expect-error no cursor.addStage
  notes.aggregate([]).addStage({ $match: {} });
  // @ts-expect-error no cursor.explain
  notes.find({}).explain();

  // Error codes are a closed union.
  // @ts-expect-error not a TenantErrorCode
  const code: TenantErrorCode = 'TENANT_OOPS';
  void code;
  // @ts-expect-error not a TenantErrorCode
  new TenantError('NOT_A_CODE', 'x');
  const err = new TenantError('TENANT_MISSING', 'x');
  // @ts-expect-error comparing with a code that cannot occur
  if (err.code === 'TENANT_MISING') return;

  // Options and contexts.
  // @ts-expect-error reason is required
  fence.runAsSystem({}, () => 1);
  // @ts-expect-error strategy is 'field' or 'database'
  await TenantFence.connect('mongodb://x', { strategy: 'collection' });
  // @ts-expect-error header and resolve do not go together
  fence.middleware({ header: 'x-tenant', resolve: () => 'a' });
  // @ts-expect-error no public constructor
  new TenantFence();
}
