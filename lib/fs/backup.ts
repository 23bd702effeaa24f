/**
 * Numbered backups, as `cp --backup=numbered` makes them: a file about to be
 * replaced or removed on the receiving side is kept as `NAME.~N~`, N one
 * more than the highest backup of that name, beside the file or in a backup
 * folder that mirrors the tree (`--backup-dir`). A replaced file is kept by
 * a hard link made before the rename, so its name never disappears and no
 * byte is copied; a removed entry is renamed to its backup name.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { basename, dirname, relative, resolve } from "node:path";
import { isInside, resolveInside } from "./safe_path.ts";
import { printable } from "../text.ts";
import { joinRemotePath, splitRemotePath } from "../remote_path.ts";

/** Where the backups of one transfer go. */
export interface BackupPlace {
  /** The top of the receiving tree (the server's root, or a get's DEST). */
  root: string;
  /** The backup folder, absolute, whose tree mirrors `root`'s; undefined: each backup beside its file. */
  folder: string | undefined;
}

/**
 * The place of a request's `backup` field under a server's `root`:
 * undefined (no backup), "" (beside each file) or a folder path, which must
 * stay inside the root as any request path.
 */
export function backupPlace(root: string, backup: string | undefined): BackupPlace | undefined {
  if (backup === undefined) return undefined;
  return { root, folder: backup === "" ? undefined : resolveInside(root, splitRemotePath(backup)) };
}

const BACKUP_NAME = /\.~\d+~$/;

/** Whether `name` is a numbered backup, which `--delete` leaves alone (as rsync's `P *~`). */
export function isBackupName(name: string): boolean {
  return BACKUP_NAME.test(name);
}

/**
 * Keeps the file at `path`, about to be replaced, as its next numbered
 * backup (a hard link). Returns the folder the backup was made in, which
 * then needs a flush, or undefined when `path` does not exist. A folder in
 * the way is not kept: the replacement fails on it anyway. `path` may be a
 * held folder's (/proc/self/fd/N/name); `real` is then where it is in the
 * tree, which places its backup in a backup folder.
 */
export function linkBackup(path: string, place: BackupPlace, real = path): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw toFerryError(error, "back up", belowRoot(real, place));
  }
  if (info.isDirectory) return undefined;
  return keep(path, real, place, (backup) => Deno.linkSync(path, backup));
}

/**
 * Moves the file, link or folder at `path`, about to be removed, to its
 * next numbered backup (`real` as for {@link linkBackup}).
 */
export function moveToBackup(path: string, place: BackupPlace, real = path): string {
  return keep(path, real, place, (backup) => Deno.renameSync(path, backup));
}

function keep(
  path: string,
  real: string,
  place: BackupPlace,
  make: (backup: string) => void,
): string {
  // Beside the file: in the folder that holds it, as reached (held, on a server).
  const folder = place.folder === undefined ? dirname(path) : backupFolder(real, place);
  const name = basename(path);
  // Two receivers may back up the same name at once: the loser takes the next number.
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      make(`${folder}/${name}.~${nextNumber(folder, name)}~`);
      // The folder to flush, by its real path: a held one's descriptor goes with its request.
      return place.folder === undefined ? dirname(resolve(real)) : folder;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      throw toFerryError(error, "back up", belowRoot(real, place));
    }
  }
  throw new FerryError(
    ErrorCode.Io,
    `Cannot back up "${printable(belowRoot(real, place))}": no free backup number`,
  );
}

/**
 * The folder the backup of `path` goes in, made when missing. Links in it
 * are followed only when they stay inside the root (or, for a backup folder
 * outside the root, inside that folder).
 */
function backupFolder(path: string, place: BackupPlace): string {
  // A get's paths may be relative to the working folder; a server's are absolute already.
  const parent = dirname(resolve(path));
  if (place.folder === undefined) return parent;
  const root = resolve(place.root);
  const folder = resolve(place.folder);
  if (!isInside(root, parent)) {
    throw new FerryError(ErrorCode.BadPath, `"${printable(path)}" is outside the backup's tree`);
  }
  const below = relative(root, parent);
  const base = isInside(root, folder) ? root : folder;
  const parts = relative(base, joinRemotePath(folder, below)).split("/");
  let made: string;
  try {
    made = resolveInside(realPath(base), parts.filter((part) => part !== ""));
    Deno.mkdirSync(made, { recursive: true });
  } catch (error) {
    throw toFerryError(error, "create the backup folder for", belowRoot(path, place));
  }
  return made;
}

/** The real path of `path`, or `path` while it does not exist yet. */
function realPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

/** One more than the highest N of `NAME.~N~` in `folder` (1 when there is none). */
function nextNumber(folder: string, name: string): number {
  const prefix = `${name}.~`;
  let highest = 0;
  for (const entry of Deno.readDirSync(folder)) {
    if (!entry.name.startsWith(prefix) || !entry.name.endsWith("~")) continue;
    const number = Number(entry.name.slice(prefix.length, -1));
    if (Number.isInteger(number) && number > highest) highest = number;
  }
  return highest + 1;
}

function belowRoot(path: string, place: BackupPlace): string {
  const below = relative(resolve(place.root), resolve(path));
  return below.startsWith("..") ? path : below;
}
