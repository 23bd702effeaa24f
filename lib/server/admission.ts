/**
 * Who may start a session. Logged-in sessions have their budget
 * (`maxConnections`); connections still logging in have their own, bounded
 * pool, so strangers that connect and say nothing cannot lock a client with
 * the token out. When the pool is full, the oldest stranger is dropped: it
 * has had the longest to log in, and a real client logs in within
 * milliseconds (OpenSSH's MaxStartups drops at random for the same reason).
 *
 * Failed logins are throttled, never locked out: the right token is let in
 * at once whatever a bad script on the same address (or behind the same
 * NAT) keeps trying. Each wrong token is answered only after a delay that
 * grows with the address's recent failures, and only a few of an address's
 * wrong logins are held at a time; a login from an address already at that
 * limit is turned away as busy before its token is even tried, so guesses
 * cannot be run in parallel to beat the delay.
 *
 * @module
 */

import { ErrorCode } from "../errors.ts";

// A wrong token is answered after the base delay, doubled for every
// FAILURES_PER_DOUBLING failures of its address within the window, up to
// MAX_FAILURE_DELAY_MS; an address has at most MAX_HELD_FAILURES of them
// waiting for their answer at once. With the defaults: at most 4 guesses a
// second at first, and about 8 a minute from an address that keeps failing.
const FAILURES_PER_DOUBLING = 10;
const MAX_FAILURE_DELAY_MS = 30_000;
const MAX_HELD_FAILURES = 4;
// Wrong logins held at once from every address together (each holds 8 KiB and a descriptor).
const MAX_HELD_TOTAL = 256;
const FAILURE_WINDOW_MS = 10 * 60_000;
const MAX_TRACKED_ADDRESSES = 10_000;
/** Connections logging in at once, at least; a larger session budget raises it. */
export const MIN_PENDING_LOGINS = 64;

/** What a client is told when every session slot is taken, or the server is stopping. */
export const BUSY: [ErrorCode, string] = [ErrorCode.Busy, "The server is busy: try again later"];

/** The sessions and logins of one server; `T` is its connection. */
export class Admission<T> {
  #maxSessions: number;
  #maxPending: number;
  #drop: (connection: T) => void;
  /** Connections logging in, oldest first. */
  #pending = new Set<T>();
  #sessions = new Set<T>();
  /** Connections whose wrong token waits for its answer. */
  #held = new Set<T>();
  #failures = new Map<string, FailureRecord>();
  #baseDelayMs: number;

  /**
   * `drop` closes a connection evicted from the pool of logins;
   * `baseDelayMs` is how long the first wrong tokens of an address wait.
   */
  constructor(maxSessions: number, drop: (connection: T) => void, baseDelayMs = 1_000) {
    this.#maxSessions = maxSessions;
    this.#maxPending = Math.max(MIN_PENDING_LOGINS, maxSessions);
    this.#drop = drop;
    this.#baseDelayMs = baseDelayMs;
  }

  /** Connections still logging in. */
  get pending(): number {
    return this.#pending.size;
  }

  /** A new connection starts logging in; the oldest login is dropped when the pool is full. */
  arrive(connection: T): void {
    if (this.#pending.size >= this.#maxPending) {
      const oldest = this.#pending.values().next().value as T;
      this.#pending.delete(oldest);
      this.#drop(oldest);
    }
    this.#pending.add(connection);
  }

  /**
   * Why a connection from `address` may not try to log in now, or
   * undefined: no session slot is free, or the address already has as many
   * wrong logins waiting for their answer as it may.
   */
  refusal(address: string): [ErrorCode, string] | undefined {
    if (this.#sessions.size >= this.#maxSessions) return BUSY;
    const held = this.#record(address)?.held ?? 0;
    if (held >= MAX_HELD_FAILURES || this.#held.size >= MAX_HELD_TOTAL) {
      return [
        ErrorCode.Busy,
        "Too many failed logins from this address are waiting for their answer: try again in a few seconds",
      ];
    }
    return undefined;
  }

  /**
   * A connection proved it holds the token: it takes a session slot, or
   * false when another login took the last one meanwhile.
   */
  admit(connection: T): boolean {
    this.#pending.delete(connection);
    if (this.#sessions.size >= this.#maxSessions) return false;
    this.#sessions.add(connection);
    return true;
  }

  /** A connection ended, whatever it had reached. */
  leave(connection: T): void {
    this.#pending.delete(connection);
    this.#held.delete(connection);
    this.#sessions.delete(connection);
  }

  /**
   * A wrong token from `address`: waits out its delay, then resolves, and
   * the caller answers auth_failed. Meanwhile the connection is held,
   * counted against the address, and out of the pool of logins: a crowd of
   * new strangers must not evict it, for an early close would tell that
   * its token was wrong before the delay is over.
   */
  async failed(connection: T, address: string): Promise<void> {
    const record = this.#record(address) ?? this.#track(address);
    record.count++;
    record.last = performance.now();
    record.held++;
    this.#pending.delete(connection);
    this.#held.add(connection);
    const doublings = Math.floor((record.count - 1) / FAILURES_PER_DOUBLING);
    const delay = Math.min(this.#baseDelayMs * 2 ** doublings, MAX_FAILURE_DELAY_MS);
    try {
      await new Promise((resolve) => setTimeout(resolve, delay));
    } finally {
      record.held--;
    }
  }

  /** The recent failures of `address`, forgotten once it has been quiet for the window. */
  #record(address: string): FailureRecord | undefined {
    const record = this.#failures.get(address);
    if (record === undefined) return undefined;
    if (record.held === 0 && performance.now() - record.last > FAILURE_WINDOW_MS) {
      this.#failures.delete(address);
      return undefined;
    }
    return record;
  }

  #track(address: string): FailureRecord {
    if (this.#failures.size >= MAX_TRACKED_ADDRESSES) {
      // Keep the addresses that are being answered; forget the quiet ones.
      for (const [known, record] of this.#failures) {
        if (record.held === 0) this.#failures.delete(known);
      }
    }
    const record = { count: 0, last: performance.now(), held: 0 };
    this.#failures.set(address, record);
    return record;
  }
}

/** An address's recent wrong logins: how many, the last one, and how many wait for their answer. */
interface FailureRecord {
  count: number;
  last: number;
  held: number;
}
