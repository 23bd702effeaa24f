/**
 * The ferry server: accepts connections, authenticates them, and hands each
 * one to a {@link ServerSession}. It bounds what strangers can cost it (a
 * connection limit, a handshake deadline, an idle timeout, a growing delay
 * for wrong tokens) and shuts down gracefully.
 *
 * @module
 */

import { ConfinedRoot, type ConfinementMode, confinementMode } from "../fs/confinement.ts";
import { limitsOf, policyOf } from "./policy.ts";
import { ErrorCode, FerryError } from "../errors.ts";
import { FrameReader } from "../wire/frame_reader.ts";
import { FrameWriter } from "../wire/frame_writer.ts";
import { pskFor, ServerHandshake } from "../wire/handshake.ts";
import { Admission } from "./admission.ts";
import { logIn } from "./login.ts";
import { Hooks } from "./hooks.ts";
import { type ClientInfo, Watchers } from "./watchers.ts";
import { sweepTree } from "../fs/stale_temporaries.ts";
import { pushedFiles, type PushSource, storeFile } from "./push.ts";
import { DiskWatcher } from "./settle.ts";
import { type ResolvedServerOptions, resolveServerOptions, type ServerOptions } from "./options.ts";
import type { SecureTransport } from "../wire/secure_transport.ts";
import { bindPort, checkRoot, servedRoot } from "./bind.ts";
import type { ServerEvent } from "./events.ts";
import { ServerSession } from "./session.ts";
import { DEFAULT_PORT } from "../protocol/constants.ts";

export type { ServerEvent } from "./events.ts";
export type { ServerOptions } from "./options.ts";

export { DEFAULT_PORT };

interface Connection {
  conn: Deno.Conn;
  handshake: ServerHandshake;
  /** After the handshake: frames over the encrypted transport. */
  reader: FrameReader | undefined;
  writer: FrameWriter | undefined;
  session: ServerSession | undefined;
  /** Its address, and after the handshake the name the client gave. */
  remote: string;
  clientName: string | undefined;
  started: number;
  closed: boolean;
}

/**
 * A running server. Stop it with {@link FerryServer.close} or `await using`.
 *
 * @example Serve a folder in-process and log what clients do
 * ```ts
 * import { FerryServer, generateToken } from "@ferry/ferry";
 *
 * const root = await Deno.makeTempDir();
 * await using server = await FerryServer.listen({
 *   root,
 *   token: generateToken(),
 *   host: "127.0.0.1",
 *   port: 0,
 *   onEvent: (event) => console.log(event.action, event.path, event.ok),
 * });
 * console.log(`serving ${server.root} on port ${server.port}`);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class FerryServer {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on (the one picked, when port 0 was asked for). */
  readonly port: number;
  #listener: Deno.TcpListener;
  #options: ResolvedServerOptions;
  #hooks: Hooks | undefined;
  #watchers = new Watchers(() => this.#disk.start());
  #disk: DiskWatcher;
  #connections = new Set<Connection>();
  #tasks = new Set<Promise<void>>();
  #admission: Admission<Connection>;
  #draining = false;
  #idleTimer: ReturnType<typeof setInterval>;
  /** The start's sweep of temporaries that killed transfers left (stale_temporaries.ts). */
  #staleSweep: { stop: AbortController; done: Promise<number> };
  #accepting: Promise<void>;
  #closed: Promise<void> | undefined;
  #endGrace: (() => void) | undefined;

  #psk: Uint8Array;
  /** The root, held: every request path is resolved beneath it. */
  #root: ConfinedRoot;

  private constructor(
    listener: Deno.TcpListener,
    root: string,
    psk: Uint8Array,
    options: ServerOptions,
  ) {
    this.#psk = psk;
    this.#listener = listener;
    this.hostname = listener.addr.hostname;
    this.port = listener.addr.port;
    this.#options = resolveServerOptions(options, root);
    this.#root = ConfinedRoot.open(root);
    this.#admission = new Admission(
      this.#options.maxConnections,
      (c) => this.#drop(c),
      this.#options.authFailureDelayMs,
    );
    this.#disk = new DiskWatcher(root, this.#watchers, options.settleMs ?? 2_000);
    const { admit, validate, onReceived } = options;
    if (admit !== undefined || validate !== undefined || onReceived !== undefined) {
      this.#hooks = new Hooks(
        {
          admit,
          validate,
          onReceived,
          timeoutMs: options.hookTimeoutMs ?? 30_000,
        },
        (path, ok, message) =>
          this.#log({
            time: new Date().toISOString(),
            remote: "",
            action: "hook",
            path,
            ok,
            message,
          }),
      );
    }
    this.#idleTimer = setInterval(() => this.#closeIdle(), 1_000);
    const stop = new AbortController();
    this.#staleSweep = { stop, done: sweepTree(root, stop.signal) };
    this.#accepting = this.#accept();
  }

  /**
   * Checks that `root` can be served as `listen` would (a folder, or with
   * `createRoot` a missing one whose parent is a folder; kernel confinement
   * when required), without serving it: a start can refuse before it writes
   * anything (a first start's token).
   */
  static async checkRoot(
    options: Pick<ServerOptions, "root" | "createRoot" | "requireConfinement">,
  ): Promise<void> {
    await checkRoot(options.root, options.createRoot ?? false, {
      confined: options.requireConfinement ?? false,
    });
  }

  /**
   * Checks the root, derives the token's key, binds the port and starts
   * serving. A root made with `createRoot` is made only once the port is
   * bound, so a start that fails leaves no folder behind.
   */
  static async listen(options: ServerOptions): Promise<FerryServer> {
    const create = await checkRoot(options.root, options.createRoot ?? false, {
      confined: options.requireConfinement ?? false,
    });
    // Derived once, before the port opens: every handshake then costs no scrypt.
    const psk = await pskFor(options.token);
    const listener = bindPort(options.host, options.port ?? DEFAULT_PORT);
    let root: string;
    try {
      root = await servedRoot(options.root, create);
    } catch (error) {
      listener.close();
      throw error;
    }
    const server = new FerryServer(listener, root, psk, options);
    server.#rootCreated = create;
    return server;
  }

  #rootCreated = false;

  /** Whether `listen()` made the root (`createRoot`, and it was missing). */
  get rootCreated(): boolean {
    return this.#rootCreated;
  }

  /** The served folder, as a real path. */
  get root(): string {
    return this.#options.root;
  }

  /** Whether the kernel confines request paths beneath the root (openat2), or why not. */
  readonly confinement: ConfinementMode = confinementMode();

  /**
   * Stores `source` (a local file's path, bytes or a stream) as the file
   * `remotePath` under the root, as a client's send would, and pushes it to
   * the clients watching a folder that holds it: all of them, or with `to`
   * only the ones that named themselves so. A local folder's files are
   * stored under `remotePath` and pushed one by one, each verified.
   * Resolves with how many times a watcher was told (once per file and watcher).
   */
  async push(
    source: PushSource,
    remotePath: string,
    options: { to?: string } = {},
  ): Promise<number> {
    let told = 0;
    for await (const [file, path] of pushedFiles(source, remotePath)) {
      const entry = await storeFile(this.#root, path, file);
      told += this.#watchers.published(entry, options.to);
      this.#log({
        time: new Date().toISOString(),
        remote: "",
        action: "push",
        path: entry.path,
        bytes: entry.size,
        ok: true,
      });
    }
    return told;
  }

  /** The clients connected now: address, name and the folders each watches. */
  clients(): ClientInfo[] {
    return [...this.#connections]
      .filter((connection) => connection.session !== undefined && !connection.closed)
      .map(({ remote, clientName }) => ({
        remote,
        name: clientName,
        watching: this.#watchers.foldersOf(remote),
      }));
  }

  /**
   * Stops accepting, lets transfers in progress finish for up to `graceMs`,
   * then closes every connection (unfinished uploads leave no file behind).
   */
  close(graceMs = 10_000): Promise<void> {
    // A second call with no grace (a second Ctrl-C) cuts the first one short.
    if (graceMs === 0) this.#endGrace?.();
    this.#closed ??= this.#shutdown(graceMs);
    return this.#closed;
  }

  /** Closes at once (no grace) at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close(0);
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#draining = true;
    this.#listener.close();
    await this.#accepting;
    for (const connection of this.#connections) {
      if (connection.session === undefined || !connection.session.busy) this.#drop(connection);
    }
    const deadline = Promise.withResolvers<void>();
    this.#endGrace = deadline.resolve;
    const timer = setTimeout(deadline.resolve, graceMs);
    await Promise.race([Promise.all(this.#tasks), deadline.promise]);
    clearTimeout(timer);
    for (const connection of this.#connections) this.#drop(connection);
    await Promise.all(this.#tasks);
    clearInterval(this.#idleTimer);
    this.#staleSweep.stop.abort();
    await this.#staleSweep.done;
    await this.#disk.close();
    this.#root.close();
  }

  async #accept(): Promise<void> {
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#draining) return;
        // Out of file descriptors and similar: back off instead of spinning.
        if (error instanceof Deno.errors.BadResource) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const task = this.#serve(conn).finally(() => this.#tasks.delete(task));
      this.#tasks.add(task);
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    // As connectTcp: no Nagle delay, and keepalive to notice clients that vanished.
    (conn as Deno.TcpConn).setNoDelay?.(true);
    (conn as Deno.TcpConn).setKeepAlive?.(true);
    const address = conn.remoteAddr as Deno.NetAddr;
    // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d: log and lock it out as a.b.c.d.
    const hostname = address.hostname.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
    const remote = hostname.includes(":")
      ? `[${hostname}]:${address.port}`
      : `${hostname}:${address.port}`;
    const connection: Connection = {
      conn,
      handshake: new ServerHandshake(conn),
      reader: undefined,
      writer: undefined,
      session: undefined,
      remote,
      clientName: undefined,
      started: performance.now(),
      closed: false,
    };
    this.#connections.add(connection);
    this.#admission.arrive(connection);
    try {
      await connection.handshake.greet();
      const secure = await this.#admit(connection, hostname, remote);
      if (secure !== null) await this.#session(connection, secure).run(() => this.#draining);
    } catch (error) {
      await this.#failed(connection, error);
    } finally {
      this.#drop(connection);
      this.#connections.delete(connection);
      this.#admission.leave(connection);
    }
  }

  /** The session of a logged-in connection. */
  #session(connection: Connection, secure: SecureTransport): ServerSession {
    const reader = connection.reader = new FrameReader(secure);
    reader.acceptCompressed = this.#options.compression;
    const writer = connection.writer = new FrameWriter(secure);
    const clientName = connection.clientName = connection.handshake.clientName;
    return connection.session = new ServerSession(
      {
        root: this.#root,
        remote: connection.remote,
        clientName,
        compressOk: this.#options.compression && secure.peerDecompresses,
        hooks: this.#hooks,
        watchers: this.#watchers,
        log: (e) => this.#log(clientName === undefined ? e : { ...e, client: clientName }),
        policy: policyOf(this.#options),
        limits: limitsOf(this.#options),
      },
      reader,
      writer,
    );
  }

  /** Logs why a connection ended badly; a broken handshake is told why before the close. */
  async #failed(connection: Connection, error: unknown): Promise<void> {
    if (!(error instanceof FerryError) || error.code === ErrorCode.Connection) return;
    this.#log({
      time: new Date().toISOString(),
      remote: connection.remote,
      action: "connection",
      ok: false,
      code: error.code,
      message: error.message,
    });
    // In plaintext: nothing secret.
    if (connection.session === undefined && error.code === ErrorCode.Protocol) {
      await connection.handshake.refuse(error.code, error.message).catch(() => {});
    }
  }

  /** The encrypted transport of a new connection, or null when it was turned away (and told why). */
  async #admit(
    connection: Connection,
    address: string,
    remote: string,
  ): Promise<SecureTransport | null> {
    const outcome = await logIn(connection, connection.handshake, this.#admission, {
      address,
      psk: this.#psk,
      draining: () => this.#draining,
      compression: this.#options.compression,
    });
    if (!Array.isArray(outcome)) return outcome;
    const [code, message] = outcome;
    this.#log({ time: new Date().toISOString(), remote, action: "auth", ok: false, code, message });
    await connection.handshake.refuse(code, message).catch(() => {/* the client is gone */});
    return null;
  }

  /** Runs every second: enforces the handshake deadline, the idle timeout, and draining. */
  #closeIdle(): void {
    const now = performance.now();
    for (const connection of this.#connections) {
      const session = connection.session;
      if (session === undefined) {
        // Counted from accept: a client dripping bytes cannot stretch its login.
        if (now - connection.started > this.#options.handshakeTimeoutMs) this.#drop(connection);
        continue;
      }
      const last = Math.max(
        connection.reader?.lastActivity ?? 0,
        connection.writer?.lastActivity ?? 0,
      );
      if (now - last > this.#options.idleTimeoutMs || (this.#draining && !session.busy)) {
        this.#drop(connection);
      }
    }
  }

  #drop(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    try {
      connection.conn.close();
    } catch { /* already closed */ }
  }

  #log(event: ServerEvent): void {
    const onEvent = this.#options.onEvent;
    if (onEvent === undefined) return;
    // A notification: a handler that throws or rejects must not fail the request.
    try {
      const result: unknown = onEvent(event);
      if (result instanceof Promise) result.catch(() => {});
    } catch { /* ignored, as documented */ }
  }
}
