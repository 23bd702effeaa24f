// The few assertions the tests need, on node:assert (JSR's @std/assert cannot
// be fetched on the build machines). They return the caught error so tests can
// check its code and message.

import { deepStrictEqual, ok } from "node:assert/strict";

export function assert(condition: unknown, message?: string): asserts condition {
  ok(condition, message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = new (...args: any[]) => E;

export function assertThrows<E extends Error>(fn: () => unknown, errorClass: ErrorClass<E>): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof errorClass) return error;
    throw new Error(`Expected ${errorClass.name}, got ${error}`);
  }
  throw new Error(`Expected ${errorClass.name} to be thrown`);
}

export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  errorClass: ErrorClass<E>,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof errorClass) return error;
    throw new Error(`Expected ${errorClass.name}, got ${error}`);
  }
  throw new Error(`Expected ${errorClass.name} to be rejected`);
}
