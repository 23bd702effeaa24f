/**
 * What a get will fetch: each source is looked up, then listed as a stream
 * (on a connection of its own, while files are fetched on another), its
 * names are checked like the server checks client paths and resolved inside
 * the local destination, folders are made, and the files to fetch are
 * yielded one by one: memory does not grow with the tree.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import type { RemoteEntry, StatReply } from "../protocol/replies.ts";
import { basename, dirname, resolve } from "node:path";
import { type BackupPlace, isBackupName, moveToBackup } from "../fs/backup.ts";
import { isInside, printable, splitRemotePath } from "../fs/safe_path.ts";
import { ConfinedRoot } from "../fs/confinement.ts";
import { walkTree } from "../fs/tree_walk.ts";
import { missingFolders } from "../fs/durability.ts";
import { keepFolderMode, setTimes } from "../fs/root_ops.ts";
import type { GroupCommit } from "../fs/group_commit.ts";
import type { FsyncMode } from "../protocol/constants.ts";
import type { Connection } from "./connection.ts";
import { listRemote, statRemote } from "./remote_ops.ts";
import { folderNeedsRecursive } from "./send_plan.ts";
import type { TransferOptions } from "./transfer.ts";
import type { TransferTracker } from "./tracker.ts";
import type { PathFilter } from "../fs/filter.ts";

/** What a get needs of a listed file: its body's facts, not its names. */
export type WantedEntry = Pick<RemoteEntry, "size" | "mode" | "mtime" | "digest">;

/**
 * Where a fetched file goes: a folder beneath a local root held for the get
 * (confinement.ts), and the file's name in it. Its folder is resolved beneath
 * the root when the file is fetched, so a folder swapped for a link in DEST
 * meanwhile leads nowhere.
 */
export interface LocalPlace {
  readonly root: ConfinedRoot;
  readonly folder: readonly string[];
  readonly name: string;
}

/** One file to fetch. */
export interface Wanted {
  readonly remote: string;
  /** Its real local path, for messages and the checks of what is there. */
  readonly local: string;
  readonly into: LocalPlace;
  /** How it is named in messages. */
  readonly shown: string;
  readonly entry: WantedEntry;
}

/**
 * A file of a listed folder, kept small because a get holds one per file
 * of the tree: the folder strings are shared by the files in them, and the
 * full local path and shown name are made only when asked for.
 */
class ListedFile implements Wanted {
  readonly remote: string;
  readonly entry: WantedEntry;
  readonly #root: ConfinedRoot;
  readonly #folder: readonly string[];
  readonly #name: string;
  readonly #shownPrefix: string;
  readonly #baseLength: number;

  constructor(
    entry: RemoteEntry,
    { root, folder, name }: LocalPlace,
    shownPrefix: string,
    baseLength: number,
  ) {
    this.remote = entry.path;
    const { size, mode, mtime, digest } = entry;
    this.entry = digest === undefined ? { size, mode, mtime } : { size, mode, mtime, digest };
    this.#root = root;
    this.#folder = folder;
    this.#name = name;
    this.#shownPrefix = shownPrefix;
    this.#baseLength = baseLength;
  }

  get local(): string {
    return localPath(this.#root, [...this.#folder, this.#name]);
  }

  get into(): LocalPlace {
    return { root: this.#root, folder: this.#folder, name: this.#name };
  }

  get shown(): string {
    return this.#shownPrefix + this.remote.slice(this.#baseLength);
  }
}

/** What planning a get works with. */
export interface GetPlan {
  /** The connection that lists: not the one that fetches (see the module doc). */
  lister: () => Promise<Connection>;
  /** Where the files will be committed: it flushes the folders made here. */
  commits: GroupCommit;
  options: TransferOptions;
  tracker: TransferTracker;
  /** The local folders filled, with their names when `delete` keeps them. */
  trees: LocalTree[];
  /** Each folder made or filled and its remote modification time, parents first. */
  folderTimes: FolderTime[];
  /** The local roots held for the get; it closes them when it is over. */
  roots: ConfinedRoot[];
  /** The include and exclude rules, when there are any. */
  filter: PathFilter | undefined;
}

/** A source, looked up before anything is fetched. */
export interface RemoteSource {
  source: string;
  /** Where it goes locally. */
  target: string;
  info: StatReply;
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
function localPath(root: ConfinedRoot, parts: readonly string[]): string {
  const top = root.path === "/" ? "" : root.path;
  return parts.length === 0 ? root.path : `${top}/${parts.join("/")}`;
}

/**
 * Holds `path` (a real path) as a local root for the rest of the get. A
 * dry run writes nothing, and its folder may not exist: it is not opened.
 */
function holdRoot(plan: GetPlan, path: string): ConfinedRoot {
  if (plan.options.dryRun) return ConfinedRoot.unopened(path);
  const root = ConfinedRoot.open(path);
  plan.roots.push(root);
  return root;
}

/**
 * Splits a name announced by the server. Unlike a path typed by the user, it
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

/** stat (or lstat, not following a symlink), or null when nothing is there. */
export async function localInfo(path: string, follow: boolean): Promise<Deno.FileInfo | null> {
  try {
    return await (follow ? Deno.stat(path) : Deno.lstat(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw toFerryError(error, "look up", path);
  }
}

/** Makes a local folder and its parents; `commits` flushes what was made with its files. */
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

/**
 * Looks `source` up: a missing source, or a folder without `recursive`, is
 * refused before any file is fetched.
 */
export async function lookUpSource(
  connection: Connection,
  source: string,
  target: string,
  recursive: boolean,
): Promise<RemoteSource> {
  const info = await statRemote(connection, source);
  const shownSource = printable(source || "/");
  if (info === null) {
    throw new FerryError(ErrorCode.NotFound, `Cannot find "${shownSource}" on the server`, {
      path: source,
    });
  }
  if (info.type !== "file" && info.type !== "dir") {
    throw new FerryError(ErrorCode.NotFound, `"${shownSource}" is not a file or folder`, {
      path: source,
    });
  }
  if (info.type === "dir" && !recursive) throw folderNeedsRecursive(source);
  return { source, target, info };
}

/** The files of one looked-up source, as the listing streams in; folders are made on the way. */
export function sourceFiles(plan: GetPlan, found: RemoteSource): AsyncGenerator<Wanted> {
  return found.info.type === "file" ? singleFile(plan, found) : folderFiles(plan, found);
}

/** One remote file: STAT told size and mtime; only checksum needs the listing's digest. */
async function* singleFile(
  plan: GetPlan,
  { source, target, info }: RemoteSource,
): AsyncGenerator<Wanted> {
  const { lister, options, tracker, filter } = plan;
  if (filter?.excludes(splitRemotePath(source).at(-1) ?? "", false)) return;
  const file = { remote: source, local: target, shown: target, into: singlePlace(plan, target) };
  if (!options.checksum) {
    const { size, mode, mtime } = info;
    yield { ...file, entry: { size, mode, mtime } };
    return;
  }
  const onNotice = (error: FerryError) => tracker.failed(error);
  for await (const entry of listRemote(await lister(), source, { digests: true, onNotice })) {
    if (entry.type === "file") yield { ...file, entry };
  }
}

/** Where a single fetched file goes: its name in its folder, held as the root. */
function singlePlace(plan: GetPlan, target: string): LocalPlace {
  const folder = dirname(target);
  let real: string;
  try {
    real = Deno.realPathSync(folder);
  } catch (error) {
    if (!(plan.options.dryRun && error instanceof Deno.errors.NotFound)) {
      throw toFerryError(error, "write", target);
    }
    real = resolve(folder);
  }
  return { root: holdRoot(plan, real), folder: [], name: basename(target) };
}

/** A remote folder, listed recursively: its folders are made now, its files yielded. */
async function* folderFiles(
  plan: GetPlan,
  { source, target, info }: RemoteSource,
): AsyncGenerator<Wanted> {
  const { lister, options, tracker, commits } = plan;
  const dryRun = options.dryRun ?? false;
  if (!dryRun) await mkdirLocal(target, commits, options.fsync, info.mode);
  // A dry run makes nothing: the folder may not exist yet.
  const root = await Deno.realPath(target).catch((error) => {
    if (dryRun && error instanceof Deno.errors.NotFound) return resolve(target);
    throw error;
  });
  const base = splitRemotePath(source).join("/");
  const keep = new Set<string>();
  const held = holdRoot(plan, root);
  plan.trees.push({ root: held, keep });
  plan.folderTimes.push({ root: held, parts: [], mtime: info.mtime });
  const place = new LocalPlaces(
    held,
    commits,
    options.fsync,
    dryRun ? [] : plan.folderTimes,
    dryRun,
  );
  const listing = listRemote(await lister(), source, {
    recursive: true,
    digests: options.checksum ?? false,
    onNotice: (error) => tracker.failed(error),
    signal: options.signal,
    filter: plan.filter?.rules,
  });
  const shownPrefix = `${target}/`;
  const baseLength = base === "" ? 0 : base.length + 1;
  for await (const entry of listing) {
    const parts = namesBelow(entry.path, base, source);
    // The server applies the rules too; one that does not know them lists everything.
    if (plan.filter?.excludesPath(parts.join("/"), entry.type === "dir")) continue;
    if (options.delete) keep.add(parts.join("/"));
    let file: ListedFile | undefined;
    try {
      if (entry.type === "dir") place.folder(parts, entry.mode, entry.mtime);
      else if (entry.type === "file") {
        file = new ListedFile(entry, place.of(parts), shownPrefix, baseLength);
      } else tracker.skipped++;
    } catch (error) {
      tracker.failed(toFerryError(error, "write", `${shownPrefix}${parts.join("/")}`));
    }
    if (file !== undefined) yield file;
  }
}

/** The names of a listed path below the source; entry paths are from the server root. */
function namesBelow(path: string, base: string, source: string): string[] {
  if (base !== "" && !path.startsWith(`${base}/`)) {
    throw new FerryError(
      ErrorCode.BadPath,
      `Refused name "${printable(path)}" from the server: it is not inside "${
        printable(source || "/")
      }"`,
      { path },
    );
  }
  return splitAnnouncedName(base === "" ? path : path.slice(base.length + 1));
}

/** Local folders under a root, each one's names shared by its files (not one array per file). */
class LocalPlaces {
  #root: ConfinedRoot;
  #folders = new Map<string, readonly string[]>();
  #commits: GroupCommit;
  #fsync: FsyncMode | undefined;
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
    this.#fsync = fsync;
    this.#times = times;
    this.#dryRun = dryRun;
  }

  /**
   * Makes the folder at `parts` inside the root (a dry run only notes where
   * it would be); its time is set at the end (`times`).
   */
  folder(parts: string[], mode: number, mtime: number): void {
    if (!this.#dryRun) {
      const { folder, made } = this.#root.makeFolders(parts);
      using _ = folder;
      if (made[0] === folder.real) keepFolderMode(folder.access, mode);
      this.#commits.foldersMade(made, this.#fsync ?? "each");
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

/**
 * Sets the folders' modification times, deepest first, once their files
 * are committed and extras deleted (both change them).
 */
export function setLocalFolderTimes(plan: GetPlan): void {
  for (let i = plan.folderTimes.length - 1; i >= 0; i--) {
    const { root, parts, mtime } = plan.folderTimes[i]!;
    const shown = localPath(root, parts);
    try {
      using folder = root.folder(parts);
      setTimes(folder.access, mtime, shown);
    } catch (error) {
      plan.tracker.failed(toFerryError(error, "set the time of", shown));
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
