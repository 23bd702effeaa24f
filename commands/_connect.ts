/**
 * How every client command reaches its server: the address is resolved
 * through the named hosts of the config file, the token is found, and one
 * authenticated connection is opened.
 *
 * @module
 */

import { UsageError } from "./_usage.ts";
import { parseRemote, type RemoteAddress } from "../lib/config/address.ts";
import { FerryClient } from "../lib/client/client.ts";
import { Connection, type ConnectOptions } from "../lib/client/connection.ts";
import { retrying } from "../lib/client/retry.ts";
import type { RetryNotice } from "../lib/client/transfer.ts";
import { loadConfig, type RemoteTarget, resolveTarget } from "../lib/config/config.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { clientToken } from "../lib/config/token.ts";
import { printErr, printOut } from "./_output.ts";
import { printable } from "../lib/text.ts";

/** Connection flags every client command accepts (see CLIENT_FLAGS). */
export interface ConnectFlags {
  port: number | undefined;
  tokenFile: string | undefined;
  /** Seconds for connecting and for a stalled connection (send and get's --timeout). */
  timeoutSeconds?: number;
  /** Retries of a failed connection, for ls, mkdir, rm and mv (send and get retry the transfer). */
  retries?: number;
  /** No retry notices on stderr. */
  json?: boolean;
  quiet?: boolean;
  /** This client's name, sent to the server (--name). */
  name?: string | undefined;
}

/** Resolves named hosts in `addresses` (one config read for all of them). */
export async function resolveTargets(addresses: readonly RemoteAddress[]): Promise<RemoteTarget[]> {
  const config = await loadConfig();
  return addresses.map((address) => resolveTarget(address, config));
}

/** Parses arguments that must all be remote addresses. */
export function remoteArguments(positionals: readonly string[], command: string): RemoteAddress[] {
  if (positionals.length === 0) {
    throw new UsageError(`${command} needs a remote path (see "ferry ${command} --help")`);
  }
  return positionals.map((argument) => {
    const remote = parseRemote(argument);
    if (remote === null) {
      throw new UsageError(
        `"${argument}" is not a remote address such as pi:path or ferry://host/path`,
      );
    }
    return remote;
  });
}

/**
 * Runs `work` for each target on one connection. A failure is printed and the
 * rest still run, as with mkdir and rm; the first failure is then thrown so
 * that main picks the exit code. With --json, `summary` is printed on stdout.
 */
export async function forEachTarget(
  targets: readonly RemoteTarget[],
  command: string,
  flags: ConnectFlags & { json: boolean },
  work: (client: FerryClient, target: RemoteTarget) => Promise<void>,
  summary?: () => object,
): Promise<void> {
  const failures: FerryError[] = [];
  await withClient(oneServer(targets, command), flags, async (client) => {
    for (const target of targets) {
      try {
        await work(client, target);
      } catch (error) {
        if (!(error instanceof FerryError) || isConnectionLevel(error)) throw error;
        failures.push(error);
      }
    }
  });
  // With --json, what was done goes to stdout as one object, also when some failed.
  if (flags.json && summary !== undefined) printOut(JSON.stringify(summary()));
  if (failures.length === 0) return;
  // The last failure is reported by main; the others are printed here.
  for (const failure of failures.slice(0, -1)) {
    printErr(
      flags.json
        ? JSON.stringify({ code: failure.code, message: failure.message })
        : `ferry: ${printable(failure.message)}`,
    );
  }
  throw failures.at(-1);
}

function isConnectionLevel(error: FerryError): boolean {
  return error.code === ErrorCode.Connection || error.code === ErrorCode.Protocol ||
    error.code === ErrorCode.Aborted;
}

/** Checks that every target is on one server, which one connection then serves. */
export function oneServer(targets: readonly RemoteTarget[], command: string): RemoteTarget {
  const first = targets[0];
  if (first === undefined) throw new UsageError(`${command} needs a remote path`);
  if (targets.some((t) => t.host !== first.host || t.port !== first.port)) {
    throw new UsageError(`All paths of one ${command} must be on the same server`);
  }
  return first;
}

/** Connects, runs `work`, and closes the connection whatever happens. */
export async function withClient<T>(
  target: RemoteTarget,
  flags: ConnectFlags,
  work: (client: FerryClient) => Promise<T>,
): Promise<T> {
  await using client = await connectTarget(target, flags);
  return await work(client);
}

/**
 * Opens an authenticated connection to `target`. The port is the address's,
 * else --port, else the named host's, else the default; the token file is
 * --token-file, else the named host's, else FERRY_TOKEN or the default file.
 */
export async function connectTarget(
  target: RemoteTarget,
  flags: ConnectFlags,
  signal?: AbortSignal,
): Promise<FerryClient> {
  const options = await targetOptions(target, flags, signal);
  const connection = await retrying(
    {
      retries: flags.retries,
      signal,
      onRetry: (notice) => {
        if (!flags.quiet && !flags.json) printRetry(notice);
      },
    },
    () => Connection.open(options),
  );
  return new FerryClient(connection, options);
}

/** Says on stderr why the last attempt failed and when the next one starts. */
export function printRetry({ attempt, retries, delaySeconds, error }: RetryNotice): void {
  printErr(
    `ferry: ${printable(error.message)}; retry ${attempt} of ${retries} in ${delaySeconds} s`,
  );
}

/**
 * A client for `target` that connects at its first call, so that a
 * transfer's retries also wait for a server that is not up yet.
 */
export async function clientFor(
  target: RemoteTarget,
  flags: ConnectFlags,
  signal?: AbortSignal,
): Promise<FerryClient> {
  return new FerryClient(undefined, await targetOptions(target, flags, signal));
}

async function targetOptions(
  target: RemoteTarget,
  flags: ConnectFlags,
  signal?: AbortSignal,
): Promise<ConnectOptions> {
  const { token } = await tokenFor(target, flags);
  const port = flags.port !== undefined && target.alias !== undefined
    ? flags.port
    : target.port ?? flags.port;
  const timeoutMs = (flags.timeoutSeconds ?? 30) * 1000;
  return {
    host: target.host,
    port,
    token,
    timeoutMs,
    stallTimeoutMs: timeoutMs,
    signal,
    name: flags.name,
  };
}

async function tokenFor(target: RemoteTarget, flags: ConnectFlags) {
  const file = flags.tokenFile ?? target.tokenFile;
  try {
    return await clientToken(file);
  } catch (error) {
    if (flags.tokenFile === undefined && target.tokenFile !== undefined) {
      // Name where the missing file was configured, not only the file.
      const problem = error instanceof FerryError ? error.message : String(error);
      throw new FerryError(
        ErrorCode.AuthFailed,
        `${problem} (the token file of host "${target.alias}" in the config file)`,
        { cause: error },
      );
    }
    throw error;
  }
}
