/**
 * What `send` and `get` share on the command line: connecting with the token,
 * the progress bar on a terminal, Ctrl-C, and the summary (a line on a
 * terminal, a JSON object with --json, nothing otherwise).
 *
 * @module
 */

import type { FerryClient } from "../lib/client/client.ts";
import type { RemoteTarget } from "../lib/config/config.ts";
import { formatBytes, formatDuration, ProgressBar } from "./progress_bar.ts";
import { printable } from "../lib/fs/safe_path.ts";
import { printErr, printOut } from "./_output.ts";
import { connectTarget } from "./_connect.ts";
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, parseBytes, parseCount } from "./_args.ts";
import { isRetriableError } from "../lib/errors.ts";
import {
  type Progress,
  summaryError,
  type TransferOptions,
  type TransferSummary,
} from "../lib/client/transfer.ts";

/** Output, connection and transfer flags of send and get. */
export interface TransferFlags {
  recursive: boolean;
  quiet: boolean;
  json: boolean;
  port: number | undefined;
  tokenFile: string | undefined;
  sync: boolean;
  checksum: boolean;
  delete: boolean;
  /** Attempts after the first when the connection fails. */
  retries: number;
  /** Seconds for connecting, and for a transfer in which nothing moves. */
  timeoutSeconds: number;
  /** Bytes per second, or undefined for no limit. */
  limitRate: number | undefined;
  /** Connections at once (-j). */
  jobs: number;
}

/** The flags send and get share, for parseFlags. */
export const TRANSFER_FLAGS = {
  ...CLIENT_FLAGS,
  recursive: { type: "boolean", short: "r" },
  sync: { type: "boolean" },
  checksum: { type: "boolean" },
  delete: { type: "boolean" },
  retries: { type: "string" },
  timeout: { type: "string" },
  "limit-rate": { type: "string" },
  jobs: { type: "string", short: "j" },
} as const;

export const TRANSFER_FLAGS_HELP = `  -r, --recursive        Include folders and everything in them
      --sync             Skip files whose size and modification time match
      --checksum         Skip files whose contents match (reads both sides)
      --delete           Remove what the source folders no longer have (with
                         --sync; never after a failed file)
      --retries N        Retry a lost connection N times, resuming (default 3)
      --timeout SECS     Give up connecting, or a transfer where nothing moves,
                         after SECS (default 30)
      --limit-rate RATE  Bytes per second for file data, such as 500K or 10M
  -j, --jobs N           Use N connections at once, for many large files (default 1)
${CLIENT_FLAGS_HELP}`;

type TransferValues = {
  [K in keyof typeof TRANSFER_FLAGS]?: (typeof TRANSFER_FLAGS)[K]["type"] extends "boolean"
    ? boolean
    : string;
};

/** Turns parsed TRANSFER_FLAGS values into TransferFlags, validating numbers and rates. */
export function transferFlags(values: TransferValues): TransferFlags {
  const limitRate = parseBytes(values["limit-rate"], "--limit-rate");
  return {
    recursive: values.recursive ?? false,
    quiet: values.quiet ?? false,
    json: values.json ?? false,
    port: parseCount(values.port, "--port", 1, 65535),
    tokenFile: values["token-file"],
    sync: values.sync ?? false,
    checksum: values.checksum ?? false,
    delete: values.delete ?? false,
    retries: parseCount(values.retries, "--retries", 0, 100) ?? 3,
    timeoutSeconds: parseCount(values.timeout, "--timeout", 1, 86_400) ?? 30,
    limitRate,
    jobs: parseCount(values.jobs, "--jobs", 1, 16) ?? 1,
  };
}

/**
 * Connects to `target`, runs `transfer`, and reports. A lost connection is
 * retried with exponential backoff (1 s, 2 s, 4 s, ... at most 30 s); each
 * retry syncs, so files already committed are skipped and big files resume. Throws the summary's
 * error (one file's, or "partial") so main picks the exit code.
 */
export async function runTransfer(
  verb: "Sent" | "Got",
  target: RemoteTarget,
  flags: TransferFlags,
  transfer: (client: FerryClient, options: TransferOptions) => Promise<TransferSummary>,
): Promise<void> {
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  const bar = !flags.quiet && !flags.json && Deno.stderr.isTerminal()
    ? new ProgressBar(Deno.stderr, Deno.consoleSize?.().columns ?? 80)
    : undefined;
  let last: Progress | undefined;
  Deno.addSignalListener("SIGINT", interrupt);
  let summary: TransferSummary | undefined;
  try {
    for (let attempt = 0;; attempt++) {
      try {
        const done = await attemptTransfer(
          target,
          flags,
          controller.signal,
          attempt > 0,
          transfer,
          (p) => {
            last = p;
            bar?.update(p);
          },
        );
        summary = summary === undefined ? done : mergeAttempts(summary, done);
        break;
      } catch (error) {
        if (attempt >= flags.retries || !isRetriableError(error) || controller.signal.aborted) {
          throw error;
        }
        const delay = Math.min(30, 2 ** attempt);
        bar?.clear();
        if (!flags.quiet && !flags.json) {
          const why = error instanceof Error ? error.message : String(error);
          printErr(
            `ferry: ${printable(why)}; retry ${attempt + 1} of ${flags.retries} in ${delay} s`,
          );
        }
        await abortableSleep(delay * 1000, controller.signal);
      }
    }
  } catch (error) {
    bar?.clear();
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
  }
  if (bar !== undefined && last !== undefined) bar.finish(last);
  if (flags.json) {
    const { files, bytes, transferred, skipped, deleted, errors, seconds } = summary;
    const failures = summary.failures.map((f) => ({
      code: f.code,
      message: f.message,
      ...(f.path === undefined ? {} : { path: f.path }),
    }));
    printOut(
      JSON.stringify({
        files,
        bytes,
        transferred,
        skipped,
        deleted,
        errors,
        seconds: Number(seconds.toFixed(3)),
        failures,
      }),
    );
  } else {
    for (const failure of summary.failures) printErr(`ferry: ${printable(failure.message)}`);
    if (bar !== undefined) {
      printErr(
        `${verb} ${summary.files} files, ${formatBytes(summary.bytes)} in ${
          formatDuration(summary.seconds)
        }` +
          (summary.skipped > 0 ? ` (${summary.skipped} skipped)` : ""),
      );
    }
  }
  const failure = summaryError(summary);
  if (failure !== undefined) throw failure;
}

/** One connection's worth of the transfer; a retry syncs so that finished files are skipped. */
async function attemptTransfer(
  target: RemoteTarget,
  flags: TransferFlags,
  signal: AbortSignal,
  retry: boolean,
  transfer: (client: FerryClient, options: TransferOptions) => Promise<TransferSummary>,
  onProgress: (progress: Progress) => void,
): Promise<TransferSummary> {
  await using client = await connectTarget(target, flags, signal);
  return await transfer(client, {
    recursive: flags.recursive,
    signal,
    sync: flags.sync || retry,
    checksum: flags.checksum,
    delete: flags.delete,
    ...(flags.limitRate === undefined ? {} : { limitRate: flags.limitRate }),
    parallel: flags.jobs,
    onProgress,
  });
}

/** Counts of all attempts: what earlier ones committed, the last one skipped. */
function mergeAttempts(earlier: TransferSummary, last: TransferSummary): TransferSummary {
  return {
    files: earlier.files + last.files,
    bytes: earlier.bytes + last.bytes,
    transferred: earlier.transferred + last.transferred,
    skipped: Math.max(0, last.skipped - earlier.files),
    deleted: earlier.deleted + last.deleted,
    errors: last.errors,
    seconds: earlier.seconds + last.seconds,
    failures: last.failures,
  };
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
