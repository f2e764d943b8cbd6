// Types for `tenantfence/mongoose`: a driver for `mongoose.setDriver()` (Mongoose 8 and 9).
// Mongoose's own types describe the models; these name what the driver adds.
import type { TenantFence, ConnectOptions } from './index';

/** What `mongoose.connect(uri, options)` takes on this driver besides Mongoose's own options. */
export interface MongooseFenceOptions extends ConnectOptions {
  /** Adopt a fence connected already (it is not closed with the connection); no other tenantfence option then. */
  fence?: TenantFence;
  /** Mongoose's name for `database`. */
  dbName?: string;
  autoIndex?: boolean;
  autoCreate?: boolean;
  bufferCommands?: boolean;
  bufferTimeoutMS?: number;
  sanitizeFilter?: boolean;
}

/** The Connection class Mongoose builds (`new Connection(mongoose)`). */
export declare const Connection: new (...args: any[]) => object;
/** The Collection class Mongoose builds for each model: a scoped collection underneath. */
export declare const Collection: new (...args: any[]) => object;
/** The fence of a Mongoose connection made with this driver; throws before it is connected. */
export declare function fenceOf(connection: object): TenantFence;

declare const driver: {
  Connection: typeof Connection;
  Collection: typeof Collection;
  fenceOf: typeof fenceOf;
};
export default driver;
