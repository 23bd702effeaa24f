/**
 * `ferry rm [-r] [-f] REMOTE...`: remove files and folders on the server.
 *
 * @module
 */

import { splitRemotePath } from "../lib/fs/safe_path.ts";
import type { RemoteAddress } from "../lib/config/address.ts";
import { ErrorCode } from "../lib/errors.ts";
import { withHint } from "./_hints.ts";
import { checkRemovable } from "../lib/client/remote_ops.ts";
import { parseFlags, REMOTE_OP_FLAGS, REMOTE_OP_FLAGS_HELP, remoteOpFlags } from "./_args.ts";
import { type ConnectFlags, forEachTarget, remoteArguments, resolveTargets } from "./_connect.ts";

export const HELP = `Usage: ferry rm [-r] [-f] REMOTE...

Removes files, symlinks and (with -r) folders on a ferry server. A symlink is
removed itself; what it points to is never touched, also inside a folder
removed with -r. The server's root folder can never be removed. A server
started with --read-only or --no-delete refuses. All paths must be on one
server.

Options:
  -r, --recursive        Remove folders and everything in them
  -f, --force            A path that does not exist is not an error
${REMOTE_OP_FLAGS_HELP}

Examples:
  ferry rm pi:old-backup.tar
  ferry rm -rf pi:backups/2025`;

/** Parsed `rm` arguments. */
export interface RmOptions extends ConnectFlags {
  paths: RemoteAddress[];
  recursive: boolean;
  force: boolean;
  json: boolean;
}

export function parseRmArgs(argv: string[]): RmOptions | "help" {
  const { values, positionals } = parseFlags("rm", argv, {
    ...REMOTE_OP_FLAGS,
    recursive: { type: "boolean", short: "r" },
    force: { type: "boolean", short: "f" },
  });
  if (values.help) return "help";
  return {
    paths: remoteArguments(positionals, "rm"),
    recursive: values.recursive ?? false,
    force: values.force ?? false,
    json: values.json ?? false,
    ...remoteOpFlags(values),
  };
}

export async function rm(options: RmOptions): Promise<void> {
  const targets = await resolveTargets(options.paths);
  // Checked on the path as typed, before the named host's folder is prefixed.
  targets.forEach((target, i) => checkRemovable(options.paths[i]!.path, target.folder));
  const removed: string[] = [];
  const missing: string[] = [];
  await forEachTarget(targets, "rm", options, async (client, target) => {
    const found = await client.remove(target.path, {
      recursive: options.recursive,
      force: options.force,
    })
      .catch((error) => {
        throw options.recursive ? error : withHint(error, ErrorCode.IsDirectory, "use -r");
      });
    (found ? removed : missing).push(splitRemotePath(target.path).join("/"));
  }, () => ({ removed, ...(options.force ? { missing } : {}) }));
}
