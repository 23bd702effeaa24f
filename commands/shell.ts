/**
 * `ferry shell HOST[:FOLDER]`: an interactive session on one connection, as
 * sftp gives: a prompt with line editing and completion on a terminal, or a
 * batch of commands from a file or a pipe.
 *
 * @module
 */

import { parseRemote, type RemoteAddress } from "../lib/config/address.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { parseFlags, REMOTE_OP_FLAGS, REMOTE_OP_FLAGS_HELP, remoteOpFlags } from "./_args.ts";
import { type ConnectFlags, connectTarget, resolveTargets } from "./_connect.ts";
import { printErr, printOut, terminalColumns, writeOut } from "./_output.ts";
import { UsageError } from "./_usage.ts";
import { findCommand } from "./shell/commands.ts";
import { shellCompleter } from "./shell/completion.ts";
import { LineEditor, type Terminal } from "./shell/line_editor.ts";
import { remotePath } from "./shell/paths.ts";
import { ShellSession } from "./shell/session.ts";
import { splitWords } from "./shell/words.ts";
import { printable } from "../lib/text.ts";

export const HELP = `Usage: ferry shell [options] HOST[:FOLDER]
       ferry shell -b FILE [options] HOST[:FOLDER]

Opens one connection to a ferry server and takes commands, as sftp does: cd,
ls, get, put, mkdir, rm and mv on the server, lcd, lls and lmkdir here, pwd
and lpwd to see where you are. Type "help" in the shell for the list, and
"help COMMAND" for one. Remote ".." stops at the server's root, shown as "/".
Names with blanks are quoted as in a shell: get "my file.txt".

On a terminal, Tab completes commands and paths (remote ones are listed over
the connection), the up and down arrows recall earlier lines, Ctrl-C stops
the running command (a partly received file is removed) or clears the line,
and Ctrl-D or "exit" ends the session. A lost connection is reopened at the
next command, keeping both current folders.

Batch mode (-b FILE, or commands on a standard input that is not a terminal):
no prompt; each command is echoed to stderr before it runs, and the first one
that fails ends the shell with its exit code, unless its line starts with "-".

Options:
  -b, --batch FILE       Read commands from FILE ("-": standard input)
${
  REMOTE_OP_FLAGS_HELP.replace(
    "Print a JSON summary on stdout",
    "One JSON line per command on stdout",
  )
}

Examples:
  ferry shell pi
  ferry shell pi:photos/2026
  ferry shell -b nightly.txt pi:backups`;

/** Parsed `shell` arguments. */
export interface ShellOptions extends ConnectFlags {
  remote: RemoteAddress;
  /** The server as the prompt names it. */
  label: string;
  /** A batch file, "-" for standard input, or undefined for a terminal or a pipe. */
  batch: string | undefined;
  json: boolean;
  quiet: boolean;
}

export function parseShellArgs(argv: string[]): ShellOptions | "help" {
  const { values, positionals } = parseFlags("shell", argv, {
    ...REMOTE_OP_FLAGS,
    batch: { type: "string", short: "b" },
  });
  if (values.help) return "help";
  if (positionals.length !== 1) {
    throw new UsageError(
      `shell takes one server, such as pi or pi:photos (see "ferry shell --help")`,
    );
  }
  const argument = positionals[0]!;
  // A bare host name is the server's root (or the named host's folder).
  const remote = parseRemote(argument) ??
    (argument.includes("/") ? null : parseRemote(`${argument}:`));
  if (remote === null) {
    throw new UsageError(
      `"${argument}" is not a server such as pi, pi:folder or ferry://host:7717/folder`,
    );
  }
  const host = remote.host.includes(":") ? `[${remote.host}]` : remote.host;
  return {
    remote,
    label: remote.port === undefined ? host : `${host}:${remote.port}`,
    batch: values.batch,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    ...remoteOpFlags(values),
  };
}

export async function shell(options: ShellOptions): Promise<void> {
  const [target] = await resolveTargets([options.remote]);
  const script = options.batch === undefined || options.batch === "-"
    ? undefined
    : await Deno.readTextFile(options.batch).catch((error) => {
      throw new FerryError(
        ErrorCode.NotFound,
        `Cannot read the batch file "${options.batch}": ${error.message}`,
        { path: options.batch },
      );
    });
  const interactive = options.batch === undefined && Deno.stdin.isTerminal();
  await using client = await connectTarget(target!, options);
  const session = new ShellSession(
    options.label,
    client,
    remotePath("", target!.path),
    { json: options.json, quiet: options.quiet },
  );
  await session.requireFolder(session.home);
  session.afterCommand();
  using interrupts = new Interrupts(interactive);
  if (interactive) await interact(session, interrupts);
  else {
    await runBatch(
      session,
      interrupts,
      script === undefined ? inputLines(Deno.stdin.readable) : script.split("\n"),
    );
  }
}

/**
 * Ctrl-C (SIGINT) and SIGTERM while the shell runs. SIGINT stops the running
 * command; on a terminal the session goes on, in a batch it ends. SIGTERM
 * always ends the session.
 */
class Interrupts implements Disposable {
  #current: AbortController | undefined;
  #end = Promise.withResolvers<never>();
  #onInterrupt: () => void;
  #onTerminate: () => void;

  constructor(interactive: boolean) {
    const stop = () => {
      this.#current?.abort();
      this.#end.reject(new FerryError(ErrorCode.Aborted, "The shell was stopped"));
    };
    this.#onTerminate = stop;
    this.#onInterrupt = interactive ? () => this.#current?.abort() : stop;
    this.#end.promise.catch(() => {});
    Deno.addSignalListener("SIGINT", this.#onInterrupt);
    Deno.addSignalListener("SIGTERM", this.#onTerminate);
  }

  /** Rejects when the session must end; raced against waiting for input. */
  get ended(): Promise<never> {
    return this.#end.promise;
  }

  /** A signal for the next command. */
  start(): AbortSignal {
    this.#current = new AbortController();
    return this.#current.signal;
  }

  [Symbol.dispose](): void {
    Deno.removeSignalListener("SIGINT", this.#onInterrupt);
    Deno.removeSignalListener("SIGTERM", this.#onTerminate);
  }
}

/** Runs one command line's words; resolves with true when the session should end. */
async function runWords(
  session: ShellSession,
  interrupts: Interrupts,
  words: string[],
): Promise<boolean> {
  const { name, command } = findCommand(words[0]!);
  if (name === "exit") return true;
  if (command.remote) session.beforeRemote();
  const say = session.output.json ? () => {} : printOut;
  try {
    const result = await command.run(
      { session, signal: interrupts.start(), say },
      words.slice(1),
    );
    if (session.output.json) printOut(JSON.stringify({ command: name, ok: true, ...result }));
  } finally {
    session.afterCommand();
  }
  return false;
}

/** A failed command's message: a line on stderr, or with --json a result line on stdout. */
function printFailure(session: ShellSession, words: string[], error: unknown): void {
  const failure = error instanceof FerryError
    ? error
    : new FerryError(ErrorCode.Internal, `Unexpected error: ${String(error)}`);
  if (session.output.json) {
    printOut(JSON.stringify({
      command: words[0] ?? "",
      ok: false,
      code: failure.code,
      message: failure.message,
    }));
  } else {
    printErr(`ferry: ${printable(failure.message)}`);
  }
}

/** The prompt loop on a terminal: failures are printed and the session goes on. */
async function interact(session: ShellSession, interrupts: Interrupts): Promise<void> {
  const editor = new LineEditor(TERMINAL, shellCompleter(session));
  try {
    for (;;) {
      const line = await Promise.race([editor.read(session.prompt()), interrupts.ended]);
      if (line === null) return;
      let words: string[] = [];
      try {
        words = splitWords(line);
        if (words.length > 0 && await runWords(session, interrupts, words)) return;
      } catch (error) {
        printFailure(session, words, error);
      }
    }
  } finally {
    // A SIGTERM may end the session while the line editor holds the terminal raw.
    TERMINAL.setRaw(false);
  }
}

/**
 * Runs commands from a file or a pipe, each echoed to stderr. The first
 * failure ends the batch and is thrown (main prints it and picks the exit
 * code), unless its line starts with "-".
 */
async function runBatch(
  session: ShellSession,
  interrupts: Interrupts,
  lines: AsyncIterable<string> | Iterable<string>,
): Promise<void> {
  const iterator =
    (Symbol.asyncIterator in lines ? lines[Symbol.asyncIterator]() : lines[Symbol.iterator]()) as
      | AsyncIterator<string>
      | Iterator<string>;
  for (;;) {
    const next = await Promise.race([iterator.next(), interrupts.ended]);
    if (next.done) return;
    const trimmed = next.value.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const tolerant = trimmed.startsWith("-");
    const line = tolerant ? trimmed.slice(1).trimStart() : trimmed;
    printErr(`ferry> ${printable(line)}`);
    let words: string[] = [];
    try {
      words = splitWords(line);
      if (words.length > 0 && await runWords(session, interrupts, words)) return;
    } catch (error) {
      if (!tolerant) {
        // main prints the message; with --json the result line comes first.
        if (session.output.json) printFailure(session, words, error);
        throw error;
      }
      printFailure(session, words, error);
    }
  }
}

/** The lines of a stream as they arrive. */
async function* inputLines(readable: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const text of readable.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
    }
  }
  if (pending !== "") yield pending;
}

/** The controlling terminal, as the line editor uses it. */
const TERMINAL: Terminal = {
  setRaw: (raw) => {
    try {
      Deno.stdin.setRaw(raw);
    } catch { /* not a terminal any more */ }
  },
  read: (buffer) => Deno.stdin.read(buffer),
  write: writeOut,
  columns: () => terminalColumns(),
};
