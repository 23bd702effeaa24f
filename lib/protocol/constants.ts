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

// What files mean on the wire is what they mean on disk: the digest and the
// durability modes belong to lib/fs, and the protocol carries them.
export { DIGEST_SIZE } from "../fs/digest.ts";
export { FSYNC_MODES, type FsyncMode, strongerFsync } from "../fs/durability.ts";
