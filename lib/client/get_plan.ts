/**
 * What a get will fetch: each source is listed (streamed), its names are
 * checked like the server checks client paths and resolved inside the local
 * destination, folders are made, and the files to fetch are collected.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import type { RemoteEntry } from "../protocol/replies.ts";
import { printable, resolveInside, splitRemotePath } from "../fs/safe_path.ts";
import { walkTree } from "../fs/tree_walk.ts";
import type { Connection } from "./connection.ts";
import { listRemote, statRemote } from "./remote_ops.ts";
import { folderNeedsRecursive } from "./send_plan.ts";
import type { TransferOptions, TransferTracker } from "./transfer.ts";

/** One file to fetch. */
export interface Wanted {
  remote: string;
  local: string;
  /** How it is named in messages. */
  shown: string;
  entry: RemoteEntry;
}

/** A local folder a recursive get fills, and the names it should hold (for delete). */
export interface LocalTree {
  root: string;
  keep: Set<string>;
}

/**
 * Splits a name announced by the server. Unlike a path typed by the user, it
 * must be relative: an absolute name is refused, not quietly re-rooted.
 */
export function splitAnnouncedName(name: string): string[] {
  if (name.startsWith("/")) {
    throw new FerryError(
      ErrorCode.BadPath,
      `Refused name "${printable(name)}" from the server: it is absolute`,
      { path: name },
    );
  }
  return splitRemotePath(name);
}

/** stat (or lstat, not following a symlink), or null when nothing is there. */
export async function localInfo(path: string, follow: boolean): Promise<Deno.FileInfo | null> {
  try {
    return await (follow ? Deno.stat(path) : Deno.lstat(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw toFerryError(error, "look up", path);
  }
}

export async function mkdirLocal(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    throw toFerryError(error, "create folder", path);
  }
}

/**
 * Lists one source and adds its files to `wanted`; folders are made here and
 * now. Returns the local folder and the names it should hold (for delete),
 * or null for a single file.
 */
export async function planSource(
  connection: Connection,
  source: string,
  target: string,
  options: TransferOptions,
  tracker: TransferTracker,
  wanted: Wanted[],
): Promise<LocalTree | null> {
  const info = await statRemote(connection, source);
  const shownSource = printable(source || "/");
  if (info === null) {
    throw new FerryError(ErrorCode.NotFound, `Cannot find "${shownSource}" on the server`, {
      path: source,
    });
  }
  const digests = options.checksum ?? false;
  const onNotice = (error: FerryError) => tracker.failed(error);
  if (info.type === "file") {
    // STAT already told size and mtime; only checksum needs the listing's digest.
    if (!digests) {
      const name = splitRemotePath(source).at(-1) ?? "";
      wanted.push({
        remote: source,
        local: target,
        shown: target,
        entry: { name, path: source, ...info },
      });
      return null;
    }
    for await (const entry of listRemote(connection, source, { digests, onNotice })) {
      if (entry.type === "file") {
        wanted.push({ remote: source, local: target, shown: target, entry });
      }
    }
    return null;
  }
  if (info.type !== "dir") {
    throw new FerryError(ErrorCode.NotFound, `"${shownSource}" is not a file or folder`, {
      path: source,
    });
  }
  if (!options.recursive) throw folderNeedsRecursive(source);
  await mkdirLocal(target);
  const root = await Deno.realPath(target);
  const base = splitRemotePath(source).join("/");
  const keep = new Set<string>();
  // Local folders already resolved, by relative path: one lookup per folder, not per file.
  const folders = new Map<string, string>();
  const listing = listRemote(connection, source, {
    recursive: true,
    digests,
    onNotice,
    signal: options.signal,
  });
  for await (const entry of listing) {
    // Entry paths are from the server root and must lie below the source.
    if (base !== "" && !entry.path.startsWith(`${base}/`)) {
      throw new FerryError(
        ErrorCode.BadPath,
        `Refused name "${
          printable(entry.path)
        }" from the server: it is not inside "${shownSource}"`,
        { path: entry.path },
      );
    }
    const parts = splitAnnouncedName(base === "" ? entry.path : entry.path.slice(base.length + 1));
    const rel = parts.join("/");
    keep.add(rel);
    const shown = `${target}/${rel}`;
    try {
      if (entry.type === "dir") {
        const folder = resolveInside(root, parts);
        await mkdirLocal(folder);
        folders.set(rel, folder);
      } else if (entry.type === "file") {
        const folderParts = parts.slice(0, -1);
        const folderRel = folderParts.join("/");
        let folder = folders.get(folderRel);
        if (folder === undefined) {
          folder = resolveInside(root, folderParts);
          folders.set(folderRel, folder);
        }
        // The last name is not followed: a symlink there is replaced by the file (the
        // commit renames over it), as on the server.
        const local = `${folder === "/" ? "" : folder}/${parts.at(-1)}`;
        wanted.push({ remote: entry.path, local, shown, entry });
      } else {
        tracker.skipped++;
      }
    } catch (error) {
      tracker.failed(toFerryError(error, "write", shown));
    }
  }
  return { root, keep };
}

/** Removes what `tree.root` holds beyond the names in `tree.keep` (never following symlinks). */
export async function deleteExtraLocal(tree: LocalTree, tracker: TransferTracker): Promise<void> {
  const rootInfo = await Deno.lstat(tree.root);
  const removed: string[] = [];
  for await (const entry of walkTree(tree.root, rootInfo)) {
    if (entry.rel === "" || entry.type === "error" || tree.keep.has(entry.rel)) continue;
    // Inside a folder just removed (its walk finds nothing or fails).
    if (removed.some((dir) => entry.rel === dir || entry.rel.startsWith(`${dir}/`))) continue;
    try {
      await Deno.remove(entry.path, { recursive: entry.type === "dir" });
      removed.push(entry.rel);
      tracker.deleted++;
    } catch (error) {
      tracker.failed(toFerryError(error, "remove", entry.path));
    }
  }
}
