/**
 * A counter of requests awaiting their reply, with a wait for room: bounds
 * how many files send and get keep in flight on one connection.
 *
 * @module
 */

/** Counts requests awaiting their reply, and lets the sender wait for room or for none. */
export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  add(): void {
    this.#count++;
  }

  done(): void {
    this.#count--;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * Waits until fewer than `limit` are in flight. When it has to wait,
   * `flush` runs first: the replies awaited may be to requests still in the
   * writer's buffer, which nothing else would send.
   */
  async below(limit: number, flush?: () => Promise<void>): Promise<void> {
    if (this.#count >= limit) await flush?.();
    while (this.#count >= limit) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}
