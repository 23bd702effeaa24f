/**
 * File digests: xxh3-128 from hash-wasm (about 2.8 GB/s here, against about
 * 0.18 GB/s for SHA-256). It detects corruption and truncation; the token
 * handshake, not the digest, is what keeps strangers out.
 *
 * @module
 */

import { createXXHash128, type IHasher } from "hash-wasm";
import { DIGEST_SIZE } from "./messages.ts";

// Instantiating the WebAssembly module costs far more than hashing a small
// file, so hashers are reused.
const idle: IHasher[] = [];
const MAX_IDLE = 64;

/** A running digest of one file body. Call {@link FileDigest.finish} exactly once. */
export class FileDigest {
  #hasher: IHasher;
  #released = false;

  private constructor(hasher: IHasher) {
    this.#hasher = hasher;
  }

  static async start(): Promise<FileDigest> {
    const hasher = idle.pop() ?? await createXXHash128();
    hasher.init();
    return new FileDigest(hasher);
  }

  update(bytes: Uint8Array): void {
    if (this.#released) throw new Error("FileDigest used after finish()");
    this.#hasher.update(bytes);
  }

  /** The 16-byte digest; the hasher goes back to the pool. */
  finish(): Uint8Array {
    const digest = this.#hasher.digest("binary");
    this.release();
    return digest;
  }

  /** Returns the hasher to the pool without a digest (abandoned transfers). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (idle.length < MAX_IDLE) idle.push(this.#hasher);
  }
}

/** Whether two digests are equal. */
export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== DIGEST_SIZE || b.length !== DIGEST_SIZE) return false;
  for (let i = 0; i < DIGEST_SIZE; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lower-case hex, for messages and tests. */
export function digestHex(digest: Uint8Array): string {
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
