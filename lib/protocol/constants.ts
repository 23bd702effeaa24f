/**
 * Numbers both ends of a ferry connection agree on, apart from the frame
 * layout itself (see frame.ts).
 *
 * @module
 */

/** The port `ferry serve` listens on, and clients connect to, when none is given. */
export const DEFAULT_PORT = 7717;
