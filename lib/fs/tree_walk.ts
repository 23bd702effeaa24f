/**
 * Walks a folder tree without following symlinks: the client walks what it
 * sends, the server walks what a recursive GET asks for. Symlinks and special
 * files are reported as skipped, never followed, so a walk stays inside the
 * tree it started in.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import { isTemporaryName } from "./temporary.ts";
import type { PathFilter } from "./filter.ts";
import { joinRemotePath, MAX_DEPTH } from "../remote_path.ts";
import { printable } from "../text.ts";

export type TreeEntry =
  /** `rel` is "/"-joined and relative to the walk's root; "" is the root itself. */
  | { type: "dir"; rel: string; path: string; info: Deno.FileInfo }
  | { type: "file"; rel: string; path: string; info: Deno.FileInfo }
  /** A symlink, special file or too-deep folder; `info` is its lstat. */
  | { type: "skipped"; rel: string; path: string; why: string; info: Deno.FileInfo }
  | { type: "error"; rel: string; path: string; error: FerryError };

/**
 * A folder as a walk reads it: the path Deno ops use for it, and how to
 * enter a subfolder. On the server it is a folder held beneath the root
 * (confinement.ts), so that a path yielded is only good while the walk is
 * in its folder: use it before asking for the next entry.
 */
export interface WalkFolder {
  readonly access: string;
  /** The subfolder `name`; throws when it is no longer a folder. */
  enter(name: string): WalkFolder;
  release(): void;
}

/** A folder walked by its path (what a client sends, a get's DEST for --delete). */
class PathFolder implements WalkFolder {
  constructor(readonly access: string) {}
  enter(name: string): WalkFolder {
    return new PathFolder(`${this.access}/${name}`);
  }
  release(): void {}
}

/**
 * Yields the root folder, then every folder before its contents, sorted by
 * name. With `descend: false` only the root's own entries are yielded.
 * The root stays the caller's to release.
 */
export async function* walkTree(
  root: string | WalkFolder,
  rootInfo: Deno.FileInfo,
  options: WalkOptions = {},
): AsyncGenerator<TreeEntry> {
  const folder = typeof root === "string" ? new PathFolder(root) : root;
  yield { type: "dir", rel: "", path: folder.access, info: rootInfo };
  const depth = options.descend === false ? 0 : 1;
  yield* walkChildren(folder, "", rootInfo, depth, options);
}

/** How {@link walkTree} walks. */
export interface WalkOptions {
  /** False: the root's own entries only. */
  descend?: boolean;
  /** Yield ferry's temporaries as skipped (a send) instead of passing over them. */
  countTemporaries?: boolean;
  /**
   * Called with each folder (its `rel` and the lstat it was entered with)
   * once its entries were read and before any is yielded; throws to stop the
   * walk when the folder is not the one it was (the server's swap check).
   */
  confirm?: ((rel: string, info: Deno.FileInfo) => void) | undefined;
  /** What is excluded is not yielded, and an excluded folder is not entered. */
  filter?: PathFilter | undefined;
}

// Entries looked up at once. With a check, a batch is looked up, then its
// folder confirmed, then yielded: what is yielded was seen while the folder
// was the one entered, and a folder of 100,000 names holds one batch of
// lstat results at a time, not 100,000.
const LOOKUP_BATCH = 256;

/** `depth` 0 lists one folder without descending. */
async function* walkChildren(
  folder: WalkFolder,
  rel: string,
  dirInfo: Deno.FileInfo,
  depth: number,
  options: WalkOptions,
): AsyncGenerator<TreeEntry> {
  const dir = folder.access;
  let listed: FolderNames;
  try {
    listed = readNames(dir, options.countTemporaries ?? false);
  } catch (error) {
    yield { type: "error", rel, path: dir, error: toFerryError(error, "list", rel || ".") };
    return;
  }
  yield* skippedTemporaries(dir, rel, listed.temporaries);
  const look = lookUp(dir, rel);
  const { names } = listed;
  for (let start = 0; start < names.length; start += LOOKUP_BATCH) {
    const batch = names.slice(start, start + LOOKUP_BATCH);
    const looked = options.confirm === undefined ? undefined : batch.map(look);
    options.confirm?.(rel, dirInfo);
    for (let i = 0; i < batch.length; i++) {
      const name = batch[i]!;
      const childRel = joinRemotePath(rel, name);
      const info = looked === undefined ? look(name) : looked[i]!;
      yield* childEntries(folder, name, childRel, info, depth, options);
    }
  }
}

/** A folder's names, sorted, with ferry's temporaries apart. */
interface FolderNames {
  names: string[];
  /** Only with `countTemporaries`; otherwise they are passed over. */
  temporaries: string[];
}

/**
 * ferry's own temporaries (partial transfers) are never walked; with
 * countTemporaries (a send) they are yielded as skipped. Synchronous calls:
 * a walk makes one per entry, and each is cheaper than a thread-pool round trip.
 */
function readNames(dir: string, countTemporaries: boolean): FolderNames {
  const names: string[] = [];
  const temporaries: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!isTemporaryName(entry.name)) names.push(entry.name);
    else if (countTemporaries) temporaries.push(entry.name);
  }
  return { names: names.sort(), temporaries: temporaries.sort() };
}

function* skippedTemporaries(dir: string, rel: string, names: string[]): Generator<TreeEntry> {
  for (const name of names) {
    const path = `${dir}/${name}`;
    const childRel = joinRemotePath(rel, name);
    try {
      const info = Deno.lstatSync(path);
      yield { type: "skipped", rel: childRel, path, why: "named like a ferry temporary", info };
    } catch { /* gone meanwhile */ }
  }
}

/** One entry of a folder as the walk yields it, then (a folder, when descending) its contents. */
async function* childEntries(
  folder: WalkFolder,
  name: string,
  rel: string,
  info: Deno.FileInfo | FerryError,
  depth: number,
  options: WalkOptions,
): AsyncGenerator<TreeEntry> {
  const path = `${folder.access}/${name}`;
  if (options.filter?.excludes(rel, !(info instanceof FerryError) && info.isDirectory)) return;
  if (info instanceof FerryError) {
    yield { type: "error", rel, path, error: info };
  } else if (info.isFile) {
    yield { type: "file", rel, path, info };
  } else if (!info.isDirectory) {
    const why = info.isSymlink ? "a symlink" : "not a regular file";
    yield { type: "skipped", rel, path, why, info };
  } else if (depth >= MAX_DEPTH) {
    yield { type: "skipped", rel, path, why: `deeper than ${MAX_DEPTH} folders`, info };
  } else {
    yield { type: "dir", rel, path, info };
    if (depth > 0) yield* walkSubfolder(folder, name, rel, info, depth, options);
  }
}

/** Enters the subfolder `name` and walks it, letting go of it after. */
async function* walkSubfolder(
  folder: WalkFolder,
  name: string,
  rel: string,
  info: Deno.FileInfo,
  depth: number,
  options: WalkOptions,
): AsyncGenerator<TreeEntry> {
  let sub: WalkFolder;
  try {
    sub = folder.enter(name);
  } catch (error) {
    yield {
      type: "error",
      rel,
      path: `${folder.access}/${name}`,
      error: toFerryError(error, "list", rel),
    };
    return;
  }
  try {
    yield* walkChildren(sub, rel, info, depth + 1, options);
  } finally {
    sub.release();
  }
}

/** lstat of a name in `dir`, or why it cannot be read. */
function lookUp(dir: string, rel: string): (name: string) => Deno.FileInfo | FerryError {
  return (name) => {
    try {
      return Deno.lstatSync(`${dir}/${name}`);
    } catch (error) {
      return unreadable(error, joinRemotePath(rel, name));
    }
  };
}

/**
 * Why an entry the folder listed cannot be read. Deno hands names that are
 * not valid UTF-8 over with U+FFFD in place of the bad bytes, so that name
 * then names nothing: say so rather than "no such file".
 */
function unreadable(error: unknown, rel: string): FerryError {
  if (error instanceof Deno.errors.NotFound && rel.includes("\uFFFD")) {
    return new FerryError(
      ErrorCode.BadPath,
      `Cannot read "${
        printable(rel)
      }": its name is not valid UTF-8, which ferry cannot carry; rename it`,
      { path: rel },
    );
  }
  return toFerryError(error, "read", rel);
}
