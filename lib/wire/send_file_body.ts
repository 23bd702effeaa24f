/**
 * Sends one file body as DATA frames and an END frame carrying its digest,
 * or CANCEL when it cannot be sent whole. Used by the client for PUT and by
 * the server for GET.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { FileDigest } from "../fs/digest.ts";
import { type BodySource, readFull } from "../fs/file_body.ts";
import { Kind } from "../protocol/frame.ts";
import { encodeCancel } from "../protocol/requests.ts";
import type { FrameWriter } from "./frame_writer.ts";
import type { RateLimiter } from "./rate_limit.ts";
import type { ChunkCompressor } from "./compression.ts";
import { printable } from "../text.ts";

/** How a body is sent. */
export interface SendBodyOptions {
  /** Resume: the body starts here, with the digest of the bytes before it (see matchPrefix). */
  start?: { offset: number; digest: FileDigest } | null;
  /** Called after each chunk with its size, for progress. */
  onBytes?: (bytes: number) => void;
  /**
   * Checked between chunks and before END; when it returns true the body is
   * abandoned with CANCEL, so nothing is committed after a cancel.
   */
  stopped?: () => boolean;
  /** A stop asks the receiver to keep what it has, for a resume (a resumable upload). */
  keepOnStop?: boolean;
  /** Waited on after each chunk (--limit-rate), for the bytes that went on the wire. */
  limiter?: RateLimiter | undefined;
  /** Compresses the chunks that shrink enough (`-z`, when the receiver decodes zstd). */
  compressor?: ChunkCompressor | undefined;
  /** Largest chunk, when the receiver asked for small ones (it limits its rate). */
  chunkBytes?: number | undefined;
  /** The size is unknown: send until the source ends (standard input). */
  stream?: boolean;
  /**
   * Checked once the last byte was read, before END: a source that changed
   * while it was read is abandoned with CANCEL, and this error is thrown.
   */
  changed?: () => FerryError | undefined;
}

/**
 * Streams exactly `size` bytes of `file`. When the file shrinks while it is
 * read, or `stopped()` turns true, the receiver is told with a CANCEL frame
 * (so it discards what it has) and the promise rejects or returns null.
 * Returns the body's digest once the END frame carrying it was queued.
 */
export async function sendFileBody(
  writer: FrameWriter,
  id: number,
  file: BodySource,
  size: number,
  reportedPath: string,
  options: SendBodyOptions = {},
): Promise<Uint8Array | null> {
  const digest = options.start?.digest ?? await FileDigest.start();
  const fill = (target: Uint8Array) => readFull(file, target);
  const seen = (payload: Uint8Array) => digest.update(payload);
  let sent = options.start?.offset ?? 0;
  const chunk = options.limiter?.chunkBytes ?? options.chunkBytes ?? Number.POSITIVE_INFINITY;
  const stop = async () => {
    await writer.frame(Kind.Cancel, id, encodeCancel({ keep: options.keepOnStop === true }));
    return null;
  };
  try {
    while (options.stream || sent < size) {
      if (options.stopped?.()) return await stop();
      let n: number;
      try {
        n = await writer.data(id, Math.min(size - sent, chunk), fill, seen, options.compressor);
      } catch (error) {
        // A read error leaves the writer usable; a write error does not, and rethrows there.
        await writer.frame(Kind.Cancel, id);
        throw toFerryError(error, "read", reportedPath);
      }
      if (n === 0 && options.stream) break;
      if (n === 0) {
        await writer.frame(Kind.Cancel, id);
        // Rewritten shorter: the error that gives its sizes, as the check at the end would.
        throw options.changed?.() ?? shrank(reportedPath, size, sent);
      }
      sent += n;
      options.onBytes?.(n);
      // No await without a rate limit: the next chunk joins this one's record.
      const pause = pacing(writer, options, n);
      if (pause !== undefined) await pause;
    }
    // A cancel during the last chunk's wait (--limit-rate) must not commit the file.
    if (options.stopped?.()) return await stop();
    const changed = options.changed?.();
    if (changed !== undefined) {
      await writer.frame(Kind.Cancel, id);
      throw changed;
    }
    const whole = digest.finish();
    await writer.frame(Kind.End, id, whole);
    return whole;
  } finally {
    digest.release();
  }
}

/**
 * The wait --limit-rate asks for after `n` bytes, what the budget was spent
 * on sent first; undefined when there is none.
 */
function pacing(
  writer: FrameWriter,
  options: SendBodyOptions,
  n: number,
): Promise<void> | undefined {
  const wait = options.limiter?.take(options.compressor?.lastWireBytes ?? n);
  return wait === undefined ? undefined : writer.flush().then(() => wait);
}

function shrank(reportedPath: string, size: number, sent: number): FerryError {
  return new FerryError(
    ErrorCode.Io,
    `"${
      printable(reportedPath)
    }" shrank from ${size} to ${sent} bytes while it was sent; send it again`,
    { path: reportedPath },
  );
}
