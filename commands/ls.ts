/**
 * `ferry ls [-l] [-R] [-h] [--json] REMOTE`: what is on the server.
 *
 * @module
 */

import { UsageError } from "./_usage.ts";
import { parseRemote, type RemoteAddress } from "../lib/config/address.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { formatBytes } from "./progress_bar.ts";
import { parseFlags, REMOTE_OP_FLAGS, REMOTE_OP_FLAGS_HELP, remoteOpFlags } from "./_args.ts";
import { type ConnectFlags, resolveTargets, withClient } from "./_connect.ts";
import { OutputLines, printErr, shownName } from "./_output.ts";
import { printable } from "../lib/text.ts";
import { splitRemotePath } from "../lib/remote_path.ts";
import type { RemoteEntry } from "../mod.ts";

export const HELP = `Usage: ferry ls [-l] [-R] [-h] [--json] REMOTE

Lists a remote folder, sorted by name, or shows one remote file. Symlinks are
shown as links, never followed.

Options:
  -l, --long             Type and permissions, size, modification time, name
  -R, --recursive        List subfolders too; names are paths below REMOTE
  -h, --human-readable   Sizes such as 1.5 MiB (with -l)
      --json             One JSON object per entry per line: name, path
                         (from the server root), type, size, mtime (ms), mode
${
  REMOTE_OP_FLAGS_HELP.replace("-h, --help", "    --help")
    // --json is ls's own above: one object per entry, not a summary.
    .split("\n").filter((line) => !line.includes("--json")).join("\n")
}

Examples:
  ferry ls -l pi:backups
  ferry ls -R --json pi: | jq -r 'select(.type == "file") | .path'`;

/** Parsed `ls` arguments. */
export interface LsOptions extends ConnectFlags {
  remote: RemoteAddress;
  long: boolean;
  recursive: boolean;
  human: boolean;
  json: boolean;
}

export function parseLsArgs(argv: string[]): LsOptions | "help" {
  const { values, positionals } = parseFlags("ls", argv, {
    ...REMOTE_OP_FLAGS,
    help: { type: "boolean" },
    long: { type: "boolean", short: "l" },
    recursive: { type: "boolean", short: "R" },
    "human-readable": { type: "boolean", short: "h" },
  });
  if (values.help) return "help";
  if (positionals.length !== 1) {
    throw new UsageError(`ls takes one remote path, such as pi:backups (see "ferry ls --help")`);
  }
  const remote = parseRemote(positionals[0]!);
  if (remote === null) {
    throw new UsageError(
      `"${positionals[0]}" is not a remote address such as pi:path or ferry://host/path`,
    );
  }
  return {
    remote,
    long: values.long ?? false,
    recursive: values.recursive ?? false,
    human: values["human-readable"] ?? false,
    json: values.json ?? false,
    ...remoteOpFlags(values),
  };
}

export async function ls(options: LsOptions): Promise<void> {
  const [target] = await resolveTargets([options.remote]);
  const out = new OutputLines();
  const show = shownName();
  let unreadable = 0;
  const onNotice = (error: FerryError) => {
    out.flush();
    unreadable++;
    printErr(
      options.json
        ? JSON.stringify({ code: error.code, message: error.message })
        : `ferry: ${printable(error.message)}`,
    );
  };
  const base = splitRemotePath(target!.path).join("/");
  await withClient(target!, options, async (client) => {
    for await (
      const entry of client.list(target!.path, { recursive: options.recursive, onNotice })
    ) {
      out.add(options.json ? JSON.stringify(entry) : formatEntry(entry, base, options, show));
    }
  }).finally(() => out.flush());
  if (unreadable > 0) {
    throw new FerryError(
      ErrorCode.Partial,
      `${unreadable} ${unreadable === 1 ? "entry" : "entries"} could not be listed`,
    );
  }
}

/**
 * One entry as ls shows it: its name (with -R, its path below the listed
 * folder `base`; a listed file shows its own name), or -l's long line.
 */
export function formatEntry(
  entry: RemoteEntry,
  base: string,
  options: { long: boolean; recursive: boolean; human: boolean },
  show: (name: string) => string,
): string {
  const relative = entry.path === base
    ? entry.name
    : base === ""
    ? entry.path
    : entry.path.slice(base.length + 1);
  if (options.long) return formatLong(entry, show(relative), options.human);
  return show(options.recursive ? relative : entry.name);
}

const TYPE_CHARS: Record<RemoteEntry["type"], string> = {
  file: "-",
  dir: "d",
  symlink: "l",
  other: "?",
};

/** "drwxr-xr-x  4096  2026-11-21 10:02  name", as ls -l shows it. */
export function formatLong(entry: RemoteEntry, name: string, human: boolean): string {
  const size = human ? formatBytes(entry.size) : String(entry.size);
  return `${TYPE_CHARS[entry.type]}${modeString(entry.mode)}  ${size.padStart(human ? 9 : 12)}  ${
    formatTime(entry.mtime)
  }  ${name}`;
}

/** 0o754 as "rwxr-xr--", with setuid, setgid and sticky bits as s/S and t/T. */
export function modeString(mode: number): string {
  let text = "";
  for (let shift = 6; shift >= 0; shift -= 3) {
    const bits = (mode >> shift) & 7;
    text += (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (bits & 1 ? "x" : "-");
  }
  const special = (index: number, on: boolean, letter: string) => {
    if (!on) return;
    const x = text[index] === "x";
    text = text.slice(0, index) + (x ? letter : letter.toUpperCase()) + text.slice(index + 1);
  };
  special(2, (mode & 0o4000) !== 0, "s");
  special(5, (mode & 0o2000) !== 0, "s");
  special(8, (mode & 0o1000) !== 0, "t");
  return text;
}

function formatTime(ms: number): string {
  const date = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${
    two(date.getHours())
  }:${two(date.getMinutes())}`;
}
