/**
 * What a send will do before any byte of a file moves: the sources are
 * checked, each is given its remote place as cp and scp would, the trees are
 * walked, and (for sync and delete) compared with what the server holds.
 *
 * @module
 */

import { ErrorCode, FerryError, folderNeedsRecursive, toFerryError } from "../errors.ts";
import { walkTree } from "../fs/tree_walk.ts";
import type { Connection } from "./connection.ts";
import { listRemote, statRemote } from "./remote_ops.ts";
import type { RemoteTree } from "./remote_side.ts";
import type { FolderTime } from "./side.ts";
import { type FileJob, type FoundFacts, TreeFile } from "./tree_file.ts";
import type { TransferTracker } from "./tracker.ts";
import type { PathFilter } from "../fs/filter.ts";
import { printable } from "../text.ts";
import { joinRemotePath, remotePrefix, splitRemotePath } from "../remote_path.ts";
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

/** A source's place on the server: its destination, and (for a folder) every name it holds. */
export interface SourceTree extends RemoteTree {
  readonly isFolder: boolean;
}

/** Everything a send will create. */
export interface SendPlan {
  dirs: PlannedDir[];
  files: FileJob[];
  /** Where the sources go, and (with `keepNames`) the names they hold: for sync and delete. */
  trees: SourceTree[];
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

/** A folder a send creates; its time (ms) is set on the server once its files are there. */
export interface PlannedDir extends FolderTime<RemoteTree> {
  readonly remote: string;
  readonly mode: number;
}

/** How the sources are walked: with the names kept (for delete), and through a filter. */
export interface WalkHow {
  keepNames: boolean;
  filter: PathFilter | undefined;
  /** Told of each folder before what it holds (to make it, or plan it). */
  onFolder: (dir: PlannedDir) => void | Promise<void>;
  /** Count each file into the totals as it is found (a send as the walk goes). */
  countAsFound: boolean;
}

/**
 * Walks the sources, yielding each file, by remote path, as the walk finds
 * it; each folder goes to `onFolder` before what it holds. The names each
 * folder holds are added to `trees` only for `keepNames` (delete); what
 * the filter excludes is passed over (a named file by its name).
 */
export async function* walkSources(
  sources: readonly LocalSource[],
  bases: string[][],
  tracker: TransferTracker,
  { keepNames, filter, onFolder, countAsFound }: WalkHow,
  trees: SendPlan["trees"] = [],
): AsyncGenerator<FileJob> {
  for (const [i, source] of sources.entries()) {
    const base = bases[i]!.join("/");
    const keep = new Set<string>();
    const placed: SourceTree = { base, isFolder: source.info.isDirectory, keep };
    trees.push(placed);
    if (source.info.isFile) {
      if (filter?.excludes(source.name, false)) continue;
      if (countAsFound) tracker.planned(1, source.info.size);
      yield plannedFile(source.path, base, source.info);
      continue;
    }
    const ends = { source: `${source.path.replace(/\/+$/, "")}/`, target: remotePrefix(base) };
    const walk = walkTree(source.path, source.info, { countTemporaries: true, filter });
    for await (const entry of walk) {
      if (keepNames) keep.add(entry.rel);
      if (entry.type === "dir") await onFolder(plannedDir(placed, entry.rel, entry.info));
      else if (entry.type === "file") {
        if (countAsFound) tracker.planned(1, entry.info.size);
        yield new TreeFile(ends, entry.rel, facts(entry.info));
      } else if (entry.type === "skipped") tracker.skipped++;
      else tracker.failed(entry.error);
    }
  }
}

/** A folder found by the walk; with the sticky bit, a shared folder arrives as shared as it was. */
function plannedDir(tree: SourceTree, rel: string, info: Deno.FileInfo): PlannedDir {
  const mode = (info.mode ?? 0o755) & 0o1777;
  return {
    tree,
    rel,
    remote: joinRemotePath(tree.base, rel),
    mode,
    mtime: info.mtime?.getTime() ?? 0,
  };
}

/** The whole walk at once, for sync, delete and -j, which need all of it before sending. */
export async function planSend(
  sources: readonly LocalSource[],
  bases: string[][],
  tracker: TransferTracker,
  how: Pick<WalkHow, "keepNames" | "filter">,
): Promise<SendPlan> {
  const result: SendPlan = { dirs: [], files: [], trees: [] };
  const onFolder = (dir: PlannedDir) => void result.dirs.push(dir);
  for await (
    const file of walkSources(
      sources,
      bases,
      tracker,
      { ...how, onFolder, countAsFound: false },
      result.trees,
    )
  ) {
    result.files.push(file);
  }
  return result;
}

function plannedFile(local: string, remote: string, info: Deno.FileInfo): FileJob {
  return { source: local, target: remote, ...facts(info) };
}

/** What a send tells the server of a file it found. */
function facts(info: Deno.FileInfo): FoundFacts {
  return {
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
