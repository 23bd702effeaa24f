/**
 * One connection's share of a transfer, the same for send and get: a lane
 * takes files from the shared {@link JobQueue} while its window has room,
 * starts each with its direction's {@link Mover} (sender.ts: this side
 * reads and the server receives; receiver.ts: the server reads and this
 * side receives), and counts each in until it is answered. With
 * `parallel` several lanes take from one queue; the first to fail stops
 * them all. The queue reads a little ahead of the lanes where they take
 * several files at once, so that those requests leave together in one write
 * (and one record) instead of one each.
 *
 * @module
 */

import { type FerryError, toFerryError } from "../errors.ts";
import type { RateLimiter } from "../wire/rate_limit.ts";
import type { Connection } from "./connection.ts";

/** How much a lane keeps in flight. */
export interface Window {
  /** Requests awaiting their answer at once. */
  readonly requests: number;
  /** Bytes on their way at once (beyond the first file); Infinity for no bound. */
  readonly bytes: number;
  /** A full lane takes more once this many were answered, all in one write. */
  readonly group: number;
  /**
   * The files taken at once leave in one write right away: requests the
   * peer must see to answer (GET). Otherwise (PUT and its body) the writer
   * sends when it is full or the lane waits for room.
   */
  readonly flushTaken: boolean;
  /**
   * Files the shared queue finds before a lane asks (job_queue.ts): 0 for
   * lanes that take one file at a time.
   */
  readonly readAhead: number;
}

/** One file on its way, as its mover started it. */
export interface Moving {
  /**
   * Its request is queued (for a file this side sends, its body written
   * too); rejects when the connection failed.
   */
  readonly queued: Promise<void>;
  /** Gives up on the file, the lane stopped: the peer is told, a resumable partial is kept. */
  abandon(): void;
}

/** How one direction moves a file over one connection. */
export interface Mover<Job> {
  readonly connection: Connection;
  readonly window: Window;
  /** Starts moving `job`, reporting through `slot` until it settles. */
  start(job: Job, slot: Slot): Moving;
}

/** What a lane needs of a job: the bytes it will move, for the window. */
export interface Sized {
  readonly size: number;
}

/**
 * A lane's hold on one file: its mover reports through it (callbacks, not
 * promises: a send of small files starts thousands a second).
 */
export class Slot {
  readonly #lane: LaneCount;
  readonly #size: number;
  #answered = false;
  #settled = false;
  moving: Moving | undefined;

  constructor(lane: LaneCount, size: number) {
    this.#lane = lane;
    this.#size = size;
  }

  /** The lane stopped: a body being written ends early. */
  get stopped(): boolean {
    return this.#lane.stopped;
  }

  /**
   * The peer answered all it will (a commit here may still run): the
   * window lets the file go. The window holds requests the peer has yet to
   * answer, not files committing here (the commit queue bounds those).
   */
  answered(): void {
    if (this.#answered) return;
    this.#answered = true;
    this.#lane.answered(this.#size);
  }

  /**
   * The file is committed or has failed (the tracker has it), or, with
   * `lost`, the connection failed. Answered too, if it was not yet.
   */
  settled(lost?: unknown): void {
    if (this.#settled) return;
    this.answered();
    this.#settled = true;
    this.#lane.settled(this, lost);
  }
}

/** What a slot tells its lane. */
interface LaneCount {
  readonly stopped: boolean;
  answered(size: number): void;
  settled(slot: Slot, lost: unknown): void;
}

/** One connection's share: see the module doc. */
export class Lane<Job extends Sized> implements LaneCount {
  failure: FerryError | undefined;
  readonly #mover: Mover<Job>;
  #stopped = false;
  readonly #inFlight = new InFlight();
  /** Files on their way: stop() abandons them. */
  readonly #open = new Set<Slot>();
  #onFailure: () => void = () => {};
  /** Resolves run() once the last file settled. */
  #drained: (() => void) | undefined;

  constructor(mover: Mover<Job>) {
    this.#mover = mover;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Takes nothing more, and abandons what is on its way. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const slot of this.#open) slot.moving?.abandon();
  }

  /**
   * Moves files from `queue` while it has them; settles only once every
   * file of this lane has. `onFailure` runs when the connection fails.
   */
  async run(queue: JobQueue<Job>, onFailure: () => void): Promise<void> {
    const { connection, window } = this.#mover;
    this.#onFailure = onFailure;
    const flush = () => connection.writer.flush();
    try {
      for (;;) {
        await this.#inFlight.below(window.requests - window.group + 1, flush, window.bytes);
        if (this.#stopped) break;
        if (!queue.hasReady && !await queue.ready()) {
          if (queue.failure !== undefined) onFailure();
          break;
        }
        await this.#takeReady(queue);
        // The requests queued together leave in one write.
        if (window.flushTaken) connection.writer.flushSoon();
      }
      await flush();
    } catch (error) {
      this.#failed(error);
    }
    if (this.#open.size > 0) await new Promise<void>((resolve) => this.#drained = resolve);
  }

  answered(size: number): void {
    this.#inFlight.done(size);
  }

  settled(slot: Slot, lost: unknown): void {
    this.#open.delete(slot);
    if (lost !== undefined) this.#failed(lost);
    if (this.#open.size === 0) this.#drained?.();
  }

  #failed(error: unknown): void {
    this.failure ??= this.#mover.connection.connectionError(error);
    this.#onFailure();
  }

  /** Starts every file already found while the window has room. */
  async #takeReady(queue: JobQueue<Job>): Promise<void> {
    const { requests, bytes } = this.#mover.window;
    let job: Job | undefined;
    while (
      !this.#stopped && this.#inFlight.hasRoom(requests, bytes) &&
      (job = queue.take()) !== undefined
    ) {
      const slot = new Slot(this, job.size);
      this.#inFlight.add(job.size);
      this.#open.add(slot);
      const moving = slot.moving = this.#mover.start(job, slot);
      try {
        await moving.queued;
      } catch (error) {
        slot.settled(error);
        throw error;
      }
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

/** Counts requests awaiting their reply, and lets the sender wait for room or for none. */
export class InFlight {
  #count = 0;
  #bytes = 0;
  #waiters: (() => void)[] = [];

  /** One more request, of `bytes` (what its reply or body will move). */
  add(bytes = 0): void {
    this.#count++;
    this.#bytes += bytes;
  }

  done(bytes = 0): void {
    this.#count--;
    this.#bytes -= bytes;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * Waits until fewer than `limit` are in flight, and (when any is) fewer
   * than `maxBytes` bytes. When it has to wait,
   * `flush` runs first: the replies awaited may be to requests still in the
   * writer's buffer, which nothing else would send.
   */
  async below(limit: number, flush?: () => Promise<void>, maxBytes = Infinity): Promise<void> {
    if (this.hasRoom(limit, maxBytes)) return;
    await flush?.();
    while (!this.hasRoom(limit, maxBytes)) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Whether fewer than `limit` are in flight and (when any is) fewer than `maxBytes` bytes. */
  hasRoom(limit: number, maxBytes = Infinity): boolean {
    return this.#count < limit && (this.#count === 0 || this.#bytes < maxBytes);
  }
}

/**
 * Files found before any lane asks, for a get: enough for a lane's whole
 * window of GETs, few enough that the folders made and files counted stay
 * near the fetching.
 */
export const GET_READ_AHEAD = 128;

/**
 * Files to move, found ahead of the lanes. A failure of the walk or
 * listing itself is kept for the transfer to throw, and ends the stream for
 * every lane.
 */
export class JobQueue<Job> {
  failure: FerryError | undefined;
  #files: AsyncGenerator<Job>;
  #ready: Job[] = [];
  /** Nothing more will come: the listing ended, failed, or the queue was closed. */
  #ended = false;
  #reading: Promise<void> | undefined;
  #waiters: (() => void)[] = [];

  readonly #ahead: number;

  /**
   * `readAhead`: files found before a lane asks. 0 finds each when a lane
   * asks (a send, whose lanes take one file at a time: reading ahead would
   * only interleave the walk's system calls with the bodies').
   */
  constructor(files: AsyncGenerator<Job>, readAhead: number) {
    this.#files = files;
    this.#ahead = readAhead;
  }

  /** Waits until a file can be taken; false when there are no more (or the listing failed). */
  async ready(): Promise<boolean> {
    while (this.#ready.length === 0 && !this.#ended) {
      const arrived = new Promise<void>((resolve) => this.#waiters.push(resolve));
      this.#readAhead();
      await arrived;
    }
    return this.#ready.length > 0;
  }

  /** Whether a file can be taken now, without waiting. */
  get hasReady(): boolean {
    return this.#ready.length > 0;
  }

  /** The next file already found, if any; taking one reads further ahead. */
  take(): Job | undefined {
    const item = this.#ready.shift();
    if (this.#ahead > 0) this.#readAhead();
    return item;
  }

  /** Stops the walk or listing (a LIST is abandoned) when the transfer ended early. */
  async close(): Promise<void> {
    this.#ended = true;
    this.#ready.length = 0;
    this.#wake();
    // Runs after a read still waiting on the listing, which ends when the
    // transfer closes the listing's connection next: waiting here could hang.
    const returned = this.#files.return(undefined).catch(() => {});
    if (this.#reading === undefined) await returned;
  }

  #readAhead(): void {
    if (this.#reading !== undefined || this.#ended || this.#full) return;
    this.#reading = this.#read().finally(() => this.#reading = undefined);
  }

  /** As many found as it reads ahead (at least the one a waiting lane asked for). */
  get #full(): boolean {
    return this.#ready.length >= Math.max(1, this.#ahead);
  }

  async #read(): Promise<void> {
    while (!this.#ended && !this.#full) {
      try {
        const next = await this.#files.next();
        if (next.done) this.#ended = true;
        else if (!this.#ended) this.#ready.push(next.value);
      } catch (error) {
        if (!this.#ended) this.failure ??= toFerryError(error, "list");
        this.#ended = true;
      }
      this.#wake();
    }
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
