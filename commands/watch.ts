/**
 * `ferry watch REMOTE_FOLDER LOCAL_FOLDER`: mirror a server folder as files
 * arrive in it, reconnecting (and catching up) until stopped.
 *
 * @module
 */

import { parseRemote, type RemoteAddress } from "../lib/config/address.ts";
import type { RemoteTarget } from "../lib/config/config.ts";
import { FerryError, isRetriableError, toFerryError } from "../lib/errors.ts";
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, parseFlags, parseFsync, remoteOpFlags } from "./_args.ts";
import { FILTER_FLAGS, FILTER_FLAGS_HELP, filterRules } from "./_filters.ts";
import { type ConnectFlags, connectTarget, resolveTargets } from "./_connect.ts";
import { baseEnvironment, runCommand, splitCommand } from "./_hooks.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { printErr, printOut } from "./_output.ts";
import { UsageError } from "./_usage.ts";
import { printable } from "../lib/text.ts";
import type { FsyncMode, WatchedFile } from "../mod.ts";

export const HELP = `Usage: ferry watch [options] REMOTE_FOLDER LOCAL_FOLDER

Mirrors a folder of the server into LOCAL_FOLDER as files arrive in it:
first catches up (like get -r --sync), then receives every file committed
under the folder, pushed by the server over this client's own connection (no
open port needed here). Each file lands as get lands it: verified, atomic,
mode and modification time kept. Reconnects with backoff when the connection
is lost, and catches up again. Ctrl-C or SIGTERM stops it (exit 0) after the
file in progress.

Options:
      --exec CMD         Run CMD after each received file, with FERRY_PATH
                         (the local file), FERRY_REMOTE_PATH, FERRY_SIZE and
                         FERRY_DIGEST in its environment (not through a shell
                         unless CMD is one, such as sh -c '...')
      --delete           Mirror removals: at each catch-up, remove local files
                         the server's folder no longer has, then each one
                         removed or moved away on the server as it happens
      --fsync MODE       When a received file counts as done (each, batch,
                         none; default each)
${FILTER_FLAGS_HELP.replaceAll("each source folder", "the watched folder")}
${
  CLIENT_FLAGS_HELP.replace(
    "Print a JSON summary on stdout",
    "Print one JSON line per received file",
  )
}

Examples:
  ferry watch pi:outbox ~/inbox
  ferry watch --name laptop --exec "notify-send ferry" pi:camera ~/Pictures/pi`;

/** Parsed `watch` arguments. */
export interface WatchCommandOptions extends ConnectFlags {
  remote: RemoteAddress;
  local: string;
  exec: string[] | undefined;
  delete: boolean;
  fsync: FsyncMode | undefined;
  json: boolean;
  quiet: boolean;
  /** Include and exclude rules, in order. */
  filter: string[] | undefined;
}

export function parseWatchArgs(argv: string[]): WatchCommandOptions | "help" {
  const { values, positionals, tokens } = parseFlags("watch", argv, {
    ...CLIENT_FLAGS,
    ...FILTER_FLAGS,
    exec: { type: "string" },
    delete: { type: "boolean" },
    fsync: { type: "string" },
  });
  if (values.help) return "help";
  if (positionals.length !== 2) {
    throw new UsageError(
      `watch takes a remote folder and a local one (see "ferry watch --help")`,
    );
  }
  const remote = parseRemote(positionals[0]!);
  if (remote === null) {
    throw new UsageError(
      `"${positionals[0]}" is not a remote address such as pi:outbox or ferry://host/outbox`,
    );
  }
  if (parseRemote(positionals[1]!) !== null) {
    throw new UsageError(`"${positionals[1]}" is remote: watch writes into a local folder`);
  }
  const { retries: _, ...connection } = remoteOpFlags(values);
  return {
    remote,
    local: positionals[1]!,
    exec: values.exec === undefined ? undefined : splitCommand(values.exec, "--exec"),
    delete: values.delete ?? false,
    fsync: parseFsync(values.fsync, "--fsync"),
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    filter: filterRules(tokens),
    ...connection,
  };
}

const MAX_BACKOFF_SECONDS = 30;
// --exec runs this long at most.
const EXEC_TIMEOUT_MS = 3_600_000;

export async function watch(options: WatchCommandOptions): Promise<void> {
  const [target] = await resolveTargets([options.remote]);
  const stop = new AbortController();
  const stopping = () => stop.abort();
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stopping);
  try {
    for (let failures = 0; !stop.signal.aborted;) {
      try {
        await watchOnce(target!, options, stop.signal, () => failures = 0);
      } catch (error) {
        if (stop.signal.aborted) break;
        if (!isRetriableError(error)) throw error;
        const delay = Math.min(MAX_BACKOFF_SECONDS, 2 ** failures++);
        const message = error instanceof FerryError ? error.message : String(error);
        if (!options.quiet) printErr(`ferry: ${printable(message)}; reconnecting in ${delay} s`);
        await sleep(delay * 1000, undefined, { signal: stop.signal }).catch(() => {});
      }
    }
  } finally {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, stopping);
    }
  }
}

/** One connection's watch; `connected` is told once it is up (the backoff starts over). */
async function watchOnce(
  target: RemoteTarget,
  options: WatchCommandOptions,
  signal: AbortSignal,
  connected: () => void,
): Promise<void> {
  // A quiet folder gets a heartbeat every 5 s: the stall timeout must be longer.
  const timeoutSeconds = options.timeoutSeconds === undefined
    ? undefined
    : Math.max(options.timeoutSeconds, 15);
  await using client = await connectTarget(target, { ...options, timeoutSeconds });
  connected();
  const files = client.watch(target.path, options.local, {
    signal,
    delete: options.delete,
    fsync: options.fsync,
    filter: options.filter,
    onError: (error) => printErr(`ferry: ${printable(error.message)}`),
  });
  for await (const file of files) {
    report(file, options);
    if (options.exec !== undefined) await exec(file, options.exec);
  }
}

function report(file: WatchedFile, options: WatchCommandOptions): void {
  if (options.json) {
    printOut(JSON.stringify({
      path: file.path,
      remotePath: file.remotePath,
      size: file.size,
      digest: file.digest,
    }));
  } else if (!options.quiet) {
    printOut(`${printable(file.remotePath)} -> ${printable(file.path)} (${file.size} B)`);
  }
}

async function exec(file: WatchedFile, argv: string[]): Promise<void> {
  const env = {
    ...baseEnvironment(),
    FERRY_PATH: file.path,
    FERRY_REMOTE_PATH: file.remotePath,
    FERRY_SIZE: String(file.size),
    FERRY_DIGEST: file.digest,
  };
  try {
    const run = await runCommand(argv, env, EXEC_TIMEOUT_MS, true);
    if (run.code !== 0) printErr(`ferry: --exec for "${printable(file.path)}": ${run.reason}`);
  } catch (error) {
    printErr(`ferry: ${toFerryError(error, "run --exec for", file.path).message}`);
  }
}
