/**
 * The local side of a get: the folders it writes into, each held as a
 * confined root (confinement.ts) for the whole get, so that a link planted
 * in DEST, or a folder swapped for one while files arrive, can make it
 * neither write nor delete outside. A file's folder is resolved beneath its
 * root when the file is fetched; the folders' times are set, and what
 * `--delete` removes is walked, the same way.
 *
 * @module
 */

import { resolve } from "node:path";
import { toFerryError } from "../errors.ts";
import { type BackupPlace, isBackupName, moveToBackup } from "../fs/backup.ts";
import { ConfinedRoot, type Held } from "../fs/confinement.ts";
import { missingFolders } from "../fs/durability.ts";
import type { PathFilter } from "../fs/filter.ts";
import type { GroupCommit } from "../fs/group_commit.ts";
import { keepFolderMode, setTimes } from "../fs/root_ops.ts";
import { isInside } from "../fs/safe_path.ts";
import { walkTree } from "../fs/tree_walk.ts";
import type { TransferTracker } from "./tracker.ts";
import type { FsyncMode } from "../protocol/constants.ts";

/** Where a file goes: a folder beneath a held local root, and its name in it. */
export interface LocalPlace {
  readonly root: ConfinedRoot;
  readonly folder: readonly string[];
  readonly name: string;
}

/** Where a source goes beneath a held local root (DEST, or a watch's LOCAL): its names under it. */
export interface HeldTarget {
  readonly root: ConfinedRoot;
  readonly parts: readonly string[];
}

/** A local folder a recursive get fills, and the names it should hold (kept for delete only). */
export interface LocalTree {
  root: ConfinedRoot;
  keep: Set<string>;
}

/** A local folder's time to set at the end: its root, its names under it, the remote mtime. */
export interface FolderTime {
  root: ConfinedRoot;
  parts: readonly string[];
  mtime: number;
}

/** The real local path of `parts` under `root`. */
export function localPath(root: ConfinedRoot, parts: readonly string[]): string {
  if (parts.length === 0) return root.path;
  return `${root.path === "/" ? "" : root.path}/${parts.join("/")}`;
}

/**
 * The local roots a get holds, closed when it is over. A dry run writes
 * nothing, and its folders may not exist: they are not opened.
 */
export class LocalRoots {
  #held: ConfinedRoot[] = [];
  readonly #dryRun: boolean;

  constructor(dryRun: boolean) {
    this.#dryRun = dryRun;
  }

  /** Holds the folder at `path` (a path the user gave: links on the way are followed). */
  open(path: string): ConfinedRoot {
    if (this.#dryRun) return ConfinedRoot.unopened(resolve(path));
    return this.#keep(ConfinedRoot.open(path));
  }

  /** Holds `folder` (held beneath `root`) as a root of its own. */
  within(root: ConfinedRoot, folder: Held): ConfinedRoot {
    return this.#keep(root.within(folder));
  }

  #keep(root: ConfinedRoot): ConfinedRoot {
    this.#held.push(root);
    return root;
  }

  close(): void {
    for (const root of this.#held.splice(0)) root.close();
  }
}

/** stat (or lstat, not following a symlink), or null when nothing is there. */
export async function localInfo(path: string, follow: boolean): Promise<Deno.FileInfo | null> {
  try {
    return await (follow ? Deno.stat(path) : Deno.lstat(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw toFerryError(error, "look up", path);
  }
}

/** Makes a local folder (a path the user gave) and its parents; `commits` flushes what was made. */
export async function mkdirLocal(
  path: string,
  commits: GroupCommit,
  fsync: FsyncMode = "each",
  mode?: number,
): Promise<void> {
  try {
    const made = missingFolders(path);
    await Deno.mkdir(path, { recursive: true });
    if (made[0] === path) keepFolderMode(path, mode);
    commits.foldersMade(made, fsync);
  } catch (error) {
    throw toFerryError(error, "create folder", path);
  }
}

/** Local folders under a root, each one's names shared by its files (not one array per file). */
export class LocalPlaces {
  #root: ConfinedRoot;
  #folders = new Map<string, readonly string[]>();
  #commits: GroupCommit;
  #fsync: FsyncMode;
  #times: FolderTime[];
  #dryRun: boolean;

  constructor(
    root: ConfinedRoot,
    commits: GroupCommit,
    fsync: FsyncMode | undefined,
    times: FolderTime[],
    dryRun: boolean,
  ) {
    this.#root = root;
    this.#commits = commits;
    this.#fsync = fsync ?? "each";
    this.#times = times;
    this.#dryRun = dryRun;
  }

  /**
   * Makes the folder at `parts` inside the root (a dry run only notes where
   * it would be); its time is set at the end (`times`).
   */
  folder(parts: string[], mode: number, mtime: number): void {
    if (!this.#dryRun) {
      makeHeldFolder({ root: this.#root, parts }, this.#commits, this.#fsync, mode).release();
    }
    this.#folders.set(parts.join("/"), parts);
    this.#times.push({ root: this.#root, parts, mtime });
  }

  /**
   * Where the file at `parts` goes. Its own name is not followed: a symlink
   * there is replaced by the file (the commit renames over it), as on the server.
   */
  of(parts: string[]): LocalPlace {
    const folderParts = parts.slice(0, -1);
    const key = folderParts.join("/");
    let folder = this.#folders.get(key);
    if (folder === undefined) this.#folders.set(key, folder = folderParts);
    return { root: this.#root, folder, name: parts.at(-1)! };
  }
}

/** Makes the folder of `target` beneath its root (with its parents), held; what was made is flushed. */
export function makeHeldFolder(
  target: HeldTarget,
  commits: GroupCommit,
  fsync: FsyncMode,
  mode?: number,
): Held {
  const { folder, made } = target.root.makeFolders(target.parts);
  try {
    if (made[0] === folder.real) keepFolderMode(folder.access, mode);
  } catch (error) {
    folder.release();
    throw toFerryError(error, "create folder", folder.real);
  }
  commits.foldersMade(made, fsync);
  return folder;
}

/**
 * Sets the folders' modification times, deepest first, once their files
 * are committed and extras deleted (both change them).
 */
export function setLocalFolderTimes(times: FolderTime[], tracker: TransferTracker): void {
  for (let i = times.length - 1; i >= 0; i--) {
    const { root, parts, mtime } = times[i]!;
    const shown = localPath(root, parts);
    try {
      using folder = root.folder(parts);
      setTimes(folder.access, mtime, shown);
    } catch (error) {
      tracker.failed(toFerryError(error, "set the time of", shown));
    }
  }
}

/**
 * Removes what `tree.root` holds beyond the names in `tree.keep` (never
 * following symlinks): walked through held folders, so a folder swapped for
 * a link meanwhile cannot lead the removal outside.
 */
export async function deleteExtraLocal(
  tree: LocalTree,
  tracker: TransferTracker,
  { backup, filter, dryRun }: {
    backup: BackupPlace | undefined;
    filter: PathFilter | undefined;
    /** Report what would be removed, remove nothing. */
    dryRun: boolean;
  },
): Promise<void> {
  const rootInfo = await localInfo(tree.root.path, false);
  // A dry run of a get into a new folder: nothing here to remove.
  if (rootInfo === null) return;
  const removed: string[] = [];
  // With backups, the backups themselves (and the backup folder) are never removed.
  const backupFolder = backup?.folder === undefined ? undefined : resolve(backup.folder);
  const keptAsBackup = (rel: string, real: string) =>
    backup !== undefined && (rel.split("/").some(isBackupName) ||
      (backupFolder !== undefined && isInside(backupFolder, real)));
  using top = tree.root.top();
  // What the rules exclude here is left alone, as rsync leaves it.
  for await (const entry of walkTree(top, rootInfo, { filter })) {
    if (entry.rel === "" || entry.type === "error" || tree.keep.has(entry.rel)) continue;
    const real = localPath(tree.root, entry.rel.split("/"));
    if (keptAsBackup(entry.rel, real)) continue;
    // Inside a folder just removed (its walk finds nothing or fails).
    if (removed.some((dir) => entry.rel === dir || entry.rel.startsWith(`${dir}/`))) continue;
    if (dryRun) {
      removed.push(entry.rel);
      tracker.deleted(real);
      continue;
    }
    try {
      if (backup !== undefined) moveToBackup(entry.path, backup, real);
      else await Deno.remove(entry.path, { recursive: entry.type === "dir" });
      removed.push(entry.rel);
      tracker.deleted(real);
    } catch (error) {
      tracker.failed(toFerryError(error, "remove", real));
    }
  }
}
