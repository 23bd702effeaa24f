/**
 * Named hosts, resolved one way for the library and the command line: a
 * name of the config file gives its address, port, token file and folder;
 * overrides (an explicit port, token or token file) beat the entry; a name
 * that is no entry is a host reached with the default token.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import type { RemoteTarget } from "./config.ts";
import { clientToken } from "./token.ts";

/** What may override a named host's entry. */
export interface HostOverrides {
  /** Beats the entry's port; an address's own port beats this one. */
  port?: number | undefined;
  /** The token itself: no file is read. */
  token?: string | undefined;
  /** Beats the entry's token file. */
  tokenFile?: string | undefined;
}

/** Where and with which token a client reaches a resolved target. */
export interface HostCredentials {
  host: string;
  port: number | undefined;
  token: string;
}

/**
 * The host, port and token for `target` (from resolveTarget). The port is
 * the address's, else the override, else the named host's, else the
 * default; for a named host the override beats its entry. The token is the
 * override, else the token file named (override, then entry), else
 * FERRY_TOKEN or the default file.
 */
export async function hostCredentials(
  target: RemoteTarget,
  overrides: HostOverrides = {},
): Promise<HostCredentials> {
  const port = overrides.port !== undefined && target.alias !== undefined
    ? overrides.port
    : target.port ?? overrides.port;
  const token = overrides.token ?? await tokenFor(target, overrides.tokenFile);
  return { host: target.host, port, token };
}

async function tokenFor(target: RemoteTarget, tokenFile: string | undefined): Promise<string> {
  try {
    return (await clientToken(tokenFile ?? target.tokenFile)).token;
  } catch (error) {
    if (tokenFile !== undefined || target.tokenFile === undefined) throw error;
    // Name where the missing file was configured, not only the file.
    const problem = error instanceof FerryError ? error.message : String(error);
    throw new FerryError(
      ErrorCode.AuthFailed,
      `${problem} (the token file of host "${target.alias}" in the config file)`,
      { cause: error },
    );
  }
}
