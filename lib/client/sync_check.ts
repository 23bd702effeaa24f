/**
 * The sync decision both directions share: whether a file on the receiving
 * side already matches the source, by rsync's quick check (size and
 * modification time, to within a millisecond) or, with checksum, by digest.
 *
 * @module
 */

import { digestFileHex } from "../fs/digest.ts";
import type { TransferSettings } from "./transfer.ts";

/** What is known about one side of a file. */
export interface FileFacts {
  size: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** Hex xxh3-128 of the contents, when known. */
  digest?: string | undefined;
}

/**
 * Whether `receiving` already holds what `source` describes. With
 * `checksum`, the local file at `localPath` is hashed when the sizes agree
 * and its digest compared with the remote one.
 */
export async function alreadyThere(
  source: FileFacts,
  receiving: FileFacts,
  checksum: boolean,
  localPath: string,
  localIsSource: boolean,
): Promise<boolean> {
  if (source.size !== receiving.size) return false;
  // Times pass through utime() as floating-point seconds and may come back 1 ms off.
  if (!checksum) return Math.abs(source.mtime - receiving.mtime) <= 1;
  const remoteDigest = localIsSource ? receiving.digest : source.digest;
  if (remoteDigest === undefined) return false;
  return await digestFileHex(localPath) === remoteDigest;
}

/** The options that decide what the receiving side keeps. */
type KeepOptions = Pick<
  TransferSettings,
  "sync" | "checksum" | "delete" | "ignoreExisting" | "update"
>;

/**
 * Whether a transfer compares with the receiving side (so lists it, or
 * looks each file up there) before it sends anything.
 */
export function comparesReceivingSide(options: KeepOptions): boolean {
  return Boolean(
    options.sync || options.checksum || options.delete || options.ignoreExisting ||
      options.update,
  );
}

/**
 * Whether `ignoreExisting` or `update` leaves the receiving side's entry as
 * it is: any entry at all for the first, a file newer than the source for
 * the second (rsync's `--ignore-existing` and `--update`).
 */
export function keptByChoice(
  source: { mtime: number },
  receiving: { isFile: boolean; mtime: number } | undefined,
  options: KeepOptions,
): boolean {
  if (receiving === undefined) return false;
  if (options.ignoreExisting) return true;
  return options.update === true && receiving.isFile && receiving.mtime > source.mtime + 1;
}
