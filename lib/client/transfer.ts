/**
 * What send, get and put have in common: their options, the progress
 * snapshots and per-file reports they give, and the summary they resolve with.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import type { FsyncMode } from "../protocol/constants.ts";

/** An immutable snapshot of a transfer in progress. */
export interface Progress {
  /** Bytes of file bodies sent or received so far, with those resumed (not moved again). */
  readonly bytesDone: number;
  /** Bytes that crossed the network so far: `bytesDone` without resumed prefixes. */
  readonly bytesTransferred: number;
  /** Bytes of all planned file bodies; grows while a recursive get discovers them. */
  readonly bytesTotal: number;
  /** Files committed and verified so far. */
  readonly filesDone: number;
  /** Files planned; grows while a recursive get discovers them. */
  readonly filesTotal: number;
  /** The file being transferred ("" before the first). */
  readonly path: string;
  /**
   * Recent speed: bytes moved per second over the last few seconds, not the
   * whole run's average, and not counting resumed bytes.
   */
  readonly bytesPerSecond: number;
  /** Seconds left at the recent speed; undefined while it is unknown. */
  readonly etaSeconds: number | undefined;
}

/** A file verified and committed on the receiving side. */
export interface CommittedFile {
  /** Where it was committed: the remote path for send and put, the local path for get. */
  readonly path: string;
  /** Bytes in the file. */
  readonly size: number;
  /** xxh3-128 of its contents, lower-case hex. */
  readonly digest: string;
}

/**
 * What a transfer did, or with `dryRun` would do, to one entry on the
 * receiving side: a file copied (verified and committed), one left as it
 * was, or one removed by `delete`.
 */
export interface TransferChange {
  readonly action: "copy" | "skip" | "delete";
  /** Where: the remote path for send (from the server root), the local path for get. */
  readonly path: string;
  /** The file's size (not for deletions). */
  readonly size?: number;
}

/** A lost connection that will be retried (see {@link TransferOptions.retries}). */
export interface RetryNotice {
  /** 1 for the first retry. */
  readonly attempt: number;
  /** The retries allowed in all. */
  readonly retries: number;
  /** The wait before this retry connects. */
  readonly delaySeconds: number;
  /** What ended the attempt before. */
  readonly error: FerryError;
}

/** Options for `send` and `get`. */
export interface TransferOptions {
  /** Copy folders and everything in them. Without it a folder is an is_directory error. */
  recursive?: boolean | undefined;
  /** Called with a new snapshot as bytes move and files complete; keep it cheap. */
  onProgress?: ((progress: Progress) => void) | undefined;
  /** Called once per file verified and committed on the receiving side. */
  onFile?: ((file: CommittedFile) => void) | undefined;
  /**
   * Called for each file copied, left as it was (sync, `update`,
   * `ignoreExisting`) or removed (`delete`), as it happens: for `-v`.
   */
  onChange?: ((change: TransferChange) => void) | undefined;
  /**
   * Plan and compare only: list, compare and report through `onChange` and
   * the summary what would be copied, skipped and deleted, changing nothing
   * on either side. The summary's `files` and `bytes` count what would be
   * copied; `transferred` is 0.
   */
  dryRun?: boolean | undefined;
  /** Never replace a file that exists on the receiving side. */
  ignoreExisting?: boolean | undefined;
  /** Skip files whose copy on the receiving side is newer (rsync's `--update`). */
  update?: boolean | undefined;
  /**
   * Cancels this transfer only: files not yet committed are discarded, the
   * promise rejects with `aborted`, and the client stays usable.
   */
  signal?: AbortSignal | undefined;
  /** Skip files whose size and modification time match on the receiving side (rsync's quick check). */
  sync?: boolean | undefined;
  /** Skip files whose contents match (compares digests; implies `sync`). */
  checksum?: boolean | undefined;
  /**
   * Remove files and folders on the receiving side that the source folders
   * do not have (implies `sync`). Nothing is removed when a file failed.
   */
  delete?: boolean | undefined;
  /** Bytes per second for file data. Default: no limit. */
  limitRate?: number | undefined;
  /**
   * Connections to use at once, for many large files: files are dealt to
   * them by size. Default 1; small files gain little from more.
   */
  parallel?: number | undefined;
  /**
   * Retries after a lost connection, each on a new connection with
   * exponential backoff (1 s, 2 s, 4 s, at most 30 s). A retry syncs, so
   * files already committed are skipped and big files resume. Default 0.
   */
  retries?: number | undefined;
  /**
   * How each received file is made durable before it counts as done (on the
   * server for send, here for get): `each` (default) flushes every file and
   * its folder, `batch` flushes the file system once per group of files,
   * `none` flushes nothing (rsync's default). A server may serve a send at a
   * stronger mode than asked.
   */
  fsync?: FsyncMode | undefined;
  /**
   * Keep each file the transfer replaces, or (with `delete`) removes, on
   * the receiving side as a numbered backup `NAME.~N~`, as
   * `cp --backup=numbered` does: `true` beside it, or a folder (a path on
   * the receiving side: remote for send, local for get) whose tree mirrors
   * the destination's. Nothing stored is lost, so a server that runs with
   * `noDelete` accepts such replacements and deletions. `delete` leaves
   * backups alone.
   */
  backup?: boolean | string | undefined;
  /** Told before each retry waits (to print a notice). */
  onRetry?: ((notice: RetryNotice) => void) | undefined;
  /**
   * Include and exclude rules, as rsync's `--include` and `--exclude`:
   * "- PATTERN" or "+ PATTERN", tried in order, the first that matches a
   * path (below the top of each source folder) deciding; `*`, `**`, `?`,
   * `[…]`, a trailing "/" for folders only, a leading "/" to anchor at the
   * top. Excluded files are neither sent nor listed, excluded folders not
   * entered, and `delete` never removes what the rules exclude on the
   * receiving side.
   */
  filter?: readonly string[] | undefined;
}

/**
 * Deals items into `count` shares of about equal size, biggest first to the
 * lightest share (`parallel`). With one share the order is kept.
 */
export function dealBySize<T>(
  items: readonly T[],
  count: number,
  size: (item: T) => number,
): T[][] {
  if (count <= 1) return [[...items]];
  const shares = Array.from({ length: count }, () => ({ bytes: 0, items: [] as T[] }));
  for (const item of [...items].sort((a, b) => size(b) - size(a))) {
    const lightest = shares.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    lightest.items.push(item);
    lightest.bytes += size(item);
  }
  return shares.map((share) => share.items);
}

/** Files at least this big are resumable: what arrived before a failure is kept and reused. */
export const RESUME_MIN_BYTES = 4 * 1024 * 1024;

/** How a transfer ended. `errors` counts the files in `failures`. */
export interface TransferSummary {
  /** Files committed and verified. */
  files: number;
  /** Their total size. */
  bytes: number;
  /** File data that crossed the network: less than `bytes` when files were resumed. */
  transferred: number;
  /** Entries left out: unchanged files (sync), symlinks, special files. */
  skipped: number;
  /** Entries removed on the receiving side (`delete`). */
  deleted: number;
  /** Their paths (remote for send, local for get); a removed folder is one path. */
  deletedPaths: string[];
  /** Files that failed: the length of `failures`. */
  errors: number;
  /** How long the transfer took. */
  seconds: number;
  /** Why each failed file failed. */
  failures: FerryError[];
}

// The recent speed is measured over this window, from samples this far apart.
const SPEED_WINDOW_MS = 5_000;
const SPEED_SAMPLE_MS = 250;

/**
 * For {@link withRetries}: the files whose body an attempt sent but whose
 * commit it never heard of (the OK was lost with the connection), by the
 * name its tracker started them under. The retry that finds one of them
 * already there counts it as sent, not as skipped. Kept beside the options
 * of an attempt, so that no public option carries it.
 */
const unconfirmedOf = new WeakMap<object, Set<string>>();

/** Lets the trackers made with `options` note their unconfirmed files in `files`. */
export function noteUnconfirmed(options: TransferOptions, files: Set<string>): void {
  unconfirmedOf.set(options, files);
}

/** Keeps the counters of one transfer and reports them. */
export class TransferTracker {
  readonly failures: FerryError[] = [];
  bytesDone = 0;
  bytesTotal = 0;
  filesDone = 0;
  filesTotal = 0;
  path = "";
  committedBytes = 0;
  transferred = 0;
  skipped = 0;
  readonly deletedPaths: string[] = [];
  #started = performance.now();
  #onProgress: ((progress: Progress) => void) | undefined;
  #onFile: ((file: CommittedFile) => void) | undefined;
  #onChange: ((change: TransferChange) => void) | undefined;
  /** [time, transferred] samples within the speed window, oldest first. */
  #samples: [number, number][] = [];
  /** Bytes done of files in flight, by the path they were started under. */
  #movedOf = new Map<string, number>();

  /** Started and not yet committed, while a retry may follow (see noteUnconfirmed). */
  #unconfirmed: Set<string> | undefined;

  constructor(options: Pick<TransferOptions, "onProgress" | "onFile" | "onChange"> = {}) {
    this.#onProgress = options.onProgress;
    this.#onFile = options.onFile;
    this.#onChange = options.onChange;
    this.#unconfirmed = unconfirmedOf.get(options);
  }

  planned(files: number, bytes: number): void {
    this.filesTotal += files;
    this.bytesTotal += bytes;
    this.#report();
  }

  started(path: string): void {
    this.path = path;
    this.#unconfirmed?.add(path);
  }

  /**
   * A file the receiving side already has. One that an earlier attempt sent
   * without hearing back was committed then: it counts as sent.
   */
  skip(startedAs: string, size: number): void {
    if (this.#unconfirmed?.delete(startedAs)) {
      this.filesDone++;
      this.committedBytes += size;
    } else {
      this.skipped++;
      this.#onChange?.({ action: "skip", path: startedAs, size });
    }
  }

  /** An entry removed on the receiving side (or, dry run, one that would be). */
  deleted(path: string): void {
    this.deletedPaths.push(path);
    this.#onChange?.({ action: "delete", path });
  }

  /** Dry run: a file that would be copied, counted as if it were. */
  wouldCopy(path: string, size: number): void {
    this.filesDone++;
    this.committedBytes += size;
    this.#onChange?.({ action: "copy", path, size });
  }

  /**
   * `bytes` more of the file `path` are done; `verified` bytes were reused,
   * not moved. With `path`, they are taken back if that file fails.
   */
  moved(bytes: number, verified = false, path?: string): void {
    this.bytesDone += bytes;
    if (!verified) this.transferred += bytes;
    if (path !== undefined) this.#movedOf.set(path, (this.#movedOf.get(path) ?? 0) + bytes);
    this.#report();
  }

  /**
   * A planned file of `size` bytes that failed (refused, unreadable): it
   * leaves the totals, and its bytes no longer count as done.
   */
  fileFailed(error: FerryError, path: string, size: number): void {
    this.failures.push(error);
    this.bytesDone -= this.#movedOf.get(path) ?? 0;
    this.#movedOf.delete(path);
    this.bytesTotal = Math.max(0, this.bytesTotal - size);
    this.filesTotal = Math.max(0, this.filesTotal - 1);
    this.#report();
  }

  /** A file verified and committed; `startedAs` is the name it was started under. */
  committed(path: string, size: number, digest: string, startedAs = path): void {
    this.#unconfirmed?.delete(startedAs);
    this.#movedOf.delete(startedAs);
    this.filesDone++;
    this.committedBytes += size;
    this.#onFile?.({ path, size, digest });
    this.#onChange?.({ action: "copy", path, size });
    this.#report();
  }

  failed(error: FerryError): void {
    this.failures.push(error);
  }

  summary(): TransferSummary {
    return {
      files: this.filesDone,
      bytes: this.committedBytes,
      transferred: this.transferred,
      skipped: this.skipped,
      deleted: this.deletedPaths.length,
      deletedPaths: this.deletedPaths,
      errors: this.failures.length,
      seconds: (performance.now() - this.#started) / 1000,
      failures: this.failures,
    };
  }

  /** The current state as an immutable snapshot. */
  snapshot(now: number = performance.now()): Progress {
    const speed = this.#speed(now);
    const left = this.bytesTotal - this.bytesDone;
    return Object.freeze({
      bytesDone: this.bytesDone,
      bytesTransferred: this.transferred,
      bytesTotal: this.bytesTotal,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      path: this.path,
      bytesPerSecond: speed,
      etaSeconds: left <= 0 ? 0 : speed > 0 ? left / speed : undefined,
    });
  }

  #speed(now: number): number {
    const samples = this.#samples;
    const last = samples.at(-1);
    if (last === undefined || now - last[0] >= SPEED_SAMPLE_MS) {
      samples.push([now, this.transferred]);
      while (samples.length > 2 && now - samples[1]![0] > SPEED_WINDOW_MS) samples.shift();
    }
    const first = samples[0]!;
    const elapsed = now - first[0];
    // Too short a span says nothing yet; fall back on the run so far.
    if (elapsed < SPEED_SAMPLE_MS) {
      const run = now - this.#started;
      return run > 0 ? (this.transferred * 1000) / run : 0;
    }
    return ((this.transferred - first[1]) * 1000) / elapsed;
  }

  #report(): void {
    if (this.#onProgress !== undefined) this.#onProgress(this.snapshot());
  }
}

/** The error a whole transfer ends with when some files failed, or undefined. */
export function summaryError(summary: TransferSummary): FerryError | undefined {
  const [first] = summary.failures;
  if (first === undefined) return undefined;
  if (summary.failures.length === 1 && summary.files === 0) return first;
  return new FerryError(
    ErrorCode.Partial,
    `${summary.errors} of ${
      summary.errors + summary.files
    } files failed; the others were transferred`,
  );
}

/** The error a cancelled transfer rejects with. */
export function cancelled(): FerryError {
  return new FerryError(ErrorCode.Aborted, "The transfer was cancelled");
}

/**
 * Rejects a call whose signal is already aborted with `aborted`, like every
 * other cancellation (`throwIfAborted()` would throw a DOMException).
 */
export function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled();
}
