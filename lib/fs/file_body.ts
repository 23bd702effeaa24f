/**
 * Reading a file body to send: the file opened (synchronously when small),
 * its version to tell a rewrite apart, a source to fill chunks from, and a
 * resume offer checked against its first bytes. Framing it is the wire's
 * (wire/send_file_body.ts).
 *
 * @module
 */

import { digestHex, digestPrefix, FileDigest } from "./digest.ts";
import { ErrorCode, FerryError } from "../errors.ts";
import { printable } from "../text.ts";

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
  reportedPath: string,
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
    `"${printable(reportedPath)}" changed as it was read${sizes}; nothing was stored`,
    { path: reportedPath },
  );
}

/** Reads until `target` is full or the file ends; full chunks mean fewer frames. */
export async function readFull(file: BodySource, target: Uint8Array): Promise<number> {
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
