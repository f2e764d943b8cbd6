// Type definitions for tenantfence. Hand-written; they describe index.js / index.mjs.
// Shapes follow the official `mongodb` Node driver where tenantfence follows it.

import type { Binary, Decimal128, Document, Double, Int32, Long, ObjectId, Timestamp } from 'bson';

export { ObjectId, Decimal128, Long, Binary, Timestamp } from 'bson';
export type { Document } from 'bson';

// ---------------------------------------------------------------------------
// Errors

/** The stable codes of a {@link TenantError}. */
export type TenantErrorCode = 'TENANT_MISSING' | 'TENANT_INVALID' | 'TENANT_VIOLATION' | 'TENANT_QUOTA';

/**
 * A call refused by the tenant rules. Nothing was sent to the server.
 * - `TENANT_MISSING`: no tenant in context (or `runAsSystem` under strategy `'database'`).
 * - `TENANT_INVALID`: a tenant id that breaks the id rule.
 * - `TENANT_VIOLATION`: the call would read or write outside the current tenant.
 */
export declare class TenantError extends Error {
  constructor(code: TenantErrorCode, message: string);
  readonly name: 'TenantError';
  readonly code: TenantErrorCode;
  /** `TENANT_QUOTA` only: how long to wait before trying again. */
  readonly retryAfterMs?: number;
  /** `TENANT_QUOTA` only: 429, which Express's error handler answers with. */
  readonly status?: number;
  /** `TENANT_QUOTA` only: `{ 'Retry-After': seconds }`, which Express's error handler sets. */
  readonly headers?: { 'Retry-After': string };
}

/** One tenant's (or pseudo-tenant's) figures for one operation. */
export interface OperationMetrics {
  calls: number;
  /** Failed calls by code: `TENANT_*`, the server's numeric code, or the driver error's name. */
  errors: Record<string, number>;
  documentsRead: number;
  documentsWritten: number;
  bytesIn: number;
  bytesOut: number;
  serverSeconds: number;
  queueSeconds: number;
  /** `counts` has one more entry than `bounds` (the +Inf bucket); not cumulative. */
  latency: { bounds: number[]; counts: number[]; sum: number; count: number };
}

/** `fence.metrics()`: series by tenant, then by operation. */
export interface MetricsSnapshot {
  since: Date;
  limit: number;
  folded: number;
  tenants: Record<string, Record<string, OperationMetrics>>;
  /** Tenants folded out of the table to bound cardinality. */
  other: Record<string, OperationMetrics>;
  /** `runAsSystem` calls. */
  system: Record<string, OperationMetrics>;
  /** Calls made with no context (each one a `TENANT_MISSING`). */
  none: Record<string, OperationMetrics>;
}

/** An event of the audit sink (`audit` at connect). */
export type AuditEvent =
  | { time: string; type: 'system'; reason: string; collection: string; operation: string; target?: string }
  | { time: string; type: 'refusal'; code: TenantErrorCode; tenant: string | undefined; collection: string; operation: string; message: string; retryAfterMs?: number }
  | { time: string; type: 'refusal'; code: 'TENANT_MISSING' | 'TENANT_INVALID'; operation: 'middleware'; method: string; path: string; message: string };

/** Sends JSON bytes (`cursor.toJSONBuffer()`) as `res.json()` would send the documents. */
export declare function sendJSON(res: import('http').ServerResponse, body: Buffer | Promise<Buffer>): Promise<void>;

/** A tenant's limits (`quotas` at connect); each is optional, none means unlimited. */
export interface QuotaLimits {
  /** The tenant's calls in flight at once. */
  maxConcurrent?: number;
  /** Calls the tenant may start per second; a burst of one second's worth may go at once. */
  opsPerSecond?: number;
  /** The server-side time limit of the tenant's reads (the smaller of this and the call's own). */
  maxTimeMS?: number;
  /** Calls that may wait their turn (default 100); one more is refused with `TENANT_QUOTA`. */
  maxQueue?: number;
}

/**
 * A failure of tenantfence itself, neither the call's arguments nor MongoDB's answer:
 * - `ERR_INTERNAL`: a panic inside the addon, caught and stopped before it reached Node.
 * - `ERR_CANCELLED`: the addon's runtime shut down before the call finished.
 */
export declare class TenantFenceError extends Error {
  constructor(code: 'ERR_INTERNAL' | 'ERR_CANCELLED', message: string);
  readonly name: 'TenantFenceError';
  readonly code: 'ERR_INTERNAL' | 'ERR_CANCELLED';
}

/** The base of MongoDB's errors, as the driver's: labels, and `errmsg` for `message`. */
export declare class MongoError extends Error {
  readonly errorLabels: string[];
  hasErrorLabel(label: string): boolean;
  addErrorLabel(label: string): void;
  readonly errmsg: string;
  code?: number | string;
}

/** An error MongoDB reported: its numeric `code` and `codeName`. */
export declare class MongoServerError extends MongoError {
  code?: number;
  codeName?: string;
  errInfo?: Document;
  /** A duplicate key's index key and values (from a write sent as a command: bulkWrite, a write with maxTimeMS). */
  keyPattern?: Document;
  keyValue?: Document;
  /** The server's answer as the fence passes it on (a message may be withheld). */
  errorResponse: Document;
}

/** A write concern the server could not satisfy. */
export declare class MongoWriteConcernError extends MongoServerError {}

/** Counts of a batch write that failed part-way. */
export interface BulkWriteErrorResult {
  insertedCount?: number;
  matchedCount?: number;
  modifiedCount?: number;
  deletedCount?: number;
  upsertedCount?: number;
  insertedIds?: { [index: number]: unknown };
  upsertedIds?: { [index: number]: unknown };
}

/** An `insertMany` / `bulkWrite` some of whose writes failed (the others may have applied). */
export declare class MongoBulkWriteError extends MongoServerError {
  writeErrors: WriteError[];
  /** What went in before (or besides) the failures. */
  result: BulkWriteResult;
  readonly insertedCount: number;
  readonly matchedCount: number;
  readonly modifiedCount: number;
  readonly deletedCount: number;
  readonly upsertedCount: number;
  readonly insertedIds: { [index: number]: unknown };
  readonly upsertedIds: { [index: number]: unknown };
}

/** A failure on the driver's side: the base of the network, selection and closed-client errors. */
export declare class MongoDriverError extends MongoError {}
export declare class MongoNetworkError extends MongoDriverError {}
export declare class MongoServerSelectionError extends MongoDriverError {}
export declare class MongoClientClosedError extends MongoDriverError {}
/** A misuse of the API, as the driver names it (a cursor `map()` that returns `null`). */
export declare class MongoAPIError extends MongoDriverError {}
/** A transaction misused (commit with none started, started twice), or a transient refusal labelled `TransientTransactionError`. */
export declare class MongoTransactionError extends MongoAPIError {}
/** A call in a session after `endSession()`. */
export declare class MongoExpiredSessionError extends MongoAPIError {}
/** A call that did not finish within its `timeoutMS` (docs/options.md). */
export declare class MongoOperationTimeoutError extends MongoDriverError {}
/** An option the connected server is too old for (`sort` on `updateOne` / `replaceOne` before MongoDB 8.0). */
export declare class MongoCompatibilityError extends MongoAPIError {}

/** One failed write of an `insertMany` / `bulkWrite`. */
export interface WriteErrorInfo {
  index: number | null;
  code: number;
  errmsg: string;
}

/**
 * What an error reported by MongoDB looks like (not a class you can import):
 * `name` is `'MongoServerError'`, `'MongoBulkWriteError'` or `'MongoWriteConcernError'`,
 * and the server's numeric `code` and `codeName` are kept (e.g. 11000 / `'DuplicateKey'`).
 * Driver-side failures (`'MongoServerSelectionError'`, `'MongoNetworkError'`, `'MongoClientClosedError'`, `'MongoError'`)
 * carry no `code`.
 */
export interface MongoErrorInfo extends Error {
  code?: number;
  codeName?: string;
  writeErrors?: WriteErrorInfo[];
  result?: {
    insertedCount: number;
    matchedCount: number;
    modifiedCount: number;
    deletedCount: number;
    upsertedCount: number;
  };
  errorLabels?: string[];
}

// ---------------------------------------------------------------------------
// Connecting

/** The operation names passed to `onSystemAccess`. */
export type FenceOperation =
  | 'insertOne'
  | 'insertMany'
  | 'findOne'
  | 'find'
  | 'aggregate'
  | 'countDocuments'
  | 'estimatedDocumentCount'
  | 'distinct'
  | 'updateOne'
  | 'updateMany'
  | 'replaceOne'
  | 'deleteOne'
  | 'deleteMany'
  | 'findOneAndUpdate'
  | 'findOneAndReplace'
  | 'findOneAndDelete'
  | 'bulkWrite'
  | 'createIndex'
  | 'createIndexes'
  | 'listIndexes'
  | 'dropIndex'
  | 'dropIndexes'
  | 'drop'
  | 'rename'
  | 'options'
  | 'listCollections'
  | 'createCollection'
  | 'dropCollection';

/** What the `onSystemAccess` hook receives before each collection call inside `runAsSystem`. */
export interface SystemAccessEvent {
  reason: string;
  /** The collection (`''` for `fence.db.listCollections`). */
  collection: string;
  operation: FenceOperation;
  /** `rename`'s new name (the collection `dropTarget` would replace). */
  target?: string;
  /** Inside `runAsTenants`: the tenants the call reads (sorted); `reason` is then optional. */
  tenants?: string[];
}

export interface ConnectOptions {
  /** Top-level field holding the tenant id (no `.` or `$`, not `_id`). Default `'tenantId'`. */
  tenantField?: string;
  /** `'field'` (shared collections, default) or `'database'` (one database per tenant, `fence.databaseFor(tenantId)`: `<database>~<escaped id>`). */
  strategy?: 'field' | 'database';
  /** Database name (the base name under strategy `'database'`). Default: the URI's database, else `'test'`. */
  database?: string;
  /** Called synchronously before every collection call inside `runAsSystem`; a throw refuses the call with that error. */
  onSystemAccess?: (event: SystemAccessEvent) => void;
  /**
   * Replaces the default tenant id rule (1 to 64 characters of `[A-Za-z0-9_-]`). Ids holding
   * `$ . / \`, a space, `"`, NUL or a control character, or longer than 128 bytes, are refused whatever it says.
   */
  tenantIdPattern?: RegExp;
  serverSelectionTimeoutMS?: number;
  connectTimeoutMS?: number;
  maxPoolSize?: number;
  appName?: string;
  /**
   * Record every command sent to MongoDB for `tenantfence/testing`'s isolation probe. Default:
   * on when the environment variable `TENANTFENCE_MONITOR_COMMANDS` is `'1'` (its globalSetup sets it), else off.
   */
  monitorCommands?: boolean;
  /**
   * Limits per tenant, enforced in Rust before a call is sent: the same for every tenant, or a
   * function of the tenant id (asked at most once a minute per tenant; null for no limits).
   */
  quotas?: QuotaLimits | ((tenantId: string) => QuotaLimits | null | undefined);
  /** Per-tenant metrics: on by default with 100 tenants' series; `false` turns them off. */
  metrics?: boolean | { limit?: number };
  /** The audit sink: a function, or a writable stream of JSON lines (docs/operations.md). */
  audit?: ((event: AuditEvent) => void) | { write(line: string): unknown };
  /** Collections every tenant reads and only runAsSystem writes (docs/shared-collections.md). */
  shared?: string[];
  /**
   * The key (32+ bytes) that binds change stream resume tokens to their tenant and collection;
   * default: random per process (docs/change-streams.md).
   */
  resumeTokenKey?: string | Uint8Array;
}

export interface SystemAccessOptions {
  /** Why scoping is lifted; passed to `onSystemAccess`. Required, non-empty. */
  reason: string;
}

// ---------------------------------------------------------------------------
// Middleware (no dependency on @types/express: minimal structural shapes)

/** The part of a Node / Express request the middleware reads. */
export interface MiddlewareRequest {
  headers: { [name: string]: string | string[] | undefined };
}

/** The part of a Node / Express response the middleware writes (for its 400 answer). */
export interface MiddlewareResponse {
  statusCode: number;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  end(chunk?: any): unknown;
}

export type NextFunction = (err?: any) => void;

/** `(req, res, next) => void`, usable with `app.use()` in Express 4 and 5. */
export type TenantMiddleware<Req extends MiddlewareRequest = MiddlewareRequest> = (
  req: Req,
  res: MiddlewareResponse,
  next: NextFunction,
) => void;

export type MiddlewareOptions<Req extends MiddlewareRequest = MiddlewareRequest> =
  | {
      /** Request header holding the tenant id. Default `'x-tenant-id'`. */
      header?: string;
      resolve?: undefined;
    }
  | {
      header?: undefined;
      /** Finds the tenant id for a request (JWT claim, subdomain, path ...). Nothing (or `''`) -> 400 `TENANT_MISSING`; a throw -> `next(err)`. */
      /** An array of ids reads their union until the response is done (docs/multi-tenant-reads.md). */
      resolve: (req: Req) => string | string[] | null | undefined | PromiseLike<string | string[] | null | undefined>;
    };

// ---------------------------------------------------------------------------
// Documents, filters, updates
//
// A typed collection (`collection<Note>('notes')`) checks the fields it knows: their values in
// filters, `$set`, `$inc` (numeric fields only), `$push` (array fields only) ... As in the driver,
// other keys (dotted paths, operators on nested documents) pass unchecked. An untyped collection
// (`Document`) accepts any filter and update.

/** The `_id` type of a schema: its declared `_id`, else `ObjectId`. */
export type InferIdType<TSchema> = TSchema extends { _id?: infer Id }
  ? unknown extends Id
    ? ObjectId
    : Id
  : ObjectId;

/** `Omit` that keeps an index-signature type (such as `Document`) whole instead of emptying it. */
type OmitId<TSchema> = string extends keyof TSchema ? TSchema : Omit<TSchema, '_id'>;

/** A document as stored: with its `_id`. (Under strategy `'field'` it also carries the tenant field.) */
export type WithId<TSchema> = OmitId<TSchema> & { _id: InferIdType<TSchema> };

/** A document to insert: `_id` optional (one is generated and written back into the object). */
export type OptionalId<TSchema> = OmitId<TSchema> & { _id?: InferIdType<TSchema> };

/** The numeric BSON values `$inc` and `$mul` take. */
export type NumericType = number | bigint | Long | Decimal128 | Double | Int32;

type ElementOf<T> = T extends ReadonlyArray<infer E> ? E : never;

/** What a filter may compare a field with: its own type, or an element of an array field. */
type Comparable<T> = T extends ReadonlyArray<infer E> ? T | E : T;

/** The query operators on one field. */
export interface FilterOperators<T> {
  $eq?: Comparable<T> | null;
  $ne?: Comparable<T> | null;
  $gt?: Comparable<T>;
  $gte?: Comparable<T>;
  $lt?: Comparable<T>;
  $lte?: Comparable<T>;
  $in?: ReadonlyArray<Comparable<T> | null | RegExp>;
  $nin?: ReadonlyArray<Comparable<T> | null | RegExp>;
  $exists?: boolean;
  $type?: string | number | ReadonlyArray<string | number>;
  $not?: FilterOperators<T> | RegExp;
  $regex?: NonNullable<T> extends string | ReadonlyArray<string> ? RegExp | string : never;
  $options?: NonNullable<T> extends string | ReadonlyArray<string> ? string : never;
  $all?: NonNullable<T> extends ReadonlyArray<any> ? ReadonlyArray<any> : never;
  $size?: NonNullable<T> extends ReadonlyArray<any> ? number : never;
  $elemMatch?: NonNullable<T> extends ReadonlyArray<any> ? Document : never;
  $mod?: NonNullable<T> extends NumericType ? [number, number] : never;
  $bitsAllSet?: number | ReadonlyArray<number> | Binary;
  $bitsAllClear?: number | ReadonlyArray<number> | Binary;
  $bitsAnySet?: number | ReadonlyArray<number> | Binary;
  $bitsAnyClear?: number | ReadonlyArray<number> | Binary;
  $geoWithin?: Document;
  $geoIntersects?: Document;
  $near?: Document;
  $nearSphere?: Document;
  $maxDistance?: number;
  $minDistance?: number;
}

/** A field's condition: a value (a `RegExp` for a string), or operators. */
export type Condition<T> =
  | Comparable<T>
  | (NonNullable<T> extends string | ReadonlyArray<string> ? RegExp : never)
  | FilterOperators<T>
  | null;

/** The operators at the top of a filter. Other keys (dotted paths ...) are not checked, as in the driver. */
export interface RootFilterOperators<TSchema> extends Document {
  $and?: ReadonlyArray<Filter<TSchema>>;
  $or?: ReadonlyArray<Filter<TSchema>>;
  $nor?: ReadonlyArray<Filter<TSchema>>;
  $expr?: Document;
  $text?: { $search: string; $language?: string; $caseSensitive?: boolean; $diacriticSensitive?: boolean };
  $comment?: string | Document;
  $jsonSchema?: Document;
}

/** A query filter. The tenant match is always added to it. */
export type Filter<TSchema> = string extends keyof TSchema
  ? Document
  : { [P in keyof WithId<TSchema>]?: Condition<WithId<TSchema>[P]> } & RootFilterOperators<WithId<TSchema>>;

/** Known fields typed; dotted paths and other keys pass unchecked. */
type FieldValues<TSchema> = { [P in keyof TSchema]?: TSchema[P] } & Document;

/** The known fields whose type is `Type`, mapped to `Value`; other keys pass unchecked. */
type FieldsOfType<TSchema, Type, Value> = {
  [P in keyof TSchema as NonNullable<TSchema[P]> extends Type ? P : never]?: Value;
} & { [P in keyof TSchema as NonNullable<TSchema[P]> extends Type ? never : P]?: never } & Document;

type ArrayFields<TSchema, Value> = FieldsOfType<TSchema, ReadonlyArray<any>, Value>;

/** `$push` / `$addToSet` value for one array field: an element, or `$each` with modifiers. */
type PushValue<T> =
  | ElementOf<NonNullable<T>>
  | { $each: ReadonlyArray<ElementOf<NonNullable<T>>>; $position?: number; $slice?: number; $sort?: Sort | 1 | -1 };

/** An update document made of these operators (the only ones accepted). */
export interface UpdateOperators<TSchema = Document> {
  $set?: FieldValues<TSchema>;
  $setOnInsert?: FieldValues<TSchema>;
  $unset?: { [P in keyof TSchema]?: '' | true | 1 } & Document;
  $inc?: FieldsOfType<TSchema, NumericType, NumericType>;
  $mul?: FieldsOfType<TSchema, NumericType, NumericType>;
  $min?: FieldValues<TSchema>;
  $max?: FieldValues<TSchema>;
  $rename?: { [path: string]: string };
  $currentDate?: FieldsOfType<TSchema, Date | Timestamp, true | { $type: 'date' | 'timestamp' }>;
  $push?: ArrayFields<TSchema, any> & { [P in keyof TSchema]?: PushValue<TSchema[P]> };
  $addToSet?: ArrayFields<TSchema, any> & { [P in keyof TSchema]?: PushValue<TSchema[P]> };
  $pop?: ArrayFields<TSchema, 1 | -1>;
  $pull?: ArrayFields<TSchema, any>;
  $pullAll?: ArrayFields<TSchema, ReadonlyArray<any>>;
  $bit?: FieldsOfType<TSchema, NumericType, { and: number } | { or: number } | { xor: number }>;
}

/** An update pipeline: stages `$set`, `$addFields`, `$project`, `$unset`, `$replaceRoot`, `$replaceWith`. */
export type UpdatePipeline = Document[];

export type UpdateFilter<TSchema> = UpdateOperators<TSchema> | UpdatePipeline;

export type SortDirection = 1 | -1 | 'asc' | 'desc' | 'ascending' | 'descending' | { readonly $meta: string };

/**
 * The driver's sort forms, read as it reads them: `'a'`, `['a', 'b']`, `['a', 'desc']` (one field),
 * `[['a', -1], ['b', 1]]`, `{ a: -1 }`, a `Map`. Directions in any case (`'DESC'`) and `'1'` / `'-1'`
 * are accepted at run time, as by the driver.
 */
export type Sort =
  | string
  | Exclude<SortDirection, { readonly $meta: string }>
  | ReadonlyArray<string>
  | { readonly [key: string]: SortDirection }
  | ReadonlyMap<string, SortDirection>
  | ReadonlyArray<readonly [string, SortDirection]>
  | readonly [string, SortDirection];

export type IndexDirection = -1 | 1 | '2d' | '2dsphere' | 'text' | 'geoHaystack' | 'hashed' | number;

/** The driver's index forms: a field, `[field, direction]`, a key document, a `Map`, or a list of them. */
export type IndexSpecification =
  | string
  | [string, IndexDirection]
  | { [key: string]: IndexDirection }
  | Map<string, IndexDirection>
  | ReadonlyArray<string | [string, IndexDirection] | { [key: string]: IndexDirection } | Map<string, IndexDirection>>;

export type Hint = string | Document;

/** A read preference as the driver takes it: a mode, or the mode with its options. */
export type ReadPreferenceLike =
  | 'primary'
  | 'primaryPreferred'
  | 'secondary'
  | 'secondaryPreferred'
  | 'nearest'
  | { mode: string; tags?: Array<Record<string, string>>; maxStalenessSeconds?: number };

/** A read concern: `{ level }` (`'local'`, `'majority'`, `'linearizable'`, `'available'`, `'snapshot'`). */
export type ReadConcernLike = { level: string } | string;

export interface CollationOptions {
  locale: string;
  caseLevel?: boolean;
  caseFirst?: 'upper' | 'lower' | 'off';
  strength?: 1 | 2 | 3 | 4 | 5;
  numericOrdering?: boolean;
  alternate?: 'non-ignorable' | 'shifted';
  maxVariable?: 'punct' | 'space';
  normalization?: boolean;
  backwards?: boolean;
}

export interface WriteConcern {
  w?: number | 'majority' | string;
  j?: boolean;
  wtimeout?: number;
  wtimeoutMS?: number;
}

// ---------------------------------------------------------------------------
// Method options: each method accepts exactly these; any other key is a TypeError
// (`explain` is refused with TENANT_VIOLATION).

interface CommonOptions {
  comment?: string | Document;
  /** Runs the call in this session (from `fence.startSession()`); inside `fence.withTransaction` the bound one is used. */
  session?: FenceSession;
}

/** What every query-shaped read accepts. */
export interface QueryOptions extends CommonOptions, ReadOptions {
  hint?: Hint;
  collation?: CollationOptions;
  maxTimeMS?: number;
}

/** Where a read is served, with the driver's meanings. */
export interface ReadOptions {
  readPreference?: ReadPreferenceLike;
  readConcern?: { level: string };
}

/** How the documents of a reply are decoded, with the driver's meanings and defaults. */
export interface BsonReadOptions {
  promoteLongs?: boolean;
  promoteValues?: boolean;
  promoteBuffers?: boolean;
  useBigInt64?: boolean;
  bsonRegExp?: boolean;
}

export interface FindOptions extends QueryOptions, BsonReadOptions {
  sort?: Sort;
  limit?: number;
  skip?: number;
  projection?: Document;
  batchSize?: number;
  let?: Document;
  allowDiskUse?: boolean;
}

export interface FindOneOptions extends QueryOptions, BsonReadOptions {
  sort?: Sort;
  skip?: number;
  projection?: Document;
  let?: Document;
}

export interface CountDocumentsOptions extends QueryOptions {
  limit?: number;
  skip?: number;
}

export interface EstimatedDocumentCountOptions extends CommonOptions {
  maxTimeMS?: number;
  readPreference?: ReadPreferenceLike;
  readConcern?: { level: string };
}

export interface DistinctOptions extends QueryOptions, BsonReadOptions {}

export interface AggregateOptions extends QueryOptions, BsonReadOptions {
  batchSize?: number;
  let?: Document;
  allowDiskUse?: boolean;
}

export interface InsertOneOptions extends CommonOptions {
  writeConcern?: WriteConcern;
  bypassDocumentValidation?: boolean;
}

export interface InsertManyOptions extends InsertOneOptions {
  ordered?: boolean;
}

export interface ReplaceOptions extends CommonOptions {
  upsert?: boolean;
  hint?: Hint;
  collation?: CollationOptions;
  let?: Document;
  writeConcern?: WriteConcern;
  bypassDocumentValidation?: boolean;
}

export interface UpdateOptions extends ReplaceOptions {
  arrayFilters?: Document[];
}

export interface DeleteOptions extends CommonOptions {
  hint?: Hint;
  collation?: CollationOptions;
  let?: Document;
  writeConcern?: WriteConcern;
}

export interface FindOneAndDeleteOptions extends CommonOptions, BsonReadOptions {
  projection?: Document;
  sort?: Sort;
  hint?: Hint;
  collation?: CollationOptions;
  let?: Document;
  maxTimeMS?: number;
  writeConcern?: WriteConcern;
}

export interface FindOneAndReplaceOptions extends FindOneAndDeleteOptions {
  upsert?: boolean;
  /** Default `'before'`, as in the driver. */
  returnDocument?: 'before' | 'after';
  /** @deprecated Use `returnDocument`. */
  returnOriginal?: boolean;
  bypassDocumentValidation?: boolean;
}

export interface FindOneAndUpdateOptions extends FindOneAndReplaceOptions {
  arrayFilters?: Document[];
}

export interface BulkWriteOptions extends CommonOptions {
  ordered?: boolean;
  writeConcern?: WriteConcern;
  bypassDocumentValidation?: boolean;
  let?: Document;
}

export interface CreateIndexesOptions {
  name?: string;
  unique?: boolean;
  sparse?: boolean;
  expireAfterSeconds?: number;
  partialFilterExpression?: Document;
  /** Refused (TENANT_VIOLATION) under strategy `'field'` when it could make two tenant ids compare equal. */
  collation?: CollationOptions;
  background?: boolean;
  hidden?: boolean;
  default_language?: string;
  language_override?: string;
  weights?: Document;
  textIndexVersion?: number;
  '2dsphereIndexVersion'?: number;
  min?: number;
  max?: number;
  bits?: number;
  wildcardProjection?: Document;
}

// ---------------------------------------------------------------------------
// Results

export interface InsertOneResult<TSchema = Document> {
  acknowledged: boolean;
  insertedId: InferIdType<TSchema>;
}

export interface InsertManyResult<TSchema = Document> {
  acknowledged: boolean;
  insertedCount: number;
  insertedIds: { [index: number]: InferIdType<TSchema> };
}

export interface UpdateResult<TSchema = Document> {
  acknowledged: boolean;
  matchedCount: number;
  modifiedCount: number;
  upsertedCount: number;
  upsertedId: InferIdType<TSchema> | null;
}

export interface DeleteResult {
  acknowledged: boolean;
  deletedCount: number;
}

/** What a `bulkWrite` did, as the driver's `BulkWriteResult` (its methods included). */
export declare class BulkWriteResult<TSchema = Document> {
  readonly insertedCount: number;
  readonly matchedCount: number;
  readonly modifiedCount: number;
  readonly deletedCount: number;
  readonly upsertedCount: number;
  /** By operation index. */
  readonly insertedIds: { [index: number]: InferIdType<TSchema> };
  /** By operation index. */
  readonly upsertedIds: { [index: number]: InferIdType<TSchema> };
  get ok(): number;
  getUpsertedIdAt(index: number): { index: number; _id: unknown } | undefined;
  getRawResponse(): Document;
  hasWriteErrors(): boolean;
  getWriteErrorCount(): number;
  getWriteErrorAt(index: number): WriteError | undefined;
  getWriteErrors(): WriteError[];
  getWriteConcernError(): { code: number; errmsg: string; errInfo?: Document } | undefined;
  toString(): string;
  isOk(): boolean;
}

/** One failed write of a batch, as the driver's `WriteError`. */
export declare class WriteError {
  readonly index: number;
  readonly code: number;
  readonly errmsg: string;
  readonly errInfo?: Document;
  getOperation(): Document | undefined;
  toJSON(): Document;
  toString(): string;
}

/** The body of a `bulkWrite` `updateOne` / `updateMany` operation. */
export interface BulkUpdateOperation<TSchema = Document> {
  filter: Filter<TSchema>;
  update: UpdateFilter<TSchema>;
  upsert?: boolean;
  collation?: CollationOptions;
  hint?: Hint;
  arrayFilters?: Document[];
}

export type AnyBulkWriteOperation<TSchema = Document> =
  | { insertOne: { document: OptionalId<TSchema> } }
  | { updateOne: BulkUpdateOperation<TSchema> }
  | { updateMany: BulkUpdateOperation<TSchema> }
  | {
      replaceOne: {
        filter: Filter<TSchema>;
        replacement: OptionalId<TSchema>;
        upsert?: boolean;
        collation?: CollationOptions;
        hint?: Hint;
      };
    }
  | { deleteOne: { filter: Filter<TSchema>; collation?: CollationOptions; hint?: Hint } }
  | { deleteMany: { filter: Filter<TSchema>; collation?: CollationOptions; hint?: Hint } };

// ---------------------------------------------------------------------------
// Change streams (docs/change-streams.md)

/** A resume token bound to the tenant and collection whose stream delivered it. */
export interface ResumeToken {
  _data: string;
  [key: string]: unknown;
}

export interface ChangeStreamOptions extends BsonReadOptions {
  fullDocument?: 'default' | 'updateLookup' | 'whenAvailable' | 'required';
  fullDocumentBeforeChange?: 'off' | 'whenAvailable' | 'required';
  resumeAfter?: ResumeToken;
  startAfter?: ResumeToken;
  /** Refused under a tenant; `runAsSystem` only. */
  startAtOperationTime?: Timestamp;
  maxAwaitTimeMS?: number;
  batchSize?: number;
  collation?: Document;
  /** Refused under a tenant of strategy 'field'. */
  showExpandedEvents?: boolean;
  comment?: unknown;
  ignoreUndefined?: boolean;
  serializeFunctions?: boolean;
  checkKeys?: boolean;
}

/** One change event: `_id` is the bound resume token. */
export interface ChangeStreamEvent<TSchema = Document> {
  _id: ResumeToken;
  operationType: 'insert' | 'update' | 'replace' | 'delete' | 'drop' | 'rename' | 'dropDatabase' | 'invalidate' | string;
  fullDocument?: TSchema | null;
  fullDocumentBeforeChange?: TSchema | null;
  documentKey?: { _id: unknown; [key: string]: unknown };
  updateDescription?: { updatedFields?: Document; removedFields?: string[]; truncatedArrays?: Document[] };
  ns?: { db: string; coll?: string };
  clusterTime?: Timestamp;
  wallTime?: Date;
  [key: string]: unknown;
}

/**
 * A change stream bound to the tenant context it was opened in: only that tenant's events,
 * deletes included. Shaped like the driver's ChangeStream.
 */
export interface FenceChangeStream<T = ChangeStreamEvent> extends AsyncIterable<T> {
  /** The next change, waiting for one; null once closed or ended. */
  next(): Promise<T | null>;
  /** The next change after at most one server round trip, else null. */
  tryNext(): Promise<T | null>;
  /** Waits for a change; false once closed or ended. */
  hasNext(): Promise<boolean>;
  /** An object-mode Readable of changes. */
  stream(): import('node:stream').Readable;
  close(): Promise<void>;
  readonly closed: boolean;
  /** The bound token of the last change delivered (or the one it was opened with), else null. */
  readonly resumeToken: ResumeToken | null;
  readonly namespace: { db: string; collection?: string };
  on(event: 'change', listener: (change: T) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  once(event: 'change', listener: (change: T) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: 'close', listener: () => void): this;
  off(event: string, listener: (...args: any[]) => void): this;
}

// ---------------------------------------------------------------------------
// Cursors

/**
 * A read cursor bound to the tenant context it was created under. The query is sent on the
 * first read; a refusal (TenantError) or server error rejects that read. `sort`, `limit`,
 * `skip`, `project`, `batchSize`, `maxTimeMS`, `comment`, `allowDiskUse` and `map` must be called
 * before the first read. Nothing that could change the query is offered (`filter`, `collation`,
 * `hint`, `addStage`, `explain`): pass `collation` and `hint` as options of `find` / `aggregate`.
 */
export interface FenceCursor<T = Document> extends AsyncIterable<T> {
  /** All remaining documents. */
  toArray(): Promise<T[]>;
  /**
   * All remaining documents as the bytes `res.json(await cursor.toArray())` would send (the
   * JSON text `JSON.stringify` gives, byte for byte), rendered in Rust from the server's BSON.
   */
  toJSONBuffer(): Promise<Buffer>;
  /** The next document, or `null` when there are no more. */
  next(): Promise<T | null>;
  /** Stops reading and releases the server cursor. */
  close(): Promise<void>;
  /** Iterates the documents; the cursor is closed when the loop ends or breaks. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined>;
  sort(sort: Sort): this;
  sort(field: string, direction: SortDirection): this;
  limit(n: number): this;
  skip(n: number): this;
  project<P extends Document = Document>(projection: Document): FenceCursor<P>;
  batchSize(n: number): this;
  maxTimeMS(ms: number): this;
  withReadPreference(readPreference: ReadPreferenceLike): this;
  withReadConcern(readConcern: ReadConcernLike): this;
  comment(comment: unknown): this;
  allowDiskUse(allow?: boolean): this;
  /** Maps each document as it is read; chained calls compose; call it before the first read. */
  map<U>(transform: (doc: T) => U): FenceCursor<U>;
  /** True when a next document exists (it stays buffered for `next`). */
  hasNext(): Promise<boolean>;
  /** The next document if one is buffered or the next batch brings one, else `null`. */
  tryNext(): Promise<T | null>;
  /** Calls `iterator` with each document until it returns `false`. */
  forEach(iterator: (doc: T) => boolean | void): Promise<void>;
  /** Documents read from the server and not yet returned. */
  bufferedCount(): number;
  /** Takes up to `n` of the buffered documents, without reading more and without `map()`. */
  readBufferedDocuments(n?: number): Document[];
  /** Closed or exhausted, with nothing left in the buffer. */
  readonly closed: boolean;
  /** Back to before the first read: the next read sends the query again, in the same context. */
  rewind(): void;
  /** A new unread cursor with the same query and options (without `map()`), in the same context. */
  clone(): FenceCursor<T>;
  /** The documents as an object-mode Readable that reads one document at a time. */
  stream(options?: { transform?: (doc: T) => unknown }): import('node:stream').Readable;
  [Symbol.asyncDispose](): Promise<void>;
}

// ---------------------------------------------------------------------------
// Scoped collections

type Flatten<T> = T extends ReadonlyArray<infer E> ? E : T;

/**
 * A collection handle. It binds no tenant: each call reads the tenant from the async context
 * and is refused with `TENANT_MISSING` without one.
 */
export interface ScopedCollection<TSchema extends Document = Document> {
  readonly collectionName: string;

  insertOne(doc: OptionalId<TSchema>, options?: InsertOneOptions): Promise<InsertOneResult<TSchema>>;
  insertMany(docs: ReadonlyArray<OptionalId<TSchema>>, options?: InsertManyOptions): Promise<InsertManyResult<TSchema>>;

  findOne(filter?: Filter<TSchema>, options?: FindOneOptions): Promise<WithId<TSchema> | null>;
  findOne<T extends Document>(filter?: Filter<TSchema>, options?: FindOneOptions): Promise<T | null>;
  /** Throws `TENANT_MISSING` synchronously without a tenant in context. */
  find(filter?: Filter<TSchema>, options?: FindOptions): FenceCursor<WithId<TSchema>>;
  find<T extends Document>(filter?: Filter<TSchema>, options?: FindOptions): FenceCursor<T>;
  /** `find(filter, options).toJSONBuffer()`: send it with `sendJSON(res, …)`. */
  findJSON(filter?: Filter<TSchema>, options?: FindOptions): Promise<Buffer>;
  /** Throws `TENANT_MISSING` synchronously without a tenant in context. */
  aggregate<T extends Document = Document>(pipeline?: Document[], options?: AggregateOptions): FenceCursor<T>;
  /** The current tenant's changes (docs/change-streams.md). Throws `TENANT_MISSING` synchronously without a tenant. */
  watch<T extends Document = TSchema>(pipeline?: Document[], options?: ChangeStreamOptions): FenceChangeStream<ChangeStreamEvent<T>>;

  countDocuments(filter?: Filter<TSchema>, options?: CountDocumentsOptions): Promise<number>;
  /** Under a tenant (strategy `'field'`) this is an exact count of that tenant's documents. */
  estimatedDocumentCount(options?: EstimatedDocumentCountOptions): Promise<number>;
  distinct<Key extends keyof WithId<TSchema> & string>(
    key: Key,
    filter?: Filter<TSchema>,
    options?: DistinctOptions,
  ): Promise<Array<Flatten<NonNullable<WithId<TSchema>[Key]>>>>;
  distinct(key: string, filter?: Filter<TSchema>, options?: DistinctOptions): Promise<any[]>;

  updateOne(filter: Filter<TSchema>, update: UpdateFilter<TSchema>, options?: UpdateOptions): Promise<UpdateResult<TSchema>>;
  updateMany(filter: Filter<TSchema>, update: UpdateFilter<TSchema>, options?: UpdateOptions): Promise<UpdateResult<TSchema>>;
  replaceOne(filter: Filter<TSchema>, replacement: OptionalId<TSchema>, options?: ReplaceOptions): Promise<UpdateResult<TSchema>>;

  deleteOne(filter?: Filter<TSchema>, options?: DeleteOptions): Promise<DeleteResult>;
  deleteMany(filter?: Filter<TSchema>, options?: DeleteOptions): Promise<DeleteResult>;

  findOneAndUpdate(
    filter: Filter<TSchema>,
    update: UpdateFilter<TSchema>,
    options?: FindOneAndUpdateOptions,
  ): Promise<WithId<TSchema> | null>;
  findOneAndReplace(
    filter: Filter<TSchema>,
    replacement: OptionalId<TSchema>,
    options?: FindOneAndReplaceOptions,
  ): Promise<WithId<TSchema> | null>;
  findOneAndDelete(filter: Filter<TSchema>, options?: FindOneAndDeleteOptions): Promise<WithId<TSchema> | null>;

  /** Every operation is checked first: one refused operation refuses the whole batch, ordered or not. */
  bulkWrite(operations: ReadonlyArray<AnyBulkWriteOperation<TSchema>>, options?: BulkWriteOptions): Promise<BulkWriteResult<TSchema>>;

  /**
   * Creates an index and resolves to its name. Needs a tenant or system context. Under strategy
   * `'field'` the tenant field is put first in the key, so `unique` means unique per tenant.
   */
  createIndex(spec: IndexSpecification, options?: CreateIndexesOptions): Promise<string>;
  /** Creates several indexes in one command and resolves to their names; one refused and none is built. */
  createIndexes(indexSpecs: IndexDescription[], options?: CreateIndexesCommandOptions): Promise<string[]>;

  /** The collection's indexes. Under strategy `'field'` every tenant sees the same list (docs/administration.md). */
  listIndexes(options?: ListIndexesOptions): FenceCursor<IndexDescriptionInfo>;
  indexes(options: ListIndexesOptions & { full: false }): Promise<Record<string, Array<[string, IndexDirection]>>>;
  indexes(options?: ListIndexesOptions & { full?: true }): Promise<IndexDescriptionInfo[]>;
  indexInformation(options: ListIndexesOptions & { full: true }): Promise<IndexDescriptionInfo[]>;
  indexInformation(options?: ListIndexesOptions & { full?: false }): Promise<Record<string, Array<[string, IndexDirection]>>>;
  /** True when every index named exists. */
  indexExists(indexes: string | string[], options?: ListIndexesOptions): Promise<boolean>;

  /** Under strategy `'field'` inside `runAsSystem` only; under `'database'` in the tenant's own database. */
  dropIndex(indexName: string, options?: AdminCommandOptions): Promise<Document>;
  /** True, or false when the server refused (as the driver answers). Same rules as `dropIndex`. */
  dropIndexes(options?: AdminCommandOptions): Promise<boolean>;
  /** Drops the collection. Same rules as `dropIndex`. */
  drop(options?: AdminCommandOptions): Promise<boolean>;
  /** Renames the collection within its database and resolves to the new handle. Same rules as `dropIndex`. */
  rename(newName: string, options?: AdminCommandOptions & { dropTarget?: boolean }): Promise<ScopedCollection<TSchema>>;
  /** The collection's creation options. Same rules as `dropIndex`. */
  options(options?: ListIndexesOptions): Promise<Document>;
  isCapped(options?: ListIndexesOptions): Promise<boolean>;
}

/** An index as `listIndexes` returns it. */
export interface IndexDescriptionInfo extends Document {
  v?: number;
  key: Document;
  name: string;
}

/** One index of `createIndexes`: its key and its own options. */
export interface IndexDescription extends CreateIndexesOptions {
  key: Document | Map<string, IndexDirection>;
  version?: number;
}

/** The options beside `createIndexes`' list (an index's own options go in its description). */
export interface CreateIndexesCommandOptions {
  comment?: unknown;
  commitQuorum?: number | string;
  writeConcern?: WriteConcern;
  session?: FenceSession;
}

export interface ListIndexesOptions extends BsonReadOptions {
  comment?: unknown;
  batchSize?: number;
  maxTimeMS?: number;
  readPreference?: ReadPreferenceLike;
  session?: FenceSession;
}

export interface AdminCommandOptions {
  comment?: unknown;
  maxTimeMS?: number;
  writeConcern?: WriteConcern;
  session?: FenceSession;
}

/** The options `fence.db.createCollection` passes on (docs/administration.md). */
export interface CreateCollectionOptions {
  capped?: boolean;
  size?: number;
  max?: number;
  validator?: Document;
  validationLevel?: 'off' | 'strict' | 'moderate';
  validationAction?: 'error' | 'warn';
  collation?: CollationOptions;
  storageEngine?: Document;
  indexOptionDefaults?: Document;
  changeStreamPreAndPostImages?: { enabled: boolean };
  clusteredIndex?: Document;
  expireAfterSeconds?: number;
  viewOn?: string;
  pipeline?: Document[];
  timeseries?: Document;
  comment?: unknown;
  session?: FenceSession;
}

/** `fence.db`: database-level administration, in the context's database. */
export interface FenceDb {
  readonly databaseName: string;
  collection<TSchema extends Document = Document>(name: string): ScopedCollection<TSchema>;
  listCollections(filter?: Document, options?: ListIndexesOptions & { nameOnly?: boolean; authorizedCollections?: boolean }): FenceCursor<Document>;
  createCollection<TSchema extends Document = Document>(name: string, options?: CreateCollectionOptions): Promise<ScopedCollection<TSchema>>;
  dropCollection(name: string, options?: AdminCommandOptions): Promise<boolean>;
}

// ---------------------------------------------------------------------------
// The fence

/** Options of a transaction, as the driver's. */
export interface TransactionOptions {
  readConcern?: ReadConcernLike;
  writeConcern?: WriteConcern;
  readPreference?: ReadPreferenceLike;
  maxCommitTimeMS?: number;
}

/** Options of `fence.startSession()`. */
export interface SessionOptions {
  causalConsistency?: boolean;
  defaultTransactionOptions?: TransactionOptions;
}

/** The driver's transaction states. */
export type TransactionState =
  | 'NO_TRANSACTION'
  | 'STARTING_TRANSACTION'
  | 'TRANSACTION_IN_PROGRESS'
  | 'TRANSACTION_COMMITTED'
  | 'TRANSACTION_ABORTED';

/** A session of one fence, as the driver's `ClientSession`; it belongs to one tenant (docs/transactions.md). */
export declare class FenceSession {
  private constructor();
  /** The server session id, or undefined once ended. */
  readonly id: { id: Binary } | undefined;
  readonly hasEnded: boolean;
  readonly explicit: true;
  readonly snapshotEnabled: false;
  readonly isPinned: false;
  readonly loadBalanced: false;
  readonly defaultTransactionOptions: TransactionOptions;
  readonly supports: { causalConsistency: boolean };
  readonly transaction: { state: TransactionState; isActive: boolean; isCommitted: boolean };
  inTransaction(): boolean;
  startTransaction(options?: TransactionOptions): void;
  commitTransaction(): Promise<void>;
  abortTransaction(): Promise<void>;
  /** The driver's: retried and committed as it does; calls inside must pass `{ session }`. */
  withTransaction<T>(fn: (session: FenceSession) => Promise<T>, options?: TransactionOptions): Promise<T>;
  endSession(): Promise<void>;
  equals(other: unknown): boolean;
  toBSON(): never;
}

export declare class TenantFence {
  /** Use {@link TenantFence.connect}. */
  private constructor();

  /** Connects and pings; rejects when the server cannot be reached (server selection timeout). */
  static connect(uri: string, options?: ConnectOptions): Promise<TenantFence>;

  /** The field holding the tenant id. */
  get tenantField(): string;
  /** `'field'` or `'database'`. */
  get strategy(): 'field' | 'database';
  /** The database name (the base name under strategy `'database'`). */
  get databaseName(): string;
  /** The database `tenantId`'s collections live in: its own under strategy 'database' (`<database>~<escaped id>`), the shared one under 'field'. */
  databaseFor(tenantId: string): string;

  /**
   * Runs `fn` with `tenantId` as the current tenant of this async call chain (for every fence in
   * the process) and returns what it returns. An invalid id throws `TENANT_INVALID` before `fn` runs.
   */
  runAs<T>(tenantId: string, fn: () => T): T;

  /**
   * Runs `fn` with tenant scoping lifted. Every collection call inside first calls `onSystemAccess`.
   * Written documents must still name a valid tenant. Under strategy `'database'` collection calls
   * inside are refused with `TENANT_MISSING`.
   */
  runAsSystem<T>(options: SystemAccessOptions, fn: () => T): T;

  /**
   * Runs `fn` reading the union of 1 to 100 tenants: every write inside is refused unless a `runAs`
   * names one of them; every call passes `onSystemAccess` with `tenants`; access ends when `fn` settles.
   */
  runAsTenants<T>(tenantIds: readonly string[], fn: () => T): T;
  runAsTenants<T>(tenantIds: readonly string[], options: { reason?: string }, fn: () => T): T;

  /** The current tenant id, or `undefined` (also inside `runAsSystem`). */
  currentTenant(): string | undefined;

  /**
   * Captures the current tenant (or `runAsSystem`) context: the returned function runs `fn` in it
   * whoever calls it later (a job queue, an `EventEmitter` listener, a pool). Throws `TENANT_MISSING`
   * at once when called outside any context.
   */
  bind<A extends unknown[], R, This = unknown>(fn: (this: This, ...args: A) => R): (this: This, ...args: A) => R;

  /** Express middleware (4 and 5) that runs the rest of each request as its tenant. Options are validated now. */
  middleware<Req extends MiddlewareRequest = MiddlewareRequest>(options?: MiddlewareOptions<Req>): TenantMiddleware<Req>;

  /** A scoped handle on collection `name` (the same handle for the same name). */
  collection<TSchema extends Document = Document>(name: string): ScopedCollection<TSchema>;
  /** Database-level administration: `listCollections`, `createCollection`, `dropCollection` (docs/administration.md). */
  get db(): FenceDb;

  /** Closes the connection pool; later calls fail. */
  /** A session to pass as `{ session }`; started under a context, it belongs to that tenant (or runAsSystem). */
  startSession(options?: SessionOptions): Promise<FenceSession>;
  /**
   * Runs `fn` in a transaction: every collection call of this fence inside it joins without a
   * session passed. Retried and committed as the driver's; resolves to what `fn` resolves to.
   */
  withTransaction<T>(fn: (session: FenceSession) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Per-tenant call metrics (docs/operations.md); null with `metrics: false`.
   * Refused with `TENANT_VIOLATION` inside a tenant's context.
   */
  metrics(options?: { format?: 'json' }): MetricsSnapshot | null;
  metrics(options: { format: 'prometheus' }): string | null;
  /** Forgets every metric; refused inside a tenant's context. */
  resetMetrics(): void;
  /** Registers the metrics with a prom-client `Registry`, read at each scrape; returns it. */
  registerMetrics<R extends { registerMetric(metric: unknown): void }>(registry: R): R;
  close(): Promise<void>;
}
