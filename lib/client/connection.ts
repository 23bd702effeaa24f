/**
 * One authenticated connection to a server, as the client's internals use
 * it: requests are identified by id, so many are pipelined without waiting
 * for each reply; a single read loop hands every reply frame to the request
 * it belongs to; a watchdog ends a connection on which requests wait and
 * nothing moves. {@link FerryClient} is the public face over it.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import { errorFromPayload } from "../protocol/replies.ts";
import { type CancelMessage, encodeCancel } from "../protocol/requests.ts";
import { type Frame, FrameReader, isTruncation } from "../wire/frame_reader.ts";
import { FrameWriter } from "../wire/frame_writer.ts";
import { handshakeAsClient, pskFor } from "../wire/handshake.ts";
import type { SecureTransport } from "../wire/secure_transport.ts";
import { connectTcp } from "../wire/transport.ts";
import { Call, type CallLine, type CallOptions, type RequestHandler } from "./call.ts";
import { DEFAULT_PORT } from "../protocol/constants.ts";
import type { RetryNotice } from "./options.ts";

/**
 * Connecting and giving up, the one default for the library and the command
 * line (`--timeout`): connecting and authenticating, and a connection on
 * which requests wait and nothing moves.
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Where and how to connect: see `connect()` in mod.ts. */
export interface ConnectOptions {
  /** Host name or address of the server. */
  host: string;
  /** Default 7717. */
  port?: number | undefined;
  /** The shared secret; the server proves it knows it too. */
  token: string;
  /** Gives up connecting and authenticating after this long. Default 30 seconds. */
  timeoutMs?: number | undefined;
  /**
   * Fails the connection when requests are waiting and nothing was sent or
   * received for this long. Default 30 seconds; 0 turns it off.
   */
  stallTimeoutMs?: number | undefined;
  /** Cancels connecting. */
  signal?: AbortSignal | undefined;
  /**
   * This client's name, up to 64 characters: the server logs it and gives
   * it to its hooks (and to `push` when it exists). Sent encrypted.
   */
  name?: string | undefined;
  /**
   * Connecting is retried this many times when it fails for a reason a
   * retry can cure (refused, timed out), with backoff. Default 0.
   */
  retries?: number | undefined;
  /** Told before each retry of connecting waits (to print a notice). */
  onRetry?: ((notice: RetryNotice) => void) | undefined;
  /**
   * Connect at the first call instead of now: a transfer's own `retries`
   * then also wait for a server that is not up yet.
   */
  deferred?: boolean | undefined;
}

// Abandoned request ids remembered; far more than a client ever has in flight.
const MAX_DROPPED = 65_536;

/** An authenticated connection with its read loop. */
export class Connection implements CallLine {
  readonly host: string;
  readonly port: number;
  /** The server decodes zstd-compressed DATA (it said so in the handshake): `-z` may send it. */
  peerDecompresses = false;
  readonly writer: FrameWriter;
  #conn: Deno.Conn;
  #reader: FrameReader;
  #pending = new Map<number, RequestHandler>();
  /** Requests given up on: what still arrives for them is dropped, oldest forgotten first. */
  #dropped = new Set<number>();
  #nextId = 1;
  #failure: FerryError | undefined;
  #closed = false;
  #loop: Promise<void>;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  private constructor(
    conn: Deno.Conn,
    reader: FrameReader,
    writer: FrameWriter,
    options: ConnectOptions,
  ) {
    this.host = options.host;
    this.port = options.port ?? DEFAULT_PORT;
    this.#conn = conn;
    this.#reader = reader;
    this.writer = writer;
    this.#loop = this.#readLoop();
    const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (stallTimeoutMs > 0) {
      this.#watchdog = setInterval(() => this.#checkStalled(stallTimeoutMs), 1000);
    }
  }

  /** Connects, and authenticates and encrypts with the token (Noise NNpsk0). */
  static async open(options: ConnectOptions): Promise<Connection> {
    const port = options.port ?? DEFAULT_PORT;
    const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = options.signal === undefined
      ? timeout
      : AbortSignal.any([timeout, options.signal]);
    // The token's key is derived while the connection opens, so that this
    // client holds one of the server's login slots for milliseconds only.
    pskFor(options.token).catch(() => {});
    const conn = await connectTcp(options.host, port, { signal }).catch((error) => {
      throw timeout.aborted ? timedOut(options.host, port) : error;
    });
    const abort = () => conn.close();
    signal.addEventListener("abort", abort, { once: true });
    let secure: SecureTransport;
    try {
      secure = await handshakeAsClient(conn, options.token, { name: options.name });
    } catch (error) {
      try {
        conn.close();
      } catch { /* closed by the timeout */ }
      if (timeout.aborted) throw timedOut(options.host, port);
      if (options.signal?.aborted) {
        throw new FerryError(ErrorCode.Aborted, "Connecting was cancelled");
      }
      throw handshakeFailure(error, options.host, port);
    } finally {
      signal.removeEventListener("abort", abort);
    }
    // A client announces that it decodes compressed DATA, so it accepts it.
    const reader = new FrameReader(secure);
    reader.acceptCompressed = true;
    const connection = new Connection(conn, reader, new FrameWriter(secure), options);
    connection.peerDecompresses = secure.peerDecompresses;
    return connection;
  }

  /** False once the connection failed or was closed: a new one is needed. */
  get usable(): boolean {
    return this.#failure === undefined && !this.#closed;
  }

  /**
   * Sends a request and returns its replies (see {@link Call}): an async
   * iterable of frames that ends at OK and throws the request's ERROR.
   */
  call(kind: Kind, payload: Uint8Array, options?: CallOptions): Call {
    return new Call(this, kind, payload, options);
  }

  /** For {@link Call}: registers a handler and returns the id for the request's frames. */
  register(handler: RequestHandler): number {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new FerryError(ErrorCode.Connection, "The connection is closed");
    const id = this.#nextId;
    this.#nextId = this.#nextId === 0xffff_ffff ? 1 : this.#nextId + 1;
    this.#pending.set(id, handler);
    return id;
  }

  /** For {@link Call}: unregisters a finished request. */
  unregister(id: number): void {
    this.#pending.delete(id);
  }

  /** For {@link Call}: writes one frame of request `id`. */
  send(kind: Kind, id: number, payload: Uint8Array, flush: boolean): Promise<void> {
    return this.writer.frame(kind, id, payload, { flush });
  }

  /**
   * For {@link Call}: gives up on request `id` without closing the
   * connection: the server is told with CANCEL (an upload is discarded, or
   * with `keep` kept to resume; no reply), and whatever still arrives for it
   * (the rest of a reply being streamed) is dropped. Call it only when no
   * more of the request's own frames will be sent. With `cancel` null the
   * server was told already (an upload's body ended with CANCEL).
   */
  abandon(id: number, cancel: CancelMessage | null): void {
    if (!this.#pending.delete(id)) return;
    this.#dropped.add(id);
    if (this.#dropped.size > MAX_DROPPED) {
      this.#dropped.delete(this.#dropped.values().next().value!);
    }
    if (cancel === null) return;
    this.writer.frame(Kind.Cancel, id, encodeCancel(cancel), { flush: true }).catch(() => {
      /* the connection is gone: nothing left to cancel */
    });
  }

  /** For {@link Call}: the server broke the protocol; every request fails with `error`. */
  breakOff(error: FerryError): void {
    if (this.#failure !== undefined || this.#closed) return;
    this.#failure = error;
    this.#failPending(error);
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** The error a request reports for a failure on this connection: the first failure wins. */
  connectionError(error: unknown): FerryError {
    if (this.#failure !== undefined) return this.#failure;
    if (this.#closed) return new FerryError(ErrorCode.Aborted, "The connection was closed");
    return toFerryError(error, "talk to", `${this.host}:${this.port}`);
  }

  /** Closes the connection; requests still pending fail. */
  async close(): Promise<void> {
    clearInterval(this.#watchdog);
    if (!this.#closed) {
      this.#closed = true;
      // A request whose consumer holds a frame would keep the read loop waiting.
      this.#failPending(new FerryError(ErrorCode.Aborted, "The connection was closed"));
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    }
    await this.#loop;
  }

  /** Ends a connection on which requests wait but nothing moves (a dead Wi-Fi link, a stuck peer). */
  #checkStalled(limitMs: number): void {
    if (this.#pending.size === 0 || this.#failure !== undefined) return;
    const idle = performance.now() -
      Math.max(this.#reader.lastActivity, this.writer.lastActivity);
    if (idle < limitMs) return;
    this.#failure = new FerryError(
      ErrorCode.Connection,
      `The connection to ${this.host}:${this.port} stalled: nothing moved for ${
        Math.round(idle / 1000)
      } s`,
      // The same cause as a connect that timed out: both are the timeout's doing.
      { cause: new Deno.errors.TimedOut("stalled") },
    );
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  #failPending(error: FerryError): void {
    const handlers = [...this.#pending.values()];
    this.#pending.clear();
    for (const handler of handlers) handler.fail(error);
  }

  async #readLoop(): Promise<void> {
    let failure: FerryError;
    try {
      while (true) {
        const frame = await this.#reader.read();
        if (frame === null) {
          throw new FerryError(
            ErrorCode.Connection,
            `The server at ${this.host}:${this.port} closed the connection`,
          );
        }
        if (frame.id === 0) {
          if (frame.kind === Kind.Error) throw errorFromPayload(frame.payload);
          throw unexpected(frame);
        }
        const handler = this.#pending.get(frame.id);
        if (handler === undefined && this.#dropped.has(frame.id)) {
          if (frame.kind === Kind.Ok || frame.kind === Kind.Error) this.#dropped.delete(frame.id);
          continue;
        }
        if (handler === undefined) {
          throw new FerryError(
            ErrorCode.Protocol,
            `The server answered request ${frame.id}, which is not open`,
          );
        }
        const waiting = handler.onFrame(frame);
        if (waiting !== undefined) await waiting;
      }
    } catch (error) {
      failure = this.#failure ??
        (this.#closed
          ? new FerryError(ErrorCode.Aborted, "The connection was closed")
          : isTruncation(error)
          // A link that drops or a server that dies mid-frame: retriable, like any lost connection.
          ? new FerryError(
            ErrorCode.Connection,
            `The connection to ${this.host}:${this.port} was cut in the middle of a frame`,
            { cause: error },
          )
          : toFerryError(error, "talk to", `${this.host}:${this.port}`));
    }
    clearInterval(this.#watchdog);
    this.#failure = failure;
    this.#failPending(failure);
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    }
  }
}

/** The error for a frame the server should not have sent. */
function unexpected(frame: Frame): FerryError {
  return new FerryError(
    ErrorCode.Protocol,
    `Unexpected ${kindName(frame.kind)} frame from the server`,
  );
}

/** Why the handshake failed, naming the server; a port that is not ferry says so. */
function handshakeFailure(error: unknown, host: string, port: number): FerryError {
  const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  if (error instanceof FerryError && error.code === ErrorCode.Protocol) {
    const notFerry = /^The peer is not ferry: (.*)$/.exec(error.message);
    if (notFerry !== null) {
      return new FerryError(
        ErrorCode.Protocol,
        `${target} is not a ferry server: ${notFerry[1]} (check the host and port)`,
        { cause: error },
      );
    }
  }
  return toFerryError(error, "connect to", target);
}

function timedOut(host: string, port: number): FerryError {
  return new FerryError(ErrorCode.Connection, `Cannot connect to ${host}:${port}: timed out`, {
    cause: new Deno.errors.TimedOut("connect"),
  });
}
