/**
 * What `send` and `get` share on the command line: connecting with the token,
 * the progress bar on a terminal, Ctrl-C, and the summary (a line on a
 * terminal, a JSON object with --json, nothing otherwise).
 *
 * @module
 */

import type { FerryClient } from "../lib/client.ts";
import type { RemoteTarget } from "../lib/config.ts";
import { formatBytes, formatDuration, ProgressBar } from "../lib/progress_bar.ts";
import { printable } from "../lib/safe_path.ts";
import { printErr, printOut } from "./_output.ts";
import { connectTarget } from "./_connect.ts";
import {
  type Progress,
  summaryError,
  type TransferOptions,
  type TransferSummary,
} from "../lib/transfer.ts";

/** Output and connection flags of a transfer command. */
export interface TransferFlags {
  recursive: boolean;
  quiet: boolean;
  json: boolean;
  port: number | undefined;
  tokenFile: string | undefined;
}

/**
 * Connects to `target`, runs `transfer`, and reports. Throws the summary's
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
  let summary: TransferSummary;
  try {
    await using client = await connectTarget(target, flags, controller.signal);
    summary = await transfer(client, {
      recursive: flags.recursive,
      signal: controller.signal,
      onProgress: (progress) => {
        last = progress;
        bar?.update(progress);
      },
    });
  } catch (error) {
    bar?.clear();
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
  }
  if (bar !== undefined && last !== undefined) bar.finish(last);
  if (flags.json) {
    const { files, bytes, skipped, errors, seconds } = summary;
    const failures = summary.failures.map((f) => ({
      code: f.code,
      message: f.message,
      ...(f.path === undefined ? {} : { path: f.path }),
    }));
    printOut(
      JSON.stringify({
        files,
        bytes,
        skipped,
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
