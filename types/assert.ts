// Compile-time assertions: `check<Equal<A, B>>(true)` fails to compile unless A and B are the same type.
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Accepts only `true`, so a false `Equal` is a compile error. */
export function check<T extends true>(_ok: T): void {}
