/**
 * What a transfer does with one file, decided the same way in both
 * directions from what the two sides hold: copy it, or leave the receiving
 * side's entry as it is (rsync's quick check of size and modification time,
 * `--checksum`, `--ignore-existing`, `--update`). {@link compare} is pure;
 * the one fact it cannot know, the local file's digest, is asked for last.
 * With `--delete`, {@link isExtra} decides, as purely, what of the
 * receiving side's entries the sources do not have.
 *
 * @module
 */

import type { PathFilter } from "../fs/filter.ts";
import type { TransferSettings } from "./options.ts";

/** What is known about a file on one side. */
export interface FileFacts {
  size: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** Hex xxh3-128 of the contents, when known (a listing with digests). */
  digest?: string | undefined;
}

/** What the receiving side holds at the destination. */
export interface ReceivingEntry extends FileFacts {
  isFile: boolean;
}

/** The rules that decide what the receiving side keeps. */
export type CompareRules = Pick<
  TransferSettings,
  "sync" | "checksum" | "delete" | "ignoreExisting" | "update"
>;

/** What to do with a file: copy it, leave it, or compare contents (checksum, same size). */
export type Verdict = "copy" | "skip" | "digests";

/**
 * The verdict for `source` against what the receiving side holds (undefined:
 * nothing). `ignoreExisting` keeps any entry, `update` a newer file; then
 * sizes must agree, and the times (to within the millisecond utime() may
 * lose) or, with `checksum`, the contents.
 */
export function compare(
  source: FileFacts,
  receiving: ReceivingEntry | undefined,
  rules: CompareRules,
): Verdict {
  if (receiving === undefined) return "copy";
  if (rules.ignoreExisting) return "skip";
  if (rules.update && receiving.isFile && receiving.mtime > source.mtime + 1) return "skip";
  if (!receiving.isFile || source.size !== receiving.size) return "copy";
  if (rules.checksum) return "digests";
  return Math.abs(source.mtime - receiving.mtime) <= 1 ? "skip" : "copy";
}

/**
 * Whether the receiving side keeps its entry: the verdict, with the
 * contents compared when it asks (the known digest, from the remote side's
 * listing, against `localDigest()`, the local side's, computed only then).
 */
export async function keepsReceiving(
  source: FileFacts,
  receiving: ReceivingEntry | undefined,
  rules: CompareRules,
  localDigest: () => Promise<string>,
): Promise<boolean> {
  const verdict = compare(source, receiving, rules);
  if (verdict !== "digests") return verdict === "skip";
  const known = source.digest ?? receiving!.digest;
  return known !== undefined && await localDigest() === known;
}

/** An entry the receiving side holds below a tree's top, as `delete` sees it. */
export interface HeldEntry {
  /** Its names below the top, "/"-joined. */
  readonly rel: string;
  readonly isDir: boolean;
  /** A backup that transfers keep (`backup`). */
  readonly isBackup: boolean;
}

/** What the deletion of one tree knows so far. */
export interface Extras {
  /** The names the source has below the tree's top. */
  readonly keep: ReadonlySet<string>;
  /** What the rules exclude is not the transfer's to remove (rsync leaves it alone). */
  readonly filter: PathFilter | undefined;
  /** The folders removed so far: what they held went with them. */
  readonly removed: readonly string[];
}

/** Whether `delete` removes `entry`: the sources do not have it, and nothing else keeps it. */
export function isExtra(entry: HeldEntry, { keep, filter, removed }: Extras): boolean {
  const { rel } = entry;
  if (keep.has(rel) || entry.isBackup) return false;
  if (filter?.excludesPath(rel, entry.isDir)) return false;
  return !removed.some((dir) => rel.startsWith(`${dir}/`));
}
