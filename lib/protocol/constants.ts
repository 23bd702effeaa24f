/**
 * Numbers both ends of a ferry connection agree on, apart from the frame
 * layout itself (see frame.ts).
 *
 * @module
 */

/**
 * The port `ferry serve` listens on, and clients connect to, when none is given.
 *
 * @example
 * ```ts
 * import { DEFAULT_PORT } from "@ferry/ferry";
 *
 * console.log(DEFAULT_PORT); // 7717
 * ```
 */
export const DEFAULT_PORT = 7717;

/** zstd levels a GET may ask its data to be compressed at (`-z`); 3 is zstd's own default. */
export const COMPRESS_LEVELS = { min: 1, max: 19, default: 3 } as const;

/** Bytes in an END frame: the xxh3-128 digest of the whole file body. */
export const DIGEST_SIZE = 16;

/**
 * How a received file is made durable before it is reported OK, strongest
 * first:
 * - `each`: the file's data and the folder's entry are flushed to disk (fsync).
 * - `batch`: one flush of the whole file system per group of files, where
 *   the system can (`sync -f`); otherwise as `each`.
 * - `none`: nothing is flushed (rsync's default); the file is still written
 *   under a temporary name, verified and renamed.
 */
export type FsyncMode = "each" | "batch" | "none";

/** Every {@link FsyncMode}, strongest first. */
export const FSYNC_MODES: readonly FsyncMode[] = ["each", "batch", "none"];

/** The stronger of two modes: a server serves a request at no less than its floor. */
export function strongerFsync(a: FsyncMode, b: FsyncMode): FsyncMode {
  return FSYNC_MODES.indexOf(a) <= FSYNC_MODES.indexOf(b) ? a : b;
}
