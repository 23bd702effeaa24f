/**
 * The one-request operations on a connection: stat, mkdir, list, remove and
 * rename. Each encodes a typed request and decodes its typed reply.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import {
  encodeList,
  encodeMkdir,
  encodeRemove,
  encodeRename,
  encodeStat,
} from "../protocol/requests.ts";
import {
  decodeEntries,
  decodeError,
  decodeListDone,
  decodeRemoveDone,
  decodeStatReply,
  errorFromMessage,
  type RemoteEntry,
  type StatReply,
} from "../protocol/replies.ts";
import type { Frame } from "../wire/frame_reader.ts";
import { printable, splitRemotePath } from "../fs/safe_path.ts";
import { type Connection, unexpected } from "./connection.ts";
import { checkCancelled } from "./transfer.ts";

/** What is at a remote path, or null when nothing is. */
export async function statRemote(connection: Connection, path: string): Promise<StatReply | null> {
  try {
    return decodeStatReply(await connection.request(Kind.Stat, encodeStat({ path })));
  } catch (error) {
    if (error instanceof FerryError && error.code === ErrorCode.NotFound) return null;
    throw error;
  }
}

/** Options of `FerryClient.mkdir`. */
export interface MkdirOptions {
  /** Create missing parents too, and accept an existing folder (`mkdir -p`). */
  parents?: boolean | undefined;
  /** Permission bits of the new folder. */
  mode?: number | undefined;
}

export async function makeRemoteFolder(
  connection: Connection,
  path: string,
  options: MkdirOptions = {},
): Promise<void> {
  await connection.request(
    Kind.Mkdir,
    encodeMkdir({
      path,
      parents: options.parents ?? false,
      ...(options.mode === undefined ? {} : { mode: options.mode }),
    }),
  );
}

/** Options of `FerryClient.remove`. */
export interface RemoveOptions {
  /** Remove a folder and everything in it. */
  recursive?: boolean | undefined;
  /** A missing path is not an error. */
  force?: boolean | undefined;
  /**
   * Move it to a numbered backup `NAME.~N~` instead: `true` beside it, or
   * a remote folder whose tree mirrors the root's. Allowed by a `noDelete` server.
   */
  backup?: boolean | string | undefined;
}

/** The `backup` field of PUT and RM: "" beside the file, a folder, or undefined for none. */
export function backupRequest(backup: boolean | string | undefined): string | undefined {
  return backup === true ? "" : backup === false ? undefined : backup;
}

/** Removes a remote entry; resolves with whether something was removed. */
export async function removeRemote(
  connection: Connection,
  path: string,
  options: RemoveOptions = {},
): Promise<boolean> {
  const reply = await connection.request(
    Kind.Remove,
    encodeRemove({
      path,
      recursive: options.recursive ?? false,
      force: options.force ?? false,
      backup: backupRequest(options.backup),
    }),
  );
  return decodeRemoveDone(reply).removed;
}

export async function renameRemote(
  connection: Connection,
  from: string,
  to: string,
): Promise<void> {
  await connection.request(Kind.Rename, encodeRename({ from, to }));
}

/** Options of `FerryClient.list`. */
export interface ListOptions {
  /** The whole tree: each folder is followed by its contents. */
  recursive?: boolean | undefined;
  /** Also each file's digest (the server reads every file). */
  digests?: boolean | undefined;
  /** Told of each subfolder that could not be read; the listing goes on. */
  onNotice?: ((error: FerryError) => void) | undefined;
  /** Stops the listing (the rest of the reply is dropped) and rejects with `aborted`. */
  signal?: AbortSignal | undefined;
  /**
   * Include and exclude rules ("- *.tmp", "+ photos/"; see
   * {@link TransferOptions.filter}): the server leaves out what they
   * exclude and does not enter excluded folders.
   */
  filter?: readonly string[] | undefined;
}

// ENTRIES batches held before the read loop waits for the consumer.
const MAX_QUEUED_BATCHES = 4;

/**
 * Lists a remote folder, sorted by name, or a remote file as one entry.
 * Entries stream in as the server reads them; a slow consumer slows the
 * server down rather than buffering.
 */
export async function* listRemote(
  connection: Connection,
  path: string,
  options: ListOptions = {},
): AsyncGenerator<RemoteEntry> {
  checkCancelled(options.signal);
  const reply = new ListReply(connection, options);
  try {
    await reply.send(path, options);
    yield* reply.entries();
  } finally {
    reply.close();
  }
}

/** The ENTRIES batches of one LIST, queued for the consumer. */
class ListReply {
  #connection: Connection;
  #signal: AbortSignal | undefined;
  #id: number;
  #queue: RemoteEntry[][] = [];
  #finished = false;
  /** Entries that arrived: the OK must count the same. */
  #received = 0;
  #failure: FerryError | undefined;
  #wake = () => {};
  #resume = () => {};

  constructor(connection: Connection, options: ListOptions) {
    this.#connection = connection;
    this.#signal = options.signal;
    this.#id = connection.open({
      onFrame: (frame) => this.#onFrame(frame, options.onNotice),
      fail: (error) => this.#done(error),
    });
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  async send(path: string, options: ListOptions): Promise<void> {
    const request = encodeList({
      path,
      recursive: options.recursive ?? false,
      digests: options.digests ?? false,
      ...(options.filter === undefined ? {} : { filter: [...options.filter] }),
    });
    try {
      await this.#connection.writer.frame(Kind.List, this.#id, request, { flush: true });
    } catch (error) {
      this.#done(this.#connection.connectionError(error));
    }
  }

  async *entries(): AsyncGenerator<RemoteEntry> {
    while (true) {
      const batch = this.#queue.shift();
      if (batch !== undefined && this.#failure === undefined) {
        this.#resume();
        yield* batch;
      } else if (this.#finished) {
        if (this.#failure !== undefined) throw this.#failure;
        return;
      } else {
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
    }
  }

  /** A consumer that stops early: the rest of the reply is dropped, the connection kept. */
  close(): void {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#queue.length = 0;
    if (!this.#finished) this.#connection.abandon(this.#id);
    this.#finished = true;
    this.#resume();
  }

  #onFrame(frame: Frame, onNotice: ListOptions["onNotice"]): Promise<void> | undefined {
    if (frame.kind === Kind.Entries) {
      const batch = decodeEntries(frame.payload);
      this.#received += batch.length;
      this.#queue.push(batch);
      this.#wake();
      // Pause the read loop until the consumer catches up.
      if (this.#queue.length < MAX_QUEUED_BATCHES) return undefined;
      return new Promise<void>((resolve) => this.#resume = resolve);
    }
    if (frame.kind === Kind.Notice) onNotice?.(errorFromMessage(decodeError(frame.payload)));
    else if (frame.kind === Kind.Ok) this.#done(this.#checkCount(frame.payload));
    else if (frame.kind === Kind.Error) this.#done(errorFromMessage(decodeError(frame.payload)));
    else this.#done(unexpected(frame));
    return undefined;
  }

  /** A listing that says it sent more (or fewer) entries than arrived is not to be trusted. */
  #checkCount(payload: Uint8Array): FerryError | undefined {
    const { entries } = decodeListDone(payload);
    if (entries === this.#received) return undefined;
    return new FerryError(
      ErrorCode.Protocol,
      `The server's listing counted ${entries} entries but sent ${this.#received}`,
    );
  }

  #done(error?: FerryError): void {
    this.#connection.finish(this.#id);
    this.#finished = true;
    this.#failure = error;
    this.#wake();
  }

  #onAbort = (): void => {
    if (this.#finished) return;
    // The rest of the reply is dropped; the connection stays usable.
    this.#connection.abandon(this.#id);
    this.#finished = true;
    this.#failure = new FerryError(ErrorCode.Aborted, "The listing was cancelled");
    this.#wake();
  };
}

/**
 * As POSIX rm refuses "." and "..", a remove never takes a path that names
 * a folder only through "." (`sub/.`), nor, given the named host's `folder`,
 * that whole folder (`pi:`): a slip of the keyboard must not empty it.
 */
export function checkRemovable(path: string, folder: string): void {
  const last = path.replace(/\/+$/, "").split("/").at(-1);
  const why = last === "." || last === ".."
    ? `it ends in "${last}"; name the folder itself`
    : splitRemotePath(path).length === 0 && folder !== ""
    ? `it is this host's whole folder "${printable(folder)}"`
    : undefined;
  if (why === undefined) return;
  throw new FerryError(ErrorCode.BadPath, `Refused to remove "${printable(path)}": ${why}`, {
    path,
  });
}
