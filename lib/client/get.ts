/**
 * `get`: remote files and folders to a local folder. Each source is looked
 * up, then listed as a stream; every file that is needed is asked for with
 * its own GET (receiver.ts) as the listing finds it, many in flight at
 * once, over one connection or, with `parallel`, several that stop together
 * (lane.ts).
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { dirname } from "node:path";
import type { BackupPlace } from "../fs/backup.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import { PathFilter } from "../fs/filter.ts";
import type { Connection } from "./connection.ts";
import { Receiver } from "./receiver.ts";
import { runLanes } from "./lane.ts";
import { type GetPlan, lookUpSource, type RemoteSource, sourceFiles } from "./get_plan.ts";
import { finish } from "./finish.ts";
import { type HeldTarget, localInfo, LocalRoots, LocalSide, mkdirLocal } from "./local_side.ts";
import { GET_READ_AHEAD, JobQueue } from "./job_queue.ts";
import { keepsReceiving } from "./compare.ts";
import { resolvePolicy, type SelectionPolicy, type TransferPolicy } from "./policy.ts";
import { digestFileHex } from "../fs/digest.ts";
import {
  cancelled,
  checkCancelled,
  refuseCollisions,
  type TransferSettings,
  type TransferSummary,
} from "./transfer.ts";
import { TransferTracker } from "./tracker.ts";
import type { LocalJob } from "./tree_file.ts";
import { printable } from "../text.ts";
import { splitRemotePath } from "../remote_path.ts";

/**
 * Gets remote files and folders into `dest`, following cp's rules for where
 * they go; with `asContents` (one source), `dest` is that source itself
 * even when it exists (rsync's trailing "/": a watched folder's contents).
 * `filter` is `options.filter` compiled, or a view of it below a folder.
 * With `within` (a watch), `dest` is that place beneath a held folder, and
 * is resolved there, not by its path.
 */
export async function getPaths(
  connection: Connection,
  openLane: () => Promise<Connection>,
  sources: readonly string[],
  dest: string,
  options: TransferSettings = {},
  asContents = false,
  filter: PathFilter | undefined = PathFilter.optional(options.filter),
  within?: HeldTarget,
): Promise<TransferSummary> {
  const tracker = new TransferTracker(options);
  checkCancelled(options.signal);
  const policy = resolvePolicy(options, filter);
  const { selection, commit, dryRun } = policy;
  const destInfo = await localInfo(dest, true);
  const intoFolder = !asContents &&
    (destInfo?.isDirectory === true || dest.endsWith("/") || sources.length > 1);
  if (intoFolder && destInfo !== null && !destInfo.isDirectory) {
    throw new FerryError(
      ErrorCode.NotDirectory,
      `The destination "${printable(dest)}" exists and is not a folder`,
      { path: dest },
    );
  }
  // Every source is looked up before anything is fetched or made.
  const found: RemoteSource[] = [];
  for (const source of sources) {
    const name = splitRemotePath(source).at(-1);
    const target = intoFolder && name !== undefined ? `${dest.replace(/\/+$/, "")}/${name}` : dest;
    found.push(await lookUpSource(connection, source, target, selection.recursive));
  }
  refuseCollisions(found);
  const backup = localBackup(commit.backup, intoFolder ? dest : dirname(dest));
  const commits = new GroupCommit();
  if (intoFolder && destInfo === null && !dryRun) {
    await mkdirLocal(dest, commits, commit.fsync);
  }
  // Listings stream on a connection of their own: on the fetching one, the server
  // would answer the GETs only after the whole listing, which waits for them.
  let lister: Promise<Connection> | undefined;
  const plan: GetPlan = {
    lister: () => lister ??= openLane(),
    commits,
    policy,
    tracker,
    trees: [],
    folderTimes: [],
    roots: new LocalRoots(dryRun),
  };
  try {
    // Into a folder, each source goes beneath it by its name, never through a link planted there.
    const into = intoFolder ? { root: plan.roots.open(dest), parts: [] } : within;
    for (const source of found) source.into = into && below(into, source.source, intoFolder);
    return await fetchPlanned(plan, found, backup, connection, openLane);
  } finally {
    if (lister !== undefined) await (await lister.catch(() => undefined))?.close();
    plan.roots.close();
  }
}

/** Fetches what `plan` finds of the looked-up sources (or, in a dry run, reports it). */
async function fetchPlanned(
  plan: GetPlan,
  found: RemoteSource[],
  backup: BackupPlace | undefined,
  connection: Connection,
  openLane: () => Promise<Connection>,
): Promise<TransferSummary> {
  const { commits, policy, tracker } = plan;
  if (policy.dryRun) return await dryRun(plan, found, backup);
  const wanted = new JobQueue(neededFiles(plan, found), GET_READ_AHEAD);
  let failure: FerryError | undefined;
  try {
    failure = await fetchAll(connection, openLane, wanted, commits, tracker, policy, backup);
  } finally {
    await wanted.close();
  }
  if (policy.signal?.aborted) throw cancelled(tracker.summary().files);
  if (wanted.failure !== undefined) throw wanted.failure;
  if (failure !== undefined) throw failure;
  await finishHere(plan, backup);
  return tracker.summary();
}

/** Where `source` goes beneath `into`: by its last name when it goes into a folder. */
function below(into: HeldTarget, source: string, byName: boolean): HeldTarget {
  const name = splitRemotePath(source).at(-1);
  return byName && name !== undefined ? { root: into.root, parts: [...into.parts, name] } : into;
}

/** Lists and compares, and reports what a get would fetch and delete, changing nothing here. */
async function dryRun(
  plan: GetPlan,
  found: RemoteSource[],
  backup: BackupPlace | undefined,
): Promise<TransferSummary> {
  for await (const item of neededFiles(plan, found)) {
    plan.tracker.wouldCopy(item.target, item.size);
  }
  await finishHere(plan, backup);
  return plan.tracker.summary();
}

/** Removes (dry run: reports) what the local folders hold beyond the sources, then sets the folder times. */
async function finishHere(plan: GetPlan, backup: BackupPlace | undefined): Promise<void> {
  const { policy, tracker } = plan;
  await finish(new LocalSide(backup), {
    trees: plan.trees,
    folderTimes: plan.folderTimes,
    delete: policy.selection.delete,
    dryRun: policy.dryRun,
    filter: policy.selection.filter,
  }, tracker);
}

/** Where a get keeps the local files it replaces or removes, when it does. */
function localBackup(
  backup: boolean | string | undefined,
  root: string,
): BackupPlace | undefined {
  if (backup === undefined || backup === false) return undefined;
  return { root, folder: typeof backup === "string" ? backup : undefined };
}

/**
 * The files of every source that are not already here (sync), counted into
 * the totals as they are found: the totals grow while the listing streams.
 */
async function* neededFiles(plan: GetPlan, found: RemoteSource[]): AsyncGenerator<LocalJob> {
  const { policy, tracker } = plan;
  const { selection } = policy;
  for (const source of found) {
    for await (const item of sourceFiles(plan, source)) {
      if (selection.compares && await alreadyHere(item, selection)) {
        tracker.skip(item.target, item.size);
        continue;
      }
      tracker.planned(1, item.size);
      yield item;
    }
  }
}

/**
 * Whether the local file already matches (rsync's quick check, or the
 * digest), or is to be left as it is (`ignoreExisting`, `update`).
 */
async function alreadyHere(item: LocalJob, rules: SelectionPolicy): Promise<boolean> {
  const local = await localInfo(item.local, false);
  if (local === null) return false;
  const receiving = { isFile: local.isFile, size: local.size, mtime: local.mtime?.getTime() ?? 0 };
  return await keepsReceiving(item, receiving, rules, () => digestFileHex(item.local));
}

/**
 * Fetches the wanted files over one connection, or with `parallel` over
 * several, each taking the next file when it has room. Resolves only when
 * every lane has stopped and the commits are done (nothing is written
 * afterwards), with the first connection failure.
 */
async function fetchAll(
  connection: Connection,
  openLane: () => Promise<Connection>,
  wanted: JobQueue<LocalJob>,
  commits: GroupCommit,
  tracker: TransferTracker,
  { commit, move, signal }: TransferPolicy,
  backup: BackupPlace | undefined,
): Promise<FerryError | undefined> {
  const extra = await Promise.all(Array.from({ length: move.parallel - 1 }, openLane));
  const movers = [connection, ...extra].map((c) =>
    new Receiver(c, tracker, commits, { commit, move, backup })
  );
  try {
    const failure = await runLanes(movers, wanted, signal, move.limiter);
    await commits.drain();
    return failure;
  } finally {
    await Promise.all(extra.map((c) => c.close()));
  }
}
