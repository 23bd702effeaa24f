/**
 * The byte stream a ferry connection runs over. TCP today (Deno.Conn
 * satisfies it as is), TLS later, in-memory pipes in tests.
 *
 * @module
 */

import { ErrorCode, FerryError, UnknownHostError } from "../errors.ts";

/** What the frame reader and writer need from a connection. */
export interface Transport {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

const TRUNCATED = Symbol("truncated");

/** The error for a stream that ended inside `what` ("a frame", "a record"). */
export function truncatedStream(what: string): FerryError {
  return new FerryError(ErrorCode.Protocol, `The connection closed in the middle of ${what}`, {
    cause: TRUNCATED,
  });
}

/**
 * Whether `error` is a stream that stopped inside a frame or record: never
 * a complete message, but to a client usually a dropped link or a killed
 * server rather than a peer that breaks the protocol.
 */
export function isTruncation(error: unknown): boolean {
  return error instanceof FerryError && error.cause === TRUNCATED;
}

/** Writes all of `bytes`, looping on partial writes (TLS writes at most 64 KiB a call). */
export async function writeAll(
  transport: Pick<Transport, "write">,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await transport.write(written === 0 ? bytes : bytes.subarray(written));
  }
}

/**
 * Opens a TCP connection with Nagle's algorithm off (Deno leaves it on) and
 * keepalive on, so that a peer that vanished without a word (a machine
 * switched off, a NAT that forgot the flow) is noticed by the system even
 * when neither side has anything to send.
 */
export async function connectTcp(
  host: string,
  port: number,
  options: { signal?: AbortSignal } = {},
): Promise<Deno.TcpConn> {
  const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  try {
    const conn = await Deno.connect({
      hostname: host,
      port,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    conn.setNoDelay(true);
    conn.setKeepAlive(true);
    return conn;
  } catch (error) {
    throw connectFailure(target, error);
  }
}

/** Why connecting to `target` failed, in words; an unknown host name is not worth a retry. */
export function connectFailure(target: string, error: unknown): FerryError {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new FerryError(
      ErrorCode.Connection,
      `Cannot connect to ${target}: connection refused (is "ferry serve" running there?)`,
      { cause: error },
    );
  }
  // Every failure to connect (unknown host, unreachable network, timeout) is a connection failure.
  const detail = error instanceof Error ? error.message : String(error);
  // getaddrinfo's EAI_NONAME: the name does not exist (EAI_AGAIN, a name server down, may pass).
  if (/Name or service not known|No address associated with hostname/.test(detail)) {
    return new FerryError(
      ErrorCode.Connection,
      `Cannot connect to ${target}: no host has that name (check the spelling)`,
      { cause: new UnknownHostError(detail) },
    );
  }
  return new FerryError(ErrorCode.Connection, `Cannot connect to ${target}: ${detail}`, {
    cause: error,
  });
}

/**
 * Listens on `hostname`; by default (`dualStack`) on "::", which on Linux
 * takes IPv4 and IPv6 clients alike, or on 0.0.0.0 where IPv6 is off.
 */
export function listenTcp(hostname: string, port: number, dualStack: boolean): Deno.TcpListener {
  try {
    return Deno.listen({ hostname, port });
  } catch (error) {
    if (!dualStack || error instanceof Deno.errors.AddrInUse) throw error;
    return Deno.listen({ hostname: "0.0.0.0", port });
  }
}
