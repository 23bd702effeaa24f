/**
 * Remote paths: "/"-separated names relative to a server's root, as a
 * client types them and as the server announces them. One module splits,
 * joins and takes them apart (as std's path/posix does for local paths),
 * and refuses what no side may use.
 *
 * @module
 */

import { ErrorCode, FerryError } from "./errors.ts";
import { printable } from "./text.ts";

export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
export const MAX_DEPTH = 64;

const encoder = new TextEncoder();

/** The bad_path error for a path refused, saying why. */
export function refusedPath(path: string, why: string): FerryError {
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
  if (path.includes("\0")) throw refusedPath(path, "it contains a NUL byte");
  if (!path.isWellFormed()) throw refusedPath(path, "it is not valid Unicode");
  if (encoder.encode(path).length > MAX_PATH_BYTES) {
    throw refusedPath(path.slice(0, 40) + "...", `it is longer than ${MAX_PATH_BYTES} bytes`);
  }
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw refusedPath(path, `".." may not be used in remote paths`);
    if (encoder.encode(part).length > MAX_NAME_BYTES) {
      throw refusedPath(path.slice(0, 40) + "...", `a name is longer than ${MAX_NAME_BYTES} bytes`);
    }
    parts.push(part);
  }
  if (parts.length > MAX_DEPTH) throw refusedPath(path, `it is deeper than ${MAX_DEPTH} folders`);
  return parts;
}

/** Validated names joined back into a canonical remote path: "a//b/./c/" is "a/b/c", the root "". */
export function canonicalRemotePath(path: string): string {
  return splitRemotePath(path).join("/");
}

/** Joins a canonical remote folder and a relative path below it ("" is the root). */
export function joinRemotePath(folder: string, below: string): string {
  if (folder === "") return below;
  return below === "" ? folder : `${folder}/${below}`;
}

/** What goes before a name inside the canonical remote folder `folder`: "a/b/", or "" at the root. */
export function remotePrefix(folder: string): string {
  return folder === "" ? "" : `${folder}/`;
}

/** The last name of a remote path ("" for the root), without validating it. */
export function remoteName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** The folder of a canonical remote path ("" for a top-level name and for the root). */
export function remoteParent(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? "" : path.slice(0, cut);
}

/** Whether the canonical remote `path` is `folder` or below it ("" is the root, which holds all). */
export function isWithinRemote(folder: string, path: string): boolean {
  return folder === "" || path === folder || path.startsWith(`${folder}/`);
}

/**
 * As POSIX rm refuses "." and "..", a remove never takes a path that names
 * a folder only through "." (`sub/.`), nor, given the named host's `folder`,
 * that whole folder (`pi:`): a slip of the keyboard must not empty it.
 */
export function checkRemovable(path: string, folder: string): void {
  const last = path.replace(/\/+$/, "").split("/").at(-1);
  const why = last === "." || last === ".."
    ? `it ends in "${last}"; name the folder itself`
    : splitRemotePath(path).length === 0 && folder !== ""
    ? `it is this host's whole folder "${printable(folder)}"`
    : undefined;
  if (why === undefined) return;
  throw new FerryError(ErrorCode.BadPath, `Refused to remove "${printable(path)}": ${why}`, {
    path,
  });
}

/**
 * Splits a name announced by a server. Unlike a path typed by the user, it
 * must be relative: an absolute name is refused, not quietly re-rooted.
 */
export function splitAnnouncedName(name: string): string[] {
  if (name.startsWith("/")) {
    throw new FerryError(
      ErrorCode.BadPath,
      `Refused name "${printable(name)}" from the server: it is absolute`,
      { path: name },
    );
  }
  return splitRemotePath(name);
}
