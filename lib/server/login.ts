/**
 * Logging in: whether a new connection gets a session. The server must
 * have room, the address must not have too many wrong logins waiting for
 * their answer, and the handshake must prove the client holds the token's
 * key; a wrong token is answered only after the address's delay (see
 * admission.ts). Only then does the server send Noise message 2.
 *
 * @module
 */

import { ErrorCode } from "../errors.ts";
import type { ServerHandshake } from "../wire/handshake.ts";
import type { SecureTransport } from "../wire/secure_transport.ts";
import { type Admission, BUSY } from "./admission.ts";

/** What a login needs of its server. */
export interface LoginContext {
  /** The client's address, without its port: what failures are counted by. */
  address: string;
  /** The key derived from the server's token. */
  psk: Uint8Array;
  /** Whether the server is shutting down (checked again after the delay). */
  draining: () => boolean;
  /** This server decodes compressed DATA, and says so in message 2. */
  compression: boolean;
}

/** The session's encrypted transport, or the refusal to send (code and message). */
export async function logIn<T>(
  connection: T,
  handshake: ServerHandshake,
  admission: Admission<T>,
  context: LoginContext,
): Promise<SecureTransport | [ErrorCode, string]> {
  const refusal = context.draining() ? BUSY : admission.refusal(context.address);
  if (refusal !== undefined) return refusal;
  if (!(await handshake.verify(context.psk))) {
    await admission.failed(connection, context.address);
    return [ErrorCode.AuthFailed, "Authentication failed: the token does not match the server's"];
  }
  if (context.draining() || !admission.admit(connection)) return BUSY;
  return await handshake.complete(context.compression);
}
