/**
 * Where the shared secret comes from. It is read from `--token-file`, from
 * `FERRY_TOKEN`, or from the default token file, never from argv (every user
 * can read argv through ps).
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { primeTokenKey, type TokenFileIdentity, tokenFileIdentity } from "./key_cache.ts";

/** Tokens shorter than this are refused: a guessable token is no lock. */
export const MIN_TOKEN_LENGTH = 16;

/** ferry's folder in the user's config folder (XDG_CONFIG_HOME, else ~/.config). */
export function configDir(): string {
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  if (xdg) return `${xdg}/ferry`;
  const home = Deno.env.get("HOME");
  if (!home) {
    throw new FerryError(
      ErrorCode.Usage,
      "Cannot find the config folder: set HOME or XDG_CONFIG_HOME",
    );
  }
  return `${home}/.config/ferry`;
}

/** The token file `serve` creates when it is given no token. */
export function defaultTokenFile(): string {
  return `${configDir()}/token`;
}

/**
 * A new random token: 32 bytes from the system's CSPRNG, base64url. Give the
 * same token to the server and its clients (a file of mode 0600, or
 * FERRY_TOKEN); it never crosses the wire.
 *
 * @example
 * ```ts
 * import { generateToken } from "@ferry/ferry";
 *
 * const token = generateToken();
 * console.log(token.length); // 43
 * ```
 */
export function generateToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/**
 * Whether a token looks chosen by a person rather than generated: shorter
 * than a generated one, only words, or few distinct characters. Such a
 * token can be guessed from one observed handshake, scrypt or not, given
 * time; a warning says so.
 */
export function looksHumanChosen(token: string): boolean {
  return token.length < 32 || /^[A-Za-z\s-]+$/.test(token) || new Set(token).size < 12;
}

function checkToken(token: string, source: string): string {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new FerryError(
      ErrorCode.AuthFailed,
      `The token from ${source} is shorter than ${MIN_TOKEN_LENGTH} characters: use a longer one`,
    );
  }
  return token;
}

/**
 * Reads a token file; surrounding whitespace (a trailing newline) is
 * ignored. As ssh refuses a private key that others may read, a token file
 * that its group or others may read or write is refused.
 */
export async function readTokenFile(path: string): Promise<string> {
  return (await readTokenAndStat(path)).token;
}

/** A token file's token, and its stat from just before it was read. */
async function readTokenAndStat(path: string): Promise<{ token: string; before: Deno.FileInfo }> {
  let text: string;
  let before: Deno.FileInfo;
  try {
    before = await Deno.stat(path);
    if (!before.isFile) {
      throw new FerryError(
        ErrorCode.AuthFailed,
        `The token file "${path}" is ${
          before.isDirectory ? "a folder" : "not a regular file"
        }: name the file that holds the token`,
        { path },
      );
    }
    if (before.mode !== null && (before.mode & 0o077) !== 0) {
      throw new FerryError(
        ErrorCode.AuthFailed,
        `The token file "${path}" may be read by others (mode ${
          (before.mode & 0o777).toString(8).padStart(4, "0")
        }): run chmod 600 "${path}"`,
        { path },
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof FerryError) throw error;
    const cause = toFerryError(error, "read the token file", path);
    throw new FerryError(ErrorCode.AuthFailed, cause.message, { path, cause });
  }
  return { token: checkToken(text.trim(), `"${path}"`), before };
}

/**
 * The token file's identity, if it is still what `before` saw once read;
 * undefined (no key cache this time) when it changed or cannot be told.
 */
async function unchangedIdentity(
  path: string,
  before: Deno.FileInfo,
): Promise<TokenFileIdentity | undefined> {
  try {
    const resolved = await Deno.realPath(path);
    const was = tokenFileIdentity(resolved, before);
    const is = tokenFileIdentity(resolved, await Deno.stat(path));
    return was !== undefined && JSON.stringify(was) === JSON.stringify(is) ? was : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The token of a client's token file, with its key taken from the key
 * cache, or derived and cached for the next command.
 */
async function clientTokenFile(path: string): Promise<TokenSource> {
  const { token, before } = await readTokenAndStat(path);
  // Only a client asks: a server derives its key once, at start.
  const identity = await unchangedIdentity(path, before);
  if (identity !== undefined) await primeTokenKey(token, identity);
  return { token, from: path };
}

/** Where a token was found, for messages. */
export interface TokenSource {
  token: string;
  /** "FERRY_TOKEN", or the file it was read from. */
  from: string;
}

/** The client's token: --token-file, else FERRY_TOKEN, else the default token file. */
export async function clientToken(tokenFile?: string): Promise<TokenSource> {
  if (tokenFile !== undefined) return await clientTokenFile(tokenFile);
  const fromEnv = Deno.env.get("FERRY_TOKEN");
  if (fromEnv) return { token: checkToken(fromEnv.trim(), "FERRY_TOKEN"), from: "FERRY_TOKEN" };
  const file = defaultTokenFile();
  try {
    await Deno.lstat(file);
  } catch {
    throw new FerryError(
      ErrorCode.AuthFailed,
      `No token: set FERRY_TOKEN, name a token file, or copy the server's token to "${file}"`,
    );
  }
  return await clientTokenFile(file);
}

/**
 * The server's token: --token-file, else FERRY_TOKEN, else the default token
 * file, which is created with a new random token (mode 0600) when missing.
 */
export async function serverToken(
  tokenFile?: string,
): Promise<TokenSource & { generated: boolean }> {
  if (tokenFile !== undefined) {
    return { token: await readTokenFile(tokenFile), from: tokenFile, generated: false };
  }
  const fromEnv = Deno.env.get("FERRY_TOKEN");
  if (fromEnv) {
    return {
      token: checkToken(fromEnv.trim(), "FERRY_TOKEN"),
      from: "FERRY_TOKEN",
      generated: false,
    };
  }
  const file = defaultTokenFile();
  try {
    return { token: await readTokenFile(file), from: file, generated: false };
  } catch (error) {
    if (
      !(error instanceof FerryError && error.cause instanceof FerryError &&
        error.cause.code === ErrorCode.NotFound)
    ) {
      throw error;
    }
  }
  const token = generateToken();
  try {
    await Deno.mkdir(configDir(), { recursive: true, mode: 0o700 });
    // createNew: never overwrite a token another process wrote meanwhile.
    await Deno.writeTextFile(file, token + "\n", { createNew: true, mode: 0o600 });
  } catch (error) {
    throw toFerryError(error, "create the token file", file);
  }
  return { token, from: file, generated: true };
}
