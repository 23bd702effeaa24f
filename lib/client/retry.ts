/**
 * Retries of a whole transfer after a lost connection: each attempt runs on
 * a new connection after an exponential backoff and syncs, so what earlier
 * attempts committed is skipped and big files resume where they stopped.
 *
 * @module
 */

import { FerryError, isRetriableError, toFerryError } from "../errors.ts";
import { cancelled, type TransferOptions, type TransferSummary } from "./transfer.ts";

const MAX_BACKOFF_SECONDS = 30;

/**
 * Runs `attempt` until it succeeds, fails for a reason a new connection
 * cannot fix, or `options.retries` retries are used up. `attempt` gets
 * whether it is a retry (it must then sync).
 */
export async function withRetries(
  options: Pick<TransferOptions, "retries" | "onRetry" | "signal">,
  attempt: (retry: boolean) => Promise<TransferSummary>,
): Promise<TransferSummary> {
  const retries = options.retries ?? 0;
  for (let tried = 0;; tried++) {
    try {
      // What earlier attempts committed, this one counts as skipped.
      return await attempt(tried > 0);
    } catch (error) {
      if (tried >= retries || !isRetriableError(error) || options.signal?.aborted) throw error;
      const delaySeconds = Math.min(MAX_BACKOFF_SECONDS, 2 ** tried);
      options.onRetry?.({
        attempt: tried + 1,
        retries,
        delaySeconds,
        error: error instanceof FerryError ? error : toFerryError(error, "transfer"),
      });
      await sleep(delaySeconds * 1000, options.signal);
      if (options.signal?.aborted) throw cancelled();
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
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
