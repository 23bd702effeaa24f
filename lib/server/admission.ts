/**
 * Who may start a session. Logged-in sessions have their budget
 * (`maxConnections`); connections still logging in have their own, bounded
 * pool, so strangers that connect and say nothing cannot lock a client with
 * the token out. When the pool is full, the oldest stranger is dropped: it
 * has had the longest to log in, and a real client logs in within
 * milliseconds (OpenSSH's MaxStartups drops at random for the same reason).
 * Addresses with repeated failed logins are locked out for a while.
 *
 * @module
 */

import { ErrorCode } from "../errors.ts";

// An address with this many failed logins within the window is refused outright.
const MAX_AUTH_FAILURES = 10;
const AUTH_FAILURE_WINDOW_MS = 60_000;
const MAX_TRACKED_ADDRESSES = 10_000;
/** Connections logging in at once, at least; a larger session budget raises it. */
const MIN_PENDING_LOGINS = 64;

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
  #failures = new Map<string, { count: number; since: number }>();

  /** `drop` closes a connection evicted from the pool of logins. */
  constructor(maxSessions: number, drop: (connection: T) => void) {
    this.#maxSessions = maxSessions;
    this.#maxPending = Math.max(MIN_PENDING_LOGINS, maxSessions);
    this.#drop = drop;
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

  /** Why a connection from `address` may not log in now, or undefined. */
  refusal(address: string): [ErrorCode, string] | undefined {
    if (this.#sessions.size >= this.#maxSessions) return BUSY;
    if (this.#lockedOut(address)) {
      return [
        ErrorCode.AuthFailed,
        "Too many failed logins from this address: wait a minute and check the token",
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
    this.#sessions.delete(connection);
  }

  /** A failed login from `address`, counted toward its lockout. */
  recordFailure(address: string): void {
    const now = performance.now();
    const record = this.#failures.get(address);
    if (record === undefined || now - record.since > AUTH_FAILURE_WINDOW_MS) {
      if (this.#failures.size >= MAX_TRACKED_ADDRESSES) this.#failures.clear();
      this.#failures.set(address, { count: 1, since: now });
    } else {
      record.count++;
    }
  }

  #lockedOut(address: string): boolean {
    const record = this.#failures.get(address);
    if (record === undefined) return false;
    if (performance.now() - record.since > AUTH_FAILURE_WINDOW_MS) {
      this.#failures.delete(address);
      return false;
    }
    return record.count >= MAX_AUTH_FAILURES;
  }
}
