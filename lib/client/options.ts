/**
 * What send, get and put have in common: their options, the progress
 * snapshots and per-file reports they give, and the summary they resolve
 * with. At a transfer's start its options are resolved once
 * ({@link resolvePolicy}) into the policy the shared steps read: how the
 * receiving side commits each file, which files move, and how the bodies
 * travel; a default is decided there and nowhere else.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { ChunkCompressor } from "../wire/compression.ts";
import { printable } from "../text.ts";
import { COMPRESS_LEVELS, type FsyncMode } from "../protocol/constants.ts";
import { PathFilter } from "../fs/filter.ts";
import { RateLimiter } from "../wire/rate_limit.ts";

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
  /** Copied (verified and committed), skipped (left as it was), or deleted. */
  readonly action: "copy" | "skip" | "delete";
  /** Where: the remote path for send (from the server root), the local path for get. */
  readonly path: string;
  /** The file's size (not for deletions). */
  readonly size?: number | undefined;
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

/**
 * What `send` and `get` share: every field means the same in both
 * directions. Where the two differ (durability, backups), see
 * {@link SendOptions} and {@link GetOptions}.
 */
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
   * zstd-compress file data on the way (`true`, or a level from 1 to 19;
   * default level 3), chunk by chunk, where a chunk shrinks by at least 5%.
   * Only with a peer that decodes it; otherwise data goes as it is.
   * Worth it on slow links with text-like data.
   */
  compress?: boolean | number | undefined;
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
   * Connections to use at once, for many large files: each takes the next
   * file when it has room (a send's biggest first). Default 1; small files
   * gain little from more.
   */
  parallel?: number | undefined;
  /**
   * Retries after a lost connection, each on a new connection with
   * exponential backoff (1 s, 2 s, 4 s, at most 30 s). A retry syncs, so
   * files already committed are skipped and big files resume. Default 0.
   */
  retries?: number | undefined;
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
  /**
   * Reject when a file failed, instead of resolving with the failures in
   * the summary: with the error of {@link summaryError} (the file's own
   * when it is the only file, else `partial`), whose `summary` is attached.
   */
  throwOnFailure?: boolean | undefined;
}

/** Options of `send`: files go to the server. */
export interface SendOptions extends TransferOptions {
  /**
   * How the server makes each file durable before it counts as done:
   * `each` (default) flushes every file and its folder, `batch` flushes the
   * file system once per group of files, `none` flushes nothing (rsync's
   * default). A server may serve the send at a stronger mode than asked.
   */
  fsync?: FsyncMode | undefined;
  /**
   * Keep each remote file the send replaces, or (with `delete`) removes, as
   * a numbered backup `NAME.~N~`, as `cp --backup=numbered` does: `true`
   * beside it, or a remote folder whose tree mirrors the destination's
   * (relative to a named host's folder). Nothing stored is lost, so a
   * server that runs with `noDelete` accepts such replacements and
   * deletions. `delete` leaves backups alone.
   */
  backup?: boolean | string | undefined;
}

/** Options of `get`: files come here. */
export interface GetOptions extends TransferOptions {
  /**
   * How each file received here is made durable before it counts as done
   * (see {@link SendOptions.fsync}). Default `each`.
   */
  fsync?: FsyncMode | undefined;
  /**
   * Keep each local file the get replaces, or (with `delete`) removes, as a
   * numbered backup `NAME.~N~`: `true` beside it, or a local folder whose
   * tree mirrors the destination's. `delete` leaves backups alone.
   */
  backup?: boolean | string | undefined;
}

/** Either direction's options, as the shared code takes them. */
export type TransferSettings = SendOptions | GetOptions;

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

/** The error a transfer with failed files ends with, the summary attached (see `throwOnFailure`). */
export class TransferError extends FerryError {
  /** What the transfer did, its failures included. */
  readonly summary: TransferSummary;

  /** The error `code` and `message` for `summary`; `cause` is the one failed file's error. */
  constructor(code: ErrorCode, message: string, summary: TransferSummary, cause?: FerryError) {
    super(code, message, { path: cause?.path, cause });
    this.name = "TransferError";
    this.summary = summary;
  }
}

/**
 * The error a whole transfer ends with when some files failed, or
 * undefined: the file's own when it was the only file, else `partial`.
 */
export function summaryError(summary: TransferSummary): TransferError | undefined {
  const [first] = summary.failures;
  if (first === undefined) return undefined;
  if (summary.failures.length === 1 && summary.files === 0) {
    return new TransferError(first.code, first.message, summary, first);
  }
  return new TransferError(
    ErrorCode.Partial,
    `${summary.errors} of ${
      summary.errors + summary.files
    } files failed; the others were transferred`,
    summary,
  );
}

/**
 * Refuses, before anything moves, sources that would land on the same
 * destination (`a/same.txt b/same.txt pi:inbox/`, or two folders of one
 * name): one would silently overwrite the other, yet both be reported
 * stored. cp refuses the same ("will not overwrite just-created").
 */
export function refuseCollisions(placed: readonly { source: string; target: string }[]): void {
  const seen = new Map<string, string>();
  for (const { source, target } of placed) {
    const earlier = seen.get(target);
    if (earlier !== undefined) {
      throw new FerryError(
        ErrorCode.Usage,
        `"${printable(earlier)}" and "${printable(source)}" would both be stored as "${
          printable(target || "/")
        }": give them different destinations`,
        { path: target },
      );
    }
    seen.set(target, source);
  }
}

/** The error a cancelled transfer rejects with. */
export function cancelled(copied?: number): FerryError {
  const before = copied === undefined
    ? ""
    : copied === 0
    ? "; no file was copied"
    : `; ${copied} file${copied === 1 ? " was" : "s were"} copied before it`;
  return new FerryError(ErrorCode.Aborted, `The transfer was cancelled${before}`);
}

/**
 * Rejects a call whose signal is already aborted with `aborted`, like every
 * other cancellation (`throwIfAborted()` would throw a DOMException).
 */
export function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled();
}

/** The zstd level `options.compress` asks for with a peer, or undefined for none. */
export function compressLevel(
  options: Pick<TransferOptions, "compress">,
  peer: { peerDecompresses: boolean },
): number | undefined {
  if (!options.compress || !peer.peerDecompresses) return undefined;
  return options.compress === true ? COMPRESS_LEVELS.default : options.compress;
}

/** A compressor for one body sent to `peer`, when `options.compress` asks and it decodes zstd. */
export function compressorFor(
  options: Pick<TransferOptions, "compress">,
  peer: { peerDecompresses: boolean },
): ChunkCompressor | undefined {
  const level = compressLevel(options, peer);
  return level === undefined ? undefined : new ChunkCompressor(level);
}

/** How the receiving side commits each file. */
export interface CommitPolicy {
  /** How it is made durable; undefined leaves it to the receiving side (a server's own default). */
  readonly fsync: FsyncMode | undefined;
  /** Keep what is replaced or removed as a numbered backup: beside it, or in a folder. */
  readonly backup: boolean | string | undefined;
}

/** Which files a transfer moves, and what it leaves or removes on the receiving side. */
export interface SelectionPolicy {
  readonly recursive: boolean;
  /** The compare rules (compare.ts): skip what matches, what is there, or what is newer. */
  readonly sync: boolean;
  readonly checksum: boolean;
  readonly ignoreExisting: boolean;
  readonly update: boolean;
  /** Remove what the sources do not have. */
  readonly delete: boolean;
  /** The include and exclude rules, compiled; undefined when there are none. */
  readonly filter: PathFilter | undefined;
  /** The receiving side is compared (listed, or looked up file by file) before anything moves. */
  readonly compares: boolean;
}

/** How the bodies travel. */
export interface MovePolicy {
  /** Connections at once (at least 1). */
  readonly parallel: number;
  /** Shared by every lane; undefined without a rate limit. */
  readonly limiter: RateLimiter | undefined;
  readonly compress: boolean | number | undefined;
}

/** Everything a transfer decides from its options. */
export interface TransferPolicy {
  readonly commit: CommitPolicy;
  readonly selection: SelectionPolicy;
  readonly move: MovePolicy;
  /** Plan and compare only: change nothing on either side. */
  readonly dryRun: boolean;
  readonly signal: AbortSignal | undefined;
}

/** Resolves `options`; `filter` replaces the compiled rules (a watch's view of them below a folder). */
export function resolvePolicy(
  options: TransferSettings,
  filter: PathFilter | undefined = PathFilter.optional(options.filter),
): TransferPolicy {
  const rules = {
    sync: options.sync ?? false,
    checksum: options.checksum ?? false,
    delete: options.delete ?? false,
    ignoreExisting: options.ignoreExisting ?? false,
    update: options.update ?? false,
  };
  return {
    commit: { fsync: options.fsync, backup: options.backup },
    selection: {
      ...rules,
      recursive: options.recursive ?? false,
      filter,
      compares: Boolean(
        rules.sync || rules.checksum || rules.delete || rules.ignoreExisting || rules.update,
      ),
    },
    move: {
      parallel: Math.max(1, options.parallel ?? 1),
      limiter: RateLimiter.optional(options.limitRate, options.signal),
      compress: options.compress,
    },
    dryRun: options.dryRun ?? false,
    signal: options.signal,
  };
}
