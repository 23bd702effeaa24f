/**
 * One request on a connection, from the request frame to its last reply:
 * the replies are an async iterable of frames that ends at OK (the last
 * value), throws the request's ERROR, reports NOTICE through a callback, and
 * tells the server with CANCEL when the consumer stops early or the signal
 * aborts. Every client request is one of these: none keeps its own flags.
 *
 * A frame handed out is a view into the connection's read buffer: the read
 * loop waits until the consumer asks for the next one (or stops), so the
 * frame stays valid while it is used and a slow consumer slows the server.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { type Kind, Kind as K, kindName } from "../protocol/frame.ts";
import { errorFromPayload } from "../protocol/replies.ts";
import type { CancelMessage } from "../protocol/requests.ts";
import type { Frame } from "../wire/frame_reader.ts";

/** Options of {@link Connection.call}. */
export interface CallOptions {
  /** Abandons the request (CANCEL, no reply awaited); the iteration throws `aborted`. */
  signal?: AbortSignal | undefined;
  /** Told of each NOTICE: a part of the request that failed while the rest goes on. */
  onNotice?: ((notice: FerryError) => void) | undefined;
  /**
   * Flush the request frame at once (default). A request followed by its
   * body, or queued with others, is flushed by what follows.
   */
  flush?: boolean | undefined;
}

/** Receives the frames of one request from the read loop; returning a promise pauses the loop. */
export interface RequestHandler {
  onFrame(frame: Frame): void | Promise<void>;
  /** The connection failed before the request finished. */
  fail(error: FerryError): void;
}

/** What a call needs of its connection. */
export interface CallLine {
  register(handler: RequestHandler): number;
  unregister(id: number): void;
  /** Drops request `id`; tells the server with CANCEL unless `cancel` is null (it was told). */
  abandon(id: number, cancel: CancelMessage | null): void;
  send(kind: Kind, id: number, payload: Uint8Array, flush: boolean): Promise<void>;
  connectionError(error: unknown): FerryError;
  /** Fails the whole connection: the server broke the protocol. */
  breakOff(error: FerryError): void;
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };
const EMPTY = new Uint8Array(0);

/** One request's replies. Iterate it once. */
export class Call implements AsyncIterableIterator<Frame>, RequestHandler {
  /** The request id, for the frames of a body that follows the request. */
  readonly id: number;
  /** The request frame was written (rejects with the write's error when it could not be). */
  readonly sent: Promise<void>;
  #line: CallLine;
  #options: CallOptions;
  /** A frame delivered before the consumer asked for it. */
  #queued: Frame | undefined;
  /** The consumer's pending `next()`. */
  #waiting: PromiseWithResolvers<IteratorResult<Frame>> | undefined;
  /** Lets the read loop go on once the consumer is done with the frame it holds. */
  #release: (() => void) | undefined;
  /** No more frames will come: OK, ERROR, a lost connection, or given up. */
  #over = false;
  #error: FerryError | undefined;
  #refused = false;
  /** Only a call with a signal listens to it. */
  #onAbort: (() => void) | undefined;

  constructor(line: CallLine, kind: Kind, payload: Uint8Array, options: CallOptions = {}) {
    this.#line = line;
    this.#options = options;
    this.id = line.register(this);
    if (options.signal !== undefined) {
      this.#onAbort = () => this.#aborted();
      options.signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    // One promise per request: the write's own, the failure handled beside it.
    this.sent = line.send(kind, this.id, payload, options.flush ?? true);
    this.sent.then(undefined, (error) => this.#end(line.connectionError(error)));
  }

  /** The request ended with the server's ERROR (not a lost connection or a cancel). */
  get refused(): boolean {
    return this.#refused;
  }

  /** No more replies will come. */
  get over(): boolean {
    return this.#over;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next reply frame; OK is the last, ERROR throws. */
  next(): Promise<IteratorResult<Frame>> {
    this.#letGo();
    const queued = this.#queued;
    if (queued !== undefined) {
      this.#queued = undefined;
      return Promise.resolve({ value: queued, done: false });
    }
    if (this.#over) return this.#error === undefined ? Promise.resolve(DONE) : this.#throw();
    this.#waiting = Promise.withResolvers();
    return this.#waiting.promise;
  }

  /**
   * The consumer stopped early and holds no frame any more: the server is
   * told, and the rest of the reply is dropped.
   */
  return(): Promise<IteratorResult<Frame>> {
    this.cancel();
    this.#letGo();
    return Promise.resolve(DONE);
  }

  /**
   * Gives up on the request without closing the connection: CANCEL (with
   * `keep`, a resumable upload keeps what arrived), and what still arrives
   * is dropped. The iteration ends without an error; a frame the consumer
   * holds stays valid until its next `next()` (or `return()`).
   */
  cancel(message: CancelMessage = {}): void {
    if (this.#over) return;
    this.#line.abandon(this.id, message);
    this.#end(undefined, undefined, true);
  }

  /**
   * Ends the request here without another CANCEL: its body already told the
   * server it is over (a body ends with END or CANCEL, and CANCEL gets no reply).
   */
  forget(): void {
    if (this.#over) return;
    this.#line.abandon(this.id, null);
    this.#end(undefined, undefined, true);
  }

  /** The reply of a request answered with OK alone: its payload. */
  async ok(): Promise<Uint8Array> {
    for await (const frame of this) {
      if (frame.kind === K.Ok) return frame.payload;
      throw this.unexpected(frame);
    }
    throw new FerryError(ErrorCode.Aborted, "The request was cancelled");
  }

  /** A frame the server should not have sent: the connection fails with the returned error. */
  unexpected(frame: Frame): FerryError {
    return this.broken(
      new FerryError(ErrorCode.Protocol, `The server sent ${kindName(frame.kind)} out of order`),
    );
  }

  /** The server broke the protocol: the whole connection fails with `error`, which is returned. */
  broken(error: FerryError): FerryError {
    this.#line.breakOff(error);
    this.#end(error);
    return error;
  }

  // RequestHandler: called by the connection's read loop.

  onFrame(frame: Frame): void | Promise<void> {
    switch (frame.kind) {
      case K.Notice:
        this.#options.onNotice?.(errorFromPayload(frame.payload));
        return;
      case K.Error:
        this.#refused = true;
        return this.#end(errorFromPayload(frame.payload));
      case K.Ok:
        // The last reply: copied, so that the read loop goes on at once.
        return this.#end(undefined, {
          kind: frame.kind,
          id: frame.id,
          payload: frame.payload.length === 0 ? EMPTY : frame.payload.slice(),
        });
      default:
        return this.#hand(frame);
    }
  }

  fail(error: FerryError): void {
    this.#end(error);
  }

  /** Hands a frame to the consumer; the read loop waits until the consumer is done with it. */
  #hand(frame: Frame): Promise<void> {
    const released = new Promise<void>((resolve) => this.#release = resolve);
    this.#deliver(frame);
    return released;
  }

  #deliver(frame: Frame): void {
    const waiting = this.#waiting;
    if (waiting === undefined) {
      this.#queued = frame;
      return;
    }
    this.#waiting = undefined;
    waiting.resolve({ value: frame, done: false });
  }

  /**
   * Ends the request. A frame the consumer holds stays valid until it asks
   * for the next one when the consumer itself ended it (`keepHeld`: a
   * cancel while a chunk is still being written); a lost connection lets
   * the read loop go at once.
   */
  #end(error?: FerryError, last?: Frame, keepHeld = false): void {
    if (this.#over) return;
    this.#over = true;
    this.#error = error;
    this.#line.unregister(this.id);
    if (this.#onAbort !== undefined) {
      this.#options.signal?.removeEventListener("abort", this.#onAbort);
    }
    if (last !== undefined) this.#deliver(last);
    else if (this.#queued !== undefined || !keepHeld) {
      // A frame the consumer never took is dropped with the request.
      this.#queued = undefined;
      this.#letGo();
    }
    const waiting = this.#waiting;
    if (waiting === undefined || last !== undefined) return;
    this.#waiting = undefined;
    if (error === undefined) waiting.resolve(DONE);
    else waiting.reject(error);
  }

  #letGo(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  #throw(): Promise<never> {
    const error = this.#error!;
    // Thrown once; after that the iteration is simply over.
    this.#error = undefined;
    return Promise.reject(error);
  }

  #aborted(): void {
    if (this.#over) return;
    this.#line.abandon(this.id, {});
    this.#end(new FerryError(ErrorCode.Aborted, "The request was cancelled"), undefined, true);
  }
}
