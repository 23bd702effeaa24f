/**
 * File system operations beneath a held root: looking an entry up, and the
 * mkdir, rm and mv behind the server's requests; the client's get sets folder
 * times and modes with them too. The last component is never followed when
 * it is a symlink, so rm and mv act on the link itself and ls shows it as a
 * link.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { changedWhileUsed, sameObject } from "./safe_path.ts";
import type { ConfinedRoot, Held } from "./confinement.ts";
import { refuseTemporaryName, tempName } from "./temporary.ts";
import { type BackupPlace, moveToBackup } from "./backup.ts";
import { printable } from "../text.ts";
import { splitRemotePath } from "../remote_path.ts";

/**
 * A client path resolved under the root, with the last component not
 * followed: the folder holding it is held (the root itself, for the root),
 * and released when the request is done with it.
 */
export interface ResolvedEntry extends Disposable {
  root: ConfinedRoot;
  /** Validated components; empty for the root. */
  parts: string[];
  /** Its canonical path from the root ("/"-joined components): in messages, entry paths, resume keys. */
  rootPath: string;
  /** The folder holding it; the root itself for the root. */
  parent: Held;
  /** Its name in `parent`; "" for the root. */
  name: string;
  /** The path Deno ops use for it (the root's own for the root). */
  path: string;
}

/** Validates `path` and resolves it under `root`; intermediate symlinks must stay inside. */
export function resolveEntry(root: ConfinedRoot, path: string): ResolvedEntry {
  const parts = splitRemotePath(path);
  const rootPath = parts.join("/");
  const parent = root.folder(parts.slice(0, -1));
  const name = parts.at(-1) ?? "";
  return {
    root,
    parts,
    rootPath,
    parent,
    name,
    // "." : the held root itself (its /proc/self/fd link would be lstat'ed as a link).
    path: parent.at(name === "" ? "." : name),
    [Symbol.dispose]: () => parent.release(),
  };
}

/** lstat, with a missing path reported as not_found under its path from the root. */
export async function lstatEntry(entry: ResolvedEntry): Promise<Deno.FileInfo> {
  try {
    return await Deno.lstat(entry.path);
  } catch (error) {
    throw toFerryError(error, "find", entry.rootPath || "/");
  }
}

/**
 * Creates a folder. Without `parents` its parent must exist and it must not;
 * with `parents` missing parents are created and an existing folder is fine.
 * Resolves with the folders made, deepest first (their parents need a flush).
 */
export function makeFolder(
  root: ConfinedRoot,
  path: string,
  parents: boolean,
  mode?: number,
  mtime?: number,
): string[] {
  const parts = splitRemotePath(path);
  refuseTemporaryName(parts);
  const rootPath = parts.join("/");
  if (parents) {
    const { folder, made } = root.makeFolders(parts);
    using _ = folder;
    if (made[0] === folder.real) keepFolderMode(folder.access, mode);
    if (mtime !== undefined) setTimes(folder.access, mtime, rootPath);
    return made;
  }
  using parent = parentForMkdir(root, parts, rootPath);
  const name = parts.at(-1)!;
  try {
    // mkdir does not follow its last name; the folder is then reached by descriptor.
    Deno.mkdirSync(parent.at(name), { mode: 0o755 });
  } catch (error) {
    throw mkdirFailure(error, parent.at(name), rootPath);
  }
  using made = parent.enterMade(name);
  keepFolderMode(made.access, mode);
  if (mtime !== undefined) setTimes(made.access, mtime, rootPath);
  return [made.real];
}

/** The existing parent of a folder to make. */
function parentForMkdir(root: ConfinedRoot, parts: string[], rootPath: string): Held {
  try {
    return root.folder(parts.slice(0, -1));
  } catch (error) {
    if (!(error instanceof FerryError && error.code === ErrorCode.NotFound)) throw error;
    throw new FerryError(
      ErrorCode.NotFound,
      `Cannot create folder "${printable(rootPath)}": its parent does not exist`,
      { path: rootPath },
    );
  }
}

/** Why mkdir of `path` (`rootPath` from the root) failed. */
function mkdirFailure(error: unknown, path: string, rootPath: string): FerryError {
  if (error instanceof Deno.errors.AlreadyExists) {
    let what = "something";
    try {
      what = Deno.lstatSync(path).isDirectory ? "a folder" : "a file";
    } catch { /* gone again */ }
    return new FerryError(
      ErrorCode.AlreadyExists,
      `Cannot create folder "${printable(rootPath || "/")}": ${what} with that name exists`,
      { path: rootPath },
    );
  }
  if (error instanceof Deno.errors.NotFound) {
    return new FerryError(
      ErrorCode.NotFound,
      `Cannot create folder "${printable(rootPath)}": its parent does not exist`,
      { path: rootPath },
    );
  }
  return toFerryError(error, "create folder", rootPath);
}

/** Sets the access and modification times of `path` to `mtime` (milliseconds), as for files. */
export function setTimes(path: string, mtime: number, rootPath: string): void {
  try {
    const time = new Date(mtime);
    Deno.utimeSync(path, time, time);
  } catch (error) {
    throw toFerryError(error, "set the modification time of", rootPath);
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
  root: ConfinedRoot,
  path: string,
  options: { recursive: boolean; force: boolean; backup?: BackupPlace | undefined },
): Promise<boolean> {
  if (splitRemotePath(path).length === 0) throw rootRefusal("remove");
  let entry: ResolvedEntry;
  let info: Deno.FileInfo;
  try {
    entry = resolveEntry(root, path);
    info = await lstatEntry(entry);
  } catch (error) {
    if (options.force && error instanceof FerryError && error.code === ErrorCode.NotFound) {
      return false;
    }
    throw error;
  }
  using _ = entry;
  if (info.isDirectory && !options.recursive) {
    throw new FerryError(
      ErrorCode.IsDirectory,
      `Cannot remove "${printable(entry.rootPath)}": it is a folder`,
      { path: entry.rootPath },
    );
  }
  try {
    if (options.backup !== undefined) {
      moveToBackup(entry.path, options.backup, entry.parent.realAt(entry.name));
    } else if (entry.parent.kernel) Deno.removeSync(entry.path, { recursive: info.isDirectory });
    else removeConfirmed(entry, info);
  } catch (error) {
    throw toFerryError(error, "remove", entry.rootPath);
  }
  return true;
}

/**
 * In user space: removes what `entry` named when it was looked up (`info`),
 * and nothing else. It is first renamed into the root under an unlisted
 * temporary name (the root itself cannot be swapped), and removed only if it
 * is the same object; if a folder swapped for a link brought something else
 * (from outside the root), that is put back, or else left under that name,
 * and the removal is refused. Deno.remove's recursive walk unlinks symlinks
 * without following them. (With the kernel, the entry's folder is held and
 * the name is removed in it: nothing can have moved it outside.)
 */
function removeConfirmed(entry: ResolvedEntry, info: Deno.FileInfo): void {
  entry.parent.confirm([entry.name], info, false);
  const trash = `${entry.root.path}/${tempName()}`;
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
  throw changedWhileUsed(entry.rootPath);
}

/** Renames `from` to `to` exactly (rename(2)): an existing file is replaced, a folder with content is not. */
export async function renameEntry(root: ConfinedRoot, from: string, to: string): Promise<void> {
  using source = resolveEntry(root, from);
  using target = resolveEntry(root, to);
  refuseTemporaryName(source.parts);
  refuseTemporaryName(target.parts);
  if (source.parts.length === 0 || target.parts.length === 0) throw rootRefusal("move");
  await lstatEntry(source);
  if (target.rootPath === source.rootPath || target.rootPath.startsWith(`${source.rootPath}/`)) {
    throw new FerryError(
      ErrorCode.BadPath,
      `Cannot move "${printable(source.rootPath)}" into itself ("${printable(target.rootPath)}")`,
      { path: target.rootPath },
    );
  }
  try {
    Deno.renameSync(source.path, target.path);
  } catch (error) {
    throw toFerryError(error, `move "${printable(source.rootPath)}" to`, target.rootPath);
  }
}

function rootRefusal(action: string): FerryError {
  return new FerryError(
    ErrorCode.PermissionDenied,
    `Cannot ${action} the server's root folder`,
    { path: "/" },
  );
}

/**
 * Gives a folder just made the sender's permission bits exactly (with the
 * sticky bit, as /tmp-like folders have; the umask does not apply), or the
 * umask's default when none was sent.
 */
export function keepFolderMode(path: string, mode: number | undefined): void {
  if (mode !== undefined) Deno.chmodSync(path, mode & 0o1777);
}
