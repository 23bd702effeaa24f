/**
 * What a server needs before it can serve: the real path of its root, which
 * must be a folder, and its port, bound with a message that says what to do
 * when it is taken.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { listenTcp } from "../wire/transport.ts";
import { requireKernelConfinement } from "../fs/confinement.ts";
import { dirname } from "node:path";

/**
 * Checks the folder to serve before the port is bound: it must be a folder,
 * or, with `create`, be missing with a parent that is one; with
 * `required.confined`, the kernel must confine paths beneath it. Resolves
 * with whether it must be made (by {@link servedRoot}, once the port is bound).
 */
export async function checkRoot(
  path: string,
  create: boolean,
  required: { confined: boolean } = { confined: false },
): Promise<boolean> {
  if (required.confined) requireKernelConfinement();
  try {
    if ((await Deno.stat(path)).isDirectory) return false;
    throw new FerryError(ErrorCode.NotDirectory, `Cannot serve "${path}": it is not a folder`, {
      path,
    });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw toFerryError(error, "serve", path);
  }
  if (!create) {
    throw new FerryError(
      ErrorCode.NotFound,
      `Cannot serve "${path}": no such folder (check the path and that its disk is mounted; --create makes it)`,
      { path },
    );
  }
  const parent = dirname(path);
  try {
    if ((await Deno.stat(parent)).isDirectory) return true;
  } catch { /* reported below */ }
  throw new FerryError(
    ErrorCode.NotFound,
    `Cannot create "${path}" to serve: its parent "${parent}" is not an existing folder (only the last folder is made)`,
    { path },
  );
}

/** The real path of the folder to serve, made first when `create` (its parent exists). */
export async function servedRoot(path: string, create = false): Promise<string> {
  if (create) {
    try {
      await Deno.mkdir(path, { mode: 0o755 });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) {
        throw toFerryError(error, "create the folder to serve", path);
      }
    }
  }
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
