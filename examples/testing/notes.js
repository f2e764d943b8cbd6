// The app code under test: a notes service on tenantfence.
const { TenantFence } = require('tenantfence');

async function createNotes(uri, database) {
  const fence = await TenantFence.connect(uri, { database });
  const notes = fence.collection('notes');
  return {
    fence,
    add: (text) => notes.insertOne({ text, at: new Date() }),
    list: () => notes.find({}, { sort: { at: 1 } }).toArray(),
    search: (word) => notes.aggregate([{ $match: { text: { $regex: word } } }, { $project: { text: 1 } }]).toArray(),
    clear: () => notes.deleteMany({}),
  };
}

module.exports = { createNotes };
