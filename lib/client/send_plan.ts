/**
 * What a send will do before any byte of a file moves: the sources are
 * checked, each is given its remote place as cp and scp would, the trees are
 * walked, and (for sync and delete) compared with what the server holds.
 *
 * @module
 */

import { ErrorCode, FerryError, folderNeedsRecursive, toFerryError } from "../errors.ts";
import { walkTree } from "../fs/tree_walk.ts";
import { isBackupName } from "../fs/backup.ts";
import type { Connection } from "./connection.ts";
import { listRemote, removeRemote, statRemote } from "./remote_ops.ts";
import type { TransferTracker } from "./tracker.ts";
import type { PathFilter } from "../fs/filter.ts";
import { printable } from "../text.ts";
import {
  canonicalRemotePath,
  isWithinRemote,
  joinRemotePath,
  splitRemotePath,
} from "../remote_path.ts";
import { basename } from "node:path";
import type { RemoteEntry } from "../protocol/replies.ts";

/** A source to send, after stat (symlinks followed, as scp does). */
export interface LocalSource {
  path: string;
  /** The last component: the name the source gets inside a destination folder. */
  name: string;
  info: Deno.FileInfo;
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
      info,
    });
  }
  return inspected;
}

/** One file to send. */
export interface PlannedFile {
  readonly local: string;
  readonly remote: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
}

/**
 * A file found in a source folder, kept small because a send holds one per
 * file of the tree: it stores its path below the folder once, and makes the
 * local and remote paths only when asked for.
 */
class TreeFile implements PlannedFile {
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
  readonly #tree: { local: string; remote: string };
  readonly #rel: string;

  constructor(tree: { local: string; remote: string }, rel: string, info: Deno.FileInfo) {
    this.#tree = tree;
    this.#rel = rel;
    this.size = info.size;
    this.mode = (info.mode ?? 0o644) & 0o777;
    this.mtime = info.mtime?.getTime() ?? Date.now();
  }

  get local(): string {
    return `${this.#tree.local}/${this.#rel}`;
  }

  get remote(): string {
    return joinRemotePath(this.#tree.remote, this.#rel);
  }
}

/** Everything a send will create. */
export interface SendPlan {
  dirs: PlannedDir[];
  files: PlannedFile[];
  /** Remote paths the sources cover, and (for folders) every name they hold: for sync and delete. */
  trees: { base: string; isFolder: boolean; keep: Set<string> }[];
}

/** Where each source goes, following cp: into DEST when it is a folder, else as DEST. */
export async function destinationBases(
  connection: Connection,
  sources: readonly LocalSource[],
  dest: string,
): Promise<string[][]> {
  const destParts = splitRemotePath(dest);
  const intoFolder = dest.endsWith("/") || destParts.length === 0;
  const remote = await statRemote(connection, dest);
  const needsFolder = intoFolder || sources.length > 1 || sources.some((s) => s.info.isDirectory);
  if (remote !== null && remote.type !== "dir" && needsFolder) {
    throw new FerryError(
      ErrorCode.NotDirectory,
      `The destination "${printable(dest)}" exists and is not a folder`,
      { path: dest },
    );
  }
  if (remote?.type === "dir" || intoFolder || sources.length > 1) {
    return sources.map((source) => {
      if (source.name === "" && !source.info.isDirectory) {
        throw new FerryError(ErrorCode.BadPath, `Cannot name "${source.path}" on the server`, {
          path: source.path,
        });
      }
      return source.name === "" ? destParts : [...destParts, source.name];
    });
  }
  return [destParts];
}

/** A folder a send creates. */
export interface PlannedDir {
  remote: string;
  mode: number;
  /** Modification time (ms), set on the server once the folder's files are there. */
  mtime: number;
}

/** How the sources are walked: with the names kept (for delete), and through a filter. */
export interface WalkHow {
  keepNames: boolean;
  filter: PathFilter | undefined;
}

/**
 * Walks the sources, yielding each folder before what it holds and each
 * file, by remote path, as the walk finds them. The names each folder
 * holds are added to `trees` only for `keepNames` (delete); what the filter
 * excludes is passed over (a named file by its name).
 */
export async function* walkSources(
  sources: readonly LocalSource[],
  bases: string[][],
  tracker: TransferTracker,
  { keepNames, filter }: WalkHow,
  trees: SendPlan["trees"] = [],
): AsyncGenerator<{ dir: PlannedDir } | { file: PlannedFile }> {
  for (const [i, source] of sources.entries()) {
    const base = bases[i]!.join("/");
    const remoteOf = (rel: string) => joinRemotePath(base, rel);
    const keep = new Set<string>();
    trees.push({ base, isFolder: source.info.isDirectory, keep });
    if (source.info.isFile) {
      if (filter?.excludes(source.name, false)) continue;
      yield { file: plannedFile(source.path, base, source.info) };
      continue;
    }
    const tree = { local: source.path.replace(/\/+$/, ""), remote: base };
    const walk = walkTree(source.path, source.info, { countTemporaries: true, filter });
    for await (const entry of walk) {
      if (keepNames) keep.add(remoteOf(entry.rel));
      if (entry.type === "dir") {
        // With the sticky bit: a shared folder arrives as shared as it was.
        const mode = (entry.info.mode ?? 0o755) & 0o1777;
        const mtime = entry.info.mtime?.getTime() ?? 0;
        yield { dir: { remote: remoteOf(entry.rel), mode, mtime } };
      } else if (entry.type === "file") {
        yield { file: new TreeFile(tree, entry.rel, entry.info) };
      } else if (entry.type === "skipped") tracker.skipped++;
      else tracker.failed(entry.error);
    }
  }
}

/** The whole walk at once, for sync, delete and -j, which need all of it before sending. */
export async function planSend(
  sources: readonly LocalSource[],
  bases: string[][],
  tracker: TransferTracker,
  how: WalkHow,
): Promise<SendPlan> {
  const result: SendPlan = { dirs: [], files: [], trees: [] };
  for await (const item of walkSources(sources, bases, tracker, how, result.trees)) {
    if ("dir" in item) result.dirs.push(item.dir);
    else result.files.push(item.file);
  }
  return result;
}

function plannedFile(local: string, remote: string, info: Deno.FileInfo): PlannedFile {
  return {
    local,
    remote,
    size: info.size,
    mode: (info.mode ?? 0o644) & 0o777,
    mtime: info.mtime?.getTime() ?? Date.now(),
  };
}

/**
 * What the server holds under the sources' destinations (listed recursively
 * for folders), by remote path; nothing for a destination that does not exist.
 */
export async function listDestinations(
  connection: Connection,
  trees: { base: string; isFolder: boolean }[],
  digests: boolean,
  filter: PathFilter | undefined,
): Promise<Map<string, RemoteEntry>> {
  const remote = new Map<string, RemoteEntry>();
  for (const tree of trees) {
    try {
      const options = { recursive: tree.isFolder, digests, filter: filter?.rules };
      for await (const entry of listRemote(connection, tree.base, options)) {
        remote.set(entry.path, entry);
      }
    } catch (error) {
      if (!(error instanceof FerryError && error.code === ErrorCode.NotFound)) throw error;
    }
  }
  return remote;
}

/** Removes remote entries under the source folders that the sources do not have. */
export async function deleteExtraRemote(
  connection: Connection,
  trees: SendPlan["trees"],
  remote: Map<string, RemoteEntry>,
  tracker: TransferTracker,
  { backup, filter, dryRun }: {
    backup: boolean | string | undefined;
    filter: PathFilter | undefined;
    /** Report what would be removed, remove nothing. */
    dryRun: boolean;
  },
): Promise<void> {
  // With backups, the backups themselves (and the backup folder) are never removed.
  const keptAsBackup = (path: string) =>
    backup !== undefined && backup !== false &&
    (path.split("/").some(isBackupName) ||
      (typeof backup === "string" && isWithinRemote(canonicalRemotePath(backup), path)));
  for (const tree of trees) {
    if (!tree.isFolder) continue;
    const removed: string[] = [];
    const inside = tree.base === "" ? "" : `${tree.base}/`;
    for (const path of remote.keys()) {
      if (!path.startsWith(inside) || tree.keep.has(path) || keptAsBackup(path)) continue;
      // What the rules exclude is not the transfer's to remove (a server that
      // does not know filters lists it all).
      if (filter?.excludesPath(path.slice(inside.length), remote.get(path)!.type === "dir")) {
        continue;
      }
      if (removed.some((dir) => path.startsWith(`${dir}/`))) continue;
      if (dryRun) {
        removed.push(path);
        tracker.deleted(path);
        continue;
      }
      try {
        await removeRemote(connection, path, { recursive: true, force: true, backup });
        removed.push(path);
        tracker.deleted(path);
      } catch (error) {
        const failure = toFerryError(error, "remove", path);
        if (failure.code === ErrorCode.Connection) throw failure;
        // A server that refuses one removal (no-delete) refuses them all: the
        // whole delete was refused, which is the error the transfer ends with.
        if (failure.code === ErrorCode.PermissionDenied) throw failure;
        tracker.failed(failure);
      }
    }
  }
}
