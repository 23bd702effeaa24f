/**
 * Named hosts: a JSON config file maps a short name to a server, so that
 * `ferry send backup.tar pi:nightly/` works. The file is
 * `$FERRY_CONFIG`, else `$XDG_CONFIG_HOME/ferry/config.json`, else
 * `~/.config/ferry/config.json`:
 *
 * ```json
 * { "hosts": { "pi": { "host": "192.168.1.20", "port": 7717,
 *                      "tokenFile": "~/.config/ferry/pi.token", "folder": "backups" } } }
 * ```
 *
 * Every mistake is reported with the file, the key and the problem. The file
 * never holds a token, only where to read one.
 *
 * @module
 */

import { parseRemote, type RemoteAddress } from "./address.ts";
import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { configDir } from "./token.ts";
import { dirname } from "node:path";

/** One named host. */
export interface HostEntry {
  host: string;
  port?: number;
  /** Absolute path of the token file for this host. */
  tokenFile?: string;
  /** Folder under the server root that relative paths start from. */
  folder?: string;
}

/** A loaded config file. */
export interface FerryConfig {
  /** Where it was read from (or would be). */
  path: string;
  hosts: Map<string, HostEntry>;
}

/** Where a remote path points after named hosts are resolved. */
export interface RemoteTarget {
  host: string;
  port: number | undefined;
  /** Relative to the server root. */
  path: string;
  /** From the named host's entry, when it has one. */
  tokenFile: string | undefined;
  /** The name used on the command line, when it was a named host. */
  alias: string | undefined;
  /** The named host's folder the path was resolved in ("" when none, or from the root). */
  folder: string;
}

const HOST_KEYS = new Set(["host", "port", "tokenFile", "folder"]);

/** The config file's path: `$FERRY_CONFIG`, else config.json in ferry's config folder. */
export function configPath(): string {
  return Deno.env.get("FERRY_CONFIG") || `${configDir()}/config.json`;
}

/**
 * Reads the config file. A missing default file is an empty config; a
 * missing `$FERRY_CONFIG` is an error, since someone named it on purpose.
 */
export async function loadConfig(path: string = configPath()): Promise<FerryConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !Deno.env.get("FERRY_CONFIG")) {
      return { path, hosts: new Map() };
    }
    throw configError(path, toFerryError(error, "read", path).message);
  }
  return parseConfig(text, path);
}

/** Parses and validates config text; `path` names the file in messages and anchors relative paths. */
export function parseConfig(text: string, path: string): FerryConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw configError(path, `not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(value)) throw configError(path, "the top level must be a JSON object");
  for (const key of Object.keys(value)) {
    if (key !== "hosts") throw configError(path, `unknown key "${key}" (known: "hosts")`);
  }
  const hosts = new Map<string, HostEntry>();
  const section = value.hosts ?? {};
  if (!isObject(section)) throw configError(path, `"hosts" must be an object of named hosts`);
  for (const [name, raw] of Object.entries(section)) {
    const key = `hosts.${name}`;
    if (parseRemote(`${name}:`) === null || name.includes(":")) {
      throw configError(path, `"${key}": "${name}" cannot be used as a host name`);
    }
    if (!isObject(raw)) throw configError(path, `"${key}" must be an object`);
    for (const field of Object.keys(raw)) {
      if (!HOST_KEYS.has(field)) {
        throw configError(
          path,
          `unknown key "${key}.${field}" (known: ${[...HOST_KEYS].join(", ")})`,
        );
      }
    }
    const { host, port, tokenFile, folder } = raw;
    if (
      typeof host !== "string" ||
      parseRemote(`${host.includes(":") ? `[${host}]` : host}:`) === null
    ) {
      throw configError(path, `"${key}.host" must be a host name or IP address`);
    }
    const entry: HostEntry = { host };
    if (port !== undefined) {
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
        throw configError(path, `"${key}.port" must be a whole number from 1 to 65535`);
      }
      entry.port = port;
    }
    if (tokenFile !== undefined) {
      if (typeof tokenFile !== "string" || tokenFile === "") {
        throw configError(path, `"${key}.tokenFile" must be a file name`);
      }
      entry.tokenFile = expandPath(tokenFile, path);
    }
    if (folder !== undefined) {
      if (typeof folder !== "string") throw configError(path, `"${key}.folder" must be a string`);
      entry.folder = folder.replace(/^\/+|\/+$/g, "");
    }
    hosts.set(name, entry);
  }
  return { path, hosts };
}

/**
 * Resolves a named host: `pi:nightly/` becomes the entry's host and port, and
 * the path inside its folder (a path starting with "/" starts at the root).
 * Addresses that name no entry pass through unchanged.
 */
export function resolveTarget(address: RemoteAddress, config: FerryConfig): RemoteTarget {
  const entry = config.hosts.get(address.host);
  if (entry === undefined) {
    return { ...address, tokenFile: undefined, alias: undefined, folder: "" };
  }
  const fromRoot = address.path.startsWith("/") || !entry.folder;
  return {
    host: entry.host,
    port: address.port ?? entry.port,
    path: pathInFolder(fromRoot ? "" : entry.folder!, address.path),
    tokenFile: entry.tokenFile,
    alias: address.host,
    folder: fromRoot ? "" : entry.folder!,
  };
}

/**
 * A remote path as the server sees it, for a named host's `folder`: a
 * relative path starts in the folder, one starting with "/" at the root.
 */
export function pathInFolder(folder: string, path: string): string {
  if (folder === "" || path.startsWith("/")) return path;
  return path === "" ? `${folder}/` : `${folder}/${path}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** "~/x" is in HOME; a relative path is relative to the config file's folder. */
function expandPath(file: string, configFile: string): string {
  if (file.startsWith("~/")) {
    const home = Deno.env.get("HOME");
    if (!home) throw configError(configFile, `"${file}" needs HOME to be set`);
    return `${home}/${file.slice(2)}`;
  }
  if (file.startsWith("/")) return file;
  return `${dirname(configFile)}/${file}`;
}

function configError(path: string, problem: string): FerryError {
  return new FerryError(ErrorCode.Usage, `Config file "${path}": ${problem}`, { path });
}
