/**
 * `send`: local files and folders to a server. The whole plan is walked
 * first (for totals), then every file is streamed as PUT, DATA and END without
 * waiting for the previous acknowledgement; the server acknowledges each file
 * only after it verified the digest and committed it to disk.
 *
 * @module
 */

import type { FerryClient } from "./client.ts";
import { ErrorCode, FerryError, toFerryError, UsageError } from "./errors.ts";
import { sendFileBody } from "./file_body.ts";
import { Kind } from "./frame.ts";
import { decodeError, encodeJson, errorFromMessage } from "./messages.ts";
import { printable, splitRemotePath } from "./safe_path.ts";
import { type TransferOptions, type TransferSummary, TransferTracker } from "./transfer.ts";
import { walkTree } from "./tree_walk.ts";
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
  const result: SendPlan = { dirs: [], files: [] };
  for (const [i, source] of sources.entries()) {
    const base = bases[i]!.join("/");
    const remoteOf = (rel: string) => rel === "" ? base : base === "" ? rel : `${base}/${rel}`;
    if (source.info.isFile) {
      result.files.push(plannedFile(source.path, base, source.info));
      continue;
    }
    for await (const entry of walkTree(source.path, source.info)) {
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
  const sources = await inspectSources(sourcePaths, options.recursive ?? false);
  const onAbort = () => void client.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const inFlight = new InFlight();
  let connectionFailure: FerryError | undefined;
  try {
    const { dirs, files } = await plan(
      sources,
      await destinationBases(client, sources, dest),
      tracker,
    );
    tracker.planned(files.length, files.reduce((sum, f) => sum + f.size, 0));
    const writer = client.writer;

    const expectOk = (shown: string, onOk: () => void): Ack => {
      const ack: Ack = { id: 0, settled: false };
      const settle = () => {
        ack.settled = true;
        client.finish(ack.id);
        inFlight.done();
      };
      inFlight.add();
      ack.id = client.open({
        onFrame: (frame) => {
          settle();
          if (frame.kind === Kind.Ok) onOk();
          else if (frame.kind === Kind.Error) {
            tracker.failed(errorFromMessage(decodeError(frame.payload)));
          } else {connectionFailure ??= new FerryError(
              ErrorCode.Protocol,
              `Unexpected reply to "${printable(shown)}"`,
            );}
        },
        fail: (error) => {
          connectionFailure ??= error;
          settle();
        },
      });
      ack.settle = settle;
      return ack;
    };

    // Folders first, so empty ones exist too and keep their permission bits.
    for (const dir of dirs) {
      await writer.frame(
        Kind.Mkdir,
        expectOk(dir.remote, () => {}).id,
        encodeJson({ path: dir.remote, parents: true, mode: dir.mode }),
      );
    }
    for (const planned of files) {
      if (connectionFailure !== undefined) break;
      await inFlight.below(MAX_IN_FLIGHT);
      await sendOne(client, planned, tracker, expectOk, () => options.signal?.aborted === true);
    }
    await writer.flush();
    await inFlight.below(1);
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

async function sendOne(
  client: FerryClient,
  planned: PlannedFile,
  tracker: TransferTracker,
  expectOk: (shown: string, onOk: () => void) => Ack,
  aborted: () => boolean,
): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(planned.local, { read: true });
  } catch (error) {
    tracker.failed(toFerryError(error, "read", planned.local));
    return;
  }
  try {
    const ack = expectOk(planned.remote, () => tracker.committed(planned.size));
    tracker.started(planned.remote);
    const { remote: path, size, mode, mtime } = planned;
    await client.writer.frame(Kind.Put, ack.id, encodeJson({ path, size, mode, mtime }));
    let complete: boolean;
    try {
      complete = await sendFileBody(client.writer, ack.id, file, size, planned.local, {
        onBytes: (n) => tracker.moved(n),
        // A reply before the body ends is a refusal: stop reading the file.
        stopped: () => aborted() || ack.settled,
      });
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

/** A request awaiting OK or ERROR. */
interface Ack {
  id: number;
  settled: boolean;
  settle?: () => void;
}
