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
import { StreamSink } from "../fs/body_sink.ts";
import { GroupCommit } from "../fs/group_commit.ts";
import { printable } from "../fs/safe_path.ts";
import type { Frame } from "../wire/frame_reader.ts";
import type { Connection } from "./connection.ts";
import { checkCancelled } from "./transfer.ts";

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
  checkCancelled(options.signal);
  return new RemoteRead(connection, path, options.signal).opened;
}

/** One GET whose body is handed to a reader as a stream. */
class RemoteRead {
  readonly opened: Promise<RemoteFile>;
  #connection: Connection;
  #path: string;
  #signal: AbortSignal | undefined;
  #announced = Promise.withResolvers<RemoteFile>();
  #commits = new GroupCommit({ limit: 1 });
  #sink: StreamSink | undefined;
  #over = false;
  #id: number;

  constructor(connection: Connection, path: string, signal: AbortSignal | undefined) {
    this.#connection = connection;
    this.#path = path;
    this.#signal = signal;
    this.opened = this.#announced.promise;
    this.#id = connection.open({
      onFrame: (frame) => this.#onFrame(frame).catch((error) => this.#broken(error)),
      fail: (error) => this.#fail(error),
    });
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    connection.writer.frame(Kind.Get, this.#id, encodeGet({ path, recursive: false }), {
      flush: true,
    }).catch((error) => this.#end(connection.connectionError(error)));
  }

  async #onFrame(frame: Frame): Promise<void> {
    switch (frame.kind) {
      case Kind.File:
        return await this.#onFile(frame);
      case Kind.Data:
        if (this.#sink === undefined) throw outOfOrder(frame);
        return await this.#sink.write(frame.payload);
      case Kind.End: {
        if (this.#sink === undefined) throw outOfOrder(frame);
        // The stream itself errors on a digest mismatch.
        return await this.#commits.end(this.#sink, frame.payload, (c) => c.catch(() => {}));
      }
      case Kind.Cancel:
        return this.#end(
          new FerryError(
            ErrorCode.Io,
            `The server could not finish reading "${printable(this.#path)}"`,
          ),
        );
      case Kind.Error:
        return this.#end(errorFromMessage(decodeError(frame.payload)));
      case Kind.Ok:
        return this.#end();
      default:
        throw outOfOrder(frame);
    }
  }

  async #onFile(frame: Frame): Promise<void> {
    const file = decodeFile(frame.payload);
    if (file.path !== "" || (file.offset ?? 0) !== 0 || this.#sink !== undefined) {
      throw outOfOrder(frame);
    }
    // A reader that cancels the stream abandons the rest of the reply.
    this.#sink = await StreamSink.create(this.#path, file.size, () => this.#abandon());
    this.#announced.resolve({
      size: file.size,
      mtime: new Date(file.mtime),
      mode: file.mode,
      readable: this.#sink.readable,
    });
  }

  /** The reply is over: with an error, the caller or the reader hears it. */
  #end(error?: FerryError): void {
    if (this.#over) return;
    this.#connection.finish(this.#id);
    this.#fail(error);
  }

  #fail(error?: FerryError): void {
    this.#over = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (error === undefined) return;
    this.#announced.reject(error);
    this.#sink?.fail(error);
  }

  /** Gives up without closing the connection: the rest of the reply is dropped. */
  #abandon(): void {
    if (this.#over) return;
    this.#connection.abandon(this.#id);
    this.#fail();
  }

  #onAbort = (): void => {
    if (this.#over) return;
    this.#connection.abandon(this.#id);
    this.#fail(
      new FerryError(ErrorCode.Aborted, `Reading "${printable(this.#path)}" was cancelled`),
    );
  };

  /** A server that breaks the protocol loses the connection. */
  #broken(error: unknown): never {
    const failure = error instanceof FerryError ? error : this.#connection.connectionError(error);
    this.#fail(failure);
    throw failure;
  }
}

function outOfOrder(frame: Frame): FerryError {
  return new FerryError(ErrorCode.Protocol, `The server sent ${kindName(frame.kind)} out of order`);
}
