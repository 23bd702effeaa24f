/**
 * What a request holds of the tree beneath a confined root
 * (confinement.ts): a folder (or a file) resolved there, kept open as a
 * descriptor and reached as `/proc/self/fd/N`, so that every operation on
 * it walks only the last name, inside it. In user space (no openat2) it is
 * the resolved path, and {@link Held.confirm} runs the user-space check.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import {
  Errno,
  errnoOf,
  type Libc,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_RDWR,
} from "./libc.ts";
import { changedWhileUsed, confirmSame, sameObject } from "./safe_path.ts";
import { printable } from "../text.ts";

/** What a held folder needs of the root it was resolved beneath. */
export interface HoldingRoot {
  /** The root's real path. */
  readonly path: string;
  /** The bound C calls, null in user space. */
  readonly calls: Libc | null;
  /** openat2 beneath `dirFd`; refusals are FerryErrors naming `parts`. */
  openBeneath(
    dirFd: number,
    path: string,
    flags: number,
    parts: readonly string[],
    noLinks: boolean,
  ): number;
  closeFd(fd: number): void;
}

/**
 * Something resolved beneath a root and held for as long as it is used: a
 * folder (or, from {@link ConfinedRoot.object}, a file). Released by its
 * last user; {@link Held.retain} adds one.
 */
export class Held {
  /** Where it is, named from the root's real path: for messages, hooks and flushes. */
  readonly real: string;
  /** What Deno ops use: `/proc/self/fd/N`, or `real` in user space. */
  readonly access: string;
  /** Its path from the root, in validated names. */
  readonly parts: readonly string[];
  readonly #root: HoldingRoot;
  readonly #fd: number | undefined;
  #users = 1;

  /** Held by `fd`, or in user space reached as `access` (the path resolved by lstat walks). */
  constructor(
    root: HoldingRoot,
    parts: readonly string[],
    real: string,
    fd: number | undefined,
    access = real,
  ) {
    this.#root = root;
    this.parts = parts;
    this.real = real;
    this.#fd = fd;
    this.access = fd === undefined ? access : `/proc/self/fd/${fd}`;
  }

  /** The descriptor, for calls relative to it (undefined in user space). */
  get fd(): number | undefined {
    return this.#fd;
  }

  /** The path of `name` inside this folder, for a Deno op that does not follow its last name. */
  at(name: string): string {
    return `${this.access}/${name}`;
  }

  /** The real path of `name` inside this folder. */
  realAt(name: string): string {
    return this.real === "/" ? `/${name}` : `${this.real}/${name}`;
  }

  /**
   * The subfolder `name`, never through a link (a walk's step). A name
   * swapped for a link meanwhile is refused as changed while used.
   */
  enter(name: string): Held {
    const parts = [...this.parts, name];
    if (this.#fd === undefined) {
      return new Held(this.#root, parts, this.realAt(name), undefined, this.at(name));
    }
    const fd = this.#root.openBeneath(this.#fd, name, O_DIRECTORY | O_NOFOLLOW, parts, true);
    return new Held(this.#root, parts, this.realAt(name), fd);
  }

  /**
   * Opens the regular file `name` here for reading and writing, created
   * (mode 0600) when missing, never through a link: a new one with O_EXCL
   * (which never follows one), an existing one, with the kernel, by openat
   * with O_NOFOLLOW. Its mode is set later through what was opened, never
   * through the name, so a name swapped for a link cannot redirect that.
   */
  openWritable(name: string, exclusive: boolean): WritableFile {
    if (this.#fd === undefined || exclusive) {
      const file = Deno.openSync(this.at(name), {
        read: true,
        write: true,
        create: !exclusive,
        createNew: exclusive,
        mode: 0o600,
      });
      return { file, chmod: (mode) => this.#chmodOpened(name, file, mode), release: () => {} };
    }
    const calls = this.#root.calls!;
    const fd = calls.openat(this.#fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600);
    try {
      const file = Deno.openSync(`/proc/self/fd/${fd}`, { read: true, write: true });
      let open = true;
      return {
        file,
        chmod: (mode) => calls.fchmod(fd, mode),
        release: () => open && (open = false, this.#root.closeFd(fd)),
      };
    } catch (error) {
      this.#root.closeFd(fd);
      throw error;
    }
  }

  /**
   * Sets the mode of `file`, opened as `name` here. With the kernel, the
   * name is opened again (O_PATH, no link followed) and changed only if it
   * is still that file: chmod(2) of a path would follow a link swapped in.
   */
  #chmodOpened(name: string, file: Deno.FsFile, mode: number): void {
    const parts = [...this.parts, name];
    if (this.#fd === undefined) {
      // In user space the name is checked first: a race can still slip between the two.
      if (!sameObject(Deno.lstatSync(this.at(name)), file.statSync())) {
        throw changedWhileUsed(parts.join("/"));
      }
      return Deno.chmodSync(this.at(name), mode);
    }
    const fd = this.#root.openBeneath(this.#fd, name, O_NOFOLLOW, parts, true);
    try {
      const path = `/proc/self/fd/${fd}`;
      if (!sameObject(Deno.statSync(path), file.statSync())) {
        throw changedWhileUsed(parts.join("/"));
      }
      Deno.chmodSync(path, mode);
    } finally {
      this.#root.closeFd(fd);
    }
  }

  /**
   * The subfolder `name` just made here, held. In user space it is first
   * checked to be the one a fresh walk finds: otherwise a parent was
   * swapped for a link while it was made, and the folder (empty: nothing was
   * written into it) is removed again.
   */
  enterMade(name: string): Held {
    try {
      const made = this.enter(name);
      if (!made.kernel) this.confirm([name], lstatOrChanged(made.access, made.parts));
      return made;
    } catch (error) {
      try {
        Deno.removeSync(this.at(name));
      } catch { /* not there, or no longer empty: not ours to remove */ }
      if (error instanceof Deno.errors.NotADirectory || errnoOf(error) === Errno.ENOTDIR) {
        throw notAFolder([...this.parts, name].join("/"));
      }
      throw error instanceof FerryError
        ? error
        : toFerryError(error, "create folder", [...this.parts, name].join("/"));
    }
  }

  /**
   * In user space, checks that `used` (the stat of what was used at `below`
   * inside this folder) is what a fresh walk from the root finds; with the
   * kernel nothing can have moved it outside, and this does nothing.
   */
  confirm(below: readonly string[], used: Deno.FileInfo, followLast = true): void {
    if (this.#fd !== undefined) return;
    confirmSame(this.#root.path, [...this.parts, ...below], used, { followLast });
  }

  /** Whether the kernel holds it (no confirmation needed). */
  get kernel(): boolean {
    return this.#fd !== undefined;
  }

  retain(): this {
    this.#users++;
    return this;
  }

  /** Gives up one use; the last closes the descriptor. Extra calls do nothing. */
  release(): void {
    if (this.#users === 0) return;
    if (--this.#users === 0 && this.#fd !== undefined) this.#root.closeFd(this.#fd);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** A file opened by {@link Held.openWritable}: its mode is set through what was opened. */
export interface WritableFile {
  file: Deno.FsFile;
  chmod(mode: number): void;
  /** Lets go of the descriptor kept for chmod (the file is closed by its owner). */
  release(): void;
}

/**
 * Opens for reading the file at `path` that was looked up as `info` (an
 * lstat in a held folder), and refuses anything else: a name swapped for a
 * link, or for another file, since.
 */
export function openLookedUp(path: string, info: Deno.FileInfo, rootPath: string): Deno.FsFile {
  const file = Deno.openSync(path, { read: true });
  if (sameObject(file.statSync(), info)) return file;
  file.close();
  throw changedWhileUsed(rootPath);
}

/** lstat of what was just made at `path`; gone again means a parent was swapped meanwhile. */
function lstatOrChanged(path: string, parts: readonly string[]): Deno.FileInfo {
  try {
    return Deno.lstatSync(path);
  } catch {
    throw changedWhileUsed(parts.join("/"));
  }
}

/** The refusal of a path that is not a folder where one is needed. */
export function notAFolder(rootPath: string): FerryError {
  return new FerryError(
    ErrorCode.NotDirectory,
    `"${printable(rootPath)}" is not a folder (or a file is in the way)`,
    { path: rootPath },
  );
}
