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
  /** What the last chunk took on the wire: compressed or not (for --limit-rate). */
  lastWireBytes = 0;

  constructor(level: number = COMPRESS_LEVELS.default) {
    this.#level = level;
  }

  #level: number;

  /** `chunk` compressed, or undefined when it would not shrink enough to be worth it. */
  compress(chunk: Uint8Array): Uint8Array | undefined {
    this.lastWireBytes = chunk.length;
    if (chunk.length > 2 * PROBE_BYTES) {
      const probe = this.#pack(chunk.subarray(0, PROBE_BYTES));
      if (probe.length >= PROBE_BYTES * WORTH) return undefined;
    }
    const packed = this.#pack(chunk);
    // One whole zstd frame and nothing else, as the receiver requires.
    if (packed.length >= chunk.length * WORTH || zstdFrameLength(packed) !== packed.length) {
      return undefined;
    }
    this.lastWireBytes = packed.length;
    return packed;
  }

  /**
   * node:zlib compresses through an output buffer of `chunkSize` and, when
   * the output fills one exactly, can add an empty second frame: an output
   * buffer larger than any output worth sending leaves one frame.
   */
  #pack(chunk: Uint8Array): Uint8Array {
    return zstdCompressSync(chunk, {
      chunkSize: chunk.length + 1024,
      params: { [constants.ZSTD_c_compressionLevel]: this.#level },
    });
  }
}

/**
 * The bytes of a compressed DATA payload. Anything that is not exactly one
 * whole zstd frame (a truncated frame, one followed by more bytes, two
 * frames, a skippable frame), or that expands past the DATA cap, is a
 * protocol error.
 */
export function decompressChunk(payload: Uint8Array): Uint8Array {
  const length = zstdFrameLength(payload);
  if (length !== payload.length) {
    throw new FerryError(
      ErrorCode.Protocol,
      length === undefined
        ? "A compressed DATA frame is not one whole zstd frame"
        : `A compressed DATA frame holds ${payload.length - length} bytes after its zstd frame`,
    );
  }
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

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The length of the zstd frame at the start of `bytes` (RFC 8878 §3.1.1),
 * walked from its header and block headers without decompressing; undefined
 * when it is not a zstd frame or ends before its last block.
 */
export function zstdFrameLength(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 6 || view.getUint32(0, true) !== ZSTD_MAGIC) return undefined;
  const descriptor = bytes[4]!;
  if ((descriptor & 0x08) !== 0) return undefined; // the reserved bit
  const singleSegment = (descriptor & 0x20) !== 0;
  const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6]!;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 0x03]!;
  let at = 5 + (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
  while (true) {
    if (at + 3 > bytes.length) return undefined;
    const header = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
    const last = (header & 1) === 1;
    const type = (header >> 1) & 0x03;
    const size = header >>> 3;
    if (type === 3) return undefined; // reserved
    // A raw or compressed block carries `size` bytes; an RLE block one byte repeated.
    at += 3 + (type === 1 ? 1 : size);
    if (at > bytes.length) return undefined;
    if (last) break;
  }
  if ((descriptor & 0x04) !== 0) at += 4; // the content checksum
  return at <= bytes.length ? at : undefined;
}
