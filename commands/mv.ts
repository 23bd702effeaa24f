/**
 * `ferry mv REMOTE... DEST`: rename or move within one server.
 *
 * @module
 */

import type { RemoteAddress } from "../lib/config/address.ts";
import { UsageError } from "./_usage.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { printOut, shownName } from "./_output.ts";
import {
  dryRunField,
  parseFlags,
  REMOTE_OP_FLAGS,
  REMOTE_OP_FLAGS_HELP,
  remoteOpFlags,
} from "./_args.ts";
import {
  type ConnectFlags,
  forEachTarget,
  oneServer,
  remoteArguments,
  resolveTargets,
} from "./_connect.ts";
import { printable } from "../lib/text.ts";
import { splitRemotePath } from "../lib/remote_path.ts";

export const HELP = `Usage: ferry mv SRC... DEST

Renames a file or folder on a ferry server, or moves sources into the folder
DEST, as mv does. An existing file at the new name is replaced; a folder is
never replaced. Everything stays on one server: nothing is copied. A server
started with --read-only or --no-delete refuses.

Options:
  -n, --dry-run          Print what would move where (FROM -> TO), move nothing
${REMOTE_OP_FLAGS_HELP}

Examples:
  ferry mv pi:backups/latest.tar pi:backups/previous.tar
  ferry mv pi:a.txt pi:b.txt pi:archive/`;

/** Parsed `mv` arguments. */
export interface MvOptions extends ConnectFlags {
  sources: RemoteAddress[];
  dest: RemoteAddress;
  json: boolean;
  dryRun: boolean;
}

export function parseMvArgs(argv: string[]): MvOptions | "help" {
  const { values, positionals } = parseFlags("mv", argv, {
    ...REMOTE_OP_FLAGS,
    "dry-run": { type: "boolean", short: "n" },
  });
  if (values.help) return "help";
  if (positionals.length < 2) {
    throw new UsageError(`mv needs a source and a destination (see "ferry mv --help")`);
  }
  const remotes = remoteArguments(positionals, "mv");
  return {
    sources: remotes.slice(0, -1),
    dest: remotes.at(-1)!,
    json: values.json ?? false,
    dryRun: values["dry-run"] ?? false,
    ...remoteOpFlags(values),
  };
}

export async function mv(options: MvOptions): Promise<void> {
  const targets = await resolveTargets([...options.sources, options.dest]);
  const dest = targets.pop()!;
  oneServer([...targets, dest], "mv");
  const destParts = splitRemotePath(dest.path);
  // Into DEST when it is a folder (or there are several sources), else to the name DEST.
  let intoFolder: boolean | undefined = targets.length > 1 || dest.path.endsWith("/") || undefined;
  const moved: { from: string; to: string }[] = [];
  const show = shownName();
  await forEachTarget(targets, "mv", options, async (client, target) => {
    intoFolder ??= (await client.stat(dest.path))?.type === "dir";
    const name = splitRemotePath(target.path).at(-1);
    const to = intoFolder && name !== undefined
      ? [...destParts, name].join("/")
      : destParts.join("/");
    const from = splitRemotePath(target.path).join("/");
    if (options.dryRun) {
      // What a real mv would refuse first: a source that is not there.
      if (await client.stat(target.path) === null) {
        throw new FerryError(ErrorCode.NotFound, `Cannot find "${printable(from)}" on the server`, {
          path: target.path,
        });
      }
      if (!options.json && !options.quiet) printOut(`${show(from)} -> ${show(to)}`);
    } else {
      await client.rename(target.path, to);
    }
    moved.push({ from, to });
  }, () => ({ moved, ...dryRunField(options) }));
}
