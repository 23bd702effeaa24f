/**
 * What send and get have in common: their options, their progress reports,
 * and the summary they resolve with.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";

/** A snapshot of a transfer in progress. */
export interface Progress {
  /** Bytes of file bodies sent or received so far. */
  bytesDone: number;
  bytesTotal: number;
  /** Files committed and verified so far. */
  filesDone: number;
  /** Files planned; grows while a recursive get discovers them. */
  filesTotal: number;
  /** The file being transferred, relative to its source. */
  path: string;
}

/** Options for `send` and `get`. */
export interface TransferOptions {
  /** Copy folders and everything in them (-r). Without it a folder is an error. */
  recursive?: boolean;
  /** Called as bytes move and files complete; keep it cheap. */
  onProgress?: (progress: Progress) => void;
  /** Cancels the transfer; files not yet committed are discarded. */
  signal?: AbortSignal;
  /**
   * Skip files whose size and modification time match on the receiving side
   * (rsync's quick check).
   */
  sync?: boolean;
  /** Skip files whose contents match (compares digests; implies `sync`). */
  checksum?: boolean;
  /**
   * Remove files and folders on the receiving side that the source folders
   * do not have (implies `sync`). Nothing is removed when a file failed.
   */
  delete?: boolean;
  /** Bytes per second for file data, for send and get. Default: no limit. */
  limitRate?: number;
  /**
   * Connections to use at once (`-j N`), for many large files: files are
   * dealt to them by size. Default 1; small files gain little from more.
   */
  parallel?: number;
}

/**
 * Deals items into `count` shares of about equal size, biggest first to the
 * lightest share (`-j N`). With one share the order is kept.
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
  errors: number;
  seconds: number;
  failures: FerryError[];
}

/** Keeps the counters of one transfer and reports them. */
export class TransferTracker {
  readonly progress: Progress = {
    bytesDone: 0,
    bytesTotal: 0,
    filesDone: 0,
    filesTotal: 0,
    path: "",
  };
  readonly failures: FerryError[] = [];
  committedBytes = 0;
  transferred = 0;
  skipped = 0;
  deleted = 0;
  #started = performance.now();
  #onProgress: ((progress: Progress) => void) | undefined;

  constructor(onProgress?: (progress: Progress) => void) {
    this.#onProgress = onProgress;
  }

  planned(files: number, bytes: number): void {
    this.progress.filesTotal += files;
    this.progress.bytesTotal += bytes;
    this.#report();
  }

  started(path: string): void {
    this.progress.path = path;
  }

  /** Progress: `bytes` more of the current file are done; `verified` bytes were reused, not moved. */
  moved(bytes: number, verified = false): void {
    this.progress.bytesDone += bytes;
    if (!verified) this.transferred += bytes;
    this.#report();
  }

  committed(size: number): void {
    this.progress.filesDone++;
    this.committedBytes += size;
    this.#report();
  }

  failed(error: FerryError): void {
    this.failures.push(error);
  }

  summary(): TransferSummary {
    return {
      files: this.progress.filesDone,
      bytes: this.committedBytes,
      transferred: this.transferred,
      skipped: this.skipped,
      deleted: this.deleted,
      errors: this.failures.length,
      seconds: (performance.now() - this.#started) / 1000,
      failures: this.failures,
    };
  }

  #report(): void {
    this.#onProgress?.(this.progress);
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
