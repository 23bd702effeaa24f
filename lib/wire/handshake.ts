/**
 * Mutual challenge–response authentication with the pre-shared token. Each
 * side sends a fresh 32-byte nonce; each proves it knows the token with an
 * HMAC-SHA256 over both nonces and a label naming its role. The token never
 * crosses the wire and proofs are compared in constant time.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import { ErrorCode, FerryError } from "../errors.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import type { Frame, FrameReader } from "./frame_reader.ts";
import type { FrameWriter } from "./frame_writer.ts";
import { NONCE_SIZE, PROOF_SIZE } from "../protocol/constants.ts";
import { decodeError, errorFromMessage, expectSize } from "../protocol/replies.ts";

const encoder = new TextEncoder();

/**
 * The peer's nonce: the first 32 bytes of HELLO. Bytes after it are reserved
 * for a capabilities object in later versions and ignored here, so adding
 * capabilities needs no version break.
 */
function helloNonce(payload: Uint8Array): Uint8Array {
  if (payload.length < NONCE_SIZE) {
    throw new FerryError(
      ErrorCode.Protocol,
      `A HELLO must carry a ${NONCE_SIZE}-byte nonce, got ${payload.length} bytes`,
    );
  }
  return payload.slice(0, NONCE_SIZE);
}
const CLIENT_LABEL = encoder.encode("ferry v1 client proof");
const SERVER_LABEL = encoder.encode("ferry v1 server proof");

function proof(
  token: string,
  label: Uint8Array,
  first: Uint8Array,
  second: Uint8Array,
): Uint8Array {
  return createHmac("sha256", token).update(label).update(first).update(second).digest();
}

function matches(expected: Uint8Array, received: Uint8Array): boolean {
  return received.length === expected.length && timingSafeEqual(expected, received);
}

async function expectFrame(reader: FrameReader, kind: Kind, during: string): Promise<Frame> {
  const frame = await reader.read();
  if (frame === null) {
    throw new FerryError(ErrorCode.Connection, `The peer closed the connection during ${during}`);
  }
  if (frame.kind === Kind.Error && kind !== Kind.Error) {
    throw errorFromMessage(decodeError(frame.payload));
  }
  if (frame.kind !== kind) {
    throw new FerryError(
      ErrorCode.Protocol,
      `Expected ${kindName(kind)} during ${during}, got ${kindName(frame.kind)}`,
    );
  }
  return frame;
}

/** The client's side; throws auth_failed when either side's proof is wrong. */
export async function authenticateToServer(
  reader: FrameReader,
  writer: FrameWriter,
  token: string,
): Promise<void> {
  const clientNonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
  await writer.preamble();
  await writer.frame(Kind.Hello, 0, clientNonce, { flush: true });
  await reader.readPreamble();
  const hello = await expectFrame(reader, Kind.Hello, "the greeting");
  const serverNonce = helloNonce(hello.payload);
  await writer.frame(Kind.Auth, 0, proof(token, CLIENT_LABEL, serverNonce, clientNonce), {
    flush: true,
  });
  const ok = await expectFrame(reader, Kind.AuthOk, "authentication");
  if (
    !matches(
      proof(token, SERVER_LABEL, clientNonce, serverNonce),
      expectSize(ok.payload, PROOF_SIZE, "A proof"),
    )
  ) {
    throw new FerryError(
      ErrorCode.AuthFailed,
      "The server could not prove it knows the token: is this the right server and token?",
    );
  }
}

/**
 * The server's side. Returns true when the client proved it knows the token;
 * the caller answers a false with a delayed ERROR (rate limiting lives there).
 */
export async function authenticateClient(
  reader: FrameReader,
  writer: FrameWriter,
  token: string,
): Promise<boolean> {
  const serverNonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
  await writer.preamble();
  await writer.frame(Kind.Hello, 0, serverNonce, { flush: true });
  await reader.readPreamble();
  const hello = await expectFrame(reader, Kind.Hello, "the greeting");
  const clientNonce = helloNonce(hello.payload);
  const auth = await expectFrame(reader, Kind.Auth, "authentication");
  if (!matches(proof(token, CLIENT_LABEL, serverNonce, clientNonce), auth.payload)) return false;
  await writer.frame(Kind.AuthOk, 0, proof(token, SERVER_LABEL, clientNonce, serverNonce), {
    flush: true,
  });
  return true;
}
