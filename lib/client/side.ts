/**
 * A side of a transfer: this machine's files ({@link LocalSide}) or the
 * server's ({@link RemoteSide}). send and get are the same steps with the
 * sides swapped: the walk or listing of the source side, the comparison
 * with what the receiving side holds, the bodies, and one finishing step on
 * the receiving side (extras removed, folder times set, finish.ts). This
 * module holds what a receiving side offers those shared steps.
 *
 * @module
 */

import type { FerryError } from "../errors.ts";
import type { PathFilter } from "../fs/filter.ts";
import type { TransferTracker } from "./tracker.ts";

/** An entry below a tree's top, as the receiving side holds it. */
export interface SideEntry {
  /** Its names below the top, "/"-joined. */
  readonly rel: string;
  readonly isDir: boolean;
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

/** What the shared steps need of the side where files land. */
export interface ReceivingSide<Tree extends ReceivingTree, Entry extends SideEntry = SideEntry> {
  /**
   * Everything below the top of `tree` now, each folder before its
   * contents, never following links; what `filter` excludes may be left out.
   */
  entries(tree: Tree, filter?: PathFilter): AsyncIterable<Entry>;
  /** How `rel` of `tree` is named in reports and errors. */
  shown(tree: Tree, rel: string): string;
  /** Whether `rel` is a backup that transfers keep (`backup`): `delete` leaves it. */
  isBackup(tree: Tree, rel: string): boolean;
  /** Removes an entry `entries` just yielded (a folder with what it holds), or moves it to its backup. */
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
}
