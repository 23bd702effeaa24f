/**
 * Sends one file body as DATA frames and an END frame carrying its digest.
 * Used by the client for PUT and by the server for GET.
 *
 * @module
 */

import { digestHex, digestPrefix, FileDigest } from "./digest.ts";
import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { encodeCancel } from "../protocol/requests.ts";
import type { FrameWriter } from "../wire/frame_writer.ts";
import type { RateLimiter } from "../wire/rate_limit.ts";
import type { ChunkCompressor } from "../wire/compression.ts";
import { printable } from "./safe_path.ts";

/** What a body is read from: a file, or standard input. */
export interface BodySource {
  read(target: Uint8Array): Promise<number | null>;
}

/**
 * Files up to this size are opened and read synchronously: from the page
 * cache that takes microseconds, less than the round trip through Deno's
 * thread pool that an async open or read costs (twice per file otherwise).
 */
const SYNC_READ_LIMIT = 256 * 1024;

/** What a body of `size` bytes is read through: synchronous reads when it is small. */
export function bodySource(file: Deno.FsFile, size: number): BodySource {
  return size <= SYNC_READ_LIMIT
    ? { read: (target) => Promise.resolve(file.readSync(target)) }
    : file;
}

/** Opens `path` for reading; synchronously when it is small (see SYNC_READ_LIMIT). */
export async function openForReading(path: string, size: number): Promise<Deno.FsFile> {
  return size <= SYNC_READ_LIMIT
    ? Deno.openSync(path, { read: true })
    : await Deno.open(path, { read: true });
}

/** What tells a file's version apart: it changed when any of these did. */
export interface FileVersion {
  size: number;
  mtime: number;
  ctime: number;
}

/** The version of an open file (fstat), to compare before and after reading it (as tar does). */
export function fileVersion(file: Deno.FsFile): FileVersion {
  const info = file.statSync();
  return {
    size: info.size,
    mtime: info.mtime?.getTime() ?? 0,
    ctime: info.ctime?.getTime() ?? 0,
  };
}

/** The error for a file rewritten while it was read, giving its new size. */
export function changedWhileRead(
  shownAs: string,
  before: FileVersion,
  after: FileVersion,
): FerryError | undefined {
  if (before.size === after.size && before.mtime === after.mtime && before.ctime === after.ctime) {
    return undefined;
  }
  const sizes = before.size === after.size
    ? ""
    : ` (it was ${before.size} bytes, it is now ${after.size})`;
  return new FerryError(
    ErrorCode.Io,
    `"${printable(shownAs)}" changed as it was read${sizes}; nothing was stored`,
    { path: shownAs },
  );
}

/** Reads until `target` is full or the file ends; full chunks mean fewer frames. */
async function readFull(file: BodySource, target: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < target.length) {
    const n = await file.read(filled === 0 ? target : target.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/**
 * Checks a resume offer against the local file: hashes its first `offset`
 * bytes (reporting them as progress) and compares with the peer's digest.
 * Returns the digest running from there when they match, positioned at
 * `offset`; otherwise null with the file back at 0.
 */
export async function matchPrefix(
  file: Deno.FsFile,
  size: number,
  offer: { offset: number; digest?: string | undefined },
  onBytes?: (bytes: number) => void,
): Promise<{ offset: number; digest: FileDigest } | null> {
  if (offer.offset <= 0 || offer.offset > size || offer.digest === undefined) return null;
  const digest = await FileDigest.start();
  const read = await digestPrefix(file, offer.offset, digest, onBytes);
  if (read === offer.offset && digestHex(digest.peek()) === offer.digest) {
    return { offset: read, digest };
  }
  digest.release();
  await file.seek(0, Deno.SeekMode.Start);
  return null;
}

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
  shownAs: string,
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
        throw toFerryError(error, "read", shownAs);
      }
      if (n === 0 && options.stream) break;
      if (n === 0) {
        await writer.frame(Kind.Cancel, id);
        // Rewritten shorter: the error that gives its sizes, as the check at the end would.
        const changed = options.changed?.();
        if (changed !== undefined) throw changed;
        throw new FerryError(
          ErrorCode.Io,
          `"${
            printable(shownAs)
          }" shrank from ${size} to ${sent} bytes while it was sent; send it again`,
          { path: shownAs },
        );
      }
      sent += n;
      options.onBytes?.(n);
      const wait = options.limiter?.take(options.compressor?.lastWireBytes ?? n);
      if (wait !== undefined) {
        // What the budget was spent on goes out now, not after the wait.
        await writer.flush();
        await wait;
      }
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
