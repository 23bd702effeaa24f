/**
 * `get`: remote files and folders to a local folder. Each source is looked
 * up, then listed as a stream; every file that is needed is asked for with
 * its own GET ({@link FileFetch}) as the listing finds it, many in flight at
 * once, over one connection or, with `parallel`, several that stop together.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { dirname } from "node:path";
import type { BackupPlace } from "../fs/backup.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import { PathFilter } from "../fs/filter.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import type { Connection } from "./connection.ts";
import { type FetchContext, FileFetch } from "./file_fetch.ts";
import {
  type GetPlan,
  lookUpSource,
  type RemoteSource,
  sourceFiles,
  type Wanted,
} from "./get_plan.ts";
import { finish } from "./finish.ts";
import { type HeldTarget, localInfo, LocalRoots, LocalSide, mkdirLocal } from "./local_side.ts";
import { InFlight } from "./in_flight.ts";
import { WantedQueue } from "./wanted_queue.ts";
import { comparesReceivingSide, keepsReceiving } from "./compare.ts";
import { digestFileHex } from "../fs/digest.ts";
import {
  cancelled,
  checkCancelled,
  compressLevel,
  refuseCollisions,
  type TransferSettings,
  type TransferSummary,
} from "./transfer.ts";
import { TransferTracker } from "./tracker.ts";
import { printable } from "../text.ts";
import { splitRemotePath } from "../remote_path.ts";
import type { FsyncMode } from "../protocol/constants.ts";

// GET requests in flight at once on one connection: the server answers them
// in order, so this only hides the round trip between files.
const MAX_GETS_IN_FLIGHT = 64;
// A full lane asks for more once this many have been answered, all in one
// write: one record and one system call on each side instead of one per file.
const GET_GROUP = 16;
// A lane takes no further file while this many bytes are on their way to it.
const MAX_BYTES_IN_FLIGHT = 16 * 1024 * 1024;

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
    found.push(await lookUpSource(connection, source, target, options.recursive ?? false));
  }
  refuseCollisions(found);
  const backup = localBackup(options.backup, intoFolder ? dest : dirname(dest));
  const commits = new GroupCommit();
  if (intoFolder && destInfo === null && !options.dryRun) {
    await mkdirLocal(dest, commits, options.fsync);
  }
  // Listings stream on a connection of their own: on the fetching one, the server
  // would answer the GETs only after the whole listing, which waits for them.
  let lister: Promise<Connection> | undefined;
  const plan: GetPlan = {
    lister: () => lister ??= openLane(),
    commits,
    options,
    tracker,
    trees: [],
    folderTimes: [],
    roots: new LocalRoots(options.dryRun ?? false),
    filter,
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
  const { commits, options, tracker } = plan;
  if (options.dryRun) return await dryRun(plan, found, backup);
  const wanted = new WantedQueue(neededFiles(plan, found));
  let lanes: GetLane[];
  try {
    lanes = await fetchAll(connection, openLane, wanted, commits, tracker, options, backup);
  } finally {
    await wanted.close();
  }
  if (options.signal?.aborted) throw cancelled(tracker.summary().files);
  if (wanted.failure !== undefined) throw wanted.failure;
  const failure = lanes.find((lane) => lane.failure !== undefined)?.failure;
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
    plan.tracker.wouldCopy(item.shown, item.entry.size);
  }
  await finishHere(plan, backup);
  return plan.tracker.summary();
}

/** Removes (dry run: reports) what the local folders hold beyond the sources, then sets the folder times. */
async function finishHere(plan: GetPlan, backup: BackupPlace | undefined): Promise<void> {
  const { options, tracker } = plan;
  await finish(new LocalSide(backup), {
    trees: plan.trees,
    folderTimes: plan.folderTimes,
    delete: options.delete ?? false,
    dryRun: options.dryRun ?? false,
    filter: plan.filter,
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
async function* neededFiles(plan: GetPlan, found: RemoteSource[]): AsyncGenerator<Wanted> {
  const { options, tracker } = plan;
  const syncing = comparesReceivingSide(options);
  for (const source of found) {
    for await (const item of sourceFiles(plan, source)) {
      if (syncing && await alreadyHere(item, options)) {
        tracker.skip(item.shown, item.entry.size);
        continue;
      }
      tracker.planned(1, item.entry.size);
      yield item;
    }
  }
}

/**
 * Whether the local file already matches (rsync's quick check, or the
 * digest), or is to be left as it is (`ignoreExisting`, `update`).
 */
async function alreadyHere(item: Wanted, options: TransferSettings): Promise<boolean> {
  const local = await localInfo(item.local, false);
  if (local === null) return false;
  const receiving = { isFile: local.isFile, size: local.size, mtime: local.mtime?.getTime() ?? 0 };
  return await keepsReceiving(item.entry, receiving, options, () => digestFileHex(item.local));
}

/**
 * Fetches the wanted files over one connection, or with `parallel` over
 * several, each taking the next file when it has room. The first lane to
 * fail stops every lane, and this resolves only when all of them have
 * stopped and their commits are done: nothing is written afterwards.
 */
async function fetchAll(
  connection: Connection,
  openLane: () => Promise<Connection>,
  wanted: WantedQueue,
  commits: GroupCommit,
  tracker: TransferTracker,
  options: TransferSettings,
  backup: BackupPlace | undefined,
): Promise<GetLane[]> {
  const streams = Math.max(1, options.parallel ?? 1);
  const extra = await Promise.all(Array.from({ length: streams - 1 }, openLane));
  const limiter = RateLimiter.optional(options.limitRate, options.signal);
  const fsync = options.fsync ?? "each";
  const lanes = [connection, ...extra].map((c) =>
    new GetLane(c, tracker, commits, limiter, fsync, backup, options.compress)
  );
  const stopAll = () => {
    limiter?.stop();
    lanes.forEach((lane) => lane.stop());
  };
  options.signal?.addEventListener("abort", stopAll, { once: true });
  try {
    await Promise.all(lanes.map((lane) => lane.fetchEach(wanted, stopAll)));
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
  readonly backup: BackupPlace | undefined;
  readonly compressLevel: number | undefined;
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
    backup: BackupPlace | undefined,
    compress: TransferSettings["compress"],
  ) {
    this.fsync = fsync;
    this.backup = backup;
    this.compressLevel = compressLevel({ compress }, connection);
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
    for (const fetch of this.#open) void fetch.abandon();
    this.#open.clear();
  }

  /** Fetches files from `wanted` while it has them; settles only when every fetch of this lane has. */
  async fetchEach(wanted: WantedQueue, onFailure: () => void): Promise<void> {
    const inFlight = new InFlight();
    // Fetches not yet settled (replied and committed): a set, so a tree of
    // 100,000 files does not keep 100,000 settled promises until the end.
    const fetches = new Set<Promise<void>>();
    const failed = (error: unknown) => {
      this.failure ??= this.connection.connectionError(error);
      onFailure();
    };
    for (;;) {
      await inFlight.below(MAX_GETS_IN_FLIGHT - GET_GROUP + 1, undefined, MAX_BYTES_IN_FLIGHT);
      if (this.#stopped) break;
      if (!await wanted.ready()) {
        if (wanted.failure !== undefined) onFailure();
        break;
      }
      // Few bytes in flight per lane, so that with -j big files spread over the lanes.
      let item: Wanted | undefined;
      while (
        !this.#stopped && inFlight.hasRoom(MAX_GETS_IN_FLIGHT, MAX_BYTES_IN_FLIGHT) &&
        (item = wanted.take()) !== undefined
      ) {
        const bytes = item.entry.size;
        inFlight.add(bytes);
        const fetch = new FileFetch(this, item);
        this.#open.add(fetch);
        const { outcome, answered } = await fetch.start();
        // The window holds requests the server has yet to answer, not files
        // committing here (the commit queue bounds those): the server never
        // runs dry while this side flushes to disk.
        void answered.then(() => inFlight.done(bytes));
        const settled: Promise<void> = outcome.catch(failed).finally(() => {
          this.#open.delete(fetch);
          fetches.delete(settled);
        });
        fetches.add(settled);
      }
      // The GETs queued together leave in one write.
      this.connection.writer.flushSoon();
    }
    await Promise.all(fetches);
  }
}
