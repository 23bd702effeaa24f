/**
 * `--limit-rate`: a token bucket over file data. The sender waits before it
 * reads more; the receiver waits before it reads the next frame, so TCP's
 * flow control slows the other side down too.
 *
 * @module
 */

/** Lets `bytesPerSecond` through on average, with bursts of at most a quarter second. */
export class RateLimiter {
  #rate: number;
  #available: number;
  #last = performance.now();
  #stopped = false;
  #waiting = new Set<() => void>();

  constructor(bytesPerSecond: number) {
    this.#rate = bytesPerSecond;
    this.#available = 0;
  }

  /**
   * A limiter for `--limit-rate`, or undefined when there is no limit. An
   * abort of `signal` stops it, so that a cancel is not held up by a wait.
   */
  static optional(
    bytesPerSecond: number | undefined,
    signal?: AbortSignal | undefined,
  ): RateLimiter | undefined {
    if (!bytesPerSecond) return undefined;
    const limiter = new RateLimiter(bytesPerSecond);
    signal?.addEventListener("abort", () => limiter.stop(), { once: true });
    return limiter;
  }

  /**
   * The largest chunk to send at once: a quarter second's worth (at least
   * 1 KiB), so that bytes keep flowing instead of a whole 1 MiB frame and
   * then seconds of silence, which would look like a frozen link.
   */
  get chunkBytes(): number {
    return Math.max(1024, Math.floor(this.#rate / 4));
  }

  /**
   * Accounts for `bytes`; returns a promise to wait on when they are over
   * the budget, else undefined (no await on the per-chunk path).
   */
  take(bytes: number): Promise<void> | undefined {
    if (this.#stopped) return undefined;
    const now = performance.now();
    this.#available = Math.min(
      this.#available + ((now - this.#last) / 1000) * this.#rate,
      this.#rate / 4,
    );
    this.#last = now;
    this.#available -= bytes;
    if (this.#available >= 0) return undefined;
    const waitMs = (-this.#available / this.#rate) * 1000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(wake);
        resolve();
      }, waitMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiting.add(wake);
    });
  }

  /**
   * Ends every wait now and lets everything through from here on: a
   * transfer that was cancelled must not hold its connection for the rest
   * of a wait (a receiver waits up to a whole 1 MiB frame's worth).
   */
  stop(): void {
    this.#stopped = true;
    for (const wake of this.#waiting) wake();
    this.#waiting.clear();
  }
}
