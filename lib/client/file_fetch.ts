/**
 * One file of a get: a GET request whose FILE, DATA and END frames land in
 * an {@link IncomingFile} (temporary, verified, synced, renamed), with the
 * commit running in the get's {@link GroupCommit} while later files arrive.
 * Failures of this file go to the tracker; failures of the connection reject.
 *
 * @module
 */

import { dirname } from "node:path";
import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { printable } from "../fs/safe_path.ts";
import { Kind, kindName, MAX_DATA_PAYLOAD } from "../protocol/frame.ts";
import { encodeGet, type GetRequest } from "../protocol/requests.ts";
import type { FsyncMode } from "../protocol/constants.ts";
import { decodeError, decodeFile, errorFromMessage } from "../protocol/replies.ts";
import type { GroupCommit } from "../fs/group_commit.ts";
import { digestHex } from "../fs/digest.ts";
import { IncomingFile, type IncomingMeta, type IncomingOptions } from "../fs/incoming_file.ts";
import { resumeKeyFor } from "../fs/temporary.ts";
import { sweepOnce } from "../fs/stale_temporaries.ts";
import type { Frame } from "../wire/frame_reader.ts";
import type { BackupPlace } from "../fs/backup.ts";
import type { RateLimiter } from "../wire/rate_limit.ts";
import type { Connection } from "./connection.ts";
import type { Wanted } from "./get_plan.ts";
import { RESUME_MIN_BYTES } from "./transfer.ts";
import type { TransferTracker } from "./tracker.ts";

/** What the fetches of one connection share. */
export interface FetchContext {
  connection: Connection;
  tracker: TransferTracker;
  commits: GroupCommit;
  /** How received files are made durable. */
  fsync: FsyncMode;
  /** Where replaced files are kept, when they are (`backup`). */
  backup: BackupPlace | undefined;
  limiter: RateLimiter | undefined;
  /** zstd level the server is asked to send data at, when `-z` and it can. */
  compressLevel: number | undefined;
}

/** One wanted file being fetched. */
export class FileFetch {
  #context: FetchContext;
  #item: Wanted;
  #incoming: IncomingFile | null = null;
  #id = 0;
  /** The file could not be written: its remaining frames are dropped. */
  #skipping = false;
  /** Given up (the get stopped): frames still in flight are dropped quietly. */
  #abandoned = false;
  #committing: Promise<void> | undefined;
  /** END arrived and the commit started: only then may the reply's OK count as success. */
  #ended = false;
  #done = Promise.withResolvers<void>();
  /** The server's reply is complete (or the fetch is over before it was). */
  #answered = Promise.withResolvers<void>();

  constructor(context: FetchContext, item: Wanted) {
    this.#context = context;
    this.#item = item;
    this.#done.promise.then(this.#answered.resolve, this.#answered.resolve);
    // What an earlier, killed get left in this folder goes (once per folder and run).
    sweepOnce(dirname(item.local));
  }

  /** The request id, once {@link FileFetch.start} has sent the GET. */
  get id(): number {
    return this.#id;
  }

  /**
   * Queues the GET (with a resume offer when a partial of this version is
   * kept); the caller flushes it with the others it queues. Resolves once
   * it is queued, with the fetch's outcome: done once the file is committed
   * or has failed, rejected when the connection fails; and `answered`, done
   * once the server's reply is all here (the commit may still run).
   */
  async start(): Promise<{ outcome: Promise<void>; answered: Promise<void> }> {
    let request: GetRequest;
    try {
      request = await this.#request();
    } catch (error) {
      this.#failed(toFerryError(error, "write", this.#item.shown));
      this.#done.resolve();
      return { outcome: this.#done.promise, answered: this.#answered.promise };
    }
    // Stopped while the partial was looked at: ask for nothing.
    if (this.#abandoned) {
      await this.#incoming?.discard({ keepPartial: true });
      return { outcome: this.#done.promise, answered: this.#answered.promise };
    }
    const { connection } = this.#context;
    this.#id = connection.open({
      onFrame: (frame) => this.#onFrame(frame).catch((error) => this.#broken(error)),
      fail: (error) => {
        // The connection dropped: a resumable partial is kept for the next attempt, any
        // other temporary is removed before the fetch counts as over (and the get ends).
        const discarding = this.#incoming?.discard({ keepPartial: true }) ?? Promise.resolve();
        this.#incoming = null;
        void discarding.finally(() => this.#done.reject(error));
      },
    });
    connection.writer.frame(Kind.Get, this.#id, encodeGet(request)).catch((error) => {
      connection.finish(this.#id);
      this.#done.reject(connection.connectionError(error));
    });
    return { outcome: this.#done.promise, answered: this.#answered.promise };
  }

  /** Gives up on this file; a resumable partial is kept. The caller tells the server. */
  async abandon(): Promise<void> {
    this.#abandoned = true;
    await this.#incoming?.discard({ keepPartial: true });
    this.#incoming = null;
    this.#done.resolve();
  }

  async #request(): Promise<GetRequest> {
    const request: GetRequest = { path: this.#item.remote, recursive: false };
    const level = this.#context.compressLevel;
    if (level !== undefined) request.compress = level;
    // Rate-limited: small pieces keep data flowing instead of a burst and a silence.
    const limiter = this.#context.limiter;
    if (limiter !== undefined && limiter.chunkBytes < MAX_DATA_PAYLOAD) {
      request.chunk = limiter.chunkBytes;
    }
    const { entry, local } = this.#item;
    if (entry.size < RESUME_MIN_BYTES) return request;
    this.#incoming = await openIncoming(this.#item, entry, {
      resumeKey: await resumeKeyFor(local, entry.size, entry.mtime),
      fsync: this.#context.fsync,
      backup: this.#context.backup,
    });
    const { offset, digest } = this.#incoming.offer;
    if (offset > 0) request.resumeFrom = { offset, digest };
    return request;
  }

  async #onFrame(frame: Frame): Promise<void> {
    const { tracker } = this.#context;
    switch (frame.kind) {
      case Kind.File:
        return await this.#onFile(frame);
      case Kind.Data:
        return await this.#onData(frame);
      case Kind.End:
      case Kind.Cancel:
        return await this.#onEnd(frame);
      case Kind.Notice:
        return tracker.failed(errorFromMessage(decodeError(frame.payload)));
      case Kind.Error:
        this.#failed(errorFromMessage(decodeError(frame.payload)));
        return await this.#finish();
      case Kind.Ok:
        if (!this.#skipping && !this.#ended) {
          // FILE and DATA, then OK without END (or after CANCEL): nothing was verified.
          this.#failed(
            new FerryError(
              ErrorCode.Protocol,
              `The server ended "${printable(this.#item.shown)}" without sending it whole`,
              { path: this.#item.shown },
            ),
          );
        }
        return await this.#finish();
      default:
        throw outOfOrder(frame);
    }
  }

  /** This file failed: it leaves the totals, and its bytes no longer count as done. */
  #failed(error: FerryError): void {
    this.#context.tracker.fileFailed(error, this.#item.shown, this.#item.entry.size);
  }

  async #onFile(frame: Frame): Promise<void> {
    const file = decodeFile(frame.payload);
    if (file.path !== "") throw outOfOrder(frame);
    const { tracker } = this.#context;
    const { shown } = this.#item;
    tracker.started(shown);
    try {
      if (this.#incoming !== null && file.size !== this.#incoming.meta.size) {
        // Changed since it was listed: what was kept belongs to another version.
        await this.#incoming.discard();
        this.#incoming = null;
      }
      const incoming = this.#incoming ??= await openIncoming(this.#item, file, {
        fsync: this.#context.fsync,
        backup: this.#context.backup,
      });
      const offset = file.offset ?? 0;
      if (incoming.awaitingStart) await incoming.startAt(offset);
      else if (offset !== 0) throw outOfOrder(frame);
      incoming.meta.mtime = file.mtime;
      incoming.meta.mode = file.mode;
      if (offset > 0) tracker.moved(offset, true, shown);
    } catch (error) {
      if (error instanceof FerryError && error.code === ErrorCode.Protocol) throw error;
      this.#failed(toFerryError(error, "write", shown));
      this.#skipping = true;
    }
  }

  async #onData(frame: Frame): Promise<void> {
    if (this.#skipping) return;
    if (this.#incoming === null) throw outOfOrder(frame);
    await this.#incoming.write(frame.payload);
    this.#context.tracker.moved(frame.payload.length, false, this.#item.shown);
    // --limit-rate counts what crossed the link: compressed data moves more per second.
    const wait = this.#context.limiter?.take(frame.wireBytes ?? frame.payload.length);
    if (wait !== undefined) await wait;
  }

  async #onEnd(frame: Frame): Promise<void> {
    const done = this.#incoming;
    if (this.#skipping || done === null) return;
    this.#incoming = null;
    if (frame.kind === Kind.Cancel) return await done.discard();
    this.#ended = true;
    const { tracker, commits } = this.#context;
    const digest = digestHex(frame.payload);
    // The commit (fsync, rename) runs while the next files arrive; a few at most.
    await commits.end(done, frame.payload, (committed) =>
      this.#committing = committed.then(
        () => tracker.committed(done.path, done.meta.size, digest, done.shownAs),
        (error) => this.#failed(toFerryError(error, "write", done.shownAs)),
      ));
  }

  /** The reply is complete: done once the commit is (the read loop goes on meanwhile). */
  async #finish(): Promise<void> {
    this.#context.connection.finish(this.#id);
    this.#answered.resolve();
    await this.#incoming?.discard({ keepPartial: true });
    if (this.#committing === undefined) this.#done.resolve();
    else void this.#committing.then(this.#done.resolve);
  }

  /** A server that breaks the protocol loses the connection; partial files are removed. */
  async #broken(error: unknown): Promise<void> {
    // Abandoned while a chunk was written: the temporary is gone, nothing to report.
    if (this.#abandoned) return;
    await this.#incoming?.discard();
    this.#incoming = null;
    throw error;
  }
}

function outOfOrder(frame: Frame): FerryError {
  return new FerryError(ErrorCode.Protocol, `The server sent ${kindName(frame.kind)} out of order`);
}

/** Opens where `item` goes, its folder resolved beneath the local root now (and held by the file). */
async function openIncoming(
  item: Wanted,
  meta: IncomingMeta,
  options: IncomingOptions,
): Promise<IncomingFile> {
  using folder = item.into.root.folder(item.into.folder);
  return await IncomingFile.open(folder, item.into.name, item.shown, meta, options);
}
