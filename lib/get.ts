/**
 * `get`: remote files and folders to a local folder. The server streams a
 * FILE or DIR announcement, DATA and END for each entry; names it sends are
 * untrusted, validated like the server validates client paths, and resolved
 * inside the local destination, so nothing is written outside it. Each file
 * lands through {@link IncomingFile}: temporary, verified, synced, renamed.
 *
 * @module
 */

import type { FerryClient } from "./client.ts";
import { ErrorCode, FerryError, toFerryError } from "./errors.ts";
import { Kind, kindName } from "./frame.ts";
import type { Frame } from "./frame_reader.ts";
import { IncomingFile } from "./incoming_file.ts";
import {
  decodeDir,
  decodeError,
  decodeFile,
  decodeOk,
  DIGEST_SIZE,
  encodeJson,
  errorFromMessage,
  expectSize,
} from "./messages.ts";
import { printable, resolveInside, splitRemotePath } from "./safe_path.ts";
import { type TransferOptions, type TransferSummary, TransferTracker } from "./transfer.ts";

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

async function localInfo(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw toFerryError(error, "look up", path);
  }
}

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
  try {
    const destInfo = await localInfo(dest);
    const intoFolder = destInfo?.isDirectory === true || dest.endsWith("/") || sources.length > 1;
    if (intoFolder && destInfo !== null && !destInfo.isDirectory) {
      throw new FerryError(
        ErrorCode.NotDirectory,
        `The destination "${printable(dest)}" exists and is not a folder`,
        { path: dest },
      );
    }
    if (intoFolder && destInfo === null) await mkdirLocal(dest);
    for (const source of sources) {
      const name = splitRemotePath(source).at(-1);
      const target = intoFolder && name !== undefined
        ? `${dest.replace(/\/+$/, "")}/${name}`
        : dest;
      await getOne(client, source, target, options.recursive ?? false, tracker);
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

async function mkdirLocal(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    throw toFerryError(error, "create folder", path);
  }
}

/** Receives one GET response: a single file written to `target`, or a tree rooted there. */
function getOne(
  client: FerryClient,
  source: string,
  target: string,
  recursive: boolean,
  tracker: TransferTracker,
): Promise<void> {
  return new Promise((resolve, reject) => {
    // The real path of the local folder a recursive GET writes under, once created.
    let treeRoot: string | undefined;
    let current: IncomingFile | null = null;
    // True while the frames of a refused file are skipped.
    let skipping = false;

    const onFrame = async (frame: Frame): Promise<void> => {
      switch (frame.kind) {
        case Kind.Dir: {
          const dir = decodeDir(frame.payload);
          const parts = splitAnnouncedName(dir.path);
          if (parts.length === 0) {
            await mkdirLocal(target);
            treeRoot = await Deno.realPath(target);
          } else {
            await mkdirLocal(await resolveInside(requireRoot(), parts));
          }
          return;
        }
        case Kind.File: {
          if (current !== null || skipping) throw outOfOrder(frame);
          const file = decodeFile(frame.payload);
          const parts = splitAnnouncedName(file.path);
          tracker.planned(1, file.size);
          try {
            const path = parts.length === 0 && treeRoot === undefined
              ? target
              : await resolveInside(requireRoot(), parts);
            const shown = parts.length === 0 ? target : `${target}/${parts.join("/")}`;
            tracker.started(shown);
            current = await IncomingFile.open(path, shown, file);
          } catch (error) {
            if (error instanceof FerryError && error.code === ErrorCode.Protocol) throw error;
            tracker.failed(toFerryError(error, "write", file.path));
            skipping = true;
          }
          return;
        }
        case Kind.Data:
          if (skipping) return;
          if (current === null) throw outOfOrder(frame);
          await current.write(frame.payload);
          tracker.moved(frame.payload.length);
          return;
        case Kind.End:
        case Kind.Cancel: {
          if (skipping) {
            skipping = false;
            return;
          }
          if (current === null) throw outOfOrder(frame);
          const incoming: IncomingFile = current;
          current = null;
          if (frame.kind === Kind.Cancel) return await incoming.discard();
          try {
            await incoming.commit(expectSize(frame.payload, DIGEST_SIZE, "A digest").slice());
            tracker.committed(incoming.meta.size);
          } catch (error) {
            if (error instanceof FerryError && error.code === ErrorCode.Protocol) throw error;
            tracker.failed(toFerryError(error, "write", incoming.shownAs));
          }
          return;
        }
        case Kind.Notice:
          tracker.failed(errorFromMessage(decodeError(frame.payload)));
          return;
        case Kind.Ok: {
          client.finish(id);
          const { skipped } = decodeOk(frame.payload);
          if (typeof skipped === "number") tracker.skipped += skipped;
          return resolve();
        }
        case Kind.Error:
          client.finish(id);
          return reject(errorFromMessage(decodeError(frame.payload)));
        default:
          throw outOfOrder(frame);
      }
    };

    const requireRoot = (): string => {
      if (treeRoot === undefined) {
        throw new FerryError(
          ErrorCode.Protocol,
          "The server sent folder contents before the folder",
        );
      }
      return treeRoot;
    };

    const id = client.open({
      onFrame: (frame) =>
        onFrame(frame).catch(async (error) => {
          // A server that breaks the protocol loses the connection; partial files are removed.
          await current?.discard();
          current = null;
          throw error;
        }),
      fail: (error) => {
        void current?.discard();
        reject(error);
      },
    });
    client.writer.frame(Kind.Get, id, encodeJson({ path: source, recursive }), { flush: true })
      .catch((error) => {
        client.finish(id);
        reject(client.connectionError(error));
      });
  });
}

function outOfOrder(frame: Frame): FerryError {
  return new FerryError(ErrorCode.Protocol, `The server sent ${kindName(frame.kind)} out of order`);
}
