/**
 * Receives one file body so that the destination is always either the old
 * file or the complete, verified new one: bytes go to a temporary file in the
 * same folder, the digest is checked, the data is flushed to disk, and only
 * then is the temporary renamed over the destination. Used by the server for
 * PUT and by the client for GET.
 *
 * @module
 */

import { FileDigest, sameDigest } from "./digest.ts";
import { ErrorCode, FerryError, toFerryError } from "./errors.ts";
import { printable } from "./safe_path.ts";

/** What the sender announced about the file. */
export interface IncomingMeta {
  size: number;
  mode: number;
  mtime: number;
}

/** Temporary files are named `.ferry-<16 hex digits>.part`, next to their destination. */
export const TEMP_PREFIX = ".ferry-";
export const TEMP_SUFFIX = ".part";

function tempName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return TEMP_PREFIX + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") +
    TEMP_SUFFIX;
}

/** How {@link IncomingFile.open} treats an existing destination. */
export interface IncomingOptions {
  /**
   * When set, an existing destination is never replaced and this says why
   * (for example "the server runs with --no-delete"); the check is repeated
   * atomically at commit.
   */
  keepExisting?: string;
}

export class IncomingFile {
  readonly path: string;
  readonly tempPath: string;
  readonly meta: IncomingMeta;
  /** How the destination is named in messages (relative, printable). */
  readonly shownAs: string;
  #file: Deno.FsFile;
  #digest: FileDigest;
  #received = 0;
  #done = false;
  #keepExisting: string | undefined;

  private constructor(
    path: string,
    tempPath: string,
    shownAs: string,
    meta: IncomingMeta,
    file: Deno.FsFile,
    digest: FileDigest,
    keepExisting: string | undefined,
  ) {
    this.path = path;
    this.#keepExisting = keepExisting;
    this.tempPath = tempPath;
    this.shownAs = shownAs;
    this.meta = meta;
    this.#file = file;
    this.#digest = digest;
  }

  /**
   * Opens a temporary file beside `path`, whose folder must exist. Refuses a
   * destination that is a folder before any byte is received.
   */
  static async open(
    path: string,
    shownAs: string,
    meta: IncomingMeta,
    options: IncomingOptions = {},
  ): Promise<IncomingFile> {
    try {
      if ((await Deno.lstat(path)).isDirectory) {
        throw new FerryError(
          ErrorCode.IsDirectory,
          `Cannot write "${printable(shownAs)}": a folder is in the way`,
          { path: shownAs },
        );
      }
      if (options.keepExisting !== undefined) throw kept(shownAs, options.keepExisting);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw toFerryError(error, "write", shownAs);
    }
    const tempPath = path.slice(0, path.lastIndexOf("/") + 1) + tempName();
    let file: Deno.FsFile;
    try {
      file = await Deno.open(tempPath, { write: true, createNew: true, mode: 0o600 });
    } catch (error) {
      throw toFerryError(error, "create a temporary file for", shownAs);
    }
    return new IncomingFile(
      path,
      tempPath,
      shownAs,
      meta,
      file,
      await FileDigest.start(),
      options.keepExisting,
    );
  }

  get received(): number {
    return this.#received;
  }

  /** Appends one chunk; refuses bytes beyond the announced size. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#received + chunk.length > this.meta.size) {
      throw new FerryError(
        ErrorCode.Protocol,
        `More bytes arrived for "${printable(this.shownAs)}" than announced`,
      );
    }
    this.#digest.update(chunk);
    try {
      let written = 0;
      while (written < chunk.length) written += await this.#file.write(chunk.subarray(written));
    } catch (error) {
      throw toFerryError(error, "write", this.shownAs);
    }
    this.#received += chunk.length;
  }

  /**
   * Verifies length and digest, applies mode and mtime, flushes to disk and
   * renames over the destination. On any failure the temporary is removed and
   * the old destination, if any, is untouched.
   */
  async commit(expected: Uint8Array): Promise<void> {
    try {
      if (this.#received !== this.meta.size) {
        throw new FerryError(
          ErrorCode.Protocol,
          `"${printable(this.shownAs)}" ended after ${this.#received} of ${this.meta.size} bytes`,
        );
      }
      this.#done = true;
      if (!sameDigest(this.#digest.finish(), expected)) {
        throw new FerryError(
          ErrorCode.DigestMismatch,
          `"${printable(this.shownAs)}" arrived corrupted (digest mismatch); the old file was kept`,
          { path: this.shownAs },
        );
      }
      try {
        await Deno.chmod(this.tempPath, this.meta.mode & 0o777);
        const mtime = new Date(this.meta.mtime);
        await this.#file.utime(mtime, mtime);
        await this.#file.sync();
        this.#file.close();
        if (this.#keepExisting === undefined) {
          await Deno.rename(this.tempPath, this.path);
        } else {
          // link() fails when the destination exists, unlike rename().
          await Deno.link(this.tempPath, this.path);
          await Deno.remove(this.tempPath);
        }
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists && this.#keepExisting !== undefined) {
          throw kept(this.shownAs, this.#keepExisting);
        }
        throw toFerryError(error, "store", this.shownAs);
      }
    } catch (error) {
      await this.discard();
      throw error;
    }
  }

  /** Abandons the transfer: closes and removes the temporary. Safe to call twice. */
  async discard(): Promise<void> {
    if (!this.#done) this.#digest.release();
    this.#done = true;
    try {
      this.#file.close();
    } catch { /* already closed */ }
    try {
      await Deno.remove(this.tempPath);
    } catch { /* already renamed or removed */ }
  }
}

function kept(shownAs: string, why: string): FerryError {
  return new FerryError(
    ErrorCode.PermissionDenied,
    `Cannot replace "${printable(shownAs)}": ${why}`,
    { path: shownAs },
  );
}
