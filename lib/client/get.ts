/**
 * `get`: remote files and folders to a local folder. Each source is listed
 * first (for totals and sync), then every file that is needed is asked for
 * with its own GET ({@link FileFetch}), many in flight at once, over one
 * connection or, with `parallel`, several that stop together.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import { printable, splitRemotePath } from "../fs/safe_path.ts";
import type { FsyncMode } from "../protocol/constants.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import type { Connection } from "./connection.ts";
import { type FetchContext, FileFetch } from "./file_fetch.ts";
import {
  deleteExtraLocal,
  localInfo,
  type LocalTree,
  mkdirLocal,
  planSource,
  type Wanted,
} from "./get_plan.ts";
import { InFlight } from "./in_flight.ts";
import { alreadyThere } from "./sync_check.ts";
import {
  cancelled,
  checkCancelled,
  dealBySize,
  type TransferOptions,
  type TransferSummary,
  TransferTracker,
} from "./transfer.ts";

// GET requests in flight at once on one connection: the server answers them
// in order, so this only hides the round trip between files.
const MAX_GETS_IN_FLIGHT = 64;

/** Gets remote files and folders into `dest`, following cp's rules for where they go. */
export async function getPaths(
  connection: Connection,
  openLane: () => Promise<Connection>,
  sources: readonly string[],
  dest: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  const tracker = new TransferTracker(options);
  checkCancelled(options.signal);
  const destInfo = await localInfo(dest, true);
  const intoFolder = destInfo?.isDirectory === true || dest.endsWith("/") || sources.length > 1;
  if (intoFolder && destInfo !== null && !destInfo.isDirectory) {
    throw new FerryError(
      ErrorCode.NotDirectory,
      `The destination "${printable(dest)}" exists and is not a folder`,
      { path: dest },
    );
  }
  const commits = new GroupCommit();
  if (intoFolder && destInfo === null) await mkdirLocal(dest, commits, options.fsync);
  const wanted: Wanted[] = [];
  const trees: LocalTree[] = [];
  for (const source of sources) {
    const name = splitRemotePath(source).at(-1);
    const target = intoFolder && name !== undefined ? `${dest.replace(/\/+$/, "")}/${name}` : dest;
    const tree = await planSource(
      { connection, commits, options, tracker, wanted },
      source,
      target,
    );
    if (tree !== null) trees.push(tree);
  }
  const needed = await notYetHere(wanted, options);
  tracker.skipped += wanted.length - needed.length;
  tracker.planned(needed.length, needed.reduce((sum, item) => sum + item.entry.size, 0));
  const lanes = await fetchAll(connection, openLane, needed, commits, tracker, options);
  if (options.signal?.aborted) throw cancelled();
  const failure = lanes.find((lane) => lane.failure !== undefined)?.failure;
  if (failure !== undefined) throw failure;
  if (options.delete && tracker.failures.length === 0) {
    for (const tree of trees) await deleteExtraLocal(tree, tracker);
  }
  return tracker.summary();
}

/** The wanted files that sync does not find already here. */
async function notYetHere(wanted: Wanted[], options: TransferOptions): Promise<Wanted[]> {
  if (!(options.sync || options.checksum || options.delete)) return wanted;
  const needed: Wanted[] = [];
  for (const item of wanted) {
    const local = await localInfo(item.local, false);
    const here = local?.isFile === true &&
      await alreadyThere(
        item.entry,
        { size: local.size, mtime: local.mtime?.getTime() ?? 0 },
        options.checksum ?? false,
        item.local,
        false,
      );
    if (!here) needed.push(item);
  }
  return needed;
}

/**
 * Fetches `needed` over one connection, or with `parallel` over several:
 * files are dealt to them by size, biggest first to the lightest. The first
 * lane to fail stops every lane, and this resolves only when all of them
 * have stopped and their commits are done: nothing is written afterwards.
 */
async function fetchAll(
  connection: Connection,
  openLane: () => Promise<Connection>,
  needed: Wanted[],
  commits: GroupCommit,
  tracker: TransferTracker,
  options: TransferOptions,
): Promise<GetLane[]> {
  const streams = Math.max(1, Math.min(options.parallel ?? 1, needed.length));
  const extra = await Promise.all(Array.from({ length: streams - 1 }, openLane));
  const limiter = RateLimiter.optional(options.limitRate);
  const fsync = options.fsync ?? "each";
  const lanes = [connection, ...extra].map((c) => new GetLane(c, tracker, commits, limiter, fsync));
  const stopAll = () => lanes.forEach((lane) => lane.stop());
  options.signal?.addEventListener("abort", stopAll, { once: true });
  try {
    const shares = dealBySize(needed, lanes.length, (item) => item.entry.size);
    await Promise.all(lanes.map((lane, i) => lane.fetchEach(shares[i]!, stopAll)));
    await commits.drain();
  } finally {
    options.signal?.removeEventListener("abort", stopAll);
    await Promise.all(extra.map((c) => c.close()));
  }
  return lanes;
}

/** One connection's share of a get. */
class GetLane implements FetchContext {
  readonly connection: Connection;
  readonly tracker: TransferTracker;
  readonly commits: GroupCommit;
  readonly limiter: RateLimiter | undefined;
  readonly fsync: FsyncMode;
  failure: FerryError | undefined;
  #stopped = false;
  /** Fetches waiting for their reply: stop() abandons them. */
  #open = new Set<FileFetch>();

  constructor(
    connection: Connection,
    tracker: TransferTracker,
    commits: GroupCommit,
    limiter: RateLimiter | undefined,
    fsync: FsyncMode,
  ) {
    this.fsync = fsync;
    this.connection = connection;
    this.tracker = tracker;
    this.commits = commits;
    this.limiter = limiter;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Asks for nothing more, and abandons what is in flight (temporaries are removed). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const fetch of this.#open) {
      if (this.connection.usable) this.connection.abandon(fetch.id);
      void fetch.abandon();
    }
    this.#open.clear();
  }

  /** Fetches each item; settles only when every fetch of this lane has. */
  async fetchEach(items: Wanted[], onFailure: () => void): Promise<void> {
    const inFlight = new InFlight();
    // Fetches not yet settled (replied and committed): a set, so a tree of
    // 100,000 files does not keep 100,000 settled promises until the end.
    const fetches = new Set<Promise<void>>();
    const failed = (error: unknown) => {
      this.failure ??= this.connection.connectionError(error);
      onFailure();
    };
    for (const item of items) {
      await inFlight.below(MAX_GETS_IN_FLIGHT);
      if (this.#stopped) break;
      inFlight.add();
      const fetch = new FileFetch(this, item);
      this.#open.add(fetch);
      const { outcome } = await fetch.start();
      const settled: Promise<void> = outcome.catch(failed).finally(() => {
        this.#open.delete(fetch);
        fetches.delete(settled);
        inFlight.done();
      });
      fetches.add(settled);
    }
    await Promise.all(fetches);
  }
}
