/**
 * The sender role on this side (a send): each file is read here and
 * received by the server. PUT, then (for a big file) the server's resume
 * offer checked against the local file, then the body as DATA and END. A
 * file rewritten while it is read is sent once more, then fails.
 *
 * @module
 */

import { ErrorCode, type FerryError, toFerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { decodeResume, encodePut, encodeResume, type ResumeMessage } from "../protocol/requests.ts";
import { digestHex } from "../fs/digest.ts";
import {
  bodySource,
  changedWhileRead,
  type FileVersion,
  fileVersion,
  matchPrefix,
  openForReading,
} from "../fs/file_body.ts";
import { sendFileBody } from "../wire/send_file_body.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import type { Mover, Moving, Slot, Window } from "./lane.ts";
import type { CommitPolicy, MovePolicy } from "./options.ts";
import type { FileJob } from "./side.ts";
import { backupRequest } from "./remote_ops.ts";
import { compressorFor, RESUME_MIN_BYTES } from "./options.ts";
import type { TransferTracker } from "./tracker.ts";
import type { FsyncMode } from "../protocol/constants.ts";

/** The reply of a request that has none yet. */
const NONE: Promise<unknown> = Promise.resolve(undefined);

// PUTs awaiting their reply at once; bounds the client's bookkeeping, not the wire.
// A lane takes one file at a time, and the walk finds it then: reading ahead
// would only interleave the walk's system calls with the bodies'.
const WINDOW: Window = {
  requests: 1024,
  bytes: Infinity,
  group: 1,
  flushTaken: false,
  readAhead: 0,
};

/** The PUT fields that a send's commit policy asks of the server for every file. */
interface PutAsks {
  /** How the file is made durable (the server may serve a stronger mode). */
  fsync: FsyncMode | undefined;
  /** Keep a replaced file as a numbered backup (see {@link backupRequest}). */
  backup: string | undefined;
}

/** One PUT awaiting OK or ERROR. */
interface Ack {
  readonly call: Call;
  /** The body is being sent: only the sender may cancel it (no DATA may follow a CANCEL). */
  streaming: boolean;
  /** END was queued: the server commits the file whatever follows, so its reply is awaited. */
  ended: boolean;
  /** A cancel asks the server to keep what it received, for the next attempt to resume. */
  readonly resumable: boolean;
  /** The digest of the body sent, once it ended. */
  digest: string;
  /** Resolves once the request is over: with the error when the connection failed. */
  replied: Promise<unknown>;
}

/** A file this side sends, on its way: the PUT of the version being sent. */
class Upload implements Moving {
  readonly queued: Promise<void>;
  readonly slot: Slot;
  /** The PUT of the version being sent, once there is one. */
  ack: Ack | undefined;

  constructor(slot: Slot, send: (upload: Upload) => Promise<void>) {
    this.slot = slot;
    this.queued = send(this);
  }

  /**
   * Sends nothing more of it: a request waiting for the server's resume
   * offer is abandoned (the server keeps what a resumable upload received).
   * A body being sent ends with CANCEL when it sees the lane stopped; a
   * file whose END was sent is committed by the server whatever follows:
   * its reply is still awaited, so that the summary counts what was stored.
   */
  abandon(): void {
    const ack = this.ack;
    if (ack === undefined || ack.streaming || ack.ended) return;
    ack.call.cancel(ack.resumable ? { keep: true } : {});
  }
}

/**
 * The send's mover: this side reads each file and the server receives it
 * (PUT, then for a big file the server's resume offer checked against the
 * local file, then the body as DATA and END), pipelined without waiting
 * for the previous file's acknowledgement.
 */
export class Sender implements Mover<FileJob> {
  readonly connection: Connection;
  readonly window: Window = WINDOW;
  readonly tracker: TransferTracker;
  readonly #asks: PutAsks;
  readonly #move: MovePolicy;

  constructor(
    connection: Connection,
    tracker: TransferTracker,
    commit: CommitPolicy,
    move: MovePolicy,
  ) {
    this.connection = connection;
    this.tracker = tracker;
    this.#asks = { fsync: commit.fsync, backup: backupRequest(commit.backup) };
    this.#move = move;
  }

  start(file: FileJob, slot: Slot): Moving {
    return new Upload(slot, (upload) => this.#sendOne(upload, file));
  }

  /**
   * A file rewritten while it was read is sent once more, as it is then; a
   * file that keeps changing fails (tar's "file changed as we read it").
   * The file settles with the reply to its last PUT.
   */
  async #sendOne(upload: Upload, planned: FileJob): Promise<void> {
    const changed = await this.#sendVersion(upload, planned);
    if (changed !== undefined) {
      upload.ack = undefined;
      const again = await this.#sendVersion(upload, planned);
      if (again !== undefined) this.tracker.fileFailed(again, planned.target, planned.size);
    }
    const { ack, slot } = upload;
    if (ack === undefined) slot.settled();
    else void ack.replied.then((lost) => slot.settled(lost));
  }

  /**
   * Sends the file as it is when opened; resolves with the error when it
   * changed while it was read (the server was told to drop it).
   */
  async #sendVersion(upload: Upload, listed: FileJob): Promise<FerryError | undefined> {
    const { tracker } = this;
    let file: Deno.FsFile;
    let before: FileVersion;
    try {
      file = await openForReading(listed.source, listed.size);
      before = fileVersion(file);
    } catch (error) {
      tracker.fileFailed(toFerryError(error, "read", listed.source), listed.target, listed.size);
      return undefined;
    }
    // What is sent is the version opened, whatever the walk saw.
    const planned: FileJob = {
      source: listed.source,
      target: listed.target,
      size: before.size,
      mode: listed.mode,
      mtime: before.mtime,
    };
    let changed: FerryError | undefined;
    const check = () => changed = changedWhileRead(planned.source, before, fileVersion(file));
    try {
      const sending = { file, planned, slot: upload.slot, check };
      const { ack, offer } = this.#request(upload, planned);
      await ack.call.sent;
      const start = offer === undefined ? null : await this.#resumeAt(ack, sending, offer);
      if (start === undefined) return undefined;
      const sent = await this.#streamBody(ack, sending, start);
      if (sent !== null) ack.digest = digestHex(sent);
      // The body ended with CANCEL, which gets no reply: stop waiting for one.
      else ack.call.forget();
      return changed;
    } finally {
      file.close();
    }
  }

  /** Queues the PUT; a big file first hears what the server kept of an earlier attempt (`offer`). */
  #request(
    upload: Upload,
    planned: FileJob,
  ): { ack: Ack; offer: Promise<ResumeMessage | null> | undefined } {
    const resumable = planned.size >= RESUME_MIN_BYTES;
    const offer = resumable ? Promise.withResolvers<ResumeMessage | null>() : undefined;
    const { target: path, size, mode, mtime } = planned;
    const call = this.connection.call(
      Kind.Put,
      encodePut({ path, size, mode, mtime, resume: resumable, ...this.#asks }),
      { flush: resumable },
    );
    const ack: Ack = { call, streaming: false, ended: false, resumable, digest: "", replied: NONE };
    upload.ack = ack;
    ack.replied = this.#reply(ack, planned, offer?.resolve);
    this.tracker.started(planned.target);
    return { ack, offer: offer?.promise };
  }

  /**
   * Counts the reply in: the offer (for a resumable PUT), then OK, or an
   * ERROR that fails the file; resolves with the error of a lost
   * connection. The next reply is read directly, no iterator per file (a
   * send of small files makes thousands).
   */
  async #reply(
    ack: Ack,
    planned: FileJob,
    onResume: ((offer: ResumeMessage | null) => void) | undefined,
  ): Promise<unknown> {
    const { call } = ack;
    try {
      let reply = await call.next();
      if (!reply.done && reply.value.kind === Kind.Resume && onResume !== undefined) {
        onResume(decodeResume(reply.value.payload));
        reply = await call.next();
      }
      if (reply.done) return undefined;
      if (reply.value.kind !== Kind.Ok) throw call.unexpected(reply.value);
      this.tracker.committed(planned.target, planned.size, ack.digest);
    } catch (error) {
      if (!call.refused) return error;
      this.tracker.fileFailed(error as FerryError, planned.target, planned.size);
    } finally {
      // No offer came (an ERROR, a cancel or a lost connection instead).
      onResume?.(null);
    }
  }

  /**
   * Waits for the server's offer, checks it against the local file and says
   * where the body starts. Undefined when the request was settled meanwhile
   * (an ERROR, a cancel or a lost connection instead of an offer).
   */
  async #resumeAt(
    ack: Ack,
    { file, planned }: Sending,
    offer: Promise<ResumeMessage | null>,
  ): Promise<Start | undefined> {
    const kept = await offer;
    if (kept === null || ack.call.over) return undefined;
    const start = await matchPrefix(
      file,
      planned.size,
      kept,
      (n) => this.tracker.moved(n, true, planned.target),
    );
    if (ack.call.over) return undefined;
    await this.connection.writer.frame(
      Kind.Resume,
      ack.call.id,
      encodeResume({ offset: start?.offset ?? 0 }),
    );
    return start;
  }

  /**
   * Sends the body from `start`; returns its digest, or null when it was
   * cancelled (by a refusal, a stop, or a file that could not be read).
   */
  async #streamBody(
    ack: Ack,
    { file, planned, slot, check }: Sending,
    start: Start,
  ): Promise<Uint8Array | null> {
    ack.streaming = true;
    let change: FerryError | undefined;
    try {
      const sent = await sendFileBody(
        this.connection.writer,
        ack.call.id,
        bodySource(file, planned.size),
        planned.size,
        planned.source,
        {
          start,
          limiter: this.#move.limiter,
          onBytes: (n) => this.tracker.moved(n, false, planned.target),
          compressor: compressorFor(this.#move, this.connection),
          // A reply before the body ends is a refusal: stop reading the file.
          stopped: () => slot.stopped || ack.call.over,
          keepOnStop: ack.resumable,
          changed: () => change = check(),
        },
      );
      ack.ended = sent !== null;
      return sent;
    } catch (error) {
      // Rewritten while it was read: the caller decides what next.
      if (error === change) return null;
      const failure = toFerryError(error, "read", planned.source);
      if (failure.code === ErrorCode.Connection || failure.code === ErrorCode.Aborted) {
        throw failure;
      }
      this.tracker.fileFailed(failure, planned.target, planned.size);
      return null;
    } finally {
      ack.streaming = false;
    }
  }
}

type Start = Awaited<ReturnType<typeof matchPrefix>>;

/** A file being sent: the version opened, and how to tell a stop or a change. */
interface Sending {
  readonly file: Deno.FsFile;
  readonly planned: FileJob;
  readonly slot: Slot;
  readonly check: () => FerryError | undefined;
}
