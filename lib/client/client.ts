/**
 * The ferry client: one authenticated connection on which requests are
 * identified by id, so many files are pipelined without waiting for each
 * acknowledgement. A single read loop hands every reply frame to the request
 * it belongs to.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import { type Frame, FrameReader } from "../wire/frame_reader.ts";
import { FrameWriter } from "../wire/frame_writer.ts";
import { authenticateToServer } from "../wire/handshake.ts";
import {
  decodeEntries,
  decodeError,
  decodeOk,
  decodeStatReply,
  encodeJson,
  errorFromMessage,
  type RemoteEntry,
  type StatReply,
} from "../protocol/messages.ts";
import { DEFAULT_PORT } from "../protocol/constants.ts";
import { getPaths } from "./get.ts";
import { sendPaths } from "./send.ts";
import type { TransferOptions, TransferSummary } from "./transfer.ts";
import { connectTcp } from "../wire/transport.ts";

/** Options for {@link connect}. */
export interface ConnectOptions {
  host: string;
  /** Default {@link DEFAULT_PORT}. */
  port?: number;
  /** The shared secret; the server proves it knows it too. */
  token: string;
  /** Gives up connecting and authenticating after this long. Default 15 seconds. */
  timeoutMs?: number;
  /**
   * Fails the connection when requests are waiting and nothing was sent or
   * received for this long. Default 60 seconds; 0 turns it off.
   */
  stallTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Receives the frames of one request; returning a promise pauses the read loop. */
export interface RequestHandler {
  onFrame(frame: Frame): void | Promise<void>;
  /** The connection failed before the request finished. */
  fail(error: FerryError): void;
}

/** An authenticated connection to a ferry server. */
export class FerryClient {
  readonly host: string;
  readonly port: number;
  #conn: Deno.Conn;
  #reader: FrameReader;
  #writer: FrameWriter;
  #pending = new Map<number, RequestHandler>();
  #nextId = 1;
  #failure: FerryError | undefined;
  #closed = false;
  #loop: Promise<void>;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #options: ConnectOptions;

  private constructor(
    host: string,
    port: number,
    conn: Deno.Conn,
    reader: FrameReader,
    writer: FrameWriter,
    options: ConnectOptions,
  ) {
    const stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
    this.#options = options;
    this.host = host;
    this.port = port;
    this.#conn = conn;
    this.#reader = reader;
    this.#writer = writer;
    this.#loop = this.#readLoop();
    if (stallTimeoutMs > 0) {
      this.#watchdog = setInterval(() => this.#checkStalled(stallTimeoutMs), 1000);
    }
  }

  /** Ends a connection on which requests wait but nothing moves (a dead Wi-Fi link, a stuck peer). */
  #checkStalled(limitMs: number): void {
    if (this.#pending.size === 0 || this.#failure !== undefined) return;
    const idle = performance.now() -
      Math.max(this.#reader.lastActivity, this.#writer.lastActivity);
    if (idle < limitMs) return;
    this.#failure = new FerryError(
      ErrorCode.Connection,
      `The connection to ${this.host}:${this.port} stalled: nothing moved for ${
        Math.round(idle / 1000)
      } s (see --timeout)`,
    );
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** Connects and authenticates; see {@link connect}. */
  static async connect(options: ConnectOptions): Promise<FerryClient> {
    const port = options.port ?? DEFAULT_PORT;
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 15_000);
    const signal = options.signal === undefined
      ? timeout
      : AbortSignal.any([timeout, options.signal]);
    const conn = await connectTcp(options.host, port, { signal }).catch((error) => {
      throw timeout.aborted ? timedOut(options.host, port) : error;
    });
    const reader = new FrameReader(conn);
    const writer = new FrameWriter(conn);
    const abort = () => conn.close();
    signal.addEventListener("abort", abort, { once: true });
    try {
      await authenticateToServer(reader, writer, options.token);
    } catch (error) {
      try {
        conn.close();
      } catch { /* closed by the timeout */ }
      if (timeout.aborted) throw timedOut(options.host, port);
      if (options.signal?.aborted) {
        throw new FerryError(ErrorCode.Aborted, "Connecting was cancelled");
      }
      throw toFerryError(error, "connect to", `${options.host}:${port}`);
    } finally {
      signal.removeEventListener("abort", abort);
    }
    return new FerryClient(
      options.host,
      port,
      conn,
      reader,
      writer,
      options,
    );
  }

  /** A second connection to the same server with the same options (for `parallel`). */
  connectAnother(): Promise<FerryClient> {
    return FerryClient.connect(this.#options);
  }

  /** The frame writer, for the transfer code in this library. */
  get writer(): FrameWriter {
    return this.#writer;
  }

  /** Requests still waiting for their final reply. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /**
   * Registers a handler and returns the id for the request's frames. The
   * handler stays registered until {@link FerryClient.finish} is called.
   */
  open(handler: RequestHandler): number {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new FerryError(ErrorCode.Connection, "The connection is closed");
    const id = this.#nextId;
    this.#nextId = this.#nextId === 0xffff_ffff ? 1 : this.#nextId + 1;
    this.#pending.set(id, handler);
    return id;
  }

  /** Unregisters a finished request. */
  finish(id: number): void {
    this.#pending.delete(id);
  }

  /**
   * Sends one request frame and resolves with the payload of its OK reply.
   * `opened` learns the request's id, for requests followed by a body.
   */
  request(kind: Kind, payload: Uint8Array, opened?: (id: number) => void): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const id = this.open({
        onFrame: (frame) => {
          this.finish(id);
          if (frame.kind === Kind.Ok) resolve(frame.payload.slice());
          else if (frame.kind === Kind.Error) reject(errorFromMessage(decodeError(frame.payload)));
          else reject(unexpected(frame));
        },
        fail: reject,
      });
      opened?.(id);
      this.#writer.frame(kind, id, payload, { flush: opened === undefined }).catch((error) => {
        this.finish(id);
        reject(this.connectionError(error));
      });
    });
  }

  /** What is at a remote path, or null when nothing is. */
  async stat(path: string): Promise<StatReply | null> {
    try {
      return decodeStatReply(await this.request(Kind.Stat, encodeJson({ path })));
    } catch (error) {
      if (error instanceof FerryError && error.code === ErrorCode.NotFound) return null;
      throw error;
    }
  }

  /** Creates a remote folder; with `parents`, missing parents too and no error if it exists. */
  async mkdir(path: string, options: { parents?: boolean; mode?: number } = {}): Promise<void> {
    await this.request(
      Kind.Mkdir,
      encodeJson({
        path,
        parents: options.parents ?? false,
        ...(options.mode === undefined ? {} : { mode: options.mode }),
      }),
    );
  }

  /**
   * Lists a remote folder, sorted by name (with `recursive`, each folder is
   * followed by its contents), or a remote file as one entry. Entries stream
   * in as the server reads them; a slow consumer slows the server down
   * rather than buffering. A subfolder that cannot be read is passed to
   * `onNotice` and the listing goes on.
   */
  async *list(
    path: string,
    options: {
      recursive?: boolean;
      /** Also each file's digest (the server reads every file). */
      digests?: boolean;
      onNotice?: (error: FerryError) => void;
    } = {},
  ): AsyncGenerator<RemoteEntry> {
    const queue: RemoteEntry[][] = [];
    let finished = false;
    let abandoned = false;
    let failure: FerryError | undefined;
    let wake = () => {};
    let resume = () => {};
    const done = (error?: FerryError) => {
      this.finish(id);
      finished = true;
      failure = error;
      wake();
    };
    const id = this.open({
      onFrame: (frame) => {
        if (frame.kind === Kind.Entries) {
          if (abandoned) return;
          queue.push(decodeEntries(frame.payload));
          wake();
          // Pause the read loop until the consumer catches up.
          if (queue.length >= 4) return new Promise<void>((resolve) => resume = resolve);
        } else if (frame.kind === Kind.Notice) {
          options.onNotice?.(errorFromMessage(decodeError(frame.payload)));
        } else if (frame.kind === Kind.Ok) {
          done();
        } else if (frame.kind === Kind.Error) {
          done(errorFromMessage(decodeError(frame.payload)));
        } else {
          done(unexpected(frame));
        }
      },
      fail: done,
    });
    try {
      await this.#writer.frame(
        Kind.List,
        id,
        encodeJson({
          path,
          recursive: options.recursive ?? false,
          ...(options.digests ? { digests: true } : {}),
        }),
        { flush: true },
      );
    } catch (error) {
      this.finish(id);
      throw this.connectionError(error);
    }
    try {
      while (true) {
        const batch = queue.shift();
        if (batch !== undefined) {
          resume();
          yield* batch;
        } else if (finished) {
          if (failure !== undefined) throw failure;
          return;
        } else {
          await new Promise<void>((resolve) => wake = resolve);
        }
      }
    } finally {
      // A consumer that stops early: drop the rest of the reply.
      abandoned = true;
      queue.length = 0;
      resume();
    }
  }

  /**
   * Removes a remote file or symlink (never its target), or with `recursive`
   * a folder and its contents. With `force` a missing path is not an error.
   * Resolves with whether something was removed.
   */
  async remove(
    path: string,
    options: { recursive?: boolean; force?: boolean } = {},
  ): Promise<boolean> {
    const reply = decodeOk(
      await this.request(
        Kind.Remove,
        encodeJson({
          path,
          recursive: options.recursive ?? false,
          force: options.force ?? false,
        }),
      ),
    );
    return reply.removed !== false;
  }

  /** Renames a remote file or folder; `to` is the new path, an existing file there is replaced. */
  async rename(from: string, to: string): Promise<void> {
    await this.request(Kind.Rename, encodeJson({ from, to }));
  }

  /**
   * Sends local files and folders. `dest` is a remote folder (the sources go
   * inside it) or, for one file, the remote file name, as with cp and scp.
   * Resolves when the server has verified and committed every file; files
   * that failed are listed in the summary's `failures`.
   */
  send(
    sources: readonly string[],
    dest: string,
    options?: TransferOptions,
  ): Promise<TransferSummary> {
    return sendPaths(this, sources, dest, options);
  }

  /** Gets remote files and folders into the local `dest`, with the same rules and guarantees. */
  get(
    sources: readonly string[],
    dest: string,
    options?: TransferOptions,
  ): Promise<TransferSummary> {
    return getPaths(this, sources, dest, options);
  }

  /** Closes the connection; requests still pending fail. */
  async close(): Promise<void> {
    clearInterval(this.#watchdog);
    if (this.#closed) return await this.#loop;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#loop;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The error a transfer reports for a failure on this connection: the first failure wins. */
  connectionError(error: unknown): FerryError {
    if (this.#failure !== undefined) return this.#failure;
    if (this.#closed) return new FerryError(ErrorCode.Aborted, "The connection was closed");
    return toFerryError(error, "talk to", `${this.host}:${this.port}`);
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
          if (frame.kind === Kind.Error) throw errorFromMessage(decodeError(frame.payload));
          throw unexpected(frame);
        }
        const handler = this.#pending.get(frame.id);
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
          : toFerryError(error, "talk to", `${this.host}:${this.port}`));
    }
    clearInterval(this.#watchdog);
    this.#failure = failure;
    for (const handler of this.#pending.values()) handler.fail(failure);
    this.#pending.clear();
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    }
  }
}

function unexpected(frame: Frame): FerryError {
  return new FerryError(
    ErrorCode.Protocol,
    `Unexpected ${kindName(frame.kind)} frame from the server`,
  );
}

function timedOut(host: string, port: number): FerryError {
  return new FerryError(ErrorCode.Connection, `Cannot connect to ${host}:${port}: timed out`);
}

/**
 * Connects to a ferry server and authenticates with the shared token. See
 * mod.ts for an example.
 */
export function connect(options: ConnectOptions): Promise<FerryClient> {
  return FerryClient.connect(options);
}
