/**
 * Receives one file body so that the destination is always either the old
 * file or the complete, verified new one: bytes go to a temporary file in the
 * same folder, the digest is checked, the data is flushed to disk, and only
 * then is the temporary renamed over the destination. Used by the server for
 * PUT and by the client for GET.
 *
 * @module
 */

import { FileDigest, sameDigest } from "./digest.ts";
import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { changedWhileUsed } from "./safe_path.ts";
import { checkDestination, checksDestinationEarly, folderInTheWay, kept } from "./destination.ts";
import type { FsyncMode, SyncFunctions } from "./durability.ts";
import { type BackupPlace, linkBackup } from "./backup.ts";
import type { Held } from "./confinement.ts";
import type { BodySink, StagedFile } from "./body_sink.ts";
import { BodyWriter } from "./body_writer.ts";
import {
  type BodyTemporary,
  claimPartial,
  openBodyTemporary,
  releasePartial,
  type ResumeOffer,
} from "./temporary.ts";
import { printable } from "../text.ts";

/** What the sender announced about the file. */
export interface IncomingMeta {
  size: number;
  mode: number;
  mtime: number;
}

/** How {@link IncomingFile.open} treats an existing destination. */
export interface IncomingOptions {
  /**
   * Names the resumable temporary: the same key (destination, size, mtime)
   * finds what an interrupted attempt left, and a dropped connection keeps
   * what arrived. Without it the temporary has a random name and is removed.
   */
  resumeKey?: string;
  /** The size is unknown until the body ends (standard input). */
  stream?: boolean;
  /**
   * When set, an existing destination is never replaced and this says why
   * (for example "the server runs with --no-delete"); the check is repeated
   * atomically at commit.
   */
  keepExisting?: string;
  /** Keep a replaced destination as a numbered backup (`--backup`); not with keepExisting. */
  backup?: BackupPlace | undefined;
  /** How the group commit makes it durable. Default `each`. */
  fsync?: FsyncMode;
}

/** A file being received under a temporary name; see the module doc. */
export class IncomingFile implements BodySink, StagedFile {
  /** Its real path (for hooks and messages; the file system is reached through the held folder). */
  readonly path: string;
  /** The real path of the folder it is renamed into. */
  readonly folder: string;
  readonly fsync: FsyncMode;
  /** The temporary's real path. */
  readonly tempPath: string;
  /** The folder, held until the file is published or discarded. */
  #held: Held | undefined;
  /** The destination and the temporary as the held folder reaches them. */
  #access: string;
  #tempAccess: string;
  #temporary: BodyTemporary;
  readonly meta: IncomingMeta;
  /**
   * The path errors and reports name the destination by: its path from the
   * root on a server, the local path as the user named it on a client.
   */
  readonly reportedPath: string;
  /** Set by a discard that kept the partial for the next attempt to resume. */
  partialKept = false;
  #file: Deno.FsFile;
  #digest: FileDigest;
  #received = 0;
  #done = false;
  /** Writes the body in order and flushes a big one in the background. */
  #writer: BodyWriter;
  /** Its partial was given up to a newer upload of the same file. */
  #lost = false;
  #keepExisting: string | undefined;
  #backup: BackupPlace | undefined;
  #resumable: boolean;
  /** False for a resumable upload until the sender said where its body starts. */
  #started: boolean;
  #stream: boolean;
  /** What was kept from an earlier attempt (offset 0 when nothing). */
  readonly offer: ResumeOffer;

  private constructor(
    folder: Held,
    name: string,
    reportedPath: string,
    meta: IncomingMeta,
    opened: BodyTemporary,
    digest: FileDigest,
    options: IncomingOptions,
  ) {
    this.path = folder.realAt(name);
    this.folder = folder.real;
    this.#held = folder.retain();
    this.#access = folder.at(name);
    this.#tempAccess = folder.at(opened.name);
    this.#temporary = opened;
    this.fsync = options.fsync ?? "each";
    this.#keepExisting = options.keepExisting;
    this.#backup = options.backup;
    this.#resumable = opened.resumeKey !== undefined;
    // The sender asked for an offer: it says where to start even when nothing could be
    // kept (the partial in use elsewhere, or not ferry's own) and the offer is 0.
    this.#started = options.resumeKey === undefined;
    this.#stream = options.stream ?? false;
    this.offer = opened.offer;
    this.#received = opened.offer.offset;
    this.tempPath = opened.tempPath;
    this.reportedPath = reportedPath;
    this.meta = meta;
    this.#file = opened.file;
    this.#writer = new BodyWriter(opened.file);
    this.#digest = digest;
  }

  /**
   * Opens a temporary file beside `name` in `folder` (held: the upload
   * retains it). Refuses a destination that is a folder before any byte is
   * received, or for a small body at commit (see {@link checksDestinationEarly}).
   */
  static async open(
    folder: Held,
    name: string,
    reportedPath: string,
    meta: IncomingMeta,
    options: IncomingOptions = {},
  ): Promise<IncomingFile> {
    // Metadata calls here and in commit() are synchronous: each takes microseconds, and
    // for small files the hop to Deno's blocking thread pool cost more than the call.
    if (checksDestinationEarly(meta.size, options)) {
      checkDestination(folder.at(name), reportedPath, options.keepExisting);
    }
    const digest = await FileDigest.start();
    let opened: BodyTemporary;
    try {
      opened = await openBodyTemporary(folder, options.resumeKey, meta.size, digest);
    } catch (error) {
      digest.release();
      throw toFerryError(error, "open the temporary file of", reportedPath);
    }
    return new IncomingFile(folder, name, reportedPath, meta, opened, digest, options);
  }

  /**
   * Lets a newer upload of the same file take this one's partial over, once
   * `idle` says this connection has been silent long enough (see
   * PartialHolder in temporary.ts). Nothing for a fresh temporary.
   */
  offerPartial(idle: () => boolean): void {
    if (this.#resumable) claimPartial(this.tempPath, () => idle() && this.#letGo());
  }

  /**
   * Gives the partial up when no write is under way: the file is closed,
   * and from then on this upload touches nothing on disk.
   */
  #letGo(): boolean {
    if (this.#writer.busy || this.#done) return false;
    this.#lost = true;
    try {
      this.#file.close();
    } catch { /* already closed */ }
    releasePartial(this.tempPath);
    this.#letGoOfFolder();
    return true;
  }

  /**
   * Where the body starts: at the offer, or at 0 when the sender's prefix
   * differs (what was kept is thrown away). Any other offset is refused.
   */
  async startAt(offset: number): Promise<void> {
    if (this.#started) {
      throw new FerryError(
        ErrorCode.Protocol,
        `"${printable(this.reportedPath)}" was started twice`,
      );
    }
    this.#started = true;
    if (offset === this.offer.offset) return;
    if (offset !== 0) {
      throw new FerryError(
        ErrorCode.Protocol,
        `Resume of "${
          printable(this.reportedPath)
        }" at ${offset}, but ${this.offer.offset} was offered`,
      );
    }
    try {
      await this.#file.truncate(0);
      await this.#file.seek(0, Deno.SeekMode.Start);
    } catch (error) {
      throw toFerryError(error, "write", this.reportedPath);
    }
    this.#digest.release();
    this.#digest = await FileDigest.start();
    this.#received = 0;
  }

  /** Whether a resumable transfer still waits for {@link IncomingFile.startAt}. */
  get awaitingStart(): boolean {
    return !this.#started;
  }

  /** Whether the size was unknown when the upload started (standard input). */
  get isStream(): boolean {
    return this.#stream;
  }

  get received(): number {
    return this.#received;
  }

  /** The fstat of the temporary, to check where it was created. */
  get opened(): Deno.FileInfo {
    return this.#file.statSync();
  }

  /** The announced size, or undefined for a body that ends only at END (a stream). */
  get expectedSize(): number | undefined {
    return this.#stream ? undefined : this.meta.size;
  }

  /** Appends one chunk; refuses bytes beyond the announced size. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#lost) throw takenOver(this.reportedPath);
    if (!this.#started) {
      throw new FerryError(
        ErrorCode.Protocol,
        `Data for "${printable(this.reportedPath)}" before its resume offset`,
      );
    }
    if (!this.#stream && this.#received + chunk.length > this.meta.size) {
      throw new FerryError(
        ErrorCode.Protocol,
        `More bytes arrived for "${printable(this.reportedPath)}" than announced`,
      );
    }
    this.#digest.update(chunk);
    try {
      await this.#writer.write(chunk);
    } catch (error) {
      throw toFerryError(error, "write", this.reportedPath);
    }
    this.#received += chunk.length;
  }

  /**
   * Verifies length and digest and applies mode and mtime: what is left is
   * the group commit's flush and {@link IncomingFile.publish}. On failure the
   * temporary is removed and the old destination, if any, is untouched.
   */
  async verify(expected: Uint8Array): Promise<StagedFile> {
    try {
      if (this.#lost) throw takenOver(this.reportedPath);
      if (this.#stream) this.meta.size = this.#received;
      if (this.#received !== this.meta.size) {
        throw new FerryError(
          ErrorCode.Protocol,
          `"${
            printable(this.reportedPath)
          }" ended after ${this.#received} of ${this.meta.size} bytes`,
        );
      }
      this.#done = true;
      if (!sameDigest(this.#digest.finish(), expected)) {
        throw new FerryError(
          ErrorCode.DigestMismatch,
          `"${
            printable(this.reportedPath)
          }" arrived corrupted (digest mismatch); the old file was kept`,
          { path: this.reportedPath },
        );
      }
      // The last write must land before the times are set: a write after utime moves mtime.
      await this.#writer.settled().catch((error) => {
        throw toFerryError(error, "write", this.reportedPath);
      });
      try {
        this.#temporary.chmod(this.meta.mode & 0o777);
        const mtime = new Date(this.meta.mtime);
        this.#file.utimeSync(mtime, mtime);
      } catch (error) {
        throw storeFailure(error, this.reportedPath);
      }
      return this;
    } catch (error) {
      await this.discard();
      throw error;
    }
  }

  /** Flushes the data with `sync`; a background flush that failed fails this too. */
  async flush(sync: SyncFunctions): Promise<void> {
    try {
      await this.#writer.flushed();
      // Durable before it is visible: the safety rule that makes OK mean "on disk".
      await sync.file(this.#file, this.tempPath);
    } catch (error) {
      throw toFerryError(error, "flush to disk", this.reportedPath);
    }
  }

  /**
   * Closes the temporary and renames it over the destination (links it,
   * when an existing one is kept), first keeping the old one as a backup
   * when asked. Returns the backup's folder, which needs a flush too. On
   * failure the temporary is removed.
   */
  publish(): string | undefined {
    try {
      this.#file.close();
      const backedUpIn = this.#backup && linkBackup(this.#access, this.#backup, this.path);
      if (this.#keepExisting === undefined) {
        Deno.renameSync(this.#tempAccess, this.#access);
      } else {
        // link() fails when the destination exists, unlike rename().
        Deno.linkSync(this.#tempAccess, this.#access);
        Deno.removeSync(this.#tempAccess);
      }
      releasePartial(this.tempPath);
      this.#letGoOfFolder();
      return backedUpIn;
    } catch (error) {
      void this.discard();
      if (error instanceof Deno.errors.AlreadyExists && this.#keepExisting !== undefined) {
        throw kept(this.reportedPath, this.#keepExisting);
      }
      // rename() of a file over a folder: the check that open() left to this.
      if (error instanceof Deno.errors.IsADirectory) throw folderInTheWay(this.reportedPath);
      throw storeFailure(error, this.reportedPath);
    }
  }

  /**
   * Abandons the transfer: closes and removes the temporary. With
   * `keepPartial` (a dropped connection), a resumable temporary is kept for
   * the next attempt ({@link IncomingFile.partialKept}). Safe to call twice.
   */
  async discard(options: { keepPartial?: boolean | undefined } = {}): Promise<void> {
    if (!this.#done) this.#digest.release();
    this.#done = true;
    // The partial belongs to the upload that took it over.
    if (this.#lost) return;
    await this.#writer.stopped();
    try {
      this.#file.close();
    } catch { /* already closed */ }
    releasePartial(this.tempPath);
    if (options.keepPartial && this.#resumable && this.#received > 0) {
      this.partialKept = true;
    } else if (this.#held !== undefined) {
      try {
        Deno.removeSync(this.#tempAccess);
      } catch { /* already removed */ }
    }
    this.#letGoOfFolder();
  }

  /** Once published or discarded, the folder and the temporary's descriptor go. */
  #letGoOfFolder(): void {
    this.#temporary.release();
    this.#held?.release();
    this.#held = undefined;
  }
}

/**
 * Why storing the verified temporary failed. One that is not where it was
 * made had its folder swapped (in user space) or was removed: the path
 * changed while it was used.
 */
function storeFailure(error: unknown, reportedPath: string): FerryError {
  if (error instanceof Deno.errors.NotFound) return changedWhileUsed(reportedPath);
  return toFerryError(error, "store", reportedPath);
}

/** Why an upload whose partial a newer upload of the same file took over goes no further. */
function takenOver(reportedPath: string): FerryError {
  return new FerryError(
    ErrorCode.Connection,
    `A newer upload of "${
      printable(reportedPath)
    }" took its partial over (this connection was idle)`,
    { path: reportedPath },
  );
}
