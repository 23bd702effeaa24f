/**
 * The command line's own error: a mistake in the arguments. main prints its
 * message and exits 2 (the `usage` code of the exit-code table).
 *
 * @module
 */

import { ErrorCode, FerryError } from "../lib/errors.ts";

/** A mistake on the command line. */
export class UsageError extends FerryError {
  override name = "UsageError";
  constructor(message: string) {
    super(ErrorCode.Usage, message);
  }
}
