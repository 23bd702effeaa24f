/**
 * A transfer's options resolved once, at its start, into what the shared
 * steps read: how the receiving side commits each file, which files move,
 * and how the bodies travel. send and get take SendOptions and GetOptions;
 * inside, this one object travels instead of loose flags, and a default is
 * decided here and nowhere else.
 *
 * @module
 */

import { PathFilter } from "../fs/filter.ts";
import type { FsyncMode } from "../protocol/constants.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import { comparesReceivingSide } from "./compare.ts";

import type { TransferSettings } from "./transfer.ts";

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
      compares: comparesReceivingSide(rules),
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
