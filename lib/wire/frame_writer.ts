/**
 * Writes frames to a transport through one reusable buffer, so that many
 * small frames (the PUT, DATA and END of small files, a stream of acks) leave
 * in few writes, and file bodies are read straight into the buffer behind
 * their header with no copy.
 *
 * Several tasks may write on one connection (a server streams a GET while
 * acks of earlier PUTs complete), so every operation runs under a lock and
 * appends whole frames only.
 *
 * @module
 */

import {
  encodeHeader,
  encodePreamble,
  FLAG_COMPRESSED,
  FRAME_HEADER_SIZE,
  Kind,
  MAX_DATA_PAYLOAD,
  maxPayloadFor,
  PREAMBLE_SIZE,
} from "../protocol/frame.ts";
import { type Transport, writeAll } from "./transport.ts";
import type { ChunkCompressor } from "./compression.ts";

const WRITE_BUFFER_SIZE = MAX_DATA_PAYLOAD + 64 * 1024;

/** Fills a buffer with up to `target.length` bytes; returns how many (0 at the end). */
export type Filler = (target: Uint8Array) => Promise<number>;

export class FrameWriter {
  #transport: Transport;
  #buffer: Uint8Array;
  #length = 0;
  #lock: Promise<unknown> = Promise.resolve();
  #flushQueued = false;
  /** flushSoon() flushes queued behind the lock and not yet started. */
  #flushesQueued = 0;
  #failure: unknown = undefined;
  /** Bytes handed to the transport so far. */
  bytesWritten: number = 0;
  /** performance.now() of the last completed write, for idle timeouts. */
  lastActivity: number = performance.now();

  /** `bufferSize` below the default suits a writer of small frames only (the handshake). */
  constructor(transport: Transport, options: { bufferSize?: number } = {}) {
    this.#transport = transport;
    this.#buffer = new Uint8Array(options.bufferSize ?? WRITE_BUFFER_SIZE);
  }

  /** Queues the preamble; it goes out with the first flush. */
  preamble(): Promise<void> {
    return this.#locked(async () => {
      await this.#reserve(PREAMBLE_SIZE);
      encodePreamble(this.#buffer, this.#length);
      this.#length += PREAMBLE_SIZE;
    });
  }

  /**
   * Queues one frame. With `flush`, it is on the wire when the promise
   * resolves; otherwise it leaves with the next flush or when the buffer fills.
   */
  frame(
    kind: Kind,
    id: number,
    payload: Uint8Array = EMPTY,
    options: { flush?: boolean } = {},
  ): Promise<void> {
    if (payload.length > maxPayloadFor(kind)) {
      return Promise.reject(
        new RangeError(`A frame payload of ${payload.length} bytes is over the limit`),
      );
    }
    return this.#locked(async () => {
      await this.#reserve(FRAME_HEADER_SIZE + payload.length);
      encodeHeader(this.#buffer, this.#length, kind, id, payload.length);
      this.#buffer.set(payload, this.#length + FRAME_HEADER_SIZE);
      this.#length += FRAME_HEADER_SIZE + payload.length;
      if (options.flush) await this.#flush();
    });
  }

  /**
   * Queues one DATA frame whose payload `fill` writes straight into the
   * buffer, at most `max` bytes, and hands the payload to `seen` (to hash it)
   * while the buffer is still locked. With `compressor`, a payload that
   * shrinks enough goes compressed, flagged. Returns the payload size before
   * compression, 0 at the end.
   */
  data(
    id: number,
    max: number,
    fill: Filler,
    seen: (payload: Uint8Array) => void,
    compressor?: ChunkCompressor,
  ): Promise<number> {
    return this.#locked(async () => {
      const room = Math.min(max, MAX_DATA_PAYLOAD);
      // A small body goes behind the frames already queued; a large one
      // flushes them first rather than splitting into a sliver and the rest.
      if (this.#buffer.length - this.#length < FRAME_HEADER_SIZE + room) await this.#flush();
      const start = this.#length + FRAME_HEADER_SIZE;
      const n = await fill(this.#buffer.subarray(start, start + room));
      if (n === 0) return 0;
      const payload = this.#buffer.subarray(start, start + n);
      seen(payload);
      const packed = compressor?.compress(payload);
      if (packed === undefined) {
        encodeHeader(this.#buffer, this.#length, Kind.Data, id, n);
        this.#length = start + n;
      } else {
        this.#buffer.set(packed, start);
        encodeHeader(this.#buffer, this.#length, Kind.Data, id, packed.length, FLAG_COMPRESSED);
        this.#length = start + packed.length;
      }
      return n;
    });
  }

  /** Sends everything queued. */
  flush(): Promise<void> {
    return this.#locked(() => this.#flush());
  }

  /**
   * Flushes once everything queued by the current task is in: acks that
   * complete together leave in one write. A flush that finds a later one
   * queued behind it leaves the work to that one, so frames queued while a
   * write is in progress leave together rather than one write each.
   */
  flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flushesQueued++;
      this.#locked(() => {
        this.#flushesQueued--;
        return this.#flushesQueued > 0 ? Promise.resolve() : this.#flush();
      }).catch(() => {/* recorded in #failure and thrown to the next writer */});
    });
  }

  #locked<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(() => {
      if (this.#failure !== undefined) throw this.#failure;
      return operation();
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  async #reserve(size: number): Promise<void> {
    if (this.#buffer.length - this.#length < size) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#length === 0) return;
    try {
      await writeAll(this.#transport, this.#buffer.subarray(0, this.#length));
    } catch (error) {
      this.#failure = error;
      throw error;
    }
    this.bytesWritten += this.#length;
    this.#length = 0;
    this.lastActivity = performance.now();
  }
}

const EMPTY = new Uint8Array(0);
