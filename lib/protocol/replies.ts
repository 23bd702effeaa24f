/**
 * The typed replies a server sends (docs/PROTOCOL.md): announcements of the
 * files and folders of a GET, listing entries, the OK reply of every request
 * kind, and ERROR and NOTICE. Each encoder sits beside its decoder. Pure.
 *
 * @module
 */

import { ErrorCode, FerryError, isErrorCode } from "../errors.ts";
import {
  asObject,
  decodeObject,
  encodeObject,
  encodeText,
  type Fields,
  int,
  mode,
  mtime,
  protocolError,
  size,
  str,
} from "./_json.ts";

/** FILE: the server announces one file of a GET response. */
export interface FileAnnouncement {
  /** Relative to the requested path; "" when a single file was requested. */
  path: string;
  size: number;
  mode: number;
  mtime: number;
  /** Where the body starts (a resumed GET); 0 when absent. */
  offset?: number;
}

export function encodeFile(file: FileAnnouncement): Uint8Array {
  const { path, size, mode, mtime, offset } = file;
  return encodeObject({ path, size, mode, mtime, offset: offset ?? 0 });
}

export function decodeFile(payload: Uint8Array): FileAnnouncement {
  const f = decodeObject(payload, "FILE");
  const file: FileAnnouncement = {
    path: str(f, "path", "FILE"),
    size: size(f, "FILE"),
    mode: mode(f, "FILE"),
    mtime: mtime(f, "FILE"),
  };
  if (f.offset !== undefined) file.offset = int(f, "offset", "FILE", 0, file.size);
  return file;
}

/** DIR: the server announces a folder of a recursive GET response. */
export interface DirAnnouncement {
  path: string;
  mode: number;
}

export function encodeDir(dir: DirAnnouncement): Uint8Array {
  return encodeObject({ path: dir.path, mode: dir.mode });
}

export function decodeDir(payload: Uint8Array): DirAnnouncement {
  const f = decodeObject(payload, "DIR");
  return { path: str(f, "path", "DIR"), mode: mode(f, "DIR") };
}

/** What is at a remote path: the OK reply to STAT, and the facts of a listing entry. */
export interface StatReply {
  /** What it is; a symlink is reported, never followed (except inside the path). */
  type: "file" | "dir" | "symlink" | "other";
  /** Bytes, for a file. */
  size: number;
  /** Permission bits. */
  mode: number;
  /** Milliseconds since the epoch. */
  mtime: number;
}

const STAT_TYPES = new Set(["file", "dir", "symlink", "other"]);

function statFields(f: Fields, what: string): StatReply {
  const type = str(f, "type", what);
  if (!STAT_TYPES.has(type)) throw protocolError(`${what} has an unknown type "${type}"`);
  return {
    type: type as StatReply["type"],
    size: size(f, what),
    mode: mode(f, what),
    mtime: mtime(f, what),
  };
}

export function encodeStatReply(reply: StatReply): Uint8Array {
  const { type, size, mode, mtime } = reply;
  return encodeObject({ type, size, mode, mtime });
}

export function decodeStatReply(payload: Uint8Array): StatReply {
  return statFields(decodeObject(payload, "STAT reply"), "STAT reply");
}

/** One entry of a LIST reply. */
export interface RemoteEntry extends StatReply {
  /** The last component ("" for the root). */
  name: string;
  /** Relative to the server root. */
  path: string;
  /** Hex xxh3-128 of a file's contents, when the LIST asked for digests. */
  digest?: string | undefined;
  /** In a WATCH reply only: it was removed (or moved away); type, size and times mean nothing. */
  removed?: boolean | undefined;
}

/** One entry as JSON text: the server batches many into one ENTRIES frame. */
export function entryJson(entry: RemoteEntry): string {
  const { name, path, type, size, mode, mtime, digest, removed } = entry;
  return JSON.stringify({ name, path, type, size, mode, mtime, digest, removed });
}

/** An ENTRIES frame from entries already turned into JSON text by {@link entryJson}. */
export function encodeEntries(entries: readonly string[]): Uint8Array {
  return encodeText(`{"entries":[${entries.join(",")}]}`);
}

/** Decodes an ENTRIES frame: `{"entries": [...]}`, a batch of a LIST reply. */
export function decodeEntries(payload: Uint8Array): RemoteEntry[] {
  const entries = decodeObject(payload, "ENTRIES").entries;
  if (!Array.isArray(entries)) throw protocolError(`ENTRIES needs an array "entries"`);
  return entries.map((value: unknown) => {
    const f = asObject(value, "An ENTRIES item");
    const entry: RemoteEntry = {
      name: str(f, "name", "An entry"),
      path: str(f, "path", "An entry"),
      ...statFields(f, "An entry"),
    };
    if (typeof f.digest === "string") entry.digest = f.digest;
    if (f.removed === true) entry.removed = true;
    return entry;
  });
}

/** The OK that ends a GET: what was sent. */
export interface GetDone {
  files: number;
  bytes: number;
  skipped: number;
}

export function encodeGetDone(done: GetDone): Uint8Array {
  return encodeObject({ files: done.files, bytes: done.bytes, skipped: done.skipped });
}

/** The OK that ends a LIST: how many entries were sent. */
export interface ListDone {
  entries: number;
}

export function encodeListDone(done: ListDone): Uint8Array {
  return encodeObject({ entries: done.entries });
}

export function decodeListDone(payload: Uint8Array): ListDone {
  const f = decodeObject(payload, "LIST reply");
  return { entries: int(f, "entries", "LIST reply", 0, Number.MAX_SAFE_INTEGER) };
}

/** The OK of an RM: false only when `force` found nothing to remove. */
export interface RemoveDone {
  removed: boolean;
}

export function encodeRemoveDone(done: RemoveDone): Uint8Array {
  return encodeObject({ removed: done.removed });
}

export function decodeRemoveDone(payload: Uint8Array): RemoveDone {
  if (payload.length === 0) return { removed: true };
  // Absent means removed: the reply of servers before the field existed.
  return { removed: decodeObject(payload, "RM reply").removed !== false };
}

/** The OK of PUT, MKDIR and RENAME: nothing to say. */
export const EMPTY_OK: Uint8Array = new Uint8Array(0);

/** ERROR ends a request (or with id 0 the connection); NOTICE does not. */
export interface ErrorMessage {
  code: ErrorCode;
  message: string;
  path?: string | undefined;
}

// Caps that keep an ERROR under the frame limit whatever the path.
const MAX_ERROR_MESSAGE = 2000;
const MAX_ERROR_PATH = 4096;

export function encodeError(error: ErrorMessage): Uint8Array {
  const { code, message, path } = error;
  return encodeObject({
    code,
    message: message.slice(0, MAX_ERROR_MESSAGE),
    ...(path === undefined ? {} : { path: path.slice(0, MAX_ERROR_PATH) }),
  });
}

/** Decodes ERROR and NOTICE payloads; an unknown code from a newer peer becomes "internal". */
export function decodeError(payload: Uint8Array): ErrorMessage {
  const f = decodeObject(payload, "ERROR");
  const code = str(f, "code", "ERROR");
  const message: ErrorMessage = {
    code: isErrorCode(code) ? code : ErrorCode.Internal,
    message: str(f, "message", "ERROR"),
  };
  if (typeof f.path === "string") message.path = f.path;
  return message;
}

/** The error an ERROR or NOTICE payload carries, as the library throws it. */
export function errorFromPayload(payload: Uint8Array): FerryError {
  return errorFromMessage(decodeError(payload));
}

/** Turns an ERROR message into the error the library throws. */
export function errorFromMessage(message: ErrorMessage): FerryError {
  return new FerryError(
    message.code,
    message.message,
    message.path === undefined ? undefined : { path: message.path },
  );
}

/** Checks the length of a fixed-size binary payload (nonce, proof, digest). */
export function expectSize(payload: Uint8Array, size: number, what: string): Uint8Array {
  if (payload.length !== size) {
    throw protocolError(`${what} must be ${size} bytes, got ${payload.length}`);
  }
  return payload;
}
