/**
 * The server's hooks on received files. `admit` decides at the PUT header,
 * before a byte of the body is taken, whether a file may be sent at all (by
 * its name, size or sender). `validate` decides, once a file is verified and
 * before it is committed, whether it may be stored: a refusal removes the
 * temporary, so nothing refused is ever visible under its name.
 * `onReceived` is told after the commit and never delays or fails the
 * transfer. Both are bounded in time, and `onReceived` in concurrency: a
 * hook that throws, rejects or hangs never hangs a client.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { printable } from "../text.ts";

/** A file a client sent, as the hooks see it. */
export interface ReceivedFile {
  /** Its path under the root ("/"-separated, no leading "/"). */
  path: string;
  /**
   * Where its bytes are now: the verified temporary for `validate` (it is
   * renamed into place only if accepted), the stored file for `onReceived`.
   */
  localPath: string;
  /** Bytes. */
  size: number;
  /** xxh3-128 of its bytes, hex. */
  digest: string;
  /** The client's address and port. */
  remote: string;
  /** The name the client gave (`connect({name})`, `--name`), if any. */
  clientName?: string | undefined;
}

/** Decides whether a verified file is stored: `true`, or a reason to refuse it. */
export type Validator = (file: ReceivedFile) => boolean | string | Promise<boolean | string>;

/** A file a client offers to send, as `admit` sees it at the PUT header: no byte has arrived. */
export type OfferedFile = Pick<ReceivedFile, "path" | "remote" | "clientName"> & {
  /** The announced size in bytes; undefined for a stream of unknown size (`ferry send -`). */
  size: number | undefined;
};

/** Decides whether an offered file may be sent: `true`, or a reason to refuse it. */
export type OfferCheck = (file: OfferedFile) => boolean | string | Promise<boolean | string>;

/** Told of each stored file. */
export type ReceivedHandler = (file: ReceivedFile) => void | Promise<void>;

/** What the hooks report: each onReceived run, done or failed, for the server log. */
export type HookReport = (path: string, ok: boolean, message: string) => void;

// onReceived runs at once at most this many times; more wait, and past the
// queue's bound the oldest waiting run is dropped (and logged).
const MAX_RUNNING = 4;
const MAX_QUEUED = 256;

/** The hooks of one server. */
export class Hooks {
  #admit: OfferCheck | undefined;
  #validate: Validator | undefined;
  #onReceived: ReceivedHandler | undefined;
  #timeoutMs: number;
  #report: HookReport;
  #running = 0;
  #queue: ReceivedFile[] = [];

  constructor(
    options: {
      admit?: OfferCheck | undefined;
      validate?: Validator | undefined;
      onReceived?: ReceivedHandler | undefined;
      timeoutMs: number;
    },
    report: HookReport,
  ) {
    this.#admit = options.admit;
    this.#validate = options.validate;
    this.#onReceived = options.onReceived;
    this.#timeoutMs = options.timeoutMs;
    this.#report = report;
  }

  /** Whether files are validated before commit. */
  get validates(): boolean {
    return this.#validate !== undefined;
  }

  /** Whether files are offered to `admit` at their PUT header. */
  get admits(): boolean {
    return this.#admit !== undefined;
  }

  /** Runs `admit`; throws permission_denied when the offer is refused, fails or times out. */
  async admit(offer: OfferedFile): Promise<void> {
    const admit = this.#admit;
    if (admit !== undefined) await this.#decide(offer.path, () => admit(offer));
  }

  /** Runs `validate`; throws permission_denied when the file is refused, fails or times out. */
  async check(file: ReceivedFile): Promise<void> {
    const validate = this.#validate;
    if (validate !== undefined) await this.#decide(file.path, () => validate(file));
  }

  /** A verdict of `admit` or `validate`, bounded in time: anything but `true` refuses `path`. */
  async #decide(path: string, ask: () => boolean | string | Promise<boolean | string>) {
    let verdict: boolean | string;
    try {
      verdict = await withTimeout(Promise.resolve().then(ask), this.#timeoutMs);
    } catch (error) {
      verdict = error instanceof TimedOut
        ? `the check did not answer within ${this.#timeoutMs / 1000} s`
        : `the check failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (verdict === true) return;
    const reason = typeof verdict === "string" && verdict.trim() !== ""
      ? verdict.trim()
      : "the server's check said no";
    throw new FerryError(
      ErrorCode.PermissionDenied,
      `The server refused "${printable(path)}": ${printable(reason)}`,
      { path },
    );
  }

  /** Queues `onReceived` for a stored file; never throws, never waits. */
  received(file: ReceivedFile): void {
    if (this.#onReceived === undefined) return;
    if (this.#queue.length >= MAX_QUEUED) {
      const dropped = this.#queue.shift()!;
      this.#report(dropped.path, false, "on-receive skipped: too many runs waiting");
    }
    this.#queue.push(file);
    this.#next();
  }

  #next(): void {
    const handler = this.#onReceived;
    if (handler === undefined) return;
    while (this.#running < MAX_RUNNING && this.#queue.length > 0) {
      const file = this.#queue.shift()!;
      this.#running++;
      withTimeout(Promise.resolve().then(() => handler(file)), this.#timeoutMs)
        .then(() => this.#report(file.path, true, "on-receive done"))
        .catch((error) => {
          const why = error instanceof TimedOut
            ? `did not finish within ${this.#timeoutMs / 1000} s`
            : error instanceof Error
            ? error.message
            : String(error);
          this.#report(file.path, false, `on-receive: ${why}`);
        })
        .finally(() => {
          this.#running--;
          this.#next();
        });
    }
  }
}

class TimedOut extends Error {}

/** `work`, or a TimedOut rejection after `ms` (the work itself is not stopped here). */
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
