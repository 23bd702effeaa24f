/**
 * `open`: one remote file read as a stream as it arrives. The stream errors
 * with digest_mismatch instead of closing when the file arrived corrupted,
 * so a reader that saw the stream close has exactly the server's file.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind, MAX_DATA_PAYLOAD } from "../protocol/frame.ts";
import { encodeGet, type GetRequest } from "../protocol/requests.ts";
import { decodeFile } from "../protocol/replies.ts";
import { StreamSink } from "../fs/body_sink.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import { checkCancelled, type TransferOptions, type TransferSummary } from "./options.ts";
import { TransferTracker } from "./tracker.ts";
import { printable } from "../text.ts";

/** A remote file being read: its facts, and its bytes as they arrive. */
export interface RemoteFile {
  /** Bytes in the file. */
  size: number;
  /** Modification time. */
  mtime: Date;
  /** Permission bits. */
  mode: number;
  /** The file's bytes; errors when the transfer fails or the digest does not match. */
  readable: ReadableStream<Uint8Array>;
}

/** Options of `FerryClient.open()`. */
export interface OpenOptions {
  /** Cancels this read only (the stream errors with `aborted`); the client stays usable. */
  signal?: AbortSignal | undefined;
  /** Bytes per second crossing the link. Default: no limit. */
  limitRate?: number | undefined;
}

/** Asks for `path` and resolves once the server announced it. */
export async function openRemote(
  connection: Connection,
  path: string,
  options: OpenOptions = {},
): Promise<RemoteFile> {
  checkCancelled(options.signal);
  const limiter = RateLimiter.optional(options.limitRate, options.signal);
  const request: GetRequest = { path, recursive: false };
  // Rate-limited: small pieces keep data flowing instead of a burst and a silence.
  if (limiter !== undefined && limiter.chunkBytes < MAX_DATA_PAYLOAD) {
    request.chunk = limiter.chunkBytes;
  }
  const call = connection.call(Kind.Get, encodeGet(request), { signal: options.signal });
  let sink: StreamSink;
  let announced: ReturnType<typeof decodeFile>;
  try {
    const first = await call.next();
    if (first.done) throw cancelledRead(path);
    if (first.value.kind !== Kind.File) throw call.unexpected(first.value);
    announced = decodeFile(first.value.payload);
    if (announced.path !== "" || (announced.offset ?? 0) !== 0) throw call.unexpected(first.value);
    // A reader that cancels the stream abandons the rest of the reply.
    sink = await StreamSink.create(path, announced.size, () => call.cancel());
  } catch (error) {
    // The read loop waits for the frame this side took: let it go, or, for a
    // reply the protocol does not allow, fail the connection.
    if (!call.over) {
      const broken = error instanceof FerryError && error.code === ErrorCode.Protocol;
      if (broken) call.broken(error);
      else void call.return();
    }
    limiter?.stop();
    throw readFailure(error, path);
  }
  void receiveInto(call, sink, limiter, path);
  return {
    size: announced.size,
    mtime: new Date(announced.mtime),
    mode: announced.mode,
    readable: sink.readable,
  };
}

/**
 * Reads the remote `path` into `into` (left open), with progress and
 * `limitRate`; the summary counts the file once its digest matched.
 */
export async function readRemoteInto(
  connection: Connection,
  path: string,
  into: WritableStream<Uint8Array>,
  options: TransferOptions,
): Promise<TransferSummary> {
  const tracker = new TransferTracker(options);
  const file = await openRemote(connection, path, options);
  tracker.planned(1, file.size);
  tracker.started(path);
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      tracker.moved(chunk.length);
    },
  });
  await file.readable.pipeThrough(counted).pipeTo(into, { preventClose: true, preventAbort: true });
  tracker.committed(path, file.size, "");
  return tracker.summary();
}

/** The body's frames into the stream; the stream errors when the read fails. */
async function receiveInto(
  call: Call,
  sink: StreamSink,
  limiter: RateLimiter | undefined,
  path: string,
): Promise<void> {
  const commits = new GroupCommit({ limit: 1 });
  let verified = false;
  try {
    for await (const frame of call) {
      if (frame.kind === Kind.Data) {
        await sink.write(frame.payload);
        const wait = limiter?.take(frame.wireBytes ?? frame.payload.length);
        if (wait !== undefined) await wait;
      } else if (frame.kind === Kind.End) {
        // The stream itself errors on a digest mismatch.
        await commits.end(sink, frame.payload, (c) => c.catch(() => {}));
        verified = true;
      } else if (frame.kind === Kind.Cancel) {
        throw new FerryError(
          ErrorCode.Io,
          `The server could not finish reading "${printable(path)}"`,
        );
      } else if (frame.kind !== Kind.Ok) throw call.unexpected(frame);
      else if (!verified) throw call.broken(unfinished(path));
    }
  } catch (error) {
    if (error instanceof FerryError && error.code === ErrorCode.Protocol && !call.over) {
      call.broken(error);
    }
    sink.fail(readFailure(error, path));
  } finally {
    limiter?.stop();
  }
}

function readFailure(error: unknown, path: string): FerryError {
  if (error instanceof FerryError && error.code === ErrorCode.Aborted) return cancelledRead(path);
  return toFerryError(error, "read", path);
}

function cancelledRead(path: string): FerryError {
  return new FerryError(ErrorCode.Aborted, `Reading "${printable(path)}" was cancelled`);
}

function unfinished(path: string): FerryError {
  return new FerryError(
    ErrorCode.Protocol,
    `The server ended "${printable(path)}" without sending it whole`,
    { path },
  );
}
