/**
 * The destination of a received file, checked before any byte arrives: a
 * folder in the way is refused, and so is an existing file that must be kept
 * (`serve --no-delete`; the commit checks again, atomically, with link()).
 *
 * @module
 */

import { existsSync } from "node:fs";
import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { printable } from "./safe_path.ts";

/**
 * Refuses a destination that is a folder, or (with `keepExisting`) one that
 * exists, before any byte is received.
 */
export function checkDestination(
  path: string,
  shownAs: string,
  keepExisting: string | undefined,
): void {
  try {
    // existsSync is a plain access(2) that throws nothing: a new file, the common
    // case, costs no NotFound error. (A dangling symlink reads as missing; the
    // commit's rename replaces it, and its link() refuses it for keepExisting.)
    if (!existsSync(path)) return;
    if (Deno.lstatSync(path).isDirectory) {
      throw new FerryError(
        ErrorCode.IsDirectory,
        `Cannot write "${printable(shownAs)}": a folder is in the way`,
        { path: shownAs },
      );
    }
    if (keepExisting !== undefined) throw kept(shownAs, keepExisting);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw toFerryError(error, "write", shownAs);
  }
}

/** The refusal to replace an existing file, saying why it is kept. */
export function kept(shownAs: string, why: string): FerryError {
  return new FerryError(
    ErrorCode.PermissionDenied,
    `Cannot replace "${printable(shownAs)}": ${why}`,
    { path: shownAs },
  );
}
