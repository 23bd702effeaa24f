/**
 * This machine as a side of a transfer. As the source (a send) its sources
 * are checked before anything connects and walked as they are found. As
 * the receiving side (a get) the folders it writes into are each held as a
 * confined root (confinement.ts) for the whole transfer, so that a link
 * planted in DEST, or a folder swapped for one while files arrive, can make
 * it neither write nor delete outside: a file's folder is resolved beneath
 * its root when the file is fetched; the folders' times are set, and what
 * `--delete` removes is walked, the same way.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";
import { ErrorCode, FerryError, folderNeedsRecursive, toFerryError } from "../errors.ts";
import { type BackupPlace, isBackupName, moveToBackup } from "../fs/backup.ts";
import { ConfinedRoot, type Held } from "../fs/confinement.ts";
import { digestFileHex } from "../fs/digest.ts";
import { missingFolders } from "../fs/durability.ts";
import type { PathFilter } from "../fs/filter.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import { keepFolderMode, setTimes } from "../fs/root_ops.ts";
import { isInside } from "../fs/safe_path.ts";
import { walkTree } from "../fs/tree_walk.ts";
import type { FsyncMode } from "../protocol/constants.ts";
import { printable } from "../text.ts";
import { keepsReceiving } from "./compare.ts";
import type { Connection } from "./connection.ts";
import { refuseCollisions, type SelectionPolicy, type TransferPolicy } from "./options.ts";
import { type LocalJob, type LocalPlace, Receiver } from "./receiver.ts";
import {
  type FolderTime,
  type FoundFacts,
  type FoundSource,
  type Placement,
  type ReceivingSide,
  type ReceivingTree,
  type SideEntry,
  type SourceEntry,
  type SourceSide,
  type TreeEnds,
  TreeFile,
} from "./side.ts";
import type { TransferTracker } from "./tracker.ts";

/** A source to send, after stat (symlinks followed, as scp does). */
export interface LocalSource extends FoundSource {
  readonly info: Deno.FileInfo;
}

/**
 * Checks the sources before anything is sent: each must exist and be a
 * file or folder, and a folder needs `recursive` (is_directory otherwise).
 */
export async function inspectSources(
  sources: readonly string[],
  recursive: boolean,
): Promise<LocalSource[]> {
  const inspected: LocalSource[] = [];
  for (const path of sources) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      throw toFerryError(error, "send", path);
    }
    if (info.isDirectory && !recursive) throw folderNeedsRecursive(path);
    if (!info.isDirectory && !info.isFile) {
      throw new FerryError(
        ErrorCode.NotFound,
        `Cannot send "${printable(path)}": not a regular file or folder`,
        { path },
      );
    }
    const trimmed = path.replace(/\/+$/, "");
    const name = basename(trimmed);
    inspected.push({
      path: trimmed || "/",
      name: name === "." || name === ".." || name === "" ? "" : name,
      isFolder: info.isDirectory,
      facts: info.isDirectory ? folderFacts(info) : fileFacts(info),
      info,
    });
  }
  return inspected;
}

/** What a send tells the server of a file it found. */
function fileFacts(info: Deno.FileInfo): FoundFacts {
  return {
    size: info.size,
    mode: (info.mode ?? 0o644) & 0o777,
    mtime: info.mtime?.getTime() ?? Date.now(),
  };
}

/** A folder's facts; with the sticky bit, a shared folder arrives as shared as it was. */
function folderFacts(info: Deno.FileInfo): FoundFacts {
  return { size: 0, mode: (info.mode ?? 0o755) & 0o1777, mtime: info.mtime?.getTime() ?? 0 };
}

/** Where a source goes beneath a held local root (DEST, or a watch's LOCAL): its names under it. */
export interface HeldTarget {
  readonly root: ConfinedRoot;
  readonly parts: readonly string[];
}

/** What a get fills here for one source: a folder held as a root, or one file's place. */
export interface LocalTree extends ReceivingTree {
  readonly root: ConfinedRoot;
  readonly ends: TreeEnds;
  /** A folder's places (undefined for a single file). */
  readonly places: LocalPlaces | undefined;
  /** A single file's place (undefined for a folder). */
  readonly place: LocalPlace | undefined;
}

/** An entry below a local tree, with the path that reaches it through held folders. */
export interface LocalEntry extends SideEntry {
  readonly access: string;
}

/** How a get lands here: as the source's contents, or beneath a watch's held folder. */
export interface LocalLanding {
  /** `dest` is the one source itself even when it exists (rsync's trailing "/"). */
  readonly asContents?: boolean | undefined;
  /** `dest` is that place beneath a held folder (a watch), resolved there, not by its path. */
  readonly within?: HeldTarget | undefined;
}

/** This machine: the source of a send, or where a get lands. */
export class LocalSide
  implements SourceSide<LocalSource>, ReceivingSide<LocalTree, LocalJob, LocalEntry> {
  readonly ordersBySize = true;
  readonly #policy: TransferPolicy;
  readonly #landing: LocalLanding;
  readonly #roots: LocalRoots;
  readonly #commits = new GroupCommit();
  /** Where replaced and removed files are kept, when they are; known once placed. */
  #backup: BackupPlace | undefined;
  #backupFolder: string | undefined;

  constructor(policy: TransferPolicy, landing: LocalLanding = {}) {
    this.#policy = policy;
    this.#landing = landing;
    this.#roots = new LocalRoots(policy.dryRun);
  }

  prefixOf(source: LocalSource): string {
    return `${source.path.replace(/\/+$/, "")}/`;
  }

  /** Walked as it is found: what the rules exclude is not entered; ferry's temporaries are left out. */
  async *contents(source: LocalSource, tracker: TransferTracker): AsyncGenerator<SourceEntry> {
    if (!source.isFolder) {
      yield { rel: "", type: "file", facts: source.facts };
      return;
    }
    const { filter } = this.#policy.selection;
    const walk = walkTree(source.path, source.info, { countTemporaries: true, filter });
    for await (const entry of walk) {
      const { rel } = entry;
      if (entry.type === "error") tracker.failed(entry.error);
      else if (entry.type === "dir") yield { rel, type: "dir", facts: folderFacts(entry.info) };
      else {yield {
          rel,
          type: entry.type === "file" ? "file" : "other",
          facts: fileFacts(entry.info),
        };}
    }
  }

  async place<Source extends FoundSource>(
    sources: readonly Source[],
    dest: string,
  ): Promise<Placement<Source, LocalTree>[]> {
    const destInfo = await localInfo(dest, true);
    const intoFolder = !this.#landing.asContents &&
      (destInfo?.isDirectory === true || dest.endsWith("/") || sources.length > 1);
    if (intoFolder && destInfo !== null && !destInfo.isDirectory) {
      throw new FerryError(
        ErrorCode.NotDirectory,
        `The destination "${printable(dest)}" exists and is not a folder`,
        { path: dest },
      );
    }
    const byName = (name: string) => intoFolder && name !== "";
    const targets = sources.map(({ name }) =>
      byName(name) ? `${dest.replace(/\/+$/, "")}/${name}` : dest
    );
    refuseCollisions(sources.map(({ path }, i) => ({ source: path, target: targets[i]! })));
    this.#keepBackups(intoFolder ? dest : dirname(dest));
    const { commit, dryRun } = this.#policy;
    if (intoFolder && destInfo === null && !dryRun) {
      await mkdirLocal(dest, this.#commits, commit.fsync);
    }
    // Into a folder, each source goes beneath it by its name, never through a link planted there.
    const into = intoFolder ? { root: this.#roots.open(dest), parts: [] } : this.#landing.within;
    return sources.map((source, i) => {
      const target = targets[i]!;
      const below = into && (byName(source.name) ? beneath(into, source.name) : into);
      const open = (prefix: string) => this.#open(source, target, below, prefix);
      return { source, target, open };
    });
  }

  #keepBackups(root: string): void {
    const { backup } = this.#policy.commit;
    if (backup === undefined || backup === false) return;
    const folder = typeof backup === "string" ? backup : undefined;
    this.#backup = { root, folder };
    this.#backupFolder = folder === undefined ? undefined : resolve(folder);
  }

  async #open(
    source: FoundSource,
    target: string,
    into: HeldTarget | undefined,
    prefix: string,
  ): Promise<LocalTree> {
    const keep = new Set<string>();
    if (!source.isFolder) {
      const place = this.#singlePlace(target, into);
      const ends = { source: source.path, target };
      return { root: place.root, ends, places: undefined, place, keep };
    }
    const root = await this.#treeRoot(target, into, source.facts.mode);
    const { commit, dryRun } = this.#policy;
    const places = new LocalPlaces(root, this.#commits, commit.fsync, dryRun);
    return { root, ends: { source: prefix, target: `${target}/` }, places, place: undefined, keep };
  }

  /**
   * Where a single fetched file goes: its name beneath the held folder it
   * goes into, or else in the folder of `target`, held as a root.
   */
  #singlePlace(target: string, into: HeldTarget | undefined): LocalPlace {
    if (into !== undefined && into.parts.length > 0) {
      return { root: into.root, folder: into.parts.slice(0, -1), name: into.parts.at(-1)! };
    }
    try {
      return { root: this.#roots.open(dirname(target)), folder: [], name: basename(target) };
    } catch (error) {
      throw toFerryError(error, "write", target);
    }
  }

  /**
   * The root of the tree a folder source fills, made when missing: beneath
   * the held folder it goes into, or at `target` (a dry run makes nothing).
   */
  async #treeRoot(
    target: string,
    into: HeldTarget | undefined,
    mode: number,
  ): Promise<ConfinedRoot> {
    const { dryRun, commit } = this.#policy;
    const fsync = commit.fsync ?? "each";
    if (into === undefined) {
      if (!dryRun) await mkdirLocal(target, this.#commits, fsync, mode);
      return this.#roots.open(target);
    }
    if (dryRun) return ConfinedRoot.unopened(localPath(into.root, into.parts));
    using folder = makeHeldFolder(into, this.#commits, fsync, mode);
    return this.#roots.within(into.root, folder);
  }

  /** The top was made when the tree was opened. */
  folder(tree: LocalTree, rel: string, facts: FoundFacts, tracker: TransferTracker): Promise<void> {
    if (rel === "" || tree.places === undefined) return Promise.resolve();
    try {
      tree.places.folder(rel.split("/"), facts.mode);
    } catch (error) {
      tracker.failed(toFerryError(error, "write", `${tree.ends.target}${rel}`));
    }
    return Promise.resolve();
  }

  job(tree: LocalTree, rel: string, facts: FoundFacts): LocalJob {
    if (tree.places !== undefined) {
      return new LocalTreeFile(tree.ends, rel, facts, tree.places.of(rel.split("/")));
    }
    const { size, mode, mtime, digest } = facts;
    const { source, target } = tree.ends;
    return { source, target, local: target, place: tree.place!, size, mode, mtime, digest };
  }

  /**
   * Whether the local file already matches (rsync's quick check, or the
   * digest), or is to be left as it is (`ignoreExisting`, `update`).
   */
  async keeps(job: LocalJob, rules: SelectionPolicy): Promise<boolean> {
    const local = await localInfo(job.local, false);
    if (local === null) return false;
    const receiving = {
      isFile: local.isFile,
      size: local.size,
      mtime: local.mtime?.getTime() ?? 0,
    };
    return await keepsReceiving(job, receiving, rules, () => digestFileHex(job.local));
  }

  mover(connection: Connection, tracker: TransferTracker): Receiver {
    const { commit, move } = this.#policy;
    return new Receiver(connection, tracker, this.#commits, { commit, move, backup: this.#backup });
  }

  drain(): Promise<void> {
    return this.#commits.drain();
  }

  /**
   * Walked through held folders, so that a folder swapped for a link
   * meanwhile cannot lead a removal outside; what the rules exclude is not
   * entered, as rsync leaves it alone.
   */
  async *held(tree: LocalTree, filter?: PathFilter): AsyncGenerator<LocalEntry> {
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

  close(): void {
    this.#roots.close();
  }
}

/** Where `name` goes beneath `into`. */
function beneath(into: HeldTarget, name: string): HeldTarget {
  return { root: into.root, parts: [...into.parts, name] };
}

/** The real local path of `parts` under `root`. */
function localPath(root: ConfinedRoot, parts: readonly string[]): string {
  if (parts.length === 0) return root.path;
  return `${root.path === "/" ? "" : root.path}/${parts.join("/")}`;
}

/**
 * The local roots a get holds, closed when it is over. A dry run writes
 * nothing, and its folders may not exist: they are not opened.
 */
class LocalRoots {
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
async function localInfo(path: string, follow: boolean): Promise<Deno.FileInfo | null> {
  try {
    return await (follow ? Deno.stat(path) : Deno.lstat(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw toFerryError(error, "look up", path);
  }
}

/** Makes a local folder (a path the user gave) and its parents; `commits` flushes what was made. */
async function mkdirLocal(
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
class LocalPlaces {
  readonly #root: ConfinedRoot;
  readonly #folders = new Map<string, readonly string[]>();
  readonly #commits: GroupCommit;
  readonly #fsync: FsyncMode;
  readonly #dryRun: boolean;

  constructor(
    root: ConfinedRoot,
    commits: GroupCommit,
    fsync: FsyncMode | undefined,
    dryRun: boolean,
  ) {
    this.#root = root;
    this.#commits = commits;
    this.#fsync = fsync ?? "each";
    this.#dryRun = dryRun;
  }

  /** Makes the folder at `parts` inside the root (a dry run only notes where it would be). */
  folder(parts: string[], mode: number): void {
    if (!this.#dryRun) {
      makeHeldFolder({ root: this.#root, parts }, this.#commits, this.#fsync, mode).release();
    }
    this.#folders.set(parts.join("/"), parts);
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
function makeHeldFolder(
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

/** A file found in a remote folder that lands beneath a held local root. */
class LocalTreeFile extends TreeFile implements LocalJob {
  readonly #root: ConfinedRoot;
  /** Its folder's names below the root, shared by the folder's files. */
  readonly #folder: readonly string[];

  constructor(ends: TreeEnds, rel: string, facts: FoundFacts, place: LocalPlace) {
    super(ends, rel, facts);
    this.#root = place.root;
    this.#folder = place.folder;
  }

  get place(): LocalPlace {
    return { root: this.#root, folder: this.#folder, name: this.#name };
  }

  get local(): string {
    return localPath(this.#root, [...this.#folder, this.#name]);
  }

  get #name(): string {
    return this.rel.slice(this.rel.lastIndexOf("/") + 1);
  }
}
