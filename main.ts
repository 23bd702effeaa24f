/**
 * The ferry command line: parses the subcommand, runs it, and maps any error
 * to a message on stderr and an exit code. The only place that exits.
 *
 * @module
 */

import { UsageError } from "./commands/_usage.ts";
import denoJson from "./deno.json" with { type: "json" };
import { FerryError } from "./lib/errors.ts";
import { exitCodeFor } from "./commands/exit_codes.ts";
import { printErr, printOut } from "./commands/_output.ts";
import * as completionsCommand from "./commands/completions.ts";
import * as getCommand from "./commands/get.ts";
import * as lsCommand from "./commands/ls.ts";
import * as mkdirCommand from "./commands/mkdir.ts";
import * as mvCommand from "./commands/mv.ts";
import * as rmCommand from "./commands/rm.ts";
import * as sendCommand from "./commands/send.ts";
import * as serveCommand from "./commands/serve.ts";
import * as shellCommand from "./commands/shell.ts";
import * as watchCommand from "./commands/watch.ts";
import { printable } from "./lib/text.ts";

export const VERSION: string = denoJson.version;

interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<void>;
}

function command<T>(
  summary: string,
  help: string,
  parse: (argv: string[]) => T | "help",
  run: (options: T) => Promise<void>,
): Command {
  return {
    summary,
    help,
    run: async (argv) => {
      const options = parse(argv);
      if (options === "help") return printOut(help);
      await run(options);
    },
  };
}

const COMMANDS: Record<string, Command> = {
  serve: command(
    "Serve a folder to ferry clients",
    serveCommand.HELP,
    serveCommand.parseServeArgs,
    serveCommand.serve,
  ),
  send: command(
    "Send local files and folders to a server",
    sendCommand.HELP,
    sendCommand.parseSendArgs,
    sendCommand.send,
  ),
  get: command(
    "Get files and folders from a server",
    getCommand.HELP,
    getCommand.parseGetArgs,
    getCommand.get,
  ),
  ls: command(
    "List remote files and folders",
    lsCommand.HELP,
    lsCommand.parseLsArgs,
    lsCommand.ls,
  ),
  mkdir: command(
    "Make remote folders",
    mkdirCommand.HELP,
    mkdirCommand.parseMkdirArgs,
    mkdirCommand.mkdir,
  ),
  rm: command(
    "Remove remote files and folders",
    rmCommand.HELP,
    rmCommand.parseRmArgs,
    rmCommand.rm,
  ),
  mv: command(
    "Rename or move within a server",
    mvCommand.HELP,
    mvCommand.parseMvArgs,
    mvCommand.mv,
  ),
  shell: command(
    "Open an interactive session on a server, as sftp does",
    shellCommand.HELP,
    shellCommand.parseShellArgs,
    shellCommand.shell,
  ),
  watch: command(
    "Mirror a server folder as files arrive in it",
    watchCommand.HELP,
    watchCommand.parseWatchArgs,
    watchCommand.watch,
  ),
  completions: command(
    "Print a shell completion script",
    completionsCommand.HELP,
    completionsCommand.parseCompletionsArgs,
    ({ shell }) => Promise.resolve(completionsCommand.printCompletions(shell, completed())),
  ),
};

/** Every command with the flags its help documents, for the completion scripts. */
function completed(): completionsCommand.CompletedCommand[] {
  return Object.entries(COMMANDS).map(([name, c]) => ({
    name,
    summary: c.summary,
    flags: completionsCommand.flagsFromHelp(c.help),
  }));
}

const USAGE = `ferry ${VERSION}: move files between machines you own

Usage: ferry COMMAND [options] [arguments]

Commands:
${commandList()}

Run "ferry COMMAND --help" for a command's options.
Exit codes and the security model are described in the README.`;

/** One line per command, the summaries lined up after the longest name. */
function commandList(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  return Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`)
    .join("\n");
}

/** Runs ferry with `args` and returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === "--version" || name === "-V") {
    printOut(`ferry ${VERSION}`);
    return 0;
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    printOut(USAGE);
    return name === undefined ? 2 : 0;
  }
  try {
    const selected = COMMANDS[name];
    if (selected === undefined) {
      throw new UsageError(`Unknown command "${name}" (see "ferry --help")`);
    }
    await selected.run(rest);
    return 0;
  } catch (error) {
    report(error, rest.includes("--json"));
    return exitCodeFor(error);
  }
}

function report(error: unknown, json: boolean): void {
  const code = error instanceof FerryError ? error.code : "internal";
  const message = error instanceof FerryError
    ? error.message
    : `Unexpected error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`;
  if (json) printErr(JSON.stringify({ code, message }));
  else printErr(`ferry: ${printable(message)}`);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
