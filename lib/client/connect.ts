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
  /** This client's name (see {@link ConnectOptions.name}). */
  name?: string | undefined;
}

/**
 * Connects to a ferry server and authenticates with the shared token.
 *
 * @example By address and token
 * ```ts
 * import { connect, FerryServer } from "@ferry/ferry";
 *
 * const root = await Deno.makeTempDir();
 * const token = "a-long-shared-secret-token";
 * await using server = await FerryServer.listen({ root, token, host: "127.0.0.1", port: 0 });
 * await using client = await connect({ host: "127.0.0.1", port: server.port, token });
 * console.log((await client.stat("/"))?.type); // "dir"
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @example By the name of a host in the config file
 * ```ts ignore
 * import { connect } from "@ferry/ferry";
 *
 * // ~/.config/ferry/config.json: {"hosts": {"pi": {"host": "pi.local", "folder": "backups"}}}
 * await using client = await connect("pi");
 * await client.put("db.sql", await Deno.readFile("db.sql")); // lands in backups/db.sql
 * ```
 *
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
    name: options.name,
  };
  return new FerryClient(await Connection.open(resolved), resolved, entry?.folder ?? "");
}
