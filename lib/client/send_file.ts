/**
 * Sending one file on a lane: PUT, then (for a big file) the server's resume
 * offer checked against the local file, then the body as DATA and END. A
 * file rewritten while it is read is sent once more, then fails.
 *
 * @module
 */

import { ErrorCode, type FerryError, toFerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { encodePut, encodeResume, type ResumeMessage } from "../protocol/requests.ts";
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
import type { RateLimiter } from "../wire/rate_limit.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import type { PlannedFile } from "./send_plan.ts";
import { backupRequest } from "./remote_ops.ts";
import { compressorFor, RESUME_MIN_BYTES, type TransferSettings } from "./transfer.ts";
import type { TransferTracker } from "./tracker.ts";
import type { FsyncMode } from "../protocol/constants.ts";

/** A request awaiting OK or ERROR. */
export interface Ack {
  readonly call: Call;
  /** The body is being sent: only the sender may cancel it (no DATA may follow a CANCEL). */
  streaming: boolean;
  /** END was queued: the server commits the file whatever follows, so its reply is awaited. */
  ended: boolean;
  /** A cancel asks the server to keep what it received, for the next attempt to resume. */
  resumable: boolean;
  /** Resolves when the request is over (OK, ERROR, cancelled or a lost connection). */
  replied: Promise<void>;
}

/** How a request awaiting OK or ERROR is sent and answered (see Lane.expectOk). */
export interface AckOptions {
  /** The file's size, for a PUT: a refused file leaves the totals. */
  size?: number | undefined;
  /** Told of the server's RESUME offer, or of null once the request is over without one. */
  onResume?: ((offer: ResumeMessage | null) => void) | undefined;
  /** Flush the request now (a resumable PUT waits for the offer before its body). */
  flush?: boolean | undefined;
}

/** What every PUT of a send asks of the server. */
export interface PutAsks {
  /** How the file is made durable (the server may serve a stronger mode). */
  fsync: FsyncMode | undefined;
  /** Keep a replaced file as a numbered backup (see {@link backupRequest}). */
  backup: string | undefined;
}

/** The PUT fields that a send's options ask for. */
export function putAsks(options: TransferSettings): PutAsks {
  return { fsync: options.fsync, backup: backupRequest(options.backup) };
}

/** What sending a file needs of its lane (send_lane.ts's Lane). */
export interface FileLane {
  readonly connection: Connection;
  readonly tracker: TransferTracker;
  readonly asks: PutAsks;
  readonly stopped: boolean;
  /** What the file data is sent with: `compress` from the options, when the server decodes it. */
  readonly compress: TransferSettings["compress"];
  /** Sends a request that ends with OK or ERROR (see Lane.expectOk). */
  expectOk(
    kind: Kind,
    payload: Uint8Array,
    shown: string,
    onOk: () => void,
    options?: AckOptions,
  ): Ack;
}

export async function sendOne(
  lane: FileLane,
  planned: PlannedFile,
  limiter: RateLimiter | undefined,
): Promise<void> {
  // A file rewritten while it was read is sent once more, as it is then; a file
  // that keeps changing fails (tar's "file changed as we read it").
  const changed = await sendVersion(lane, planned, limiter);
  if (changed === undefined) return;
  const again = await sendVersion(lane, planned, limiter);
  if (again !== undefined) lane.tracker.fileFailed(again, planned.remote, planned.size);
}

/**
 * Sends the file as it is when opened; resolves with the error when it
 * changed while it was read (the server was told to drop it).
 */
async function sendVersion(
  lane: FileLane,
  listed: PlannedFile,
  limiter: RateLimiter | undefined,
): Promise<FerryError | undefined> {
  const { tracker } = lane;
  let file: Deno.FsFile;
  let before: FileVersion;
  try {
    file = await openForReading(listed.local, listed.size);
    before = fileVersion(file);
  } catch (error) {
    tracker.fileFailed(toFerryError(error, "read", listed.local), listed.remote, listed.size);
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
    const { remote: path, size, mode, mtime } = planned;
    const ack = lane.expectOk(
      Kind.Put,
      encodePut({ path, size, mode, mtime, resume: resumable, ...lane.asks }),
      planned.remote,
      () => tracker.committed(planned.remote, planned.size, digest),
      { size, flush: resumable, onResume: resumable ? offer.resolve : undefined },
    );
    ack.resumable = resumable;
    tracker.started(planned.remote);
    await ack.call.sent;
    const start = resumable ? await resumeAt(lane, ack, file, planned, offer.promise) : null;
    if (start === undefined) return;
    const sent = await streamBody(lane, ack, file, planned, start, limiter, check);
    if (sent !== null) digest = digestHex(sent);
    // The body ended with CANCEL, which gets no reply: stop waiting for one.
    else ack.call.forget();
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
  lane: FileLane,
  ack: Ack,
  file: Deno.FsFile,
  planned: PlannedFile,
  offer: Promise<ResumeMessage | null>,
): Promise<Start | undefined> {
  const kept = await offer;
  if (kept === null || ack.call.over) return undefined;
  const start = await matchPrefix(
    file,
    planned.size,
    kept,
    (n) => lane.tracker.moved(n, true, planned.remote),
  );
  if (ack.call.over) return undefined;
  await lane.connection.writer.frame(
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
async function streamBody(
  lane: FileLane,
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
    const sent = await sendFileBody(
      lane.connection.writer,
      ack.call.id,
      bodySource(file, planned.size),
      planned.size,
      planned.local,
      {
        start,
        limiter,
        onBytes: (n) => lane.tracker.moved(n, false, planned.remote),
        compressor: compressorFor(lane, lane.connection),
        // A reply before the body ends is a refusal: stop reading the file.
        stopped: () => lane.stopped || ack.call.over,
        keepOnStop: ack.resumable,
        changed: () => change = changed(),
      },
    );
    ack.ended = sent !== null;
    return sent;
  } catch (error) {
    // Rewritten while it was read: the caller decides what next.
    if (error === change) return null;
    const failure = toFerryError(error, "read", planned.local);
    if (failure.code === ErrorCode.Connection || failure.code === ErrorCode.Aborted) {
      throw failure;
    }
    lane.tracker.fileFailed(failure, planned.remote, planned.size);
    return null;
  } finally {
    ack.streaming = false;
  }
}
