/**
 * The commits (verify, fsync, rename) of received files run beside the loop
 * that reads the next files, a bounded number at once: the server's PUTs,
 * the client's GETs and bodies read as streams all go through one of these.
 *
 * @module
 */

/** Commits in progress at once before the reader waits for one to finish. */
export const MAX_PENDING_COMMITS = 16;

/** A bounded set of commits running beside their reader. */
export class CommitQueue {
  #running = new Set<Promise<void>>();
  #limit: number;

  constructor(limit: number = MAX_PENDING_COMMITS) {
    this.#limit = limit;
  }

  /** Commits still running. */
  get size(): number {
    return this.#running.size;
  }

  /**
   * Waits for room, then starts `commit` beside the caller. The commit
   * handles its own failures; a rejection is dropped here.
   */
  async start(commit: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.#limit) await Promise.race(this.#running);
    const settled: Promise<void> = commit().then(noop, noop).finally(() =>
      this.#running.delete(settled)
    );
    this.#running.add(settled);
  }

  /** Resolves when every commit started so far has finished, well or not. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}

function noop(): void {}
