/**
 * `send`: local files and folders to a server. The plan is made first (for
 * totals and sync), then every file is streamed as PUT, DATA and END without
 * waiting for the previous acknowledgement; the server acknowledges each
 * file only after it verified the digest and committed it to disk.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import type { FsyncMode } from "../protocol/constants.ts";
import {
  decodeResume,
  encodeMkdir,
  encodePut,
  encodeResume,
  type ResumeMessage,
} from "../protocol/requests.ts";
import { decodeError, errorFromMessage, type RemoteEntry } from "../protocol/replies.ts";
import { digestHex } from "../fs/digest.ts";
import { bodySource, matchPrefix, openForReading, sendFileBody } from "../fs/file_body.ts";
import { printable } from "../fs/safe_path.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import type { Frame } from "../wire/frame_reader.ts";
import type { Connection } from "./connection.ts";
import { InFlight } from "./in_flight.ts";
import {
  deleteExtraRemote,
  destinationBases,
  inspectSources,
  listDestinations,
  type PlannedFile,
  planSend,
  type SendPlan,
} from "./send_plan.ts";
import { alreadyThere } from "./sync_check.ts";
import {
  cancelled,
  checkCancelled,
  dealBySize,
  RESUME_MIN_BYTES,
  type TransferOptions,
  type TransferSummary,
  TransferTracker,
} from "./transfer.ts";

// Acknowledgements awaited at once; bounds the client's bookkeeping, not the wire.
const MAX_IN_FLIGHT = 1024;

/** Sends local files and folders to `dest`; `openLane` opens more connections for `parallel`. */
export async function sendPaths(
  connection: Connection,
  openLane: () => Promise<Connection>,
  sourcePaths: readonly string[],
  dest: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  const tracker = new TransferTracker(options);
  const signal = options.signal;
  checkCancelled(signal);
  const sources = await inspectSources(sourcePaths, options.recursive ?? false);
  const bases = await destinationBases(connection, sources, dest);
  const { planned, remote } = await planAgainstRemote(connection, sources, bases, tracker, options);
  const files: PlannedFile[] = [];
  for (const file of planned.files) {
    const there = remote.get(file.remote);
    const same = there?.type === "file" &&
      await alreadyThere(file, there, options.checksum ?? false, file.local, true);
    if (same) tracker.skipped++;
    else files.push(file);
  }
  tracker.planned(files.length, files.reduce((sum, f) => sum + f.size, 0));
  const limiter = RateLimiter.optional(options.limitRate);
  const main = new Lane(connection, tracker, signal, options.fsync);
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
  if (signal?.aborted) throw cancelled();
  if (main.failure !== undefined) throw main.failure;
  if (options.delete && tracker.failures.length === 0) {
    await deleteExtraRemote(connection, planned.trees, remote, tracker);
  }
  return tracker.summary();
}

/** Walks the sources while the server lists the destinations (for sync and delete). */
async function planAgainstRemote(
  connection: Connection,
  sources: Awaited<ReturnType<typeof inspectSources>>,
  bases: string[][],
  tracker: TransferTracker,
  options: TransferOptions,
): Promise<{ planned: SendPlan; remote: Map<string, RemoteEntry> }> {
  const trees = sources.map((source, i) => ({
    base: bases[i]!.join("/"),
    isFolder: source.info.isDirectory,
  }));
  const listing = options.sync || options.checksum || options.delete
    ? listDestinations(connection, trees, options.checksum ?? false)
    : Promise.resolve(new Map<string, RemoteEntry>());
  // A failed listing is reported after the walk, not as an unhandled rejection.
  listing.catch(() => {});
  const planned = await planSend(sources, bases, tracker, options.delete ?? false);
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
  const lanes = [main, ...extra.map((c) => new Lane(c, main.tracker, main.signal, main.fsync))];
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

/** A request awaiting OK or ERROR. */
interface Ack {
  id: number;
  settled: boolean;
  /** The body is being sent: only the sender may cancel it (no DATA may follow a CANCEL). */
  streaming: boolean;
  /** Resolves with null when the request is settled (OK, ERROR, cancelled or a lost connection). */
  replied: Promise<null>;
  settle: () => void;
}

/**
 * One connection's share of a send: requests are pipelined, at most
 * MAX_IN_FLIGHT awaiting their reply, and the first connection failure stops
 * the lane. A cancelled lane abandons its waiting requests and leaves the
 * connection usable.
 */
class Lane {
  readonly connection: Connection;
  readonly tracker: TransferTracker;
  readonly signal: AbortSignal | undefined;
  /** Asked of the server for every file (it may serve a stronger mode). */
  readonly fsync: FsyncMode | undefined;
  failure: FerryError | undefined;
  #inFlight = new InFlight();
  #acks = new Set<Ack>();
  #stopped = false;
  #onAbort = () => this.stop();
  #flush = () => this.connection.writer.flush();

  constructor(
    connection: Connection,
    tracker: TransferTracker,
    signal: AbortSignal | undefined,
    fsync: FsyncMode | undefined,
  ) {
    this.fsync = fsync;
    this.connection = connection;
    this.tracker = tracker;
    this.signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get stopped(): boolean {
    return this.#stopped || this.failure !== undefined;
  }

  /** Sends nothing more; requests waiting for a reply are abandoned (the server is told). */
  stop(): void {
    this.#stopped = true;
    for (const ack of this.#acks) {
      if (ack.streaming || ack.settled) continue;
      this.connection.abandon(ack.id);
      ack.settle();
    }
  }

  dispose(): void {
    this.signal?.removeEventListener("abort", this.#onAbort);
  }

  /** Opens a request that ends with OK or ERROR; `onResume` receives a RESUME offer. */
  expectOk(shown: string, onOk: () => void, onResume?: (frame: Frame) => void): Ack {
    const replied = Promise.withResolvers<null>();
    const ack: Ack = {
      id: 0,
      settled: false,
      streaming: false,
      replied: replied.promise,
      settle: () => {
        if (ack.settled) return;
        ack.settled = true;
        this.#acks.delete(ack);
        this.connection.finish(ack.id);
        this.#inFlight.done();
        replied.resolve(null);
      },
    };
    this.#inFlight.add();
    ack.id = this.connection.open({
      onFrame: (frame) => {
        if (frame.kind === Kind.Resume && onResume !== undefined) return onResume(frame);
        ack.settle();
        if (frame.kind === Kind.Ok) onOk();
        else if (frame.kind === Kind.Error) {
          this.tracker.failed(errorFromMessage(decodeError(frame.payload)));
        } else {
          this.failure ??= new FerryError(
            ErrorCode.Protocol,
            `Unexpected reply to "${printable(shown)}"`,
          );
        }
      },
      fail: (error) => {
        this.failure ??= error;
        ack.settle();
      },
    });
    this.#acks.add(ack);
    return ack;
  }

  async makeFolders(dirs: SendPlan["dirs"]): Promise<void> {
    for (const dir of dirs) {
      if (this.stopped) return;
      await this.#inFlight.below(MAX_IN_FLIGHT, this.#flush);
      const { id } = this.expectOk(dir.remote, () => {});
      await this.connection.writer.frame(
        Kind.Mkdir,
        id,
        encodeMkdir({ path: dir.remote, parents: true, mode: dir.mode }),
      );
    }
  }

  /** Sends `files` and waits for every reply; `onFailure` runs when this lane fails. */
  async sendFiles(
    files: PlannedFile[],
    limiter: RateLimiter | undefined,
    onFailure?: () => void,
  ): Promise<void> {
    try {
      for (const planned of files) {
        if (this.stopped) break;
        await this.#inFlight.below(MAX_IN_FLIGHT, this.#flush);
        if (this.stopped) break;
        await sendOne(this, planned, limiter);
      }
      await this.connection.writer.flush();
      await this.#inFlight.below(1);
    } catch (error) {
      this.failure ??= this.connection.connectionError(error);
    }
    if (this.failure !== undefined) onFailure?.();
  }
}

async function sendOne(
  lane: Lane,
  planned: PlannedFile,
  limiter: RateLimiter | undefined,
): Promise<void> {
  const { connection, tracker } = lane;
  let file: Deno.FsFile;
  try {
    file = await openForReading(planned.local, planned.size);
  } catch (error) {
    tracker.failed(toFerryError(error, "read", planned.local));
    return;
  }
  try {
    // A big file first hears what the server kept of an earlier attempt.
    const resumable = planned.size >= RESUME_MIN_BYTES;
    const offer = Promise.withResolvers<ResumeMessage | null>();
    let digest = "";
    const ack = lane.expectOk(
      planned.remote,
      () => tracker.committed(planned.remote, planned.size, digest),
      resumable ? (frame) => offer.resolve(decodeResume(frame.payload)) : undefined,
    );
    tracker.started(planned.remote);
    const { remote: path, size, mode, mtime } = planned;
    await connection.writer.frame(
      Kind.Put,
      ack.id,
      encodePut({ path, size, mode, mtime, resume: resumable, fsync: lane.fsync }),
      resumable ? { flush: true } : undefined,
    );
    const start = resumable ? await resumeAt(lane, ack, file, planned, offer.promise) : null;
    if (start === undefined) return;
    const sent = await streamBody(lane, ack, file, planned, start, limiter);
    if (sent !== null) digest = digestHex(sent);
    // A CANCEL gets no reply: stop waiting for one.
    else ack.settle();
  } finally {
    file.close();
  }
}

type Start = Awaited<ReturnType<typeof matchPrefix>>;

/**
 * Waits for the server's offer, checks it against the local file and says
 * where the body starts. Undefined when the request was settled meanwhile
 * (an ERROR, a cancel or a lost connection instead of an offer).
 */
async function resumeAt(
  lane: Lane,
  ack: Ack,
  file: Deno.FsFile,
  planned: PlannedFile,
  offer: Promise<ResumeMessage | null>,
): Promise<Start | undefined> {
  const kept = await Promise.race([offer, ack.replied]);
  if (kept === null || ack.settled) return undefined;
  const start = await matchPrefix(file, planned.size, kept, (n) => lane.tracker.moved(n, true));
  if (ack.settled) return undefined;
  await lane.connection.writer.frame(
    Kind.Resume,
    ack.id,
    encodeResume({ offset: start?.offset ?? 0 }),
  );
  return start;
}

/**
 * Sends the body from `start`; returns its digest, or null when it was
 * cancelled (by a refusal, a stop, or a file that could not be read).
 */
async function streamBody(
  lane: Lane,
  ack: Ack,
  file: Deno.FsFile,
  planned: PlannedFile,
  start: Start,
  limiter: RateLimiter | undefined,
): Promise<Uint8Array | null> {
  ack.streaming = true;
  try {
    return await sendFileBody(
      lane.connection.writer,
      ack.id,
      bodySource(file, planned.size),
      planned.size,
      planned.local,
      {
        start,
        limiter,
        onBytes: (n) => lane.tracker.moved(n),
        // A reply before the body ends is a refusal: stop reading the file.
        stopped: () => lane.stopped || ack.settled,
      },
    );
  } catch (error) {
    const failure = toFerryError(error, "read", planned.local);
    if (failure.code === ErrorCode.Connection || failure.code === ErrorCode.Aborted) {
      throw failure;
    }
    lane.tracker.failed(failure);
    return null;
  } finally {
    ack.streaming = false;
  }
}
