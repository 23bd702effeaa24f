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
import type { FsyncMode } from "../protocol/constants.ts";
import { ConfinedRoot } from "../fs/confinement.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import { getPaths } from "./get.ts";
import { PathFilter } from "../fs/filter.ts";
import type { CommittedFile, TransferOptions } from "./transfer.ts";
import { printable } from "../text.ts";
import { joinRemotePath, splitRemotePath } from "../remote_path.ts";

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
  /** How received files are made durable (see `TransferOptions.fsync`). */
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
  let localRoot: ConfinedRoot | undefined;
  const call = connection.call(Kind.Watch, encodeWatch({ path: top }));
  void receivePushes(call, pushed);
  try {
    await call.sent;
    await Deno.mkdir(local, { recursive: true });
    // What arrives is resolved beneath LOCAL, held: a link planted in it leads nowhere.
    localRoot = ConfinedRoot.open(local);
    const root = localRoot;
    const received: WatchedFile[] = [];
    const filter = PathFilter.optional(options.filter);
    const fetch = (source: string, dest: string, asFolder: boolean, below: string[] = []) =>
      getPaths(
        connection,
        openLane,
        [source],
        dest,
        {
          recursive: asFolder,
          sync: true,
          delete: asFolder && (options.delete ?? false),
          fsync: options.fsync,
          onFile: (file) => received.push({ ...file, remotePath: remoteOf(file.path, local, top) }),
        } satisfies TransferOptions,
        asFolder,
        below.length === 0 ? filter : filter?.below(below.join("/")),
        { root, parts: below },
      );
    // The catch-up: what arrived while nobody watched.
    await fetch(top, local, true);
    yield* deliver(received, options);
    for (let entry; (entry = await pushed.next(options.signal)) !== null;) {
      const below = relativeTo(top, entry.path);
      if (below === null) {
        options.onError?.(refusedName(entry.path));
        continue;
      }
      if (filter?.excludesPath(below.join("/"), entry.type === "dir")) continue;
      try {
        if (entry.removed) {
          // Mirrored only with `delete`, and never the local folder itself.
          if (options.delete && below.length > 0) await removeLocal(root, below);
          continue;
        }
        const dest = below.length === 0 ? local : `${local.replace(/\/+$/, "")}/${below.join("/")}`;
        if (entry.type !== "dir") root.makeFolders(below.slice(0, -1)).folder.release();
        await fetch(entry.path, dest, entry.type === "dir", below);
      } catch (error) {
        const failure = toFerryError(error, "get", entry.path);
        if (failure.code === ErrorCode.Connection || failure.code === ErrorCode.Protocol) {
          throw failure;
        }
        options.onError?.(failure);
      }
      yield* deliver(received, options);
    }
  } finally {
    call.cancel();
    localRoot?.close();
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
 * A running watch: iterate it for the files as they arrive, or await it
 * (with `onFile`) until its signal ends it. It throws when the connection
 * is lost; call `watch` again to reconnect and catch up.
 */
export class WatchRun implements AsyncIterable<WatchedFile>, PromiseLike<void> {
  #files: AsyncGenerator<WatchedFile>;
  #done: Promise<void> | undefined;

  /** Wraps the watch's files; nothing runs until it is iterated or awaited. */
  constructor(files: AsyncGenerator<WatchedFile>) {
    this.#files = files;
  }

  /** The files as they arrive; the watch starts with the first `next()`. */
  [Symbol.asyncIterator](): AsyncIterator<WatchedFile> {
    return this.#files;
  }

  /** Runs the watch to its end (`onFile` sees each file): resolves when its signal ends it. */
  then<A = void, B = never>(
    onDone?: ((value: void) => A | PromiseLike<A>) | null,
    onFailed?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): PromiseLike<A | B> {
    this.#done ??= (async () => {
      for await (const _ of this.#files) { /* onFile sees each */ }
    })();
    return this.#done.then(onDone, onFailed);
  }
}
