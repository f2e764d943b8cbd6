'use strict';
// A read cursor that keeps the tenant context it was created under and reads the
// native cursor one server batch at a time.

const { Readable } = require('node:stream');
const { BatchReader, encode, READ } = require('./codec');
const { CallCancel } = require('../binding.js');

// Documents decoded at a time from a server batch by next() / for await.
const SLICE = 1000;
const { fromNative, invalidArg, MongoAPIError } = require('./errors');
const args = require('./args');
const { bounded, throwIfAborted, timedOut } = require('./limits');

const noop = () => {};
const COMMA = Buffer.from(',');

/** The JSON elements (no brackets) of decoded documents, as `JSON.stringify` writes them in an array. */
function jsonOf(docs) {
  return Buffer.from(docs.map((d) => JSON.stringify(d) ?? 'null').join(','));
}

// What JSON.stringify calls on each value the fence decodes: Rust renders what these give. An
// app that replaced one (a Long or Decimal128 sent as a string, say) gets JSON.stringify instead.
const STOCK = (() => {
  const bson = require('bson');
  const classes = [bson.ObjectId, bson.Decimal128, bson.Long, bson.Binary, bson.UUID, bson.Timestamp, bson.Code, bson.DBRef, bson.BSONSymbol, bson.MinKey, bson.MaxKey, bson.BSONRegExp, bson.Double, bson.Int32, Date, RegExp, Object, Array, String, Number, Boolean, Buffer];
  const methods = classes.filter(Boolean).map((c) => [c.prototype, 'toJSON']);
  // What those toJSONs call in turn.
  methods.push([Date.prototype, 'toISOString'], [bson.ObjectId.prototype, 'toHexString'], [bson.Decimal128.prototype, 'toString'], [bson.Timestamp.prototype, 'toString'], [bson.Binary.prototype, 'toString'], [bson.UUID.prototype, 'toHexString']);
  return methods.map(([proto, name]) => [proto, name, proto[name]]);
})();

/** True while every method the renderer stands in for is the one it was built against. */
function stockJSON() {
  for (const [proto, name, fn] of STOCK) if (proto[name] !== fn) return false;
  return true;
}

/** `[` + the parts joined by commas + `]`, one copy. */
function joinJSON(parts) {
  const chunks = [Buffer.from('[')];
  for (const p of parts) {
    if (!p.length) continue;
    if (chunks.length > 1) chunks.push(COMMA);
    chunks.push(p);
  }
  chunks.push(Buffer.from(']'));
  return Buffer.concat(chunks);
}

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
  /** `map()`'s functions, composed, applied to each document as it is read. */
  #transform = null;
  /** How documents are decoded (the call's BSON read options). */
  #read;
  /** Counts rewind() calls, so a read in flight across one drops what the old query sent. */
  #generation = 0;
  /** `timeoutMS` / `signal` (lib/limits.js), or null. */
  #limits;
  /** How the request is encoded (the call's BSON write options), or null. */
  #write;
  /** `singleBatch`: the cursor ends after its first batch, as the driver's. */
  #singleBatch = false;
  /** Server batches read since the cursor was (re)opened. */
  #batches = 0;
  /** When the first read started, for `timeoutMode: 'cursorLifetime'`. */
  #started = 0;
  /** The cursor's `{ db, collection }`, fixed when it was made (the tenant's database under 'database'). */
  #namespace;
  /** The `abort` listener on the signal, while the cursor may still read. */
  #onAbort = null;
  /** While `toJSONBuffer()` reads: each batch's JSON elements, rendered in Rust. */
  #json = null;

  /**
   * @param open (kind, requestBuffer) => Promise<NativeCursor>, bound to the captured context
   * @param read how documents are decoded (codec.splitReadOptions)
   * @param limits the call's `timeoutMS` and `signal` (lib/limits.js), or null
   * @param write the call's BSON write options (codec.splitWriteOptions), or null
   */
  constructor(open, kind, request, read, limits = null, write = null, namespace = null) {
    this.#namespace = namespace;
    this.#open = open;
    this.#kind = kind;
    this.#request = request;
    this.#read = read;
    this.#limits = limits;
    this.#write = write;
    const o = request.options;
    if (kind === 'find' && o && o.singleBatch !== undefined) {
      if (typeof o.singleBatch !== 'boolean') throw invalidArg('options.singleBatch must be a boolean');
      const { singleBatch, ...rest } = o;
      this.#singleBatch = singleBatch;
      request.options = rest;
    }
    if (limits && limits.signal) {
      // As the driver's: an aborted signal closes the cursor. Removed once the cursor is closed
      // or exhausted, so a long-lived signal does not keep every cursor it ever saw.
      this.#onAbort = () => this.close().catch(noop);
      limits.signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Stops listening to the signal (the cursor is closed or exhausted). */
  #unlisten() {
    if (this.#onAbort) {
      this.#limits.signal.removeEventListener('abort', this.#onAbort);
      this.#onAbort = null;
    }
  }

  /** The deadline of the next server round trip under `timeoutMS` (0: none). */
  #deadline() {
    const l = this.#limits;
    if (!l || !l.timeoutMS) return 0;
    if (l.mode === 'iteration') return Date.now() + l.timeoutMS;
    if (!this.#started) this.#started = Date.now();
    return this.#started + l.timeoutMS;
  }

  /** What `start()` gives, under the cursor's limits; past them the cursor is closed (and `cancel` given up). */
  #bounded(start, cancel = null) {
    return bounded(start, this.#limits, this.#deadline(), () => {
      if (cancel) cancel.cancel();
      this.close().catch(noop);
    });
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

  /**
   * Sets the sort order, every sort form read as the driver reads it (`sort('a', -1)` too). On an
   * aggregation the driver appends `{$sort: spec}` as given and lets the server refuse a form it
   * does not take; here the spec is read first, so `['at', 'desc']` works there too.
   */
  sort(spec, direction) {
    this.#mutable('sort');
    const sorted = args.sort(spec, direction);
    if (sorted === undefined) {
      if (this.#kind !== 'aggregate') delete this.#request.options.sort;
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

  /** Sets a command option of either cursor kind (not a pipeline stage). */
  #option(method, name, value) {
    this.#mutable(method);
    this.#request.options[name] = value;
    return this;
  }

  /** The server's time limit for the query, in milliseconds. */
  maxTimeMS(ms) {
    if (typeof ms !== 'number') throw invalidArg('Argument for maxTimeMS must be a number');
    return this.#option('maxTimeMS', 'maxTimeMS', ms);
  }

  /** Which member serves the reads: a mode (`'secondaryPreferred'`) or `{ mode, tags, maxStalenessSeconds }`. */
  withReadPreference(readPreference) {
    return this.#option('withReadPreference', 'readPreference', readPreference);
  }

  /** The read concern of the query (`'majority'` or `{ level }`, read in Rust as the option is). */
  withReadConcern(readConcern) {
    return this.#option('withReadConcern', 'readConcern', readConcern);
  }

  /** A comment the server logs with the command. */
  comment(value) {
    return this.#option('comment', 'comment', value);
  }

  /** Lets a blocking sort spill to disk. */
  allowDiskUse(allow = true) {
    if (typeof allow !== 'boolean') throw invalidArg('allowDiskUse must be a boolean');
    return this.#option('allowDiskUse', 'allowDiskUse', allow);
  }

  /**
   * Maps each document as it is read (`next`, `toArray`, iteration, `forEach`, `stream`); chained
   * calls compose. Like the driver's, it must come before the first read.
   */
  map(transform) {
    this.#mutable('map');
    if (typeof transform !== 'function') throw invalidArg('map(transform): transform must be a function');
    const before = this.#transform;
    this.#transform = before ? (doc) => transform(before(doc)) : transform;
    return this;
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
    // A rewind() while this read waits starts the cursor over: what this read was fetching
    // belongs to the old query and is dropped, and the caller reads on from the new start.
    const generation = this.#generation;
    throwIfAborted(this.#limits);
    if (this.#native && this.#singleBatch && this.#batches > 0) {
      // singleBatch: the first batch was all of it.
      this.#done = true;
      this.#unlisten();
      this.#reader = null;
      this.#buffer = [];
      this.#pos = 0;
      const native = this.#native;
      this.#native = null;
      native.close().catch(noop);
      return;
    }
    if (!this.#native) {
      let native;
      // Opened under timeoutMS or a signal: given up while it waits at its tenant's quota gate,
      // the query is dropped there, never sent.
      const cancel = this.#limits ? new CallCancel() : null;
      try {
        native = await this.#bounded(() => {
          if (!this.#opening) this.#opening = this.#open(this.#kind, encode(this.#request, {}, this.#write), cancel ?? undefined);
          return this.#opening;
        }, cancel);
      } catch (e) {
        if (generation !== this.#generation) return;
        this.#done = true;
      this.#unlisten();
        throw timedOut(fromNative(e), this.#limits);
      }
      if (generation !== this.#generation) return;
      this.#native = native;
    }
    let batch;
    try {
      batch = await this.#bounded(() => (this.#json ? this.#native.nextBatchJson() : this.#native.nextBatch()));
      this.#batches++;
    } catch (e) {
      if (generation !== this.#generation) return;
      this.#done = true;
      this.#unlisten();
      throw timedOut(fromNative(e), this.#limits);
    }
    if (generation !== this.#generation) return;
    // close() ran while this batch was on its way: it is dropped, as the driver drops it.
    if (this.#closed) {
      this.#done = true;
      this.#unlisten();
      this.#buffer = [];
      this.#pos = 0;
      return;
    }
    this.#pos = 0;
    if (!batch) {
      this.#done = true;
      this.#unlisten();
      this.#reader = null;
      this.#buffer = [];
    } else if (this.#json) {
      // The batch as JSON text `[…]` (elements kept without the brackets), or as BSON when Rust
      // would not render it byte for byte (it then says so rather than differ).
      this.#buffer = [];
      if (batch.json) {
        this.#json.push(batch.json.subarray(1, batch.json.length - 1));
      } else {
        // Kept as the current batch until decoded: a batch js-bson refuses fails this read and
        // the next one again, as toArray() does, instead of being skipped.
        this.#reader = new BatchReader(batch.bson, this.#read);
        this.#json.push(jsonOf(this.#reader.take(Infinity)));
      }
    } else {
      this.#reader = new BatchReader(batch, this.#read);
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

  /**
   * `doc` through `map()`'s functions; a function that throws closes the cursor, and one that
   * returns `null` is refused (it would read as the end), as the driver's are.
   */
  async #mapped(doc) {
    if (doc === null || !this.#transform) return doc;
    let out;
    try {
      out = this.#transform(doc);
    } catch (e) {
      await this.close().catch(noop);
      throw e;
    }
    if (out === null) {
      await this.close().catch(noop);
      throw new MongoAPIError(
        'Cursor returned a `null` document, but the cursor is not exhausted.  Mapping documents to `null` is not supported in the cursor transform.',
      );
    }
    return out;
  }

  /** The next document, or null when there are no more. */
  next() {
    // A document already decoded, with no read waiting and nothing to map: no queueing needed.
    if (!this.#reading && !this.#transform && this.#pos < this.#buffer.length) {
      const doc = this.#buffer[this.#pos];
      this.#buffer[this.#pos++] = undefined;
      return Promise.resolve(doc);
    }
    return this.#serial(async () => this.#mapped(await this.#next()));
  }

  /** True when a next document exists (it stays buffered for `next`). */
  hasNext() {
    return this.#serial(async () => {
      while (this.#pos >= this.#buffer.length) {
        if (this.#done) return false;
        await this.#fill(SLICE);
      }
      return true;
    });
  }

  /** The next document if one is buffered or the next batch brings one, else null (no waiting for more). */
  tryNext() {
    return this.#serial(async () => {
      if (this.#pos >= this.#buffer.length && !this.#done) await this.#fill(SLICE);
      if (this.#pos >= this.#buffer.length) return null;
      const doc = this.#buffer[this.#pos];
      this.#buffer[this.#pos++] = undefined;
      return this.#mapped(doc);
    });
  }

  /** Calls `iterator` with each document until it returns `false`; the cursor stays open then, as the driver's does. */
  async forEach(iterator) {
    if (typeof iterator !== 'function') throw invalidArg('Argument "iterator" must be a function');
    for (;;) {
      const doc = await this.next();
      if (doc === null) return;
      if (iterator(doc) === false) return;
    }
  }

  /** How many documents are read from the server but not yet returned. */
  bufferedCount() {
    return this.#buffer.length - this.#pos + (this.#reader ? this.#reader.remaining : 0);
  }

  /** Takes up to `n` (default all) of the buffered documents, without reading more and without `map()`. */
  readBufferedDocuments(n) {
    const out = [];
    const want = Math.min(n ?? Infinity, this.bufferedCount());
    while (out.length < want) {
      if (this.#pos >= this.#buffer.length) {
        this.#buffer = this.#reader.take(SLICE);
        this.#pos = 0;
      }
      out.push(this.#buffer[this.#pos]);
      this.#buffer[this.#pos++] = undefined;
    }
    return out;
  }

  /** The database and collection the cursor reads, as the driver's `namespace` (`db.collection`). */
  get namespace() {
    return this.#namespace;
  }

  /** True once `close()` ended the cursor (as the driver's: killed rather than read to the end). */
  get killed() {
    return this.#closed;
  }

  /** True once the cursor is closed or exhausted and every buffered document has been returned. */
  get closed() {
    return (this.#closed || this.#done) && this.bufferedCount() === 0;
  }

  /**
   * Back to before the first read: the next read sends the query again, under the context the
   * cursor was made in. Options and `map()` stay.
   */
  rewind() {
    const native = this.#native;
    const opening = this.#opening;
    this.#native = null;
    this.#opening = null;
    this.#reader = null;
    this.#buffer = [];
    this.#pos = 0;
    this.#done = false;
    this.#closed = false;
    this.#batches = 0;
    this.#started = 0;
    this.#generation++;
    if (this.#limits && this.#limits.signal && !this.#onAbort) {
      this.#onAbort = () => this.close().catch(noop);
      this.#limits.signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    // A read in flight stays first in the queue and reads on from the new start.
    // The old server cursor is released in the background; its errors are nobody's now.
    if (native) native.close().catch(noop);
    else if (opening) opening.then((n) => n.close(), noop).catch(noop);
  }

  /** A new, unread cursor with the same query and options, in the same context (without `map()`). */
  clone() {
    // Only the options object and the pipeline array are ever changed in place (by chaining).
    const r = this.#request;
    const copy = { ...r, options: { ...r.options } };
    if (r.pipeline) copy.pipeline = [...r.pipeline];
    if (this.#singleBatch) copy.options.singleBatch = true;
    const limits = this.#limits && { ...this.#limits, started: Date.now() };
    return new FenceCursor(this.#open, this.#kind, copy, this.#read, limits, this.#write, this.#namespace);
  }

  /** A Readable of the documents (object mode, one at a time, so a slow consumer holds the reads). */
  stream(options) {
    const cursor = this;
    const readable = new Readable({
      objectMode: true,
      highWaterMark: 1,
      read() {
        cursor.next().then(
          (doc) => this.push(doc),
          (err) => this.destroy(err),
        );
      },
      destroy(err, done) {
        cursor.close().then(() => done(err), (e) => done(err || e));
      },
    });
    if (!options || options.transform === undefined) return readable;
    if (typeof options.transform !== 'function') throw invalidArg('stream(options): options.transform must be a function');
    const { Transform } = require('node:stream');
    const transform = options.transform;
    const out = readable.pipe(new Transform({
      objectMode: true,
      highWaterMark: 1,
      transform(doc, _, done) {
        try {
          done(undefined, transform(doc));
        } catch (e) {
          done(e);
        }
      },
    }));
    readable.on('error', (e) => out.emit('error', e));
    return out;
  }

  /** `await using cursor = ...` closes it. */
  async [Symbol.asyncDispose]() {
    await this.close();
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
    let out = [];
    let generation = this.#generation;
    for (;;) {
      // Rewound while reading: the documents of the old query go, the new query is read whole.
      if (generation !== this.#generation) {
        generation = this.#generation;
        out = [];
      }
      while (this.#pos < this.#buffer.length) out.push(this.#buffer[this.#pos++]);
      if (this.#done) break;
      await this.#fill(Infinity);
    }
    if (!this.#transform) return out;
    for (let i = 0; i < out.length; i++) out[i] = await this.#mapped(out[i]);
    return out;
  }

  /**
   * All remaining documents as the bytes `res.json(await cursor.toArray())` would send: the JSON
   * text `JSON.stringify` gives for the decoded documents, byte for byte, rendered in Rust from
   * the server's BSON without making JS objects. With `map()` or BSON read options it is
   * `JSON.stringify` of `toArray()`.
   */
  toJSONBuffer() {
    if (this.#transform || this.#read !== READ || !stockJSON()) return this.toArray().then((docs) => Buffer.from(JSON.stringify(docs)));
    return this.#serial(async () => {
      const parts = [];
      // Documents already decoded (or fetched) by earlier reads come first, as toArray would give
      // them; they are taken off the cursor only once their JSON is made, so a failure loses none.
      let left = this.#buffer.slice(this.#pos);
      if (this.#reader && !this.#reader.done) {
        this.#buffer = left.concat(this.#reader.take(Infinity));
        this.#pos = 0;
        left = this.#buffer;
      }
      if (left.length) parts.push(jsonOf(left));
      this.#buffer = [];
      this.#pos = 0;
      this.#reader = null;
      let generation = this.#generation;
      this.#json = parts;
      try {
        while (!this.#done) {
          await this.#fill(Infinity);
          // Rewound while reading: the old query's JSON goes, the new query is read whole.
          if (generation !== this.#generation) {
            generation = this.#generation;
            parts.length = 0;
          }
        }
      } finally {
        this.#json = null;
      }
      return joinJSON(parts);
    });
  }

  /** Stops reading and releases the server cursor. */
  async close() {
    this.#closed = true;
    this.#done = true;
    this.#unlisten();
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
