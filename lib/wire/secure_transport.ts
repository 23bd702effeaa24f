/**
 * The record layer: after the handshake every byte travels in Noise
 * transport messages, each a 2-byte big-endian length and then at most
 * 65,535 bytes of ChaCha20-Poly1305 ciphertext and tag. The nonce is a
 * per-direction counter that is never sent, so a replayed, dropped or
 * reordered record fails to decrypt; any such failure ends the connection
 * without a reply. Both directions rekey every 2^16 records.
 *
 * It is a {@link Transport}, so the frame reader and writer above it do not
 * change: a flush of many small frames becomes one record (one AEAD call),
 * and a DATA frame spans records.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { type CipherState, MAX_MESSAGE, type Session, TAG_LENGTH } from "./noise.ts";
import { ReadBuffer } from "./read_buffer.ts";
import { type Transport, truncatedStream, writeAll } from "./transport.ts";

/** Bytes of the length before each record. */
const LENGTH_SIZE = 2;
/** Most plaintext one record carries. */
export const MAX_RECORD_PLAINTEXT = MAX_MESSAGE - TAG_LENGTH;
/** Records per direction between two rekeys. */
export const REKEY_INTERVAL = 2n ** 16n;
// Room for 16 whole records (1 MiB, one DATA frame's worth): one socket read
// brings many, and they are opened together. Back to back here, a 1 GiB get
// took 2.7-2.9 s with 16 against 3.1-3.4 s with 4 (later runs were noisier).
const RAW_BUFFER_SIZE = 16 * (LENGTH_SIZE + MAX_MESSAGE);

/** A transport whose bytes are sealed into records on the way out and opened on the way in. */
export class SecureTransport implements Transport {
  /** The handshake hash: the same on both ends, and unique to this session. */
  readonly sessionId: Uint8Array;
  /** The peer announced that it decodes zstd-compressed DATA (set by the handshake). */
  peerDecompresses = false;
  #inner: Transport & { closeWrite?: () => Promise<void> };
  #send: CipherState;
  #receive: CipherState;
  /** Sealed records of one write, reused (grows to the largest write). */
  #out: Uint8Array = new Uint8Array(0);
  #raw = new ReadBuffer(RAW_BUFFER_SIZE);
  /** Opened plaintext not yet handed to the reader. */
  #plain: Uint8Array = new Uint8Array(0);
  /** Set when a record failed to open: nothing more is sent or received. */
  #broken: FerryError | undefined;

  constructor(inner: Transport, session: Session) {
    this.#inner = inner;
    this.#send = session.send;
    this.#receive = session.receive;
    this.sessionId = session.handshakeHash;
  }

  /** Seals `bytes` into as few records as fit and sends them in one write. */
  async write(bytes: Uint8Array): Promise<number> {
    if (this.#broken !== undefined) throw this.#broken;
    const records = Math.max(1, Math.ceil(bytes.length / MAX_RECORD_PLAINTEXT));
    const size = bytes.length + records * (LENGTH_SIZE + TAG_LENGTH);
    if (this.#out.length < size) this.#out = new Uint8Array(size);
    const out = this.#out;
    let at = 0;
    for (let offset = 0; offset < bytes.length || at === 0; offset += MAX_RECORD_PLAINTEXT) {
      const chunk = bytes.subarray(offset, offset + MAX_RECORD_PLAINTEXT);
      const sealed = this.#send.sealInto(out.subarray(at + LENGTH_SIZE), chunk);
      out[at] = sealed >>> 8;
      out[at + 1] = sealed & 0xff;
      at += LENGTH_SIZE + sealed;
      if (this.#send.counter % REKEY_INTERVAL === 0n) this.#send.rekey();
    }
    await writeAll(this.#inner, out.subarray(0, at));
    return bytes.length;
  }

  /**
   * Fills `target` with plaintext: at least one byte, more when whole
   * records are already buffered. Null at a clean end between records.
   */
  async read(target: Uint8Array): Promise<number | null> {
    if (this.#broken !== undefined) throw this.#broken;
    if (this.#plain.length === 0) {
      const record = await this.#nextRecord(true);
      if (record === null) return null;
      this.#plain = this.#open(record);
    }
    let filled = this.#take(target);
    // Records already here are opened too: one await can bring many frames.
    while (filled < target.length) {
      const record = await this.#nextRecord(false);
      if (record === null) break;
      this.#plain = this.#open(record);
      filled += this.#take(target.subarray(filled));
    }
    return filled;
  }

  close(): void {
    this.#inner.close();
  }

  /** Ends the sending direction (the peer reads a clean end), where the transport can. */
  async closeWrite(): Promise<void> {
    await this.#inner.closeWrite?.();
  }

  #take(target: Uint8Array): number {
    const n = Math.min(target.length, this.#plain.length);
    target.set(this.#plain.subarray(0, n));
    this.#plain = this.#plain.subarray(n);
    return n;
  }

  #open(record: Uint8Array): Uint8Array {
    try {
      const plaintext = this.#receive.open(record);
      if (this.#receive.counter % REKEY_INTERVAL === 0n) this.#receive.rekey();
      return plaintext;
    } catch (error) {
      // Nothing more is sent either: the peer gets no reply, only the closed connection.
      this.#broken = new FerryError(
        ErrorCode.Protocol,
        "A record failed to decrypt: the connection was altered, replayed or cut",
        { cause: error },
      );
      throw this.#broken;
    }
  }

  /**
   * The next whole record (ciphertext and tag), as a view valid until the
   * next call. With `wait` false, only one already buffered, else null.
   */
  async #nextRecord(wait: boolean): Promise<Uint8Array | null> {
    const raw = this.#raw;
    if (!await this.#have(LENGTH_SIZE, wait)) {
      if (!wait || raw.buffered === 0) return null;
      throw truncatedStream("a record");
    }
    const length = (raw.bytes[raw.start]! << 8) | raw.bytes[raw.start + 1]!;
    if (length < TAG_LENGTH) {
      // As a record that fails to open: the connection ends with no reply.
      this.#broken = new FerryError(ErrorCode.Protocol, `A record of ${length} bytes is too short`);
      throw this.#broken;
    }
    if (!await this.#have(LENGTH_SIZE + length, wait)) {
      if (!wait) return null;
      throw truncatedStream("a record");
    }
    return this.#raw.take(LENGTH_SIZE + length).subarray(LENGTH_SIZE);
  }

  /** Whether `wanted` bytes are buffered, reading more only when `wait` allows it. */
  async #have(wanted: number, wait: boolean): Promise<boolean> {
    if (this.#raw.buffered >= wanted) return true;
    return wait && await this.#raw.fill(this.#inner, wanted) >= wanted;
  }
}
