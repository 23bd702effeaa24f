/**
 * `send`: local files and folders to a server. Without sync, delete or -j,
 * folders and files are sent as the walk finds them; otherwise the walk is
 * made first (for the comparison with the server's listing, or to deal files
 * to connections). Every file is streamed as PUT, DATA and END without
 * waiting for the previous acknowledgement ({@link Lane}); the server
 * acknowledges each file only after it verified the digest and committed it
 * to disk.
 *
 * @module
 */

import { PathFilter } from "../fs/filter.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import type { Connection } from "./connection.ts";
import { Lane } from "./send_lane.ts";
import { putAsks } from "./send_file.ts";
import {
  destinationBases,
  listDestinations,
  type LocalSource,
  type PlannedDir,
  type PlannedFile,
  planSend,
  type SendPlan,
  walkSources,
} from "./send_plan.ts";
import { comparesReceivingSide, keepsReceiving } from "./compare.ts";
import { digestFileHex } from "../fs/digest.ts";
import {
  cancelled,
  checkCancelled,
  dealBySize,
  refuseCollisions,
  type TransferSettings,
  type TransferSummary,
} from "./transfer.ts";
import { TransferTracker } from "./tracker.ts";
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
  const signal = options.signal;
  checkCancelled(signal);
  const filter = PathFilter.optional(options.filter);
  const bases = await destinationBases(connection, sources, dest);
  refuseCollisions(
    sources.map((source, i) => ({ source: source.path, target: bases[i]!.join("/") })),
  );
  if (!comparesReceivingSide(options) && !options.dryRun && (options.parallel ?? 1) <= 1) {
    // Nothing to compare and one connection: send as the walk goes.
    return await sendAsWalked(
      connection,
      walkSources(sources, bases, tracker, { keepNames: false, filter }),
      tracker,
      options,
    );
  }
  const { planned, remote } = await planAgainstRemote(
    connection,
    sources,
    bases,
    tracker,
    options,
    filter,
  );
  const files = await changedFiles(planned, remote, tracker, options);
  if (options.dryRun) {
    for (const file of files) tracker.wouldCopy(file.remote, file.size);
    await finishThere(connection, planned, remote, tracker, options, filter);
    return tracker.summary();
  }
  await sendPlanned(connection, openLane, planned, remote, files, tracker, options);
  await finishThere(connection, planned, remote, tracker, options, filter);
  return tracker.summary();
}

/** The planned files that the server does not already have (or is to keep), counted in. */
async function changedFiles(
  planned: SendPlan,
  remote: Map<string, RemoteEntry>,
  tracker: TransferTracker,
  options: TransferSettings,
): Promise<PlannedFile[]> {
  const files: PlannedFile[] = [];
  for (const file of planned.files) {
    const there = remote.get(file.remote);
    const receiving = there && { ...there, isFile: there.type === "file" };
    const kept = await keepsReceiving(file, receiving, options, () => digestFileHex(file.local));
    if (kept) tracker.skip(file.remote, file.size);
    else files.push(file);
  }
  tracker.planned(files.length, files.reduce((sum, f) => sum + f.size, 0));
  return files;
}

/** Makes the missing folders, then sends `files` over one connection or, with `parallel`, several. */
async function sendPlanned(
  connection: Connection,
  openLane: () => Promise<Connection>,
  planned: SendPlan,
  remote: Map<string, RemoteEntry>,
  files: PlannedFile[],
  tracker: TransferTracker,
  options: TransferSettings,
): Promise<void> {
  const { signal } = options;
  const limiter = RateLimiter.optional(options.limitRate, signal);
  const main = new Lane(connection, tracker, signal, putAsks(options), options.compress);
  try {
    // Folders first, so empty ones exist too and keep their permission bits.
    await main.makeFolders(planned.dirs.filter((dir) => remote.get(dir.remote)?.type !== "dir"));
    const streams = Math.min(options.parallel ?? 1, files.length);
    if (streams <= 1) {
      await main.sendFiles(files, limiter);
    } else {
      await sendInParallel(main, openLane, streams, files, limiter);
    }
  } finally {
    main.dispose();
  }
  if (signal?.aborted) throw cancelled(tracker.summary().files);
  if (main.failure !== undefined) throw main.failure;
}

/**
 * Removes (dry run: reports) what the source folders do not have, with
 * `delete`, then sets the folders' times.
 */
async function finishThere(
  connection: Connection,
  planned: Pick<SendPlan, "trees" | "dirs">,
  remote: ReadonlyMap<string, RemoteEntry>,
  tracker: TransferTracker,
  options: TransferSettings,
  filter: PathFilter | undefined,
): Promise<void> {
  const side = new RemoteSide(connection, remote, options.backup, options.signal);
  await finish(side, {
    trees: planned.trees.filter((tree) => tree.isFolder),
    folderTimes: planned.dirs,
    delete: options.delete ?? false,
    dryRun: options.dryRun ?? false,
    filter,
  }, tracker);
  if (options.signal?.aborted) throw cancelled(tracker.summary().files);
}

/**
 * Sends folders and files as the walk finds them, so memory does not grow
 * with the tree; the totals grow with the walk.
 */
async function sendAsWalked(
  connection: Connection,
  walk: AsyncIterable<{ dir: PlannedDir } | { file: PlannedFile }>,
  tracker: TransferTracker,
  options: TransferSettings,
): Promise<TransferSummary> {
  const lane = new Lane(connection, tracker, options.signal, putAsks(options), options.compress);
  try {
    await lane.sendWalk(walk, RateLimiter.optional(options.limitRate, options.signal));
  } finally {
    lane.dispose();
  }
  if (options.signal?.aborted) throw cancelled(tracker.summary().files);
  if (lane.failure !== undefined) throw lane.failure;
  const walked = { trees: [], dirs: lane.walkedDirs };
  await finishThere(connection, walked, new Map(), tracker, options, undefined);
  return tracker.summary();
}

/** Walks the sources while the server lists the destinations (for sync and delete). */
async function planAgainstRemote(
  connection: Connection,
  sources: readonly LocalSource[],
  bases: string[][],
  tracker: TransferTracker,
  options: TransferSettings,
  filter: PathFilter | undefined,
): Promise<{ planned: SendPlan; remote: Map<string, RemoteEntry> }> {
  const trees = sources.map((source, i) => ({
    base: bases[i]!.join("/"),
    isFolder: source.info.isDirectory,
  }));
  const listing = comparesReceivingSide(options)
    ? listDestinations(connection, trees, options.checksum ?? false, filter)
    : Promise.resolve(new Map<string, RemoteEntry>());
  // A failed listing is reported after the walk, not as an unhandled rejection.
  listing.catch(() => {});
  const planned = await planSend(sources, bases, tracker, {
    keepNames: options.delete ?? false,
    filter,
  });
  checkCancelled(options.signal);
  return { planned, remote: await listing };
}

/** -j N: the files are dealt to N connections, biggest first to the least loaded. */
async function sendInParallel(
  main: Lane,
  openLane: () => Promise<Connection>,
  streams: number,
  files: PlannedFile[],
  limiter: RateLimiter | undefined,
): Promise<void> {
  const extra = await Promise.all(Array.from({ length: streams - 1 }, openLane));
  const lanes = [
    main,
    ...extra.map((c) => new Lane(c, main.tracker, main.signal, main.asks, main.compress)),
  ];
  try {
    const shares = dealBySize(files, lanes.length, (file) => file.size);
    // The first lane to fail stops the others: nothing more is sent.
    const stopAll = () => lanes.forEach((lane) => lane.stop());
    await Promise.all(lanes.map((lane, i) => lane.sendFiles(shares[i]!, limiter, stopAll)));
    for (const lane of lanes) if (lane.failure !== undefined) throw lane.failure;
  } finally {
    for (const lane of lanes.slice(1)) lane.dispose();
    await Promise.all(extra.map((c) => c.close()));
  }
}
