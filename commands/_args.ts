/**
 * Argument parsing shared by every command: node:util's parseArgs in strict
 * mode, with its errors turned into usage errors (exit 2).
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

import { UsageError } from "./_usage.ts";
import { printable } from "../lib/text.ts";
import { isClientName, MAX_CLIENT_NAME } from "../lib/config/client_name.ts";
import { FSYNC_MODES, type FsyncMode } from "../mod.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses `argv` against `options`, allowing positionals; unknown flags are
 * usage errors that point to `helpHint` (by default the command's --help).
 */
// deno-lint-ignore explicit-module-boundary-types -- the result type is parseArgs' own, inferred from `options`
export function parseFlags<T extends Options>(
  command: string,
  argv: string[],
  options: T,
  helpHint = `"ferry ${command} --help"`,
) {
  try {
    // Tokens keep the order of the options, which filter rules depend on.
    return parseArgs({
      args: portAlias(argv, options),
      options,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError(`${parserMessage(error, argv)} (see ${helpHint})`);
  }
}

/**
 * `serve` spells the port `-p` and the clients `-P` (ssh's and scp's
 * letters); each takes the other's spelling too, where that letter means
 * nothing else (`mkdir -p` is --parents).
 */
function portAlias(argv: string[], options: Options): string[] {
  const short = options.port?.short;
  if (short !== "p" && short !== "P") return argv;
  const other = short === "p" ? "P" : "p";
  if (Object.values(options).some((option) => option.short === other)) return argv;
  const end = argv.indexOf("--");
  return argv.map((arg, i) =>
    (end < 0 || i < end) && (arg === `-${other}` || new RegExp(`^-${other}\\d+$`).test(arg))
      ? `-${short}${arg.slice(2)}`
      : arg
  );
}

/**
 * node:util's own text, in one line and in ferry's words: a flag given a
 * value that starts with "-" ("--retries -1") is "ambiguous" there, with a
 * suggestion spread over three lines.
 */
function parserMessage(error: unknown, argv: readonly string[]): string {
  const text = error instanceof Error ? error.message : String(error);
  const ambiguous = /^Option '([^']+)' argument is ambiguous/.exec(text);
  if (ambiguous !== null) {
    // "--retries <value>" or "-j, --jobs <value>": the flag as the user wrote it.
    const names: string[] = ambiguous[1]!.match(/--?[\w-]+/g) ?? [];
    const at = argv.findIndex((arg) => names.includes(arg));
    const flag = argv[at] ?? names.at(-1) ?? "The option";
    const value = at >= 0 ? argv[at + 1] : undefined;
    return value === undefined
      ? `${flag} needs a value`
      : `${flag} needs a value, not "${printable(value)}" (no value ferry takes starts with "-")`;
  }
  const first = text.split("\n")[0]!.replace(/\. To specify.*$/s, "").replace(/\.$/, "");
  return printable(first);
}

/** Parses a positive integer flag value such as a port or a count. */
export function parseCount(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new UsageError(`${flag} needs a whole number from ${min} to ${max}, not "${value}"`);
  }
  return number;
}

/** Flags every client command accepts. */
export const CLIENT_FLAGS = {
  port: { type: "string", short: "P" },
  "token-file": { type: "string" },
  quiet: { type: "boolean", short: "q" },
  json: { type: "boolean" },
  timeout: { type: "string" },
  name: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const CLIENT_FLAGS_HELP =
  `  -P, --port PORT        Server port when the address has none (default 7717;
                         -p too, but for mkdir)
      --token-file FILE  Read the token from FILE (else FERRY_TOKEN, else
                         ~/.config/ferry/token)
      --timeout SECS     Give up connecting, or when nothing moves, after SECS
                         (default 30)
      --name NAME        Name this client to the server (its log and hooks)
  -q, --quiet            Print nothing but errors
      --json             Print a JSON summary on stdout
  -h, --help             Show this help`;

/** Flags of ls, mkdir, rm and mv: the client flags, and retries of a failed connection. */
export const REMOTE_OP_FLAGS = {
  ...CLIENT_FLAGS,
  retries: { type: "string" },
} as const;

export const REMOTE_OP_FLAGS_HELP = `${CLIENT_FLAGS_HELP}
      --retries N        Retry connecting N times, waiting 1, 2, 4 … s (default 0)`;

/** The connection flags of ls, mkdir, rm and mv, validated. */
export function remoteOpFlags(values: {
  port?: string;
  "token-file"?: string;
  timeout?: string;
  retries?: string;
  name?: string;
}): {
  port: number | undefined;
  tokenFile: string | undefined;
  timeoutSeconds: number | undefined;
  retries: number;
  name: string | undefined;
} {
  return {
    port: parseCount(values.port, "--port", 1, 65535),
    tokenFile: values["token-file"],
    timeoutSeconds: parseTimeout(values.timeout),
    retries: parseCount(values.retries, "--retries", 0, 100) ?? 0,
    name: parseName(values.name),
  };
}

/** The --name value: a client's name, at most 64 printable characters. */
export function parseName(value: string | undefined): string | undefined {
  if (value === undefined || isClientName(value)) return value;
  throw new UsageError(
    `--name takes 1 to ${MAX_CLIENT_NAME} printable characters, not "${printable(value)}"`,
  );
}

/** The --timeout value in seconds; undefined leaves the library's default (30 s). */
export function parseTimeout(value: string | undefined): number | undefined {
  return parseCount(value, "--timeout", 1, 86_400);
}

/** Parses a byte count such as "500K", "10M", "1.5G" or "123" (K = 1024), or undefined. */
export function parseBytes(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)([KMGT]?)$/i.exec(value.trim());
  const unit = match && { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[
    match[2]!.toUpperCase() as "" | "K" | "M" | "G" | "T"
  ];
  const bytes = match && unit ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new UsageError(`${flag} needs a size such as 500K, 10M or 2G, not "${value}"`);
  }
  return bytes;
}

/** Parses an --fsync mode, or undefined when the flag was not given. */
export function parseFsync(value: string | undefined, flag: string): FsyncMode | undefined {
  if (value === undefined) return undefined;
  if (!FSYNC_MODES.includes(value as FsyncMode)) {
    throw new UsageError(`${flag} is one of ${FSYNC_MODES.join(", ")}, not "${value}"`);
  }
  return value as FsyncMode;
}

/** `"dryRun": true` in a --json summary of a dry run, nothing otherwise. */
export function dryRunField(options: { dryRun: boolean }): { dryRun?: true } {
  return options.dryRun ? { dryRun: true } : {};
}
