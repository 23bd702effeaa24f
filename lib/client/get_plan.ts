/**
 * What a get will fetch: each source is looked up, then listed as a stream
 * (on a connection of its own, while files are fetched on another), its
 * names are checked like the server checks client paths and resolved inside
 * the local destination, folders are made, and the files to fetch are
 * yielded one by one: memory does not grow with the tree.
 *
 * @module
 */

import { ErrorCode, FerryError, folderNeedsRecursive, toFerryError } from "../errors.ts";
import type { StatReply } from "../protocol/replies.ts";
import { basename, dirname } from "node:path";
import { ConfinedRoot } from "../fs/confinement.ts";
import type { GroupCommit } from "../fs/group_commit.ts";
import type { Connection } from "./connection.ts";
import {
  type HeldTarget,
  localPath,
  type LocalPlace,
  LocalPlaces,
  type LocalRoots,
  type LocalTree,
  makeHeldFolder,
  mkdirLocal,
} from "./local_side.ts";
import { listRemote, statRemote } from "./remote_ops.ts";
import type { FolderTime } from "./side.ts";
import type { TransferPolicy } from "./policy.ts";
import { type LocalJob, LocalTreeFile } from "./tree_file.ts";
import type { TransferTracker } from "./tracker.ts";
import { printable } from "../text.ts";
import { remotePrefix, splitRemotePath } from "../remote_path.ts";

/** What planning a get works with. */
export interface GetPlan {
  /** The connection that lists: not the one that fetches (see the module doc). */
  lister: () => Promise<Connection>;
  /** Where the files will be committed: it flushes the folders made here. */
  commits: GroupCommit;
  /** The get's options, resolved. */
  policy: TransferPolicy;
  tracker: TransferTracker;
  /** The local folders filled, with their names when `delete` keeps them. */
  trees: LocalTree[];
  /** Each folder made or filled and its remote modification time, parents first. */
  folderTimes: FolderTime<LocalTree>[];
  /** The local roots held for the get; it closes them when it is over. */
  roots: LocalRoots;
}

/** A source, looked up before anything is fetched. */
export interface RemoteSource {
  source: string;
  /** Where it goes locally, as the user would name it. */
  target: string;
  /** Where it goes beneath a held folder: into DEST by its name, or below a watch's LOCAL. */
  into?: HeldTarget | undefined;
  info: StatReply;
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
export function sourceFiles(plan: GetPlan, found: RemoteSource): AsyncGenerator<LocalJob> {
  return found.info.type === "file" ? singleFile(plan, found) : folderFiles(plan, found);
}

/** One remote file: STAT told size and mtime; only checksum needs the listing's digest. */
async function* singleFile(
  plan: GetPlan,
  { source, target, into, info }: RemoteSource,
): AsyncGenerator<LocalJob> {
  const { lister, policy, tracker } = plan;
  const { filter } = policy.selection;
  if (filter?.excludes(splitRemotePath(source).at(-1) ?? "", false)) return;
  const file = { source, target, local: target, place: singlePlace(plan, target, into) };
  if (!policy.selection.checksum) {
    const { size, mode, mtime } = info;
    yield { ...file, size, mode, mtime };
    return;
  }
  const onNotice = (error: FerryError) => tracker.failed(error);
  for await (const entry of listRemote(await lister(), source, { digests: true, onNotice })) {
    const { size, mode, mtime, digest } = entry;
    if (entry.type === "file") yield { ...file, size, mode, mtime, digest };
  }
}

/**
 * Where a single fetched file goes: its name beneath the held folder it
 * goes into, or else in the folder of `target`, held as a root.
 */
function singlePlace(plan: GetPlan, target: string, into: HeldTarget | undefined): LocalPlace {
  if (into !== undefined && into.parts.length > 0) {
    return { root: into.root, folder: into.parts.slice(0, -1), name: into.parts.at(-1)! };
  }
  try {
    return { root: plan.roots.open(dirname(target)), folder: [], name: basename(target) };
  } catch (error) {
    throw toFerryError(error, "write", target);
  }
}

/**
 * The root of the tree a folder source fills, made when missing: beneath
 * the held folder it goes into, or at `target` (a dry run makes nothing).
 */
async function treeRoot(
  plan: GetPlan,
  { target, into, info }: RemoteSource,
): Promise<ConfinedRoot> {
  const { policy, commits, roots } = plan;
  const { dryRun } = policy;
  const fsync = policy.commit.fsync ?? "each";
  if (into === undefined) {
    if (!dryRun) await mkdirLocal(target, commits, fsync, info.mode);
    return roots.open(target);
  }
  if (dryRun) return ConfinedRoot.unopened(localPath(into.root, into.parts));
  using folder = makeHeldFolder(into, commits, fsync, info.mode);
  return roots.within(into.root, folder);
}

/** A remote folder, listed recursively: its folders are made now, its files yielded. */
async function* folderFiles(plan: GetPlan, found: RemoteSource): AsyncGenerator<LocalJob> {
  const { source, target, info } = found;
  const { lister, policy, tracker, commits } = plan;
  const { dryRun, selection } = policy;
  const root = await treeRoot(plan, found);
  const base = splitRemotePath(source).join("/");
  const keep = new Set<string>();
  const tree = { root, keep };
  plan.trees.push(tree);
  plan.folderTimes.push({ tree, rel: "", mtime: info.mtime });
  const place = new LocalPlaces(
    tree,
    commits,
    policy.commit.fsync,
    dryRun ? [] : plan.folderTimes,
    dryRun,
  );
  const listing = listRemote(await lister(), source, {
    recursive: true,
    digests: selection.checksum,
    onNotice: (error) => tracker.failed(error),
    signal: policy.signal,
    filter: selection.filter?.rules,
  });
  const ends = { source: remotePrefix(base), target: `${target}/` };
  for await (const entry of listing) {
    const parts = namesBelow(entry.path, base, source);
    // The server applies the rules too; one that does not know them lists everything.
    if (selection.filter?.excludesPath(parts.join("/"), entry.type === "dir")) continue;
    if (selection.delete) keep.add(parts.join("/"));
    let file: LocalTreeFile | undefined;
    try {
      if (entry.type === "dir") place.folder(parts, entry.mode, entry.mtime);
      else if (entry.type === "file") {
        file = new LocalTreeFile(ends, parts.join("/"), entry, place.of(parts));
      } else tracker.skipped++;
    } catch (error) {
      tracker.failed(toFerryError(error, "write", `${ends.target}${parts.join("/")}`));
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
