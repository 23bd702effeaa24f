/**
 * GET on the server: one file, or with `recursive` a folder as DIR and FILE
 * announcements each followed by its body. A resumed GET starts after the
 * client's prefix when it matches this file's. A file of a folder that
 * cannot be read becomes a NOTICE and the rest is still sent.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { decodeGet, type GetRequest } from "../protocol/requests.ts";
import { encodeDir, encodeFile, encodeGetDone } from "../protocol/replies.ts";
import { bodySource, matchPrefix } from "../fs/file_body.ts";
import { sendFileBody } from "../wire/send_file_body.ts";
import { ChunkCompressor } from "../wire/compression.ts";
import { type ConfinedRoot, type Held, openLookedUp } from "../fs/confinement.ts";
import { walkTree } from "../fs/tree_walk.ts";
import { refuseTemporaryName } from "../fs/temporary.ts";
import type { Responder } from "./responder.ts";
import { printable } from "../text.ts";
import { joinRemotePath, splitRemotePath } from "../remote_path.ts";

/** Answers one GET under `root`. */
export async function serveGet(
  root: ConfinedRoot,
  responder: Responder,
  id: number,
  payload: Uint8Array,
  compressOk = false,
): Promise<void> {
  const request = decodeGet(payload);
  // Compressed only when asked for and the client announced it decodes it.
  const level = compressOk ? request.compress : undefined;
  const chunk = request.chunk;
  const done = { files: 0, bytes: 0, skipped: 0 };
  try {
    const parts = splitRemotePath(request.path);
    refuseTemporaryName(parts);
    const rootPath = parts.join("/");
    // Links inside the root are followed, to a file or a folder.
    const { held, info } = root.object(parts);
    using _ = held;
    const path = held.access;
    if (info.isFile) {
      await sendFile(
        responder,
        id,
        { held, path, rel: "", rootPath, info, level, chunk },
        request.resumeFrom,
      );
      done.files = 1;
      done.bytes = info.size;
    } else if (!info.isDirectory) {
      throw new FerryError(ErrorCode.NotFound, `"${printable(rootPath)}" is not a file or folder`, {
        path: rootPath,
      });
    } else if (!request.recursive) {
      throw new FerryError(
        ErrorCode.IsDirectory,
        `"${printable(rootPath || "/")}" is a folder: ask for it recursively`,
        { path: rootPath },
      );
    } else {
      await sendFolder(responder, id, { held, path, rel: "", rootPath, info, level, chunk }, done);
    }
    responder.log({
      action: "get",
      path: request.path,
      files: done.files,
      bytes: done.bytes,
      ok: true,
    });
    await responder.reply(id, encodeGetDone(done));
  } catch (error) {
    await responder.refuse(id, "get", request.path, error);
  }
}

async function sendFolder(
  responder: Responder,
  id: number,
  folder: OutgoingFile,
  done: { files: number; bytes: number; skipped: number },
): Promise<void> {
  const { held, rootPath, info } = folder;
  // In user space, each folder's entries are sent only if it is still the one looked up.
  const confirm = (rel: string, used: Deno.FileInfo) => held.confirm(splitRemotePath(rel), used);
  for await (const entry of walkTree(held, info, held.kernel ? {} : { confirm })) {
    const entryRootPath = below(rootPath, entry.rel);
    if (entry.type === "dir") {
      const mode = (entry.info.mode ?? 0o755) & 0o7777;
      await responder.writer.frame(Kind.Dir, id, encodeDir({ path: entry.rel, mode }));
    } else if (entry.type === "file") {
      // Sent as the folder is: the same root, compression and chunk size.
      const file = {
        ...folder,
        path: entry.path,
        rel: entry.rel,
        rootPath: entryRootPath,
        info: entry.info,
      };
      if (await sendFile(responder, id, file)) {
        done.files++;
        done.bytes += entry.info.size;
      }
    } else if (entry.type === "skipped") {
      done.skipped++;
    } else {
      await responder.notice(id, "get", entry.error);
    }
  }
}

/** The root-relative path of `rel` inside the folder at `folder`. */
function below(folder: string, rel: string): string {
  return joinRemotePath(folder, rel);
}

/**
 * A file to send: what the GET named (held), where the file is, its name in
 * the reply and in messages, its stat.
 */
interface OutgoingFile {
  held: Held;
  path: string;
  rel: string;
  /** Its canonical path from the root: in messages and entry paths. */
  rootPath: string;
  info: Deno.FileInfo;
  /** zstd level for the body's chunks, when the client asked for compression. */
  level?: number | undefined;
  /** Largest DATA payload, when the client asked for small ones. */
  chunk?: number | undefined;
}

/** Sends one file of a GET; a file of a folder that cannot be read becomes a NOTICE. */
async function sendFile(
  responder: Responder,
  id: number,
  { held, path, rel, rootPath, info, level, chunk }: OutgoingFile,
  resumeFrom?: GetRequest["resumeFrom"],
): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    // What is opened must be what was looked up (and, in user space, still be
    // there by a fresh walk).
    file = openLookedUp(path, info, rootPath);
    held.confirm(rel === "" ? [] : splitRemotePath(rel), info);
  } catch (error) {
    if (rel === "" || error instanceof FerryError) throw toFerryError(error, "read", rootPath);
    await responder.notice(id, "get", toFerryError(error, "read", rootPath));
    return false;
  }
  try {
    const start = resumeFrom === undefined ? null : await matchPrefix(file, info.size, resumeFrom);
    await responder.writer.frame(
      Kind.File,
      id,
      encodeFile({
        path: rel,
        size: info.size,
        mode: (info.mode ?? 0o644) & 0o7777,
        mtime: info.mtime?.getTime() ?? 0,
        offset: start?.offset ?? 0,
      }),
    );
    await sendFileBody(responder.writer, id, bodySource(file, info.size), info.size, rootPath, {
      start,
      compressor: level === undefined ? undefined : new ChunkCompressor(level),
      chunkBytes: chunk,
    });
    return true;
  } catch (error) {
    const failure = toFerryError(error, "read", rootPath);
    if (failure.code === ErrorCode.Io && rel !== "") {
      await responder.notice(id, "get", failure);
      return false;
    }
    throw failure;
  } finally {
    file.close();
  }
}
