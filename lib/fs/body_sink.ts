/**
 * Where a received file body goes, and the one way a body ends. The server's
 * PUT and the client's GET write into an {@link IncomingFile}; a GET read as
 * a stream writes into a {@link StreamSink}. Either way the announced length
 * is enforced, the digest in END is checked before anything is final, and
 * the commit runs through a `GroupCommit`.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import type { FsyncMode, SyncFunctions } from "./durability.ts";
import { FileDigest, sameDigest } from "./digest.ts";
import { printable } from "../text.ts";

/** A body being received. */
export interface BodySink {
  /**
   * The path errors and reports name the destination by: its path from the
   * root on a server, the local path as the user named it on a client.
   */
  readonly reportedPath: string;
  /** Bytes received so far (with what a resumed transfer kept). */
  readonly received: number;
  /** The announced size; undefined when the body ends only at END. */
  readonly expectedSize: number | undefined;
  /** Appends one chunk; the chunk is only valid during the call. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Verifies the whole body against `digest`, or throws and discards.
   * Resolves with what the group commit still has to make durable and
   * visible, or null when nothing is left (a stream).
   */
  verify(digest: Uint8Array): Promise<StagedFile | null>;
  /** Abandons the body; with `keepPartial` a resumable one keeps what arrived. */
  discard(options?: { keepPartial?: boolean }): Promise<void>;
}

/** A verified file that the group commit makes durable and visible. */
export interface StagedFile {
  /** How the destination is named in messages. */
  readonly reportedPath: string;
  /** The folder it is renamed into. */
  readonly folder: string;
  /** How it is made durable. */
  readonly fsync: FsyncMode;
  /** Flushes its data to disk, reporting a failed background flush too. */
  flush(sync: SyncFunctions): Promise<void>;
  /**
   * Closes it and renames it over its destination; on failure it discards
   * itself. Returns another folder it changed (a backup's), or undefined.
   */
  publish(): string | undefined;
  /** Removes the temporary (when a flush failed). */
  discard(): Promise<void>;
}

/**
 * A body handed to a reader as a `ReadableStream` as it arrives. The stream
 * errors with digest_mismatch instead of closing when the END digest does
 * not match, so a reader that reached the end knows it has the exact file.
 * `write` waits while the reader is behind (that pauses the connection's
 * reader, which is TCP's flow control).
 */
export class StreamSink implements BodySink {
  readonly reportedPath: string;
  readonly expectedSize: number;
  readonly readable: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #digest: FileDigest;
  #received = 0;
  #pulled: (() => void) | undefined;
  #finished = false;
  #onCancel: () => void;

  private constructor(
    reportedPath: string,
    size: number,
    digest: FileDigest,
    onCancel: () => void,
  ) {
    this.reportedPath = reportedPath;
    this.expectedSize = size;
    this.#digest = digest;
    this.#onCancel = onCancel;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        this.#pulled?.();
        this.#pulled = undefined;
      },
      cancel: () => {
        this.#finish();
        this.#pulled?.();
        this.#onCancel();
      },
    }, { highWaterMark: 4 });
  }

  /** A sink for a body of `size` bytes; `onCancel` runs when the reader cancels the stream. */
  static async create(
    reportedPath: string,
    size: number,
    onCancel: () => void,
  ): Promise<StreamSink> {
    return new StreamSink(reportedPath, size, await FileDigest.start(), onCancel);
  }

  get received(): number {
    return this.#received;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#finished) return;
    if (this.#received + chunk.length > this.expectedSize) {
      throw new FerryError(
        ErrorCode.Protocol,
        `More bytes arrived for "${printable(this.reportedPath)}" than announced`,
      );
    }
    this.#digest.update(chunk);
    this.#received += chunk.length;
    // The chunk is a view into the connection's read buffer: the reader gets a copy.
    this.#controller.enqueue(chunk.slice());
    if ((this.#controller.desiredSize ?? 1) <= 0) {
      await new Promise<void>((resolve) => this.#pulled = resolve);
    }
  }

  verify(digest: Uint8Array): Promise<null> {
    if (this.#finished) return Promise.resolve(null);
    const matches = sameDigest(this.#digest.finish(), digest);
    this.#finished = true;
    if (matches) {
      this.#controller.close();
      return Promise.resolve(null);
    }
    const error = new FerryError(
      ErrorCode.DigestMismatch,
      `"${printable(this.reportedPath)}" arrived corrupted (digest mismatch)`,
      { path: this.reportedPath },
    );
    this.#controller.error(error);
    return Promise.reject(error);
  }

  /** Ends the stream with `error`: the transfer failed (once finished, nothing changes). */
  fail(error: FerryError): void {
    if (this.#finished) return;
    this.#finish();
    this.#controller.error(error);
  }

  discard(): Promise<void> {
    this.fail(
      new FerryError(
        ErrorCode.Io,
        `The transfer of "${printable(this.reportedPath)}" was abandoned`,
      ),
    );
    return Promise.resolve();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#digest.release();
  }
}
