/**
 * What `send` and `get` share on the command line: connecting with the token,
 * the progress bar on a terminal, Ctrl-C, and the summary (a line on a
 * terminal, a JSON object with --json, nothing otherwise).
 *
 * @module
 */

import type { RemoteTarget } from "../lib/config/config.ts";
import { formatBytes, formatDuration, ProgressBar } from "./progress_bar.ts";
import { printErr, printOut, shownName, terminalColumns } from "./_output.ts";
import { clientFor, printRetry } from "./_connect.ts";
import {
  CLIENT_FLAGS,
  CLIENT_FLAGS_HELP,
  parseBytes,
  parseCount,
  parseFsync,
  parseName,
  parseTimeout,
} from "./_args.ts";
import { FerryError, needsRecursive } from "../lib/errors.ts";
import { UsageError } from "./_usage.ts";
import { FILTER_FLAGS, FILTER_FLAGS_HELP, filterRules } from "./_filters.ts";
import { withHint } from "./_hints.ts";
import { printable } from "../lib/text.ts";
import {
  COMPRESS_LEVELS,
  type FerryClient,
  type FsyncMode,
  type GetOptions,
  type Progress,
  type SendOptions,
  summaryError,
  type TransferChange,
  type TransferSummary,
} from "../mod.ts";

/** What send and get pass to the library: each side's flags mean that side's own (fsync, backup). */
export type CommandTransfer = SendOptions & GetOptions;

const STOP_SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];

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
  timeoutSeconds: number | undefined;
  /** Bytes per second, or undefined for no limit. */
  limitRate: number | undefined;
  /** Connections at once (-j). */
  jobs: number;
  /** How received files are made durable; undefined is the library's default (each). */
  fsync: FsyncMode | undefined;
  /** Numbered backups of replaced and deleted files: beside them (true) or in a folder. */
  backup: boolean | string;
  /** This client's name, sent to the server. */
  name: string | undefined;
  /** Include and exclude rules, in order (--exclude, --include, --exclude-from, --files-from). */
  filter: string[] | undefined;
  /** -n: list and compare, print the plan, change nothing. */
  dryRun: boolean;
  /** -v: a line per file copied or deleted; -vv: also per file skipped. */
  verbose: number;
  /** Never replace an existing file on the receiving side. */
  ignoreExisting: boolean;
  /** -u: skip files that are newer on the receiving side. */
  update: boolean;
  /** --progress: "lines" (a bar on a terminal, else a line every few seconds) or "json". */
  progress: "lines" | "json" | undefined;
  /** -z: the zstd level to compress file data at, or undefined for none. */
  compress: number | undefined;
  /** Flags that have no effect as given: each is said once, before the transfer. */
  warnings: string[];
}

/** The flags send and get share, for parseFlags. */
export const TRANSFER_FLAGS = {
  ...CLIENT_FLAGS,
  recursive: { type: "boolean", short: "r" },
  sync: { type: "boolean" },
  checksum: { type: "boolean" },
  delete: { type: "boolean" },
  retries: { type: "string" },
  "limit-rate": { type: "string" },
  jobs: { type: "string", short: "j" },
  fsync: { type: "string" },
  backup: { type: "boolean" },
  "backup-dir": { type: "string" },
  "dry-run": { type: "boolean", short: "n" },
  verbose: { type: "boolean", short: "v", multiple: true },
  "ignore-existing": { type: "boolean" },
  update: { type: "boolean", short: "u" },
  progress: { type: "string" },
  compress: { type: "boolean", short: "z" },
  "compress-level": { type: "string" },
  ...FILTER_FLAGS,
} as const;

export const TRANSFER_FLAGS_HELP = `  -r, --recursive        Include folders and everything in them
      --sync             Skip files whose size and modification time match
      --checksum         Skip files whose contents match (reads both sides)
      --delete           Remove what the source folders no longer have (with
                         --sync; never after a failed file)
      --retries N        Retry a lost connection N times, resuming (default 3)
      --limit-rate RATE  Bytes per second for file data, such as 500K or 10M
  -j, --jobs N           Use N connections at once, for many large files (default 1)
      --fsync MODE       When a file counts as done (default each):
                         each   its data and folder are flushed to disk
                         batch  one flush of the disk per group of files
                         none   nothing is flushed (rsync's default)
      --backup           Keep each replaced or deleted file on the receiving
                         side as NAME.~N~ (a --no-delete server accepts it)
      --backup-dir DIR   Keep them in DIR instead, in the same tree (implies
                         --backup; DIR is a path on the receiving side)
      --ignore-existing  Never replace a file the receiving side has
  -u, --update           Skip files that are newer on the receiving side
${FILTER_FLAGS_HELP}
  -n, --dry-run          Connect, list and compare, print what would be copied
                         (+), skipped (=) and deleted (-); change nothing
  -v, --verbose          A line per file as it is copied (+ NAME) or deleted
                         (- NAME); -vv also per file skipped (= NAME)
  -z, --compress         Compress file data with zstd on the way, where it
                         shrinks (text, logs; not photos or archives): for
                         slow links. Needs a server that knows it, else none
      --compress-level N zstd level, 1 (fast) to 19 (small); default 3 (implies
                         -z, as in rsync)
      --progress[=json]  Progress also without a terminal: a line on stderr
                         every 5 s, or with =json one JSON object a second
${CLIENT_FLAGS_HELP}`;

type TransferValues = {
  [K in keyof typeof TRANSFER_FLAGS]?: (typeof TRANSFER_FLAGS)[K] extends { multiple: true }
    ? (typeof TRANSFER_FLAGS)[K]["type"] extends "boolean" ? boolean[] : string[]
    : (typeof TRANSFER_FLAGS)[K]["type"] extends "boolean" ? boolean
    : string;
};

/**
 * Turns parsed TRANSFER_FLAGS values into TransferFlags, validating numbers
 * and rates; `tokens` give the filter rules their order.
 */
export function transferFlags(
  values: TransferValues,
  tokens: Parameters<typeof filterRules>[0] = [],
): TransferFlags {
  const limitRate = parseBytes(values["limit-rate"], "--limit-rate");
  refuseContradictions(values);
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
    timeoutSeconds: parseTimeout(values.timeout),
    limitRate,
    jobs: parseCount(values.jobs, "--jobs", 1, 16) ?? 1,
    fsync: parseFsync(values.fsync, "--fsync"),
    backup: values["backup-dir"] ?? values.backup ?? false,
    name: parseName(values.name),
    filter: filterRules(tokens),
    dryRun: values["dry-run"] ?? false,
    verbose: values.verbose?.length ?? 0,
    ignoreExisting: values["ignore-existing"] ?? false,
    update: values.update ?? false,
    progress: parseProgress(values.progress),
    compress: values.compress || values["compress-level"] !== undefined
      ? parseCount(
        values["compress-level"],
        "--compress-level",
        COMPRESS_LEVELS.min,
        COMPRESS_LEVELS.max,
      ) ?? COMPRESS_LEVELS.default
      : undefined,
    warnings: ineffective(values),
  };
}

/** Flags that ask for opposite things: a usage error rather than a guess at which one wins. */
function refuseContradictions(values: TransferValues): void {
  const contradict = (a: string, b: string, why: string) => {
    throw new UsageError(`${a} and ${b} contradict each other: ${why}; choose one`);
  };
  if (values.quiet && (values.verbose?.length ?? 0) > 0) {
    contradict("-q", "-v", "-q prints nothing but errors, -v a line per file");
  }
  if (values.quiet && values.progress !== undefined) {
    contradict("-q", "--progress", "-q prints nothing but errors, --progress a progress line");
  }
}

/** What the flags ask for that cannot happen, said once so that nobody relies on it. */
function ineffective(values: TransferValues): string[] {
  const warnings: string[] = [];
  if (values.delete && !values.recursive) {
    warnings.push("--delete has no effect without -r: it removes what a folder no longer has");
  }
  return warnings;
}

/** --progress's value: bare (see {@link progressArgs}) is "lines". */
function parseProgress(value: string | undefined): TransferFlags["progress"] {
  if (value === undefined) return undefined;
  if (value === "lines" || value === "json") return value;
  throw new UsageError(`--progress takes no value or "json", not "${value}"`);
}

/** `argv` with a bare --progress given its value, which parseArgs needs for a string flag. */
export function progressArgs(argv: string[]): string[] {
  const end = argv.indexOf("--");
  return argv.map((arg, i) =>
    arg === "--progress" && (end < 0 || i < end) ? "--progress=lines" : arg
  );
}

/**
 * Connects to `target`, runs `transfer` with the library's retries (a lost
 * connection is retried with backoff, each retry syncing so that committed
 * files are skipped and big files resume), and reports. Throws the summary's
 * error (one file's, or "partial") so main picks the exit code.
 */
export async function runTransfer(
  verb: "Sent" | "Got",
  target: RemoteTarget,
  flags: TransferFlags,
  transfer: (client: FerryClient, options: CommandTransfer) => Promise<TransferSummary>,
): Promise<void> {
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  // Ctrl-C, and SIGTERM (a service stopping, a cron job killed): either way
  // uncommitted files are discarded before the exit.
  for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, interrupt);
  let shown: ShownTransfer;
  try {
    await using client = await clientFor(target, flags, controller.signal);
    shown = await transferWith(client, flags, controller.signal, transfer);
  } finally {
    for (const signal of STOP_SIGNALS) Deno.removeSignalListener(signal, interrupt);
  }
  const failure = summaryError(shown.summary);
  if (flags.json) printOut(JSON.stringify(summaryJson(shown.summary, flags)));
  else printSummary(verb, shown.summary, failure, shown.bar || flags.dryRun, flags);
  if (failure !== undefined) throw failure;
}

/** A finished transfer's summary, and whether a progress bar was drawn for it. */
export interface ShownTransfer {
  summary: TransferSummary;
  bar: boolean;
}

/**
 * Runs `transfer` on an open client, cancelled by `signal`, with the
 * progress bar on a terminal. Errors come back in the command line's words
 * ({@link commandError}); the summary is the caller's to report.
 */
export async function transferWith(
  client: FerryClient,
  flags: TransferFlags,
  signal: AbortSignal,
  transfer: (client: FerryClient, options: CommandTransfer) => Promise<TransferSummary>,
): Promise<ShownTransfer> {
  if (!flags.quiet) {
    for (const warning of flags.warnings) {
      printErr(`ferry: warning: ${warning}`);
    }
  }
  const bar = progressBar(flags)?.start();
  let last: Progress | undefined;
  let summary: TransferSummary;
  try {
    summary = await transfer(client, {
      recursive: flags.recursive,
      signal,
      sync: flags.sync,
      checksum: flags.checksum,
      delete: flags.delete,
      limitRate: flags.limitRate,
      parallel: flags.jobs,
      fsync: flags.fsync,
      backup: flags.backup,
      retries: flags.retries,
      filter: flags.filter,
      dryRun: flags.dryRun,
      ignoreExisting: flags.ignoreExisting,
      update: flags.update,
      compress: flags.compress,
      onChange: changePrinter(flags, () => bar?.clear()),
      onRetry: (notice) => {
        bar?.clear();
        if (!flags.quiet && !flags.json) printRetry(notice);
      },
      // Snapshots are made only for a bar to draw.
      onProgress: bar === undefined ? undefined : (p) => {
        last = p;
        bar.update(p);
      },
    });
  } catch (error) {
    bar?.close();
    bar?.clear();
    throw commandError(error, flags);
  }
  bar?.finish(last);
  // The summary line follows a bar or log lines; a JSON progress stream stays JSON only.
  const shown = bar !== undefined && flags.progress !== "json" && (last?.filesTotal ?? 0) > 0;
  return { summary, bar: shown };
}

/**
 * The progress display the flags and the terminal call for: a bar on a
 * terminal (not with --json, -q or a dry run), lines or JSON with --progress.
 */
function progressBar(flags: TransferFlags): ProgressBar | undefined {
  const terminal = Deno.stderr.isTerminal();
  // A log has no width to keep to: lines get room for the file's name.
  const columns = () => terminal ? terminalColumns() : 120;
  if (flags.progress === "json") return new ProgressBar(Deno.stderr, columns, "json");
  if (flags.progress === "lines") {
    return new ProgressBar(Deno.stderr, columns, terminal ? "bar" : "lines");
  }
  if (flags.quiet || flags.json || flags.dryRun || !terminal) return undefined;
  return new ProgressBar(Deno.stderr, columns, "bar");
}

/**
 * The library's errors in the command line's words: a folder named without
 * -r is a usage mistake (exit 2) for send and get alike, and a stall names
 * the flag that sets its limit.
 */
export function commandError(error: unknown, flags: { recursive: boolean }): unknown {
  if (!flags.recursive && needsRecursive(error)) {
    const path = (error as FerryError).path ?? "";
    return new UsageError(`"${printable(path || "/")}" is a folder: use -r to copy it`);
  }
  if (error instanceof FerryError && error.cause instanceof Deno.errors.TimedOut) {
    return withHint(error, error.code, "see --timeout");
  }
  return error;
}

/**
 * What -v, -vv and a dry run print per file: "+ NAME" copied, "- NAME"
 * deleted, "= NAME" skipped (-vv, or a dry run with -v), on stdout; with
 * --json one object per line. Undefined when nothing is printed per file.
 */
function changePrinter(
  flags: TransferFlags,
  beforeLine: () => void,
): ((change: TransferChange) => void) | undefined {
  const level = flags.dryRun ? flags.verbose + 1 : flags.verbose;
  if (level === 0 || flags.quiet) return undefined;
  const show = shownName();
  const marks = { copy: "+", delete: "-", skip: "=" } as const;
  return (change) => {
    if (change.action === "skip" && level < 2) return;
    beforeLine();
    printOut(
      flags.json ? JSON.stringify(change) : `${marks[change.action]} ${show(change.path)}`,
    );
  };
}

/** A summary as --json prints it. */
export function summaryJson(
  summary: TransferSummary,
  flags: { dryRun: boolean },
): Record<string, unknown> {
  const { files, bytes, transferred, skipped, deleted, deletedPaths, errors, seconds } = summary;
  const failures = summary.failures.map((f) => ({
    code: f.code,
    message: f.message,
    ...(f.path === undefined ? {} : { path: f.path }),
  }));
  return {
    files,
    bytes,
    transferred,
    skipped,
    deleted,
    deletedPaths,
    errors,
    seconds: Number(seconds.toFixed(3)),
    failures,
    ...(flags.dryRun ? { dryRun: true } : {}),
  };
}

/**
 * Prints each file's failure on stderr and, with `line`, the one-line
 * summary; `thrown` (printed by main as the exit's error), or the one file error it
 * stands for (its cause), is not printed twice.
 */
export function printSummary(
  verb: string,
  summary: TransferSummary,
  thrown: FerryError | undefined,
  line: boolean,
  flags: { dryRun: boolean },
): void {
  for (const failure of summary.failures) {
    if (failure !== thrown && failure !== thrown?.cause) {
      printErr(`ferry: ${printable(failure.message)}`);
    }
  }
  if (line && flags.dryRun) {
    printErr(
      `Dry run: would copy ${files(summary.files)} (${
        formatBytes(summary.bytes)
      }), skip ${summary.skipped}, delete ${summary.deleted}; nothing was changed`,
    );
  } else if (line) {
    printErr(
      `${verb} ${files(summary.files)}, ${formatBytes(summary.bytes)} in ${
        formatDuration(summary.seconds)
      }` +
        (summary.skipped > 0 ? ` (${summary.skipped} skipped)` : ""),
    );
  }
}

/** "1 file", "3 files". */
function files(count: number): string {
  return `${count} ${count === 1 ? "file" : "files"}`;
}
