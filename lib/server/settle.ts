/**
 * Files that other programs write into a watched folder on the server's own
 * disk (a camera, a script): found with `Deno.watchFs`, and pushed to the
 * watchers once their size and modification time have stayed the same for
 * the settle time, so that a file still being written is not sent half
 * done. ferry's own temporaries are never pushed, and a file the server
 * already pushed as it is (a client's PUT) is not pushed twice.
 *
 * @module
 */

import { describe } from "./listing.ts";
import { isTemporaryName } from "../fs/temporary.ts";
import { isInside } from "../fs/safe_path.ts";
import type { Watchers } from "./watchers.ts";
import { remoteName } from "../remote_path.ts";
import type { RemoteEntry } from "../protocol/replies.ts";

// How often candidates are looked at again.
const CHECK_MS = 250;
// Candidates followed at once; more are dropped (a watcher's next catch-up finds them).
const MAX_CANDIDATES = 10_000;

interface Candidate {
  size: number;
  mtime: number;
  /** When size or mtime last changed (performance.now()). */
  since: number;
}

/** Follows the root's file system events while someone watches. */
export class DiskWatcher {
  #root: string;
  #watchers: Watchers;
  #settleMs: number;
  #events: Deno.FsWatcher | undefined;
  #candidates = new Map<string, Candidate>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #reading: Promise<void> | undefined;

  constructor(root: string, watchers: Watchers, settleMs: number) {
    this.#root = root;
    this.#watchers = watchers;
    this.#settleMs = settleMs;
  }

  /** Starts following events (once; a no-op after). */
  start(): void {
    if (this.#events !== undefined || this.#settleMs <= 0) return;
    try {
      this.#events = Deno.watchFs(this.#root, { recursive: true });
    } catch {
      return; // No inotify (or too many watches): pushes of PUTs still work.
    }
    this.#reading = this.#read(this.#events);
    this.#timer = setInterval(() => this.#check(), CHECK_MS);
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    this.#events?.close();
    return this.#reading ?? Promise.resolve();
  }

  async #read(events: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of events) {
        if (event.kind === "access" || event.kind === "remove") continue;
        for (const path of event.paths) this.#note(path);
      }
    } catch { /* closed */ }
  }

  #note(path: string): void {
    if (!isInside(this.#root, path) || path === this.#root) return;
    const name = remoteName(path);
    if (isTemporaryName(name) || this.#candidates.size >= MAX_CANDIDATES) return;
    const rel = path.slice(this.#root.length + 1);
    if (!this.#watchers.watched(rel)) return;
    const known = this.#candidates.get(rel);
    // Changed again: its settle time starts over at the next check.
    if (known !== undefined) known.since = performance.now();
    else this.#candidates.set(rel, { size: -1, mtime: -1, since: performance.now() });
  }

  #check(): void {
    const now = performance.now();
    for (const [rel, candidate] of this.#candidates) {
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(`${this.#root}/${rel}`);
      } catch {
        this.#candidates.delete(rel); // gone (renamed or removed)
        continue;
      }
      if (!info.isFile) {
        this.#candidates.delete(rel);
        continue;
      }
      const mtime = info.mtime?.getTime() ?? 0;
      if (info.size !== candidate.size || mtime !== candidate.mtime) {
        Object.assign(candidate, { size: info.size, mtime, since: now });
        continue;
      }
      if (now - candidate.since < this.#settleMs) continue;
      this.#candidates.delete(rel);
      const entry: RemoteEntry = {
        name: remoteName(rel),
        path: rel,
        ...describe(info),
      };
      this.#watchers.published(entry, undefined, true);
    }
  }
}
