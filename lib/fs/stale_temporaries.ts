/**
 * Sweeping what a killed transfer left behind. A fresh temporary (random
 * name, not resumable) is of use only to the transfer writing it, which
 * holds an exclusive lock (flock) on it from the moment it is created until
 * it is committed or removed; the kernel drops the lock when that process
 * dies, however it dies. One that nobody holds and that has not changed
 * for a minute was left by a transfer that was killed (SIGKILL, power
 * loss), and is removed. Resumable partials are kept: being found again by
 * the next attempt is their point.
 *
 * @module
 */

import { TEMP_PREFIX, TEMP_SUFFIX } from "./temporary.ts";

// Older than this and unlocked: stale. The age covers the instant between a
// temporary's creation and its lock, and writers that do not lock.
const STALE_AFTER_MS = 60_000;
const FRESH_TEMPORARY = new RegExp(`^\\${TEMP_PREFIX}[0-9a-f]{16}\\${TEMP_SUFFIX}$`);

/** Whether `name` is a fresh (random, non-resumable) temporary's name. */
export function isFreshTemporaryName(name: string): boolean {
  return FRESH_TEMPORARY.test(name);
}

/**
 * Removes the stale fresh temporaries directly in `folder`; returns how many. The folders in it are added to `subfolders`, when given. Never
 * throws: a folder that cannot be read is left alone.
 */
export function sweepFolder(folder: string, subfolders?: string[]): number {
  let removed = 0;
  try {
    // Synchronous: one folder's names, without a thread-pool round trip per batch.
    for (const entry of Deno.readDirSync(folder)) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory) subfolders?.push(path);
      else if (entry.isFile && isFreshTemporaryName(entry.name) && removeIfStale(path)) removed++;
    }
  } catch { /* gone or unreadable: nothing to sweep */ }
  return removed;
}

/** Removes the temporary at `path` when it is old and no live transfer holds its lock. */
function removeIfStale(path: string): boolean {
  let file: Deno.FsFile | undefined;
  try {
    const info = Deno.lstatSync(path);
    const age = Date.now() - (info.mtime?.getTime() ?? Date.now());
    if (!info.isFile || info.nlink !== 1 || age < STALE_AFTER_MS) return false;
    file = Deno.openSync(path, { read: true });
    if (!file.tryLockSync(true)) return false;
    // Only the name goes: whatever it is, nothing is written through it.
    Deno.removeSync(path);
    return true;
  } catch {
    return false;
  } finally {
    file?.close();
  }
}

/**
 * Sweeps every folder under `root`, symlinks not followed, in the
 * background of a server that just started; stops early when `signal`
 * aborts. Resolves with how many temporaries went.
 */
export async function sweepTree(root: string, signal?: AbortSignal): Promise<number> {
  let removed = 0;
  const folders = [root];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    if (signal?.aborted) break;
    removed += sweepFolder(folder, folders);
    // One folder at a time, between the server's own work.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return removed;
}

// Folders this process swept lately: a receiving run sweeps each folder it
// writes into once, not once per file. Bounded; forgotten when full.
const sweptLately = new Set<string>();
const MAX_REMEMBERED = 4096;

/** Sweeps `folder`, unless this process did lately. */
export function sweepOnce(folder: string): void {
  if (sweptLately.has(folder)) return;
  if (sweptLately.size >= MAX_REMEMBERED) sweptLately.clear();
  sweptLately.add(folder);
  sweepFolder(folder);
}
