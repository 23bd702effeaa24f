/**
 * `FerryServer.push()`: the server library stores a file, or each file of a
 * folder, under its root as a client's PUT would (a temporary beside it,
 * verified, flushed and renamed into place) so that watchers can be told of it.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { FileDigest } from "../fs/digest.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import { IncomingFile } from "../fs/incoming_file.ts";
import type { ConfinedRoot } from "../fs/confinement.ts";
import { walkTree } from "../fs/tree_walk.ts";
import { printable } from "../text.ts";
import { joinRemotePath, splitRemotePath } from "../remote_path.ts";
import type { RemoteEntry } from "../protocol/replies.ts";

/** What `push` stores: a local file's path, bytes, or a stream of them. */
export type PushSource = string | Uint8Array | ReadableStream<Uint8Array>;

/**
 * What a push of `source` to `remotePath` stores, as [source, remote path]
 * pairs: the source itself, or every file of a local folder under
 * `remotePath` (its symlinks and special files skipped, as send does).
 */
export async function* pushedFiles(
  source: PushSource,
  remotePath: string,
): AsyncGenerator<[PushSource, string]> {
  let info: Deno.FileInfo | undefined;
  try {
    info = typeof source === "string" ? await Deno.stat(source) : undefined;
  } catch (error) {
    throw toFerryError(error, "push", source as string);
  }
  if (typeof source !== "string" || !info?.isDirectory) {
    yield [source, remotePath];
    return;
  }
  const base = splitRemotePath(remotePath).join("/");
  for await (const entry of walkTree(source, info)) {
    if (entry.type === "error") throw entry.error;
    if (entry.type === "file") yield [entry.path, joinRemotePath(base, entry.rel)];
  }
}

/** Stores `source` as `remotePath` under `root`; resolves with the stored file's entry. */
export async function storeFile(
  root: ConfinedRoot,
  remotePath: string,
  source: PushSource,
): Promise<RemoteEntry> {
  const parts = splitRemotePath(remotePath);
  const rootPath = parts.join("/");
  if (parts.length === 0 || remotePath.endsWith("/")) {
    throw new FerryError(
      ErrorCode.IsDirectory,
      `push needs a file name under the root, not the folder "${printable(remotePath || "/")}"`,
    );
  }
  using parent = root.makeFolders(parts.slice(0, -1)).folder;
  const local = typeof source === "string" ? await Deno.open(source) : undefined;
  try {
    const info = local === undefined ? undefined : await local.stat();
    const stream = local?.readable ??
      (source instanceof Uint8Array ? ReadableStream.from([source]) : source as ReadableStream);
    const meta = {
      size: 0,
      mode: (info?.mode ?? 0o644) & 0o777,
      mtime: info?.mtime?.getTime() ?? Date.now(),
    };
    const incoming = await IncomingFile.open(parent, parts.at(-1)!, rootPath, meta, {
      stream: true,
    });
    const digest = await FileDigest.start();
    try {
      for await (const chunk of stream) {
        digest.update(chunk);
        await incoming.write(chunk);
      }
    } catch (error) {
      digest.release();
      await incoming.discard();
      throw toFerryError(error, "read what to push to", rootPath);
    }
    const commits = new GroupCommit();
    let committed: Promise<void> = Promise.resolve();
    await commits.end(incoming, digest.finish(), (done) => committed = done.then(() => {}));
    await committed;
    await commits.drain();
    return { name: parts.at(-1)!, path: rootPath, type: "file", ...meta };
  } finally {
    try {
      local?.close();
    } catch { /* its readable closed it */ }
  }
}
