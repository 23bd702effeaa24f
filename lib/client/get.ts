/**
 * `get`: remote files and folders to a local folder. Each source is first
 * listed (LIST, streamed), which gives totals for the progress bar and lets
 * sync skip what is already here; then every file that is needed is asked
 * for with its own GET, many in flight at once. Names the server sends are
 * untrusted: validated like the server validates client paths and resolved
 * inside the local destination, so nothing is written outside it. Each file
 * lands through {@link IncomingFile}: temporary, verified, synced, renamed.
 * Big files resume: what an interrupted attempt left is offered to the server,
 * which continues after it when the prefix matches its file.
 *
 * @module
 */

import type { FerryClient } from "./client.ts";
import { FileDigest, sameDigest } from "../fs/digest.ts";
import { ErrorCode, FerryError, toFerryError, UsageError } from "../errors.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import { writeAll } from "../wire/transport.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import type { Frame } from "../wire/frame_reader.ts";
import { IncomingFile, resumeKeyFor } from "../fs/incoming_file.ts";
import {
  decodeError,
  decodeFile,
  DIGEST_SIZE,
  encodeJson,
  errorFromMessage,
  expectSize,
  type RemoteEntry,
} from "../protocol/messages.ts";
import { InFlight } from "./in_flight.ts";
import { printable, resolveInside, splitRemotePath } from "../fs/safe_path.ts";
import { alreadyThere } from "./sync_check.ts";
import {
  dealBySize,
  RESUME_MIN_BYTES,
  type TransferOptions,
  type TransferSummary,
  TransferTracker,
} from "./transfer.ts";
import { walkTree } from "../fs/tree_walk.ts";

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
async function localInfo(path: string, follow: boolean): Promise<Deno.FileInfo | null> {
  try {
    return await (follow ? Deno.stat(path) : Deno.lstat(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw toFerryError(error, "look up", path);
  }
}

/** One file to fetch. */
interface Wanted {
  remote: string;
  local: string;
  /** How it is named in messages. */
  shown: string;
  entry: RemoteEntry;
}

// GET requests in flight at once: the server answers them in order, so this
// only hides the round trip between files.
const MAX_GETS_IN_FLIGHT = 64;
// Files being committed (fsync, rename) while later ones arrive.
const MAX_PENDING_COMMITS = 16;

/** Gets remote files and folders into `dest`, following cp's rules for where they go. */
export async function getPaths(
  client: FerryClient,
  sources: readonly string[],
  dest: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  const tracker = new TransferTracker(options.onProgress);
  const onAbort = () => void client.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const sync = options.sync || options.checksum || options.delete;
  try {
    if (dest === STDOUT) {
      if (sources.length !== 1) throw new UsageError(`Only one file can go to standard output`);
      await getToStdout(client, sources[0]!, tracker, options);
      return tracker.summary();
    }
    const destInfo = await localInfo(dest, true);
    const intoFolder = destInfo?.isDirectory === true || dest.endsWith("/") || sources.length > 1;
    if (intoFolder && destInfo !== null && !destInfo.isDirectory) {
      throw new FerryError(
        ErrorCode.NotDirectory,
        `The destination "${printable(dest)}" exists and is not a folder`,
        { path: dest },
      );
    }
    if (intoFolder && destInfo === null) await mkdirLocal(dest);
    const wanted: Wanted[] = [];
    const trees: { root: string; keep: Set<string> }[] = [];
    for (const source of sources) {
      const name = splitRemotePath(source).at(-1);
      const target = intoFolder && name !== undefined
        ? `${dest.replace(/\/+$/, "")}/${name}`
        : dest;
      const tree = await planSource(client, source, target, options, tracker, wanted);
      if (tree !== null) trees.push(tree);
    }
    const needed: Wanted[] = [];
    for (const item of wanted) {
      const local = sync ? await localInfo(item.local, false) : null;
      const here = local?.isFile === true &&
        await alreadyThere(
          item.entry,
          { size: local.size, mtime: local.mtime?.getTime() ?? 0 },
          options.checksum ?? false,
          item.local,
          false,
        );
      if (here) tracker.skipped++;
      else needed.push(item);
    }
    tracker.planned(needed.length, needed.reduce((sum, item) => sum + item.entry.size, 0));
    const limiter = RateLimiter.optional(options.limitRate);
    const commits = new InFlight();
    const streams = Math.min(options.parallel ?? 1, needed.length);
    // -j N: files are dealt to N connections by size, biggest first to the lightest.
    const extra = await Promise.all(
      Array.from({ length: Math.max(0, streams - 1) }, () => client.connectAnother()),
    );
    try {
      const lanes = [client, ...extra];
      const shares = dealBySize(needed, lanes.length, (item) => item.entry.size);
      await Promise.all(lanes.map(async (lane, i) => {
        const inFlight = new InFlight();
        const fetches: Promise<void>[] = [];
        for (const item of shares[i]!) {
          await inFlight.below(MAX_GETS_IN_FLIGHT);
          if (options.signal?.aborted) break;
          inFlight.add();
          fetches.push(
            fetchFile(lane, item, tracker, limiter, commits).finally(() => inFlight.done()),
          );
        }
        await Promise.all(fetches);
      }));
    } finally {
      await Promise.all(extra.map((c) => c.close()));
    }
    if (options.delete && tracker.failures.length === 0) {
      for (const tree of trees) await deleteExtra(tree.root, tree.keep, tracker);
    }
  } catch (error) {
    if (options.signal?.aborted) {
      throw new FerryError(ErrorCode.Aborted, "The transfer was cancelled");
    }
    throw client.connectionError(error);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return tracker.summary();
}

/**
 * Lists one source and adds its files to `wanted`; folders are made here and
 * now. Returns the local folder and the names it should hold (for delete),
 * or null for a single file.
 */
async function planSource(
  client: FerryClient,
  source: string,
  target: string,
  options: TransferOptions,
  tracker: TransferTracker,
  wanted: Wanted[],
): Promise<{ root: string; keep: Set<string> } | null> {
  const info = await client.stat(source);
  const shownSource = printable(source || "/");
  if (info === null) {
    throw new FerryError(ErrorCode.NotFound, `Cannot find "${shownSource}" on the server`, {
      path: source,
    });
  }
  const digests = options.checksum ?? false;
  const onNotice = (error: FerryError) => tracker.failed(error);
  if (info.type === "file") {
    // STAT already told size and mtime; only --checksum needs the listing's digest.
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
    for await (const entry of client.list(source, { digests, onNotice })) {
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
  if (!options.recursive) {
    throw new FerryError(ErrorCode.IsDirectory, `"${shownSource}" is a folder: use -r to get it`, {
      path: source,
    });
  }
  await mkdirLocal(target);
  const root = await Deno.realPath(target);
  const base = splitRemotePath(source).join("/");
  const keep = new Set<string>();
  // Local folders already resolved, by relative path: one lookup per folder, not per file.
  const folders = new Map<string, string>();
  for await (const entry of client.list(source, { recursive: true, digests, onNotice })) {
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

async function mkdirLocal(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    throw toFerryError(error, "create folder", path);
  }
}

/**
 * Asks for one file and writes it through IncomingFile. Resolves when the
 * server's reply is complete; failures of this file go to the tracker,
 * failures of the connection reject.
 */
async function fetchFile(
  client: FerryClient,
  item: Wanted,
  tracker: TransferTracker,
  limiter: RateLimiter | undefined,
  commits: InFlight,
): Promise<void> {
  const { entry } = item;
  let incoming: IncomingFile | null = null;
  const request: Record<string, unknown> = { path: item.remote, recursive: false };
  if (entry.size >= RESUME_MIN_BYTES) {
    try {
      incoming = await IncomingFile.open(item.local, item.shown, entry, {
        resumeKey: await resumeKeyFor(item.local, entry.size, entry.mtime),
      });
    } catch (error) {
      tracker.failed(toFerryError(error, "write", item.shown));
      return;
    }
    if (incoming.offer.offset > 0) {
      request.offset = incoming.offer.offset;
      request.digest = incoming.offer.digest;
    }
  }
  let skipping = false;
  let committing: Promise<void> | undefined;
  const { promise, resolve, reject } = Promise.withResolvers<void>();

  const onFrame = async (frame: Frame): Promise<void> => {
    switch (frame.kind) {
      case Kind.File: {
        const file = decodeFile(frame.payload);
        if (file.path !== "") throw outOfOrder(frame);
        tracker.started(item.shown);
        try {
          if (incoming !== null && file.size !== incoming.meta.size) {
            // Changed since it was listed: what was kept belongs to another version.
            await incoming.discard();
            incoming = null;
          }
          incoming ??= await IncomingFile.open(item.local, item.shown, file);
          const offset = file.offset ?? 0;
          if (incoming.awaitingStart) await incoming.startAt(offset);
          else if (offset !== 0) throw outOfOrder(frame);
          incoming.meta.mtime = file.mtime;
          incoming.meta.mode = file.mode;
          if (offset > 0) tracker.moved(offset, true);
        } catch (error) {
          if (error instanceof FerryError && error.code === ErrorCode.Protocol) throw error;
          tracker.failed(toFerryError(error, "write", item.shown));
          skipping = true;
        }
        return;
      }
      case Kind.Data:
        if (skipping) return;
        if (incoming === null) throw outOfOrder(frame);
        await incoming.write(frame.payload);
        tracker.moved(frame.payload.length);
        {
          const wait = limiter?.take(frame.payload.length);
          if (wait !== undefined) await wait;
        }
        return;
      case Kind.End:
      case Kind.Cancel: {
        if (skipping || incoming === null) return;
        const done: IncomingFile = incoming;
        incoming = null;
        if (frame.kind === Kind.Cancel) return await done.discard();
        const digest = expectSize(frame.payload, DIGEST_SIZE, "A digest").slice();
        if (done.received !== done.meta.size) {
          await done.discard();
          throw new FerryError(
            ErrorCode.Protocol,
            `"${printable(done.shownAs)}" ended after ${done.received} of ${done.meta.size} bytes`,
          );
        }
        // The commit (fsync, rename) runs while the next files arrive; a few at most.
        await commits.below(MAX_PENDING_COMMITS);
        commits.add();
        committing = done.commit(digest).then(
          () => tracker.committed(done.meta.size),
          (error) => tracker.failed(toFerryError(error, "write", done.shownAs)),
        ).finally(() => commits.done());
        return;
      }
      case Kind.Notice:
      case Kind.Error: {
        tracker.failed(errorFromMessage(decodeError(frame.payload)));
        if (frame.kind === Kind.Notice) return;
        client.finish(id);
        await incoming?.discard({ keepPartial: true });
        return resolve();
      }
      case Kind.Ok:
        client.finish(id);
        await incoming?.discard({ keepPartial: true });
        // Done once committed; the read loop goes on meanwhile (awaiting the
        // commit here made the fsyncs run one at a time).
        if (committing === undefined) return resolve();
        void committing.then(resolve);
        return;
      default:
        throw outOfOrder(frame);
    }
  };

  const id = client.open({
    onFrame: (frame) =>
      onFrame(frame).catch(async (error) => {
        // A server that breaks the protocol loses the connection; partial files are removed.
        await incoming?.discard();
        incoming = null;
        throw error;
      }),
    fail: (error) => {
      // The connection dropped: a resumable partial is kept for the next attempt.
      void incoming?.discard({ keepPartial: true });
      reject(error);
    },
  });
  client.writer.frame(Kind.Get, id, encodeJson(request)).catch((error) => {
    client.finish(id);
    reject(client.connectionError(error));
  });
  // GETs queued together leave in one write.
  client.writer.flushSoon();
  return await promise;
}

/** Removes what `root` holds beyond the names in `keep` (never following symlinks). */
async function deleteExtra(
  root: string,
  keep: Set<string>,
  tracker: TransferTracker,
): Promise<void> {
  const rootInfo = await Deno.lstat(root);
  const removed: string[] = [];
  for await (const entry of walkTree(root, rootInfo)) {
    if (entry.rel === "" || entry.type === "error" || keep.has(entry.rel)) continue;
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

/** The destination name that means standard output. */
export const STDOUT = "-";

/**
 * Writes one remote file to standard output as it arrives. The digest is
 * checked at the end: a mismatch fails with digest_mismatch (exit 7), so a
 * pipeline can tell, though the bytes were already written.
 */
async function getToStdout(
  client: FerryClient,
  source: string,
  tracker: TransferTracker,
  options: TransferOptions,
): Promise<void> {
  const limiter = RateLimiter.optional(options.limitRate);
  const digest = await FileDigest.start();
  let size = 0;
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const onFrame = async (frame: Frame): Promise<void> => {
    switch (frame.kind) {
      case Kind.File: {
        const file = decodeFile(frame.payload);
        if (file.path !== "" || (file.offset ?? 0) !== 0) throw outOfOrder(frame);
        tracker.planned(1, file.size);
        tracker.started(source);
        return;
      }
      case Kind.Data:
        digest.update(frame.payload);
        await writeAll(Deno.stdout, frame.payload);
        size += frame.payload.length;
        tracker.moved(frame.payload.length);
        {
          const wait = limiter?.take(frame.payload.length);
          if (wait !== undefined) await wait;
        }
        return;
      case Kind.End:
        if (!sameDigest(digest.finish(), expectSize(frame.payload, DIGEST_SIZE, "A digest"))) {
          throw new FerryError(
            ErrorCode.DigestMismatch,
            `"${printable(source)}" arrived corrupted (digest mismatch) on standard output`,
          );
        }
        tracker.committed(size);
        return;
      case Kind.Cancel:
        throw new FerryError(
          ErrorCode.Io,
          `The server could not finish reading "${printable(source)}"`,
        );
      case Kind.Error:
        client.finish(id);
        return reject(errorFromMessage(decodeError(frame.payload)));
      case Kind.Ok:
        client.finish(id);
        return resolve();
      default:
        throw outOfOrder(frame);
    }
  };
  const id = client.open({
    onFrame: (frame) =>
      onFrame(frame).catch((error) => {
        client.finish(id);
        reject(error);
      }),
    fail: reject,
  });
  await client.writer.frame(Kind.Get, id, encodeJson({ path: source, recursive: false }), {
    flush: true,
  });
  try {
    await promise;
  } finally {
    digest.release();
  }
}

function outOfOrder(frame: Frame): FerryError {
  return new FerryError(ErrorCode.Protocol, `The server sent ${kindName(frame.kind)} out of order`);
}
