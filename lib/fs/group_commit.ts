/**
 * Group commit of received files: the server's PUTs, the client's GETs and
 * bodies read as streams all end here. A body is verified as soon as it
 * ends, beside the reader; verified files then wait for the committer, which
 * takes everything waiting at once (a round), makes the data durable, renames
 * every file over its destination, flushes each folder it touched once (and
 * the parents of folders made since the last round), and only then lets the
 * files be acknowledged. While one round flushes, the next one gathers, as
 * in PostgreSQL's group commit or git's `core.fsyncMethod=batch`.
 *
 * No file is renamed before its data is durable, and no file is reported OK
 * when a flush failed (a writeback error is reported once per open file, so
 * it is never dropped): a power cut leaves each destination either old or
 * whole and verified.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { DIGEST_SIZE } from "./digest.ts";
import type { BodySink, StagedFile } from "./body_sink.ts";
import { type FsyncMode, type SyncFunctions, SYSTEM_SYNC } from "./durability.ts";
import { printable } from "../text.ts";
import { dirname } from "node:path";

/** Files verified or being committed at once before the reader waits. */
export const MAX_PENDING_COMMITS = 64;

/** How a {@link GroupCommit} flushes. */
export interface GroupCommitOptions {
  /** Commits in progress before the reader waits. Default {@link MAX_PENDING_COMMITS}. */
  limit?: number;
  /** The flushes; tests count them or make them fail. Default: the real ones. */
  sync?: SyncFunctions;
}

interface Waiting {
  file: StagedFile;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** The files of one commit round and how each fared. */
class Round {
  readonly waiting: Waiting[];
  /** The files flushed to disk (not `none`). */
  readonly durable: Waiting[];
  /** The first failure of each file that failed. */
  readonly failed = new Map<Waiting, unknown>();
  /** Folders that received backups, with the folder of the file each was made for. */
  readonly backups: [string, string][] = [];

  constructor(waiting: Waiting[]) {
    this.waiting = waiting;
    this.durable = waiting.filter((file) => file.file.fsync !== "none");
  }

  fail(waiting: Waiting, error: unknown): void {
    if (!this.failed.has(waiting)) this.failed.set(waiting, error);
  }

  /** Answers every file: OK only for those that reached the disk whole. */
  settle(): void {
    for (const waiting of this.waiting) {
      if (this.failed.has(waiting)) waiting.reject(this.failed.get(waiting));
      else waiting.resolve();
    }
  }
}

/** The group commit of one connection's (or one get's) received files; see the module doc. */
export class GroupCommit {
  readonly #limit: number;
  readonly #sync: SyncFunctions;
  /** Answers still to run: one per body, from its end until it was acknowledged. */
  #answers = new Set<Promise<void>>();
  /** Verified files waiting for the next round. */
  #waiting: Waiting[] = [];
  #rounds: Promise<void> | undefined;
  /** Folders made since the last round: their parents are flushed with it. */
  #newFolders = new Set<string>();

  constructor(options: GroupCommitOptions = {}) {
    this.#limit = options.limit ?? MAX_PENDING_COMMITS;
    this.#sync = options.sync ?? SYSTEM_SYNC;
  }

  /** Bodies ended whose answer has not run yet. */
  get size(): number {
    return this.#answers.size;
  }

  /**
   * Ends a body with the digest its sender gave (a view, copied here):
   * checks the length and the digest's size now (a short body is the sender breaking the protocol, and the temporary
   * is removed), then waits for room, verifies the body against the digest
   * and commits it beside the caller. `answer` gets the outcome (it handles
   * its own failures: a rejection is dropped here). `accept`, when given,
   * runs between the verification and the commit and throws to refuse the
   * file (its temporary is removed). Resolves once the commit has started.
   */
  async end(
    sink: BodySink,
    sentDigest: Uint8Array,
    answer: (committed: Promise<void>) => Promise<void>,
    accept?: () => Promise<void>,
  ): Promise<void> {
    if (sink.expectedSize !== undefined && sink.received !== sink.expectedSize) {
      await sink.discard();
      throw new FerryError(
        ErrorCode.Protocol,
        `"${
          printable(sink.reportedPath)
        }" ended after ${sink.received} of ${sink.expectedSize} bytes`,
      );
    }
    if (sentDigest.length !== DIGEST_SIZE) {
      await sink.discard();
      throw new FerryError(
        ErrorCode.Protocol,
        `A digest must be ${DIGEST_SIZE} bytes, got ${sentDigest.length}`,
      );
    }
    const digest = sentDigest.slice();
    while (this.#answers.size >= this.#limit) await Promise.race(this.#answers);
    const committed = sink.verify(digest).then((staged) => {
      if (staged === null) return;
      // No hop through a hook for servers without one: files go straight to the queue.
      if (accept === undefined) return this.#enqueue(staged);
      return accept().then(() => this.#enqueue(staged), async (error) => {
        await staged.discard();
        throw error;
      });
    });
    const settled: Promise<void> = answer(committed).then(noop, noop).finally(() =>
      this.#answers.delete(settled)
    );
    this.#answers.add(settled);
  }

  /**
   * Notes folders just made for files committed with `fsync` (see
   * {@link missingFolders}): the next round flushes their parents.
   */
  foldersMade(folders: readonly string[], fsync: FsyncMode): void {
    if (fsync === "none") return;
    for (const folder of folders) this.#newFolders.add(folder);
  }

  /**
   * Resolves when every body ended so far has been committed or failed, and
   * answered, and folders made without a file in them are on disk too.
   */
  async drain(): Promise<void> {
    while (this.#answers.size > 0) await Promise.all(this.#answers);
    const parents = new Set([...this.#newFolders].map((folder) => dirname(folder)));
    this.#newFolders.clear();
    await Promise.all([...parents].map((folder) => this.#sync.folder(folder).catch(noop)));
  }

  #enqueue(file: StagedFile): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiting.push({ file, resolve, reject });
    this.#rounds ??= this.#runRounds();
    return promise;
  }

  async #runRounds(): Promise<void> {
    while (this.#waiting.length > 0) await this.#round(this.#waiting.splice(0));
    this.#rounds = undefined;
  }

  /** One round, in its three phases; it settles every file in it and never throws. */
  async #round(waiting: Waiting[]): Promise<void> {
    const round = new Round(waiting);
    const batched = await this.#flushData(round);
    await this.#publish(round);
    await this.#flushNames(round, batched);
    round.settle();
  }

  /**
   * 1. Data on disk before any name changes. In batch mode one syncfs writes
   * everything back first, so each file's own fsync (kept: it is what reports
   * a writeback error for that file) finds nothing left to write. Resolves
   * with whether the batch flush ran.
   */
  async #flushData(round: Round): Promise<boolean> {
    const { durable } = round;
    let batched = false;
    if (durable.some((waiting) => waiting.file.fsync === "batch")) {
      try {
        batched = await this.#syncFileSystems(durable.map((waiting) => waiting.file.folder));
      } catch (error) {
        for (const waiting of durable) {
          round.fail(waiting, toFerryError(error, "flush to disk", waiting.file.reportedPath));
        }
      }
    }
    await Promise.all(durable.map(async (waiting) => {
      if (round.failed.has(waiting)) return;
      try {
        await waiting.file.flush(this.#sync);
      } catch (error) {
        round.fail(waiting, error);
      }
    }));
    return batched;
  }

  /** 2. The names: each file renamed over its destination, or discarded when it failed. */
  async #publish(round: Round): Promise<void> {
    for (const waiting of round.waiting) {
      if (waiting.file.fsync === "none") {
        try {
          await waiting.file.flush(NO_SYNC);
        } catch (error) {
          round.fail(waiting, error);
        }
      }
      if (round.failed.has(waiting)) {
        await waiting.file.discard();
        continue;
      }
      try {
        const backedUpIn = waiting.file.publish();
        if (backedUpIn !== undefined) round.backups.push([backedUpIn, waiting.file.folder]);
      } catch (error) {
        round.fail(waiting, error);
      }
    }
  }

  /** 3. The names on disk: each touched folder once, with the parents of new folders. */
  async #flushNames(round: Round, batched: boolean): Promise<void> {
    const published = round.durable.filter((waiting) => !round.failed.has(waiting));
    if (published.length === 0) return;
    const folders = this.#foldersToFlush(
      published.map((waiting) => waiting.file.folder),
      round.backups,
    );
    if (batched && published.every((waiting) => waiting.file.fsync === "batch")) {
      try {
        await this.#syncFileSystems(folders.keys());
      } catch (error) {
        for (const waiting of published) round.fail(waiting, folderError(error, waiting));
      }
      return;
    }
    await Promise.all([...folders].map(async ([folder, files]) => {
      try {
        await this.#sync.folder(folder);
      } catch (error) {
        for (const waiting of published) {
          if (files.has(waiting.file.folder)) round.fail(waiting, folderError(error, waiting));
        }
      }
    }));
  }

  /**
   * Each folder to flush, with the file folders whose durability depends on
   * it: a file's own folder, then up through folders made since the last round.
   */
  #foldersToFlush(fileFolders: string[], backups: [string, string][]): Map<string, Set<string>> {
    const folders = new Map<string, Set<string>>();
    const add = (folder: string, fileFolder: string) => {
      let files = folders.get(folder);
      if (files === undefined) folders.set(folder, files = new Set());
      files.add(fileFolder);
    };
    for (const fileFolder of new Set(fileFolders)) {
      let folder = fileFolder;
      add(folder, fileFolder);
      while (this.#newFolders.delete(folder)) {
        folder = dirname(folder);
        add(folder, fileFolder);
      }
    }
    for (const [backupFolder, fileFolder] of backups) add(backupFolder, fileFolder);
    return folders;
  }

  /** One syncfs per file system among `folders`; false when syncfs is not available. */
  async #syncFileSystems(folders: Iterable<string>): Promise<boolean> {
    const byDevice = new Map<number, string>();
    for (const folder of folders) {
      const device = Deno.statSync(folder).dev;
      if (!byDevice.has(device)) byDevice.set(device, folder);
    }
    for (const folder of byDevice.values()) {
      if (!await this.#sync.fileSystem(folder)) return false;
    }
    return true;
  }
}

// A file committed without flushing still reports a failed background flush.
const NO_SYNC: SyncFunctions = {
  file: () => Promise.resolve(),
  folder: () => Promise.resolve(),
  fileSystem: () => Promise.resolve(false),
};

// The file is already under its name, but that name may not survive a power cut.
function folderError(error: unknown, waiting: Waiting): FerryError {
  return toFerryError(error, "flush to disk the folder holding", waiting.file.reportedPath);
}

function noop(): void {}
