/**
 * One authenticated client connection on the server: reads request frames in
 * order, writes files under the root through {@link IncomingFile}, streams
 * files out through {@link sendFileBody}, and answers every request with OK
 * or ERROR under the request's id. A protocol violation ends this connection
 * only.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import type { Frame, FrameReader } from "../wire/frame_reader.ts";
import type { FrameWriter } from "../wire/frame_writer.ts";
import { bodySource, matchPrefix, sendFileBody } from "../fs/file_body.ts";
import { checkFreeSpace } from "../fs/disk_space.ts";
import { IncomingFile, type IncomingOptions, resumeKeyFor } from "../fs/incoming_file.ts";
import { formatBytes } from "../units.ts";
import {
  decodeGet,
  decodeList,
  decodeMkdir,
  decodePut,
  decodeRemove,
  decodeRename,
  decodeResume,
  decodeStat,
  DIGEST_SIZE,
  encodeJson,
  expectSize,
} from "../protocol/messages.ts";
import {
  describe,
  listEntries,
  lstatEntry,
  makeFolder,
  mkdirInside,
  removeEntry,
  renameEntry,
  resolveEntry,
} from "../fs/root_ops.ts";
import { printable, resolveInside, splitRemotePath } from "../fs/safe_path.ts";
import { walkTree } from "../fs/tree_walk.ts";

/** One line of the server log: a finished transfer or a refusal. */
export interface ServerEvent {
  time: string;
  remote: string;
  action: "put" | "get" | "stat" | "list" | "mkdir" | "rm" | "mv" | "auth" | "connection";
  path?: string;
  bytes?: number;
  files?: number;
  ok: boolean;
  code?: string;
  message?: string;
}

/** Settings a session needs from its server. */
export interface SessionContext {
  /** The root, as a real path. */
  root: string;
  remote: string;
  log: (event: ServerEvent) => void;
  /** What clients may change; see {@link ServerPolicy}. */
  policy: ServerPolicy;
  limits: ServerLimits;
}

/** What the server accepts (`serve --max-size`, `serve --min-free`). */
export interface ServerLimits {
  /** Largest file accepted, in bytes. */
  maxFileSize: number;
  /** Free bytes that must remain on the root's file system; 0 turns the check off. */
  minFreeBytes: number;
}

/** What the server lets clients change (`serve --read-only`, `serve --no-delete`). */
export interface ServerPolicy {
  /** Refuse every change: put, mkdir, rm, mv. */
  readOnly: boolean;
  /** Refuse rm and mv, and never replace an existing file: an append-only drop box. */
  noDelete: boolean;
}

// Entries of a LIST reply are sent in batches of at most this many UTF-16 units
// of JSON, which stays under the control-frame cap even when every one is 3 UTF-8 bytes.
const LIST_BATCH_CHARS = 16 * 1024;

// Bounds on what one connection may hold open at once.
const MAX_OPEN_UPLOADS = 64;
const MAX_PENDING_COMMITS = 16;
const MAX_KNOWN_FOLDERS = 4096;

export class ServerSession {
  #context: SessionContext;
  #reader: FrameReader;
  #writer: FrameWriter;
  #uploads = new Map<number, IncomingFile>();
  /** Uploads already answered with ERROR whose remaining frames are dropped. */
  #rejected = new Set<number>();
  #commits = new Set<Promise<void>>();
  /** Folders already resolved and created in this session, by relative path. */
  #folders = new Map<string, string>();
  #streaming = false;
  /** True while run() handles requests already received: it flushes replies when it runs dry. */
  #handlingBuffered = false;

  constructor(context: SessionContext, reader: FrameReader, writer: FrameWriter) {
    this.#context = context;
    this.#reader = reader;
    this.#writer = writer;
  }

  /** Whether a transfer is in progress (a graceful shutdown waits for it). */
  get busy(): boolean {
    return this.#uploads.size > 0 || this.#commits.size > 0 || this.#streaming ||
      this.#reader.buffered > 0;
  }

  /**
   * Serves requests until the client closes, `stopWhenIdle()` turns true
   * between requests, or an error ends the connection. Always cleans up:
   * temporaries of unfinished uploads are removed.
   */
  async run(stopWhenIdle: () => boolean): Promise<void> {
    try {
      while (!(stopWhenIdle() && !this.busy)) {
        // Replies to requests that arrived together leave in one write, when
        // the loop is about to wait for more (a flush per GET cost a socket
        // round trip per file).
        if (!this.#reader.hasFrame) {
          this.#handlingBuffered = false;
          await this.#writer.flush();
        }
        const frame = await this.#reader.read();
        if (frame === null) break;
        this.#handlingBuffered = true;
        await this.#handle(frame);
      }
      await Promise.all(this.#commits);
      await this.#writer.flush();
    } catch (error) {
      if (error instanceof FerryError && error.code === ErrorCode.Protocol) {
        this.#log({ action: "connection", ok: false, code: error.code, message: error.message });
        // Best effort: tell the client why before closing.
        await this.#writer.frame(
          Kind.Error,
          0,
          encodeJson({ code: error.code, message: error.message }),
          { flush: true },
        )
          .catch(() => {});
      }
      // Other failures are the connection going away; nothing to tell.
    } finally {
      // A dropped connection keeps resumable partials for the next attempt.
      for (const upload of this.#uploads.values()) await upload.discard({ keepPartial: true });
      this.#uploads.clear();
      await Promise.allSettled(this.#commits);
    }
  }

  async #handle(frame: Frame): Promise<void> {
    const { kind, id } = frame;
    switch (kind) {
      case Kind.Data:
      case Kind.Resume:
      case Kind.End:
      case Kind.Cancel:
        return await this.#uploadFrame(frame);
      case Kind.Put:
        return await this.#put(id, frame.payload);
      case Kind.Get:
        return await this.#get(id, frame.payload);
      case Kind.Stat:
        return await this.#stat(id, frame.payload);
      case Kind.Mkdir:
        return await this.#mkdir(id, frame.payload);
      case Kind.List:
        return await this.#list(id, frame.payload);
      case Kind.Remove:
        return await this.#remove(id, frame.payload);
      case Kind.Rename:
        return await this.#rename(id, frame.payload);
      default:
        throw new FerryError(
          ErrorCode.Protocol,
          `A client may not send ${kindName(kind)} frames after authenticating`,
        );
    }
  }

  async #put(id: number, payload: Uint8Array): Promise<void> {
    const request = decodePut(payload);
    if (this.#uploads.has(id) || this.#rejected.has(id)) {
      throw new FerryError(ErrorCode.Protocol, `Request id ${id} is already in use`);
    }
    if (this.#uploads.size + this.#rejected.size >= MAX_OPEN_UPLOADS) {
      throw new FerryError(
        ErrorCode.Protocol,
        `More than ${MAX_OPEN_UPLOADS} uploads open at once`,
      );
    }
    try {
      this.#checkChange("write", request.path);
      const parts = splitRemotePath(request.path);
      if (parts.length === 0) {
        throw new FerryError(ErrorCode.IsDirectory, "Cannot write a file over the root folder");
      }
      const parent = this.#folder(parts.slice(0, -1));
      // The last name is not followed: a symlink there is replaced, not written through.
      const path = `${parent}/${parts.at(-1)}`;
      const shown = parts.join("/");
      const { maxFileSize, minFreeBytes } = this.#context.limits;
      if (!request.stream && request.size > maxFileSize) throw tooLarge(shown, maxFileSize);
      await checkFreeSpace(parent, request.stream ? 0 : request.size, minFreeBytes, shown);
      const options: IncomingOptions = {};
      if (this.#context.policy.noDelete) {
        options.keepExisting = "the server runs with --no-delete, which keeps stored files";
      }
      if (request.stream) options.stream = true;
      if (request.resume) {
        options.resumeKey = await resumeKeyFor(shown, request.size, request.mtime);
      }
      const upload = await IncomingFile.open(path, shown, request, options);
      this.#uploads.set(id, upload);
      if (request.resume) {
        // The client waits for this offer before it sends the body.
        await this.#writer.frame(Kind.Resume, id, encodeJson(upload.offer));
        this.#flushSoon();
      }
    } catch (error) {
      // A resumable PUT sends nothing more until it hears back; others are already streaming.
      if (!request.resume) this.#rejected.add(id);
      await this.#refuse(id, "put", request.path, error);
    }
  }

  async #uploadFrame(frame: Frame): Promise<void> {
    const { kind, id } = frame;
    if (this.#rejected.has(id)) {
      // Frames already in flight when ERROR was sent: dropped until the body ends.
      if (kind !== Kind.Data) this.#rejected.delete(id);
      return;
    }
    const upload = this.#uploads.get(id);
    if (upload === undefined) {
      throw new FerryError(
        ErrorCode.Protocol,
        `${kindName(kind)} for request ${id}, which has no open upload`,
      );
    }
    if (kind === Kind.Data || kind === Kind.Resume) {
      try {
        if (kind === Kind.Resume) return await upload.startAt(decodeResume(frame.payload).offset);
        const checking = this.#checkLimits(upload, frame.payload.length);
        if (checking !== undefined) await checking;
        await upload.write(frame.payload);
      } catch (error) {
        this.#uploads.delete(id);
        this.#rejected.add(id);
        await upload.discard();
        await this.#refuse(id, "put", upload.shownAs, error);
      }
      return;
    }
    this.#uploads.delete(id);
    if (kind === Kind.Cancel) return await upload.discard();
    // A body of unknown size (standard input) is as long as what arrived; commit() records it.
    if (!upload.isStream && upload.received !== upload.meta.size) {
      await upload.discard();
      throw new FerryError(
        ErrorCode.Protocol,
        `"${
          printable(upload.shownAs)
        }" ended after ${upload.received} of ${upload.meta.size} bytes`,
      );
    }
    const digest = expectSize(frame.payload, DIGEST_SIZE, "A digest").slice();
    // Commits (fsync and rename) overlap with reading the next files.
    if (this.#commits.size >= MAX_PENDING_COMMITS) await Promise.race(this.#commits);
    const commit = this.#commit(id, upload, digest).finally(() => this.#commits.delete(commit));
    this.#commits.add(commit);
  }

  /**
   * The folder a PUT writes into, created if missing. Resolved folders are
   * remembered for the session (a tree's files share a few folders); RM and
   * RENAME forget them, since they may change what a name leads to.
   */
  #folder(parts: string[]): string {
    const key = parts.join("/");
    const known = this.#folders.get(key);
    if (known !== undefined) return known;
    const path = resolveInside(this.#context.root, parts);
    mkdirInside(path, key);
    if (this.#folders.size >= MAX_KNOWN_FOLDERS) this.#folders.clear();
    this.#folders.set(key, path);
    return path;
  }

  /**
   * --max-size for bodies of unknown size, and --min-free every few MiB while
   * writing. Synchronous on every other chunk: nothing to await per DATA frame.
   */
  #checkLimits(upload: IncomingFile, more: number): Promise<void> | undefined {
    const { maxFileSize, minFreeBytes } = this.#context.limits;
    const after = upload.received + more;
    if (after > maxFileSize) throw tooLarge(upload.shownAs, maxFileSize);
    if (
      minFreeBytes > 0 &&
      Math.floor(after / FREE_SPACE_CHECK_BYTES) !==
        Math.floor(upload.received / FREE_SPACE_CHECK_BYTES)
    ) {
      return checkFreeSpace(upload.tempPath, FREE_SPACE_CHECK_BYTES, minFreeBytes, upload.shownAs);
    }
    return undefined;
  }

  /** Runs beside the frame loop, so it never rejects: failures become ERROR replies. */
  async #commit(id: number, upload: IncomingFile, digest: Uint8Array): Promise<void> {
    try {
      await upload.commit(digest);
      this.#log({ action: "put", path: upload.shownAs, bytes: upload.meta.size, ok: true });
      await this.#reply(id, EMPTY);
    } catch (error) {
      await this.#refuse(id, "put", upload.shownAs, error).catch(
        () => {/* the connection is gone */},
      );
    }
  }

  async #get(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeGet(payload);
    this.#streaming = true;
    let files = 0;
    let bytes = 0;
    let skipped = 0;
    try {
      const parts = splitRemotePath(request.path);
      const shown = parts.join("/");
      const path = resolveInside(this.#context.root, parts);
      const info = lstatOrThrow(path, shown);
      if (info.isFile) {
        await this.#sendFile(id, path, "", shown, info, request);
        files = 1;
        bytes = info.size;
      } else if (!info.isDirectory) {
        throw new FerryError(ErrorCode.NotFound, `"${printable(shown)}" is not a file or folder`, {
          path: shown,
        });
      } else if (!request.recursive) {
        throw new FerryError(
          ErrorCode.IsDirectory,
          `"${printable(shown || "/")}" is a folder: use -r to get it`,
          { path: shown },
        );
      } else {
        for await (const entry of walkTree(path, info)) {
          const entryShown = shown === ""
            ? entry.rel
            : entry.rel === ""
            ? shown
            : `${shown}/${entry.rel}`;
          if (entry.type === "dir") {
            await this.#writer.frame(
              Kind.Dir,
              id,
              encodeJson({ path: entry.rel, mode: (entry.info.mode ?? 0o755) & 0o7777 }),
            );
          } else if (entry.type === "file") {
            if (await this.#sendFile(id, entry.path, entry.rel, entryShown, entry.info)) {
              files++;
              bytes += entry.info.size;
            }
          } else if (entry.type === "skipped") {
            skipped++;
          } else {
            await this.#notice(id, "get", entry.error);
          }
        }
      }
      this.#log({ action: "get", path: request.path, files, bytes, ok: true });
      await this.#reply(id, encodeJson({ files, bytes, skipped }));
    } catch (error) {
      await this.#refuse(id, "get", request.path, error);
    } finally {
      // Busy until the final reply is queued, so a graceful shutdown waits for it.
      this.#streaming = false;
    }
  }

  /** Sends one file of a GET; a file that cannot be read becomes a NOTICE. */
  async #sendFile(
    id: number,
    path: string,
    rel: string,
    shown: string,
    info: Deno.FileInfo,
    resume: { offset?: number; digest?: string } = {},
  ): Promise<boolean> {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (error) {
      if (rel === "") throw toFerryError(error, "read", shown);
      await this.#notice(id, "get", toFerryError(error, "read", shown));
      return false;
    }
    try {
      const mtime = info.mtime?.getTime() ?? 0;
      // A resumed GET starts after the client's prefix, when it matches this file's.
      const start = resume.offset === undefined
        ? null
        : await matchPrefix(file, info.size, { offset: resume.offset, digest: resume.digest });
      const mode = (info.mode ?? 0o644) & 0o7777;
      await this.#writer.frame(
        Kind.File,
        id,
        encodeJson({ path: rel, size: info.size, mode, mtime, offset: start?.offset ?? 0 }),
      );
      await sendFileBody(this.#writer, id, bodySource(file, info.size), info.size, shown, {
        start,
      });
      return true;
    } catch (error) {
      const failure = toFerryError(error, "read", shown);
      if (failure.code === ErrorCode.Io && rel !== "") {
        await this.#notice(id, "get", failure);
        return false;
      }
      throw failure;
    } finally {
      file.close();
    }
  }

  async #stat(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeStat(payload);
    try {
      const parts = splitRemotePath(request.path);
      const path = resolveInside(this.#context.root, parts);
      const info = lstatOrThrow(path, parts.join("/"));
      await this.#reply(id, encodeJson(describe(info)));
    } catch (error) {
      await this.#refuse(id, "stat", request.path, error, false);
    }
  }

  async #mkdir(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeMkdir(payload);
    try {
      this.#checkChange("create folder", request.path);
      await makeFolder(this.#context.root, request.path, request.parents, request.mode);
      await this.#reply(id, EMPTY);
    } catch (error) {
      await this.#refuse(id, "mkdir", request.path, error);
    }
  }

  /** Streams entries in ENTRIES frames; the writer's flow control bounds memory. */
  async #list(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeList(payload);
    this.#streaming = true;
    try {
      const entry = resolveEntry(this.#context.root, request.path);
      const info = await lstatEntry(entry);
      let batch: string[] = [];
      let batchChars = 0;
      let count = 0;
      const sendBatch = async () => {
        await this.#writer.frame(
          Kind.Entries,
          id,
          encoder.encode(`{"entries":[${batch.join(",")}]}`),
        );
        batch = [];
        batchChars = 0;
      };
      const notice = (error: FerryError) => this.#notice(id, "list", error);
      for await (
        const item of listEntries(entry, info, {
          recursive: request.recursive,
          digests: request.digests ?? false,
        }, notice)
      ) {
        const json = JSON.stringify(item);
        if (json.length > LIST_BATCH_CHARS) {
          await notice(
            new FerryError(ErrorCode.BadPath, `"${printable(item.path)}" is too long to list`),
          );
          continue;
        }
        if (batchChars + json.length > LIST_BATCH_CHARS) await sendBatch();
        batch.push(json);
        batchChars += json.length + 1;
        count++;
      }
      if (batch.length > 0) await sendBatch();
      await this.#reply(id, encodeJson({ entries: count }));
    } catch (error) {
      await this.#refuse(id, "list", request.path, error, false);
    } finally {
      this.#streaming = false;
    }
  }

  async #remove(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeRemove(payload);
    try {
      this.#checkChange("remove", request.path, true);
      this.#folders.clear();
      const removed = await removeEntry(this.#context.root, request.path, request);
      if (removed) this.#log({ action: "rm", path: request.path, ok: true });
      await this.#reply(id, encodeJson({ removed }));
    } catch (error) {
      await this.#refuse(id, "rm", request.path, error);
    }
  }

  async #rename(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeRename(payload);
    try {
      this.#checkChange("move", request.from, true);
      this.#folders.clear();
      await renameEntry(this.#context.root, request.from, request.to);
      this.#log({ action: "mv", path: `${request.from} -> ${request.to}`, ok: true });
      await this.#reply(id, EMPTY);
    } catch (error) {
      await this.#refuse(id, "mv", request.from, error);
    }
  }

  /** Refuses a change the server's policy forbids, naming the setting. */
  #checkChange(action: string, path: string, destroys = false): void {
    const { readOnly, noDelete } = this.#context.policy;
    const setting = readOnly ? "--read-only" : destroys && noDelete ? "--no-delete" : undefined;
    if (setting === undefined) return;
    throw new FerryError(
      ErrorCode.PermissionDenied,
      `Cannot ${action} "${printable(path)}": the server runs with ${setting}`,
      { path },
    );
  }

  #reply(id: number, payload: Uint8Array): Promise<void> {
    const sent = this.#writer.frame(Kind.Ok, id, payload);
    this.#flushSoon();
    return sent;
  }

  async #notice(id: number, action: ServerEvent["action"], error: FerryError): Promise<void> {
    this.#log({
      action,
      ...(error.path === undefined ? {} : { path: error.path }),
      ok: false,
      code: error.code,
      message: error.message,
    });
    await this.#writer.frame(Kind.Notice, id, errorPayload(error));
  }

  /** Answers a request with ERROR. Protocol errors are rethrown: they end the connection. */
  async #refuse(
    id: number,
    action: ServerEvent["action"],
    path: string,
    error: unknown,
    log = true,
  ): Promise<void> {
    const failure = toFerryError(error, action === "put" ? "write" : "read", path);
    if (failure.code === ErrorCode.Protocol) throw failure;
    if (log) {
      this.#log({
        action,
        path: printable(path),
        ok: false,
        code: failure.code,
        message: failure.message,
      });
    }
    await this.#writer.frame(Kind.Error, id, errorPayload(failure));
    this.#flushSoon();
  }

  /** A reply made outside the request loop (a commit) is sent now; the loop flushes its own. */
  #flushSoon(): void {
    if (!this.#handlingBuffered) this.#writer.flushSoon();
  }

  #log(event: Omit<ServerEvent, "time" | "remote">): void {
    this.#context.log({ time: new Date().toISOString(), remote: this.#context.remote, ...event });
  }
}

const EMPTY = new Uint8Array(0);
// How often free space is checked while a file is written.
const FREE_SPACE_CHECK_BYTES = 16 * 1024 * 1024;

function tooLarge(shown: string, max: number): FerryError {
  return new FerryError(
    ErrorCode.TooLarge,
    `Cannot store "${printable(shown)}": it is larger than the server's --max-size of ${
      formatBytes(max)
    }`,
    { path: shown },
  );
}
const encoder = new TextEncoder();

function errorPayload(error: FerryError): Uint8Array {
  // Messages are capped so that a long path cannot push an ERROR past the frame limit.
  return encodeJson({
    code: error.code,
    message: error.message.slice(0, 2000),
    ...(error.path === undefined ? {} : { path: error.path.slice(0, 4096) }),
  });
}

function lstatOrThrow(path: string, shown: string): Deno.FileInfo {
  try {
    // Synchronous, like the rest of the per-file path: see IncomingFile.
    return Deno.lstatSync(path);
  } catch (error) {
    throw toFerryError(error, "find", shown || "/");
  }
}
