/**
 * Remote paths are untrusted on both ends: the server checks what clients
 * send, and `get` checks the names the server sends. A path is split into
 * validated components (never resolved as a string), then walked under a root
 * whose symlinks may not lead outside it.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
export const MAX_DEPTH = 64;

const encoder = new TextEncoder();

function refuse(path: string, why: string): FerryError {
  return new FerryError(ErrorCode.BadPath, `Refused path "${printable(path)}": ${why}`, { path });
}

/**
 * Splits a remote path into its components. "", "/" and "." name the root.
 * Every name a POSIX file system allows is accepted, as rsync and scp do
 * (tabs, newlines and escapes included: they are escaped wherever a name is
 * printed, see {@link printable}); refused are "..", NUL bytes, malformed
 * Unicode, and anything over the length and depth limits.
 */
export function splitRemotePath(path: string): string[] {
  if (path.includes("\0")) throw refuse(path, "it contains a NUL byte");
  if (!path.isWellFormed()) throw refuse(path, "it is not valid Unicode");
  if (encoder.encode(path).length > MAX_PATH_BYTES) {
    throw refuse(path.slice(0, 40) + "...", `it is longer than ${MAX_PATH_BYTES} bytes`);
  }
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw refuse(path, `".." may not be used in remote paths`);
    if (encoder.encode(part).length > MAX_NAME_BYTES) {
      throw refuse(path.slice(0, 40) + "...", `a name is longer than ${MAX_NAME_BYTES} bytes`);
    }
    parts.push(part);
  }
  if (parts.length > MAX_DEPTH) throw refuse(path, `it is deeper than ${MAX_DEPTH} folders`);
  return parts;
}

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
      const shown = parts.slice(0, i + 1).join("/");
      let target: string;
      try {
        target = Deno.realPathSync(next);
      } catch {
        throw refuse(shown, "it is a symlink whose target does not exist");
      }
      if (!isInside(root, target)) {
        throw refuse(shown, "it is a symlink that leads outside the root");
      }
      current = target;
    } else {
      current = next;
    }
  }
  return current;
}

// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** A name made safe to print on a terminal: control characters become \xNN or \uNNNN escapes. */
export function printable(name: string): string {
  return name.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
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
  const shown = parts.join("/");
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
    throw changedWhileUsed(shown);
  }
  if (!sameObject(found, used)) throw changedWhileUsed(shown);
}

/** Whether two stat results are of the same file system object (device and inode). */
export function sameObject(
  a: Pick<Deno.FileInfo, "dev" | "ino">,
  b: Pick<Deno.FileInfo, "dev" | "ino">,
): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** The refusal of a path whose object changed between its lookup and its use. */
export function changedWhileUsed(shown: string): FerryError {
  return refuse(shown, "it changed while it was used (a folder replaced by a link?)");
}
