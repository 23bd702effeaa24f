/**
 * The frame layer of the ferry wire protocol (docs/PROTOCOL.md): a fixed
 * 8-byte preamble, then frames of a 10-byte header and a bounded payload.
 * Pure: bytes in, bytes out, no I/O.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";

/**
 * Version of the wire protocol; bumped only for incompatible changes.
 * Version 2 encrypts and authenticates every byte after the handshake.
 */
export const PROTOCOL_VERSION = 2;

/** "FERRY" and a NUL byte, then the version as a big-endian u16. */
export const MAGIC = new Uint8Array([0x46, 0x45, 0x52, 0x52, 0x59, 0x00]);
export const PREAMBLE_SIZE = MAGIC.length + 2;

/** kind u8, flags u8, request id u32, payload length u32 (all big-endian). */
export const FRAME_HEADER_SIZE = 10;

/**
 * The DATA flag for a zstd-compressed payload (`-z`), allowed only when the
 * receiver announced it can decode it; decompressed, a payload is at most
 * {@link MAX_DATA_PAYLOAD} bytes too.
 */
export const FLAG_COMPRESSED = 0x01;

/** Largest payload of a DATA frame: the unit a file body is cut into. */
export const MAX_DATA_PAYLOAD = 1024 * 1024;
/** Largest payload of any other frame (JSON messages, digests, nonces). */
export const MAX_CONTROL_PAYLOAD = 64 * 1024;

/** Frame kinds. Values are part of the protocol: never reuse one. */
export const Kind = {
  /** Noise handshake message 1, from the client. */
  Hello: 0x01,
  /** Version 1's proof; not sent since version 2. */
  Auth: 0x02,
  /** Noise handshake message 2, from the server. */
  AuthOk: 0x03,
  Error: 0x04,
  Ok: 0x05,
  Notice: 0x06,
  Put: 0x10,
  Data: 0x11,
  End: 0x12,
  Cancel: 0x13,
  Resume: 0x14,
  Get: 0x20,
  File: 0x21,
  Dir: 0x22,
  Stat: 0x30,
  Mkdir: 0x31,
  List: 0x32,
  Entries: 0x33,
  Remove: 0x34,
  Rename: 0x35,
  /** Watch a folder: the server pushes ENTRIES of what arrives in it until the connection ends. */
  Watch: 0x36,
} as const;

/** One of the {@link Kind} values. */
export type Kind = typeof Kind[keyof typeof Kind];

const KIND_NAMES = new Map<number, string>(
  Object.entries(Kind).map(([name, value]) => [value, name]),
);

/** The name of a frame kind for messages and logs ("Put", "0x7f"). */
export function kindName(kind: number): string {
  return KIND_NAMES.get(kind) ?? `0x${kind.toString(16).padStart(2, "0")}`;
}

/** A decoded frame header. */
export interface FrameHeader {
  kind: Kind;
  flags: number;
  id: number;
  length: number;
}

/** Writes the preamble into `target` at `offset`. */
export function encodePreamble(target: Uint8Array, offset = 0): void {
  target.set(MAGIC, offset);
  new DataView(target.buffer, target.byteOffset, target.byteLength)
    .setUint16(offset + MAGIC.length, PROTOCOL_VERSION);
}

/** The preamble as bytes: also the Noise prologue, which binds it into the handshake. */
export function preambleBytes(): Uint8Array {
  const bytes = new Uint8Array(PREAMBLE_SIZE);
  encodePreamble(bytes);
  return bytes;
}

/**
 * Reads a peer's preamble and returns its protocol version. Throws a protocol
 * error when the magic is wrong (not a ferry peer) and a version error when the
 * peer speaks another version, so old and new binaries fail clearly.
 */
export function decodePreamble(bytes: Uint8Array): number {
  if (bytes.length < PREAMBLE_SIZE) {
    throw new FerryError(ErrorCode.Protocol, "The peer closed the connection before greeting");
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new FerryError(
        ErrorCode.Protocol,
        `The peer is not ferry: it began with "${greetingText(bytes)}" (bad magic)`,
      );
    }
  }
  const version = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .getUint16(MAGIC.length);
  if (version !== PROTOCOL_VERSION) {
    throw new FerryError(
      ErrorCode.Version,
      `The peer speaks ferry protocol ${version}, this binary speaks ${PROTOCOL_VERSION}: ` +
        "install the same ferry version on both machines",
    );
  }
  return version;
}

/** What a peer that is not ferry sent first, as printable text ("HTTP/1.", "\\x16\\x03\\x01"). */
function greetingText(bytes: Uint8Array): string {
  return Array.from(
    bytes.subarray(0, PREAMBLE_SIZE),
    (byte) =>
      byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`,
  ).join("");
}

/** Writes a frame header into `target` at `offset`. */
export function encodeHeader(
  target: Uint8Array,
  offset: number,
  kind: Kind,
  id: number,
  length: number,
  flags = 0,
): void {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint8(offset, kind);
  view.setUint8(offset + 1, flags);
  view.setUint32(offset + 2, id);
  view.setUint32(offset + 6, length);
}

/** The largest payload a frame of this kind may carry. */
export function maxPayloadFor(kind: number): number {
  return kind === Kind.Data ? MAX_DATA_PAYLOAD : MAX_CONTROL_PAYLOAD;
}

/**
 * Decodes and validates a frame header at `offset`. The length is checked
 * against the cap for the kind before anything is allocated, so a header can
 * never make the receiver buffer more than {@link MAX_DATA_PAYLOAD} bytes.
 */
export function decodeHeader(bytes: Uint8Array, offset = 0): FrameHeader {
  if (bytes.length - offset < FRAME_HEADER_SIZE) {
    throw new RangeError(`A frame header needs ${FRAME_HEADER_SIZE} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = view.getUint8(offset);
  const flags = view.getUint8(offset + 1);
  const id = view.getUint32(offset + 2);
  const length = view.getUint32(offset + 6);
  if (!KIND_NAMES.has(kind)) {
    throw new FerryError(ErrorCode.Protocol, `Unknown frame kind ${kindName(kind)}`);
  }
  // The one flag: a compressed DATA payload (negotiated in the handshake first).
  if (flags !== 0 && !(flags === FLAG_COMPRESSED && kind === Kind.Data)) {
    throw new FerryError(
      ErrorCode.Protocol,
      `Unsupported flags 0x${flags.toString(16)} on a ${kindName(kind)} frame`,
    );
  }
  const max = maxPayloadFor(kind);
  if (length > max) {
    throw new FerryError(
      ErrorCode.Protocol,
      `A ${kindName(kind)} frame announces ${length} bytes, more than the limit of ${max}`,
    );
  }
  return { kind: kind as Kind, flags, id, length };
}
