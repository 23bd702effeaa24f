/**
 * `watch`: a remote folder mirrored into a local one as files arrive. The
 * client sends WATCH first (from then on the server pushes an entry for
 * each file committed under the folder, over this connection, so it works
 * from behind NAT), then catches up with a sync of the whole folder, then
 * fetches each pushed file as `get` would: verified, atomic, mode and mtime
 * kept, names validated, never outside the local folder. A file already
 * there (the catch-up had it) is skipped.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { decodeEntries } from "../protocol/replies.ts";
import { encodeWatch } from "../protocol/requests.ts";
import { ConfinedRoot } from "../fs/confinement.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import { getPaths } from "./transfer.ts";
import { PathFilter } from "../fs/filter.ts";
import type { CommittedFile, TransferSettings } from "./options.ts";
import { printable } from "../text.ts";
import { joinRemotePath, splitRemotePath } from "../remote_path.ts";
import type { FsyncMode } from "../protocol/constants.ts";

/** Options of `FerryClient.watch()`. */
export interface WatchOptions {
  /** Ends the watch once the file being fetched is committed. */
  signal?: AbortSignal | undefined;
  /** Called with each file received, once it is committed locally. */
  onFile?: ((file: WatchedFile) => void | Promise<void>) | undefined;
  /**
   * Mirror removals: at each catch-up, remove local files the remote folder
   * does not have (as `get --delete`), and then each file removed or moved
   * away on the server as it happens.
   */
  delete?: boolean | undefined;
  /** How received files are made durable (see `GetOptions.fsync`). */
  fsync?: FsyncMode | undefined;
  /** Told of a pushed entry that was refused (a bad name) or failed; the watch goes on. */
  onError?: ((error: FerryError) => void) | undefined;
  /**
   * Include and exclude rules over paths below the watched folder (see
   * `TransferOptions.filter`): excluded files are not fetched, and with
   * `delete` excluded local files are never removed.
   */
  filter?: readonly string[] | undefined;
}

/** A file a watch received. */
export interface WatchedFile extends CommittedFile {
  /** Its path on the server, relative to the root. */
  remotePath: string;
}

/** What the server pushed: a file to fetch, a folder to sync, or a path removed. */
interface PushedEntry {
  path: string;
  type: string;
  removed?: boolean | undefined;
}

/** Entries pushed by the server, waiting to be fetched. */
class Pushed {
  #queue: PushedEntry[] = [];
  #failure: FerryError | undefined;
  #wake = () => {};

  add(entries: PushedEntry[]): void {
    this.#queue.push(...entries);
    this.#wake();
  }

  fail(error: FerryError): void {
    this.#failure ??= error;
    this.#wake();
  }

  /** The next entry; null once `signal` aborted. Throws when the watch failed. */
  async next(signal: AbortSignal | undefined): Promise<PushedEntry | null> {
    while (true) {
      if (signal?.aborted) return null;
      if (this.#failure !== undefined) throw this.#failure;
      const entry = this.#queue.shift();
      if (entry !== undefined) return entry;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        signal?.addEventListener("abort", this.#wake, { once: true });
      });
      signal?.removeEventListener("abort", this.#wake);
    }
  }
}

/**
 * Watches `folder` (a server path) into `local`, yielding each file
 * received. Ends when `options.signal` aborts; throws when the connection
 * is lost (the caller reconnects and calls again: it catches up).
 */
export async function* watchFolder(
  connection: Connection,
  openLane: () => Promise<Connection>,
  folder: string,
  local: string,
  options: WatchOptions = {},
): AsyncGenerator<WatchedFile> {
  const top = splitRemotePath(folder).join("/");
  const pushed = new Pushed();
  const call = connection.call(Kind.Watch, encodeWatch({ path: top }));
  void receivePushes(call, pushed);
  let mirror: Mirror | undefined;
  try {
    await call.sent.catch((error) => {
      throw connection.connectionError(error);
    });
    await Deno.mkdir(local, { recursive: true });
    mirror = new Mirror(connection, openLane, top, local, options);
    // The catch-up: what arrived while nobody watched.
    await mirror.fetch(top, local, true);
    yield* deliver(mirror.received, options);
    for (let entry; (entry = await pushed.next(options.signal)) !== null;) {
      await mirror.apply(entry);
      yield* deliver(mirror.received, options);
    }
  } finally {
    call.cancel();
    mirror?.close();
  }
}

/** The local side of a watch: what the server pushes is fetched (or removed) beneath LOCAL. */
class Mirror {
  /** Files committed and not yet delivered. */
  readonly received: WatchedFile[] = [];
  #connection: Connection;
  #openLane: () => Promise<Connection>;
  #top: string;
  #local: string;
  #options: WatchOptions;
  /** LOCAL, held: a link planted in it leads nowhere. */
  #root: ConfinedRoot;
  #filter: PathFilter | undefined;

  constructor(
    connection: Connection,
    openLane: () => Promise<Connection>,
    top: string,
    local: string,
    options: WatchOptions,
  ) {
    this.#connection = connection;
    this.#openLane = openLane;
    this.#top = top;
    this.#local = local;
    this.#options = options;
    this.#root = ConfinedRoot.open(local);
    this.#filter = PathFilter.optional(options.filter);
  }

  close(): void {
    this.#root.close();
  }

  /** Gets `source` into `dest` (at `below` beneath LOCAL) as `get --sync` would. */
  async fetch(
    source: string,
    dest: string,
    asFolder: boolean,
    below: string[] = [],
  ): Promise<void> {
    const options = this.#options;
    const settings: TransferSettings = {
      recursive: asFolder,
      sync: true,
      delete: asFolder && (options.delete ?? false),
      fsync: options.fsync,
      onFile: (file) =>
        this.received.push({ ...file, remotePath: remoteOf(file.path, this.#local, this.#top) }),
    };
    const filter = below.length === 0 ? this.#filter : this.#filter?.below(below.join("/"));
    const landing = { asContents: asFolder, within: { root: this.#root, parts: below } };
    await getPaths(this.#connection, this.#openLane, [source], dest, settings, landing, filter);
  }

  /** One pushed entry; what fails of it is told to `onError` unless the connection is lost. */
  async apply(entry: PushedEntry): Promise<void> {
    const below = relativeTo(this.#top, entry.path);
    if (below === null) return this.#options.onError?.(refusedName(entry.path));
    if (this.#filter?.excludesPath(below.join("/"), entry.type === "dir")) return;
    try {
      await this.#mirror(entry, below);
    } catch (error) {
      const failure = toFerryError(error, "get", entry.path);
      if (failure.code === ErrorCode.Connection || failure.code === ErrorCode.Protocol) {
        throw failure;
      }
      this.#options.onError?.(failure);
    }
  }

  async #mirror(entry: PushedEntry, below: string[]): Promise<void> {
    if (entry.removed) {
      // Mirrored only with `delete`, and never the local folder itself.
      if (this.#options.delete && below.length > 0) await removeLocal(this.#root, below);
      return;
    }
    const local = this.#local;
    const dest = below.length === 0 ? local : `${local.replace(/\/+$/, "")}/${below.join("/")}`;
    if (entry.type !== "dir") this.#root.makeFolders(below.slice(0, -1)).folder.release();
    await this.fetch(entry.path, dest, entry.type === "dir", below);
  }
}

async function* deliver(
  received: WatchedFile[],
  options: WatchOptions,
): AsyncGenerator<WatchedFile> {
  for (const file of received.splice(0)) {
    await options.onFile?.(file);
    yield file;
  }
}

/** Queues what the server pushes, as it arrives: the watch fetches on the same connection meanwhile. */
async function receivePushes(call: Call, pushed: Pushed): Promise<void> {
  try {
    for await (const frame of call) {
      if (frame.kind === Kind.Ok) {
        pushed.fail(new FerryError(ErrorCode.Connection, "The server stopped serving this watch"));
        return;
      }
      if (frame.kind !== Kind.Entries) throw call.unexpected(frame);
      // An empty batch is the server's heartbeat.
      const entries = decodeEntries(frame.payload).filter((e) =>
        e.removed === true || e.type === "file" || e.type === "dir"
      );
      if (entries.length > 0) pushed.add(entries);
    }
  } catch (error) {
    pushed.fail(toFerryError(error, "watch", ""));
  }
}

/** The names of `path` below the watched folder `top`, or null when it is not below it (or not a valid name). */
function relativeTo(top: string, path: string): string[] | null {
  let parts: string[];
  try {
    parts = splitRemotePath(path);
  } catch {
    return null;
  }
  const topParts = top === "" ? [] : top.split("/");
  if (topParts.some((part, i) => parts[i] !== part)) return null;
  return parts.slice(topParts.length);
}

function refusedName(path: string): FerryError {
  return new FerryError(
    ErrorCode.BadPath,
    `The server pushed "${
      printable(path)
    }", which is not a name inside the watched folder; ignored`,
    { path },
  );
}

/**
 * Removes a local file, link or folder at `parts` beneath `root` (its
 * contents without following links, its folder held); gone already is fine.
 */
async function removeLocal(root: ConfinedRoot, parts: string[]): Promise<void> {
  try {
    using folder = root.folder(parts.slice(0, -1));
    await Deno.remove(folder.at(parts.at(-1)!), { recursive: true });
  } catch (error) {
    const gone = error instanceof Deno.errors.NotFound ||
      (error instanceof FerryError && error.code === ErrorCode.NotFound);
    if (!gone) throw error;
  }
}

/** The server path of a local file received into `local` from `top`. */
function remoteOf(localPath: string, local: string, top: string): string {
  const base = local.replace(/\/+$/, "");
  const below = localPath.startsWith(`${base}/`) ? localPath.slice(base.length + 1) : localPath;
  return joinRemotePath(top, below);
}

/**
 * A watch, not yet running: iterate it for the files as they arrive, or
 * await `done()` (with `onFile`) until its signal ends it. It is plainly not
 * a promise: returning it from an async function does not wait for it. It
 * throws when the connection is lost; call `watch` again to reconnect and
 * catch up.
 */
export class WatchRun implements AsyncIterable<WatchedFile> {
  #files: AsyncGenerator<WatchedFile>;
  #done: Promise<void> | undefined;

  /** Wraps the watch's files; nothing runs until it is iterated or `done()` is called. */
  constructor(files: AsyncGenerator<WatchedFile>) {
    this.#files = files;
  }

  /** The files as they arrive; the watch starts with the first `next()`. */
  [Symbol.asyncIterator](): AsyncIterator<WatchedFile> {
    return this.#files;
  }

  /** Runs the watch to its end (`onFile` sees each file): resolves when its signal ends it. */
  done(): Promise<void> {
    this.#done ??= (async () => {
      for await (const _ of this.#files) { /* onFile sees each */ }
    })();
    return this.#done;
  }
}
