/**
 * Clients watching folders (WATCH): each is told, over its own connection,
 * of every file committed under its folder, by whatever means (a client's
 * PUT or RENAME, the server library's push, another program on the server,
 * see `settle.ts`). A watcher's queue is bounded: one that falls too far
 * behind is told to sync its folder instead (a `dir` entry), so a slow or
 * stalled watcher never slows senders or other watchers.
 *
 * @module
 */

import { Kind } from "../protocol/frame.ts";
import { encodeEntries, entryJson, type RemoteEntry } from "../protocol/replies.ts";
import type { Responder } from "./responder.ts";
import { remoteName } from "../remote_path.ts";

// Entries a watcher may have waiting before it is told to sync instead.
const MAX_QUEUED = 1024;
// Entries per ENTRIES frame.
const BATCH = 256;
// An empty batch this often keeps a quiet watch from looking stalled to the
// client (whose stall timeout is at least a few seconds) and shows it the
// server is still there.
const HEARTBEAT_MS = 5_000;

/** A connected client as the server library lists it. */
export interface ClientInfo {
  /** Its address and port. */
  remote: string;
  /** The name it gave (`--name`, `connect({name})`), if any. */
  name: string | undefined;
  /** The folders it watches, relative to the root ("" is the root). */
  watching: string[];
}

/** One WATCH request: its folder, and the pump of its notifications. */
export class Watcher {
  readonly folder: string;
  readonly remote: string;
  readonly name: string | undefined;
  #responder: Responder;
  #id: number;
  #queue: RemoteEntry[] = [];
  #pumping: Promise<void> | undefined;
  #heartbeat: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(
    folder: string,
    client: { remote: string; name: string | undefined },
    responder: Responder,
    id: number,
  ) {
    this.folder = folder;
    this.remote = client.remote;
    this.name = client.name;
    this.#responder = responder;
    this.#id = id;
    this.#heartbeat = setInterval(() => this.#pump(true), HEARTBEAT_MS);
  }

  /** Whether `path` (relative to the root) is under this watcher's folder. */
  covers(path: string): boolean {
    return this.folder === "" || path === this.folder || path.startsWith(`${this.folder}/`);
  }

  /** Queues `entry` for this watcher; never waits. */
  offer(entry: RemoteEntry): void {
    if (this.#closed) return;
    if (this.#queue.length >= MAX_QUEUED) {
      // Too far behind: one "sync the folder" replaces what was waiting.
      const name = remoteName(this.folder);
      this.#queue = [{ name, path: this.folder, type: "dir", size: 0, mode: 0o755, mtime: 0 }];
    } else {
      this.#queue.push(entry);
    }
    this.#pump(false);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#queue = [];
  }

  #pump(heartbeat: boolean): void {
    if (this.#closed || this.#pumping !== undefined) return;
    if (!heartbeat && this.#queue.length === 0) return;
    this.#pumping = (async () => {
      try {
        do {
          const batch = this.#queue.splice(0, BATCH).map(entryJson);
          await this.#responder.writer.frame(Kind.Entries, this.#id, encodeEntries(batch), {
            flush: true,
          });
        } while (this.#queue.length > 0 && !this.#closed);
      } catch {
        // The connection is gone: its session ends and removes this watcher.
        this.close();
      } finally {
        this.#pumping = undefined;
      }
    })();
  }
}

// Files pushed lately, remembered so that the disk watcher does not push the
// same version again (a PUT's rename is also a file system event).
const MAX_RECENT = 10_000;

/** Every watcher of one server. */
export class Watchers {
  #all = new Set<Watcher>();
  #recent = new Map<string, string>();
  #onFirst: () => void;

  /** `onFirst` runs when the first watcher joins (the server starts watching its disk). */
  constructor(onFirst: () => void = () => {}) {
    this.#onFirst = onFirst;
  }

  add(watcher: Watcher): void {
    this.#all.add(watcher);
    this.#onFirst();
  }

  remove(watcher: Watcher): void {
    watcher.close();
    this.#all.delete(watcher);
  }

  /**
   * A file or folder under the root changed (`entry.path` is relative to
   * the root): each watcher of a folder that holds it is told, or with `to`
   * only the watchers of the client of that name. `fromDisk`: found on the
   * disk, and not told again when it was pushed as it is. Returns how many
   * were told.
   */
  published(entry: RemoteEntry, to?: string, fromDisk = false): number {
    if (this.#all.size === 0) return 0;
    const version = entry.removed ? "removed" : `${entry.size}:${entry.mtime}`;
    if (fromDisk && this.#recent.get(entry.path) === version) return 0;
    if (this.#recent.size >= MAX_RECENT) this.#recent.clear();
    this.#recent.set(entry.path, version);
    let told = 0;
    for (const watcher of this.#all) {
      if (!watcher.covers(entry.path) || (to !== undefined && watcher.name !== to)) continue;
      watcher.offer(entry);
      told++;
    }
    return told;
  }

  /** Whether anyone watches a folder holding `path`. */
  watched(path: string): boolean {
    for (const watcher of this.#all) if (watcher.covers(path)) return true;
    return false;
  }

  /** The folders the connection at `remote` watches. */
  foldersOf(remote: string): string[] {
    return [...this.#all].filter((watcher) => watcher.remote === remote).map((w) => w.folder);
  }
}
