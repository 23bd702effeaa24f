/**
 * ferry's temporary files: where a body is written before it is verified
 * and renamed, named `.ferry-<hex>.part` beside the destination. A
 * resumable one is named after what it holds (destination, size, mtime), so
 * that an interrupted transfer finds it again.
 *
 * @module
 */

import { digestHex, digestPrefix, FileDigest } from "./digest.ts";
import { sameObject } from "./safe_path.ts";
import { ErrorCode, FerryError } from "../errors.ts";
import type { Held, WritableFile } from "./confinement.ts";
import { Errno, errnoOf } from "./libc.ts";
import { printable } from "../text.ts";

/** Temporary files are named `.ferry-<16 hex digits>.part`, next to their destination. */
export const TEMP_PREFIX = ".ferry-";
export const TEMP_SUFFIX = ".part";

/** A fresh random temporary name. */
export function tempName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return TEMP_PREFIX + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") +
    TEMP_SUFFIX;
}

/** Whether `name` is one of ferry's temporaries (walks and listings leave them out). */
export function isTemporaryName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX);
}

/**
 * Refuses a request path whose last name is one of ferry's temporaries:
 * they are never served, listed or sent, and nothing may be written, made
 * or moved under such a name (it could pass for another upload's partial).
 * Removing one (`ferry rm`) stays allowed: that is how a stale partial goes.
 */
export function refuseTemporaryName(parts: readonly string[]): void {
  const last = parts.at(-1);
  if (last === undefined || !isTemporaryName(last)) return;
  const rootPath = parts.join("/");
  throw new FerryError(
    ErrorCode.BadPath,
    `Refused path "${
      printable(rootPath)
    }": the name is one of ferry's temporaries (${TEMP_PREFIX}*${TEMP_SUFFIX})`,
    { path: rootPath },
  );
}

/**
 * Who writes a partial, asked to give it up when a newer upload of the same
 * file wants it: it lets go (closes its upload and releases the partial)
 * and says true only when its connection has been idle long enough to be
 * given up for dead, as after a frozen link whose retry arrived first.
 */
export type PartialHolder = () => boolean;

const NEVER_LETS_GO: PartialHolder = () => false;

// Resumable temporaries being written right now, in this process: a second
// transfer of the same file must not append to the same partial.
const partialsInUse = new Map<string, PartialHolder>();

/**
 * Whether a transfer in this process is writing the partial at `path`. Its
 * holder is asked to let go first, so a stale one does not count.
 */
export function partialInUse(path: string): boolean {
  const holder = partialsInUse.get(path);
  return holder !== undefined && !holder();
}

/** Marks the partial at `path` as being written by `holder`. */
export function claimPartial(path: string, holder: PartialHolder = NEVER_LETS_GO): void {
  partialsInUse.set(path, holder);
}

/** The partial at `path` is free again (committed, kept for later, or removed). */
export function releasePartial(path: string): void {
  partialsInUse.delete(path);
}

/**
 * The key of a resumable temporary: the same destination, size and mtime
 * (the same version of the same file) find the same partial.
 */
export async function resumeKeyFor(
  destination: string,
  size: number,
  mtime: number,
): Promise<string> {
  const digest = await FileDigest.start();
  digest.update(new TextEncoder().encode(`${destination}\0${size}\0${mtime}`));
  return digestHex(digest.finish());
}

/** What an earlier, interrupted attempt left that this one may continue from. */
export interface ResumeOffer {
  offset: number;
  /** Hex digest of the kept prefix. */
  digest: string;
}

/**
 * What a resumable temporary holds that can be reused: at most `size`
 * bytes (nothing beyond the announced size is trusted; the sender checks
 * the digest of the rest). Leaves the file positioned after them.
 */
export async function keptPrefix(
  file: Deno.FsFile,
  size: number,
  digest: FileDigest,
): Promise<ResumeOffer> {
  const kept = Math.min((await file.stat()).size, size);
  const offset = await digestPrefix(file, kept, digest);
  await file.truncate(offset);
  await file.seek(offset, Deno.SeekMode.Start);
  return { offset, digest: digestHex(digest.peek()) };
}

/** A temporary opened for a body, and the resume key it kept (if any; its partial is claimed). */
export interface OpenedTemporary {
  file: Deno.FsFile;
  /** Its name in the folder. */
  name: string;
  /** Its real path: the partial's claim, hooks and messages. */
  tempPath: string;
  /** Sets its mode through what was opened, never through its name. */
  chmod(mode: number): void;
  /** Lets go of what it holds beside the file (the file is closed by its owner). */
  release(): void;
  /** Undefined when no partial is used: none asked for, in use here, or not ferry's own. */
  resumeKey: string | undefined;
}

/**
 * Opens the temporary for a body arriving in `folder`: the resumable
 * partial of `resumeKey` when it is free and ferry's own, else a fresh one
 * with a random name (O_EXCL).
 */
export function openTemporary(folder: Held, resumeKey: string | undefined): OpenedTemporary {
  if (resumeKey !== undefined) {
    const name = partialName(resumeKey);
    const kept = folder.realAt(name);
    const partial = partialInUse(kept) ? null : openPartial(folder, name);
    if (partial !== null) {
      // Claimed before anything awaits: a second upload of the same file at once
      // must not open it too.
      claimPartial(kept);
      return { ...partial, name, tempPath: kept, resumeKey };
    }
  }
  const name = tempName();
  const opened = folder.openWritable(name, true);
  // Held until it is closed, or the process dies: a live transfer's, never swept
  // (see stale_temporaries.ts). Nobody else has it yet, so it never waits.
  opened.file.lockSync(true);
  return { ...opened, name, tempPath: folder.realAt(name), resumeKey: undefined };
}

// How long a resumable upload waits for another one of the same file to let go
// of the partial: the connection it replaces may still be draining what it had
// buffered (a server that was stopped and continued), or be about to count as idle.
const PARTIAL_WAIT_MS = 3_000;
const PARTIAL_POLL_MS = 50;

function partialName(resumeKey: string): string {
  return `${TEMP_PREFIX}${resumeKey}${TEMP_SUFFIX}`;
}

/** Waits (a bounded time) until no other transfer holds the partial at `path`. */
async function partialFree(path: string): Promise<void> {
  for (let waited = 0; partialInUse(path) && waited < PARTIAL_WAIT_MS; waited += PARTIAL_POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, PARTIAL_POLL_MS));
  }
}

/** A temporary for a body, and what an earlier attempt left in it to resume from. */
export interface BodyTemporary extends OpenedTemporary {
  offer: ResumeOffer;
}

/**
 * {@link openTemporary}, then the offer of what it kept (hashed into
 * `digest`; nothing when it is fresh). On failure nothing stays open or claimed.
 */
export async function openBodyTemporary(
  folder: Held,
  resumeKey: string | undefined,
  size: number,
  digest: FileDigest,
): Promise<BodyTemporary> {
  if (resumeKey !== undefined) await partialFree(folder.realAt(partialName(resumeKey)));
  const opened = openTemporary(folder, resumeKey);
  if (opened.resumeKey === undefined) return { ...opened, offer: { offset: 0, digest: "" } };
  try {
    return { ...opened, offer: await keptPrefix(opened.file, size, digest) };
  } catch (error) {
    releasePartial(opened.tempPath);
    opened.file.close();
    opened.release();
    throw error;
  }
}

/**
 * Opens the resumable partial `name` in `folder` for reading and writing,
 * creating it when missing, but only if it is ferry's own: a regular file
 * with one link. Anything else planted at that predictable name (a symlink
 * or hard link to a file elsewhere) is never written through: its name is
 * removed (not what it points to) and null says to use a fresh temporary.
 * The file opened is compared with the name afterwards (in user space the
 * open itself may have followed a link planted meanwhile).
 */
export function openPartial(folder: Held, name: string): WritableFile | null {
  const path = folder.at(name);
  let named: Deno.FileInfo | null = null;
  try {
    named = Deno.lstatSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (named !== null && !(named.isFile && named.nlink === 1)) {
    Deno.removeSync(path);
    return null;
  }
  let opened: WritableFile;
  try {
    // A missing one is created with O_EXCL, which never follows a link.
    opened = folder.openWritable(name, named === null);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists || errnoOf(error) === Errno.ELOOP) return null;
    throw error;
  }
  const info = opened.file.statSync();
  let now: Deno.FileInfo | null = null;
  try {
    now = Deno.lstatSync(path);
  } catch { /* removed meanwhile */ }
  if (now?.isFile && sameObject(now, info) && info.nlink === 1) return opened;
  opened.file.close();
  opened.release();
  return null;
}
