/**
 * What a server needs before it can serve: the real path of its root, which
 * must be a folder, and its port, bound with a message that says what to do
 * when it is taken.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { listenTcp } from "../wire/transport.ts";

/** The real path of the folder to serve. */
export async function servedRoot(path: string): Promise<string> {
  try {
    const root = await Deno.realPath(path);
    if (!(await Deno.stat(root)).isDirectory) {
      throw new FerryError(ErrorCode.NotDirectory, `Cannot serve "${path}": it is not a folder`);
    }
    return root;
  } catch (error) {
    throw toFerryError(error, "serve", path);
  }
}

/** Listens on `host`, by default every IPv4 and IPv6 address ("::", else 0.0.0.0). */
export function bindPort(host: string | undefined, port: number): Deno.TcpListener {
  const hostname = host ?? "::";
  try {
    return listenTcp(hostname, port, host === undefined);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new FerryError(
        ErrorCode.Io,
        `Cannot listen on port ${port}: it is in use (is another ferry running?)`,
        { cause: error },
      );
    }
    throw toFerryError(error, "listen on", `${hostname}:${port}`);
  }
}
