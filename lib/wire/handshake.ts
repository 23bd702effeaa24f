/**
 * The start of every connection (docs/PROTOCOL.md): each side sends the
 * plaintext preamble (magic and version, so old and new binaries fail
 * clearly), then the client sends Noise message 1 in a HELLO frame and the
 * server answers with message 2 in an AUTH_OK frame, or with a plaintext
 * ERROR (busy, wrong token). The Noise prologue is the
 * preamble. What follows travels in a {@link SecureTransport}. The token
 * never crosses the wire; only a key derived from it is used.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import {
  FRAME_HEADER_SIZE,
  Kind,
  kindName,
  PREAMBLE_SIZE,
  preambleBytes,
} from "../protocol/frame.ts";
import { encodeError, errorFromPayload } from "../protocol/replies.ts";
import { isClientName } from "../config/client_name.ts";
import { type Frame, FrameReader } from "./frame_reader.ts";
import { FrameWriter } from "./frame_writer.ts";
import { Handshake } from "./noise.ts";
import { pskFor } from "../config/psk.ts";
import { SecureTransport } from "./secure_transport.ts";
import { ZSTD } from "./compression.ts";
import type { Transport } from "./transport.ts";

export { pskFor };

// Handshake frames are small (message 1 is 48 bytes and its payload; an
// ERROR is a sentence): a stranger that has not logged in holds 8 KiB of
// buffers, whatever it announces, instead of a session's megabytes, and a
// header that announces more is refused as soon as it is read.
export const MAX_HANDSHAKE_PAYLOAD = 4096;
const HANDSHAKE_BUFFER = PREAMBLE_SIZE + FRAME_HEADER_SIZE + MAX_HANDSHAKE_PAYLOAD;

/**
 * The encrypted payloads of messages 1 and 2, only readable by a peer that
 * holds the token: what each side can decode (`compress`) and, from the
 * client, its name. Unknown fields are ignored, so either side may add some.
 */
interface Capabilities {
  name?: string;
  compress?: string[];
}

function capabilities(name: string | undefined, decompresses: boolean): Uint8Array {
  const fields: Capabilities = {
    ...(name === undefined ? {} : { name }),
    ...(decompresses ? { compress: [ZSTD] } : {}),
  };
  return new TextEncoder().encode(JSON.stringify(fields));
}

/** What a peer announced; anything malformed counts as nothing announced. */
function capabilitiesOf(payload: Uint8Array): { name?: string; decompresses: boolean } {
  try {
    const { name, compress } = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(payload),
    );
    return {
      ...(isClientName(name) ? { name } : {}),
      decompresses: Array.isArray(compress) && compress.includes(ZSTD),
    };
  } catch {
    return { decompresses: false };
  }
}

function buffers(conn: Transport): { reader: FrameReader; writer: FrameWriter } {
  return {
    reader: new FrameReader(conn, { maxPayload: MAX_HANDSHAKE_PAYLOAD }),
    writer: new FrameWriter(conn, { bufferSize: HANDSHAKE_BUFFER }),
  };
}

async function expectFrame(reader: FrameReader, kind: Kind): Promise<Frame> {
  const frame = await reader.read();
  if (frame === null) {
    throw new FerryError(
      ErrorCode.Connection,
      "The peer closed the connection during the handshake",
    );
  }
  if (frame.kind === Kind.Error && kind !== Kind.Error) {
    throw errorFromPayload(frame.payload);
  }
  if (frame.kind !== kind || frame.id !== 0) {
    throw new FerryError(
      ErrorCode.Protocol,
      `Expected ${kindName(kind)} during the handshake, got ${kindName(frame.kind)}`,
    );
  }
  return frame;
}

/** Nothing may follow a handshake message before the handshake is done. */
function expectNothingBuffered(reader: FrameReader): void {
  if (reader.buffered > 0) {
    throw new FerryError(ErrorCode.Protocol, "Bytes arrived before the handshake was complete");
  }
}

/**
 * The client's side: proves it holds the token's key and checks that the
 * server does too. Throws auth_failed when the server does not know the
 * token, or the server's own refusal (busy).
 */
export async function handshakeAsClient(
  conn: Transport,
  token: string,
  options: { name?: string | undefined; preambleMs?: number } = {},
): Promise<SecureTransport> {
  const psk = await pskFor(token);
  const noise = new Handshake({ initiator: true, psk, prologue: preambleBytes() });
  const { reader, writer } = buffers(conn);
  await writer.preamble();
  // A client always decodes compressed DATA; whether it sends any is its choice (-z).
  const hello = noise.writeMessage1(capabilities(options.name, true));
  await writer.frame(Kind.Hello, 0, hello, { flush: true });
  await readServerPreamble(conn, reader, options.preambleMs ?? PREAMBLE_WAIT_MS);
  const reply = await expectFrame(reader, Kind.AuthOk);
  let server: Uint8Array;
  try {
    server = noise.readMessage2(reply.payload);
  } catch {
    throw new FerryError(
      ErrorCode.AuthFailed,
      "The server does not know this token (or the connection was altered): is this the right server and token?",
    );
  }
  expectNothingBuffered(reader);
  const secure = new SecureTransport(conn, noise.split());
  secure.peerDecompresses = capabilitiesOf(server).decompresses;
  return secure;
}

/**
 * How long a client waits for the server's preamble. A ferry server sends
 * it the moment it accepts, busy or not; a port that says nothing (or waits
 * for its own protocol's request) is not ferry, and is said to be at once
 * rather than after the whole connect timeout.
 */
export const PREAMBLE_WAIT_MS = 5_000;

async function readServerPreamble(
  conn: Transport,
  reader: FrameReader,
  waitMs: number,
): Promise<void> {
  let silent = false;
  const timer = setTimeout(() => {
    silent = true;
    conn.close();
  }, waitMs);
  try {
    await reader.readPreamble();
  } catch (error) {
    if (!silent) throw error;
    throw new FerryError(
      ErrorCode.Protocol,
      `The peer is not ferry: it sent nothing within ${waitMs / 1000} s of connecting`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The server's side of one connection. The preamble goes out at once, so
 * that a client of another version learns it even when it is turned away.
 */
export class ServerHandshake {
  #conn: Transport;
  #reader: FrameReader;
  #writer: FrameWriter;
  #noise: Handshake | undefined;
  /** The name the client gave itself, once verified. */
  clientName: string | undefined;
  /** The client announced that it decodes compressed DATA. */
  clientDecompresses = false;

  constructor(conn: Transport) {
    this.#conn = conn;
    ({ reader: this.#reader, writer: this.#writer } = buffers(conn));
  }

  /** Sends the preamble. */
  async greet(): Promise<void> {
    await this.#writer.preamble();
    await this.#writer.flush();
  }

  /**
   * Reads the client's preamble and message 1: true when the client holds
   * the key of `psk`, false when it does not (the caller delays and
   * refuses). A client of another version, or one that is not ferry,
   * throws. Nothing is answered yet: the caller may still turn it away.
   */
  async verify(psk: Uint8Array): Promise<boolean> {
    const noise = new Handshake({ initiator: false, psk, prologue: preambleBytes() });
    await this.#reader.readPreamble();
    const hello = await expectFrame(this.#reader, Kind.Hello);
    try {
      const announced = capabilitiesOf(noise.readMessage1(hello.payload));
      this.clientName = announced.name;
      this.clientDecompresses = announced.decompresses;
    } catch (error) {
      if (error instanceof FerryError && error.code === ErrorCode.Protocol) return false;
      throw error;
    }
    expectNothingBuffered(this.#reader);
    this.#noise = noise;
    return true;
  }

  /**
   * Sends message 2 to a verified client: the session starts. With
   * `decompresses`, this server announces that it decodes compressed DATA.
   */
  async complete(decompresses = true): Promise<SecureTransport> {
    const noise = this.#noise;
    if (noise === undefined) throw new Error("complete() before a successful verify()");
    const reply = noise.writeMessage2(capabilities(undefined, decompresses));
    await this.#writer.frame(Kind.AuthOk, 0, reply, { flush: true });
    const secure = new SecureTransport(this.#conn, noise.split());
    secure.peerDecompresses = this.clientDecompresses;
    return secure;
  }

  /** Turns the client away with a plaintext ERROR (nothing secret: busy, wrong token). */
  async refuse(code: ErrorCode, message: string): Promise<void> {
    await this.#writer.frame(Kind.Error, 0, encodeError({ code, message }), { flush: true });
  }
}
