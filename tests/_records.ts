// A TCP proxy that understands ferry's encrypted stream (preamble, one
// handshake frame, then length-prefixed records): it can tamper with one
// record, keeps every byte that crossed it, and counts the records.

import { FRAME_HEADER_SIZE, PREAMBLE_SIZE } from "../lib/protocol/frame.ts";
import { tcpProxy } from "./_helpers.ts";

export type Fault = "none" | "flip" | "replay" | "drop" | "reorder";
export type Direction = "to-server" | "to-client";

/**
 * A TCP proxy that understands the start of a ferry stream (preamble, one
 * handshake frame) and then its records, and applies `fault` to record
 * number `record` (from 0) of the stream flowing in `direction`. It keeps
 * every byte that crossed it in `captured`, and counts the records of every
 * connection in `records`, by direction.
 */
export function recordProxy(
  port: number,
  direction: Direction,
  fault: Fault,
  record = 0,
): Deno.TcpListener & AsyncDisposable & {
  captured: Record<Direction, Uint8Array[]>;
  records: Record<Direction, number>;
} {
  const captured: Record<Direction, Uint8Array[]> = { "to-server": [], "to-client": [] };
  const records: Record<Direction, number> = { "to-server": 0, "to-client": 0 };
  const proxy = tcpProxy(port, async (from, to, flow) => {
    const faulty = flow === direction;
    const units = new RecordSplitter();
    let held: Uint8Array | undefined;
    const send = async (bytes: Uint8Array) => {
      let written = 0;
      while (written < bytes.length) written += await to.write(bytes.subarray(written));
    };
    const buffer = new Uint8Array(64 * 1024);
    for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
      captured[flow].push(buffer.slice(0, n));
      for (const unit of units.push(buffer.subarray(0, n))) {
        if (unit.record >= 0) records[flow]++;
        const hit = faulty && unit.record === record;
        if (!hit || fault === "none") {
          await send(unit.bytes);
          if (held !== undefined) await send(held);
          held = undefined;
        } else if (fault === "flip") {
          unit.bytes[unit.bytes.length - 1]! ^= 1;
          await send(unit.bytes);
        } else if (fault === "replay") {
          await send(unit.bytes);
          await send(unit.bytes);
        } else if (fault === "reorder") {
          held = unit.bytes;
        } // drop: nothing
      }
    }
  });
  return Object.assign(proxy, { captured, records });
}

/** Cuts a ferry byte stream into its preamble, handshake frame and records. */
export class RecordSplitter {
  #pending = new Uint8Array(0);
  #stage: "preamble" | "handshake" | "records" = "preamble";
  #records = 0;

  /** The whole units completed by `bytes`; `record` is the record's number, -1 before them. */
  push(bytes: Uint8Array): { bytes: Uint8Array; record: number }[] {
    const joined = new Uint8Array(this.#pending.length + bytes.length);
    joined.set(this.#pending);
    joined.set(bytes, this.#pending.length);
    const units: { bytes: Uint8Array; record: number }[] = [];
    let at = 0;
    while (true) {
      const size = this.#unitSize(joined.subarray(at));
      if (size === undefined || joined.length - at < size) break;
      const record = this.#stage === "records" ? this.#records++ : -1;
      units.push({ bytes: joined.slice(at, at + size), record });
      at += size;
      if (this.#stage === "preamble") this.#stage = "handshake";
      else if (this.#stage === "handshake") this.#stage = "records";
    }
    this.#pending = joined.slice(at);
    return units;
  }

  #unitSize(bytes: Uint8Array): number | undefined {
    if (this.#stage === "preamble") return PREAMBLE_SIZE;
    if (this.#stage === "handshake") {
      if (bytes.length < FRAME_HEADER_SIZE) return undefined;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return FRAME_HEADER_SIZE + view.getUint32(6);
    }
    if (bytes.length < 2) return undefined;
    return 2 + ((bytes[0]! << 8) | bytes[1]!);
  }
}
