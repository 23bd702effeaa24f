/**
 * One connection's share of a transfer, the same for send and get: a lane
 * takes files from the shared {@link JobQueue} while its window has room,
 * starts each with its direction's {@link Mover} (sender.ts: this side
 * reads and the server receives; receiver.ts: the server reads and this
 * side receives), and counts each in until it is answered. With
 * `parallel` several lanes take from one queue; the first to fail stops
 * them all.
 *
 * @module
 */

import type { FerryError } from "../errors.ts";
import type { RateLimiter } from "../wire/rate_limit.ts";
import type { Connection } from "./connection.ts";
import { InFlight } from "./in_flight.ts";
import type { JobQueue } from "./job_queue.ts";

/** How much a lane keeps in flight. */
export interface Window {
  /** Requests awaiting their answer at once. */
  readonly requests: number;
  /** Bytes on their way at once (beyond the first file); Infinity for no bound. */
  readonly bytes: number;
  /** A full lane takes more once this many were answered, all in one write. */
  readonly group: number;
}

/** One file on its way. */
export interface Moving {
  /** Its request is queued (for a file this side sends, its body written too). */
  readonly queued: Promise<void>;
  /** Done once the file is committed or has failed (the tracker has it); rejects when the connection fails. */
  readonly settled: Promise<void>;
  /**
   * The peer answered all it will (a commit here may still run): the
   * window counts the file until then. Never rejects.
   */
  readonly answered: Promise<void>;
  /** Gives up on the file, the lane stopped: the peer is told, a resumable partial is kept. */
  abandon(): void;
}

/** How one direction moves a file over one connection. */
export interface Mover<Job> {
  readonly connection: Connection;
  readonly window: Window;
  /** Starts moving `job`; `stopped` says when the lane stopped, for a body being written. */
  start(job: Job, stopped: () => boolean): Moving;
}

/** What a lane needs of a job: the bytes it will move, for the window. */
export interface Sized {
  readonly size: number;
}

/** One connection's share: see the module doc. */
export class Lane<Job extends Sized> {
  failure: FerryError | undefined;
  readonly #mover: Mover<Job>;
  #stopped = false;
  /** Files on their way: stop() abandons them. */
  readonly #open = new Set<Moving>();
  readonly #isStopped = () => this.#stopped;

  constructor(mover: Mover<Job>) {
    this.#mover = mover;
  }

  /** Takes nothing more, and abandons what is on its way. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const moving of this.#open) moving.abandon();
    this.#open.clear();
  }

  /**
   * Moves files from `queue` while it has them; settles only once every
   * file of this lane has. `onFailure` runs when the connection fails.
   */
  async run(queue: JobQueue<Job>, onFailure: () => void): Promise<void> {
    const { connection, window } = this.#mover;
    const inFlight = new InFlight();
    const flush = () => connection.writer.flush();
    // Files not yet settled: a set, so a tree of 100,000 files does not keep
    // 100,000 settled promises until the end.
    const settling = new Set<Promise<void>>();
    const failed = (error: unknown) => {
      this.failure ??= connection.connectionError(error);
      onFailure();
    };
    try {
      for (;;) {
        await inFlight.below(window.requests - window.group + 1, flush, window.bytes);
        if (this.#stopped) break;
        if (!await queue.ready()) {
          if (queue.failure !== undefined) onFailure();
          break;
        }
        await this.#takeReady(queue, inFlight, settling, failed);
        // The requests queued together leave in one write.
        connection.writer.flushSoon();
      }
      await flush();
    } catch (error) {
      failed(error);
    }
    await Promise.all(settling);
  }

  /** Starts every file already found while the window has room. */
  async #takeReady(
    queue: JobQueue<Job>,
    inFlight: InFlight,
    settling: Set<Promise<void>>,
    failed: (error: unknown) => void,
  ): Promise<void> {
    const { requests, bytes } = this.#mover.window;
    let job: Job | undefined;
    while (
      !this.#stopped && inFlight.hasRoom(requests, bytes) && (job = queue.take()) !== undefined
    ) {
      const size = job.size;
      inFlight.add(size);
      const moving = this.#mover.start(job, this.#isStopped);
      this.#open.add(moving);
      // The window holds requests the peer has yet to answer, not files
      // committing here (the commit queue bounds those).
      void moving.answered.then(() => inFlight.done(size));
      const settled: Promise<void> = moving.settled.catch(failed).finally(() => {
        this.#open.delete(moving);
        settling.delete(settled);
      });
      settling.add(settled);
      await moving.queued;
    }
  }
}

/**
 * Moves what `queue` yields over one lane per mover; the first lane to
 * fail, a failed queue, or `signal` stops every lane. Resolves once all
 * have stopped, with the first connection failure (undefined for none).
 */
export async function runLanes<Job extends Sized>(
  movers: readonly Mover<Job>[],
  queue: JobQueue<Job>,
  signal: AbortSignal | undefined,
  limiter: RateLimiter | undefined,
): Promise<FerryError | undefined> {
  const lanes = movers.map((mover) => new Lane(mover));
  const stopAll = () => {
    limiter?.stop();
    for (const lane of lanes) lane.stop();
  };
  if (signal?.aborted) stopAll();
  signal?.addEventListener("abort", stopAll, { once: true });
  try {
    await Promise.all(lanes.map((lane) => lane.run(queue, stopAll)));
  } finally {
    signal?.removeEventListener("abort", stopAll);
  }
  return lanes.find((lane) => lane.failure !== undefined)?.failure;
}
