/**
 * `ferry serve [ROOT]`: serve a folder until SIGINT or SIGTERM.
 *
 * @module
 */

import { UsageError } from "./_usage.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { withHint } from "./_hints.ts";
import {
  DEFAULT_PORT,
  FerryServer,
  type FsyncMode,
  type ServerEvent,
  type ServerOptions,
} from "../mod.ts";
import { commandHandler, commandValidator } from "./_hooks.ts";
import { looksHumanChosen, serverToken } from "../lib/config/token.ts";
import { parseBytes, parseCount, parseFlags, parseFsync } from "./_args.ts";
import { printErr } from "./_output.ts";
import { printable } from "../lib/text.ts";

export const HELP = `Usage: ferry serve [ROOT] [options]

Serves the folder ROOT (default: the current folder) to ferry clients that
know the token. A missing ROOT is an error (a typo, a disk not mounted)
unless --create is given. Nothing outside ROOT is ever read or written.
Prints one line to stderr when it is listening, then one line per finished
transfer or refusal. SIGINT or SIGTERM stops it gracefully.

The token comes from --token-file, else FERRY_TOKEN, else
~/.config/ferry/token, which is created with a new random token when missing.

Options:
      --create             Make ROOT if it is missing (its parent must exist),
                           once the port is bound
      --require-confinement
                           Refuse to start unless the kernel confines every path
                           beneath ROOT (openat2, Linux 5.6+); without it, the
                           start line says when only user-space checks run
      --host HOST          Interface to listen on (default: every IPv4 and IPv6
                           address, "::"; 0.0.0.0 where IPv6 is off)
  -p, --port PORT          Port to listen on (default ${DEFAULT_PORT}; 0 picks a free one;
                           -P too)
      --token-file FILE    Read the token from FILE
      --log text|json      Format of log lines (default text)
      --max-conns N        Logged-in connections served at once (default 32; a get -r uses
                           two, -j N adds N-1)
      --idle-timeout SECS  Close connections idle this long (default 300)
      --grace SECS         On SIGINT/SIGTERM, let transfers finish this long (default 10)
      --max-size SIZE      Refuse files larger than SIZE (such as 10G)
      --min-free SIZE      Refuse a transfer that would leave less than SIZE free
                           on the disk, checked before and while writing
      --read-only          Refuse every change: send, mkdir, rm, mv
      --no-delete          Refuse rm and mv and never replace a stored file
                           (an append-only drop box for backups)
      --fsync MODE         The weakest durability served; a client asking for
                           less gets this (each, batch or none; default each)
      --accept CMD         Run CMD for each received file before it is stored;
                           a non-zero exit refuses it (its first line of stderr
                           tells the client). See FERRY_* below.
      --on-receive CMD     Run CMD after each file is stored (logged, never
                           delays or fails the transfer)
      --hook-timeout SECS  Time allowed to each hook run (default 30)
      --settle SECS        Push a file another program writes into a watched
                           folder once it has not changed for SECS (default 2;
                           0: push only what clients send)
  -h, --help               Show this help

Hooks run CMD directly (not through a shell unless CMD is one, such as
sh -c '...'), with PATH, HOME, LANG, TZ and FERRY_TEMP_PATH (--accept: the
verified temporary) or FERRY_PATH (--on-receive: the stored file),
FERRY_REL_PATH, FERRY_SIZE, FERRY_DIGEST, FERRY_REMOTE, FERRY_CLIENT_NAME.

Examples:
  ferry serve /srv/ferry --port 7717
  ferry serve /srv/drop --accept "/usr/local/bin/check-upload" \\
    --on-receive "sh -c 'echo \\"\\$FERRY_REL_PATH\\" >> /srv/received.log'"`;

/** Parsed `serve` arguments. */
export interface ServeOptions {
  root: string;
  /** --create: make ROOT when it is missing (not its parents). */
  create: boolean;
  /** --require-confinement: refuse to start without openat2. */
  requireConfinement: boolean;
  /** Undefined: every IPv4 and IPv6 address. */
  host: string | undefined;
  port: number;
  tokenFile: string | undefined;
  log: "text" | "json";
  maxConnections: number;
  idleTimeoutMs: number;
  graceMs: number;
  readOnly: boolean;
  noDelete: boolean;
  maxFileSize: number | undefined;
  minFreeBytes: number | undefined;
  fsync: FsyncMode;
  /** --accept and --on-receive commands, and their time limit. */
  accept: string | undefined;
  onReceive: string | undefined;
  hookTimeoutMs: number;
  /** How long a file written on the server's disk must stay unchanged before it is pushed. */
  settleMs: number;
  /** Flags that have no effect as given, said once at start. */
  warnings: string[];
}

export function parseServeArgs(argv: string[]): ServeOptions | "help" {
  const { values, positionals } = parseFlags("serve", argv, {
    host: { type: "string" },
    port: { type: "string", short: "p" },
    "token-file": { type: "string" },
    log: { type: "string" },
    "max-conns": { type: "string" },
    "idle-timeout": { type: "string" },
    grace: { type: "string" },
    "read-only": { type: "boolean" },
    "max-size": { type: "string" },
    "min-free": { type: "string" },
    "no-delete": { type: "boolean" },
    create: { type: "boolean" },
    "require-confinement": { type: "boolean" },
    fsync: { type: "string" },
    accept: { type: "string" },
    "on-receive": { type: "string" },
    "hook-timeout": { type: "string" },
    settle: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return "help";
  if (positionals.length > 1) {
    throw new UsageError(`serve takes one folder, not ${positionals.length}`);
  }
  if (values["read-only"] && values["no-delete"]) {
    throw new UsageError(
      "--read-only and --no-delete contradict each other: --read-only refuses every change, --no-delete accepts new files; choose one",
    );
  }
  const log = values.log ?? "text";
  if (log !== "text" && log !== "json") {
    throw new UsageError(`--log is "text" or "json", not "${log}"`);
  }
  return {
    root: positionals[0] ?? ".",
    create: values.create ?? false,
    requireConfinement: values["require-confinement"] ?? false,
    host: values.host,
    port: parseCount(values.port, "--port", 0, 65535) ?? DEFAULT_PORT,
    tokenFile: values["token-file"],
    log,
    maxConnections: parseCount(values["max-conns"], "--max-conns", 1, 10_000) ?? 32,
    idleTimeoutMs: (parseCount(values["idle-timeout"], "--idle-timeout", 1, 86_400) ?? 300) * 1000,
    graceMs: (parseCount(values.grace, "--grace", 0, 3600) ?? 10) * 1000,
    readOnly: values["read-only"] ?? false,
    noDelete: values["no-delete"] ?? false,
    maxFileSize: parseBytes(values["max-size"], "--max-size"),
    minFreeBytes: parseBytes(values["min-free"], "--min-free"),
    fsync: parseFsync(values.fsync, "--fsync") ?? "each",
    accept: values.accept,
    onReceive: values["on-receive"],
    hookTimeoutMs: (parseCount(values["hook-timeout"], "--hook-timeout", 1, 3600) ?? 30) * 1000,
    settleMs: (parseCount(values.settle, "--settle", 0, 3600) ?? 2) * 1000,
    warnings: values["read-only"] ? uselessWhenReadOnly(values) : [],
  };
}

/** What a read-only server never does, so the flags that tune it change nothing. */
function uselessWhenReadOnly(values: Record<string, unknown>): string[] {
  const useless = ["accept", "on-receive", "fsync", "max-size", "min-free"]
    .filter((flag) => values[flag] !== undefined).map((flag) => `--${flag}`);
  return useless.length === 0 ? [] : [
    `${useless.join(", ")} ${
      useless.length === 1 ? "has" : "have"
    } no effect with --read-only: nothing is received`,
  ];
}

/** The server's hooks from --accept and --on-receive (checked before the server starts). */
function hooksOf(
  options: ServeOptions,
): Pick<ServerOptions, "validate" | "onReceived" | "hookTimeoutMs"> {
  const timeoutMs = options.hookTimeoutMs;
  return {
    hookTimeoutMs: timeoutMs,
    ...(options.accept === undefined
      ? {}
      : { validate: commandValidator(options.accept, timeoutMs) }),
    ...(options.onReceive === undefined
      ? {}
      : { onReceived: commandHandler(options.onReceive, timeoutMs) }),
  };
}

/** One log line: JSON, or "TIME REMOTE ACTION PATH [N bytes] ok|CODE: MESSAGE". */
export function formatEvent(event: ServerEvent, format: "text" | "json"): string {
  if (format === "json") return JSON.stringify(event);
  // Escaped too: a client chose its name (the handshake refuses controls; a log stays safe anyway).
  const who = event.client === undefined
    ? event.remote
    : `${event.remote} (${printable(event.client)})`;
  const parts = [event.time, who, event.action].filter((part) => part !== "");
  if (event.path !== undefined) parts.push(`"${printable(event.path)}"`);
  if (event.files !== undefined) parts.push(`${event.files} files`);
  const message = printable(event.message ?? "");
  // An upload that will not end: how far it got, and why.
  if (event.code === ErrorCode.Aborted && event.bytes !== undefined) {
    parts.push(`aborted after ${event.bytes} bytes: ${message}`);
    return parts.join(" ");
  }
  if (event.bytes !== undefined) parts.push(`${event.bytes} bytes`);
  if (event.fsync !== undefined && event.fsync !== "each") parts.push(`fsync ${event.fsync}`);
  parts.push(
    event.ok
      ? message === "" ? "ok" : `ok: ${message}`
      : event.code === undefined
      ? `failed: ${message}`
      : `refused ${event.code}: ${message}`,
  );
  return parts.join(" ");
}

export async function serve(options: ServeOptions): Promise<void> {
  for (const warning of options.warnings) printErr(`ferry: warning: ${warning}`);
  // The folder first: a first start that fails must not leave a token behind.
  await FerryServer.checkRoot({
    root: options.root,
    createRoot: options.create,
    requireConfinement: options.requireConfinement,
  });
  const token = await serverToken(options.tokenFile);
  const server = await listen(options, token.token);
  printStart(server, token, options);
  await untilSignalled(server, options.graceMs);
  printErr("ferry: stopped");
}

function listen(options: ServeOptions, token: string): Promise<FerryServer> {
  return FerryServer.listen({
    root: options.root,
    createRoot: options.create,
    requireConfinement: options.requireConfinement,
    token,
    ...(options.host === undefined ? {} : { host: options.host }),
    port: options.port,
    maxConnections: options.maxConnections,
    idleTimeoutMs: options.idleTimeoutMs,
    readOnly: options.readOnly,
    noDelete: options.noDelete,
    fsync: options.fsync,
    ...(options.maxFileSize === undefined ? {} : { maxFileSize: options.maxFileSize }),
    ...(options.minFreeBytes === undefined ? {} : { minFreeBytes: options.minFreeBytes }),
    onEvent: (event) => printErr(formatEvent(event, options.log)),
    settleMs: options.settleMs,
    ...hooksOf(options),
  }).catch((error) => {
    const inUse = error instanceof FerryError && error.cause instanceof Deno.errors.AddrInUse;
    throw inUse ? withHint(error, ErrorCode.Io, "pick another with --port") : error;
  });
}

/** The start lines on stderr: what was made, where the token is, what is served and how confined. */
function printStart(
  server: FerryServer,
  token: Awaited<ReturnType<typeof serverToken>>,
  options: ServeOptions,
): void {
  if (server.rootCreated) printErr(`ferry: created the folder "${server.root}" to serve.`);
  if (token.generated) {
    printErr(`ferry: created a new token in "${token.from}" (mode 0600).`);
  } else if (looksHumanChosen(token.token)) {
    printErr(
      `ferry: warning: the token from ${token.from} looks chosen by a person (short, only words, or few different characters): anyone who records one connection can try guesses offline. Remove the token file and restart to get a random one.`,
    );
  }
  // At every start: where the token is, never the token itself.
  printErr(
    token.from === "FERRY_TOKEN"
      ? `ferry: the token comes from FERRY_TOKEN; give clients the same value.`
      : `ferry: the token is in "${token.from}"; on each client, copy that file to ~/.config/ferry/token, or set FERRY_TOKEN to its contents.`,
  );
  const shown = server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
  const mode = options.readOnly ? " (read-only)" : options.noDelete ? " (no-delete)" : "";
  printErr(`ferry: serving "${server.root}" on ${shown}:${server.port}${mode}`);
  const { kernel, why } = server.confinement;
  printErr(
    kernel
      ? "ferry: paths are confined beneath the root by the kernel (openat2)"
      : `ferry: warning: confinement beneath the root is not kernel-enforced (${why}): a local user who can write inside the root may race a request outside it; --require-confinement refuses to start so`,
  );
}

/** Serves until SIGINT or SIGTERM, then closes with the grace period (a second signal skips it). */
async function untilSignalled(server: FerryServer, graceMs: number | undefined): Promise<void> {
  const stop = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let stopping = false;
  const onSignal = () => {
    void server.close(stopping ? 0 : graceMs).then(stop.resolve);
    stopping = true;
  };
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  try {
    await stop.promise;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  }
}
