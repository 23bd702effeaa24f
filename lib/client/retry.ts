/**
 * Retries of a whole transfer after a lost connection: each attempt runs on
 * a new connection after an exponential backoff and syncs, so what earlier
 * attempts committed is skipped and big files resume where they stopped.
 *
 * @module
 */

import { FerryError, isRetriableError, toFerryError } from "../errors.ts";
import { cancelled, type TransferSettings, type TransferSummary } from "./options.ts";
import { noteUnconfirmed } from "./tracker.ts";

const MAX_BACKOFF_SECONDS = 30;

/** When and how often to try again. */
export type RetryPolicy = Pick<TransferSettings, "retries" | "signal" | "onRetry">;

/**
 * Runs `attempt` (given the number of attempts before it) until it
 * succeeds, fails for a reason a new connection cannot fix, or
 * `policy.retries` retries are used up, waiting 1 s, 2 s, 4 s … (at most
 * 30 s) before each retry. `failed` is told of each failure that is retried.
 */
export async function retrying<T>(
  policy: RetryPolicy,
  attempt: (tried: number) => Promise<T>,
  failed?: () => void,
): Promise<T> {
  const retries = policy.retries ?? 0;
  for (let tried = 0;; tried++) {
    try {
      return await attempt(tried);
    } catch (error) {
      if (tried >= retries || !isRetriableError(error) || policy.signal?.aborted) throw error;
      failed?.();
      const delaySeconds = Math.min(MAX_BACKOFF_SECONDS, 2 ** tried);
      policy.onRetry?.({
        attempt: tried + 1,
        retries,
        delaySeconds,
        error: error instanceof FerryError ? error : toFerryError(error, "transfer"),
      });
      await sleep(delaySeconds * 1000, policy.signal);
      if (policy.signal?.aborted) throw cancelled();
    }
  }
}

/**
 * A transfer with {@link retrying}; each retry syncs. The summary covers
 * every attempt: files committed before a lost connection count as sent
 * (not as skipped by the retry that found them), even when their OK was
 * lost with the connection, and `seconds` is the whole time.
 */
export async function withRetries(
  options: TransferSettings,
  attempt: (options: TransferSettings) => Promise<TransferSummary>,
): Promise<TransferSummary> {
  const retries = options.retries ?? 0;
  const started = performance.now();
  // Committed by attempts that then failed.
  const earlier = { files: 0, bytes: 0 };
  // Sent by the failed attempts, committed or not: the OK was lost with the connection.
  const unconfirmed = new Set<string>();
  let committed = { files: 0, bytes: 0 };
  const summary = await retrying(options, (tried) => {
    committed = { files: 0, bytes: 0 };
    // Counting costs an object per file: only when a retry may need the count.
    const counted: TransferSettings = retries === 0 ? options : {
      ...options,
      ...(tried > 0 ? { sync: true } : {}),
      onFile: (file) => {
        committed.files++;
        committed.bytes += file.size;
        options.onFile?.(file);
      },
    };
    if (retries > 0) noteUnconfirmed(counted, unconfirmed);
    return attempt(counted);
  }, () => {
    earlier.files += committed.files;
    earlier.bytes += committed.bytes;
  });
  return {
    ...summary,
    files: summary.files + earlier.files,
    bytes: summary.bytes + earlier.bytes,
    transferred: summary.transferred + earlier.bytes,
    skipped: Math.max(0, summary.skipped - earlier.files),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Waits `ms`, or less when `signal` aborts (it resolves then, never rejects). */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
