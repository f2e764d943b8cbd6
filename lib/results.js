'use strict';
// The driver's result classes for batch writes: `BulkWriteResult` (what `bulkWrite` resolves to,
// and a `MongoBulkWriteError`'s `result`) and `WriteError` (each of its `writeErrors`), with the
// driver's members, so code written against the driver's result keeps working.

const { EJSON } = require('bson');

/** One failed write of a batch, as the driver's `WriteError`. */
class WriteError {
  constructor(entry) {
    // The driver keeps `{ index, code, errmsg, errInfo }` of the server's entry as `err` (a
    // duplicate key's keyPattern / keyValue are not kept in a batch, by the driver either); its
    // fields are also own properties here, so an entry still reads and compares as the plain
    // `{ index, code, errmsg }` it was.
    const err = {};
    for (const k of ['index', 'code', 'errmsg', 'errInfo']) {
      if (entry[k] !== undefined) err[k] = entry[k];
    }
    Object.defineProperty(this, 'err', { value: err, enumerable: false });
    Object.assign(this, err);
  }

  /** The operation that failed, where known. */
  getOperation() {
    return this.err.op;
  }

  toJSON() {
    return { code: this.err.code, index: this.err.index, errmsg: this.err.errmsg, op: this.err.op };
  }

  toString() {
    return `WriteError(${JSON.stringify(this.toJSON())})`;
  }
}

/** What a batch write did, as the driver's `BulkWriteResult`. */
class BulkWriteResult {
  #raw;

  /**
   * @param counts `{ insertedCount, matchedCount, modifiedCount, deletedCount, upsertedCount,
   *   insertedIds, upsertedIds }` as the fence reports them
   * @param writeErrors the failed writes (a `MongoBulkWriteError`'s), else none
   */
  constructor(counts = {}, writeErrors = []) {
    this.insertedCount = counts.insertedCount ?? 0;
    this.matchedCount = counts.matchedCount ?? 0;
    this.modifiedCount = counts.modifiedCount ?? 0;
    this.deletedCount = counts.deletedCount ?? 0;
    this.upsertedCount = counts.upsertedCount ?? 0;
    this.upsertedIds = counts.upsertedIds ?? {};
    this.insertedIds = counts.insertedIds ?? {};
    const list = (ids) => Object.entries(ids).map(([index, _id]) => ({ index: Number(index), _id }));
    const errors = writeErrors.filter((w) => w.index !== null && w.index !== undefined);
    const concern = writeErrors.filter((w) => w.index === null || w.index === undefined);
    // The merged response the driver keeps (getRawResponse).
    this.#raw = {
      ok: 1,
      writeErrors: errors,
      writeConcernErrors: concern,
      insertedIds: list(this.insertedIds),
      nInserted: this.insertedCount,
      nUpserted: this.upsertedCount,
      nMatched: this.matchedCount,
      nModified: this.modifiedCount,
      nRemoved: this.deletedCount,
      upserted: list(this.upsertedIds),
    };
  }

  /** 1, as the driver's (a failed batch rejects with `MongoBulkWriteError`). */
  get ok() {
    return this.#raw.ok;
  }

  /** The upserted `{ index, _id }` at `index` of the upserts. */
  getUpsertedIdAt(index) {
    return this.#raw.upserted[index];
  }

  /** The merged server response. */
  getRawResponse() {
    return this.#raw;
  }

  hasWriteErrors() {
    return this.#raw.writeErrors.length > 0;
  }

  getWriteErrorCount() {
    return this.#raw.writeErrors.length;
  }

  getWriteErrorAt(index) {
    const w = this.#raw.writeErrors[index];
    return w ? (w instanceof WriteError ? w : new WriteError(w)) : undefined;
  }

  getWriteErrors() {
    return this.#raw.writeErrors.map((w) => (w instanceof WriteError ? w : new WriteError(w)));
  }

  /** The write concern error, if the batch had one. */
  getWriteConcernError() {
    const w = this.#raw.writeConcernErrors[0];
    return w ? { code: w.code, errmsg: w.errmsg, errInfo: w.errInfo } : undefined;
  }

  toString() {
    return `BulkWriteResult(${EJSON.stringify(this.#raw)})`;
  }

  isOk() {
    return this.#raw.ok === 1;
  }
}

module.exports = { BulkWriteResult, WriteError };
