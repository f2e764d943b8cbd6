'use strict';
// A read cursor that keeps the tenant context it was created under and reads the
// native cursor one server batch at a time.

const { BatchReader, encode } = require('./codec');

// Documents decoded at a time from a server batch by next() / for await.
const SLICE = 1000;
const { fromNative } = require('./errors');
const args = require('./args');

const noop = () => {};

class FenceCursor {
  #open;
  #kind;
  #request;
  #native = null;
  #opening = null;
  #reader = null;
  #buffer = [];
  #pos = 0;
  #done = false;
  #closed = false;
  /** The last queued read (settled or not), while one is pending. */
  #reading = null;

  /** @param open (kind, requestBuffer) => Promise<NativeCursor>, bound to the captured context */
  constructor(open, kind, request) {
    this.#open = open;
    this.#kind = kind;
    this.#request = request;
  }

  #mutable(method) {
    if (this.#native || this.#opening || this.#done) {
      throw new Error(`cursor.${method}() must be called before the cursor is read`);
    }
  }

  /** find takes the setting as an option; aggregate as a stage appended to its pipeline. */
  #chain(option, stage, value) {
    if (this.#kind === 'aggregate') this.#request.pipeline = [...this.#request.pipeline, { [stage]: value }];
    else this.#request.options[option] = value;
    return this;
  }

  /** Sets the sort order: as the driver does, a find cursor reads every sort form (`sort('a', -1)`
   * too), an aggregation cursor appends `{$sort: spec}` as given. */
  sort(spec, direction) {
    this.#mutable('sort');
    if (this.#kind === 'aggregate') return this.#chain('sort', '$sort', spec);
    const sorted = args.sort(spec, direction);
    if (sorted === undefined) {
      delete this.#request.options.sort;
      return this;
    }
    return this.#chain('sort', '$sort', sorted);
  }

  /** Limits the number of documents. */
  limit(n) {
    this.#mutable('limit');
    return this.#chain('limit', '$limit', args.integer(n, 'limit'));
  }

  /** Skips documents. */
  skip(n) {
    this.#mutable('skip');
    return this.#chain('skip', '$skip', args.integer(n, 'skip'));
  }

  /** Sets the projection. */
  project(projection) {
    this.#mutable('project');
    return this.#chain('projection', '$project', args.object(projection, 'projection'));
  }

  /** Sets the server batch size. */
  batchSize(n) {
    this.#mutable('batchSize');
    args.integer(n, 'batchSize');
    this.#request.options.batchSize = n;
    return this;
  }

  /** Refills the decoded buffer: from the current batch if it has more, else from the server. */
  async #fill(max) {
    if (this.#reader && !this.#reader.done) {
      this.#buffer = this.#reader.take(max);
      this.#pos = 0;
      return;
    }
    if (!this.#native) {
      if (!this.#opening) this.#opening = this.#open(this.#kind, encode(this.#request));
      try {
        this.#native = await this.#opening;
      } catch (e) {
        this.#done = true;
        throw fromNative(e);
      }
    }
    let batch;
    try {
      batch = await this.#native.nextBatch();
    } catch (e) {
      this.#done = true;
      throw fromNative(e);
    }
    // close() ran while this batch was on its way: it is dropped, as the driver drops it.
    if (this.#closed) {
      this.#done = true;
      this.#buffer = [];
      this.#pos = 0;
      return;
    }
    this.#pos = 0;
    if (!batch) {
      this.#done = true;
      this.#reader = null;
      this.#buffer = [];
    } else {
      this.#reader = new BatchReader(batch);
      this.#buffer = this.#reader.take(max);
    }
  }

  /**
   * Runs reads one after another: two reads at once (next() and toArray(), say) would both
   * refill the buffer and one would drop the other's documents. The driver queues them too.
   */
  #serial(read) {
    const run = this.#reading ? this.#reading.then(read, read) : read();
    const settled = run.then(noop, noop);
    this.#reading = settled;
    settled.then(() => {
      if (this.#reading === settled) this.#reading = null;
    });
    return run;
  }

  /** The next document, or null when there are no more. */
  next() {
    // A document already decoded, with no read waiting: no queueing needed.
    if (!this.#reading && this.#pos < this.#buffer.length) {
      const doc = this.#buffer[this.#pos];
      this.#buffer[this.#pos++] = undefined;
      return Promise.resolve(doc);
    }
    return this.#serial(() => this.#next());
  }

  async #next() {
    while (this.#pos >= this.#buffer.length) {
      if (this.#done) return null;
      await this.#fill(SLICE);
    }
    const doc = this.#buffer[this.#pos];
    this.#buffer[this.#pos++] = undefined;
    return doc;
  }

  /** All remaining documents. */
  toArray() {
    return this.#serial(() => this.#toArray());
  }

  async #toArray() {
    const out = [];
    for (;;) {
      while (this.#pos < this.#buffer.length) out.push(this.#buffer[this.#pos++]);
      if (this.#done) return out;
      await this.#fill(Infinity);
    }
  }

  /** Stops reading and releases the server cursor. */
  async close() {
    this.#closed = true;
    this.#done = true;
    this.#reader = null;
    this.#buffer = [];
    this.#pos = 0;
    if (this.#opening && !this.#native) {
      try {
        this.#native = await this.#opening;
      } catch {
        return;
      }
    }
    if (this.#native) {
      try {
        await this.#native.close();
      } catch (e) {
        throw fromNative(e);
      }
    }
  }

  async *[Symbol.asyncIterator]() {
    try {
      for (;;) {
        const doc = await this.next();
        if (doc === null) return;
        yield doc;
      }
    } finally {
      await this.close();
    }
  }
}

module.exports = { FenceCursor };
