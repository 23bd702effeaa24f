/**
 * One transfer, the same for send and get: only which side is the source
 * differs (side.ts). The receiving side places each source; the source
 * side yields what it holds; folders are made as they are found, before
 * what they hold; each file the receiving side does not keep (compare.ts)
 * is moved on the lanes (lane.ts), many in flight at once, over one
 * connection or, with `parallel`, several; then the receiving side is
 * finished: with `delete`, what the sources do not have is removed (or, in
 * a dry run, reported), and each folder gets its source's modification
 * time, deepest first, since files arriving and entries removed change it.
 *
 * @module
 */

import { toFerryError } from "../errors.ts";
import { PathFilter } from "../fs/filter.ts";
import type { Connection } from "./connection.ts";
import { isExtra } from "./compare.ts";
import { JobQueue, runLanes } from "./lane.ts";
import { type LocalLanding, LocalSide, type LocalSource } from "./local_side.ts";
import {
  cancelled,
  checkCancelled,
  type GetOptions,
  resolvePolicy,
  type SendOptions,
  type TransferPolicy,
  type TransferSummary,
} from "./options.ts";
import { RemoteSide } from "./remote_side.ts";
import type {
  FileJob,
  FolderTime,
  FoundSource,
  Placement,
  ReceivingSide,
  ReceivingTree,
  SideEntry,
  SourceSide,
} from "./side.ts";
import { TransferTracker } from "./tracker.ts";

/** The two ends of a transfer, and how it runs. */
export interface Transfer<
  Source extends FoundSource,
  Tree extends ReceivingTree,
  Job extends FileJob,
> {
  readonly from: SourceSide<Source>;
  readonly to: ReceivingSide<Tree, Job, SideEntry>;
  /** The first connection: the lanes' first, and the one the sides use. */
  readonly connection: Connection;
  /** Opens another connection, for `parallel`. */
  readonly openLane: () => Promise<Connection>;
  readonly policy: TransferPolicy;
  readonly tracker: TransferTracker;
}

/** What a transfer filled on the receiving side, for its last step. */
interface Filled<Tree> {
  /** The trees that source folders filled. */
  readonly trees: Tree[];
  /** Every folder made or filled, parents first, with its source's time. */
  readonly folderTimes: FolderTime<Tree>[];
}

/** Moves the looked-up `sources` to `dest` on the receiving side; both sides are closed after. */
export async function transfer<
  Source extends FoundSource,
  Tree extends ReceivingTree,
  Job extends FileJob,
>(
  run: Transfer<Source, Tree, Job>,
  sources: readonly Source[],
  dest: string,
): Promise<TransferSummary> {
  const { from, to, policy, tracker } = run;
  const filled: Filled<Tree> = { trees: [], folderTimes: [] };
  try {
    const placed = await to.place(sources, dest);
    const files = wanted(run, placed, filled);
    if (policy.dryRun) {
      for await (const file of files) tracker.wouldCopy(file.target, file.size);
    } else if (from.ordersBySize && policy.move.parallel > 1) {
      const all = await Array.fromAsync(files);
      all.sort((a, b) => b.size - a.size);
      await move(run, each(all), Math.min(policy.move.parallel, all.length));
    } else await move(run, files, policy.move.parallel);
    await finish(run, filled);
    if (policy.signal?.aborted) throw cancelled(tracker.summary().files);
    return tracker.summary();
  } finally {
    await from.close();
    await to.close();
  }
}

/**
 * The files of every source the receiving side does not keep, as the
 * source side finds them, counted into the totals as they are found; each
 * folder is made on the receiving side before what it holds, and noted in
 * `filled`.
 */
async function* wanted<Source extends FoundSource, Tree extends ReceivingTree, Job extends FileJob>(
  { from, to, policy, tracker }: Transfer<Source, Tree, Job>,
  placed: readonly Placement<Source, Tree>[],
  filled: Filled<Tree>,
): AsyncGenerator<Job> {
  const { selection } = policy;
  const { filter } = selection;
  for (const { source, open } of placed) {
    // A named file is passed over by its name, as the walk passes over what it holds.
    if (!source.isFolder && filter?.excludes(source.name, false)) continue;
    const tree = await open(from.prefixOf(source));
    if (source.isFolder) filled.trees.push(tree);
    for await (const { rel, type, facts } of from.contents(source, tracker)) {
      if (selection.delete) tree.keep.add(rel);
      if (type === "dir") {
        filled.folderTimes.push({ tree, rel, mtime: facts.mtime });
        await to.folder(tree, rel, facts, tracker);
      } else if (type === "other") tracker.skipped++;
      else {
        const job = to.job(tree, rel, facts);
        if (selection.compares && await to.keeps(job, selection)) {
          tracker.skip(job.target, job.size);
          continue;
        }
        tracker.planned(1, job.size);
        yield job;
      }
    }
  }
}

async function* each<Job>(jobs: readonly Job[]): AsyncGenerator<Job> {
  yield* jobs;
}

/**
 * Moves what `files` yields over `streams` lanes (at least one), each taking
 * the next file when it has room. Resolves only when every lane has stopped
 * and the receiving side committed what arrived (nothing is written
 * afterwards); rejects with the first failure of the lanes or of the walk
 * or listing.
 */
async function move<Job extends FileJob>(
  { to, connection, openLane, policy, tracker }: Transfer<FoundSource, ReceivingTree, Job>,
  files: AsyncGenerator<Job>,
  streams: number,
): Promise<void> {
  const { signal, move } = policy;
  const extra = await Promise.all(Array.from({ length: Math.max(0, streams - 1) }, openLane));
  const movers = [connection, ...extra].map((c) => to.mover(c, tracker));
  const queue = new JobQueue(files, movers[0]!.window.readAhead);
  try {
    const failure = await runLanes(movers, queue, signal, move.limiter);
    await to.drain();
    if (signal?.aborted) throw cancelled(tracker.summary().files);
    if (queue.failure !== undefined) throw queue.failure;
    if (failure !== undefined) throw failure;
  } finally {
    await queue.close();
    await Promise.all(extra.map((c) => c.close()));
  }
}

/** Removes the extras (with `delete`, when no file failed), then sets the folders' times. */
async function finish<Tree extends ReceivingTree>(
  { to, policy, tracker }: Transfer<FoundSource, Tree, FileJob>,
  { trees, folderTimes }: Filled<Tree>,
): Promise<void> {
  if (policy.selection.delete && tracker.failures.length === 0) {
    for (const tree of trees) await deleteExtras(to, tree, policy, tracker);
  }
  if (!policy.dryRun) await to.setFolderTimes(folderTimes, tracker);
}

/** Removes what `tree` holds beyond the names it keeps, its backups and what the rules exclude. */
async function deleteExtras<Tree extends ReceivingTree>(
  side: ReceivingSide<Tree, FileJob, SideEntry>,
  tree: Tree,
  { selection: { filter }, dryRun }: TransferPolicy,
  tracker: TransferTracker,
): Promise<void> {
  const removed: string[] = [];
  for await (const entry of side.held(tree, filter)) {
    const { rel, isDir } = entry;
    // Asked only of what the source does not have: most entries are kept by name.
    const held = {
      rel,
      isDir,
      get isBackup() {
        return side.isBackup(tree, rel);
      },
    };
    if (!isExtra(held, { keep: tree.keep, filter, removed })) continue;
    const shown = side.shown(tree, rel);
    if (!dryRun) {
      try {
        await side.remove(tree, entry);
      } catch (error) {
        const failure = toFerryError(error, "remove", shown);
        if (side.endsDeletion(failure)) throw failure;
        tracker.failed(failure);
        continue;
      }
    }
    removed.push(rel);
    tracker.deleted(shown);
  }
}

/** Sends the inspected local `sources` to `dest` on the server (a remote path from its root). */
export function sendPaths(
  connection: Connection,
  openLane: () => Promise<Connection>,
  sources: readonly LocalSource[],
  dest: string,
  options: SendOptions = {},
): Promise<TransferSummary> {
  checkCancelled(options.signal);
  const policy = resolvePolicy(options);
  const tracker = new TransferTracker(options);
  const from = new LocalSide(policy);
  const to = new RemoteSide(connection, openLane, policy);
  return transfer({ from, to, connection, openLane, policy, tracker }, sources, dest);
}

/**
 * Gets the remote `sources` into the local `dest`, following cp's rules
 * for where they go, or as `landing` says (a watch). `filter` is
 * `options.filter` compiled, or a view of it below a folder.
 */
export async function getPaths(
  connection: Connection,
  openLane: () => Promise<Connection>,
  sources: readonly string[],
  dest: string,
  options: GetOptions = {},
  landing: LocalLanding = {},
  filter: PathFilter | undefined = PathFilter.optional(options.filter),
): Promise<TransferSummary> {
  checkCancelled(options.signal);
  const policy = resolvePolicy(options, filter);
  const tracker = new TransferTracker(options);
  const from = new RemoteSide(connection, openLane, policy);
  // Every source is looked up before anything is fetched or made.
  const found = await from.lookUp(sources);
  const to = new LocalSide(policy, landing);
  return await transfer({ from, to, connection, openLane, policy, tracker }, found, dest);
}
