/**
 * Free space on the file system that holds a path (statfs), for the
 * server's --min-free: a transfer that would leave less is refused before it
 * starts and stopped while it is written.
 *
 * @module
 */

import { statfs } from "node:fs/promises";

import { ErrorCode, FerryError } from "../errors.ts";
import { formatBytes } from "../text.ts";

/** Bytes available to an unprivileged writer on the file system of `path`. */
export async function freeBytes(path: string): Promise<number> {
  const stats = await statfs(path);
  return Number(stats.bavail) * Number(stats.bsize);
}

/** Throws no_space when writing `more` bytes under `path` would leave less than `minFree`. */
export async function checkFreeSpace(
  path: string,
  more: number,
  minFree: number,
  reportedPath: string,
): Promise<void> {
  if (minFree <= 0) return;
  const free = await freeBytes(path);
  if (free - more < minFree) {
    throw new FerryError(
      ErrorCode.NoSpace,
      `Cannot store "${reportedPath}": it would leave less than ${
        formatBytes(minFree)
      } free on the server (serve --min-free); ${formatBytes(free)} is free`,
      { path: reportedPath },
    );
  }
}
