/**
 * `serve --accept CMD` and `serve --on-receive CMD`: the library's
 * validate and onReceived hooks as programs (and `watch --exec CMD`, run
 * the same way). CMD is split into words as a
 * POSIX shell would ('…', "…" and \ quote; nothing is expanded) and run
 * directly, never through a shell unless CMD names one (`sh -c '…'`). The
 * program gets a minimal environment (PATH, HOME, LANG, TZ) and the file's
 * FERRY_* variables, never the token. It is killed when it overruns the
 * hook timeout.
 *
 * @module
 */

import { UsageError } from "./_usage.ts";
import type { ReceivedFile, ReceivedHandler, Validator } from "../mod.ts";

/** The variables of the environment a hook keeps (when set). */
const KEPT_VARIABLES = ["PATH", "HOME", "LANG", "TZ"];

/** The validator of `--accept CMD`: exit 0 accepts; otherwise the first line of stderr says why. */
export function commandValidator(command: string, timeoutMs: number): Validator {
  const argv = splitCommand(command, "--accept");
  return async (file) => {
    const run = await runCommand(argv, hookEnvironment(file, "FERRY_TEMP_PATH"), timeoutMs);
    return run.code === 0 || run.reason;
  };
}

/** The handler of `--on-receive CMD`: a failure (non-zero exit, timeout) is logged by the server. */
export function commandHandler(command: string, timeoutMs: number): ReceivedHandler {
  const argv = splitCommand(command, "--on-receive");
  return async (file) => {
    const run = await runCommand(argv, hookEnvironment(file, "FERRY_PATH"), timeoutMs);
    if (run.code !== 0) throw new Error(run.reason);
  };
}

/** The minimal environment a command of ferry's runs with: PATH, HOME, LANG, TZ. */
export function baseEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of KEPT_VARIABLES) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= "/usr/local/bin:/usr/bin:/bin";
  return env;
}

function hookEnvironment(file: ReceivedFile, pathVariable: string): Record<string, string> {
  const env = baseEnvironment();
  env[pathVariable] = file.localPath;
  env.FERRY_REL_PATH = file.path;
  env.FERRY_SIZE = String(file.size);
  env.FERRY_DIGEST = file.digest;
  env.FERRY_REMOTE = file.remote;
  env.FERRY_CLIENT_NAME = file.clientName ?? "";
  return env;
}

/** Runs a command directly (no shell); its exit code, and in words why it failed. */
export async function runCommand(
  argv: readonly string[],
  env: Record<string, string>,
  timeoutMs: number,
  passThrough = false,
): Promise<{ code: number; reason: string }> {
  const [program, ...args] = argv as [string, ...string[]];
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(program, {
      args,
      env,
      clearEnv: true,
      stdin: "null",
      // A hook's output goes to the server log through its reason; watch --exec's to the user.
      stdout: passThrough ? "inherit" : "null",
      stderr: passThrough ? "inherit" : "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { code: -1, reason: `cannot run "${program}": ${why}` };
  }
  if (output.signal !== null) {
    return { code: -1, reason: `"${program}" was stopped by ${output.signal} (hook timeout?)` };
  }
  const said = passThrough
    ? ""
    : new TextDecoder().decode(output.stderr).split("\n")[0]!.trim().slice(0, 200);
  return { code: output.code, reason: said || `"${program}" exited with status ${output.code}` };
}

/**
 * Splits a command line into words as a POSIX shell would: blanks separate
 * words; '…' keeps everything; "…" keeps everything but \" and \\; a \
 * outside quotes keeps the next character. Nothing is expanded.
 */
export function splitCommand(command: string, flag: string): string[] {
  const words: string[] = [];
  let word = "";
  // A word has started (it may be empty: '' is a word).
  let started = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    const next = command[i + 1];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && (next === '"' || next === "\\")) word += command[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === "\\" && next !== undefined) {
      word += command[++i];
      started = true;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (started) words.push(word);
      word = "";
      started = false;
    } else {
      word += c;
      started = true;
    }
  }
  if (quote !== undefined) throw new UsageError(`${flag}: the command has an unclosed ${quote}`);
  if (started) words.push(word);
  if (words.length === 0) throw new UsageError(`${flag} needs a command`);
  return words;
}
