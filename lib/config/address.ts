/**
 * Remote addresses: `ferry://HOST[:PORT]/PATH` (IPv6 as `[::1]`) and
 * scp-style `HOST:PATH` or `[IPV6]:PATH`. A path is relative to the server's
 * root; a leading "/" names the root.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";

/** A parsed remote address. `port` is undefined when the default applies. */
export interface RemoteAddress {
  host: string;
  port: number | undefined;
  path: string;
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

function checkHost(host: string, address: string, bracketed = false): string {
  if (host.includes(":") || bracketed) {
    if (!/^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9]+)?$/.test(host)) {
      throw badAddress(`Bad IPv6 address in "${address}"`);
    }
    return host;
  }
  if (!HOST_NAME.test(host)) throw badAddress(`Bad host name in "${address}"`);
  return host;
}

function checkPort(port: string, address: string): number {
  const value = Number(port);
  if (!/^\d+$/.test(port) || value < 1 || value > 65535) {
    throw badAddress(`Bad port "${port}" in "${address}"`);
  }
  return value;
}

/**
 * Parses a remote address, or returns null when the argument names a local
 * path. As with scp, an argument is remote when a ":" comes before any "/";
 * write `./a:b` for a local file whose name has a colon.
 */
export function parseRemote(argument: string): RemoteAddress | null {
  if (argument.startsWith("ferry://")) return parseUrl(argument);
  if (argument.startsWith("[")) {
    const close = argument.indexOf("]");
    if (close < 0 || argument[close + 1] !== ":") return null;
    return {
      host: checkHost(argument.slice(1, close), argument, true),
      port: undefined,
      path: argument.slice(close + 2),
    };
  }
  const colon = argument.indexOf(":");
  const slash = argument.indexOf("/");
  if (colon <= 0 || (slash >= 0 && slash < colon)) return null;
  const host = checkHost(argument.slice(0, colon), argument);
  const path = argument.slice(colon + 1);
  // HOST:PORT:PATH reads like a port, but scp-style addresses carry none.
  const port = /^(\d+):/.exec(path)?.[1];
  if (port !== undefined) {
    throw badAddress(
      `"${argument}" has no port in it: write ferry://${host}:${port}/${
        path.slice(port.length + 1)
      } or use -P ${port} (for a path that starts with "${port}:", write ${host}:./${path})`,
    );
  }
  return { host, port: undefined, path };
}

function parseUrl(argument: string): RemoteAddress {
  const rest = argument.slice("ferry://".length);
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  // The "/" after the authority only separates: PATH is relative (inside a named
  // host's folder); ferry://HOST//PATH starts at the server root.
  const path = slash < 0 ? "" : decodePath(rest.slice(slash + 1), argument);
  let host: string;
  let port: number | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw badAddress(`Missing "]" in "${argument}"`);
    host = checkHost(authority.slice(1, close), argument, true);
    const after = authority.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw badAddress(`Bad address "${argument}"`);
    port = after === "" ? undefined : checkPort(after.slice(1), argument);
  } else {
    if (authority.indexOf(":") !== authority.lastIndexOf(":")) {
      throw badAddress(
        `Write an IPv6 address in brackets: ferry://[${authority}]/ in "${argument}"`,
      );
    }
    const colon = authority.lastIndexOf(":");
    host = colon < 0 ? authority : authority.slice(0, colon);
    port = colon < 0 ? undefined : checkPort(authority.slice(colon + 1), argument);
  }
  if (host === "") throw badAddress(`Missing host in "${argument}"`);
  return { host: checkHost(host, argument), port, path };
}

function decodePath(path: string, argument: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw badAddress(`Bad percent-encoding in "${argument}"`);
  }
}

function badAddress(message: string): FerryError {
  return new FerryError(ErrorCode.Usage, message);
}
