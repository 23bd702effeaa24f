/**
 * `ferry get [-r] SRC... [DEST]`: remote files and folders to a local folder.
 *
 * @module
 */

import { parseRemote, type RemoteAddress } from "../lib/config/address.ts";
import { UsageError } from "../lib/errors.ts";
import { parseFlags } from "./_args.ts";
import { oneServer, resolveTargets } from "./_connect.ts";
import {
  runTransfer,
  TRANSFER_FLAGS,
  TRANSFER_FLAGS_HELP,
  type TransferFlags,
  transferFlags,
} from "./_transfer.ts";

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
  const { values, positionals } = parseFlags("get", argv, TRANSFER_FLAGS);
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
    ...transferFlags(values),
  };
}

export async function get(options: GetOptions): Promise<void> {
  const targets = await resolveTargets(options.sources);
  await runTransfer(
    "Got",
    oneServer(targets, "get"),
    options,
    (client, transfer) => client.get(targets.map((t) => t.path), options.dest, transfer),
  );
}
