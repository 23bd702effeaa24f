/**
 * The Noise pre-shared key of a token. scrypt makes each guess of a
 * human-chosen token cost memory and time, so that one observed handshake
 * does not let anyone test hundreds of thousands of guesses a second; HKDF
 * with a ferry label then makes a token used elsewhere give another key.
 * Computed once per process and token, or taken from the key cache of a
 * token file (key_cache.ts).
 *
 * @module
 */

import { hkdf, scrypt } from "node:crypto";

// scrypt's cost: 2^15 x 8 x 128 bytes = 32 MiB and about 0.1 s here per
// derivation (a Raspberry Pi 4, several times that). A server pays it once;
// a client once per process.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const SALT = "ferry v2 token";
const INFO = "ferry v2 Noise_NNpsk0 psk";
export const PSK_LENGTH = 32;
// Tokens remembered; a process uses one or two.
const MAX_CACHED = 16;

const cache = new Map<string, Promise<Uint8Array>>();

/** The 32-byte PSK of `token`. */
export function pskFor(token: string): Promise<Uint8Array> {
  const cached = cache.get(token);
  if (cached !== undefined) return cached;
  const derived = derive(token);
  remember(token, derived);
  derived.catch(() => cache.delete(token));
  return derived;
}

/** Takes `key` as the PSK of `token` without deriving it (a key cached on disk). */
export function rememberPsk(token: string, key: Uint8Array): void {
  remember(token, Promise.resolve(key));
}

function remember(token: string, key: Promise<Uint8Array>): void {
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(token, key);
}

function derive(token: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(token, SALT, PSK_LENGTH, SCRYPT, (error, stretched) => {
      if (error) return reject(error);
      hkdf("sha256", stretched, new Uint8Array(0), INFO, PSK_LENGTH, (error, key) => {
        if (error) reject(error);
        else resolve(new Uint8Array(key));
      });
    });
  });
}
