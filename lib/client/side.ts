/**
 * A side of a transfer: this machine's files ({@link LocalSide}) or the
 * server's ({@link RemoteSide}). send and get are one transfer
 * (transfer.ts) with the sides swapped: the source side yields what each
 * source holds, the receiving side places the sources, makes their
 * folders, says what it already has, moves the bodies (its {@link Mover})
 * and is finished (extras removed, folder times set). This module holds
 * what each role offers, and the file shapes the sides hand over.
 *
 * @module
 */

import type { FerryError } from "../errors.ts";
import type { PathFilter } from "../fs/filter.ts";
import type { FileFacts } from "./compare.ts";
import type { Connection } from "./connection.ts";
import type { Mover } from "./lane.ts";
import type { SelectionPolicy } from "./options.ts";
import type { TransferTracker } from "./tracker.ts";

/** What a walk or a listing tells of an entry. */
export interface FoundFacts {
  readonly size: number;
  readonly mode: number;
  /** Milliseconds since the epoch. */
  readonly mtime: number;
  readonly digest?: string | undefined;
}

/** A source, looked up before anything moves. */
export interface FoundSource {
  /** As given: a local path, or a remote path from the server's root. */
  readonly path: string;
  /** Its last name, the one it gets inside a destination folder ("" for none: "/", "."). */
  readonly name: string;
  readonly isFolder: boolean;
  /** Its size, permission bits and time, as looked up. */
  readonly facts: FoundFacts;
}

/** An entry of a source: the source itself (`rel` ""), then what a folder holds. */
export interface SourceEntry {
  /** Its names below the source, "/"-joined. */
  readonly rel: string;
  /** "other": a link or special file, left out. */
  readonly type: "file" | "dir" | "other";
  readonly facts: FoundFacts;
}

/** What a side offers as the source of a transfer. */
export interface SourceSide<Source extends FoundSource> {
  /**
   * Whether its files are held whole under `parallel`, to move the biggest
   * first: a local walk is cheap to hold; a listing streams instead, so
   * that memory does not grow with the tree.
   */
  readonly ordersBySize: boolean;
  /** What goes before the names below the folder `source` to read them. */
  prefixOf(source: Source): string;
  /**
   * The entries of `source`, itself first, each folder before what it
   * holds; what the rules exclude is left out, what cannot be read is a
   * failure in `tracker`.
   */
  contents(source: Source, tracker: TransferTracker): AsyncIterable<SourceEntry>;
  /** Ends what it opened for the transfer. */
  close(): Promise<void> | void;
}

/** A folder tree a transfer fills on the receiving side: the counterpart of a source folder. */
export interface ReceivingTree {
  /** The names below its top the source has, what `delete` keeps (filled only for delete). */
  readonly keep: Set<string>;
}

/** A folder whose modification time is set once everything in it is in place. */
export interface FolderTime<Tree> {
  readonly tree: Tree;
  /** Its names below the tree's top ("" for the top itself). */
  readonly rel: string;
  /** Milliseconds since the epoch. */
  readonly mtime: number;
}

/** Where one source lands. */
export interface Placement<Source, Tree> {
  readonly source: Source;
  /** Its place as reports name it: a remote path, or a local path as the user would. */
  readonly target: string;
  /** Begins filling it (a folder is made when missing); `prefix` is the source's {@link SourceSide.prefixOf}. */
  open(prefix: string): Promise<Tree>;
}

/** An entry below a tree's top, as the receiving side holds it. */
export interface SideEntry {
  /** Its names below the top, "/"-joined. */
  readonly rel: string;
  readonly isDir: boolean;
}

/** What a side offers as the side where files land. */
export interface ReceivingSide<
  Tree extends ReceivingTree,
  Job extends FileJob,
  Entry extends SideEntry = SideEntry,
> {
  /**
   * Where each source goes, following cp: into `dest` when it is (or is
   * to be) a folder, else as `dest`; sources that would land on one place
   * are refused before anything is made.
   */
  place<Source extends FoundSource>(
    sources: readonly Source[],
    dest: string,
  ): Promise<Placement<Source, Tree>[]>;
  /** Makes the folder `rel` of `tree` (not in a dry run); what fails of it is a failure in `tracker`. */
  folder(tree: Tree, rel: string, facts: FoundFacts, tracker: TransferTracker): Promise<void>;
  /** The file `rel` of `tree` ("" for a source that is a file), to move. */
  job(tree: Tree, rel: string, facts: FoundFacts): Job;
  /** Whether it keeps what it holds at the file's place (compare.ts decides). */
  keeps(job: Job, rules: SelectionPolicy): Promise<boolean>;
  /** How a file is moved to this side over `connection`. */
  mover(connection: Connection, tracker: TransferTracker): Mover<Job>;
  /** Waits until every file moved is committed. */
  drain(): Promise<void>;
  /**
   * Everything below the top of `tree` now, each folder before its
   * contents, never following links; what `filter` excludes may be left out.
   */
  held(tree: Tree, filter?: PathFilter): AsyncIterable<Entry>;
  /** How `rel` of `tree` is named in reports and errors. */
  shown(tree: Tree, rel: string): string;
  /** Whether `rel` is a backup that transfers keep (`backup`): `delete` leaves it. */
  isBackup(tree: Tree, rel: string): boolean;
  /** Removes an entry `held` just yielded (a folder with what it holds), or moves it to its backup. */
  remove(tree: Tree, entry: Entry): Promise<void>;
  /**
   * Whether a failed removal ends the deletion: the side is gone, or
   * refuses every removal (a server with `noDelete`), rather than this one.
   */
  endsDeletion(error: FerryError): boolean;
  /**
   * Sets the folders' times, deepest first (`folders` lists parents
   * first); a folder that cannot be set is a failure in `tracker`.
   */
  setFolderTimes(folders: readonly FolderTime<Tree>[], tracker: TransferTracker): Promise<void>;
  /** Ends what it opened for the transfer. */
  close(): Promise<void> | void;
}

/** One file to move, the same shape in both directions. */
export interface FileJob extends FileFacts {
  /** Where it is read: a local path (send) or a remote path from the server's root (get). */
  readonly source: string;
  /** Where it lands: a remote path (send) or the local path as the user named it (get). */
  readonly target: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
}

/** A source folder's two ends: what goes before a file's names below it, on each side. */
export interface TreeEnds {
  readonly source: string;
  readonly target: string;
}

/**
 * A file found in a source folder. A transfer holds one per file of the
 * tree, so it is kept small: its folder's two ends are shared, its paths
 * made only when asked for.
 */
export class TreeFile implements FileJob {
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
  readonly digest: string | undefined;
  readonly #ends: TreeEnds;
  /** Its names below the folder, "/"-joined. */
  protected readonly rel: string;

  constructor(ends: TreeEnds, rel: string, { size, mode, mtime, digest }: FoundFacts) {
    this.#ends = ends;
    this.rel = rel;
    this.size = size;
    this.mode = mode;
    this.mtime = mtime;
    this.digest = digest;
  }

  get source(): string {
    return this.#ends.source + this.rel;
  }

  get target(): string {
    return this.#ends.target + this.rel;
  }
}
