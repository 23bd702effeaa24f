/**
 * `send`: local files and folders to a server. Without sync, delete or -j,
 * folders and files are sent as the walk finds them; otherwise the walk is
 * made first (for the comparison with the server's listing, or to send the
 * biggest first over several connections). Every file is streamed as PUT,
 * DATA and END without waiting for the previous acknowledgement (sender.ts,
 * on the lanes of lane.ts); the server acknowledges each file only after it
 * verified the digest and committed it to disk.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { JobQueue } from "./job_queue.ts";
import { runLanes } from "./lane.ts";
import { Sender } from "./sender.ts";
import {
  destinationBases,
  listDestinations,
  type LocalSource,
  type PlannedDir,
  planSend,
  type SendPlan,
  walkSources,
} from "./send_plan.ts";
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
import type { FileJob } from "./tree_file.ts";
import { finish } from "./finish.ts";
import { RemoteSide } from "./remote_side.ts";
import type { RemoteEntry } from "../protocol/replies.ts";

/** Sends local files and folders to `dest`; `openLane` opens more connections for `parallel`. */
export async function sendPaths(
  connection: Connection,
  openLane: () => Promise<Connection>,
  sources: readonly LocalSource[],
  dest: string,
  options: TransferSettings = {},
): Promise<TransferSummary> {
  const tracker = new TransferTracker(options);
  checkCancelled(options.signal);
  const policy = resolvePolicy(options);
  const { selection, commit, signal } = policy;
  const bases = await destinationBases(connection, sources, dest);
  refuseCollisions(
    sources.map((source, i) => ({ source: source.path, target: bases[i]!.join("/") })),
  );
  if (!selection.compares && !policy.dryRun && policy.move.parallel === 1) {
    // Nothing to compare and one connection: send as the walk goes.
    const there = new RemoteSide(connection, new Map(), commit.backup, signal);
    const walked: PlannedDir[] = [];
    // Each folder is made before what it holds, pipelined with the files.
    const onFolder = (dir: PlannedDir) => {
      walked.push(dir);
      return there.makeFolder(dir.remote, dir.mode, tracker);
    };
    const how = { keepNames: false, filter: selection.filter, onFolder, countAsFound: true };
    const walk = walkSources(sources, bases, tracker, how);
    await sendFiles(connection, openLane, walk, 1, tracker, policy);
    await finishThere(there, { trees: [], dirs: walked }, tracker, policy);
    return tracker.summary();
  }
  const { planned, remote } = await planAgainstRemote(
    connection,
    sources,
    bases,
    tracker,
    policy,
  );
  const files = await changedFiles(planned, remote, tracker, selection);
  const there = new RemoteSide(connection, remote, commit.backup, signal);
  if (policy.dryRun) {
    for (const file of files) tracker.wouldCopy(file.target, file.size);
  } else {
    const streams = Math.min(policy.move.parallel, files.length);
    const missing = planned.dirs.filter((dir) => remote.get(dir.remote)?.type !== "dir");
    const jobs = plannedFiles(there, missing, files, streams, tracker);
    await sendFiles(connection, openLane, jobs, streams, tracker, policy);
  }
  await finishThere(there, planned, tracker, policy);
  return tracker.summary();
}

/** The planned files that the server does not already have (or is to keep), counted in. */
async function changedFiles(
  planned: SendPlan,
  remote: Map<string, RemoteEntry>,
  tracker: TransferTracker,
  rules: SelectionPolicy,
): Promise<FileJob[]> {
  const files: FileJob[] = [];
  for (const file of planned.files) {
    const there = remote.get(file.target);
    const receiving = there && { ...there, isFile: there.type === "file" };
    const kept = await keepsReceiving(file, receiving, rules, () => digestFileHex(file.source));
    if (kept) tracker.skip(file.target, file.size);
    else files.push(file);
  }
  tracker.planned(files.length, files.reduce((sum, f) => sum + f.size, 0));
  return files;
}

/**
 * The missing folders first, so empty ones exist too and keep their
 * permission bits; then the files, biggest first over several lanes (each
 * takes the next when it has room: they end near each other).
 */
async function* plannedFiles(
  there: RemoteSide,
  folders: readonly PlannedDir[],
  files: FileJob[],
  streams: number,
  tracker: TransferTracker,
): AsyncGenerator<FileJob> {
  for (const dir of folders) await there.makeFolder(dir.remote, dir.mode, tracker);
  yield* streams > 1 ? [...files].sort((a, b) => b.size - a.size) : files;
}

/** Sends what `files` yields over `streams` lanes (at least one). */
async function sendFiles(
  connection: Connection,
  openLane: () => Promise<Connection>,
  files: AsyncGenerator<FileJob>,
  streams: number,
  tracker: TransferTracker,
  { commit, move, signal }: TransferPolicy,
): Promise<void> {
  const queue = new JobQueue(files, 0);
  const extra = await Promise.all(Array.from({ length: streams - 1 }, openLane));
  try {
    const movers = [connection, ...extra].map((c) => new Sender(c, tracker, commit, move));
    const failure = await runLanes(movers, queue, signal, move.limiter);
    if (signal?.aborted) throw cancelled(tracker.summary().files);
    if (failure !== undefined) throw failure;
    if (queue.failure !== undefined) throw queue.failure;
  } finally {
    await queue.close();
    await Promise.all(extra.map((c) => c.close()));
  }
}

/**
 * Removes (dry run: reports) what the source folders do not have, with
 * `delete`, then sets the folders' times.
 */
async function finishThere(
  there: RemoteSide,
  planned: Pick<SendPlan, "trees" | "dirs">,
  tracker: TransferTracker,
  { selection, dryRun, signal }: TransferPolicy,
): Promise<void> {
  await finish(there, {
    trees: planned.trees.filter((tree) => tree.isFolder),
    folderTimes: planned.dirs,
    delete: selection.delete,
    dryRun,
    filter: selection.filter,
  }, tracker);
  if (signal?.aborted) throw cancelled(tracker.summary().files);
}

/** Walks the sources while the server lists the destinations (for sync and delete). */
async function planAgainstRemote(
  connection: Connection,
  sources: readonly LocalSource[],
  bases: string[][],
  tracker: TransferTracker,
  { selection, signal }: TransferPolicy,
): Promise<{ planned: SendPlan; remote: Map<string, RemoteEntry> }> {
  const { filter } = selection;
  const trees = sources.map((source, i) => ({
    base: bases[i]!.join("/"),
    isFolder: source.info.isDirectory,
  }));
  const listing = selection.compares
    ? listDestinations(connection, trees, selection.checksum, filter)
    : Promise.resolve(new Map<string, RemoteEntry>());
  // A failed listing is reported after the walk, not as an unhandled rejection.
  listing.catch(() => {});
  const planned = await planSend(sources, bases, tracker, {
    keepNames: selection.delete,
    filter,
  });
  checkCancelled(signal);
  return { planned, remote: await listing };
}
