/**
 * Remote paths are untrusted on both ends: the server checks what clients
 * send, and `get` checks the names the server sends. A path is split into
 * validated components (never resolved as a string), then walked under a root
 * whose symlinks may not lead outside it.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { refusedPath } from "../remote_path.ts";
import { printable } from "../text.ts";

/** Whether `path` is `root` or below it. Both must be absolute and normalised. */
export function isInside(root: string, path: string): boolean {
  if (root === "/") return path.startsWith("/");
  return path === root || path.startsWith(root + "/");
}

/**
 * Resolves validated components under `root` (a real path, as from
 * Deno.realPath). Components that exist are checked with lstat: a symlink is
 * followed only when its target is inside the root, so nothing is read or
 * written outside it. Missing components are allowed (they may be created),
 * unless `existing` is set.
 */
export function resolveInside(
  root: string,
  parts: readonly string[],
  options: { existing?: boolean } = {},
): string {
  let current = root;
  for (let i = 0; i < parts.length; i++) {
    const next = current === "/" ? `/${parts[i]}` : `${current}/${parts[i]}`;
    let info: Deno.FileInfo;
    try {
      // Synchronous: a few microseconds, against a thread-pool round trip per component
      // for every file of a tree.
      info = Deno.lstatSync(next);
    } catch (error) {
      // A missing component may be created, unless everything must exist (a check).
      if (error instanceof Deno.errors.NotFound && !options.existing) {
        return [next, ...parts.slice(i + 1)].join("/");
      }
      if (error instanceof Deno.errors.NotADirectory) {
        throw new FerryError(
          ErrorCode.NotDirectory,
          `"${printable(parts.slice(0, i).join("/"))}" is not a folder`,
        );
      }
      throw toFerryError(error, "look up", parts.slice(0, i + 1).join("/"));
    }
    if (info.isSymlink) {
      const rootPath = parts.slice(0, i + 1).join("/");
      let target: string;
      try {
        target = Deno.realPathSync(next);
      } catch {
        throw refusedPath(rootPath, "it is a symlink whose target does not exist");
      }
      if (!isInside(root, target)) {
        throw refusedPath(rootPath, "it is a symlink that leads outside the root");
      }
      current = target;
    } else {
      current = next;
    }
  }
  return current;
}

/**
 * For {@link resolveInside}: every component must exist. A lookup of what is
 * there (get, stat, ls, rm) then never resolves through a folder that is
 * missing at that moment, and so never follows whatever appears there next.
 */
export const EXISTING: { existing: boolean } = { existing: true };

/**
 * Confirms that what a request used at `parts` (the fstat of a file it
 * opened, or the lstat it acted on) is what a fresh walk from the root finds
 * there now: the same device and inode (with `followLast: false`, of the
 * last component itself, as rm sees it). A folder swapped for a link to the
 * outside while it was used shows up as a mismatch, or as a link the walk
 * refuses. Deno has neither openat nor a way to refuse links on every
 * component (openat2), so this narrows the race to the moments between two
 * lookups of the same path; it does not close it (see README, security model).
 */
export function confirmSame(
  root: string,
  parts: readonly string[],
  used: Deno.FileInfo,
  options: { followLast?: boolean } = {},
): void {
  const rootPath = parts.join("/");
  let found: Deno.FileInfo;
  try {
    // Every folder must exist: a missing one resolves to nothing, and the
    // lstat below would follow whatever appears there next.
    const path = options.followLast === false && parts.length > 0
      ? `${resolveInside(root, parts.slice(0, -1), EXISTING)}/${parts.at(-1)}`
      : resolveInside(root, parts, EXISTING);
    found = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof FerryError && error.code !== ErrorCode.NotFound) throw error;
    throw changedWhileUsed(rootPath);
  }
  if (!sameObject(found, used)) throw changedWhileUsed(rootPath);
}

/** Whether two stat results are of the same file system object (device and inode). */
export function sameObject(
  a: Pick<Deno.FileInfo, "dev" | "ino">,
  b: Pick<Deno.FileInfo, "dev" | "ino">,
): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** The refusal of a path whose object changed between its lookup and its use. */
export function changedWhileUsed(rootPath: string): FerryError {
  return refusedPath(rootPath, "it changed while it was used (a folder replaced by a link?)");
}
