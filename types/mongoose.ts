// tenantfence/mongoose as a TypeScript user writes it: the driver for setDriver, the fence options
// for connect, and fenceOf(connection) for the middleware.
import mongoose from 'mongoose';
import driver, { fenceOf, type MongooseFenceOptions } from 'tenantfence/mongoose';
import type { TenantFence } from 'tenantfence';

export async function connect(uri: string): Promise<TenantFence> {
  mongoose.setDriver(driver);
  const options: MongooseFenceOptions = { tenantField: 'tenantId', strategy: 'field', dbName: 'shop', autoIndex: true };
  await mongoose.connect(uri, options as mongoose.ConnectOptions);
  const fence: TenantFence = fenceOf(mongoose.connection);
  return fence;
}
