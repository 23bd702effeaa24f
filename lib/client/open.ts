/**
 * `open`: one remote file read as a stream as it arrives. The stream errors
 * with digest_mismatch instead of closing when the file arrived corrupted,
 * so a reader that saw the stream close has exactly the server's file.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import { encodeGet } from "../protocol/requests.ts";
import { decodeError, decodeFile, errorFromMessage } from "../protocol/replies.ts";
import { endBody, StreamSink } from "../fs/body_sink.ts";
import { CommitQueue } from "../fs/commit_queue.ts";
import { printable } from "../fs/safe_path.ts";
import type { Frame } from "../wire/frame_reader.ts";
import type { Connection } from "./connection.ts";

/** A remote file being read: its facts, and its bytes as they arrive. */
export interface RemoteFile {
  /** Bytes in the file. */
  size: number;
  /** Modification time. */
  mtime: Date;
  /** Permission bits. */
  mode: number;
  /** The file's bytes; errors when the transfer fails or the digest does not match. */
  readable: ReadableStream<Uint8Array>;
}

/** Options of `FerryClient.open()`. */
export interface OpenOptions {
  /** Cancels this read only (the stream errors with `aborted`); the client stays usable. */
  signal?: AbortSignal | undefined;
}

/** Asks for `path` and resolves once the server announced it. */
export function openRemote(
  connection: Connection,
  path: string,
  options: OpenOptions = {},
): Promise<RemoteFile> {
  const { signal } = options;
  signal?.throwIfAborted();
  const opened = Promise.withResolvers<RemoteFile>();
  const commits = new CommitQueue(1);
  let sink: StreamSink | undefined;
  let over = false;
  const end = (error?: FerryError) => {
    if (over) return;
    over = true;
    signal?.removeEventListener("abort", onAbort);
    connection.finish(id);
    if (error === undefined) return;
    opened.reject(error);
    sink?.fail(error);
  };
  const onAbort = () => {
    if (over) return;
    connection.abandon(id);
    const error = new FerryError(ErrorCode.Aborted, `Reading "${printable(path)}" was cancelled`);
    over = true;
    opened.reject(error);
    sink?.fail(error);
  };
  const onFrame = async (frame: Frame): Promise<void> => {
    switch (frame.kind) {
      case Kind.File: {
        const file = decodeFile(frame.payload);
        if (file.path !== "" || (file.offset ?? 0) !== 0 || sink !== undefined) {
          throw outOfOrder(frame);
        }
        sink = await StreamSink.create(path, file.size, () => {
          // The reader cancelled the stream: the rest of the reply is dropped.
          if (!over) {
            over = true;
            connection.abandon(id);
          }
        });
        opened.resolve({
          size: file.size,
          mtime: new Date(file.mtime),
          mode: file.mode,
          readable: sink.readable,
        });
        return;
      }
      case Kind.Data:
        if (sink === undefined) throw outOfOrder(frame);
        return await sink.write(frame.payload);
      case Kind.End:
        if (sink === undefined) throw outOfOrder(frame);
        return await endBody(
          sink,
          frame.payload,
          commits,
          (committed) => committed.catch(() => {}),
        );
      case Kind.Cancel:
        return end(
          new FerryError(ErrorCode.Io, `The server could not finish reading "${printable(path)}"`),
        );
      case Kind.Error:
        return end(errorFromMessage(decodeError(frame.payload)));
      case Kind.Ok:
        return end();
      default:
        throw outOfOrder(frame);
    }
  };
  const id = connection.open({
    onFrame: (frame) =>
      onFrame(frame).catch((error) => {
        const failure = error instanceof FerryError ? error : connection.connectionError(error);
        sink?.fail(failure);
        opened.reject(failure);
        throw failure;
      }),
    fail: (error) => {
      over = true;
      opened.reject(error);
      sink?.fail(error);
    },
  });
  signal?.addEventListener("abort", onAbort, { once: true });
  connection.writer.frame(Kind.Get, id, encodeGet({ path, recursive: false }), { flush: true })
    .catch((error) => end(connection.connectionError(error)));
  return opened.promise;
}

function outOfOrder(frame: Frame): FerryError {
  return new FerryError(ErrorCode.Protocol, `The server sent ${kindName(frame.kind)} out of order`);
}
