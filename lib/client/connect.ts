/**
 * Opening a client: from explicit options, or from the name of a host in
 * the user's config file, which gives its address, port, token file and
 * starting folder in one call.
 *
 * @module
 */

import { loadConfig } from "../config/config.ts";
import { clientToken } from "../config/token.ts";
import { FerryClient } from "./client.ts";
import { Connection, type ConnectOptions } from "./connection.ts";

/** How to connect to a host named by its name, beside what its config entry says. */
export interface HostOptions {
  /** Overrides the port of the config entry. */
  port?: number | undefined;
  /** The token; default: the entry's token file, else FERRY_TOKEN, else the default token file. */
  token?: string | undefined;
  /** Gives up connecting and authenticating after this long. Default 15 seconds. */
  timeoutMs?: number | undefined;
  /** Fails a connection on which nothing moves for this long. Default 60 seconds; 0 turns it off. */
  stallTimeoutMs?: number | undefined;
  /** Cancels connecting. */
  signal?: AbortSignal | undefined;
}

/**
 * Connects to a ferry server and authenticates with the shared token.
 * `target` is either the options, or a name: a named host of the config
 * file (its host, port, token file and folder apply; relative paths then
 * start in its folder) or else a host name reached with the default token.
 */
export async function connect(
  target: string | ConnectOptions,
  options: HostOptions = {},
): Promise<FerryClient> {
  if (typeof target !== "string") {
    return new FerryClient(await Connection.open(target), target);
  }
  const entry = (await loadConfig()).hosts.get(target);
  const token = options.token ?? (await clientToken(entry?.tokenFile)).token;
  const resolved: ConnectOptions = {
    host: entry?.host ?? target,
    port: options.port ?? entry?.port,
    token,
    timeoutMs: options.timeoutMs,
    stallTimeoutMs: options.stallTimeoutMs,
    signal: options.signal,
  };
  return new FerryClient(await Connection.open(resolved), resolved, entry?.folder ?? "");
}
