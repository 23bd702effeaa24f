// Helpers shared by the tests: real temp folders, real servers on 127.0.0.1
// port 0, and raw protocol peers that speak ferry's codec directly (to send
// what a well-behaved client or server never would).

import { connect } from "../lib/client/connect.ts";
import { Kind } from "../lib/protocol/frame.ts";
import { type Frame, FrameReader } from "../lib/wire/frame_reader.ts";
import { FrameWriter } from "../lib/wire/frame_writer.ts";
import { handshakeAsClient, pskFor, ServerHandshake } from "../lib/wire/handshake.ts";
import type { SecureTransport } from "../lib/wire/secure_transport.ts";
import { FerryServer, type ServerEvent, type ServerOptions } from "../lib/server/server.ts";
import type { Transport } from "../lib/wire/transport.ts";
import type { FerryClient } from "../mod.ts";

export const TOKEN = "test-token-0123456789abcdef";

export { SHIPPED_PERMISSIONS, SHIPPED_RUNTIME_FLAGS } from "../scripts/permissions.ts";
export { freePort } from "../scripts/_net.ts";

export const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A temporary folder removed at the end of the scope. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "ferry-test-" }));
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** A server on 127.0.0.1 with a free port, closed at the end of the scope. */
export async function startServer(
  root: string,
  options: Partial<ServerOptions> = {},
): Promise<FerryServer & { events: ServerEvent[] }> {
  const events: ServerEvent[] = [];
  const server = await FerryServer.listen({
    root,
    token: TOKEN,
    host: "127.0.0.1",
    port: 0,
    authFailureDelayMs: 10,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return Object.assign(server, { events });
}

export function connectTo(server: FerryServer, token = TOKEN): Promise<FerryClient> {
  return connect({ host: "127.0.0.1", port: server.port, token });
}

/** Bytes with a recognisable, non-repeating pattern. */
export function patternBytes(size: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Every path under `root`, relative, sorted (to prove nothing else appeared). */
export async function listTree(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
    const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
    out.push(path);
    if (entry.isDirectory) out.push(...await listTree(root, path));
  }
  return out.sort();
}

/** An in-memory transport that hands out `input` at most `chunk` bytes per read. */
export class ChunkedTransport implements Transport {
  #input: Uint8Array;
  #offset = 0;
  #chunk: number;
  written: Uint8Array[] = [];

  constructor(input: Uint8Array, chunk: number) {
    this.#input = input;
    this.#chunk = chunk;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#offset >= this.#input.length) return Promise.resolve(null);
    const n = Math.min(this.#chunk, buffer.length, this.#input.length - this.#offset);
    buffer.set(this.#input.subarray(this.#offset, this.#offset + n));
    this.#offset += n;
    return Promise.resolve(n);
  }

  write(bytes: Uint8Array): Promise<number> {
    // Accept at most 7 bytes a call to exercise partial-write loops.
    const n = Math.min(7, bytes.length);
    this.written.push(bytes.slice(0, n));
    return Promise.resolve(n);
  }

  close(): void {}

  get output(): Uint8Array {
    return concat(this.written);
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The client's handshake with the test token; what follows is encrypted. */
export function clientHandshake(conn: Deno.TcpConn): Promise<SecureTransport> {
  return handshakeAsClient(conn, TOKEN);
}

/** The server's handshake with the test token, for rogue servers; null when the token differs. */
export async function serverHandshake(conn: Deno.TcpConn): Promise<SecureTransport | null> {
  const handshake = new ServerHandshake(conn);
  await handshake.greet();
  return await handshake.verify(await pskFor(TOKEN)) ? await handshake.complete() : null;
}

/** Where a raw client writes: the TCP connection, or after the handshake its encrypted transport. */
type RawConn = Transport & { closeWrite(): Promise<void> };

/** A raw, authenticated protocol connection for sending frames a real client never would. */
export class RawClient implements AsyncDisposable {
  /** Bytes written here reach the server's frame parser (encrypted, once authenticated). */
  conn: RawConn;
  reader: FrameReader;
  writer: FrameWriter;
  #tcp: Deno.TcpConn;

  private constructor(tcp: Deno.TcpConn, conn: RawConn) {
    this.#tcp = tcp;
    this.conn = conn;
    this.reader = new FrameReader(conn);
    this.writer = new FrameWriter(conn);
  }

  static async open(server: FerryServer, authenticate = true): Promise<RawClient> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    return new RawClient(tcp, authenticate ? await clientHandshake(tcp) : tcp);
  }

  send(kind: Kind, id: number, payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    return this.writer.frame(kind, id, payload, { flush: true });
  }

  /** The next frame, copied, or null at EOF; a reset connection also counts as closed. */
  async next(): Promise<{ kind: Kind; id: number; payload: Uint8Array; text: string } | null> {
    let frame: Frame | null;
    try {
      frame = await this.reader.read();
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) return null;
      throw error;
    }
    if (frame === null) return null;
    const payload = frame.payload.slice();
    return { kind: frame.kind, id: frame.id, payload, text: new TextDecoder().decode(payload) };
  }

  /** Reads until the server closes; returns the frames seen. */
  async drain(): Promise<{ kind: Kind; text: string }[]> {
    const frames: { kind: Kind; text: string }[] = [];
    try {
      for (let frame = await this.next(); frame !== null; frame = await this.next()) {
        frames.push(frame);
      }
    } catch { /* a protocol error while reading what the server sent last */ }
    return frames;
  }

  [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#tcp.close();
    } catch { /* closed by the server */ }
    return Promise.resolve();
  }
}

export { Kind };

export const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/**
 * A TCP proxy on a free loopback port in front of `port`: each connection is
 * two `pipe` calls, one per direction, which forward (or not) what they read.
 * Both ends are closed when a pipe returns; disposing stops accepting and
 * waits for every pipe.
 */
export function tcpProxy(
  port: number,
  pipe: (from: Deno.Conn, to: Deno.Conn, flow: "to-server" | "to-client") => Promise<void>,
): Deno.TcpListener & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pipes: Promise<void>[] = [];
  const run = async (from: Deno.Conn, to: Deno.Conn, flow: "to-server" | "to-client") => {
    try {
      await pipe(from, to, flow);
    } catch { /* either side closed */ }
    for (const conn of [from, to]) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port });
      pipes.push(run(client, server, "to-server"), run(server, client, "to-client"));
    }
  })();
  return Object.assign(listener, {
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await accepting.catch(() => {});
      await Promise.all(pipes);
    },
  });
}

/**
 * A TCP proxy in front of `port` that, in the stream flowing in `direction`,
 * flips one byte at `offset` (once, for every connection), or with "freeze"
 * forwards nothing from `offset` on while keeping the connection open (a
 * dead link that TCP does not notice), or with "cut" closes the connection
 * there. "vanish" freezes too, and when the client gives up, the server is
 * never told: its side stays open until the proxy is disposed (a link that
 * died, or a client machine switched off). With `only`, the fault hits only
 * the n-th connection (from 1).
 */
export function corruptingProxy(
  port: number,
  direction: "to-server" | "to-client",
  offset: number,
  fault: "flip" | "freeze" | "cut" | "vanish" = "flip",
  only?: number,
): Deno.TcpListener & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pipes: Promise<void>[] = [];
  // Server sides of vanished connections, closed at dispose.
  const held: Deno.Conn[] = [];
  const pipe = async (from: Deno.Conn, to: Deno.Conn, corrupt: boolean, hold?: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    let seen = 0;
    try {
      for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
        const hit = corrupt && seen <= offset && offset < seen + n;
        if (hit && fault === "flip") buffer[offset - seen]! ^= 0x01;
        const stops = fault !== "flip" && corrupt;
        const forward = stops ? Math.max(0, Math.min(n, offset - seen)) : n;
        seen += n;
        let written = 0;
        while (written < forward) written += await to.write(buffer.subarray(written, forward));
        if (stops && fault === "cut" && seen >= offset) break;
      }
    } catch { /* either side closed */ }
    for (const conn of [from, to]) {
      if (conn === hold) continue;
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  let accepted = 0;
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port });
      const hit = only === undefined || ++accepted === only;
      const hold = hit && fault === "vanish" ? server : undefined;
      if (hold !== undefined) held.push(hold);
      pipes.push(
        pipe(client, server, hit && direction === "to-server", hold),
        pipe(server, client, hit && direction === "to-client", hold),
      );
    }
  })();
  return Object.assign(listener, {
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of held) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await Promise.all(pipes);
    },
  });
}

/** The total size of ferry's temporaries (partial transfers) directly in `dir`. */
export async function partialBytes(dir: string): Promise<number> {
  let total = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.startsWith(".ferry-") && entry.name.endsWith(".part")) {
        total += (await Deno.lstat(`${dir}/${entry.name}`)).size;
      }
    }
  } catch { /* not there yet */ }
  return total;
}

/** Polls `condition` every 20 ms, at most `limitMs`; returns whether it came true. */
export async function waitFor(
  condition: () => Promise<boolean>,
  limitMs = 20_000,
): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}
