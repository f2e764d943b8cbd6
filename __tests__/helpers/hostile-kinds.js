'use strict';
// The garbage the hostile-input catalogue feeds to every argument. Each kind makes a fresh value
// (`value()`), and says how it sits inside a well-shaped argument: as a field value (`nested`) or,
// for the key kinds, as a field name (`key`).

const MiB = 1024 * 1024;

/** An object whose enumerable getter throws; `thrown` is the very error it throws. */
function throwingGetter() {
  const thrown = new Error('hostile getter');
  const o = { ok: 1 };
  Object.defineProperty(o, 'boom', { enumerable: true, get: () => { throw thrown; } });
  return { o, thrown };
}

/** A Proxy whose every trap throws `thrown`. */
function trapProxy() {
  const thrown = new Error('hostile proxy trap');
  const trap = () => { throw thrown; };
  const o = new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap });
  return { o, thrown };
}

function deep(levels) {
  let v = { leaf: 1 };
  for (let i = 0; i < levels; i++) v = { d: v };
  return v;
}

/**
 * kind -> { value(): the garbage, key?: true when it is a field name rather than a value,
 *           thrown?: the error the value itself throws when touched }
 */
const KINDS = {
  circular: { value: () => { const o = { a: 1 }; o.self = o; return o; } },
  bigint: { value: () => 2n ** 70n }, // does not fit an int64
  smallBigint: { value: () => 42n }, // fits: js-bson stores it as a 64-bit integer
  symbol: { value: () => Symbol('hostile') },
  function: { value: () => function hostile() { return 1; } },
  throwingGetter: { value: () => throwingGetter() , wrapped: true },
  proxy: { value: () => trapProxy(), wrapped: true },
  deep10k: { value: () => deep(10_000) },
  over16MiB: { value: () => ({ s: 'x'.repeat(16 * MiB + 1024) }) },
  loneSurrogate: { value: () => 'x\uD800y' },
  dollarKey: { value: () => '$where', key: true },
  nulKey: { value: () => 'a\u0000b', key: true },
  operatorId: { value: () => ({ $ne: 'a' }) }, // a tenant id (or tenant field) that is a query operator
  operatorString: { value: () => '$ne' }, // a tenant id that reads like an operator
};

/** The garbage value of `kind`, and the error it throws itself when touched (getter / proxy). */
function make(kind) {
  const k = KINDS[kind];
  const v = k.value();
  return k.wrapped ? { value: v.o, thrown: v.thrown } : { value: v, thrown: undefined };
}

/** `{ [name]: garbage }`, or for the key kinds `{ [garbage]: 1 }`. */
function field(kind, value, name = 'f') {
  return KINDS[kind].key ? { [value]: 1 } : { [name]: value };
}

module.exports = { KINDS, make, field, MiB };
