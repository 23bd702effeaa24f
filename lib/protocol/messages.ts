/**
 * Typed payloads of the control frames (docs/PROTOCOL.md). Control payloads
 * are UTF-8 JSON objects so that later versions can add fields (resume
 * offsets, sync checks, compression) without a version break: decoders ignore
 * fields they do not know and validate every field they use. Pure, no I/O.
 *
 * @module
 */

import { ErrorCode, FerryError, isErrorCode } from "../errors.ts";
import { MAX_CONTROL_PAYLOAD } from "./frame.ts";

/** Bytes in a handshake nonce and in an HMAC-SHA256 proof. */
export const NONCE_SIZE = 32;
export const PROOF_SIZE = 32;
/** Bytes in an END frame: the xxh3-128 digest of the whole file body. */
export const DIGEST_SIZE = 16;

/** Largest file size the protocol carries (2^53 - 1, JSON's exact integers). */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;

/** PUT: the client announces a file it is about to stream. */
export interface PutRequest {
  /** Destination, relative to the server root. */
  path: string;
  size: number;
  /** Permission bits (0o7777 is masked to 0o777 by the receiver). */
  mode: number;
  /** Modification time, milliseconds since the epoch. */
  mtime: number;
  /** Ask for a RESUME offer before the body: keep what an earlier attempt left. */
  resume?: boolean;
  /** The size is unknown (standard input): the body ends at END, `size` is ignored. */
  stream?: boolean;
}

/** GET: the client asks for a file, or with `recursive` a whole folder. */
export interface GetRequest {
  path: string;
  recursive: boolean;
  /** Resume: the client has this many bytes of the file already... */
  offset?: number;
  /** ...whose digest is this (hex); the server sends from `offset` only when its prefix matches. */
  digest?: string;
}

/** RESUME: from the server, what it kept of an upload; from the client, where the body starts. */
export interface ResumeMessage {
  offset: number;
  /** The digest of the kept prefix (hex), in the server's offer. */
  digest?: string;
}

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

/** DIR: the server announces a folder of a recursive GET response. */
export interface DirAnnouncement {
  path: string;
  mode: number;
}

/** STAT: the client asks what is at a path. */
export interface StatRequest {
  path: string;
}

/** The OK reply to STAT. */
export interface StatReply {
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  mode: number;
  mtime: number;
}

/** MKDIR: create a folder (with `parents`, like `mkdir -p`). */
export interface MkdirRequest {
  path: string;
  parents: boolean;
  mode?: number;
}

/** LIST: what is at a path; a folder's entries, with `recursive` the whole tree. */
export interface ListRequest {
  path: string;
  recursive: boolean;
  /** Add each file's xxh3-128 digest (reads every file: for --checksum). */
  digests?: boolean;
}

/** One entry of a LIST reply. */
export interface RemoteEntry {
  /** The last component ("" for the root). */
  name: string;
  /** Relative to the server root. */
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** Permission bits. */
  mode: number;
  /** Hex xxh3-128 of a file's contents, when the LIST asked for digests. */
  digest?: string;
}

/** RM: remove a file, symlink or (with `recursive`) folder; `force` ignores a missing path. */
export interface RemoveRequest {
  path: string;
  recursive: boolean;
  force: boolean;
}

/** RENAME: move a file or folder within the server root; never replaces a folder with content. */
export interface RenameRequest {
  from: string;
  to: string;
}

/** ERROR ends a request (or with id 0 the connection); NOTICE does not. */
export interface ErrorMessage {
  code: ErrorCode;
  message: string;
  path?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a control payload as UTF-8 JSON, refusing anything over the cap. */
export function encodeJson(value: object): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(value));
  if (bytes.length > MAX_CONTROL_PAYLOAD) {
    throw new FerryError(
      ErrorCode.BadPath,
      `A message of ${bytes.length} bytes is over the protocol limit`,
    );
  }
  return bytes;
}

type Fields = Record<string, unknown>;

function decodeObject(payload: Uint8Array, what: string): Fields {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    throw protocolError(`${what} is not valid UTF-8 JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw protocolError(`${what} is not a JSON object`);
  }
  return value as Fields;
}

function protocolError(message: string): FerryError {
  return new FerryError(ErrorCode.Protocol, message);
}

function str(fields: Fields, key: string, what: string): string {
  const value = fields[key];
  if (typeof value !== "string") throw protocolError(`${what} needs a string "${key}"`);
  return value;
}

function int(fields: Fields, key: string, what: string, min: number, max: number): number {
  const value = fields[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw protocolError(`${what} needs an integer "${key}" from ${min} to ${max}`);
  }
  return value;
}

function bool(fields: Fields, key: string, what: string): boolean {
  const value = fields[key];
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw protocolError(`${what} has a non-boolean "${key}"`);
  return value;
}

// Modification times may precede 1970 but stay within what Date can hold.
const MTIME_LIMIT = 8.64e15;

export function decodePut(payload: Uint8Array): PutRequest {
  const f = decodeObject(payload, "PUT");
  const request: PutRequest = {
    path: str(f, "path", "PUT"),
    size: int(f, "size", "PUT", 0, MAX_FILE_SIZE),
    mode: int(f, "mode", "PUT", 0, 0o7777),
    mtime: int(f, "mtime", "PUT", -MTIME_LIMIT, MTIME_LIMIT),
  };
  if (bool(f, "resume", "PUT")) request.resume = true;
  if (bool(f, "stream", "PUT")) request.stream = true;
  return request;
}

export function decodeGet(payload: Uint8Array): GetRequest {
  const f = decodeObject(payload, "GET");
  const request: GetRequest = {
    path: str(f, "path", "GET"),
    recursive: bool(f, "recursive", "GET"),
  };
  if (f.offset !== undefined) {
    request.offset = int(f, "offset", "GET", 0, MAX_FILE_SIZE);
    request.digest = str(f, "digest", "GET");
  }
  return request;
}

export function decodeResume(payload: Uint8Array): ResumeMessage {
  const f = decodeObject(payload, "RESUME");
  const message: ResumeMessage = { offset: int(f, "offset", "RESUME", 0, MAX_FILE_SIZE) };
  if (f.digest !== undefined) message.digest = str(f, "digest", "RESUME");
  return message;
}

export function decodeFile(payload: Uint8Array): FileAnnouncement {
  const f = decodeObject(payload, "FILE");
  const file: FileAnnouncement = {
    path: str(f, "path", "FILE"),
    size: int(f, "size", "FILE", 0, MAX_FILE_SIZE),
    mode: int(f, "mode", "FILE", 0, 0o7777),
    mtime: int(f, "mtime", "FILE", -MTIME_LIMIT, MTIME_LIMIT),
  };
  if (f.offset !== undefined) file.offset = int(f, "offset", "FILE", 0, file.size);
  return file;
}

export function decodeDir(payload: Uint8Array): DirAnnouncement {
  const f = decodeObject(payload, "DIR");
  return { path: str(f, "path", "DIR"), mode: int(f, "mode", "DIR", 0, 0o7777) };
}

export function decodeStat(payload: Uint8Array): StatRequest {
  return { path: str(decodeObject(payload, "STAT"), "path", "STAT") };
}

const STAT_TYPES = new Set(["file", "dir", "symlink", "other"]);

function statFields(f: Fields, what: string): StatReply {
  const type = str(f, "type", what);
  if (!STAT_TYPES.has(type)) throw protocolError(`${what} has an unknown type "${type}"`);
  return {
    type: type as StatReply["type"],
    size: int(f, "size", what, 0, MAX_FILE_SIZE),
    mode: int(f, "mode", what, 0, 0o7777),
    mtime: int(f, "mtime", what, -MTIME_LIMIT, MTIME_LIMIT),
  };
}

export function decodeStatReply(payload: Uint8Array): StatReply {
  return statFields(decodeObject(payload, "STAT reply"), "STAT reply");
}

export function decodeList(payload: Uint8Array): ListRequest {
  const f = decodeObject(payload, "LIST");
  return {
    path: str(f, "path", "LIST"),
    recursive: bool(f, "recursive", "LIST"),
    digests: bool(f, "digests", "LIST"),
  };
}

/** Decodes an ENTRIES frame: `{"entries": [...]}`, a batch of a LIST reply. */
export function decodeEntries(payload: Uint8Array): RemoteEntry[] {
  const entries = decodeObject(payload, "ENTRIES").entries;
  if (!Array.isArray(entries)) throw protocolError(`ENTRIES needs an array "entries"`);
  return entries.map((value: unknown) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw protocolError("An ENTRIES item is not a JSON object");
    }
    const f = value as Fields;
    const entry: RemoteEntry = {
      name: str(f, "name", "An entry"),
      path: str(f, "path", "An entry"),
      ...statFields(f, "An entry"),
    };
    if (typeof f.digest === "string") entry.digest = f.digest;
    return entry;
  });
}

export function decodeRemove(payload: Uint8Array): RemoveRequest {
  const f = decodeObject(payload, "RM");
  return {
    path: str(f, "path", "RM"),
    recursive: bool(f, "recursive", "RM"),
    force: bool(f, "force", "RM"),
  };
}

export function decodeRename(payload: Uint8Array): RenameRequest {
  const f = decodeObject(payload, "RENAME");
  return { from: str(f, "from", "RENAME"), to: str(f, "to", "RENAME") };
}

export function decodeMkdir(payload: Uint8Array): MkdirRequest {
  const f = decodeObject(payload, "MKDIR");
  const request: MkdirRequest = {
    path: str(f, "path", "MKDIR"),
    parents: bool(f, "parents", "MKDIR"),
  };
  if (f.mode !== undefined) request.mode = int(f, "mode", "MKDIR", 0, 0o7777);
  return request;
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

/** Decodes an OK payload that carries no typed fields (an empty payload is `{}`). */
export function decodeOk(payload: Uint8Array): Fields {
  return payload.length === 0 ? {} : decodeObject(payload, "OK");
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
