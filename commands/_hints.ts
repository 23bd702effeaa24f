/**
 * The command line's hints: the library says what failed in its own words,
 * and a command adds which of its flags would have done what was meant.
 *
 * @module
 */

import { type ErrorCode, FerryError } from "../lib/errors.ts";

/** `error` with `hint` added to its message when it has `code`; anything else as it is. */
export function withHint(error: unknown, code: ErrorCode, hint: string): unknown {
  if (!(error instanceof FerryError) || error.code !== code) return error;
  return new FerryError(code, `${error.message} (${hint})`, { path: error.path, cause: error });
}
