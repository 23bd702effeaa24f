/**
 * The server as the receiving side of a send: what it holds under the
 * destinations comes from one listing made for the comparison, removals are
 * RM requests (as numbered backups with `backup`), and folders and their
 * times are MKDIR requests, pipelined with the files.
 *
 * @module
 */

import { ErrorCode, type FerryError } from "../errors.ts";
import { isBackupName } from "../fs/backup.ts";
import { Kind } from "../protocol/frame.ts";
import { encodeMkdir } from "../protocol/requests.ts";
import type { RemoteEntry } from "../protocol/replies.ts";
import {
  canonicalRemotePath,
  isWithinRemote,
  joinRemotePath,
  remotePrefix,
} from "../remote_path.ts";
import type { Connection } from "./connection.ts";
import { InFlight } from "./in_flight.ts";
import { removeRemote } from "./remote_ops.ts";
import type { FolderTime, ReceivingSide, ReceivingTree, SideEntry } from "./side.ts";
import type { TransferTracker } from "./tracker.ts";

// Folder times awaiting their reply at once.
const MAX_IN_FLIGHT = 1024;

/** A remote tree a send fills: a source folder's destination. */
export interface RemoteTree extends ReceivingTree {
  /** Its path from the server's root. */
  readonly base: string;
}

/** The server, receiving a send over `connection`. */
export class RemoteSide implements ReceivingSide<RemoteTree> {
  readonly #connection: Connection;
  readonly #listed: ReadonlyMap<string, RemoteEntry>;
  readonly #backup: boolean | string | undefined;
  /** The backup folder, canonical, once asked for (the server refuses a bad one first). */
  #backupFolder: string | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #inFlight = new InFlight();
  readonly #flush = () => this.#connection.writer.flush();
  #lost: FerryError | undefined;

  /** `listed`: what the server held under the destinations, by path, in listing order. */
  constructor(
    connection: Connection,
    listed: ReadonlyMap<string, RemoteEntry>,
    backup: boolean | string | undefined,
    signal: AbortSignal | undefined,
  ) {
    this.#connection = connection;
    this.#listed = listed;
    this.#backup = backup;
    this.#signal = signal;
  }

  async *entries(tree: RemoteTree): AsyncGenerator<SideEntry> {
    const inside = remotePrefix(tree.base);
    for (const [path, entry] of this.#listed) {
      if (!path.startsWith(inside)) continue;
      yield { rel: path.slice(inside.length), isDir: entry.type === "dir" };
    }
  }

  shown(tree: RemoteTree, rel: string): string {
    return joinRemotePath(tree.base, rel);
  }

  isBackup(tree: RemoteTree, rel: string): boolean {
    const backup = this.#backup;
    if (backup === undefined || backup === false) return false;
    const path = joinRemotePath(tree.base, rel);
    return path.split("/").some(isBackupName) ||
      (typeof backup === "string" &&
        isWithinRemote(this.#backupFolder ??= canonicalRemotePath(backup), path));
  }

  async remove(tree: RemoteTree, entry: SideEntry): Promise<void> {
    const path = joinRemotePath(tree.base, entry.rel);
    await removeRemote(this.#connection, path, {
      recursive: true,
      force: true,
      backup: this.#backup,
    });
  }

  /** A server that refuses one removal (`noDelete`) refuses them all: the delete was refused. */
  endsDeletion(error: FerryError): boolean {
    return error.code === ErrorCode.Connection || error.code === ErrorCode.PermissionDenied;
  }

  /**
   * Makes the folder (and its parents) with its permission bits, pipelined
   * with what follows on the connection: a refusal is a failure in
   * `tracker`; a lost connection rejects this or a later request.
   */
  async makeFolder(path: string, mode: number, tracker: TransferTracker): Promise<void> {
    await this.#pipelined(encodeMkdir({ path, parents: true, mode }), tracker);
  }

  /** Pipelined: the replies are awaited together; a lost connection rejects. */
  async setFolderTimes(
    folders: readonly FolderTime<RemoteTree>[],
    tracker: TransferTracker,
  ): Promise<void> {
    for (let i = folders.length - 1; i >= 0; i--) {
      if (this.#signal?.aborted) break;
      const { tree, rel, mtime } = folders[i]!;
      const path = joinRemotePath(tree.base, rel);
      await this.#pipelined(encodeMkdir({ path, parents: true, mtime }), tracker);
    }
    await this.settle();
  }

  /** Waits for every reply; rejects when the connection was lost. */
  async settle(): Promise<void> {
    await this.#connection.writer.flush().catch((error) => this.#lose(error));
    await this.#inFlight.below(1);
    if (this.#lost !== undefined) throw this.#lost;
  }

  /** Queues an MKDIR whose reply is counted in later (see {@link settle}). */
  async #pipelined(request: Uint8Array, tracker: TransferTracker): Promise<void> {
    if (this.#lost !== undefined) throw this.#lost;
    await this.#inFlight.below(MAX_IN_FLIGHT, this.#flush);
    const call = this.#connection.call(Kind.Mkdir, request, { flush: false });
    this.#inFlight.add();
    void call.ok().then(
      () => {},
      (error) => call.refused ? tracker.failed(error) : this.#lose(error),
    ).finally(() => this.#inFlight.done());
    await call.sent.catch((error) => this.#lose(error));
    if (this.#lost !== undefined) throw this.#lost;
  }

  #lose(error: unknown): void {
    this.#lost ??= this.#connection.connectionError(error);
  }
}
