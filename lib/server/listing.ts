/**
 * STAT and LIST on the server. A listing streams in ENTRIES frames as the
 * tree is walked; the writer's flow control bounds what is held.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { decodeList, decodeStat } from "../protocol/requests.ts";
import { encodeEntries, encodeListDone, encodeStatReply, entryJson } from "../protocol/replies.ts";
import { describe, listEntries, lstatEntry, resolveEntry } from "../fs/root_ops.ts";
import { printable, splitRemotePath } from "../fs/safe_path.ts";
import type { ConfinedRoot } from "../fs/confinement.ts";
import type { Responder } from "./responder.ts";
import { PathFilter } from "../fs/filter.ts";

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
