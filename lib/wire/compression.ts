/**
 * `-z`: zstd per DATA chunk, from node:zlib. A chunk goes compressed only
 * when that makes it at least 5% smaller; a probe of its first 64 KiB
 * decides first, so photos, video and archives cost a small fraction of a
 * full compression. The receiver refuses a compressed chunk that would
 * expand past the DATA cap (a decompression bomb) as a protocol error.
 *
 * @module
 */

import { constants, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { ErrorCode, FerryError } from "../errors.ts";
import { MAX_DATA_PAYLOAD } from "../protocol/frame.ts";
import { COMPRESS_LEVELS } from "../protocol/constants.ts";

/** The compression a peer announces it can decode, in the handshake. */
export const ZSTD = "zstd";

// A chunk must shrink by at least this much to go compressed.
const WORTH = 0.95;
// Chunks larger than this are probed on their first PROBE_BYTES first.
const PROBE_BYTES = 64 * 1024;

/** Compresses chunks of one body at one level. */
export class ChunkCompressor {
  #options: { params: Record<number, number> };
  /** What the last chunk took on the wire: compressed or not (for --limit-rate). */
  lastWireBytes = 0;

  constructor(level: number = COMPRESS_LEVELS.default) {
    this.#options = { params: { [constants.ZSTD_c_compressionLevel]: level } };
  }

  /** `chunk` compressed, or undefined when it would not shrink enough to be worth it. */
  compress(chunk: Uint8Array): Uint8Array | undefined {
    this.lastWireBytes = chunk.length;
    if (chunk.length > 2 * PROBE_BYTES) {
      const probe = zstdCompressSync(chunk.subarray(0, PROBE_BYTES), this.#options);
      if (probe.length >= PROBE_BYTES * WORTH) return undefined;
    }
    const packed = zstdCompressSync(chunk, this.#options);
    if (packed.length >= chunk.length * WORTH) return undefined;
    this.lastWireBytes = packed.length;
    return packed;
  }
}

/**
 * The bytes of a compressed DATA payload. Anything that is not a zstd frame,
 * or that expands past the DATA cap, is a protocol error.
 */
export function decompressChunk(payload: Uint8Array): Uint8Array {
  try {
    return zstdDecompressSync(payload, { maxOutputLength: MAX_DATA_PAYLOAD });
  } catch (error) {
    const bomb = error instanceof RangeError;
    throw new FerryError(
      ErrorCode.Protocol,
      bomb
        ? `A compressed DATA frame expands past the ${MAX_DATA_PAYLOAD}-byte limit`
        : "A compressed DATA frame is not valid zstd",
      { cause: error },
    );
  }
}
