/**
 * STAT and LIST on the server. A listing streams in ENTRIES frames as the
 * tree is walked; the writer's flow control bounds what is held.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { decodeList, decodeStat } from "../protocol/requests.ts";
import {
  encodeEntries,
  encodeListDone,
  encodeStatReply,
  entryJson,
  type RemoteEntry,
  type StatReply,
} from "../protocol/replies.ts";
import { lstatEntry, type ResolvedEntry, resolveEntry } from "../fs/root_ops.ts";
import { type ConfinedRoot, openLookedUp } from "../fs/confinement.ts";
import { digestFileHex } from "../fs/digest.ts";
import { walkTree } from "../fs/tree_walk.ts";
import type { Responder } from "./responder.ts";
import { PathFilter } from "../fs/filter.ts";
import { printable } from "../text.ts";
import { joinRemotePath, remoteName, splitRemotePath } from "../remote_path.ts";

// Entries of a LIST reply are sent in batches of at most this many UTF-16 units
// of JSON, which stays under the control-frame cap even when every one is 3 UTF-8 bytes.
const LIST_BATCH_CHARS = 16 * 1024;

/** Answers a STAT: what is at a path, the last component not followed. */
export async function serveStat(
  root: ConfinedRoot,
  responder: Responder,
  id: number,
  payload: Uint8Array,
): Promise<void> {
  const request = decodeStat(payload);
  try {
    // Unlike LIST, a symlink inside the root is followed: send asks whether DEST is a folder.
    const { held, info } = root.object(splitRemotePath(request.path));
    using _ = held;
    held.confirm([], info);
    await responder.reply(id, encodeStatReply(describe(info)));
  } catch (error) {
    await responder.refuse(id, "stat", request.path, error, false);
  }
}

/** Answers a LIST with ENTRIES batches, then OK with the count. */
export async function serveList(
  root: ConfinedRoot,
  responder: Responder,
  id: number,
  payload: Uint8Array,
): Promise<void> {
  const request = decodeList(payload);
  try {
    using entry = resolveEntry(root, request.path);
    const info = await lstatEntry(entry);
    let batch: string[] = [];
    let batchChars = 0;
    let count = 0;
    const sendBatch = async () => {
      await responder.writer.frame(Kind.Entries, id, encodeEntries(batch));
      batch = [];
      batchChars = 0;
    };
    const notice = (error: FerryError) => responder.notice(id, "list", error);
    const filter = PathFilter.optional(request.filter);
    for await (const item of listEntries(entry, info, { ...request, filter }, notice)) {
      const json = entryJson(item);
      if (json.length > LIST_BATCH_CHARS) {
        await notice(
          new FerryError(ErrorCode.BadPath, `"${printable(item.path)}" is too long to list`),
        );
        continue;
      }
      if (batchChars + json.length > LIST_BATCH_CHARS) await sendBatch();
      batch.push(json);
      batchChars += json.length + 1;
      count++;
    }
    if (batch.length > 0) await sendBatch();
    await responder.reply(id, encodeListDone({ entries: count }));
  } catch (error) {
    await responder.refuse(id, "list", request.path, error, false);
  }
}

/** The type, size, mode and mtime of an lstat result, as the protocol carries them. */
export function describe(info: Deno.FileInfo): StatReply {
  return {
    type: info.isFile ? "file" : info.isDirectory ? "dir" : info.isSymlink ? "symlink" : "other",
    size: info.size,
    mode: (info.mode ?? 0) & 0o7777,
    mtime: info.mtime?.getTime() ?? 0,
  };
}

/**
 * Lists a folder's entries sorted by name (with `recursive`, each folder is
 * followed by its contents), or the entry itself when it is not a folder.
 * Streams: only the names of the folders being walked are held. A subfolder
 * that cannot be read is passed to `onError` and the listing goes on.
 */
export async function* listEntries(
  entry: ResolvedEntry,
  info: Deno.FileInfo,
  options: { recursive: boolean; digests: boolean; filter?: PathFilter | undefined },
  onError: (error: FerryError) => Promise<void>,
): AsyncGenerator<RemoteEntry> {
  const withDigest = async (
    item: RemoteEntry,
    path: string,
    expected: Deno.FileInfo,
  ): Promise<RemoteEntry | null> => {
    if (!options.digests || item.type !== "file") return item;
    try {
      using file = openLookedUp(path, expected!, item.path);
      return { ...item, digest: await digestFileHex(file) };
    } catch (error) {
      await onError(toFerryError(error, "read", item.path));
      return null;
    }
  };
  if (!info.isDirectory) {
    const item = await withDigest(
      { name: entry.name, path: entry.rootPath, ...describe(info) },
      entry.path,
      info,
    );
    if (item !== null) yield item;
    return;
  }
  using folder = entry.name === "" ? entry.parent.retain() : entry.parent.enter(entry.name);
  // In user space, each folder's entries are shown only if the folder is still the one looked up.
  const confirm = (rel: string, used: Deno.FileInfo) =>
    folder.confirm(rel === "" ? [] : rel.split("/"), used);
  const walk = walkTree(folder, info, {
    descend: options.recursive,
    confirm: folder.kernel ? undefined : confirm,
    filter: options.filter,
  });
  for await (const item of walk) {
    if (item.rel === "") continue;
    const path = joinRemotePath(entry.rootPath, item.rel);
    if (item.type === "error") {
      await onError(item.error);
      continue;
    }
    const name = remoteName(item.rel);
    const listed: RemoteEntry = { name, path, ...describe(item.info) };
    // Only --checksum pays for a read per file; a plain listing awaits nothing per entry.
    if (!options.digests) {
      yield listed;
      continue;
    }
    const hashed = await withDigest(listed, item.path, item.info);
    if (hashed !== null) yield hashed;
  }
}
