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

/** Bytes in an END frame: the xxh3-128 digest of the whole file body. */
export const DIGEST_SIZE = 16;
