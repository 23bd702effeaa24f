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
import { MAX_DEPTH, printable } from "./safe_path.ts";
import type { PathFilter } from "./filter.ts";

export type TreeEntry =
  /** `rel` is "/"-joined and relative to the walk's root; "" is the root itself. */
  | { type: "dir"; rel: string; path: string; info: Deno.FileInfo }
  | { type: "file"; rel: string; path: string; info: Deno.FileInfo }
  /** A symlink, special file or too-deep folder; `info` is its lstat. */
  | { type: "skipped"; rel: string; path: string; why: string; info: Deno.FileInfo }
  | { type: "error"; rel: string; path: string; error: FerryError };

/**
 * Yields the root folder, then every folder before its contents, sorted by
 * name. With `descend: false` only the root's own entries are yielded.
 */
export async function* walkTree(
  root: string,
  rootInfo: Deno.FileInfo,
  options: WalkOptions = {},
): AsyncGenerator<TreeEntry> {
  yield { type: "dir", rel: "", path: root, info: rootInfo };
  const depth = options.descend === false ? 0 : 1;
  yield* walkChildren(root, "", rootInfo, depth, options);
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
  confirm?: (rel: string, info: Deno.FileInfo) => void;
  /** What is excluded is not yielded, and an excluded folder is not entered. */
  filter?: PathFilter | undefined;
}

/** `depth` 0 lists one folder without descending. */
async function* walkChildren(
  dir: string,
  rel: string,
  dirInfo: Deno.FileInfo,
  depth: number,
  options: WalkOptions,
): AsyncGenerator<TreeEntry> {
  const countTemporaries = options.countTemporaries ?? false;
  let names: string[];
  const temporaries: string[] = [];
  try {
    names = [];
    // ferry's own temporaries (partial transfers) are never walked; with
    // countTemporaries (a send) they are yielded as skipped. Synchronous calls:
    // a walk makes one per entry, and each is cheaper than a thread-pool round trip.
    for (const entry of Deno.readDirSync(dir)) {
      if (!isTemporaryName(entry.name)) names.push(entry.name);
      else if (countTemporaries) temporaries.push(entry.name);
    }
  } catch (error) {
    yield { type: "error", rel, path: dir, error: toFerryError(error, "list", rel || ".") };
    return;
  }
  names.sort();
  for (const name of temporaries.sort()) {
    const path = `${dir}/${name}`;
    const childRel = rel === "" ? name : `${rel}/${name}`;
    try {
      const info = Deno.lstatSync(path);
      yield { type: "skipped", rel: childRel, path, why: "named like a ferry temporary", info };
    } catch { /* gone meanwhile */ }
  }
  // With a check, every entry is looked up before the folder is confirmed and any is yielded.
  const look = lookUp(dir, rel);
  const looked = options.confirm === undefined ? undefined : names.map(look);
  if (options.confirm !== undefined) options.confirm(rel, dirInfo);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const path = `${dir}/${name}`;
    const childRel = rel === "" ? name : `${rel}/${name}`;
    const info = looked === undefined ? look(name) : looked[i]!;
    if (options.filter?.excludes(childRel, !(info instanceof FerryError) && info.isDirectory)) {
      continue;
    }
    if (info instanceof FerryError) {
      yield { type: "error", rel: childRel, path, error: info };
      continue;
    }
    if (info.isFile) {
      yield { type: "file", rel: childRel, path, info };
    } else if (info.isDirectory) {
      if (depth >= MAX_DEPTH) {
        yield {
          type: "skipped",
          rel: childRel,
          path,
          why: `deeper than ${MAX_DEPTH} folders`,
          info,
        };
        continue;
      }
      yield { type: "dir", rel: childRel, path, info };
      if (depth > 0) yield* walkChildren(path, childRel, info, depth + 1, options);
    } else {
      yield {
        type: "skipped",
        rel: childRel,
        path,
        why: info.isSymlink ? "a symlink" : "not a regular file",
        info,
      };
    }
  }
}

/** lstat of a name in `dir`, or why it cannot be read. */
function lookUp(dir: string, rel: string): (name: string) => Deno.FileInfo | FerryError {
  return (name) => {
    try {
      return Deno.lstatSync(`${dir}/${name}`);
    } catch (error) {
      return unreadable(error, rel === "" ? name : `${rel}/${name}`);
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
