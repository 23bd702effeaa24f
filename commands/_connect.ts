/**
 * How every client command reaches its server: the address is resolved
 * through the named hosts of the config file, the token is found, and one
 * authenticated connection is opened.
 *
 * @module
 */

import { UsageError } from "./_usage.ts";
import { parseRemote, type RemoteAddress } from "../lib/config/address.ts";
import { loadConfig, type RemoteTarget, resolveTarget } from "../lib/config/config.ts";
import { hostCredentials } from "../lib/config/host.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { printErr, printOut } from "./_output.ts";
import { printable } from "../lib/text.ts";
import { connect, type ConnectOptions, type FerryClient, type RetryNotice } from "../mod.ts";

/** Connection flags every client command accepts (see CLIENT_FLAGS). */
export interface ConnectFlags {
  port: number | undefined;
  tokenFile: string | undefined;
  /** Seconds for connecting and for a stalled connection (send and get's --timeout). */
  timeoutSeconds?: number | undefined;
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
 * Opens an authenticated connection to `target` (host, port and token
 * resolved as the library resolves a named host: lib/config/host.ts).
 */
export async function connectTarget(
  target: RemoteTarget,
  flags: ConnectFlags,
  signal?: AbortSignal,
): Promise<FerryClient> {
  return await connect({
    ...await targetOptions(target, flags, signal),
    retries: flags.retries,
    onRetry: (notice) => {
      if (!flags.quiet && !flags.json) printRetry(notice);
    },
  });
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
  return await connect({ ...await targetOptions(target, flags, signal), deferred: true });
}

/** Where and how to connect; the timeouts are the library's unless --timeout names them. */
async function targetOptions(
  target: RemoteTarget,
  flags: ConnectFlags,
  signal?: AbortSignal,
): Promise<ConnectOptions> {
  const credentials = await hostCredentials(target, {
    port: flags.port,
    tokenFile: flags.tokenFile,
  });
  const timeoutMs = flags.timeoutSeconds === undefined ? undefined : flags.timeoutSeconds * 1000;
  return { ...credentials, timeoutMs, stallTimeoutMs: timeoutMs, signal, name: flags.name };
}
