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

  async below(limit: number): Promise<void> {
    while (this.#count >= limit) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}
