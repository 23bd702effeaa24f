/**
 * One authenticated client connection on the server: reads request frames
 * in order and hands each to the module that answers it (uploads, downloads,
 * listing, the folder operations here). A protocol violation ends this
 * connection only.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { Kind, kindName } from "../protocol/frame.ts";
import { decodeMkdir, decodeRemove, decodeRename, decodeWatch } from "../protocol/requests.ts";
import { Watcher, type Watchers } from "./watchers.ts";
import { backupPlace } from "../fs/backup.ts";
import type { Hooks } from "./hooks.ts";
import { EMPTY_OK, encodeError, encodeRemoveDone } from "../protocol/replies.ts";
import type { Frame, FrameReader } from "../wire/frame_reader.ts";
import type { FrameWriter } from "../wire/frame_writer.ts";
import { lstatEntry, makeFolder, removeEntry, renameEntry, resolveEntry } from "../fs/root_ops.ts";
import { serveGet } from "./downloads.ts";
import type { ServerEvent } from "./events.ts";
import { describe, serveList, serveStat } from "./listing.ts";
import { checkChange, type ServerLimits, type ServerPolicy } from "./policy.ts";
import { Responder } from "./responder.ts";
import { Uploads } from "./uploads.ts";
import type { ConfinedRoot } from "../fs/confinement.ts";
import { remoteName, splitRemotePath } from "../remote_path.ts";

/** Settings a session needs from its server. */
export interface SessionContext {
  /** The root, held. */
  root: ConfinedRoot;
  /** The client's address, for the log. */
  remote: string;
  /** The name the client gave itself in the handshake, if any. */
  clientName?: string | undefined;
  /** Compression is on here and the client decodes it: a GET may ask for compressed data. */
  compressOk?: boolean;
  /** The server's validate and onReceived hooks, if any. */
  hooks?: Hooks | undefined;
  /** The server's watchers: told of what this session stores, and joined by its WATCHes. */
  watchers?: Watchers | undefined;
  log: (event: ServerEvent) => void;
  policy: ServerPolicy;
  limits: ServerLimits;
}

/** Serves the requests of one authenticated connection. */
export class ServerSession {
  #context: SessionContext;
  #reader: FrameReader;
  #responder: Responder;
  #uploads: Uploads;
  /** A GET or LIST is being answered (its frames are still being queued). */
  #streaming = false;
  /** This connection's WATCH requests. */
  #watching: Watcher[] = [];

  constructor(context: SessionContext, reader: FrameReader, writer: FrameWriter) {
    this.#context = context;
    this.#reader = reader;
    this.#responder = new Responder(
      writer,
      (event) => context.log({ time: new Date().toISOString(), remote: context.remote, ...event }),
    );
    this.#uploads = new Uploads(context, this.#responder, () => reader.lastActivity);
  }

  /** Whether a transfer is in progress (a graceful shutdown waits for it). */
  get busy(): boolean {
    return this.#uploads.busy || this.#streaming || this.#reader.buffered > 0;
  }

  /**
   * Serves requests until the client closes, `stopWhenIdle()` turns true
   * between requests, or an error ends the connection. Always cleans up:
   * temporaries of unfinished uploads are removed.
   */
  async run(stopWhenIdle: () => boolean): Promise<void> {
    const writer = this.#responder.writer;
    try {
      while (!(stopWhenIdle() && !this.busy)) {
        // Replies to requests that arrived together leave in one write, when
        // the loop is about to wait for more (a flush per GET cost a socket
        // round trip per file).
        if (!this.#reader.hasFrame) {
          this.#responder.handlingBuffered = false;
          await writer.flush();
        }
        const frame = await this.#reader.read();
        if (frame === null) break;
        this.#responder.handlingBuffered = true;
        await this.#handle(frame);
      }
      await this.#uploads.drain();
      await writer.flush();
    } catch (error) {
      if (error instanceof FerryError && error.code === ErrorCode.Protocol) {
        this.#responder.log({
          action: "connection",
          ok: false,
          code: error.code,
          message: error.message,
        });
        // Best effort: tell the client why before closing.
        await writer.frame(Kind.Error, 0, encodeError(error), { flush: true }).catch(() => {});
      }
      // Other failures are the connection going away; nothing to tell.
    } finally {
      for (const watcher of this.#watching) this.#context.watchers?.remove(watcher);
      // A dropped connection keeps resumable partials for the next attempt.
      await this.#uploads.close();
    }
  }

  async #handle(frame: Frame): Promise<void> {
    const { kind, id, payload } = frame;
    // Id 0 names the connection itself (its ERROR ends it): no request may use it.
    if (id === 0) {
      throw new FerryError(ErrorCode.Protocol, `A ${kindName(kind)} frame used request id 0`);
    }
    const root = this.#context.root;
    switch (kind) {
      case Kind.Data:
      case Kind.Resume:
      case Kind.End:
      case Kind.Cancel:
        return await this.#uploads.frame(frame);
      case Kind.Put:
        return await this.#uploads.put(id, payload);
      case Kind.Get:
        return await this.#streamed(() =>
          serveGet(root, this.#responder, id, payload, this.#context.compressOk)
        );
      case Kind.Stat:
        return await serveStat(root, this.#responder, id, payload);
      case Kind.List:
        return await this.#streamed(() => serveList(root, this.#responder, id, payload));
      case Kind.Mkdir:
        return await this.#mkdir(id, payload);
      case Kind.Remove:
        return await this.#remove(id, payload);
      case Kind.Rename:
        return await this.#rename(id, payload);
      case Kind.Watch:
        return await this.#watch(id, payload);
      default:
        throw new FerryError(
          ErrorCode.Protocol,
          `A client may not send ${kindName(kind)} frames after authenticating`,
        );
    }
  }

  /** Busy until the final reply is queued, so a graceful shutdown waits for it. */
  async #streamed(answer: () => Promise<void>): Promise<void> {
    this.#streaming = true;
    try {
      await answer();
    } finally {
      this.#streaming = false;
    }
  }

  async #mkdir(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeMkdir(payload);
    try {
      checkChange(this.#context.policy, "create folder", request.path);
      this.#uploads.foldersMade(
        makeFolder(
          this.#context.root,
          request.path,
          request.parents,
          request.mode,
          request.mtime,
        ),
      );
      await this.#responder.reply(id, EMPTY_OK);
    } catch (error) {
      await this.#responder.refuse(id, "mkdir", request.path, error);
    }
  }

  async #remove(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeRemove(payload);
    try {
      // A removal kept as a backup destroys nothing: a --no-delete server allows it.
      checkChange(this.#context.policy, "remove", request.path, request.backup === undefined);
      const removed = await removeEntry(this.#context.root, request.path, {
        ...request,
        backup: backupPlace(this.#context.root.path, request.backup),
      });
      if (removed) this.#responder.log({ action: "rm", path: request.path, ok: true });
      await this.#responder.reply(id, encodeRemoveDone({ removed }));
      if (removed) this.#publishRemoval(request.path);
    } catch (error) {
      await this.#responder.refuse(id, "rm", request.path, error);
    }
  }

  async #rename(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeRename(payload);
    try {
      checkChange(this.#context.policy, "move", request.from, true);
      await renameEntry(this.#context.root, request.from, request.to);
      this.#responder.log({ action: "mv", path: `${request.from} -> ${request.to}`, ok: true });
      await this.#responder.reply(id, EMPTY_OK);
      this.#publishRemoval(request.from);
      await this.#publish(request.to);
    } catch (error) {
      await this.#responder.refuse(id, "mv", request.from, error);
    }
  }

  /**
   * WATCH: from now on this connection is told of every file committed
   * under the folder; the request stays open (no OK) until it ends.
   */
  async #watch(id: number, payload: Uint8Array): Promise<void> {
    const request = decodeWatch(payload);
    const watchers = this.#context.watchers;
    try {
      using entry = resolveEntry(this.#context.root, request.path);
      if (!(await lstatEntry(entry)).isDirectory || watchers === undefined) {
        throw new FerryError(
          ErrorCode.NotDirectory,
          `Cannot watch "${entry.rootPath || "/"}": it is not a folder`,
          { path: entry.rootPath },
        );
      }
      const client = { remote: this.#context.remote, name: this.#context.clientName };
      const watcher = new Watcher(entry.rootPath, client, this.#responder, id);
      watchers.add(watcher);
      this.#watching.push(watcher);
    } catch (error) {
      await this.#responder.refuse(id, "watch", request.path, error, false);
    }
  }

  /** Tells the watchers that `path` is gone (removed, or moved away). */
  #publishRemoval(path: string): void {
    const watchers = this.#context.watchers;
    try {
      const rootPath = splitRemotePath(path).join("/");
      if (watchers === undefined || rootPath === "" || !watchers.watched(rootPath)) return;
      const name = remoteName(rootPath);
      watchers.published({
        name,
        path: rootPath,
        type: "other",
        size: 0,
        mode: 0,
        mtime: 0,
        removed: true,
      });
    } catch { /* not a valid path: nothing was removed */ }
  }

  /** Tells the watchers of what is now at `path` (a moved file, or a folder to sync). */
  async #publish(path: string): Promise<void> {
    const watchers = this.#context.watchers;
    try {
      using entry = resolveEntry(this.#context.root, path);
      if (watchers === undefined || !watchers.watched(entry.rootPath)) return;
      const name = entry.parts.at(-1) ?? "";
      watchers.published({ name, path: entry.rootPath, ...describe(await lstatEntry(entry)) });
    } catch { /* gone again: nothing to tell */ }
  }
}
