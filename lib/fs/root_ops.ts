/**
 * The file system operations behind ls, mkdir, rm and mv on the server. Every
 * path is resolved inside the root with {@link resolveInside}; the last
 * component is never followed when it is a symlink, so rm and mv act on the
 * link itself and ls shows it as a link.
 *
 * @module
 */

import { digestFileHex } from "./digest.ts";
import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import type { RemoteEntry, StatReply } from "../protocol/replies.ts";
import {
  changedWhileUsed,
  confirmSame,
  EXISTING,
  printable,
  resolveInside,
  sameObject,
  splitRemotePath,
} from "./safe_path.ts";
import { refuseTemporaryName, tempName } from "./temporary.ts";
import { walkTree } from "./tree_walk.ts";
import type { PathFilter } from "./filter.ts";
import { missingFolders } from "./durability.ts";
import { type BackupPlace, moveToBackup } from "./backup.ts";

/** A client path resolved under the root, with the last component not followed. */
export interface ResolvedEntry {
  /** The root it was resolved under. */
  root: string;
  /** Validated components; empty for the root. */
  parts: string[];
  /** "/"-joined components, for messages and entry paths. */
  shown: string;
  /** Where it is on disk. */
  path: string;
}

/** Validates `path` and resolves it under `root`; intermediate symlinks must stay inside. */
export function resolveEntry(root: string, path: string): ResolvedEntry {
  const parts = splitRemotePath(path);
  const shown = parts.join("/");
  if (parts.length === 0) return { root, parts, shown, path: root };
  const parent = resolveInside(root, parts.slice(0, -1), EXISTING);
  return { root, parts, shown, path: `${parent}/${parts.at(-1)}` };
}

/** lstat, with a missing path reported as not_found under its shown name. */
export async function lstatEntry(entry: ResolvedEntry): Promise<Deno.FileInfo> {
  try {
    return await Deno.lstat(entry.path);
  } catch (error) {
    throw toFerryError(error, "find", entry.shown || "/");
  }
}

/** The type, size, mode and mtime of an lstat result, as the protocol carries them. */
export function describe(info: Deno.FileInfo): StatReply {
  return {
    type: info.isFile ? "file" : info.isDirectory ? "dir" : info.isSymlink ? "symlink" : "other",
    size: info.size,
    mode: (info.mode ?? 0) & 0o7777,
    mtime: info.mtime?.getTime() ?? 0,
  };
}

/**
 * Lists a folder's entries sorted by name (with `recursive`, each folder is
 * followed by its contents), or the entry itself when it is not a folder.
 * Streams: only the names of the folders being walked are held. A subfolder
 * that cannot be read is passed to `onError` and the listing goes on.
 */
export async function* listEntries(
  entry: ResolvedEntry,
  info: Deno.FileInfo,
  options: { recursive: boolean; digests: boolean; filter?: PathFilter | undefined },
  onError: (error: FerryError) => Promise<void>,
): AsyncGenerator<RemoteEntry> {
  const withDigest = async (item: RemoteEntry, path: string): Promise<RemoteEntry | null> => {
    if (!options.digests || item.type !== "file") return item;
    try {
      return { ...item, digest: await digestFileHex(path) };
    } catch (error) {
      await onError(toFerryError(error, "read", item.path));
      return null;
    }
  };
  if (!info.isDirectory) {
    const item = await withDigest(
      { name: entry.parts.at(-1) ?? "", path: entry.shown, ...describe(info) },
      entry.path,
    );
    if (item !== null) yield item;
    return;
  }
  // Each folder's entries are shown only if the folder is still the one looked up.
  const confirm = (rel: string, used: Deno.FileInfo) =>
    confirmSame(entry.root, rel === "" ? entry.parts : [...entry.parts, ...rel.split("/")], used);
  const walk = walkTree(entry.path, info, {
    descend: options.recursive,
    confirm,
    filter: options.filter,
  });
  for await (const item of walk) {
    if (item.rel === "") continue;
    const path = entry.shown === "" ? item.rel : `${entry.shown}/${item.rel}`;
    if (item.type === "error") {
      await onError(item.error);
      continue;
    }
    const name = item.rel.slice(item.rel.lastIndexOf("/") + 1);
    const listed: RemoteEntry = { name, path, ...describe(item.info) };
    // Only --checksum pays for a read per file; a plain listing awaits nothing per entry.
    if (!options.digests) {
      yield listed;
      continue;
    }
    const hashed = await withDigest(listed, item.path);
    if (hashed !== null) yield hashed;
  }
}

/**
 * Creates a folder. Without `parents` its parent must exist and it must not;
 * with `parents` missing parents are created and an existing folder is fine.
 * Resolves with the folders made, deepest first (their parents need a flush).
 */
export async function makeFolder(
  root: string,
  path: string,
  parents: boolean,
  mode?: number,
  mtime?: number,
): Promise<string[]> {
  const parts = splitRemotePath(path);
  refuseTemporaryName(parts);
  const shown = parts.join("/");
  if (parents) {
    const folder = resolveInside(root, parts);
    const made = mkdirInside(folder, shown, mode, { root, parts });
    if (mtime !== undefined) setTimes(folder, mtime, shown);
    return made;
  }
  let target: string;
  try {
    // The parent must exist; resolved strictly, a parent that vanishes (swapped) is not created.
    target = `${resolveInside(root, parts.slice(0, -1), EXISTING)}/${parts.at(-1)}`;
  } catch (error) {
    if (!(error instanceof FerryError && error.code === ErrorCode.NotFound)) throw error;
    throw new FerryError(
      ErrorCode.NotFound,
      `Cannot create folder "${printable(shown)}": its parent does not exist`,
      { path: shown },
    );
  }
  try {
    // Synchronous, and checked after: the window for a swapped parent stays small.
    Deno.mkdirSync(target, { mode: 0o755 });
    confirmMade(root, parts, target);
    keepFolderMode(target, mode);
    if (mtime !== undefined) setTimes(target, mtime, shown);
    return [target];
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      const what = (await Deno.lstat(target)).isDirectory ? "a folder" : "a file";
      throw new FerryError(
        ErrorCode.AlreadyExists,
        `Cannot create folder "${printable(shown || "/")}": ${what} with that name exists`,
        { path: shown },
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new FerryError(
        ErrorCode.NotFound,
        `Cannot create folder "${printable(shown)}": its parent does not exist`,
        { path: shown },
      );
    }
    throw toFerryError(error, "create folder", shown);
  }
}

/** Creates a folder and its missing parents; `path` comes from resolveInside. Synchronous: it is on every PUT's path. */
export function mkdirInside(
  path: string,
  shown: string,
  mode?: number,
  at?: { root: string; parts: readonly string[] },
): string[] {
  try {
    const made = missingFolders(path);
    Deno.mkdirSync(path, { recursive: true, mode: 0o755 });
    if (at !== undefined && made.length > 0) confirmMade(at.root, at.parts, path);
    if (made[0] === path) keepFolderMode(path, mode);
    return made;
  } catch (error) {
    if (error instanceof FerryError) throw error;
    if (error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotADirectory) {
      throw new FerryError(
        ErrorCode.NotDirectory,
        `Cannot create folder "${printable(shown)}": a file is in the way`,
        { path: shown },
      );
    }
    throw toFerryError(error, "create folder", shown);
  }
}

/** Sets the access and modification times of `path` to `mtime` (milliseconds), as for files. */
export function setTimes(path: string, mtime: number, shown: string): void {
  try {
    const time = new Date(mtime);
    Deno.utimeSync(path, time, time);
  } catch (error) {
    throw toFerryError(error, "set the modification time of", shown);
  }
}

/**
 * Checks that the folder just made at `path` is the one a fresh walk finds
 * at `parts`; otherwise a parent was swapped for a link while it was made,
 * and the folder (empty: nothing was written into it) is removed again.
 */
function confirmMade(root: string, parts: readonly string[], path: string): void {
  try {
    confirmSame(root, parts, Deno.lstatSync(path));
  } catch (error) {
    try {
      Deno.removeSync(path);
    } catch { /* not there, or no longer empty: not ours to remove */ }
    throw error;
  }
}

/**
 * Removes a file or symlink, or with `recursive` a folder and everything in it
 * (or with `backup` moves it to its numbered backup instead).
 * Symlinks are removed, never followed, at every level. The root itself is
 * refused. Resolves with whether something was removed (false only with
 * `force` on a missing path).
 */
export async function removeEntry(
  root: string,
  path: string,
  options: { recursive: boolean; force: boolean; backup?: BackupPlace | undefined },
): Promise<boolean> {
  const entry = resolveEntry(root, path);
  if (entry.parts.length === 0) throw rootRefusal("remove");
  let info: Deno.FileInfo;
  try {
    info = await lstatEntry(entry);
  } catch (error) {
    if (options.force && error instanceof FerryError && error.code === ErrorCode.NotFound) {
      return false;
    }
    throw error;
  }
  if (info.isDirectory && !options.recursive) {
    throw new FerryError(
      ErrorCode.IsDirectory,
      `Cannot remove "${printable(entry.shown)}": it is a folder`,
      { path: entry.shown },
    );
  }
  try {
    if (options.backup !== undefined) moveToBackup(entry.path, options.backup);
    else removeConfirmed(entry, info);
  } catch (error) {
    throw toFerryError(error, "remove", entry.shown);
  }
  return true;
}

/**
 * Removes what `entry` named when it was looked up (`info`), and nothing
 * else. It is first renamed into the root under an unlisted temporary name
 * (the root itself cannot be swapped), and removed only if it is the same
 * object; if a folder swapped for a link brought something else (from
 * outside the root), that is put back, or else left under that name, and
 * the removal is refused. Deno.remove's recursive walk unlinks symlinks
 * without following them.
 */
function removeConfirmed(entry: ResolvedEntry, info: Deno.FileInfo): void {
  confirmSame(entry.root, entry.parts, info, { followLast: false });
  const trash = `${entry.root}/${tempName()}`;
  try {
    Deno.renameSync(entry.path, trash);
  } catch (error) {
    // Another file system mounted inside the root: remove in place.
    if (!String(error).includes("os error 18")) throw error;
    Deno.removeSync(entry.path, { recursive: info.isDirectory });
    return;
  }
  const moved = Deno.lstatSync(trash);
  if (sameObject(moved, info)) {
    Deno.removeSync(trash, { recursive: moved.isDirectory });
    return;
  }
  try {
    // link() and a rename of a folder never replace what is there now.
    if (moved.isDirectory) Deno.renameSync(trash, entry.path);
    else Deno.linkSync(trash, entry.path), Deno.removeSync(trash);
  } catch { /* left under the unlisted name */ }
  throw changedWhileUsed(entry.shown);
}

/** Renames `from` to `to` exactly (rename(2)): an existing file is replaced, a folder with content is not. */
export async function renameEntry(root: string, from: string, to: string): Promise<void> {
  const source = resolveEntry(root, from);
  const target = resolveEntry(root, to);
  refuseTemporaryName(source.parts);
  refuseTemporaryName(target.parts);
  if (source.parts.length === 0 || target.parts.length === 0) throw rootRefusal("move");
  await lstatEntry(source);
  if (target.shown === source.shown || target.shown.startsWith(`${source.shown}/`)) {
    throw new FerryError(
      ErrorCode.BadPath,
      `Cannot move "${printable(source.shown)}" into itself ("${printable(target.shown)}")`,
      { path: target.shown },
    );
  }
  try {
    await Deno.rename(source.path, target.path);
  } catch (error) {
    throw toFerryError(error, `move "${printable(source.shown)}" to`, target.shown);
  }
}

function rootRefusal(action: string): FerryError {
  return new FerryError(
    ErrorCode.PermissionDenied,
    `Cannot ${action} the server's root folder`,
    { path: "/" },
  );
}

/** lstat, synchronously (it is on every GET's path), with errors naming `shown`. */
export function lstatOrThrow(path: string, shown: string): Deno.FileInfo {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    throw toFerryError(error, "find", shown || "/");
  }
}

/**
 * Gives a folder just made the sender's permission bits exactly (with the
 * sticky bit, as /tmp-like folders have; the umask does not apply), or the
 * umask's default when none was sent.
 */
export function keepFolderMode(path: string, mode: number | undefined): void {
  if (mode !== undefined) Deno.chmodSync(path, mode & 0o1777);
}
