/**
 * `ferry send [-r] SRC... DEST`: local files and folders to a server.
 *
 * @module
 */

import { parseRemote, type RemoteAddress } from "../lib/config/address.ts";
import { UsageError } from "./_usage.ts";
import { startProducer } from "./_producer.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { parseFlags } from "./_args.ts";
import { resolveTargets } from "./_connect.ts";
import {
  type CommandTransfer,
  progressArgs,
  runTransfer,
  TRANSFER_FLAGS,
  TRANSFER_FLAGS_HELP,
  type TransferFlags,
  transferFlags,
} from "./_transfer.ts";
import { printable } from "../lib/text.ts";
import type { FerryClient, TransferSummary } from "../mod.ts";

export const HELP = `Usage: ferry send [-r] SRC... DEST
       ferry send --from-command CMD DEST

Sends local files and folders to a ferry server. DEST is a remote folder
(sources go inside it), or a file name when there is one source file and DEST
does not end in "/". Each file is verified by the server before it replaces
anything; modification times and permission bits are kept.

DEST is ferry://HOST[:PORT]/PATH, HOST:PATH or [IPV6]:PATH. PATH is relative
to the server's root folder.

SRC "-" is standard input, stored as one file named by DEST.

Options:
${TRANSFER_FLAGS_HELP}
      --from-command CMD Run CMD with sh -c and store its output as DEST, only
                         if it exits 0 (otherwise exit 8, nothing replaced)

Examples:
  ferry send backup.tar pi:nightly/
  ferry send -r ./photos ferry://pi.local:7717/photos
  ferry send --from-command "pg_dump shop" pi:backups/shop.sql`;

/** Parsed `send` arguments. */
export interface SendOptions extends TransferFlags {
  sources: string[];
  dest: RemoteAddress;
  /** A command whose output is stored as `dest` if it exits 0, instead of sources. */
  fromCommand: string | undefined;
}

export function parseSendArgs(argv: string[]): SendOptions | "help" {
  const { values, positionals, tokens } = parseFlags("send", progressArgs(argv), {
    ...TRANSFER_FLAGS,
    "from-command": { type: "string" },
  });
  if (values.help) return "help";
  const fromCommand = values["from-command"];
  if (fromCommand !== undefined && positionals.length !== 1) {
    throw new UsageError(
      `send --from-command takes the command and one destination, no sources (see "ferry send --help")`,
    );
  }
  if (fromCommand === undefined && positionals.length < 2) {
    throw new UsageError(
      `send needs at least one source and a destination (see "ferry send --help")`,
    );
  }
  const sources = positionals.slice(0, -1);
  const last = positionals.at(-1)!;
  const dest = parseRemote(last);
  if (dest === null) {
    throw new UsageError(
      `The destination "${last}" is not a remote address such as pi:path or ferry://host/path`,
    );
  }
  for (const source of sources) {
    if (parseRemote(source) !== null) {
      throw new UsageError(
        `"${source}" is remote: send takes local sources (use "ferry get" to fetch)`,
      );
    }
  }
  return {
    sources,
    dest,
    fromCommand,
    ...transferFlags(values, tokens),
  };
}

/** The source that means standard input. */
const STDIN = "-";

export async function send(options: SendOptions): Promise<void> {
  const fromStdin = options.sources.includes(STDIN);
  if (fromStdin && options.sources.length > 1) {
    throw new UsageError(`"-" (standard input) must be the only source`);
  }
  const oneStream = fromStdin || options.fromCommand !== undefined;
  const [dest] = await resolveTargets([options.dest]);
  await runTransfer(
    "Sent",
    dest!,
    options,
    (client, transfer) =>
      oneStream
        ? putStream(client, dest!.path, transfer, options.fromCommand)
        : client.send(options.sources, dest!.path, transfer),
  );
}

/**
 * Stores standard input, or the output of `command`, as one remote file of
 * unknown size. The server commits it only after the input ended normally
 * (and the command exited 0); an interrupted send stores nothing. Not
 * retried: the input cannot be read twice.
 */
async function putStream(
  client: FerryClient,
  path: string,
  transfer: CommandTransfer,
  command: string | undefined,
): Promise<TransferSummary> {
  const started = performance.now();
  if (transfer.dryRun) {
    // Nothing is read or run: what it would store is the one file named.
    transfer.onChange?.({ action: "copy", path });
    return { ...emptySummary(), files: 1 };
  }
  const producer = command === undefined ? undefined : startProducer(command);
  try {
    const file = await client.put(path, producer?.output ?? Deno.stdin.readable, {
      signal: transfer.signal,
      onProgress: transfer.onProgress,
      limitRate: transfer.limitRate,
      fsync: transfer.fsync,
      compress: transfer.compress,
    });
    return {
      ...emptySummary(),
      files: 1,
      bytes: file.size,
      transferred: file.size,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    if (error instanceof FerryError && error.code === ErrorCode.IsDirectory) {
      throw new UsageError(
        `${command === undefined ? "Standard input" : "--from-command"} needs a file name ` +
          `on the server, such as pi:db.sql, not the folder "${printable(path)}"`,
      );
    }
    throw error;
  } finally {
    await producer?.stop();
  }
}

function emptySummary(): TransferSummary {
  return {
    files: 0,
    bytes: 0,
    transferred: 0,
    skipped: 0,
    deleted: 0,
    deletedPaths: [],
    errors: 0,
    seconds: 0,
    failures: [],
  };
}
