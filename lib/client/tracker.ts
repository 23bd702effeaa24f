/**
 * The counters of one transfer: what was planned, moved, committed, skipped,
 * deleted and failed; the progress snapshots (with the recent speed) and
 * per-file reports built from them; and the summary a transfer resolves with.
 *
 * @module
 */

import type { FerryError } from "../errors.ts";
import type {
  CommittedFile,
  Progress,
  TransferChange,
  TransferSettings,
  TransferSummary,
} from "./options.ts";

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
export function noteUnconfirmed(options: TransferSettings, files: Set<string>): void {
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

  constructor(options: Pick<TransferSettings, "onProgress" | "onFile" | "onChange"> = {}) {
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
