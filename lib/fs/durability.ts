/**
 * The flushes that make a received file survive a power cut: fsync of the
 * file, fsync of the folder that names it (a file's fsync does not flush
 * its entry in the folder), and syncfs of a whole file system. Deno has no
 * syncfs, so that one runs coreutils `sync -f`, when the permissions allow
 * it. The group commit takes these as a {@link SyncFunctions}, so a test can
 * count them or make one fail.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { dirname } from "node:path";

/**
 * How a received file is made durable before it is reported OK, strongest
 * first:
 * - `each`: the file's data and the folder's entry are flushed to disk (fsync).
 * - `batch`: one flush of the whole file system per group of files, where
 *   the system can (`sync -f`); otherwise as `each`.
 * - `none`: nothing is flushed (rsync's default); the file is still written
 *   under a temporary name, verified and renamed.
 */
export type FsyncMode = "each" | "batch" | "none";

/** Every {@link FsyncMode}, strongest first. */
export const FSYNC_MODES: readonly FsyncMode[] = ["each", "batch", "none"];

/** The stronger of two modes: a server serves a request at no less than its floor. */
export function strongerFsync(a: FsyncMode, b: FsyncMode): FsyncMode {
  return FSYNC_MODES.indexOf(a) <= FSYNC_MODES.indexOf(b) ? a : b;
}

/** The flushes a group commit makes. */
export interface SyncFunctions {
  /** Flushes one file's data and metadata (fsync). */
  file(file: Deno.FsFile, path: string): Promise<void>;
  /** Flushes a folder's entries (fsync of the folder), so renames into it survive. */
  folder(path: string): Promise<void>;
  /**
   * Flushes the whole file system holding `path` (syncfs). Resolves false,
   * having done nothing, when that is not available here.
   */
  fileSystem(path: string): Promise<boolean>;
}

/** The real flushes. */
export const SYSTEM_SYNC: SyncFunctions = {
  file: (file) => file.sync(),
  async folder(path) {
    const folder = await Deno.open(path, { read: true });
    try {
      await folder.sync();
    } finally {
      folder.close();
    }
  },
  fileSystem: syncFileSystem,
};

// Whether `sync -f` may run: asked once, since it does not change.
let canSyncFileSystem: boolean | undefined;

async function syncFileSystem(path: string): Promise<boolean> {
  canSyncFileSystem ??= Deno.permissions.querySync({ name: "run", command: "sync" }).state ===
    "granted";
  if (!canSyncFileSystem) return false;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("sync", {
      args: ["-f", "--", path],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    canSyncFileSystem = false;
    return false;
  }
  if (!output.success) {
    const said = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`sync -f failed${said ? `: ${said}` : ""}`);
  }
  return true;
}

/**
 * The folders that creating `path` (with its parents) would make, deepest
 * first: their parents must be flushed for the new names to survive.
 */
export function missingFolders(path: string): string[] {
  const missing: string[] = [];
  let current = path.replace(/\/+$/, "");
  while (current !== "" && !existsSync(current)) {
    missing.push(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return missing;
}
