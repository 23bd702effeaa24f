/**
 * `put`: bytes or a stream to one remote file. The server commits it only
 * after END, with the digest of everything that was sent; a cancelled or
 * failed put leaves the old file, if any, as it was.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { encodePut } from "../protocol/requests.ts";
import { digestHex } from "../fs/digest.ts";
import type { BodySource } from "../fs/file_body.ts";
import { sendFileBody } from "../wire/send_file_body.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import { statRemote } from "./remote_ops.ts";
import {
  cancelled,
  checkCancelled,
  type CommittedFile,
  compressorFor,
  type Progress,
} from "./options.ts";
import { TransferTracker } from "./tracker.ts";
import { printable } from "../text.ts";
import { splitRemotePath } from "../remote_path.ts";
import type { FsyncMode } from "../protocol/constants.ts";

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
