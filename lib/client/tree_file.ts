/**
 * A file a transfer moves, one shape for both directions: where it is read
 * (`source`), where it lands and how reports name it (`target`), and the
 * facts the comparison and the receiving side need. A file found in a
 * source folder is a {@link TreeFile}, kept small because a transfer holds
 * one per file of the tree: its folder's two ends are shared, its paths made
 * only when asked for.
 *
 * @module
 */

import type { ConfinedRoot } from "../fs/confinement.ts";
import type { FileFacts } from "./compare.ts";
import { localPath, type LocalPlace } from "./local_side.ts";

/** One file to move. */
export interface FileJob extends FileFacts {
  /** A local path (send) or a remote path from the server's root (get). */
  readonly source: string;
  /** A remote path (send) or the local path as the user named it (get): the name in reports. */
  readonly target: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
}

/** A file that lands on this side (a get). */
export interface LocalJob extends FileJob {
  /** Where it goes: a folder beneath a held local root, and its name there. */
  readonly place: LocalPlace;
  /** Its real local path, for the checks of what is there. */
  readonly local: string;
}

/** A source folder's two ends: what goes before a file's names below it, on each side. */
export interface TreeEnds {
  readonly source: string;
  readonly target: string;
}

/** The facts a listing or a walk gives of a file. */
export interface FoundFacts {
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
  readonly digest?: string | undefined;
}

/** A file found in a source folder (see the module doc). */
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

/** A file found in a remote folder that lands beneath a held local root. */
export class LocalTreeFile extends TreeFile implements LocalJob {
  readonly #root: ConfinedRoot;
  /** Its folder's names below the root, shared by the folder's files. */
  readonly #folder: readonly string[];

  constructor(ends: TreeEnds, rel: string, facts: FoundFacts, place: LocalPlace) {
    super(ends, rel, facts);
    this.#root = place.root;
    this.#folder = place.folder;
  }

  get place(): LocalPlace {
    return { root: this.#root, folder: this.#folder, name: this.#name };
  }

  get local(): string {
    return localPath(this.#root, [...this.#folder, this.#name]);
  }

  get #name(): string {
    return this.rel.slice(this.rel.lastIndexOf("/") + 1);
  }
}
