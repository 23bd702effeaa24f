/**
 * The last step of every send and get, on the receiving side whichever it
 * is: with `delete`, what the source folders do not have is removed (or, in
 * a dry run, reported); then each folder gets its source's modification
 * time, deepest first, since files arriving and entries removed change it.
 *
 * @module
 */

import { toFerryError } from "../errors.ts";
import type { PathFilter } from "../fs/filter.ts";
import type { FolderTime, ReceivingSide, ReceivingTree, SideEntry } from "./side.ts";
import type { TransferTracker } from "./tracker.ts";

/** What the finishing step does, and on which trees. */
export interface Finish<Tree extends ReceivingTree> {
  /** The receiving side's trees that source folders filled. */
  trees: readonly Tree[];
  /** The folders made or filled, parents first, with their source's times. */
  folderTimes: readonly FolderTime<Tree>[];
  /** Remove what the sources do not have (only when no file failed). */
  delete: boolean;
  /** Report, change nothing. */
  dryRun: boolean;
  /** What the rules exclude is not the transfer's to remove. */
  filter: PathFilter | undefined;
}

/** Removes the extras (with `delete`, when no file failed), then sets the folders' times. */
export async function finish<Tree extends ReceivingTree, Entry extends SideEntry>(
  side: ReceivingSide<Tree, Entry>,
  how: Finish<Tree>,
  tracker: TransferTracker,
): Promise<void> {
  if (how.delete && tracker.failures.length === 0) {
    for (const tree of how.trees) await deleteExtras(side, tree, how, tracker);
  }
  if (!how.dryRun) await side.setFolderTimes(how.folderTimes, tracker);
}

/** Removes what `tree` holds beyond the names it keeps, its backups and what the rules exclude. */
async function deleteExtras<Tree extends ReceivingTree, Entry extends SideEntry>(
  side: ReceivingSide<Tree, Entry>,
  tree: Tree,
  { filter, dryRun }: Finish<Tree>,
  tracker: TransferTracker,
): Promise<void> {
  // Folders removed: what was inside them went with them.
  const removed: string[] = [];
  for await (const entry of side.entries(tree, filter)) {
    const { rel } = entry;
    if (tree.keep.has(rel) || side.isBackup(tree, rel)) continue;
    if (filter?.excludesPath(rel, entry.isDir)) continue;
    if (removed.some((dir) => rel.startsWith(`${dir}/`))) continue;
    const shown = side.shown(tree, rel);
    if (!dryRun) {
      try {
        await side.remove(tree, entry);
      } catch (error) {
        const failure = toFerryError(error, "remove", shown);
        if (side.endsDeletion(failure)) throw failure;
        tracker.failed(failure);
        continue;
      }
    }
    removed.push(rel);
    tracker.deleted(shown);
  }
}
