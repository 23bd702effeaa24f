/**
 * The uploads of one connection: each PUT opens an {@link IncomingFile},
 * its DATA frames are written as they arrive, and its END starts a commit in
 * the connection's {@link GroupCommit}; the OK is sent once the file is
 * verified and on disk. Uploads interleave: frames carry their request id.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import type { Frame } from "../wire/frame_reader.ts";
import {
  decodeCancel,
  decodePut,
  decodeResume,
  encodeResume,
  type PutRequest,
} from "../protocol/requests.ts";
import { EMPTY_OK, type RemoteEntry } from "../protocol/replies.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import { checkFreeSpace } from "../fs/disk_space.ts";
import { backupPlace } from "../fs/backup.ts";
import { digestHex } from "../fs/digest.ts";
import type { Hooks, OfferedFile, ReceivedFile } from "./hooks.ts";
import type { Watchers } from "./watchers.ts";
import { IncomingFile, type IncomingOptions } from "../fs/incoming_file.ts";
import { refuseTemporaryName, resumeKeyFor } from "../fs/temporary.ts";
import { type FsyncMode, strongerFsync } from "../protocol/constants.ts";
import type { ConfinedRoot, Held } from "../fs/confinement.ts";
import {
  checkChange,
  KEEPS_STORED_FILES,
  type ServerLimits,
  type ServerPolicy,
  tooLarge,
} from "./policy.ts";
import type { Responder } from "./responder.ts";
import { remoteName, splitRemotePath } from "../remote_path.ts";
import { basename } from "node:path";

// Bounds on what one connection may hold open at once.
const MAX_OPEN_UPLOADS = 64;
// A connection silent this long gives up its partials to a newer upload of the
// same file (a client's retry after a frozen link). A live one receives all the
// time, even when rate-limited: TCP delivers in small pieces.
const TAKEOVER_IDLE_MS = 2_000;
// How often free space is checked while a file is written.
const FREE_SPACE_CHECK_BYTES = 16 * 1024 * 1024;

/** What uploads need from their server. */
export interface UploadSettings {
  /** The root, held. */
  root: ConfinedRoot;
  policy: ServerPolicy;
  limits: ServerLimits;
  /** The validate and onReceived hooks, when there are any. */
  hooks?: Hooks | undefined;
  /** The watchers, told of each committed file. */
  watchers?: Watchers | undefined;
  /** The client's address, and the name it gave, for the hooks. */
  remote: string;
  clientName?: string | undefined;
}

/** The open uploads of one connection. */
export class Uploads {
  #settings: UploadSettings;
  #responder: Responder;
  #open = new Map<number, IncomingFile>();
  /** Uploads already answered with ERROR whose remaining frames are dropped. */
  #rejected = new Set<number>();
  #commits = new GroupCommit();

  /** When the connection last received anything (performance.now()). */
  #lastActivity: () => number;
  #idle = () => performance.now() - this.#lastActivity() > TAKEOVER_IDLE_MS;

  constructor(settings: UploadSettings, responder: Responder, lastActivity: () => number) {
    this.#settings = settings;
    this.#responder = responder;
    this.#lastActivity = lastActivity;
  }

  /** Whether a body is arriving or a commit is running. */
  get busy(): boolean {
    return this.#open.size > 0 || this.#commits.size > 0;
  }

  /** How the file of `request` is received and committed, at `rootPath`. */
  async #incomingOptions(
    request: PutRequest,
    fsync: FsyncMode,
    rootPath: string,
  ): Promise<IncomingOptions> {
    const options: IncomingOptions = { fsync };
    // A replaced file kept as a backup is not lost: a --no-delete server allows it.
    options.backup = backupPlace(this.#settings.root.path, request.backup);
    if (this.#settings.policy.noDelete && !options.backup) {
      options.keepExisting = KEEPS_STORED_FILES;
    }
    if (request.stream) options.stream = true;
    if (request.resume) {
      options.resumeKey = await resumeKeyFor(rootPath, request.size, request.mtime);
    }
    return options;
  }

  /** Handles a PUT: opens the temporary, or refuses the upload. */
  async put(id: number, payload: Uint8Array): Promise<void> {
    const request = decodePut(payload);
    if (this.#open.has(id) || this.#rejected.has(id)) {
      throw new FerryError(ErrorCode.Protocol, `Request id ${id} is already in use`);
    }
    if (this.#open.size + this.#rejected.size >= MAX_OPEN_UPLOADS) {
      throw new FerryError(
        ErrorCode.Protocol,
        `More than ${MAX_OPEN_UPLOADS} uploads open at once`,
      );
    }
    try {
      checkChange(this.#settings.policy, "write", request.path);
      const parts = splitRemotePath(request.path);
      refuseTemporaryName(parts);
      if (parts.length === 0) {
        throw new FerryError(ErrorCode.IsDirectory, "Cannot write a file over the root folder");
      }
      const fsync = strongerFsync(request.fsync ?? "each", this.#settings.policy.fsyncFloor);
      // Held for this PUT; the upload keeps it until its commit.
      using parent = this.#folder(parts.slice(0, -1), fsync);
      const rootPath = parts.join("/");
      const { maxFileSize, minFreeBytes } = this.#settings.limits;
      if (!request.stream && request.size > maxFileSize) throw tooLarge(rootPath, maxFileSize);
      if (this.#settings.hooks?.admits) {
        await this.#settings.hooks.admit(this.#offered(rootPath, request));
      }
      await checkFreeSpace(
        parent.access,
        request.stream ? 0 : request.size,
        minFreeBytes,
        rootPath,
      );
      const options = await this.#incomingOptions(request, fsync, rootPath);
      // The last name is not followed: a symlink there is replaced, not written through.
      const upload = await IncomingFile.open(parent, parts.at(-1)!, rootPath, request, options);
      this.#confirmCreated(upload, parent);
      // A retry of this file on a new connection may take the partial over once
      // this connection has been silent long enough to be a frozen link.
      upload.offerPartial(this.#idle);
      this.#open.set(id, upload);
      if (request.resume) {
        // The client waits for this offer before it sends the body.
        await this.#responder.writer.frame(Kind.Resume, id, encodeResume(upload.offer));
        this.#responder.flushSoon();
      }
    } catch (error) {
      // A resumable PUT sends nothing more until it hears back; others are already streaming.
      if (!request.resume) this.#rejected.add(id);
      await this.#responder.refuse(id, "put", request.path, error);
    }
  }

  /** Handles a DATA, RESUME, END or CANCEL frame of an upload. */
  async frame(frame: Frame): Promise<void> {
    const { kind, id } = frame;
    if (this.#rejected.has(id)) {
      // Frames already in flight when ERROR was sent: dropped until the body ends.
      if (kind !== Kind.Data) this.#rejected.delete(id);
      return;
    }
    const upload = this.#open.get(id);
    // A client that gives up on a GET or LIST, or on an upload already
    // answered, says so with CANCEL: nothing is left to do.
    if (upload === undefined && kind === Kind.Cancel) return;
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
        this.#open.delete(id);
        this.#rejected.add(id);
        await upload.discard();
        await this.#responder.refuse(id, "put", upload.reportedPath, error);
      }
      return;
    }
    this.#open.delete(id);
    if (kind === Kind.Cancel) {
      return await this.#abort(upload, "the client cancelled it", decodeCancel(frame.payload).keep);
    }
    // Commits (fsync and rename) overlap with reading the next files.
    // The payload is the reader's buffer: what the hooks need of it is copied now.
    const hooks = this.#settings.hooks;
    const digest = hooks === undefined ? "" : digestHex(frame.payload);
    await this.#commits.end(
      upload,
      frame.payload,
      (committed) => this.#answer(id, upload, committed, digest),
      hooks?.validates ? () => hooks.check(this.#received(upload, digest, true)) : undefined,
    );
  }

  /** Waits for every commit; what is still arriving is discarded (resumable partials kept). */
  async close(): Promise<void> {
    for (const upload of this.#open.values()) {
      await this.#abort(upload, "the connection ended first", true);
    }
    this.#open.clear();
    await this.#commits.drain();
  }

  /**
   * Drops an upload whose body will not end, and logs it with how far it
   * got: a cancel or a lost connection must leave a trace (and an event).
   */
  async #abort(upload: IncomingFile, why: string, keepPartial = false): Promise<void> {
    await upload.discard({ keepPartial });
    this.#responder.log({
      action: "put",
      path: upload.reportedPath,
      bytes: upload.received,
      ok: false,
      code: ErrorCode.Aborted,
      message: upload.partialKept ? `${why}; the part received is kept to resume` : why,
    });
  }

  /** Folders made by MKDIR: flushed with the next files, or when the connection ends. */
  foldersMade(folders: readonly string[]): void {
    this.#commits.foldersMade(folders, "each");
  }

  /** Waits for the commits started so far. */
  drain(): Promise<void> {
    return this.#commits.drain();
  }

  /** Runs beside the frame loop, so it never rejects: failures become ERROR replies. */
  async #answer(
    id: number,
    upload: IncomingFile,
    committed: Promise<void>,
    digest: string,
  ): Promise<void> {
    try {
      await committed;
      this.#settings.hooks?.received(this.#received(upload, digest, false));
      // No entry is made per file unless someone watches a folder holding it.
      const watchers = this.#settings.watchers;
      if (watchers?.watched(upload.reportedPath)) watchers.published(committedEntry(upload));
      this.#responder.log({
        action: "put",
        path: upload.reportedPath,
        bytes: upload.meta.size,
        ok: true,
        fsync: upload.fsync,
      });
      await this.#responder.reply(id, EMPTY_OK);
    } catch (error) {
      await this.#responder.refuse(id, "put", upload.reportedPath, error).catch(
        () => {/* the connection is gone */},
      );
    }
  }

  /** A PUT as `admit` sees it, before its body. */
  #offered(path: string, request: PutRequest): OfferedFile {
    const { remote, clientName } = this.#settings;
    return { path, size: request.stream ? undefined : request.size, remote, clientName };
  }

  /** A received file as the hooks see it: at its temporary before the commit, else stored. */
  #received(upload: IncomingFile, digest: string, beforeCommit: boolean): ReceivedFile {
    return {
      path: upload.reportedPath,
      localPath: beforeCommit ? upload.tempPath : upload.path,
      size: upload.meta.size,
      digest,
      remote: this.#settings.remote,
      clientName: this.#settings.clientName,
    };
  }

  /**
   * The folder a PUT writes into, created if missing, and held by the
   * upload. Resolved for each PUT: one openat2 with the kernel's
   * confinement, so a folder renamed or swapped since the last file is
   * found (or refused) as it is now, never used as it was.
   */
  #folder(parts: string[], fsync: FsyncMode): Held {
    const { folder, made } = this.#settings.root.makeFolders(parts);
    this.#commits.foldersMade(made, fsync);
    try {
      if (!folder.kernel) folder.confirm([], Deno.statSync(folder.access));
    } catch (error) {
      folder.release();
      throw error;
    }
    return folder;
  }

  /**
   * In user space, checks that the temporary was created in the folder a
   * fresh walk finds (a parent swapped for a link would have put it
   * elsewhere) before a byte is written to it; refuses the upload otherwise.
   */
  #confirmCreated(upload: IncomingFile, folder: Held): void {
    if (folder.kernel) return;
    const tempName = basename(upload.tempPath);
    try {
      folder.confirm([tempName], upload.opened);
    } catch (error) {
      void upload.discard();
      throw error;
    }
  }

  /**
   * The size limit for bodies of unknown size, and free space every few MiB
   * while writing. Synchronous on every other chunk: nothing to await per DATA frame.
   */
  #checkLimits(upload: IncomingFile, more: number): Promise<void> | undefined {
    const { maxFileSize, minFreeBytes } = this.#settings.limits;
    const after = upload.received + more;
    if (after > maxFileSize) throw tooLarge(upload.reportedPath, maxFileSize);
    if (
      minFreeBytes > 0 &&
      Math.floor(after / FREE_SPACE_CHECK_BYTES) !==
        Math.floor(upload.received / FREE_SPACE_CHECK_BYTES)
    ) {
      return checkFreeSpace(
        upload.tempPath,
        FREE_SPACE_CHECK_BYTES,
        minFreeBytes,
        upload.reportedPath,
      );
    }
    return undefined;
  }
}

/** A committed upload as watchers are told of it. */
function committedEntry(upload: IncomingFile): RemoteEntry {
  const path = upload.reportedPath;
  const { size, mode, mtime } = upload.meta;
  return {
    name: remoteName(path),
    path,
    type: "file",
    size,
    mode: mode & 0o777,
    mtime,
  };
}
