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
  decodeListDone,
  decodeRemoveDone,
  decodeStatReply,
  type RemoteEntry,
  type StatReply,
} from "../protocol/replies.ts";
import type { Connection } from "./connection.ts";
import type { Call } from "./call.ts";
import { checkCancelled } from "./options.ts";

/** What is at a remote path, or null when nothing is. */
export async function statRemote(connection: Connection, path: string): Promise<StatReply | null> {
  try {
    return decodeStatReply(await connection.call(Kind.Stat, encodeStat({ path })).ok());
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
  await connection.call(
    Kind.Mkdir,
    encodeMkdir({
      path,
      parents: options.parents ?? false,
      ...(options.mode === undefined ? {} : { mode: options.mode }),
    }),
  ).ok();
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
  const reply = await connection.call(
    Kind.Remove,
    encodeRemove({
      path,
      recursive: options.recursive ?? false,
      force: options.force ?? false,
      backup: backupRequest(options.backup),
    }),
  ).ok();
  return decodeRemoveDone(reply).removed;
}

export async function renameRemote(
  connection: Connection,
  from: string,
  to: string,
): Promise<void> {
  await connection.call(Kind.Rename, encodeRename({ from, to })).ok();
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

/**
 * Lists a remote folder, sorted by name, or a remote file as one entry.
 * Entries stream in as the server reads them; a slow consumer slows the
 * server down rather than buffering (one batch is read ahead).
 */
export async function* listRemote(
  connection: Connection,
  path: string,
  options: ListOptions = {},
): AsyncGenerator<RemoteEntry> {
  checkCancelled(options.signal);
  const request = encodeList({
    path,
    recursive: options.recursive ?? false,
    digests: options.digests ?? false,
    ...(options.filter === undefined ? {} : { filter: [...options.filter] }),
  });
  const call = connection.call(Kind.List, request, options);
  try {
    yield* listedEntries(call);
  } finally {
    void call.return();
  }
}

/** The entries of a LIST's ENTRIES batches, checked against the count its OK gives. */
async function* listedEntries(call: Call): AsyncGenerator<RemoteEntry> {
  let received = 0;
  let reply = call.next();
  while (true) {
    const { value: frame, done } = await reply;
    if (done) throw new FerryError(ErrorCode.Aborted, "The listing was cancelled");
    if (frame.kind === Kind.Ok) return checkCount(decodeListDone(frame.payload).entries, received);
    if (frame.kind !== Kind.Entries) throw call.unexpected(frame);
    const batch = decodeEntries(frame.payload);
    received += batch.length;
    // The next batch is read while the consumer takes this one.
    reply = call.next();
    reply.catch(() => {});
    yield* batch;
  }
}

/** A listing that says it sent more (or fewer) entries than arrived is not to be trusted. */
function checkCount(counted: number, received: number): void {
  if (counted === received) return;
  throw new FerryError(
    ErrorCode.Protocol,
    `The server's listing counted ${counted} entries but sent ${received}`,
  );
}
