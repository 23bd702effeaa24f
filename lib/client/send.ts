/**
 * `send`: local files and folders to a server. The whole plan is walked
 * first (for totals), then every file is streamed as PUT, DATA and END without
 * waiting for the previous acknowledgement; the server acknowledges each file
 * only after it verified the digest and committed it to disk.
 *
 * @module
 */

import type { FerryClient } from "./client.ts";
import { ErrorCode, FerryError, toFerryError, UsageError } from "../errors.ts";
import { bodySource, matchPrefix, openForReading, sendFileBody } from "../fs/file_body.ts";
import { Kind } from "../protocol/frame.ts";
import type { Frame } from "../wire/frame_reader.ts";
import {
  decodeError,
  decodeResume,
  encodeJson,
  errorFromMessage,
  type RemoteEntry,
  type ResumeMessage,
} from "../protocol/messages.ts";
import { RateLimiter } from "../wire/rate_limit.ts";
import { alreadyThere } from "./sync_check.ts";
import { printable, splitRemotePath } from "../fs/safe_path.ts";
import {
  dealBySize,
  RESUME_MIN_BYTES,
  type TransferOptions,
  type TransferSummary,
  TransferTracker,
} from "./transfer.ts";
import { walkTree } from "../fs/tree_walk.ts";
import { InFlight } from "./in_flight.ts";

/** A source named on the command line, after stat (symlinks followed, as scp does). */
export interface LocalSource {
  path: string;
  /** The last component: the name the source gets inside a destination folder. */
  name: string;
  info: Deno.FileInfo;
}

/**
 * Checks the sources before anything is sent: each must exist, and a folder
 * needs `recursive` (a usage error otherwise, as with cp and scp).
 */
export async function inspectSources(
  sources: readonly string[],
  recursive: boolean,
): Promise<LocalSource[]> {
  const inspected: LocalSource[] = [];
  for (const path of sources) {
    if (path === STDIN) continue;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      throw toFerryError(error, "send", path);
    }
    if (info.isDirectory && !recursive) {
      throw new UsageError(`"${printable(path)}" is a folder: use -r to send it`);
    }
    if (!info.isDirectory && !info.isFile) {
      throw new FerryError(
        ErrorCode.NotFound,
        `Cannot send "${printable(path)}": not a regular file or folder`,
        { path },
      );
    }
    const trimmed = path.replace(/\/+$/, "");
    const name = trimmed.slice(trimmed.lastIndexOf("/") + 1);
    inspected.push({
      path: trimmed || "/",
      name: name === "." || name === ".." || name === "" ? "" : name,
      info,
    });
  }
  return inspected;
}

interface PlannedFile {
  local: string;
  remote: string;
  size: number;
  mode: number;
  mtime: number;
}

interface SendPlan {
  dirs: { remote: string; mode: number }[];
  files: PlannedFile[];
  /** Remote paths the sources cover, and (for folders) every name they hold: for sync and delete. */
  trees: { base: string; isFolder: boolean; keep: Set<string> }[];
}

/** Where each source goes, following cp: into DEST when it is a folder, else as DEST. */
async function destinationBases(
  client: FerryClient,
  sources: LocalSource[],
  dest: string,
): Promise<string[][]> {
  const destParts = splitRemotePath(dest);
  const intoFolder = dest.endsWith("/") || destParts.length === 0;
  const remote = await client.stat(dest);
  const needsFolder = intoFolder || sources.length > 1 || sources.some((s) => s.info.isDirectory);
  if (remote !== null && remote.type !== "dir" && needsFolder) {
    throw new FerryError(
      ErrorCode.NotDirectory,
      `The destination "${printable(dest)}" exists and is not a folder`,
      { path: dest },
    );
  }
  if (remote?.type === "dir" || intoFolder || sources.length > 1) {
    return sources.map((source) => {
      if (source.name === "" && !source.info.isDirectory) {
        throw new UsageError(`Cannot name "${source.path}" on the server`);
      }
      return source.name === "" ? destParts : [...destParts, source.name];
    });
  }
  return [destParts];
}

async function plan(
  sources: LocalSource[],
  bases: string[][],
  tracker: TransferTracker,
): Promise<SendPlan> {
  const result: SendPlan = { dirs: [], files: [], trees: [] };
  for (const [i, source] of sources.entries()) {
    const base = bases[i]!.join("/");
    const remoteOf = (rel: string) => rel === "" ? base : base === "" ? rel : `${base}/${rel}`;
    const keep = new Set<string>();
    result.trees.push({ base, isFolder: source.info.isDirectory, keep });
    if (source.info.isFile) {
      result.files.push(plannedFile(source.path, base, source.info));
      continue;
    }
    for await (const entry of walkTree(source.path, source.info)) {
      keep.add(remoteOf(entry.rel));
      if (entry.type === "dir") {
        result.dirs.push({ remote: remoteOf(entry.rel), mode: (entry.info.mode ?? 0o755) & 0o777 });
      } else if (entry.type === "file") {
        result.files.push(plannedFile(entry.path, remoteOf(entry.rel), entry.info));
      } else if (entry.type === "skipped") tracker.skipped++;
      else tracker.failed(entry.error);
    }
  }
  return result;
}

function plannedFile(local: string, remote: string, info: Deno.FileInfo): PlannedFile {
  return {
    local,
    remote,
    size: info.size,
    mode: (info.mode ?? 0o644) & 0o777,
    mtime: info.mtime?.getTime() ?? Date.now(),
  };
}

// Acknowledgements awaited at once; bounds the client's bookkeeping, not the wire.
const MAX_IN_FLIGHT = 1024;

/** Sends local files and folders to `dest` on the server. */
export async function sendPaths(
  client: FerryClient,
  sourcePaths: readonly string[],
  dest: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  const tracker = new TransferTracker(options.onProgress);
  if (sourcePaths.includes(STDIN)) {
    if (sourcePaths.length > 1) {
      throw new UsageError(`"-" (standard input) must be the only source`);
    }
    return await sendStdin(client, dest, tracker, options);
  }
  const sources = await inspectSources(sourcePaths, options.recursive ?? false);
  const onAbort = () => void client.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let connectionFailure: FerryError | undefined;
  try {
    const bases = await destinationBases(client, sources, dest);
    // The server lists the destination while the sources are walked here.
    const listing = options.sync || options.checksum || options.delete
      ? listRemote(
        client,
        sources.map((source, i) => ({
          base: bases[i]!.join("/"),
          isFolder: source.info.isDirectory,
        })),
        options.checksum ?? false,
      )
      : Promise.resolve(new Map<string, RemoteEntry>());
    // A failed listing is reported after the walk, not as an unhandled rejection.
    listing.catch(() => {});
    const planned = await plan(sources, bases, tracker);
    const remote = await listing;
    const dirs = planned.dirs.filter((dir) => remote.get(dir.remote)?.type !== "dir");
    const files: PlannedFile[] = [];
    for (const file of planned.files) {
      const there = remote.get(file.remote);
      if (
        there?.type === "file" &&
        await alreadyThere(file, there, options.checksum ?? false, file.local, true)
      ) {
        tracker.skipped++;
      } else {
        files.push(file);
      }
    }
    tracker.planned(files.length, files.reduce((sum, f) => sum + f.size, 0));
    const limiter = RateLimiter.optional(options.limitRate);
    const aborted = () => options.signal?.aborted === true;
    const main = new Lane(client, tracker);
    // Folders first, so empty ones exist too and keep their permission bits.
    await main.makeFolders(dirs);
    const streams = Math.min(options.parallel ?? 1, files.length);
    if (streams <= 1) {
      await main.sendFiles(files, { aborted, limiter });
    } else {
      // -j N: the files are dealt to N connections, biggest first to the least loaded.
      const extra = await Promise.all(
        Array.from({ length: streams - 1 }, () => client.connectAnother()),
      );
      try {
        const lanes = [main, ...extra.map((c) => new Lane(c, tracker))];
        const shares = dealBySize(files, lanes.length, (file) => file.size);
        await Promise.all(lanes.map((lane, i) => lane.sendFiles(shares[i]!, { aborted, limiter })));
        for (const lane of lanes) if (lane.failure !== undefined) throw lane.failure;
      } finally {
        await Promise.all(extra.map((c) => c.close()));
      }
    }
    connectionFailure = main.failure;
    if (options.delete && tracker.failures.length === 0 && connectionFailure === undefined) {
      await deleteExtra(client, planned.trees, remote, tracker);
    }
  } catch (error) {
    connectionFailure ??= client.connectionError(error);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  if (options.signal?.aborted) {
    throw new FerryError(ErrorCode.Aborted, "The transfer was cancelled");
  }
  if (connectionFailure !== undefined) throw connectionFailure;
  return tracker.summary();
}

/**
 * One connection's share of a send: requests are pipelined, at most
 * MAX_IN_FLIGHT awaiting their reply, and the first connection failure stops
 * the lane.
 */
class Lane {
  readonly client: FerryClient;
  #tracker: TransferTracker;
  #inFlight = new InFlight();
  failure: FerryError | undefined;

  constructor(client: FerryClient, tracker: TransferTracker) {
    this.client = client;
    this.#tracker = tracker;
  }

  /** Opens a request that ends with OK or ERROR; `onResume` receives a RESUME offer. */
  expectOk = (shown: string, onOk: () => void, onResume?: (frame: Frame) => void): Ack => {
    const replied = Promise.withResolvers<null>();
    const ack: Ack = { id: 0, settled: false, replied: replied.promise };
    const settle = () => {
      ack.settled = true;
      this.client.finish(ack.id);
      this.#inFlight.done();
      replied.resolve(null);
    };
    this.#inFlight.add();
    ack.id = this.client.open({
      onFrame: (frame) => {
        if (frame.kind === Kind.Resume && onResume !== undefined) return onResume(frame);
        settle();
        if (frame.kind === Kind.Ok) onOk();
        else if (frame.kind === Kind.Error) {
          this.#tracker.failed(errorFromMessage(decodeError(frame.payload)));
        } else {
          this.failure ??= new FerryError(
            ErrorCode.Protocol,
            `Unexpected reply to "${printable(shown)}"`,
          );
        }
      },
      fail: (error) => {
        this.failure ??= error;
        settle();
      },
    });
    ack.settle = settle;
    return ack;
  };

  async makeFolders(dirs: SendPlan["dirs"]): Promise<void> {
    for (const dir of dirs) {
      await this.client.writer.frame(
        Kind.Mkdir,
        this.expectOk(dir.remote, () => {}).id,
        encodeJson({ path: dir.remote, parents: true, mode: dir.mode }),
      );
    }
  }

  /** Sends `files` and waits for every reply. */
  async sendFiles(
    files: PlannedFile[],
    options: { aborted: () => boolean; limiter: RateLimiter | undefined },
  ): Promise<void> {
    try {
      for (const planned of files) {
        if (this.failure !== undefined) break;
        await this.#inFlight.below(MAX_IN_FLIGHT);
        await sendOne(this.client, planned, this.#tracker, this.expectOk, options);
      }
      await this.client.writer.flush();
      await this.#inFlight.below(1);
    } catch (error) {
      this.failure ??= this.client.connectionError(error);
    }
  }
}

async function sendOne(
  client: FerryClient,
  planned: PlannedFile,
  tracker: TransferTracker,
  expectOk: (shown: string, onOk: () => void, onResume?: (frame: Frame) => void) => Ack,
  { aborted, limiter }: { aborted: () => boolean; limiter: RateLimiter | undefined },
): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await openForReading(planned.local, planned.size);
  } catch (error) {
    tracker.failed(toFerryError(error, "read", planned.local));
    return;
  }
  try {
    // A big file first hears what the server kept of an earlier attempt.
    const resumable = planned.size >= RESUME_MIN_BYTES;
    const offer = Promise.withResolvers<ResumeMessage | null>();
    const ack = expectOk(
      planned.remote,
      () => tracker.committed(planned.size),
      resumable ? (frame) => offer.resolve(decodeResume(frame.payload)) : undefined,
    );
    tracker.started(planned.remote);
    const { remote: path, size, mode, mtime } = planned;
    await client.writer.frame(
      Kind.Put,
      ack.id,
      encodeJson({ path, size, mode, mtime, ...(resumable ? { resume: true } : {}) }),
      resumable ? { flush: true } : undefined,
    );
    let start: Awaited<ReturnType<typeof matchPrefix>> = null;
    if (resumable) {
      // An ERROR or a lost connection settles the request instead of an offer.
      const kept = await Promise.race([offer.promise, ack.replied]);
      if (kept === null) return;
      start = await matchPrefix(file, size, kept, (n) => tracker.moved(n, true));
      await client.writer.frame(Kind.Resume, ack.id, encodeJson({ offset: start?.offset ?? 0 }));
    }
    let complete: boolean;
    try {
      complete = await sendFileBody(
        client.writer,
        ack.id,
        bodySource(file, size),
        size,
        planned.local,
        {
          start,
          limiter,
          onBytes: (n) => tracker.moved(n),
          // A reply before the body ends is a refusal: stop reading the file.
          stopped: () => aborted() || ack.settled,
        },
      );
    } catch (error) {
      const failure = toFerryError(error, "read", planned.local);
      if (failure.code === ErrorCode.Connection || failure.code === ErrorCode.Aborted) {
        throw failure;
      }
      tracker.failed(failure);
      complete = false;
    }
    // A CANCEL gets no reply: stop waiting for one.
    if (!complete && !ack.settled) ack.settle?.();
  } finally {
    file.close();
  }
}

/**
 * What the server holds under the sources' destinations (listed recursively
 * for folders), by remote path; nothing for a destination that does not exist.
 */
async function listRemote(
  client: FerryClient,
  trees: { base: string; isFolder: boolean }[],
  digests: boolean,
): Promise<Map<string, RemoteEntry>> {
  const remote = new Map<string, RemoteEntry>();
  for (const tree of trees) {
    try {
      for await (const entry of client.list(tree.base, { recursive: tree.isFolder, digests })) {
        remote.set(entry.path, entry);
      }
    } catch (error) {
      if (!(error instanceof FerryError && error.code === ErrorCode.NotFound)) throw error;
    }
  }
  return remote;
}

/** Removes remote entries under the source folders that the sources do not have. */
async function deleteExtra(
  client: FerryClient,
  trees: SendPlan["trees"],
  remote: Map<string, RemoteEntry>,
  tracker: TransferTracker,
): Promise<void> {
  for (const tree of trees) {
    if (!tree.isFolder) continue;
    const removed: string[] = [];
    const inside = tree.base === "" ? "" : `${tree.base}/`;
    for (const path of remote.keys()) {
      if (!path.startsWith(inside) || tree.keep.has(path)) continue;
      if (removed.some((dir) => path.startsWith(`${dir}/`))) continue;
      try {
        await client.remove(path, { recursive: true, force: true });
        removed.push(path);
        tracker.deleted++;
      } catch (error) {
        const failure = toFerryError(error, "remove", path);
        if (failure.code === ErrorCode.Connection) throw failure;
        // A server that refuses one removal (--no-delete) refuses them all: the
        // whole --delete was refused, which is the error the command ends with.
        if (failure.code === ErrorCode.PermissionDenied) throw failure;
        tracker.failed(failure);
      }
    }
  }
}

/** The source name that means standard input. */
export const STDIN = "-";

/**
 * Sends standard input as one remote file of unknown size. The server
 * commits it only after END, which is sent when the input ends normally; an
 * interrupted send closes the connection and the server discards it.
 */
async function sendStdin(
  client: FerryClient,
  dest: string,
  tracker: TransferTracker,
  options: TransferOptions,
): Promise<TransferSummary> {
  const remote = await client.stat(dest);
  if (dest.endsWith("/") || splitRemotePath(dest).length === 0 || remote?.type === "dir") {
    throw new UsageError(
      `Standard input needs a file name on the server, such as pi:db.sql, not the folder "${
        printable(dest)
      }"`,
    );
  }
  tracker.planned(1, 0);
  const path = splitRemotePath(dest).join("/");
  let size = 0;
  let id = 0;
  const reply = client.request(
    Kind.Put,
    encodeJson({ path, size: 0, mode: 0o644, mtime: Date.now(), stream: true }),
    (opened) => id = opened,
  );
  // A refusal can arrive while input is still read: stop reading then.
  let refused = false;
  const outcome = reply.then(() => undefined, (error: unknown) => {
    refused = true;
    return error;
  });
  const onAbort = () => void client.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    tracker.started(path);
    await sendFileBody(client.writer, id, Deno.stdin, Number.POSITIVE_INFINITY, "standard input", {
      stream: true,
      stopped: () => refused,
      limiter: RateLimiter.optional(options.limitRate),
      onBytes: (n) => {
        size += n;
        tracker.moved(n);
      },
    });
    await client.writer.flush();
    const failure = await outcome;
    if (failure !== undefined) throw failure;
    tracker.committed(size);
  } catch (error) {
    if (options.signal?.aborted) {
      throw new FerryError(ErrorCode.Aborted, "The transfer was cancelled");
    }
    if (error instanceof FerryError && error.code !== ErrorCode.Connection) tracker.failed(error);
    else throw client.connectionError(error);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return tracker.summary();
}

/** A request awaiting OK or ERROR. */
interface Ack {
  id: number;
  settled: boolean;
  /** Resolves with null when the request is settled (OK, ERROR or a lost connection). */
  replied: Promise<null>;
  settle?: () => void;
}
