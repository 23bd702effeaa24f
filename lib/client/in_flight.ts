/**
 * A counter of requests awaiting their reply, with a wait for room: bounds
 * how many files send and get keep in flight on one connection.
 *
 * @module
 */

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
