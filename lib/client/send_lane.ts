/**
 * One connection's share of a send: MKDIR and PUT requests pipelined, at
 * most a bounded number awaiting their reply, and the replies counted in.
 * Each file is sent by send_file.ts.
 *
 * @module
 */

import type { FerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { decodeResume, encodeMkdir } from "../protocol/requests.ts";
import type { RateLimiter } from "../wire/rate_limit.ts";
import type { Connection } from "./connection.ts";
import { InFlight } from "./in_flight.ts";
import { type Ack, type AckOptions, type PutAsks, sendOne } from "./send_file.ts";
import type { PlannedDir, PlannedFile, SendPlan } from "./send_plan.ts";
import type { TransferSettings } from "./transfer.ts";
import type { TransferTracker } from "./tracker.ts";

// Acknowledgements awaited at once; bounds the client's bookkeeping, not the wire.
const MAX_IN_FLIGHT = 1024;

/**
 * One connection's share of a send: requests are pipelined, at most
 * MAX_IN_FLIGHT awaiting their reply, and the first connection failure stops
 * the lane. A cancelled lane abandons its waiting requests and leaves the
 * connection usable.
 */
export class Lane {
  readonly connection: Connection;
  readonly tracker: TransferTracker;
  readonly signal: AbortSignal | undefined;
  /** Asked of the server for every file. */
  readonly asks: PutAsks;
  readonly compress: TransferSettings["compress"];
  failure: FerryError | undefined;
  /** The folders {@link Lane.sendWalk} made, in walk order. */
  readonly walkedDirs: PlannedDir[] = [];
  #inFlight = new InFlight();
  #acks = new Set<Ack>();
  #stopped = false;
  #onAbort = () => this.stop();
  #flush = () => this.connection.writer.flush();

  constructor(
    connection: Connection,
    tracker: TransferTracker,
    signal: AbortSignal | undefined,
    asks: PutAsks,
    compress?: TransferSettings["compress"],
  ) {
    this.asks = asks;
    this.compress = compress;
    this.connection = connection;
    this.tracker = tracker;
    this.signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get stopped(): boolean {
    return this.#stopped || this.failure !== undefined;
  }

  /**
   * Sends nothing more; requests waiting for a reply are abandoned (the
   * server is told, and keeps what a resumable upload received). A file
   * whose END was sent is committed by the server whatever follows: its
   * reply is still awaited, so that the summary counts what was stored.
   */
  stop(): void {
    this.#stopped = true;
    for (const ack of this.#acks) {
      if (ack.streaming || ack.ended) continue;
      ack.call.cancel(ack.resumable ? { keep: true } : {});
    }
  }

  dispose(): void {
    this.signal?.removeEventListener("abort", this.#onAbort);
  }

  /**
   * Sends a request that ends with OK or ERROR, and counts its reply in:
   * `onOk` at OK; an ERROR fails the file (`size` given: it leaves the
   * totals) or counts as a failure; a lost connection fails the lane.
   */
  expectOk(
    kind: Kind,
    payload: Uint8Array,
    shown: string,
    onOk: () => void,
    options: AckOptions = {},
  ): Ack {
    const call = this.connection.call(kind, payload, { flush: options.flush ?? false });
    this.#inFlight.add();
    const ack: Ack = {
      call,
      streaming: false,
      ended: false,
      resumable: false,
      replied: Promise.resolve(),
    };
    this.#acks.add(ack);
    ack.replied = this.#reply(ack, shown, onOk, options);
    return ack;
  }

  /**
   * Counts the reply in, then lets the request go: the next reply is read
   * directly, no iterator per file (a send of small files makes thousands).
   */
  async #reply(ack: Ack, shown: string, onOk: () => void, options: AckOptions): Promise<void> {
    const { call } = ack;
    try {
      let reply = await call.next();
      if (!reply.done && reply.value.kind === Kind.Resume && options.onResume !== undefined) {
        options.onResume(decodeResume(reply.value.payload));
        reply = await call.next();
      }
      if (reply.done) return;
      if (reply.value.kind !== Kind.Ok) throw call.unexpected(reply.value);
      onOk();
    } catch (error) {
      const failure = error as FerryError;
      if (!call.refused) this.failure ??= failure;
      else if (options.size === undefined) this.tracker.failed(failure);
      else this.tracker.fileFailed(failure, shown, options.size);
    } finally {
      // No offer came (an ERROR, a cancel or a lost connection instead).
      options.onResume?.(null);
      this.#acks.delete(ack);
      this.#inFlight.done();
    }
  }

  /** Makes `dirs` in order; a lost connection fails the lane. */
  async makeFolders(dirs: SendPlan["dirs"]): Promise<void> {
    try {
      for (const dir of dirs) {
        if (this.stopped) return;
        await this.#inFlight.below(MAX_IN_FLIGHT, this.#flush);
        await this.#mkdir(dir);
      }
    } catch (error) {
      this.failure ??= this.connection.connectionError(error);
    }
  }

  async #mkdir(dir: PlannedDir): Promise<void> {
    const request = encodeMkdir({ path: dir.remote, parents: true, mode: dir.mode });
    await this.expectOk(Kind.Mkdir, request, dir.remote, () => {}).call.sent;
  }

  /**
   * Makes each folder and sends each file as `walk` yields them, then waits
   * for every reply; the folders are kept in `walkedDirs` for their times.
   */
  async sendWalk(
    walk: AsyncIterable<{ dir: PlannedDir } | { file: PlannedFile }>,
    limiter: RateLimiter | undefined,
  ): Promise<void> {
    try {
      for await (const item of walk) {
        if (this.stopped) break;
        await this.#inFlight.below(MAX_IN_FLIGHT, this.#flush);
        if (this.stopped) break;
        if ("dir" in item) {
          this.walkedDirs.push(item.dir);
          await this.#mkdir(item.dir);
        } else {
          this.tracker.planned(1, item.file.size);
          await sendOne(this, item.file, limiter);
        }
      }
      await this.connection.writer.flush();
      await this.#inFlight.below(1);
    } catch (error) {
      this.failure ??= this.connection.connectionError(error);
    }
  }

  /** Sends `files` and waits for every reply; `onFailure` runs when this lane fails. */
  async sendFiles(
    files: PlannedFile[],
    limiter: RateLimiter | undefined,
    onFailure?: () => void,
  ): Promise<void> {
    try {
      for (const planned of files) {
        if (this.stopped) break;
        await this.#inFlight.below(MAX_IN_FLIGHT, this.#flush);
        if (this.stopped) break;
        await sendOne(this, planned, limiter);
      }
      await this.connection.writer.flush();
      await this.#inFlight.below(1);
    } catch (error) {
      this.failure ??= this.connection.connectionError(error);
    }
    if (this.failure !== undefined) onFailure?.();
  }
}
