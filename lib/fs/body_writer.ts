/**
 * Writes a body into its temporary as it arrives, in order: a small chunk
 * straight to the page cache, a big one from a copy beside the event loop
 * (so receiving, decrypting and hashing the next overlap with the disk),
 * and a big file's data written back in the background every 32 MiB, so
 * that the flush before the commit has little left to do.
 *
 * @module
 */

// A big file is flushed in the background every this many bytes.
const BACKGROUND_FLUSH_BYTES = 32 * 1024 * 1024;
// Chunks up to this size are written with writeSync.
const SYNC_WRITE_LIMIT = 64 * 1024;

/** The ordered writes and background flushes of one temporary. */
export class BodyWriter {
  #file: Deno.FsFile;
  /** The write of the last big chunk, still going (from #copy). */
  #writing: Promise<void> | undefined;
  #copy: Uint8Array | undefined;
  #unflushed = 0;
  #flushing: Promise<void> | undefined;
  /** The failure of a background flush: a lost write, reported by {@link BodyWriter.flushed}. */
  #flushError: unknown;

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /** Whether a write or a background flush is under way. */
  get busy(): boolean {
    return this.#writing !== undefined || this.#flushing !== undefined;
  }

  /**
   * Appends `chunk` (which may be the reader's buffer: what outlives the
   * call is copied). The write before it must have landed first: its
   * failure is thrown here.
   */
  async write(chunk: Uint8Array): Promise<void> {
    await this.settled();
    if (chunk.length <= SYNC_WRITE_LIMIT) {
      let written = 0;
      while (written < chunk.length) written += this.#file.writeSync(chunk.subarray(written));
    } else {
      // Sized to the chunk: a file of a few hundred KiB does not get a whole MiB.
      if (this.#copy === undefined || this.#copy.length < chunk.length) {
        this.#copy = new Uint8Array(chunk.length);
      }
      const copy = this.#copy.subarray(0, chunk.length);
      copy.set(chunk);
      const writing = this.#writing = this.#writeAll(copy);
      // Done: nothing under way (a failure stays, for the next write or settled()).
      writing.then(() => this.#writing === writing && (this.#writing = undefined), () => {});
    }
    this.#unflushed += chunk.length;
    if (this.#unflushed >= BACKGROUND_FLUSH_BYTES && this.#flushing === undefined) {
      this.#unflushed = 0;
      this.#flushing = this.#file.syncData().catch((error) => {
        this.#flushError ??= error;
      }).finally(() => this.#flushing = undefined);
    }
  }

  /** Waits for the write in progress, if any; its failure is thrown here. */
  async settled(): Promise<void> {
    const writing = this.#writing;
    if (writing === undefined) return;
    this.#writing = undefined;
    await writing;
  }

  /** Waits for the background flush; a flush that failed (a lost write) throws. */
  async flushed(): Promise<void> {
    await this.#flushing;
    if (this.#flushError !== undefined) throw this.#flushError;
  }

  /** Waits for whatever is under way, failed or not, before the file is closed. */
  async stopped(): Promise<void> {
    await this.#writing?.catch(() => {});
    await this.#flushing;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await this.#file.write(bytes.subarray(written));
    }
  }
}
