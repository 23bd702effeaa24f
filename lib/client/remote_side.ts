/**
 * The server as a side of a transfer. As the source (a get) each source is
 * looked up with STAT and a folder listed as a stream, on a connection of
 * its own: on the fetching one, the server would answer the GETs only
 * after the whole listing, which waits for them; every name it announces is
 * checked to lie inside the source. As the receiving side (a send) the
 * sources are placed as cp would, what the server holds under them comes
 * from one listing made for the comparison, folders and their times are
 * MKDIR requests pipelined with the files, and removals RM requests (as
 * numbered backups with `backup`).
 *
 * @module
 */

import { ErrorCode, FerryError, folderNeedsRecursive } from "../errors.ts";
import { isBackupName } from "../fs/backup.ts";
import { digestFileHex } from "../fs/digest.ts";
import type { PathFilter } from "../fs/filter.ts";
import { Kind } from "../protocol/frame.ts";
import { encodeMkdir } from "../protocol/requests.ts";
import type { RemoteEntry } from "../protocol/replies.ts";
import {
  canonicalRemotePath,
  isWithinRemote,
  joinRemotePath,
  remotePrefix,
  splitAnnouncedName,
  splitRemotePath,
} from "../remote_path.ts";
import { printable } from "../text.ts";
import { keepsReceiving } from "./compare.ts";
import type { Connection } from "./connection.ts";
import { InFlight } from "./lane.ts";
import { refuseCollisions, type SelectionPolicy, type TransferPolicy } from "./options.ts";
import { listRemote, removeRemote, statRemote } from "./remote_ops.ts";
import { Sender } from "./sender.ts";
import {
  type FileJob,
  type FolderTime,
  type FoundFacts,
  type FoundSource,
  type Placement,
  type ReceivingSide,
  type ReceivingTree,
  type SideEntry,
  type SourceEntry,
  type SourceSide,
  type TreeEnds,
  TreeFile,
} from "./side.ts";
import type { TransferTracker } from "./tracker.ts";

// Folder requests awaiting their reply at once.
const MAX_IN_FLIGHT = 1024;

/** A remote tree a send fills: a source's destination. */
export interface RemoteTree extends ReceivingTree {
  /** Its path from the server's root. */
  readonly base: string;
  readonly ends: TreeEnds;
}

/** The server, over `connection`: the source of a get, or where a send lands. */
export class RemoteSide implements SourceSide<FoundSource>, ReceivingSide<RemoteTree, FileJob> {
  readonly ordersBySize = false;
  readonly #connection: Connection;
  readonly #openLane: () => Promise<Connection>;
  readonly #policy: TransferPolicy;
  #lister: Promise<Connection> | undefined;
  /** What the server held under the destinations, by path, in listing order (sync, delete). */
  #listed: ReadonlyMap<string, RemoteEntry> = new Map();
  #listing: Promise<Map<string, RemoteEntry>> | undefined;
  /** The backup folder, canonical, once asked for (the server refuses a bad one first). */
  #backupFolder: string | undefined;
  readonly #inFlight = new InFlight();
  readonly #flush = () => this.#connection.writer.flush();
  #lost: FerryError | undefined;

  constructor(
    connection: Connection,
    openLane: () => Promise<Connection>,
    policy: TransferPolicy,
  ) {
    this.#connection = connection;
    this.#openLane = openLane;
    this.#policy = policy;
  }

  /**
   * Looks every source up before anything moves: a missing one, or a folder
   * without `recursive`, is refused.
   */
  async lookUp(paths: readonly string[]): Promise<FoundSource[]> {
    const found: FoundSource[] = [];
    for (const path of paths) {
      const info = await statRemote(this.#connection, path);
      const shown = printable(path || "/");
      if (info === null) {
        throw new FerryError(ErrorCode.NotFound, `Cannot find "${shown}" on the server`, { path });
      }
      if (info.type !== "file" && info.type !== "dir") {
        throw new FerryError(ErrorCode.NotFound, `"${shown}" is not a file or folder`, { path });
      }
      const isFolder = info.type === "dir";
      if (isFolder && !this.#policy.selection.recursive) throw folderNeedsRecursive(path);
      const { size, mode, mtime } = info;
      const name = splitRemotePath(path).at(-1) ?? "";
      found.push({ path, name, isFolder, facts: { size, mode, mtime } });
    }
    return found;
  }

  prefixOf(source: FoundSource): string {
    return remotePrefix(splitRemotePath(source.path).join("/"));
  }

  contents(source: FoundSource, tracker: TransferTracker): AsyncGenerator<SourceEntry> {
    return source.isFolder
      ? this.#folderEntries(source, tracker)
      : this.#fileEntry(source, tracker);
  }

  /** STAT told size and mtime; only checksum needs the listing's digest. */
  async *#fileEntry(source: FoundSource, tracker: TransferTracker): AsyncGenerator<SourceEntry> {
    if (!this.#policy.selection.checksum) {
      yield { rel: "", type: "file", facts: source.facts };
      return;
    }
    const onNotice = (error: FerryError) => tracker.failed(error);
    const listing = listRemote(await this.#listingConnection(), source.path, {
      digests: true,
      onNotice,
    });
    for await (const entry of listing) {
      if (entry.type === "file") yield { rel: "", type: "file", facts: entry };
    }
  }

  /** The folder, then what it holds, listed recursively as a stream. */
  async *#folderEntries(
    source: FoundSource,
    tracker: TransferTracker,
  ): AsyncGenerator<SourceEntry> {
    yield { rel: "", type: "dir", facts: source.facts };
    const { selection, signal } = this.#policy;
    const listing = listRemote(await this.#listingConnection(), source.path, {
      recursive: true,
      digests: selection.checksum,
      onNotice: (error) => tracker.failed(error),
      signal,
      filter: selection.filter?.rules,
    });
    const base = splitRemotePath(source.path).join("/");
    for await (const entry of listing) {
      const rel = namesBelow(entry.path, base, source.path).join("/");
      const isDir = entry.type === "dir";
      // The server applies the rules too; one that does not know them lists everything.
      if (selection.filter?.excludesPath(rel, isDir)) continue;
      const type = isDir ? "dir" : entry.type === "file" ? "file" : "other";
      yield { rel, type, facts: entry };
    }
  }

  /** The connection that lists a get's sources, opened when first needed. */
  #listingConnection(): Promise<Connection> {
    return this.#lister ??= this.#openLane();
  }

  async close(): Promise<void> {
    const lister = this.#lister;
    this.#lister = undefined;
    if (lister !== undefined) await (await lister.catch(() => undefined))?.close();
  }

  async place<Source extends FoundSource>(
    sources: readonly Source[],
    dest: string,
  ): Promise<Placement<Source, RemoteTree>[]> {
    const bases = await this.#destinationBases(sources, dest);
    const placed = sources.map((source, i) => {
      const target = bases[i]!.join("/");
      const open = (prefix: string) => this.#open(source, target, prefix);
      return { source, target, open };
    });
    refuseCollisions(placed.map(({ source, target }) => ({ source: source.path, target })));
    const { selection } = this.#policy;
    if (selection.compares) {
      const trees = placed.map(({ source, target }) => ({
        base: target,
        isFolder: source.isFolder,
      }));
      this.#listing = this.#listDestinations(trees, selection.checksum, selection.filter);
      // A failed listing is reported when a tree is opened, not as an unhandled rejection.
      this.#listing.catch(() => {});
    }
    return placed;
  }

  /** Where each source goes, following cp: into DEST when it is a folder, else as DEST. */
  async #destinationBases(sources: readonly FoundSource[], dest: string): Promise<string[][]> {
    const destParts = splitRemotePath(dest);
    const intoFolder = dest.endsWith("/") || destParts.length === 0;
    const remote = await statRemote(this.#connection, dest);
    const needsFolder = intoFolder || sources.length > 1 || sources.some((s) => s.isFolder);
    if (remote !== null && remote.type !== "dir" && needsFolder) {
      throw new FerryError(
        ErrorCode.NotDirectory,
        `The destination "${printable(dest)}" exists and is not a folder`,
        { path: dest },
      );
    }
    if (remote?.type !== "dir" && !intoFolder && sources.length === 1) return [destParts];
    return sources.map((source) => {
      if (source.name === "" && !source.isFolder) {
        throw new FerryError(ErrorCode.BadPath, `Cannot name "${source.path}" on the server`, {
          path: source.path,
        });
      }
      return source.name === "" ? destParts : [...destParts, source.name];
    });
  }

  /**
   * What the server holds under the sources' destinations (listed
   * recursively for folders), by remote path; nothing for a destination
   * that does not exist.
   */
  async #listDestinations(
    trees: { base: string; isFolder: boolean }[],
    digests: boolean,
    filter: PathFilter | undefined,
  ): Promise<Map<string, RemoteEntry>> {
    const remote = new Map<string, RemoteEntry>();
    for (const tree of trees) {
      try {
        const options = { recursive: tree.isFolder, digests, filter: filter?.rules };
        for await (const entry of listRemote(this.#connection, tree.base, options)) {
          remote.set(entry.path, entry);
        }
      } catch (error) {
        if (!(error instanceof FerryError && error.code === ErrorCode.NotFound)) throw error;
      }
    }
    return remote;
  }

  async #open(source: FoundSource, base: string, prefix: string): Promise<RemoteTree> {
    if (this.#listing !== undefined) this.#listed = await this.#listing;
    const ends = source.isFolder
      ? { source: prefix, target: remotePrefix(base) }
      : { source: source.path, target: base };
    return { base, ends, keep: new Set() };
  }

  /** Made with its permission bits unless the server has it already (or in a dry run). */
  async folder(
    tree: RemoteTree,
    rel: string,
    facts: FoundFacts,
    tracker: TransferTracker,
  ): Promise<void> {
    const path = joinRemotePath(tree.base, rel);
    if (this.#policy.dryRun || this.#listed.get(path)?.type === "dir") return;
    await this.makeFolder(path, facts.mode, tracker);
  }

  job(tree: RemoteTree, rel: string, facts: FoundFacts): FileJob {
    if (rel !== "") return new TreeFile(tree.ends, rel, facts);
    const { size, mode, mtime, digest } = facts;
    return { source: tree.ends.source, target: tree.ends.target, size, mode, mtime, digest };
  }

  /** Against the listing; the local file's digest is computed only when the sizes agree. */
  keeps(job: FileJob, rules: SelectionPolicy): Promise<boolean> {
    const there = this.#listed.get(job.target);
    const receiving = there && { ...there, isFile: there.type === "file" };
    return keepsReceiving(job, receiving, rules, () => digestFileHex(job.source));
  }

  mover(connection: Connection, tracker: TransferTracker): Sender {
    return new Sender(connection, tracker, this.#policy.commit, this.#policy.move);
  }

  /** The server acknowledges each file only once committed. */
  drain(): Promise<void> {
    return Promise.resolve();
  }

  async *held(tree: RemoteTree): AsyncGenerator<SideEntry> {
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
    const { backup } = this.#policy.commit;
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
      backup: this.#policy.commit.backup,
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
      if (this.#policy.signal?.aborted) break;
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

/** The names of a listed path below the source; entry paths are from the server root. */
function namesBelow(path: string, base: string, source: string): string[] {
  if (base !== "" && !path.startsWith(`${base}/`)) {
    throw new FerryError(
      ErrorCode.BadPath,
      `Refused name "${printable(path)}" from the server: it is not inside "${
        printable(source || "/")
      }"`,
      { path },
    );
  }
  return splitAnnouncedName(base === "" ? path : path.slice(base.length + 1));
}
