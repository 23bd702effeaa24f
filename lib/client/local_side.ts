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
import type { FolderTime, ReceivingSide, ReceivingTree, SideEntry } from "./side.ts";
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

/** A local folder a recursive get fills: held as a root. */
export interface LocalTree extends ReceivingTree {
  readonly root: ConfinedRoot;
}

/** An entry below a local tree, with the path that reaches it through held folders. */
export interface LocalEntry extends SideEntry {
  readonly access: string;
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

/** Local folders under a tree's root, each one's names shared by its files (not one array per file). */
export class LocalPlaces {
  #tree: LocalTree;
  #folders = new Map<string, readonly string[]>();
  #commits: GroupCommit;
  #fsync: FsyncMode;
  #times: FolderTime<LocalTree>[];
  #dryRun: boolean;

  constructor(
    tree: LocalTree,
    commits: GroupCommit,
    fsync: FsyncMode | undefined,
    times: FolderTime<LocalTree>[],
    dryRun: boolean,
  ) {
    this.#tree = tree;
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
      const target = { root: this.#tree.root, parts };
      makeHeldFolder(target, this.#commits, this.#fsync, mode).release();
    }
    const rel = parts.join("/");
    this.#folders.set(rel, parts);
    this.#times.push({ tree: this.#tree, rel, mtime });
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
    return { root: this.#tree.root, folder, name: parts.at(-1)! };
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

/** This machine as the receiving side of a get: its trees are held roots. */
export class LocalSide implements ReceivingSide<LocalTree, LocalEntry> {
  readonly #backup: BackupPlace | undefined;
  readonly #backupFolder: string | undefined;

  /** `backup`: where replaced and removed files are kept, when they are. */
  constructor(backup: BackupPlace | undefined) {
    this.#backup = backup;
    this.#backupFolder = backup?.folder === undefined ? undefined : resolve(backup.folder);
  }

  /**
   * Walked through held folders, so that a folder swapped for a link
   * meanwhile cannot lead a removal outside; what the rules exclude is not
   * entered, as rsync leaves it alone.
   */
  async *entries(tree: LocalTree, filter?: PathFilter): AsyncGenerator<LocalEntry> {
    const rootInfo = await localInfo(tree.root.path, false);
    // A dry run of a get into a new folder: nothing here yet.
    if (rootInfo === null) return;
    using top = tree.root.top();
    for await (const entry of walkTree(top, rootInfo, { filter })) {
      if (entry.rel === "" || entry.type === "error") continue;
      yield { rel: entry.rel, isDir: entry.type === "dir", access: entry.path };
    }
  }

  shown(tree: LocalTree, rel: string): string {
    return localPath(tree.root, rel.split("/"));
  }

  isBackup(tree: LocalTree, rel: string): boolean {
    if (this.#backup === undefined) return false;
    return rel.split("/").some(isBackupName) ||
      (this.#backupFolder !== undefined && isInside(this.#backupFolder, this.shown(tree, rel)));
  }

  /** `entry` is the one the walk just yielded: its access path is good until the next. */
  async remove(tree: LocalTree, entry: LocalEntry): Promise<void> {
    if (this.#backup !== undefined) {
      moveToBackup(entry.access, this.#backup, this.shown(tree, entry.rel));
    } else await Deno.remove(entry.access, { recursive: entry.isDir });
  }

  /** Each removal here stands alone. */
  endsDeletion(): boolean {
    return false;
  }

  setFolderTimes(
    folders: readonly FolderTime<LocalTree>[],
    tracker: TransferTracker,
  ): Promise<void> {
    for (let i = folders.length - 1; i >= 0; i--) {
      const { tree, rel, mtime } = folders[i]!;
      const parts = rel === "" ? [] : rel.split("/");
      const shown = localPath(tree.root, parts);
      try {
        using folder = tree.root.folder(parts);
        setTimes(folder.access, mtime, shown);
      } catch (error) {
        tracker.failed(toFerryError(error, "set the time of", shown));
      }
    }
    return Promise.resolve();
  }
}
