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

  constructor(bytesPerSecond: number) {
    this.#rate = bytesPerSecond;
    this.#available = 0;
  }

  /** Resolves once `bytes` may pass. */
  async take(bytes: number): Promise<void> {
    const now = performance.now();
    this.#available = Math.min(
      this.#available + ((now - this.#last) / 1000) * this.#rate,
      this.#rate / 4,
    );
    this.#last = now;
    this.#available -= bytes;
    if (this.#available < 0) {
      await new Promise((resolve) => setTimeout(resolve, (-this.#available / this.#rate) * 1000));
    }
  }
}
