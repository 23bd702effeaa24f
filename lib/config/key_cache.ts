/**
 * The key cache of token files. Deriving a token's key costs about 0.1 s
 * and 32 MiB of scrypt (psk.ts), which a server pays once but every client
 * command would pay again: more than an rsync run over an unchanged tree.
 * So the key of a token read from a file is kept in the user's cache
 * folder (`~/.cache/ferry/keys`, mode 0700, one file of mode 0600 per token
 * file), and taken again while the token file is the same file, unchanged.
 *
 * What this trades: nothing that the token file does not already hold. The
 * cached key lets its reader in as the token does, but does not reveal the
 * token (scrypt stands between them); it is written only for a token that
 * is itself on disk, never for FERRY_TOKEN. The entry is keyed by the token
 * file's identity (device, inode, size, change and modification times),
 * not by any fast hash of the token, so reading it gives no quick way to
 * test guesses of the token either. Any doubt (a folder others may write,
 * a link, a damaged entry) only means deriving again.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { PSK_LENGTH, pskFor, rememberPsk } from "./psk.ts";

/** Where and what a token file is; its key is cached only while this holds. */
export interface TokenFileIdentity {
  /** The token file's resolved path (it names the cache entry). */
  path: string;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  /** Its owner: the cache folders must belong to the same user. */
  uid: number;
}

// A token file changed less than this long before it was read is not
// cached: another change within the same clock tick could leave the same
// times behind (git's "racily clean" index entries have the same cure).
const SETTLED_MS = 2_000;
const ENTRY_VERSION = 1;

/** The identity of a token file from its stat, or undefined when stat lacks a part. */
export function tokenFileIdentity(
  path: string,
  info: Deno.FileInfo,
): TokenFileIdentity | undefined {
  const { dev, ino, size, mtime, ctime, uid } = info;
  if (ino === null || mtime === null || ctime === null || uid === null) return undefined;
  return { path, dev, ino, size, mtimeMs: mtime.getTime(), ctimeMs: ctime.getTime(), uid };
}

/**
 * Makes `pskFor(token)` answer at once with the cached key of the token
 * file `identity`, or else derives the key and caches it for the next
 * process. Never fails: without a usable cache, the key is derived as
 * before.
 */
export async function primeTokenKey(token: string, identity: TokenFileIdentity): Promise<void> {
  const name = createHash("sha256").update(identity.path).digest("hex");
  const folder = await keysFolder(identity.uid, false).catch(() => undefined);
  const cached = folder === undefined
    ? undefined
    : await readEntry(`${folder}/${name}`, identity).catch(() => undefined);
  if (cached !== undefined) return rememberPsk(token, cached);
  if (Date.now() - Math.max(identity.mtimeMs, identity.ctimeMs) < SETTLED_MS) return;
  const made = await keysFolder(identity.uid, true).catch(() => undefined);
  const key = made === undefined ? undefined : await pskFor(token).catch(() => undefined);
  if (key !== undefined) await writeEntry(`${made}/${name}`, identity, key).catch(() => {});
}

/**
 * The cache folder, made when missing if `create`. It and ferry's folder
 * above it must be real folders (not links) of the token file's owner that
 * no one else may write, or a local user could read or plant keys.
 */
async function keysFolder(owner: number, create: boolean): Promise<string | undefined> {
  const base = Deno.env.get("XDG_CACHE_HOME") ||
    (Deno.env.get("HOME") ? `${Deno.env.get("HOME")}/.cache` : undefined);
  if (!base?.startsWith("/")) return undefined;
  const ferry = `${base}/ferry`;
  const keys = `${ferry}/keys`;
  if (create) await Deno.mkdir(keys, { recursive: true, mode: 0o700 });
  for (const [folder, private_] of [[ferry, false], [keys, true]] as const) {
    const info = await Deno.lstat(folder);
    const others = info.mode === null ? 0o777 : info.mode & (private_ ? 0o077 : 0o022);
    if (!info.isDirectory || info.uid !== owner || others !== 0) return undefined;
  }
  return keys;
}

interface Entry {
  v: number;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  key: string;
}

async function readEntry(
  path: string,
  identity: TokenFileIdentity,
): Promise<Uint8Array | undefined> {
  const entry = JSON.parse(await Deno.readTextFile(path)) as Entry;
  const same = entry.v === ENTRY_VERSION && entry.dev === identity.dev &&
    entry.ino === identity.ino && entry.size === identity.size &&
    entry.mtimeMs === identity.mtimeMs && entry.ctimeMs === identity.ctimeMs;
  if (!same || typeof entry.key !== "string") return undefined;
  const key = Uint8Array.from(atob(entry.key), (c) => c.charCodeAt(0));
  return key.length === PSK_LENGTH ? key : undefined;
}

/** Writes the entry whole or not at all: a new file of mode 0600, then a rename. */
async function writeEntry(
  path: string,
  identity: TokenFileIdentity,
  key: Uint8Array,
): Promise<void> {
  const { dev, ino, size, mtimeMs, ctimeMs } = identity;
  const entry: Entry = {
    v: ENTRY_VERSION,
    dev,
    ino,
    size,
    mtimeMs,
    ctimeMs,
    key: btoa(String.fromCharCode(...key)),
  };
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temporary, JSON.stringify(entry) + "\n", {
      createNew: true,
      mode: 0o600,
    });
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}
