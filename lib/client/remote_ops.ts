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
  decodeRemoveDone,
  decodeStatReply,
  errorFromMessage,
  type RemoteEntry,
  type StatReply,
} from "../protocol/replies.ts";
import { type Connection, unexpected } from "./connection.ts";

/** What is at a remote path, or null when nothing is. */
export async function statRemote(connection: Connection, path: string): Promise<StatReply | null> {
  try {
    return decodeStatReply(await connection.request(Kind.Stat, encodeStat({ path })));
  } catch (error) {
    if (error instanceof FerryError && error.code === ErrorCode.NotFound) return null;
    throw error;
  }
}

/** Options of {@link makeRemoteFolder}. */
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

/** Options of {@link removeRemote}. */
export interface RemoveOptions {
  /** Remove a folder and everything in it. */
  recursive?: boolean | undefined;
  /** A missing path is not an error. */
  force?: boolean | undefined;
}

/** Removes a remote entry; resolves with whether something was removed. */
export async function removeRemote(
  connection: Connection,
  path: string,
  options: RemoveOptions = {},
): Promise<boolean> {
  const reply = await connection.request(
    Kind.Remove,
    encodeRemove({ path, recursive: options.recursive ?? false, force: options.force ?? false }),
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

/** Options of {@link listRemote}. */
export interface ListOptions {
  /** The whole tree: each folder is followed by its contents. */
  recursive?: boolean | undefined;
  /** Also each file's digest (the server reads every file). */
  digests?: boolean | undefined;
  /** Told of each subfolder that could not be read; the listing goes on. */
  onNotice?: ((error: FerryError) => void) | undefined;
  /** Stops the listing (the rest of the reply is dropped) and rejects with `aborted`. */
  signal?: AbortSignal | undefined;
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
  options.signal?.throwIfAborted();
  const queue: RemoteEntry[][] = [];
  let finished = false;
  let failure: FerryError | undefined;
  let wake = () => {};
  let resume = () => {};
  const done = (error?: FerryError) => {
    connection.finish(id);
    finished = true;
    failure = error;
    wake();
  };
  const id = connection.open({
    onFrame: (frame) => {
      if (frame.kind === Kind.Entries) {
        queue.push(decodeEntries(frame.payload));
        wake();
        // Pause the read loop until the consumer catches up.
        if (queue.length >= MAX_QUEUED_BATCHES) {
          return new Promise<void>((resolve) => resume = resolve);
        }
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
  const onAbort = () => {
    // The rest of the reply is dropped; the connection stays usable.
    connection.abandon(id);
    finished = true;
    failure = new FerryError(ErrorCode.Aborted, "The listing was cancelled");
    wake();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await connection.writer.frame(
      Kind.List,
      id,
      encodeList({
        path,
        recursive: options.recursive ?? false,
        digests: options.digests ?? false,
      }),
      { flush: true },
    );
  } catch (error) {
    connection.finish(id);
    options.signal?.removeEventListener("abort", onAbort);
    throw connection.connectionError(error);
  }
  try {
    while (true) {
      const batch = queue.shift();
      if (batch !== undefined && failure === undefined) {
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
    options.signal?.removeEventListener("abort", onAbort);
    // A consumer that stops early: the rest of the reply is dropped.
    queue.length = 0;
    if (!finished) connection.abandon(id);
    resume();
  }
}
