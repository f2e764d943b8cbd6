'use strict';
// The models the Mongoose suites share: refs (populate), a discriminator, hooks, validation,
// virtuals and timestamps; defined on a fresh Mongoose instance of either major version.

const driver = require('../../lib/mongoose');

/** A Mongoose instance of package `pkg` ('mongoose' 9 or 'mongoose8') on tenantfence's driver. */
function mongooseOn(pkg) {
  const { Mongoose } = require(pkg);
  const m = new Mongoose();
  m.setDriver(driver);
  m.set('strictQuery', true);
  return m;
}

function defineModels(m) {
  const { Schema } = m;
  const saved = []; // titles seen by the post('save') hook

  const authorSchema = new Schema({ name: { type: String, required: true }, email: { type: String, index: { unique: true } } });
  authorSchema.virtual('books', { ref: 'Book', localField: '_id', foreignField: 'author' });

  const bookSchema = new Schema(
    {
      title: { type: String, required: true, minlength: 2 },
      author: { type: Schema.Types.ObjectId, ref: 'Author' },
      pages: { type: Number, min: 1, default: 10 },
      slug: String,
      tags: [String],
    },
    { timestamps: true },
  );
  bookSchema.virtual('label').get(function () {
    return `${this.title} (${this.pages})`;
  });
  bookSchema.pre('save', function () {
    this.slug = this.title.toLowerCase().replace(/\s+/g, '-');
  });
  bookSchema.post('save', function (doc) {
    saved.push(doc.title);
  });

  const eventSchema = new Schema({ at: { type: Date, default: Date.now }, book: { type: Schema.Types.ObjectId, ref: 'Book' } }, { discriminatorKey: 'kind' });
  const looseSchema = new Schema({ note: String }, { strict: false });

  const Author = m.model('Author', authorSchema);
  const Book = m.model('Book', bookSchema);
  const Event = m.model('Event', eventSchema);
  const Click = Event.discriminator('Click', new Schema({ x: Number }));
  const Purchase = Event.discriminator('Purchase', new Schema({ amount: { type: Number, required: true } }));
  const Loose = m.model('Loose', looseSchema);
  return { Author, Book, Event, Click, Purchase, Loose, saved };
}

module.exports = { mongooseOn, defineModels };
