// The app code under test: a notes service on tenantfence.
const { TenantFence } = require('tenantfence');

async function createNotes(uri, database) {
  const fence = await TenantFence.connect(uri, { database });
  const notes = fence.collection('notes');
  // Indexes are built at startup: tenants' queries then never wait for one (the fence puts
  // tenantId first, and builds { tenantId: 1, _id: 1 } itself for a collection that has none).
  await fence.runAsSystem({ reason: 'startup: indexes' }, () => notes.createIndex({ at: 1 }));
  return {
    fence,
    add: (text) => notes.insertOne({ text, at: new Date() }),
    list: () => notes.find({}, { sort: { at: 1 } }).toArray(),
    search: (word) => notes.aggregate([{ $match: { text: { $regex: word } } }, { $project: { text: 1 } }]).toArray(),
    clear: () => notes.deleteMany({}),
  };
}

module.exports = { createNotes };
