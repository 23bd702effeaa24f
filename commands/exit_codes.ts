/**
 * The command line's exit codes: one per error code, in one table. The
 * library knows only error codes; this is where they become exit codes.
 *
 * @module
 */

import { type ErrorCode, FerryError } from "../lib/errors.ts";

/**
 * The exit-code table, documented in README.md. Codes that are not listed
 * exit 1. Keep the README table and this one identical.
 */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  usage: 2,
  auth_failed: 3,
  permission_denied: 3,
  bad_path: 3,
  not_found: 4,
  already_exists: 10,
  is_directory: 11,
  not_directory: 11,
  not_empty: 12,
  connection: 5,
  busy: 5,
  aborted: 130,
  protocol: 6,
  version: 6,
  digest_mismatch: 7,
  partial: 8,
  io: 9,
  no_space: 9,
  too_large: 3,
  internal: 1,
};

/** The process exit code for any thrown value. */
export function exitCodeFor(error: unknown): number {
  return error instanceof FerryError ? EXIT_CODES[error.code] : 1;
}
