'use strict';
// One Mongoose driver object serves every Mongoose copy in the process (8 and 9 side by side):
// `new Connection(base)` builds the classes for the copy that `base` comes from, on top of
// that copy's own node-mongodb-native driver (`base.driver.get()`), once per copy.

const { connectionClass } = require('./connection');
const { collectionClass } = require('./collection');
const { wrapModelInit } = require('./init');

const BRAND = Symbol('tenantfence.mongoose');
const families = new WeakMap();

function familyOf(base) {
  const native = base && base.driver && typeof base.driver.get === 'function' ? base.driver.get() : null;
  if (!native || typeof native.Connection !== 'function' || typeof native.Collection !== 'function') {
    throw new TypeError('tenantfence/mongoose: use it with mongoose.setDriver(require(\'tenantfence/mongoose\')) on Mongoose 8 or 9');
  }
  let f = families.get(native);
  if (!f) {
    f = { Connection: connectionClass(native.Connection, BRAND), Collection: collectionClass(native.Collection, BRAND) };
    families.set(native, f);
  }
  return f;
}

const isFenceConnection = (conn) => conn != null && conn[BRAND] === 'connection';

/** `new Connection(base)`: a connection of the Mongoose copy `base` belongs to. */
function Connection(base, ...rest) {
  const { Connection: C } = familyOf(base);
  // autoCreate / autoIndex of this connection's models run as an audited system call.
  wrapModelInit(base, isFenceConnection);
  return new C(base, ...rest);
}
Object.defineProperty(Connection, Symbol.hasInstance, { value: (x) => x != null && x[BRAND] === 'connection' });

/** `new Collection(name, conn, options)`: a Mongoose collection over the fence's scoped one. */
function Collection(name, conn, ...rest) {
  const { Collection: C } = familyOf(conn && conn.base);
  return new C(name, conn, ...rest);
}
Object.defineProperty(Collection, Symbol.hasInstance, { value: (x) => x != null && x[BRAND] === 'collection' });

module.exports = { Connection, Collection, BRAND };
