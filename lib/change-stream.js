'use strict';
// A scoped change stream, shaped like the driver's ChangeStream: next / tryNext / hasNext,
// `for await`, on('change'), close(). It keeps the context it was opened in (like cursors);
// Rust opened it with the tenant's rules and checks every event before it gets here.

const { EventEmitter } = require('node:events');
const { Readable } = require('node:stream');
const BSON = require('bson');
const { READ, READ_BSON } = require('./codec');
const { fromNative, MongoAPIError } = require('./errors');

const noop = () => {};

class FenceChangeStream extends EventEmitter {
  #opening;
  #native = null;
  #closed = false;
  #ended = false;
  /** An event `hasNext()` read ahead. */
  #peeked = null;
  /** True once a 'change' listener reads the stream (the driver refuses mixing the two ways). */
  #emitting = false;
  /** hasNext()'s look-ahead while it reads. */
  #peeking = null;
  /** Iterator reads in flight. */
  #pending = 0;
  #read;
  #namespace;
  /** The bound token given as resumeAfter / startAfter, until an event replaces it. */
  #startToken;

  /**
   * @param open () => Promise<NativeChangeStream>, already bound to the caller's context
   */
  constructor(open, { read = READ, namespace, startToken = null } = {}) {
    super();
    this.#read = read;
    this.#namespace = namespace;
    this.#startToken = startToken;
    // Opened at once, so events written after watch() returns are seen; an error surfaces on
    // the first read (or as 'error' once a 'change' listener is added).
    this.#opening = open().then(
      (n) => {
        this.#native = n;
        if (this.#closed) n.close().catch(noop);
        return n;
      },
      (e) => {
        this.#ended = true;
        throw e;
      },
    );
    this.#opening.catch(noop);
    this.on('newListener', (name) => {
      if (name === 'change') this.#startEmitting();
    });
  }

  /** `{ db, collection }` of the watched collection. */
  get namespace() {
    return this.#namespace;
  }

  /** True once `close()` was called or the stream ended. */
  get closed() {
    return this.#closed;
  }

  /**
   * The resume token of the last event delivered (bound to this tenant and collection), or the
   * one the stream was opened with; null before any. Give it back as `resumeAfter` /
   * `startAfter` to a stream of the same tenant on the same collection.
   */
  get resumeToken() {
    const t = this.#native && this.#native.resumeToken;
    if (t) return (this.#read[READ_BSON] || BSON).deserialize(t, this.#read);
    return this.#startToken;
  }

  async #nativeStream() {
    return this.#opening;
  }

  #decode(buf) {
    return buf ? (this.#read[READ_BSON] || BSON).deserialize(buf, this.#read) : null;
  }

  /** Refuses an iterator read while the stream emits 'change' (each event goes one way). */
  #iterating() {
    if (this.#emitting) throw new MongoAPIError('ChangeStream cannot be used as an iterator after being used as an EventEmitter');
  }

  async #read_(wait) {
    // A read while hasNext() looks ahead waits for what it finds: that event comes first.
    if (this.#peeking) await this.#peeking.catch(() => {});
    if (this.#peeked) {
      const e = this.#peeked;
      this.#peeked = null;
      return e;
    }
    if (this.#closed || this.#ended) return null;
    const n = await this.#nativeStream();
    let buf;
    try {
      buf = wait ? await n.next() : await n.tryNext();
    } catch (e) {
      this.#ended = true;
      await this.close();
      throw fromNative(e);
    }
    if (buf === null && wait) {
      // Closed, or the server ended the stream (the collection was dropped or renamed).
      this.#ended = true;
      await this.close();
    }
    return this.#decode(buf);
  }

  /** The next change, waiting for one; null once the stream is closed or has ended. */
  async next() {
    this.#iterating();
    return this.#counted(true);
  }

  /** The next change if one is ready now (at most one server round trip), else null. */
  async tryNext() {
    this.#iterating();
    // At most one round trip, never a wait: with another read in flight (a hasNext() looking
    // ahead, a next() waiting) nothing is ready for this one.
    if (!this.#peeked && (this.#peeking || this.#pending > 0)) return null;
    return this.#counted(false);
  }

  /** Waits for the next change; false once the stream is closed or has ended. */
  async hasNext() {
    this.#iterating();
    if (this.#peeked) return true;
    // Concurrent hasNext() calls share one look-ahead, so none reads past an event another holds.
    this.#peeking ??= this.#peek().finally(() => {
      this.#peeking = null;
    });
    return (await this.#peeking) !== null;
  }

  /** Reads the next change into `#peeked`, counted among the reads in progress until it is stored. */
  async #peek() {
    this.#pending++;
    try {
      this.#peeked = await this.#read_(true);
      return this.#peeked;
    } finally {
      this.#pending--;
    }
  }

  /** `#read_(wait)`, counted among the reads in progress while it runs. */
  async #counted(wait) {
    this.#pending++;
    try {
      return await this.#read_(wait);
    } finally {
      this.#pending--;
    }
  }

  async *[Symbol.asyncIterator]() {
    try {
      for (;;) {
        const e = await this.next();
        if (e === null) return;
        yield e;
      }
    } finally {
      // As the driver: leaving a `for await` (break, throw) closes the stream.
      await this.close();
    }
  }

  /** A Readable of changes (object mode). */
  stream() {
    return Readable.from(this);
  }

  #startEmitting() {
    if (this.#emitting) return;
    if (this.#pending) throw new MongoAPIError('ChangeStream cannot be used as an EventEmitter while it is read as an iterator');
    this.#emitting = true;
    (async () => {
      for (;;) {
        let e;
        try {
          e = await this.#read_(true);
        } catch (err) {
          this.emit('error', err);
          return;
        }
        if (e === null) return;
        this.emit('change', e);
      }
    })();
  }

  /** Closes the stream; a pending `next()` resolves null. Emits 'close' once. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    // As the driver: nothing is read from a closed stream, an event hasNext() found included.
    this.#peeked = null;
    const n = this.#native;
    if (n) await n.close().catch(noop);
    this.emit('close');
  }
}

module.exports = { FenceChangeStream };
