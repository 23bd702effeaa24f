/**
 * Reads frames from a transport through one fixed buffer. Payloads are views
 * into that buffer, valid until the next call: the hot path allocates no
 * buffers, and a header can never make it allocate at all.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import {
  decodeHeader,
  decodePreamble,
  FLAG_COMPRESSED,
  FRAME_HEADER_SIZE,
  type Kind,
  MAX_DATA_PAYLOAD,
  PREAMBLE_SIZE,
} from "../protocol/frame.ts";
import { ReadBuffer } from "./read_buffer.ts";
import { decompressChunk } from "./compression.ts";
import { type Transport, truncatedStream } from "./transport.ts";

export { isTruncation } from "./transport.ts";

/** A received frame. Reused between calls: copy what must outlive the next read. */
export interface Frame {
  kind: Kind;
  id: number;
  payload: Uint8Array;
  /** The payload's size on the wire: smaller than `payload` when it came compressed. */
  wireBytes?: number;
}

// Room for one largest frame plus the start of the next, so small frames
// batch into few reads and a full DATA frame never needs a second buffer.
const READ_BUFFER_SIZE = 2 * MAX_DATA_PAYLOAD + 2 * FRAME_HEADER_SIZE;

export class FrameReader {
  #transport: Transport;
  #buffer: ReadBuffer;
  #frame: Frame = { kind: 0 as Kind, id: 0, payload: new Uint8Array(0) };
  #maxPayload: number | undefined;
  /** performance.now() of the last bytes received, for idle timeouts. */
  lastActivity: number = performance.now();
  /** Bytes received so far. */
  bytesRead: number = 0;
  /**
   * Compressed DATA is accepted (and handed on decompressed) only once this
   * side announced it can decode it; before that, such a frame is a protocol error.
   */
  acceptCompressed = false;

  /**
   * With `maxPayload`, a frame whose header announces more is a protocol
   * error as soon as the header is read (the handshake's frames are small),
   * and the buffer holds no more than one such frame.
   */
  constructor(transport: Transport, options: { maxPayload?: number } = {}) {
    this.#transport = transport;
    this.#maxPayload = options.maxPayload;
    this.#buffer = new ReadBuffer(
      options.maxPayload === undefined
        ? READ_BUFFER_SIZE
        : PREAMBLE_SIZE + FRAME_HEADER_SIZE + options.maxPayload,
    );
  }

  /** Bytes already received and not yet returned as frames. */
  get buffered(): number {
    return this.#buffer.buffered;
  }

  /** Whether a whole frame is buffered, so that read() will not wait for the peer. */
  get hasFrame(): boolean {
    const { buffered, bytes, start } = this.#buffer;
    return buffered >= FRAME_HEADER_SIZE &&
      buffered >= FRAME_HEADER_SIZE + decodeHeader(bytes, start).length;
  }

  /** Reads and checks the peer's preamble (magic and protocol version). */
  async readPreamble(): Promise<number> {
    const available = await this.#fill(PREAMBLE_SIZE);
    return decodePreamble(this.#buffer.take(Math.min(available, PREAMBLE_SIZE)));
  }

  /**
   * The next frame, or null when the peer closed cleanly between frames.
   * A close inside a frame is a protocol error: a stream that merely stopped
   * must never pass for a complete message.
   */
  async read(): Promise<Frame | null> {
    const available = await this.#fill(FRAME_HEADER_SIZE);
    if (available === 0) return null;
    if (available < FRAME_HEADER_SIZE) throw truncated();
    const header = decodeHeader(this.#buffer.bytes, this.#buffer.start);
    const total = FRAME_HEADER_SIZE + header.length;
    if (this.#maxPayload !== undefined && header.length > this.#maxPayload) {
      throw new FerryError(
        ErrorCode.Protocol,
        `A frame of ${header.length} bytes is not allowed at this point (at most ${this.#maxPayload})`,
      );
    }
    if (await this.#fill(total) < total) throw truncated();
    const frame = this.#frame;
    frame.kind = header.kind;
    frame.id = header.id;
    frame.payload = this.#buffer.take(total).subarray(FRAME_HEADER_SIZE);
    frame.wireBytes = header.length;
    if (header.flags === FLAG_COMPRESSED) {
      if (!this.acceptCompressed) {
        throw new FerryError(
          ErrorCode.Protocol,
          "A compressed DATA frame arrived, but compression was not agreed on",
        );
      }
      frame.payload = decompressChunk(frame.payload);
    }
    return frame;
  }

  /** Reads until `wanted` bytes are buffered or the peer closes; returns what is buffered. */
  async #fill(wanted: number): Promise<number> {
    const before = this.#buffer.buffered;
    const available = await this.#buffer.fill(this.#transport, wanted);
    const received = available - before;
    if (received > 0) {
      this.bytesRead += received;
      this.lastActivity = performance.now();
    }
    return available;
  }
}

function truncated(): FerryError {
  return truncatedStream("a frame");
}
