/**
 * `ferry mkdir [-p] REMOTE...`: make folders on the server.
 *
 * @module
 */

import type { RemoteAddress } from "../lib/config/address.ts";
import { ErrorCode } from "../lib/errors.ts";
import { withHint } from "./_hints.ts";
import { parseFlags, REMOTE_OP_FLAGS, REMOTE_OP_FLAGS_HELP, remoteOpFlags } from "./_args.ts";
import { type ConnectFlags, forEachTarget, remoteArguments, resolveTargets } from "./_connect.ts";
import { splitRemotePath } from "../lib/remote_path.ts";

export const HELP = `Usage: ferry mkdir [-p] REMOTE...

Makes folders on a ferry server. Without -p the parent must exist and the
folder must not; with -p missing parents are made too and an existing folder
is fine. All paths must be on one server.

Options:
  -p, --parents          Make parents as needed; no error if the folder exists
${REMOTE_OP_FLAGS_HELP}

Examples:
  ferry mkdir pi:photos
  ferry mkdir -p pi:backups/2026/11`;

/** Parsed `mkdir` arguments. */
export interface MkdirOptions extends ConnectFlags {
  paths: RemoteAddress[];
  parents: boolean;
  json: boolean;
}

export function parseMkdirArgs(argv: string[]): MkdirOptions | "help" {
  const { values, positionals } = parseFlags("mkdir", argv, {
    ...REMOTE_OP_FLAGS,
    parents: { type: "boolean", short: "p" },
  });
  if (values.help) return "help";
  return {
    paths: remoteArguments(positionals, "mkdir"),
    parents: values.parents ?? false,
    json: values.json ?? false,
    ...remoteOpFlags(values),
  };
}

export async function mkdir(options: MkdirOptions): Promise<void> {
  const targets = await resolveTargets(options.paths);
  const created: string[] = [];
  await forEachTarget(targets, "mkdir", options, async (client, target) => {
    await client.mkdir(target.path, { parents: options.parents }).catch((error) => {
      throw options.parents ? error : withHint(error, ErrorCode.NotFound, "use -p");
    });
    created.push(splitRemotePath(target.path).join("/"));
  }, () => ({ created }));
}
