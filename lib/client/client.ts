/**
 * The public client: one object per server that sends, gets, puts, reads,
 * lists and changes remote files. Requests are pipelined over one
 * authenticated connection; a connection that was lost is reopened at the
 * next call, and transfers with `retries` reopen it themselves.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { pathInFolder } from "../config/config.ts";
import type { RemoteEntry, StatReply } from "../protocol/replies.ts";
import { Connection, type ConnectOptions } from "./connection.ts";
import {
  type OpenOptions,
  openRemote,
  putBody,
  type PutOptions,
  readRemoteInto,
  type RemoteFile,
} from "./remote_file.ts";
import {
  type ListOptions,
  listRemote,
  makeRemoteFolder,
  type MkdirOptions,
  type RemoveOptions,
  removeRemote,
  renameRemote,
  statRemote,
} from "./remote_ops.ts";
import { withRetries } from "./retry.ts";
import { getPaths, sendPaths } from "./transfer.ts";
import { inspectSources } from "./local_side.ts";
import { watchFolder, type WatchOptions, WatchRun } from "./watch.ts";
import {
  type CommittedFile,
  type GetOptions,
  type SendOptions,
  summaryError,
  type TransferOptions,
  type TransferSettings,
  type TransferSummary,
} from "./options.ts";
import { checkRemovable } from "../remote_path.ts";
import { DEFAULT_PORT } from "../protocol/constants.ts";

/**
 * A client of one ferry server. Open one with `connect()`; close it with
 * `await using` or {@link FerryClient.close}.
 *
 * @example Put bytes, read them back as a stream, list, and cancel one call
 * ```ts
 * import { connect, FerryServer } from "@ferry/ferry";
 *
 * const root = await Deno.makeTempDir();
 * const token = "a-long-shared-secret-token";
 * await using server = await FerryServer.listen({ root, token, host: "127.0.0.1", port: 0 });
 * await using client = await connect({ host: "127.0.0.1", port: server.port, token });
 *
 * const stored = await client.put("notes/a.txt", new TextEncoder().encode("hello"));
 * console.log(stored.size, stored.digest);
 *
 * const file = await client.open("notes/a.txt");
 * console.log(await new Response(file.readable).text()); // "hello"
 *
 * for await (const entry of client.list("notes")) console.log(entry.name, entry.size);
 *
 * // A cancelled call rejects with "aborted"; the client goes on.
 * const controller = new AbortController();
 * controller.abort();
 * await client.put("notes/b.txt", new Uint8Array(10), { signal: controller.signal }).catch(
 *   (error) => console.log(error.code), // "aborted"
 * );
 * console.log((await client.stat("notes/a.txt"))?.type); // "file"
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class FerryClient {
  /** The server's host name or address. */
  readonly host: string;
  /** The server's port. */
  readonly port: number;
  #options: ConnectOptions;
  #folder: string;
  #connection: Connection | undefined;
  #closed = false;

  /**
   * Internal: open a client with `connect()` (mod.ts exports this class as
   * a type only). Without a connection, the first call opens one.
   */
  constructor(connection: Connection | undefined, options: ConnectOptions, folder = "") {
    this.#connection = connection;
    this.#options = options;
    this.#folder = folder;
    this.host = options.host;
    this.port = options.port ?? DEFAULT_PORT;
  }

  /**
   * Whether a connection is open now. When one was lost (or none was opened
   * yet) the next call opens a new one; an interactive client can say so first.
   */
  get connected(): boolean {
    return this.#connection?.usable ?? false;
  }

  /** What is at a remote path, or null when nothing is. */
  async stat(path: string): Promise<StatReply | null> {
    return statRemote(await this.#use(), this.#remote(path));
  }

  /** Creates a remote folder; with `parents`, missing parents too and no error if it exists. */
  async mkdir(path: string, options?: MkdirOptions): Promise<void> {
    await makeRemoteFolder(await this.#use(), this.#remote(path), options);
  }

  /**
   * Lists a remote folder, sorted by name (with `recursive`, each folder is
   * followed by its contents), or a remote file as one entry. Entries stream
   * in as the server reads them; a slow consumer slows the server down.
   * Entry paths are relative to the server's root.
   */
  async *list(path: string, options?: ListOptions): AsyncGenerator<RemoteEntry> {
    yield* listRemote(await this.#use(), this.#remote(path), options);
  }

  /**
   * Removes a remote file or symlink (never its target), or with `recursive`
   * a folder and its contents. With `force` a missing path is not an error.
   * Resolves with whether something was removed.
   */
  async remove(path: string, options?: RemoveOptions): Promise<boolean> {
    checkRemovable(path, this.#folder);
    return removeRemote(await this.#use(), this.#remote(path), this.#remoteBackup(options ?? {}));
  }

  /** Renames a remote file or folder; `to` is the new path, an existing file there is replaced. */
  async rename(from: string, to: string): Promise<void> {
    await renameRemote(await this.#use(), this.#remote(from), this.#remote(to));
  }

  /**
   * Sends local files and folders. `dest` is a remote folder (the sources go
   * inside it) or, for one file, the remote file name, as with cp and scp.
   * The sources are checked before anything connects. Resolves when the
   * server has verified and committed every file; files that failed are
   * listed in the summary's `failures` (or, with `throwOnFailure`, reject).
   */
  async send(
    sources: readonly string[],
    dest: string,
    options: SendOptions = {},
  ): Promise<TransferSummary> {
    // A missing source or a folder without `recursive` is refused before any connection.
    const inspected = await inspectSources(sources, options.recursive ?? false);
    return await this.#transfer(
      this.#remoteBackup(options),
      (connection, attempt) =>
        sendPaths(connection, this.#openLane, inspected, this.#remote(dest), attempt),
    );
  }

  /** Gets remote files and folders into the local `dest`, with the same rules and guarantees. */
  get(
    sources: readonly string[],
    dest: string,
    options: GetOptions = {},
  ): Promise<TransferSummary> {
    const remote = sources.map((source) => this.#remote(source));
    return this.#transfer(
      options,
      (connection, attempt) => getPaths(connection, this.#openLane, remote, dest, attempt),
    );
  }

  /**
   * Gets one remote file into a stream (standard output, a pipe), with
   * progress and `limitRate` as for {@link FerryClient.get}; the stream is
   * left open. The digest is checked at the end: a corrupted file rejects
   * with `digest_mismatch`, though its bytes were written.
   */
  async getInto(
    source: string,
    into: WritableStream<Uint8Array>,
    options: TransferOptions = {},
  ): Promise<TransferSummary> {
    const summary = await readRemoteInto(await this.#use(), this.#remote(source), into, options);
    return options.throwOnFailure ? throwOnFailure(summary) : summary;
  }

  /**
   * Stores bytes, or a stream of them, as the remote file `path`. The
   * server commits it only once the whole body arrived with a matching
   * digest; until then an existing file is untouched.
   */
  async put(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    options?: PutOptions,
  ): Promise<CommittedFile> {
    return putBody(await this.#use(), this.#remote(path), body, options);
  }

  /**
   * Reads a remote file as a stream. Resolves once the server announced the
   * file, with its size, mtime and mode; the stream errors with
   * `digest_mismatch` rather than closing if the bytes arrived corrupted.
   * Read or cancel the stream before the next request on this client waits
   * for it: replies share one connection.
   */
  async open(path: string, options?: OpenOptions): Promise<RemoteFile> {
    return openRemote(await this.#use(), this.#remote(path), options);
  }

  /**
   * Mirrors the remote `folder` into the local `local` as files arrive:
   * catches up first (as `get -r --sync`), then receives every file
   * committed under the folder, pushed by the server over this connection.
   * Nothing runs until the result is iterated (for the files) or its
   * `done()` is awaited (with `onFile`); it ends when `signal` aborts
   * (after the file in progress) and throws when the connection is lost
   * (watch again to reconnect and catch up).
   */
  watch(folder: string, local: string, options: WatchOptions = {}): WatchRun {
    const remote = this.#remote(folder);
    const files = async function* (client: FerryClient) {
      yield* watchFolder(await client.#use(), client.#openLane, remote, local, options);
    };
    return new WatchRun(files(this));
  }

  /** Closes the connection; requests still pending fail. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#connection?.close();
  }

  /** Closes the connection at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A path as the server sees it: relative paths start in the named host's folder. */
  #remote(path: string): string {
    return pathInFolder(this.#folder, path);
  }

  /** Options whose backup folder, a remote path, is made relative to the named host's folder. */
  #remoteBackup<T extends { backup?: boolean | string | undefined }>(options: T): T {
    return typeof options.backup === "string"
      ? { ...options, backup: this.#remote(options.backup) }
      : options;
  }

  /** The connection, reopened first when the last one was lost. */
  async #use(): Promise<Connection> {
    if (this.#closed) throw new FerryError(ErrorCode.Aborted, "The client was closed");
    if (this.#connection === undefined || !this.#connection.usable) {
      await this.#connection?.close();
      this.#connection = undefined;
      this.#connection = await Connection.open(this.#options);
    }
    return this.#connection;
  }

  #openLane = (): Promise<Connection> => Connection.open(this.#options);

  async #transfer(
    options: TransferSettings,
    run: (connection: Connection, options: TransferSettings) => Promise<TransferSummary>,
  ): Promise<TransferSummary> {
    const summary = await withRetries(
      options,
      async (attempt) => await run(await this.#use(), attempt),
    );
    return options.throwOnFailure ? throwOnFailure(summary) : summary;
  }
}

/** The summary, or with a failed file the error of {@link summaryError} with the summary attached. */
function throwOnFailure(summary: TransferSummary): TransferSummary {
  const error = summaryError(summary);
  if (error === undefined) return summary;
  throw error;
}

export type { ConnectOptions };
export type { WatchedFile, WatchOptions } from "./watch.ts";
export { WatchRun };
