/**
 * The shell's commands, with sftp's names: what each takes, what it does, and
 * what its arguments name (for completion). Each resolves with its result's
 * fields for --json and prints text through the context otherwise.
 *
 * @module
 */

import type { ParseArgsConfig } from "node:util";

import { UsageError } from "../_usage.ts";
import { parseFlags } from "../_args.ts";
import { withHint } from "../_hints.ts";
import { shownName } from "../_output.ts";
import { formatEntry, formatLong } from "../ls.ts";
import {
  printSummary,
  type ShownTransfer,
  summaryJson,
  TRANSFER_FLAGS,
  type TransferFlags,
  transferFlags,
  transferWith,
} from "../_transfer.ts";
import { ErrorCode, FerryError, toFerryError } from "../../lib/errors.ts";
import { localPath, shownRemote } from "./paths.ts";
import type { ShellSession } from "./session.ts";
import { checkRemovable, joinRemotePath } from "../../lib/remote_path.ts";
import { printable } from "../../lib/text.ts";
import { type RemoteEntry, summaryError } from "../../mod.ts";

/** What a positional argument names, for completion. */
export type ArgumentKind = "remote" | "remote-folder" | "local" | "local-folder" | "command";

/** What a running command gets: its session, its cancellation, and where text goes. */
export interface ShellContext {
  session: ShellSession;
  /** Aborted by Ctrl-C (SIGINT) while the command runs. */
  signal: AbortSignal;
  /** Prints a line of text on stdout (nothing with --json). */
  say(line: string): void;
}

/** A command's result for --json, without its name and "ok". */
export type ShellResult = Record<string, unknown>;

export interface ShellCommand {
  /** The arguments, as help shows them. */
  usage: string;
  summary: string;
  /** More lines for "help NAME": the options. */
  details?: string;
  /** What each positional argument names; the last one repeats. */
  completes: ArgumentKind[];
  /** Whether it uses the connection (a lost one is reopened first, with a notice). */
  remote: boolean;
  run(context: ShellContext, args: string[]): Promise<ShellResult>;
}

/** Parses a command's flags; mistakes point to "help NAME". */
function flags<T extends NonNullable<ParseArgsConfig["options"]>>(
  name: string,
  args: string[],
  options: T,
) {
  return parseFlags(name, args, options, `"help ${name}"`);
}

/** Checks the number of positional arguments. */
function count(name: string, positionals: string[], min: number, max: number): void {
  if (positionals.length >= min && positionals.length <= max) return;
  throw new UsageError(`Usage: ${name} ${SHELL_COMMANDS[name]!.usage}`);
}

const LIST_FLAGS = {
  long: { type: "boolean", short: "l" },
  recursive: { type: "boolean", short: "R" },
  "human-readable": { type: "boolean", short: "h" },
} as const;

/** The options of send and get that make sense inside a session. */
const SHELL_TRANSFER_FLAGS = {
  recursive: TRANSFER_FLAGS.recursive,
  sync: TRANSFER_FLAGS.sync,
  checksum: TRANSFER_FLAGS.checksum,
  delete: TRANSFER_FLAGS.delete,
  jobs: TRANSFER_FLAGS.jobs,
  "limit-rate": TRANSFER_FLAGS["limit-rate"],
  fsync: TRANSFER_FLAGS.fsync,
  backup: TRANSFER_FLAGS.backup,
  "backup-dir": TRANSFER_FLAGS["backup-dir"],
  exclude: TRANSFER_FLAGS.exclude,
  include: TRANSFER_FLAGS.include,
  compress: TRANSFER_FLAGS.compress,
} as const;

const TRANSFER_DETAILS = `  -r                 Include folders and everything in them
  --sync             Skip files whose size and modification time match
  --checksum         Skip files whose contents match
  --delete           With --sync, remove what the source folder no longer has
  -j N               Use N connections at once
  --limit-rate RATE  Bytes per second, such as 500K or 10M
  --fsync MODE       each (default), batch or none, as for send and get
  --backup           Keep replaced and deleted files as NAME.~N~
  --backup-dir DIR   Keep them in DIR instead
  --exclude PATTERN  Leave out what matches (* within a name, ** across folders)
  --include PATTERN  Keep what matches, though a later --exclude would not
  -z                 Compress file data with zstd where it shrinks`;

/** The flags of a get or put in this session. */
function shellTransferFlags(session: ShellSession, name: string, args: string[]) {
  const { values, positionals, tokens } = flags(name, args, SHELL_TRANSFER_FLAGS);
  const parsed: TransferFlags = {
    ...transferFlags(values, tokens),
    json: session.output.json,
    quiet: session.output.quiet,
  };
  return { flags: parsed, positionals };
}

/** A finished transfer: text as send and get print it, or the JSON summary; a failure throws. */
function finished(verb: string, shown: ShownTransfer, flags: TransferFlags): ShellResult {
  const failure = summaryError(shown.summary);
  if (!flags.json) printSummary(verb, shown.summary, failure, !flags.quiet, flags);
  if (failure !== undefined) throw failure;
  return summaryJson(shown.summary, flags);
}

/** A local entry in the shape of a remote one, for ls -l's format. */
async function localEntry(path: string, name: string): Promise<RemoteEntry> {
  const info = await Deno.lstat(path);
  return {
    name,
    path,
    type: info.isFile ? "file" : info.isDirectory ? "dir" : info.isSymlink ? "symlink" : "other",
    size: info.size,
    mtime: info.mtime?.getTime() ?? 0,
    mode: (info.mode ?? 0) & 0o7777,
  };
}

export const SHELL_COMMANDS: Record<string, ShellCommand> = {
  pwd: {
    usage: "",
    summary: "Show the current remote folder",
    completes: [],
    remote: false,
    run({ session, say }, args) {
      count("pwd", args, 0, 0);
      const path = shownRemote(session.cwd);
      say(`Remote working directory: ${printable(path)}`);
      return Promise.resolve({ path });
    },
  },
  lpwd: {
    usage: "",
    summary: "Show the current local folder",
    completes: [],
    remote: false,
    run({ say }, args) {
      count("lpwd", args, 0, 0);
      const path = Deno.cwd();
      say(`Local working directory: ${printable(path)}`);
      return Promise.resolve({ path });
    },
  },
  cd: {
    usage: "[DIR]",
    summary: "Change the remote folder (no DIR: the folder the shell started in)",
    completes: ["remote-folder"],
    remote: true,
    async run({ session }, args) {
      count("cd", args, 0, 1);
      const path = args[0] === undefined ? session.home : session.resolve(args[0]);
      await session.requireFolder(path);
      session.cwd = path;
      return { path: shownRemote(path) };
    },
  },
  lcd: {
    usage: "[DIR]",
    summary: "Change the local folder (no DIR: your home folder)",
    completes: ["local-folder"],
    remote: false,
    run(_context, args) {
      count("lcd", args, 0, 1);
      const path = localPath(args[0] ?? "~");
      try {
        Deno.chdir(path);
      } catch (error) {
        throw toFerryError(error, "change to the local folder", path);
      }
      return Promise.resolve({ path: Deno.cwd() });
    },
  },
  ls: {
    usage: "[-l] [-R] [-h] [PATH]",
    summary: "List a remote folder",
    details: `  -l  Type and permissions, size, modification time, name
  -R  Subfolders too
  -h  Sizes such as 1.5 MiB (with -l)`,
    completes: ["remote"],
    remote: true,
    async run({ session, signal, say }, args) {
      const { values, positionals } = flags("ls", args, LIST_FLAGS);
      count("ls", positionals, 0, 1);
      const path = session.resolve(positionals[0] ?? "");
      const options = {
        long: values.long ?? false,
        recursive: values.recursive ?? false,
        human: values["human-readable"] ?? false,
      };
      const show = shownName();
      const entries: RemoteEntry[] = [];
      const unreadable: string[] = [];
      const onNotice = (error: FerryError) => unreadable.push(error.message);
      const listing = session.client.list(session.wire(path), {
        recursive: options.recursive,
        onNotice,
        signal,
      });
      for await (const entry of listing) {
        if (session.output.json) entries.push(entry);
        else say(formatEntry(entry, path, options, show));
      }
      if (unreadable.length > 0) {
        throw new FerryError(
          ErrorCode.Partial,
          `${unreadable.length} ${unreadable.length === 1 ? "entry" : "entries"} could not ` +
            `be listed: ${unreadable.join("; ")}`,
        );
      }
      return { path: shownRemote(path), entries };
    },
  },
  lls: {
    usage: "[-l] [-h] [PATH]",
    summary: "List a local folder",
    details: `  -l  Type and permissions, size, modification time, name
  -h  Sizes such as 1.5 MiB (with -l)`,
    completes: ["local"],
    remote: false,
    async run({ session, say }, args) {
      const { values, positionals } = flags("lls", args, {
        long: LIST_FLAGS.long,
        "human-readable": LIST_FLAGS["human-readable"],
      });
      count("lls", positionals, 0, 1);
      const path = localPath(positionals[0] ?? ".");
      const show = shownName();
      const entries: RemoteEntry[] = [];
      try {
        const top = await localEntry(path, path);
        if (top.type !== "dir") {
          entries.push(top);
        } else {
          const names: string[] = [];
          for await (const entry of Deno.readDir(path)) names.push(entry.name);
          names.sort();
          for (const name of names) entries.push(await localEntry(`${path}/${name}`, name));
        }
      } catch (error) {
        throw toFerryError(error, "list the local folder", path);
      }
      for (const entry of entries) {
        if (session.output.json) continue;
        say(
          values.long
            ? formatLong(entry, show(entry.name), values["human-readable"] ?? false)
            : show(entry.name),
        );
      }
      return { path, entries };
    },
  },
  mkdir: {
    usage: "[-p] DIR...",
    summary: "Make remote folders (-p: parents too, no error if it exists)",
    completes: ["remote"],
    remote: true,
    async run({ session }, args) {
      const { values, positionals } = flags("mkdir", args, {
        parents: { type: "boolean", short: "p" },
      });
      count("mkdir", positionals, 1, Infinity);
      const made: string[] = [];
      for (const typed of positionals) {
        const path = session.resolve(typed);
        await session.client.mkdir(session.wire(path), { parents: values.parents ?? false });
        made.push(shownRemote(path));
      }
      return { made };
    },
  },
  lmkdir: {
    usage: "[-p] DIR...",
    summary: "Make local folders (-p: parents too, no error if it exists)",
    completes: ["local"],
    remote: false,
    async run(_context, args) {
      const { values, positionals } = flags("lmkdir", args, {
        parents: { type: "boolean", short: "p" },
      });
      count("lmkdir", positionals, 1, Infinity);
      const made: string[] = [];
      for (const typed of positionals) {
        const path = localPath(typed);
        await Deno.mkdir(path, { recursive: values.parents ?? false }).catch((error) => {
          throw toFerryError(error, "create the local folder", path);
        });
        made.push(path);
      }
      return { made };
    },
  },
  get: {
    usage: "[-r] [options] REMOTE [LOCAL]",
    summary: "Get a remote file (-r: a folder) into the local folder or as LOCAL",
    details: TRANSFER_DETAILS,
    completes: ["remote", "local"],
    remote: true,
    async run({ session, signal }, args) {
      const { flags, positionals } = shellTransferFlags(session, "get", args);
      count("get", positionals, 1, 2);
      const remote = session.wire(session.resolve(positionals[0]!));
      const local = localPath(positionals[1] ?? ".");
      const shown = await transferWith(
        session.client,
        flags,
        signal,
        (client, transfer) => client.get([remote], local, transfer),
      );
      return finished("Got", shown, flags);
    },
  },
  put: {
    usage: "[-r] [options] LOCAL [REMOTE]",
    summary: "Send a local file (-r: a folder) into the remote folder or as REMOTE",
    details: TRANSFER_DETAILS,
    completes: ["local", "remote"],
    remote: true,
    async run({ session, signal }, args) {
      const { flags, positionals } = shellTransferFlags(session, "put", args);
      count("put", positionals, 1, 2);
      const local = localPath(positionals[0]!);
      const typed = positionals[1];
      const path = typed === undefined ? session.cwd : session.resolve(typed);
      // Into the folder when none was named or the name ends in "/", as send does
      // (the root, "/", is a folder already).
      const intoFolder = (typed === undefined || typed.endsWith("/")) && path !== "";
      const remote = session.wire(path) + (intoFolder ? "/" : "");
      const shown = await transferWith(
        session.client,
        flags,
        signal,
        (client, transfer) => client.send([local], remote, transfer),
      );
      return finished("Sent", shown, flags);
    },
  },
  rm: {
    usage: "[-r] [-f] PATH...",
    summary: "Remove remote files (-r: folders too; -f: no error if missing)",
    completes: ["remote"],
    remote: true,
    async run({ session }, args) {
      const { values, positionals } = flags("rm", args, {
        recursive: { type: "boolean", short: "r" },
        force: { type: "boolean", short: "f" },
      });
      count("rm", positionals, 1, Infinity);
      const recursive = values.recursive ?? false;
      const removed: string[] = [];
      const missing: string[] = [];
      for (const typed of positionals) {
        checkRemovable(typed, "");
        const path = session.resolve(typed);
        if (path === "") {
          throw new FerryError(
            ErrorCode.BadPath,
            `Refused to remove "${printable(typed)}": it is the server's root`,
          );
        }
        const found = await session.client.remove(session.wire(path), {
          recursive,
          force: values.force ?? false,
        }).catch((error) => {
          throw recursive ? error : withHint(error, ErrorCode.IsDirectory, "use rm -r");
        });
        (found ? removed : missing).push(shownRemote(path));
      }
      return { removed, missing };
    },
  },
  mv: {
    usage: "FROM TO",
    summary: "Rename or move a remote file or folder (into TO when it is a folder)",
    completes: ["remote"],
    remote: true,
    async run({ session }, args) {
      count("mv", args, 2, 2);
      const from = session.resolve(args[0]!);
      let to = session.resolve(args[1]!);
      const intoFolder = args[1]!.endsWith("/") || to === "" ||
        (await session.client.stat(session.wire(to)))?.type === "dir";
      const name = from.split("/").at(-1);
      if (intoFolder && name !== undefined && name !== "") to = joinRemotePath(to, name);
      await session.client.rename(session.wire(from), session.wire(to));
      return { from: shownRemote(from), to: shownRemote(to) };
    },
  },
  help: {
    usage: "[COMMAND]",
    summary: "List the commands, or show how to use one",
    completes: ["command"],
    remote: false,
    run({ say }, args) {
      count("help", args, 0, 1);
      const text = args[0] === undefined ? commandList() : commandHelp(args[0]);
      for (const line of text.split("\n")) say(line);
      return Promise.resolve({ text });
    },
  },
  exit: {
    usage: "",
    summary: "End the session (also quit, bye and Ctrl-D)",
    completes: [],
    remote: false,
    run: () => Promise.resolve({}),
  },
};

/** Other names for commands, as sftp has them. */
const ALIASES: Record<string, string> = { quit: "exit", bye: "exit", "?": "help", dir: "ls" };

/** The command named `name` (or an alias of it), and its canonical name. */
export function findCommand(name: string): { name: string; command: ShellCommand } {
  const canonical = ALIASES[name] ?? name;
  const command = Object.hasOwn(SHELL_COMMANDS, canonical) ? SHELL_COMMANDS[canonical] : undefined;
  if (command === undefined) {
    throw new UsageError(`Unknown command "${printable(name)}" (type "help" for the list)`);
  }
  return { name: canonical, command };
}

/** Every name a command line may start with, for completion. */
export function commandNames(): string[] {
  return [...Object.keys(SHELL_COMMANDS), ...Object.keys(ALIASES)].sort();
}

function commandList(): string {
  const width = Math.max(...Object.keys(SHELL_COMMANDS).map((name) => name.length)) + 2;
  return [
    ...Object.entries(SHELL_COMMANDS).map(([name, c]) => `${name.padEnd(width)}${c.summary}`),
    `Paths with blanks are quoted as in a shell: get "my file.txt". "help COMMAND" shows its options.`,
  ].join("\n");
}

function commandHelp(name: string): string {
  const found = findCommand(name);
  const { usage, summary, details } = found.command;
  return [`Usage: ${found.name}${usage ? ` ${usage}` : ""}`, summary, ...(details ? [details] : [])]
    .join("\n");
}
