/**
 * Opening a client, the one way there is: from explicit options, or from the
 * name of a host in the user's config file, which gives its address, port,
 * token file and starting folder in one call (resolved as the command line
 * resolves it, lib/config/host.ts).
 *
 * @module
 */

import { loadConfig, resolveTarget } from "../config/config.ts";
import { hostCredentials } from "../config/host.ts";
import { Connection, type ConnectOptions } from "./connection.ts";
import { retrying } from "./retry.ts";
import { FerryClient } from "./client.ts";

/** How to connect to a host named by its name, beside what its config entry says. */
export interface HostOptions extends Omit<ConnectOptions, "host" | "port" | "token"> {
  /** Overrides the port of the config entry. */
  port?: number | undefined;
  /** The token; default: the token file, else FERRY_TOKEN, else the default token file. */
  token?: string | undefined;
  /** The token file; default: the entry's token file. */
  tokenFile?: string | undefined;
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
 */
export function connect(options: ConnectOptions): Promise<FerryClient>;
/**
 * Connects to a host by its name: a named host of the config file (its
 * host, port, token file and folder apply; relative paths then start in its
 * folder), or else a host name reached with the default token.
 *
 * @example By the name of a host in the config file
 * ```ts ignore
 * import { connect } from "@ferry/ferry";
 *
 * // ~/.config/ferry/config.json: {"hosts": {"pi": {"host": "pi.local", "folder": "backups"}}}
 * await using client = await connect("pi");
 * await client.put("db.sql", await Deno.readFile("db.sql")); // lands in backups/db.sql
 * ```
 */
export function connect(name: string, options?: HostOptions): Promise<FerryClient>;
export async function connect(
  target: string | ConnectOptions,
  options: HostOptions = {},
): Promise<FerryClient> {
  if (typeof target !== "string") return await open(target, "");
  const resolved = resolveTarget({ host: target, port: undefined, path: "" }, await loadConfig());
  const credentials = await hostCredentials(resolved, options);
  return await open({ ...options, ...credentials }, resolved.folder);
}

/** A client over a connection opened now (retried as asked), or at its first call. */
async function open(options: ConnectOptions, folder: string): Promise<FerryClient> {
  const connection = options.deferred
    ? undefined
    : await retrying(options, () => Connection.open(options));
  return new FerryClient(connection, options, folder);
}
