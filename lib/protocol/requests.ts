/**
 * The typed requests a client sends (docs/PROTOCOL.md), each with its
 * encoder beside its decoder: nothing goes on the wire as an untyped object
 * literal. Pure, no I/O.
 *
 * @module
 */

import {
  bool,
  decodeObject,
  encodeObject,
  int,
  MAX_FILE_SIZE,
  mode,
  mtime,
  protocolError,
  size,
  str,
  strings,
} from "./_json.ts";
import { MAX_DATA_PAYLOAD } from "./frame.ts";
import { COMPRESS_LEVELS, FSYNC_MODES, type FsyncMode } from "./constants.ts";

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
  /** The size is unknown (a stream): the body ends at END, `size` is ignored. */
  stream?: boolean;
  /** How the file is made durable; absent means `each` (the server may serve it stronger). */
  fsync?: FsyncMode | undefined;
  /** Keep a replaced file as a numbered backup: "" beside it, else in this folder (a server path). */
  backup?: string | undefined;
}

/** The optional `backup` field of PUT and RM. */
function backupField(backup: string | undefined): { backup?: string } {
  return backup === undefined ? {} : { backup };
}

function decodeBackup(f: Record<string, unknown>, what: string): string | undefined {
  return f.backup === undefined ? undefined : str(f, "backup", what);
}

export function encodePut(request: PutRequest): Uint8Array {
  const { path, size, mode, mtime } = request;
  return encodeObject({
    path,
    size,
    mode,
    mtime,
    ...(request.resume ? { resume: true } : {}),
    ...(request.stream ? { stream: true } : {}),
    ...(request.fsync !== undefined && request.fsync !== "each" ? { fsync: request.fsync } : {}),
    ...backupField(request.backup),
  });
}

export function decodePut(payload: Uint8Array): PutRequest {
  const f = decodeObject(payload, "PUT");
  const request: PutRequest = {
    path: str(f, "path", "PUT"),
    size: size(f, "PUT"),
    mode: mode(f, "PUT"),
    mtime: mtime(f, "PUT"),
  };
  if (bool(f, "resume", "PUT")) request.resume = true;
  if (bool(f, "stream", "PUT")) request.stream = true;
  if (f.fsync !== undefined) {
    if (!FSYNC_MODES.includes(f.fsync as FsyncMode)) {
      throw protocolError(`PUT has an unknown "fsync" mode (${FSYNC_MODES.join(", ")})`);
    }
    request.fsync = f.fsync as FsyncMode;
  }
  const backup = decodeBackup(f, "PUT");
  if (backup !== undefined) request.backup = backup;
  return request;
}

/** GET: the client asks for a file, or with `recursive` a whole folder. */
export interface GetRequest {
  path: string;
  recursive: boolean;
  /** Resume: the client has this many bytes of the file already, whose digest is `digest` (hex). */
  resumeFrom?: { offset: number; digest: string };
  /** Send the body's chunks zstd-compressed at this level (1 to 19) where they shrink. */
  compress?: number;
  /**
   * Largest DATA payload to send (at least 1 KiB): a client that limits its
   * rate asks for small pieces, so that data keeps flowing at that rate
   * instead of a whole 1 MiB frame and then seconds of silence.
   */
  chunk?: number;
}

export function encodeGet(request: GetRequest): Uint8Array {
  const { path, recursive, resumeFrom, compress, chunk } = request;
  return encodeObject({
    path,
    recursive,
    ...resumeFrom,
    ...(compress === undefined ? {} : { compress }),
    ...(chunk === undefined ? {} : { chunk }),
  });
}

export function decodeGet(payload: Uint8Array): GetRequest {
  const f = decodeObject(payload, "GET");
  const request: GetRequest = {
    path: str(f, "path", "GET"),
    recursive: bool(f, "recursive", "GET"),
  };
  if (f.offset !== undefined) {
    request.resumeFrom = {
      offset: int(f, "offset", "GET", 0, MAX_FILE_SIZE),
      digest: str(f, "digest", "GET"),
    };
  }
  if (f.compress !== undefined) {
    request.compress = int(f, "compress", "GET", COMPRESS_LEVELS.min, COMPRESS_LEVELS.max);
  }
  if (f.chunk !== undefined) request.chunk = int(f, "chunk", "GET", 1024, MAX_DATA_PAYLOAD);
  return request;
}

/** RESUME: from the server, what it kept of an upload; from the client, where the body starts. */
export interface ResumeMessage {
  offset: number;
  /** The digest of the kept prefix (hex), in the server's offer. */
  digest?: string;
}

export function encodeResume(message: ResumeMessage): Uint8Array {
  const { offset, digest } = message;
  return encodeObject(digest === undefined ? { offset } : { offset, digest });
}

export function decodeResume(payload: Uint8Array): ResumeMessage {
  const f = decodeObject(payload, "RESUME");
  const message: ResumeMessage = { offset: int(f, "offset", "RESUME", 0, MAX_FILE_SIZE) };
  if (f.digest !== undefined) message.digest = str(f, "digest", "RESUME");
  return message;
}

/**
 * CANCEL: the sender gives a request up (an empty payload). An upload's
 * sender may ask with `keep` that the part already received stays, for the
 * next attempt to resume from (a user's cancel, not a refusal).
 */
export interface CancelMessage {
  keep?: boolean;
}

export function encodeCancel(message: CancelMessage): Uint8Array {
  return message.keep ? encodeObject({ keep: true }) : new Uint8Array(0);
}

export function decodeCancel(payload: Uint8Array): CancelMessage {
  if (payload.length === 0) return {};
  return bool(decodeObject(payload, "CANCEL"), "keep", "CANCEL") ? { keep: true } : {};
}

/** STAT: the client asks what is at a path. */
export interface StatRequest {
  path: string;
}

export function encodeStat(request: StatRequest): Uint8Array {
  return encodeObject({ path: request.path });
}

export function decodeStat(payload: Uint8Array): StatRequest {
  return { path: str(decodeObject(payload, "STAT"), "path", "STAT") };
}

/** MKDIR: create a folder (with `parents`, like `mkdir -p`). */
export interface MkdirRequest {
  path: string;
  parents: boolean;
  mode?: number;
  /**
   * Set the folder's modification time (milliseconds), existing or not: a
   * send sends this last, for each folder, once the files in it are there.
   */
  mtime?: number;
}

export function encodeMkdir(request: MkdirRequest): Uint8Array {
  const { path, parents, mode, mtime } = request;
  return encodeObject({
    path,
    parents,
    ...(mode === undefined ? {} : { mode }),
    ...(mtime === undefined ? {} : { mtime }),
  });
}

export function decodeMkdir(payload: Uint8Array): MkdirRequest {
  const f = decodeObject(payload, "MKDIR");
  const request: MkdirRequest = {
    path: str(f, "path", "MKDIR"),
    parents: bool(f, "parents", "MKDIR"),
  };
  if (f.mode !== undefined) request.mode = mode(f, "MKDIR");
  if (f.mtime !== undefined) request.mtime = mtime(f, "MKDIR");
  return request;
}

/** LIST: what is at a path; a folder's entries, with `recursive` the whole tree. */
export interface ListRequest {
  path: string;
  recursive: boolean;
  /** Add each file's xxh3-128 digest (reads every file: for checksum sync). */
  digests: boolean;
  /**
   * Include and exclude rules ("- PATTERN", "+ PATTERN") over the paths
   * below `path`: what they exclude is not listed, nor entered.
   */
  filter?: string[];
}

export function encodeList(request: ListRequest): Uint8Array {
  const { path, recursive, digests, filter } = request;
  return encodeObject({
    path,
    recursive,
    ...(digests ? { digests } : {}),
    ...(filter !== undefined && filter.length > 0 ? { filter } : {}),
  });
}

export function decodeList(payload: Uint8Array): ListRequest {
  const f = decodeObject(payload, "LIST");
  const request: ListRequest = {
    path: str(f, "path", "LIST"),
    recursive: bool(f, "recursive", "LIST"),
    digests: bool(f, "digests", "LIST"),
  };
  const filter = strings(f, "filter", "LIST");
  if (filter !== undefined) request.filter = filter;
  return request;
}

/** RM: remove a file, symlink or (with `recursive`) folder; `force` ignores a missing path. */
export interface RemoveRequest {
  path: string;
  recursive: boolean;
  force: boolean;
  /** Move it to a numbered backup instead: "" beside it, else in this folder (a server path). */
  backup?: string | undefined;
}

export function encodeRemove(request: RemoveRequest): Uint8Array {
  const { path, recursive, force } = request;
  return encodeObject({ path, recursive, force, ...backupField(request.backup) });
}

export function decodeRemove(payload: Uint8Array): RemoveRequest {
  const f = decodeObject(payload, "RM");
  const request: RemoveRequest = {
    path: str(f, "path", "RM"),
    recursive: bool(f, "recursive", "RM"),
    force: bool(f, "force", "RM"),
  };
  const backup = decodeBackup(f, "RM");
  if (backup !== undefined) request.backup = backup;
  return request;
}

/** RENAME: move a file or folder within the server root; never replaces a folder with content. */
export interface RenameRequest {
  from: string;
  to: string;
}

export function encodeRename(request: RenameRequest): Uint8Array {
  return encodeObject({ from: request.from, to: request.to });
}

export function decodeRename(payload: Uint8Array): RenameRequest {
  const f = decodeObject(payload, "RENAME");
  return { from: str(f, "from", "RENAME"), to: str(f, "to", "RENAME") };
}

/**
 * WATCH: the client asks to be told of every file committed under a folder.
 * The server answers with ENTRIES batches as files arrive (an empty batch
 * is a heartbeat; a `dir` entry means "sync this folder", sent when the
 * watcher fell too far behind), and with OK only when it stops serving.
 */
export interface WatchRequest {
  path: string;
}

export function encodeWatch(request: WatchRequest): Uint8Array {
  return encodeObject({ path: request.path });
}

export function decodeWatch(payload: Uint8Array): WatchRequest {
  const f = decodeObject(payload, "WATCH");
  return { path: str(f, "path", "WATCH") };
}
