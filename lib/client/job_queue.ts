/**
 * The stream of files a transfer moves, shared by its lanes, read a little
 * ahead of them: a lane that has room takes every file already found at
 * once, so that its requests leave together in one write (and one record)
 * instead of one each.
 *
 * @module
 */

import { type FerryError, toFerryError } from "../errors.ts";

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
