/**
 * The destination of a received file, checked before any byte arrives (a
 * small one's by the commit instead): a folder in the way is refused, and so
 * is an existing file that must be kept (`serve --no-delete`; the commit
 * checks again, atomically, with link()).
 *
 * @module
 */

import { existsSync } from "node:fs";
import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { printable } from "../text.ts";

/**
 * Refuses a destination that is a folder, or (with `keepExisting`) one that
 * exists, before any byte is received.
 */
export function checkDestination(
  path: string,
  reportedPath: string,
  keepExisting: string | undefined,
): void {
  try {
    // existsSync is a plain access(2) that throws nothing: a new file, the common
    // case, costs no NotFound error. (A dangling symlink reads as missing; the
    // commit's rename replaces it, and its link() refuses it for keepExisting.)
    if (!existsSync(path)) return;
    if (Deno.lstatSync(path).isDirectory) throw folderInTheWay(reportedPath);
    if (keepExisting !== undefined) throw kept(reportedPath, keepExisting);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw toFerryError(error, "write", reportedPath);
  }
}

/**
 * Whether {@link checkDestination} is worth its system call before the body
 * arrives. For a small body without a kept destination or a backup it is
 * not: the commit's rename refuses a folder in the way by itself (see
 * {@link folderInTheWay}), after a few bytes moved for nothing.
 */
export function checksDestinationEarly(
  size: number,
  options: { stream?: boolean; keepExisting?: string; backup?: unknown },
): boolean {
  return size >= EARLY_CHECK_MIN_BYTES || options.stream === true ||
    options.keepExisting !== undefined || options.backup !== undefined;
}

// Below this, a file whose destination turns out to be a folder costs less
// than the check every other file would pay (an access(2) per file).
const EARLY_CHECK_MIN_BYTES = 64 * 1024;

/** The refusal of a destination that is a folder. */
export function folderInTheWay(reportedPath: string): FerryError {
  return new FerryError(
    ErrorCode.IsDirectory,
    `Cannot write "${printable(reportedPath)}": a folder is in the way`,
    { path: reportedPath },
  );
}

/** The refusal to replace an existing file, saying why it is kept. */
export function kept(reportedPath: string, why: string): FerryError {
  return new FerryError(
    ErrorCode.PermissionDenied,
    `Cannot replace "${printable(reportedPath)}": ${why}`,
    { path: reportedPath },
  );
}
