/**
 * One fixed buffer that a byte stream is read into, for the readers that
 * cut it into units (frames, records): it fills until a unit is whole,
 * moving a partial unit to the front only when it would not fit, and never
 * allocates after construction.
 *
 * @module
 */

import type { Transport } from "./transport.ts";

/** Bytes received and not yet consumed, in a buffer of fixed size. */
export class ReadBuffer {
  readonly bytes: Uint8Array;
  /** Where the unconsumed bytes start and end in {@link ReadBuffer.bytes}. */
  start = 0;
  end = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.end - this.start;
  }

  /**
   * Reads from `transport` until `wanted` bytes are buffered or it ends;
   * returns how many are buffered. `wanted` must fit the buffer.
   */
  async fill(transport: Pick<Transport, "read">, wanted: number): Promise<number> {
    if (this.end - this.start >= wanted) return this.end - this.start;
    if (this.start === this.end) {
      // All consumed: start again at the front, so a stream of small units keeps to the
      // buffer's first pages instead of touching (making resident) all of it in turn.
      this.start = this.end = 0;
    } else if (this.bytes.length - this.start < wanted) {
      // Move the partial unit to the front; it is smaller than one unit.
      this.bytes.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    while (this.end - this.start < wanted) {
      const n = await transport.read(this.bytes.subarray(this.end));
      if (n === null) break;
      this.end += n;
    }
    return this.end - this.start;
  }

  /** The next `length` bytes, consumed: a view valid until the next fill. */
  take(length: number): Uint8Array {
    const view = this.bytes.subarray(this.start, this.start + length);
    this.start += length;
    return view;
  }
}
