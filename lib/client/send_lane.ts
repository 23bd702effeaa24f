/**
 * One connection's share of a send: MKDIR and PUT requests pipelined, each
 * file streamed as DATA and END (resuming a big file the server kept part
 * of), and the replies counted in.
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
import { decodeError, errorFromMessage } from "../protocol/replies.ts";
import { digestHex } from "../fs/digest.ts";
import {
  bodySource,
  changedWhileRead,
  type FileVersion,
  fileVersion,
  matchPrefix,
  openForReading,
  sendFileBody,
} from "../fs/file_body.ts";
import { printable } from "../fs/safe_path.ts";
import type { RateLimiter } from "../wire/rate_limit.ts";
import type { Frame } from "../wire/frame_reader.ts";
import type { Connection } from "./connection.ts";
import { InFlight } from "./in_flight.ts";
import type { PlannedDir, PlannedFile, SendPlan } from "./send_plan.ts";
import { backupRequest } from "./remote_ops.ts";
import { RESUME_MIN_BYTES, type TransferOptions, type TransferTracker } from "./transfer.ts";

// Acknowledgements awaited at once; bounds the client's bookkeeping, not the wire.
const MAX_IN_FLIGHT = 1024;

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

/** What every PUT of a send asks of the server. */
export interface PutAsks {
  /** How the file is made durable (the server may serve a stronger mode). */
  fsync: FsyncMode | undefined;
  /** Keep a replaced file as a numbered backup (see {@link backupRequest}). */
  backup: string | undefined;
}

/** The PUT fields that a send's options ask for. */
export function putAsks(options: TransferOptions): PutAsks {
  return { fsync: options.fsync, backup: backupRequest(options.backup) };
}

/**
 * One connection's share of a send: requests are pipelined, at most
 * MAX_IN_FLIGHT awaiting their reply, and the first connection failure stops
 * the lane. A cancelled lane abandons its waiting requests and leaves the
 * connection usable.
 */
export class Lane {
  readonly connection: Connection;
  readonly tracker: TransferTracker;
  readonly signal: AbortSignal | undefined;
  /** Asked of the server for every file. */
  readonly asks: PutAsks;
  failure: FerryError | undefined;
  /** The folders {@link Lane.sendWalk} made, in walk order. */
  readonly walkedDirs: PlannedDir[] = [];
  #inFlight = new InFlight();
  #acks = new Set<Ack>();
  #stopped = false;
  #onAbort = () => this.stop();
  #flush = () => this.connection.writer.flush();

  constructor(
    connection: Connection,
    tracker: TransferTracker,
    signal: AbortSignal | undefined,
    asks: PutAsks,
  ) {
    this.asks = asks;
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
      await this.#mkdir(dir);
    }
  }

  async #mkdir(dir: PlannedDir): Promise<void> {
    const { id } = this.expectOk(dir.remote, () => {});
    await this.connection.writer.frame(
      Kind.Mkdir,
      id,
      encodeMkdir({ path: dir.remote, parents: true, mode: dir.mode }),
    );
  }

  /**
   * Sets each folder's modification time, deepest first, once every file is
   * in place (writing into a folder changes its time), then waits for the
   * replies. Nothing is set after a failure.
   */
  async setFolderTimes(dirs: readonly PlannedDir[]): Promise<void> {
    if (this.stopped || dirs.length === 0) return;
    try {
      for (let i = dirs.length - 1; i >= 0 && !this.stopped; i--) {
        await this.#inFlight.below(MAX_IN_FLIGHT, this.#flush);
        const { remote, mtime } = dirs[i]!;
        const { id } = this.expectOk(remote, () => {});
        await this.connection.writer.frame(
          Kind.Mkdir,
          id,
          encodeMkdir({ path: remote, parents: true, mtime }),
        );
      }
      await this.connection.writer.flush();
      await this.#inFlight.below(1);
    } catch (error) {
      this.failure ??= this.connection.connectionError(error);
    }
  }

  /**
   * Makes each folder and sends each file as `walk` yields them, then waits
   * for every reply; the folders are kept in `walkedDirs` for their times.
   */
  async sendWalk(
    walk: AsyncIterable<{ dir: PlannedDir } | { file: PlannedFile }>,
    limiter: RateLimiter | undefined,
  ): Promise<void> {
    try {
      for await (const item of walk) {
        if (this.stopped) break;
        await this.#inFlight.below(MAX_IN_FLIGHT, this.#flush);
        if (this.stopped) break;
        if ("dir" in item) {
          this.walkedDirs.push(item.dir);
          await this.#mkdir(item.dir);
        } else {
          this.tracker.planned(1, item.file.size);
          await sendOne(this, item.file, limiter);
        }
      }
      await this.connection.writer.flush();
      await this.#inFlight.below(1);
    } catch (error) {
      this.failure ??= this.connection.connectionError(error);
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
  // A file rewritten while it was read is sent once more, as it is then; a file
  // that keeps changing fails (tar's "file changed as we read it").
  const changed = await sendVersion(lane, planned, limiter);
  if (changed === undefined) return;
  const again = await sendVersion(lane, planned, limiter);
  if (again !== undefined) lane.tracker.failed(again);
}

/**
 * Sends the file as it is when opened; resolves with the error when it
 * changed while it was read (the server was told to drop it).
 */
async function sendVersion(
  lane: Lane,
  listed: PlannedFile,
  limiter: RateLimiter | undefined,
): Promise<FerryError | undefined> {
  const { connection, tracker } = lane;
  let file: Deno.FsFile;
  let before: FileVersion;
  try {
    file = await openForReading(listed.local, listed.size);
    before = fileVersion(file);
  } catch (error) {
    tracker.failed(toFerryError(error, "read", listed.local));
    return undefined;
  }
  // What is sent is the version opened, whatever the walk saw.
  const planned: PlannedFile = {
    local: listed.local,
    remote: listed.remote,
    size: before.size,
    mode: listed.mode,
    mtime: before.mtime,
  };
  let changed: FerryError | undefined;
  const check = () => changed = changedWhileRead(planned.local, before, fileVersion(file));
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
      encodePut({ path, size, mode, mtime, resume: resumable, ...lane.asks }),
      resumable ? { flush: true } : undefined,
    );
    const start = resumable ? await resumeAt(lane, ack, file, planned, offer.promise) : null;
    if (start === undefined) return;
    const sent = await streamBody(lane, ack, file, planned, start, limiter, check);
    if (sent !== null) digest = digestHex(sent);
    // A CANCEL gets no reply: stop waiting for one.
    else ack.settle();
    return changed;
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
  changed: () => FerryError | undefined,
): Promise<Uint8Array | null> {
  ack.streaming = true;
  let change: FerryError | undefined;
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
        changed: () => change = changed(),
      },
    );
  } catch (error) {
    // Rewritten while it was read: the caller decides what next.
    if (error === change) return null;
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
