/**
 * `ferry get [-r] SRC... [DEST]`: remote files and folders to a local folder.
 *
 * @module
 */

import { parseRemote, type RemoteAddress } from "../lib/config/address.ts";
import { UsageError } from "./_usage.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { parseFlags } from "./_args.ts";
import { oneServer, resolveTargets } from "./_connect.ts";
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

export const HELP = `Usage: ferry get [-r] SRC... [DEST]

Gets files and folders from a ferry server into DEST (default: the current
folder). Each file is written to a temporary name, verified, and only then
renamed into place; names sent by the server are checked, and nothing is
written outside DEST. All sources must be on the same server.

SRC is ferry://HOST[:PORT]/PATH, HOST:PATH or [IPV6]:PATH.

Options:
${TRANSFER_FLAGS_HELP}

Examples:
  ferry get pi:logs/app.log
  ferry get -r pi:photos ~/Pictures/`;

/** Parsed `get` arguments. */
export interface GetOptions extends TransferFlags {
  sources: RemoteAddress[];
  dest: string;
}

export function parseGetArgs(argv: string[]): GetOptions | "help" {
  const { values, positionals, tokens } = parseFlags("get", progressArgs(argv), TRANSFER_FLAGS);
  if (values.help) return "help";
  if (positionals.length === 0) {
    throw new UsageError(`get needs at least one source (see "ferry get --help")`);
  }
  const lastIsRemote = parseRemote(positionals.at(-1)!) !== null;
  const dest = positionals.length > 1 && !lastIsRemote ? positionals.at(-1)! : ".";
  const sources = positionals.length > 1 && !lastIsRemote ? positionals.slice(0, -1) : positionals;
  const remotes = sources.map((source) => {
    const remote = parseRemote(source);
    if (remote === null) {
      throw new UsageError(
        `"${source}" is not a remote address such as pi:path (get fetches from a server)`,
      );
    }
    return remote;
  });
  return {
    sources: remotes,
    dest,
    ...transferFlags(values, tokens),
  };
}

/** The destination that means standard output. */
const STDOUT = "-";

export async function get(options: GetOptions): Promise<void> {
  const targets = await resolveTargets(options.sources);
  if (options.dest === STDOUT && targets.length !== 1) {
    throw new UsageError(`Only one file can go to standard output`);
  }
  await runTransfer(
    "Got",
    oneServer(targets, "get"),
    options,
    (client, transfer) =>
      options.dest === STDOUT
        ? getToStdout(client, targets[0]!.path, transfer)
        : client.get(targets.map((t) => t.path), options.dest, transfer),
  );
}

/**
 * Writes one remote file to standard output as it arrives. The digest is
 * checked at the end: a mismatch fails with digest_mismatch (exit 7), so a
 * pipeline can tell, though the bytes were already written.
 */
async function getToStdout(
  client: FerryClient,
  source: string,
  transfer: CommandTransfer,
): Promise<TransferSummary> {
  return await client.getInto(source, Deno.stdout.writable, transfer).catch((error) => {
    // The server's "ask for it recursively" is beside the point here, -r or not.
    if (!(error instanceof FerryError && error.code === ErrorCode.IsDirectory)) throw error;
    throw new FerryError(
      ErrorCode.IsDirectory,
      `"${printable(source)}" is a folder: only one file can go to standard output`,
      { path: source },
    );
  });
}
