/**
 * `get`: remote files and folders to a local folder. Each source is listed
 * first (for totals and sync), then every file that is needed is asked for
 * with its own GET, many in flight at once. Each file lands through an
 * {@link IncomingFile}: temporary, verified, synced, renamed. Big files
 * resume: what an interrupted attempt left is offered to the server, which
 * continues after it when the prefix matches its file.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import { encodeGet, type GetRequest } from "../protocol/requests.ts";
import { decodeError, decodeFile, errorFromMessage } from "../protocol/replies.ts";
import { endBody } from "../fs/body_sink.ts";
import { CommitQueue } from "../fs/commit_queue.ts";
import { digestHex } from "../fs/digest.ts";
import { IncomingFile, resumeKeyFor } from "../fs/incoming_file.ts";
import { printable, splitRemotePath } from "../fs/safe_path.ts";
import type { Frame } from "../wire/frame_reader.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import type { Connection } from "./connection.ts";
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
  dealBySize,
  RESUME_MIN_BYTES,
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
  options.signal?.throwIfAborted();
  const destInfo = await localInfo(dest, true);
  const intoFolder = destInfo?.isDirectory === true || dest.endsWith("/") || sources.length > 1;
  if (intoFolder && destInfo !== null && !destInfo.isDirectory) {
    throw new FerryError(
      ErrorCode.NotDirectory,
      `The destination "${printable(dest)}" exists and is not a folder`,
      { path: dest },
    );
  }
  if (intoFolder && destInfo === null) await mkdirLocal(dest);
  const wanted: Wanted[] = [];
  const trees: LocalTree[] = [];
  for (const source of sources) {
    const name = splitRemotePath(source).at(-1);
    const target = intoFolder && name !== undefined ? `${dest.replace(/\/+$/, "")}/${name}` : dest;
    const tree = await planSource(connection, source, target, options, tracker, wanted);
    if (tree !== null) trees.push(tree);
  }
  const needed = await notYetHere(wanted, options);
  tracker.skipped += wanted.length - needed.length;
  tracker.planned(needed.length, needed.reduce((sum, item) => sum + item.entry.size, 0));
  const lanes = await fetchAll(connection, openLane, needed, tracker, options);
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
  tracker: TransferTracker,
  options: TransferOptions,
): Promise<GetLane[]> {
  const streams = Math.max(1, Math.min(options.parallel ?? 1, needed.length));
  const extra = await Promise.all(Array.from({ length: streams - 1 }, openLane));
  const commits = new CommitQueue();
  const limiter = RateLimiter.optional(options.limitRate);
  const lanes = [connection, ...extra].map((c) => new GetLane(c, tracker, commits, limiter));
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
class GetLane {
  readonly connection: Connection;
  readonly tracker: TransferTracker;
  readonly commits: CommitQueue;
  readonly limiter: RateLimiter | undefined;
  failure: FerryError | undefined;
  #stopped = false;
  /** Fetches waiting for their reply, by request id: stop() abandons them. */
  #open = new Map<number, () => Promise<void>>();

  constructor(
    connection: Connection,
    tracker: TransferTracker,
    commits: CommitQueue,
    limiter: RateLimiter | undefined,
  ) {
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
    for (const [id, abandon] of this.#open) {
      if (this.connection.usable) this.connection.abandon(id);
      void abandon();
    }
    this.#open.clear();
  }

  /** Tracks a fetch in flight; returns the function that forgets it. */
  track(id: number, abandon: () => Promise<void>): () => void {
    this.#open.set(id, abandon);
    return () => this.#open.delete(id);
  }

  /** Fetches each item; settles only when every fetch of this lane has. */
  async fetchEach(items: Wanted[], onFailure: () => void): Promise<void> {
    const inFlight = new InFlight();
    const fetches: Promise<void>[] = [];
    const failed = (error: unknown) => {
      this.failure ??= this.connection.connectionError(error);
      onFailure();
    };
    for (const item of items) {
      await inFlight.below(MAX_GETS_IN_FLIGHT);
      if (this.#stopped) break;
      inFlight.add();
      fetches.push(fetchFile(this, item).catch(failed).finally(() => inFlight.done()));
    }
    await Promise.all(fetches);
  }
}

/** The GET for one wanted file; with a resume offer when a partial of it is kept. */
async function openWanted(
  item: Wanted,
): Promise<{ request: GetRequest; incoming: IncomingFile | null }> {
  const request: GetRequest = { path: item.remote, recursive: false };
  const { entry } = item;
  if (entry.size < RESUME_MIN_BYTES) return { request, incoming: null };
  const incoming = await IncomingFile.open(item.local, item.shown, entry, {
    resumeKey: await resumeKeyFor(item.local, entry.size, entry.mtime),
  });
  if (incoming.offer.offset > 0) {
    request.resumeFrom = { offset: incoming.offer.offset, digest: incoming.offer.digest };
  }
  return { request, incoming };
}

/**
 * Asks for one file and writes it through IncomingFile. Resolves when the
 * server's reply is complete and the file committed; failures of this file
 * go to the tracker, failures of the connection reject.
 */
async function fetchFile(lane: GetLane, item: Wanted): Promise<void> {
  const { connection, tracker } = lane;
  let opened: Awaited<ReturnType<typeof openWanted>>;
  try {
    opened = await openWanted(item);
  } catch (error) {
    tracker.failed(toFerryError(error, "write", item.shown));
    return;
  }
  let incoming = opened.incoming;
  if (lane.stopped) return void await incoming?.discard({ keepPartial: true });
  let skipping = false;
  let abandoned = false;
  let committing: Promise<void> | undefined;
  const { promise, resolve, reject } = Promise.withResolvers<void>();

  const onFile = async (frame: Frame) => {
    const file = decodeFile(frame.payload);
    if (file.path !== "") throw outOfOrder(frame);
    tracker.started(item.shown);
    try {
      if (incoming !== null && file.size !== incoming.meta.size) {
        // Changed since it was listed: what was kept belongs to another version.
        await incoming.discard();
        incoming = null;
      }
      incoming ??= await IncomingFile.open(item.local, item.shown, file);
      const offset = file.offset ?? 0;
      if (incoming.awaitingStart) await incoming.startAt(offset);
      else if (offset !== 0) throw outOfOrder(frame);
      incoming.meta.mtime = file.mtime;
      incoming.meta.mode = file.mode;
      if (offset > 0) tracker.moved(offset, true);
    } catch (error) {
      if (error instanceof FerryError && error.code === ErrorCode.Protocol) throw error;
      tracker.failed(toFerryError(error, "write", item.shown));
      skipping = true;
    }
  };

  const onEnd = async (frame: Frame) => {
    if (skipping || incoming === null) return;
    const done: IncomingFile = incoming;
    incoming = null;
    if (frame.kind === Kind.Cancel) return await done.discard();
    const digest = digestHex(frame.payload);
    // The commit (fsync, rename) runs while the next files arrive; a few at most.
    await endBody(done, frame.payload, lane.commits, (committed) =>
      committing = committed.then(
        () => tracker.committed(done.path, done.meta.size, digest),
        (error) => tracker.failed(toFerryError(error, "write", done.shownAs)),
      ));
  };

  const finish = async () => {
    forget();
    connection.finish(id);
    await incoming?.discard({ keepPartial: true });
    // Done once committed; the read loop goes on meanwhile.
    if (committing === undefined) resolve();
    else void committing.then(resolve);
  };

  const onFrame = async (frame: Frame): Promise<void> => {
    switch (frame.kind) {
      case Kind.File:
        return await onFile(frame);
      case Kind.Data: {
        if (skipping) return;
        if (incoming === null) throw outOfOrder(frame);
        await incoming.write(frame.payload);
        tracker.moved(frame.payload.length);
        const wait = lane.limiter?.take(frame.payload.length);
        if (wait !== undefined) await wait;
        return;
      }
      case Kind.End:
      case Kind.Cancel:
        return await onEnd(frame);
      case Kind.Notice:
        return tracker.failed(errorFromMessage(decodeError(frame.payload)));
      case Kind.Error:
        tracker.failed(errorFromMessage(decodeError(frame.payload)));
        return await finish();
      case Kind.Ok:
        return await finish();
      default:
        throw outOfOrder(frame);
    }
  };

  const id = connection.open({
    onFrame: (frame) =>
      onFrame(frame).catch(async (error) => {
        // Abandoned while a chunk was written: the temporary is gone, nothing to report.
        if (abandoned) return;
        // A server that breaks the protocol loses the connection; partial files are removed.
        await incoming?.discard();
        incoming = null;
        throw error;
      }),
    fail: (error) => {
      forget();
      // The connection dropped: a resumable partial is kept for the next attempt.
      void incoming?.discard({ keepPartial: true });
      reject(error);
    },
  });
  const forget = lane.track(id, async () => {
    // Stopped: this file is abandoned; a resumable partial is kept.
    abandoned = true;
    await incoming?.discard({ keepPartial: true });
    incoming = null;
    resolve();
  });
  connection.writer.frame(Kind.Get, id, encodeGet(opened.request)).catch((error) => {
    forget();
    connection.finish(id);
    reject(connection.connectionError(error));
  });
  // GETs queued together leave in one write.
  connection.writer.flushSoon();
  return await promise;
}

function outOfOrder(frame: Frame): FerryError {
  return new FerryError(ErrorCode.Protocol, `The server sent ${kindName(frame.kind)} out of order`);
}
