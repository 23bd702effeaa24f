/**
 * `ferry rm [-r] [-f] REMOTE...`: remove files and folders on the server.
 *
 * @module
 */

import type { RemoteAddress } from "../lib/config/address.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { printOut, shownName } from "./_output.ts";
import { withHint } from "./_hints.ts";
import {
  dryRunField,
  parseFlags,
  REMOTE_OP_FLAGS,
  REMOTE_OP_FLAGS_HELP,
  remoteOpFlags,
} from "./_args.ts";
import { type ConnectFlags, forEachTarget, remoteArguments, resolveTargets } from "./_connect.ts";
import { printable } from "../lib/text.ts";
import { checkRemovable, splitRemotePath } from "../lib/remote_path.ts";
import type { FerryClient } from "../mod.ts";

export const HELP = `Usage: ferry rm [-r] [-f] REMOTE...

Removes files, symlinks and (with -r) folders on a ferry server. A symlink is
removed itself; what it points to is never touched, also inside a folder
removed with -r. The server's root folder can never be removed. A server
started with --read-only or --no-delete refuses. All paths must be on one
server.

Options:
  -r, --recursive        Remove folders and everything in them
  -f, --force            A path that does not exist is not an error
  -n, --dry-run          Print what would be removed (- NAME, with -r each
                         entry inside), remove nothing
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
  dryRun: boolean;
}

export function parseRmArgs(argv: string[]): RmOptions | "help" {
  const { values, positionals } = parseFlags("rm", argv, {
    ...REMOTE_OP_FLAGS,
    recursive: { type: "boolean", short: "r" },
    force: { type: "boolean", short: "f" },
    "dry-run": { type: "boolean", short: "n" },
  });
  if (values.help) return "help";
  return {
    paths: remoteArguments(positionals, "rm"),
    recursive: values.recursive ?? false,
    force: values.force ?? false,
    json: values.json ?? false,
    dryRun: values["dry-run"] ?? false,
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
    const found = options.dryRun
      ? await wouldRemove(client, target.path, options, removed)
      : await client.remove(target.path, {
        recursive: options.recursive,
        force: options.force,
      })
        .catch((error) => {
          throw options.recursive ? error : withHint(error, ErrorCode.IsDirectory, "use -r");
        });
    if (!options.dryRun || !found) {
      (found ? removed : missing).push(splitRemotePath(target.path).join("/"));
    }
  }, () => ({ removed, ...(options.force ? { missing } : {}), ...dryRunField(options) }));
}

/**
 * rm -n: what removing `path` would remove, printed as "- NAME" lines (with
 * -r, each entry inside too) and added to `removed`; the errors a real rm
 * would end with (missing without -f, a folder without -r) are thrown.
 */
async function wouldRemove(
  client: FerryClient,
  path: string,
  options: RmOptions,
  removed: string[],
): Promise<boolean> {
  const found = await client.stat(path);
  const shown = splitRemotePath(path).join("/");
  if (found === null) {
    if (options.force) return false;
    throw new FerryError(ErrorCode.NotFound, `Cannot find "${printable(shown)}" on the server`, {
      path,
    });
  }
  if (found.type === "dir" && !options.recursive) {
    throw new FerryError(ErrorCode.IsDirectory, `"${printable(shown)}" is a folder (use -r)`, {
      path,
    });
  }
  const show = shownName();
  const note = (name: string) => {
    removed.push(name);
    if (!options.json && !options.quiet) printOut(`- ${show(name)}`);
  };
  note(shown);
  if (found.type === "dir") {
    for await (const entry of client.list(path, { recursive: true })) note(entry.path);
  }
  return true;
}
