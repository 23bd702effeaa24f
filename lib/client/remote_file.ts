/**
 * One remote file as a stream, either way. `open` reads it as it arrives:
 * the stream errors with digest_mismatch instead of closing when the file
 * arrived corrupted, so a reader that saw the stream close has exactly the
 * server's file. `put` writes bytes or a stream to it: the server commits
 * it only after END, with the digest of everything that was sent; a
 * cancelled or failed put leaves the old file, if any, as it was.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { StreamSink } from "../fs/body_sink.ts";
import { digestHex } from "../fs/digest.ts";
import type { BodySource } from "../fs/file_body.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import type { FsyncMode } from "../protocol/constants.ts";
import { Kind, MAX_DATA_PAYLOAD } from "../protocol/frame.ts";
import { decodeFile } from "../protocol/replies.ts";
import { encodeGet, encodePut, type GetRequest } from "../protocol/requests.ts";
import { splitRemotePath } from "../remote_path.ts";
import { printable } from "../text.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import { sendFileBody } from "../wire/send_file_body.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import {
  cancelled,
  checkCancelled,
  type CommittedFile,
  compressorFor,
  type Progress,
  type TransferOptions,
  type TransferSummary,
} from "./options.ts";
import { statRemote } from "./remote_ops.ts";
import { TransferTracker } from "./tracker.ts";

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

/** Options of `FerryClient.put()`. */
export interface PutOptions {
  /** Permission bits of the new file. Default 0o644. */
  mode?: number | undefined;
  /** Modification time, as a Date or milliseconds since the epoch. Default: now. */
  mtime?: Date | number | undefined;
  /** Cancels this put only: nothing is stored and the client stays usable. */
  signal?: AbortSignal | undefined;
  /** Called with a new snapshot as bytes move. */
  onProgress?: ((progress: Progress) => void) | undefined;
  /** Bytes per second. Default: no limit. */
  limitRate?: number | undefined;
  /** How the server makes the file durable (see {@link SendOptions.fsync}). */
  fsync?: FsyncMode | undefined;
  /** zstd-compress the data on the way (see {@link TransferOptions.compress}). */
  compress?: boolean | number | undefined;
}

/** Stores `body` as the remote file `path`; resolves once the server committed it. */
export async function putBody(
  connection: Connection,
  path: string,
  body: Uint8Array | ReadableStream<Uint8Array>,
  options: PutOptions = {},
): Promise<CommittedFile> {
  checkCancelled(options.signal);
  const target = await fileTarget(connection, path);
  const known = body instanceof Uint8Array;
  const size = known ? body.length : 0;
  const mtime = options.mtime instanceof Date
    ? options.mtime.getTime()
    : options.mtime ?? Date.now();
  const call = connection.call(
    Kind.Put,
    encodePut({
      path: target,
      size,
      mode: options.mode ?? 0o644,
      mtime,
      stream: !known,
      fsync: options.fsync,
    }),
    { flush: false },
  );
  const source = known ? bytesSource(body) : streamSource(body);
  try {
    return await sendPut(connection, call, source, known ? size : undefined, target, options);
  } finally {
    await source.close();
  }
}

/** The body of a PUT (`size` undefined: a stream), then the server's OK. */
async function sendPut(
  connection: Connection,
  call: Call,
  source: BodySource,
  size: number | undefined,
  target: string,
  options: PutOptions,
): Promise<CommittedFile> {
  const { signal } = options;
  const tracker = new TransferTracker(options);
  tracker.planned(1, size ?? 0);
  // A refusal can arrive while the body is still sent: stop sending then.
  const reply = call.ok();
  reply.catch(() => {});
  tracker.started(target);
  const digest = await sendFileBody(
    connection.writer,
    call.id,
    source,
    size ?? Number.POSITIVE_INFINITY,
    target,
    {
      stream: size === undefined,
      stopped: () => call.over || signal?.aborted === true,
      limiter: RateLimiter.optional(options.limitRate, signal),
      onBytes: (n) => tracker.moved(n),
      compressor: compressorFor(options, connection),
    },
  );
  await connection.writer.flush();
  if (digest === null && signal?.aborted) {
    // The CANCEL gets no reply: the request is over.
    call.forget();
    throw cancelled();
  }
  await reply;
  if (digest === null) {
    throw new FerryError(ErrorCode.Protocol, `The server refused "${target}" without a reason`);
  }
  tracker.committed(target, tracker.bytesDone, digestHex(digest));
  return { path: target, size: tracker.bytesDone, digest: digestHex(digest) };
}

/** The remote file a put writes: it must be a file name, not a folder. */
async function fileTarget(connection: Connection, path: string): Promise<string> {
  const parts = splitRemotePath(path);
  const remote = parts.length === 0 ? null : await statRemote(connection, path);
  if (path.endsWith("/") || parts.length === 0 || remote?.type === "dir") {
    throw new FerryError(
      ErrorCode.IsDirectory,
      `A put needs a file name on the server, not the folder "${printable(path || "/")}"`,
      { path },
    );
  }
  return parts.join("/");
}

/** A body source over bytes in memory. */
function bytesSource(bytes: Uint8Array): BodySource & { close(): Promise<void> } {
  let offset = 0;
  return {
    read(target) {
      if (offset >= bytes.length) return Promise.resolve(null);
      const n = Math.min(target.length, bytes.length - offset);
      target.set(bytes.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
    close: () => Promise.resolve(),
  };
}

/** A body source over a stream; what is left of a chunk waits for the next read. */
function streamSource(stream: ReadableStream<Uint8Array>): BodySource & { close(): Promise<void> } {
  const reader = stream.getReader();
  let left: Uint8Array | undefined;
  let ended = false;
  return {
    async read(target) {
      while (left === undefined || left.length === 0) {
        if (ended) return null;
        const next = await reader.read();
        if (next.done) {
          ended = true;
          return null;
        }
        left = next.value;
      }
      const n = Math.min(target.length, left.length);
      target.set(left.subarray(0, n));
      left = left.subarray(n);
      return n;
    },
    async close() {
      if (!ended) await reader.cancel().catch(() => {});
      reader.releaseLock();
    },
  };
}
