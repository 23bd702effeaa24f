/**
 * The receiver role on this side (a get): the server reads each file and
 * it is received here. A GET request whose FILE, DATA and END frames land
 * in an {@link IncomingFile} (temporary, verified, synced, renamed), with
 * the commit running in the get's {@link GroupCommit} while later files
 * arrive. Failures of a file go to the tracker; failures of the connection
 * reject.
 *
 * @module
 */

import { dirname } from "node:path";
import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind, MAX_DATA_PAYLOAD } from "../protocol/frame.ts";
import { encodeGet, type GetRequest } from "../protocol/requests.ts";
import { decodeFile } from "../protocol/replies.ts";
import type { GroupCommit } from "../fs/group_commit.ts";
import { digestHex } from "../fs/digest.ts";
import { IncomingFile, type IncomingMeta, type IncomingOptions } from "../fs/incoming_file.ts";
import { resumeKeyFor } from "../fs/temporary.ts";
import { sweepOnce } from "../fs/stale_temporaries.ts";
import type { Frame } from "../wire/frame_reader.ts";
import type { BackupPlace } from "../fs/backup.ts";
import type { RateLimiter } from "../wire/rate_limit.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection.ts";
import type { ConfinedRoot } from "../fs/confinement.ts";
import type { FileJob } from "./side.ts";
import { GET_READ_AHEAD, type Mover, type Moving, type Slot, type Window } from "./lane.ts";
import { compressLevel, RESUME_MIN_BYTES } from "./options.ts";
import type { CommitPolicy, MovePolicy } from "./options.ts";
import type { TransferTracker } from "./tracker.ts";
import { printable } from "../text.ts";
import type { FsyncMode } from "../protocol/constants.ts";

/** Where a file goes: a folder beneath a held local root, and its name in it. */
export interface LocalPlace {
  readonly root: ConfinedRoot;
  readonly folder: readonly string[];
  readonly name: string;
}

/** A file that lands on this side (a get). */
export interface LocalJob extends FileJob {
  /** Where it goes: a folder beneath a held local root, and its name there. */
  readonly place: LocalPlace;
  /** Its real local path, for the checks of what is there. */
  readonly local: string;
}

// GET requests in flight at once on one connection: the server answers them
// in order, so this only hides the round trip between files. A full lane
// asks for more once 16 have been answered, all in one write: one record and
// one system call on each side instead of one per file. And it takes no
// further file while 16 MiB are on their way to it, so that with -j big
// files spread over the lanes.
const WINDOW: Window = {
  requests: 64,
  bytes: 16 * 1024 * 1024,
  group: 16,
  flushTaken: true,
  readAhead: GET_READ_AHEAD,
};

/** The get's mover over one connection: what its fetches share. */
export class Receiver implements Mover<LocalJob> {
  readonly window: Window = WINDOW;
  readonly connection: Connection;
  readonly tracker: TransferTracker;
  readonly commits: GroupCommit;
  /** How received files are made durable. */
  readonly fsync: FsyncMode;
  /** Where replaced files are kept, when they are (`backup`). */
  readonly backup: BackupPlace | undefined;
  readonly limiter: RateLimiter | undefined;
  /** zstd level the server is asked to send data at, when `-z` and it can. */
  readonly compressLevel: number | undefined;

  constructor(
    connection: Connection,
    tracker: TransferTracker,
    commits: GroupCommit,
    { commit, move, backup }: {
      commit: CommitPolicy;
      move: MovePolicy;
      /** Where replaced files are kept, resolved from `commit.backup` against DEST. */
      backup: BackupPlace | undefined;
    },
  ) {
    this.connection = connection;
    this.tracker = tracker;
    this.commits = commits;
    this.fsync = commit.fsync ?? "each";
    this.backup = backup;
    this.limiter = move.limiter;
    this.compressLevel = compressLevel(move, connection);
  }

  start(item: LocalJob, slot: Slot): Moving {
    return new FileFetch(this, item, slot);
  }
}

/** One wanted file being fetched. */
class FileFetch implements Moving {
  readonly queued: Promise<void>;
  readonly #slot: Slot;
  #context: Receiver;
  #item: LocalJob;
  #incoming: IncomingFile | null = null;
  #call: Call | undefined;
  /** Given up (the get stopped): frames still in flight are dropped quietly. */
  #abandoned = false;
  #committing: Promise<void> | undefined;

  /**
   * Queues the GET (with a resume offer when a partial of this version is
   * kept); the lane flushes it with the others it queues.
   */
  constructor(context: Receiver, item: LocalJob, slot: Slot) {
    this.#context = context;
    this.#item = item;
    this.#slot = slot;
    // What an earlier, killed get left in this folder goes (once per folder and run).
    sweepOnce(dirname(item.local));
    this.queued = this.#begin();
  }

  /** Resolves once the GET is queued; the reply is received meanwhile, and settles the slot. */
  async #begin(): Promise<void> {
    let request: GetRequest;
    try {
      request = await this.#request();
    } catch (error) {
      this.#failed(toFerryError(error, "write", this.#item.target));
      return this.#slot.settled();
    }
    // Stopped while the partial was looked at: ask for nothing.
    if (this.#abandoned) {
      await this.#incoming?.discard({ keepPartial: true });
      return this.#slot.settled();
    }
    const { connection, tracker } = this.#context;
    const call = this.#call = connection.call(Kind.Get, encodeGet(request), {
      flush: false,
      onNotice: (notice) => tracker.failed(notice),
    });
    void this.#receive(call).then(() => this.#slot.settled(), (lost) => this.#slot.settled(lost));
  }

  /** Gives up on this file (the server is told); a resumable partial is kept. */
  abandon(): void {
    this.#abandoned = true;
    this.#call?.cancel();
    void this.#incoming?.discard({ keepPartial: true });
    this.#incoming = null;
  }

  async #request(): Promise<GetRequest> {
    const request: GetRequest = { path: this.#item.source, recursive: false };
    const level = this.#context.compressLevel;
    if (level !== undefined) request.compress = level;
    // Rate-limited: small pieces keep data flowing instead of a burst and a silence.
    const limiter = this.#context.limiter;
    if (limiter !== undefined && limiter.chunkBytes < MAX_DATA_PAYLOAD) {
      request.chunk = limiter.chunkBytes;
    }
    const { size, mode, mtime, local } = this.#item;
    if (size < RESUME_MIN_BYTES) return request;
    this.#incoming = await openIncoming(this.#item, { size, mode, mtime }, {
      resumeKey: await resumeKeyFor(local, size, mtime),
      fsync: this.#context.fsync,
      backup: this.#context.backup,
    });
    const { offset, digest } = this.#incoming.offer;
    if (offset > 0) request.resumeFrom = { offset, digest };
    return request;
  }

  /**
   * The reply, frame by frame: FILE, DATA and END into the file, then OK.
   * Done once the commit is; rejects when the connection fails.
   */
  async #receive(call: Call): Promise<void> {
    try {
      await this.#frames(call);
    } catch (error) {
      if (call.refused) this.#failed(error as FerryError);
      else if (!this.#abandoned) return await this.#lost(call, error);
    }
    this.#slot.answered();
    await this.#incoming?.discard({ keepPartial: true });
    this.#incoming = null;
    await this.#committing;
  }

  async #frames(call: Call): Promise<void> {
    // The file could not be written: its remaining frames are dropped.
    let skipping = false;
    // END arrived and the commit started: only then may the reply's OK count as success.
    let ended = false;
    for await (const frame of call) {
      if (frame.kind === Kind.File) skipping = !await this.#onFile(call, frame);
      else if (frame.kind === Kind.Data) {
        if (!skipping) await this.#onData(call, frame);
      } else if (frame.kind === Kind.End || frame.kind === Kind.Cancel) {
        if (!skipping) ended = await this.#onEnd(frame);
      } else if (frame.kind !== Kind.Ok) throw call.unexpected(frame);
      else if (!skipping && !ended) {
        // FILE and DATA, then OK without END (or after CANCEL): nothing was verified.
        this.#failed(
          new FerryError(
            ErrorCode.Protocol,
            `The server ended "${printable(this.#item.target)}" without sending it whole`,
            { path: this.#item.target },
          ),
        );
      }
    }
  }

  /**
   * The connection was lost, or this side could not go on (a server that
   * broke the protocol, a write that failed): the connection fails, a
   * resumable partial is kept for the next attempt unless the server broke
   * the protocol, and the fetch rejects.
   */
  async #lost(call: Call, error: unknown): Promise<never> {
    const failure = call.over
      ? error
      : call.broken(toFerryError(error, "write", this.#item.target));
    const broken = failure instanceof FerryError && failure.code === ErrorCode.Protocol;
    await this.#incoming?.discard({ keepPartial: !broken });
    this.#incoming = null;
    throw failure;
  }

  /** This file failed: it leaves the totals, and its bytes no longer count as done. */
  #failed(error: FerryError): void {
    this.#context.tracker.fileFailed(error, this.#item.target, this.#item.size);
  }

  /** Opens the file announced by FILE; false when it cannot be written (its frames are dropped). */
  async #onFile(call: Call, frame: Frame): Promise<boolean> {
    const file = decodeFile(frame.payload);
    if (file.path !== "" || this.#call === undefined) throw call.unexpected(frame);
    const { tracker } = this.#context;
    const shown = this.#item.target;
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
      else if (offset !== 0) throw call.unexpected(frame);
      incoming.meta.mtime = file.mtime;
      incoming.meta.mode = file.mode;
      if (offset > 0) tracker.moved(offset, true, shown);
      return true;
    } catch (error) {
      if (error instanceof FerryError && error.code === ErrorCode.Protocol) throw error;
      this.#failed(toFerryError(error, "write", shown));
      return false;
    }
  }

  async #onData(call: Call, frame: Frame): Promise<void> {
    if (this.#incoming === null) throw call.unexpected(frame);
    await this.#incoming.write(frame.payload);
    this.#context.tracker.moved(frame.payload.length, false, this.#item.target);
    // --limit-rate counts what crossed the link: compressed data moves more per second.
    const wait = this.#context.limiter?.take(frame.wireBytes ?? frame.payload.length);
    if (wait !== undefined) await wait;
  }

  /** END starts the commit (true); CANCEL discards what arrived. */
  async #onEnd(frame: Frame): Promise<boolean> {
    const done = this.#incoming;
    if (done === null) return false;
    this.#incoming = null;
    if (frame.kind === Kind.Cancel) {
      await done.discard();
      return false;
    }
    const { tracker, commits } = this.#context;
    const digest = digestHex(frame.payload);
    // The commit (fsync, rename) runs while the next files arrive; a few at most.
    await commits.end(done, frame.payload, (committed) =>
      this.#committing = committed.then(
        () => tracker.committed(done.path, done.meta.size, digest, done.reportedPath),
        (error) => this.#failed(toFerryError(error, "write", done.reportedPath)),
      ));
    return true;
  }
}

/** Opens where `item` goes, its folder resolved beneath the local root now (and held by the file). */
async function openIncoming(
  item: LocalJob,
  meta: IncomingMeta,
  options: IncomingOptions,
): Promise<IncomingFile> {
  const { root, folder: names } = item.place;
  using folder = root.folder(names);
  return await IncomingFile.open(folder, item.place.name, item.target, meta, options);
}
