/**
 * Confinement of every path beneath a root: the server's served folder, a
 * get's DEST, a watch's LOCAL. A {@link ConfinedRoot} holds the root as a
 * folder descriptor and resolves request paths beneath it with openat2(2)
 * (`RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`): the kernel walks the whole
 * path atomically and refuses any step that leaves the root, so a folder
 * swapped for a link to the outside at any moment leads nowhere. What was
 * resolved is then held as a descriptor and reached as `/proc/self/fd/N`,
 * so that the Deno ops that act on it (lstat, rename, unlink, mkdir, the
 * temporary's O_EXCL open) walk only the last name, in the held folder, and
 * never a path from `/`.
 *
 * Symlinks inside the root are still followed when their target stays
 * beneath it (a relative link; the kernel refuses absolute ones), as the
 * user-space checks allowed: `RESOLVE_NO_SYMLINKS` would refuse every link,
 * and confinement does not need it. A walk enters each subfolder with
 * `RESOLVE_NO_SYMLINKS` and `O_NOFOLLOW`, since it never follows links.
 *
 * Where openat2 cannot be used (see libc.ts) the same interface runs the
 * user-space checks of safe_path.ts: each step looked up with lstat, and
 * what was used confirmed afterwards by a fresh walk. That narrows the race
 * with a local user who swaps folders; it does not close it.
 *
 * @module
 */

import { ErrorCode, FerryError, toFerryError } from "../errors.ts";
import {
  Errno,
  errnoOf,
  type Libc,
  libc,
  libcUnavailableBecause,
  O_CLOEXEC,
  O_DIRECTORY,
  O_CREAT,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_RDWR,
  RESOLVE_BENEATH,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
} from "./libc.ts";
import {
  changedWhileUsed,
  confirmSame,
  EXISTING,
  printable,
  resolveInside,
  sameObject,
} from "./safe_path.ts";

const BENEATH = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
const BENEATH_NO_LINKS = BENEATH | RESOLVE_NO_SYMLINKS;
// openat2 says EAGAIN when a rename elsewhere raced a ".." step; it is retried.
const RACE_RETRIES = 16;

/** How a root is confined: by the kernel, or by the user-space checks. */
export interface ConfinementMode {
  kernel: boolean;
  /** Why not the kernel ("" when it is). */
  why: string;
}

/** Whether roots opened in this process are confined by the kernel, and if not, why. */
export function confinementMode(): ConfinementMode {
  return libc() === null
    ? { kernel: false, why: libcUnavailableBecause() }
    : { kernel: true, why: "" };
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
  readonly #root: ConfinedRoot;
  readonly #fd: number | undefined;
  #users = 1;

  constructor(root: ConfinedRoot, parts: readonly string[], real: string, fd?: number) {
    this.#root = root;
    this.parts = parts;
    this.real = real;
    this.#fd = fd;
    this.access = fd === undefined ? real : `/proc/self/fd/${fd}`;
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
    if (this.#fd === undefined) return new Held(this.#root, parts, this.realAt(name));
    const fd = this.#root.openBeneath(this.#fd, name, O_DIRECTORY | O_NOFOLLOW, parts, true);
    return new Held(this.#root, parts, this.realAt(name), fd);
  }

  /**
   * Opens the regular file `name` here for reading and writing, created
   * (mode 0600) when missing, never through a link: with the kernel, by
   * openat with O_NOFOLLOW, and its mode set later through the same
   * descriptor, so that a name swapped for a link cannot redirect either.
   * With `exclusive` an existing name fails (O_EXCL).
   */
  openWritable(name: string, exclusive: boolean): WritableFile {
    const path = this.at(name);
    if (this.#fd === undefined) {
      const file = Deno.openSync(path, {
        read: true,
        write: true,
        create: !exclusive,
        createNew: exclusive,
        mode: 0o600,
      });
      return { file, chmod: (mode) => Deno.chmodSync(path, mode), release: () => {} };
    }
    const calls = this.#root.calls!;
    const flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (exclusive ? O_EXCL : 0);
    const fd = calls.openat(this.#fd, name, flags, 0o600);
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
   * The subfolder `name` just made here, held. In user space it is first
   * checked to be the one a fresh walk finds: otherwise a parent was
   * swapped for a link while it was made, and the folder (empty: nothing was
   * written into it) is removed again.
   */
  enterMade(name: string): Held {
    try {
      const made = this.enter(name);
      if (!made.kernel) this.confirm([name], Deno.lstatSync(made.access));
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
export function openLookedUp(path: string, info: Deno.FileInfo, shown: string): Deno.FsFile {
  const file = Deno.openSync(path, { read: true });
  if (sameObject(file.statSync(), info)) return file;
  file.close();
  throw changedWhileUsed(shown);
}

/** A root folder, held; see the module doc. */
export class ConfinedRoot {
  /** The root's real path. */
  readonly path: string;
  readonly #libc: Libc | null;
  #fd: number | undefined;

  private constructor(path: string, calls: Libc | null, fd: number | undefined) {
    this.path = path;
    this.#libc = calls;
    this.#fd = fd;
  }

  /**
   * Holds the folder at `path` as the root (links on the way to it are
   * followed: that path is the caller's choice). Its real path is read
   * back from what was opened.
   */
  static open(path: string): ConfinedRoot {
    const calls = libc();
    try {
      if (calls === null) return new ConfinedRoot(Deno.realPathSync(path), null, undefined);
      const fd = calls.openat2(-100 /* AT_FDCWD */, path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
      try {
        return new ConfinedRoot(Deno.realPathSync(`/proc/self/fd/${fd}`), calls, fd);
      } catch (error) {
        calls.close(fd);
        throw error;
      }
    } catch (error) {
      throw errnoOf(error) === Errno.ENOTDIR
        ? notAFolder(path)
        : toFerryError(error, "open the folder", path);
    }
  }

  /** A root of its own for the folder `folder` held beneath this one (a tree inside a get's DEST). */
  within(folder: Held): ConfinedRoot {
    if (folder.fd === undefined) return new ConfinedRoot(folder.real, null, undefined);
    const fd = this.openBeneath(folder.fd, ".", O_DIRECTORY, folder.parts, false);
    return new ConfinedRoot(folder.real, this.#libc, fd);
  }

  /**
   * A root that is not opened, for a dry run into a folder that may not
   * exist: it resolves in user space, and nothing is written through it.
   */
  static unopened(realPath: string): ConfinedRoot {
    return new ConfinedRoot(realPath, null, undefined);
  }

  /** The bound C calls, null in user space. */
  get calls(): Libc | null {
    return this.#libc;
  }

  /** Whether the kernel confines paths beneath this root. */
  get kernel(): boolean {
    return this.#fd !== undefined;
  }

  /** The root itself, held. */
  top(): Held {
    return this.folder([]);
  }

  /** The existing folder at `parts` (links inside the root followed). */
  folder(parts: readonly string[]): Held {
    const real = this.#realOf(parts);
    if (this.#fd === undefined) return new Held(this, parts, resolveInside(this.path, parts, EXISTING));
    const fd = this.openBeneath(this.#fd, parts.join("/") || ".", O_DIRECTORY, parts, false);
    return new Held(this, parts, real, fd);
  }

  /**
   * What is at `parts`, file or folder, with links inside the root followed
   * (STAT, GET), and its stat. In user space, the stat is of the resolved path.
   */
  object(parts: readonly string[]): { held: Held; info: Deno.FileInfo } {
    const shown = parts.join("/") || "/";
    if (this.#fd === undefined) {
      const path = resolveInside(this.path, parts, EXISTING);
      return { held: new Held(this, parts, path), info: statOrThrow(path, shown, Deno.lstatSync) };
    }
    const fd = this.openBeneath(this.#fd, parts.join("/") || ".", 0, parts, false);
    const held = new Held(this, parts, this.#realOf(parts), fd);
    try {
      return { held, info: statOrThrow(held.access, shown, Deno.statSync) };
    } catch (error) {
      held.release();
      throw error;
    }
  }

  /**
   * The folder at `parts`, made when missing (mode 0755, as mkdir -p),
   * and the real paths of the folders made, deepest first: their parents
   * need a flush. A file in the way is refused as not a folder.
   */
  makeFolders(parts: readonly string[]): { folder: Held; made: string[] } {
    try {
      return { folder: this.folder(parts), made: [] };
    } catch (error) {
      if (!(error instanceof FerryError && error.code === ErrorCode.NotFound)) throw error;
    }
    let folder = this.top();
    const made: string[] = [];
    try {
      for (let i = 0; i < parts.length; i++) {
        const name = parts[i]!;
        const next = this.#step(folder, parts.slice(0, i + 1), name, made);
        folder.release();
        folder = next;
      }
      return { folder, made: made.reverse() };
    } catch (error) {
      folder.release();
      throw error;
    }
  }

  /** One step of makeFolders: the subfolder `name` of `folder`, made if missing. */
  #step(folder: Held, parts: readonly string[], name: string, made: string[]): Held {
    try {
      return this.folder(parts);
    } catch (error) {
      if (!(error instanceof FerryError && error.code === ErrorCode.NotFound)) throw error;
    }
    try {
      // mkdir does not follow its last name: a link planted there makes it fail.
      Deno.mkdirSync(folder.at(name), { mode: 0o755 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return this.folder(parts);
      throw toFerryError(error, "create folder", parts.join("/"));
    }
    made.push(folder.realAt(name));
    return folder.enterMade(name);
  }

  /**
   * openat2 beneath `dirFd`, as an O_PATH descriptor; every refusal is a
   * FerryError naming `parts` (bad_path for a step that would leave).
   */
  openBeneath(
    dirFd: number,
    path: string,
    flags: number,
    parts: readonly string[],
    noLinks: boolean,
  ): number {
    const shown = parts.join("/") || "/";
    for (let attempt = 0;; attempt++) {
      try {
        return this.#libc!.openat2(
          dirFd,
          path,
          flags | O_PATH | O_CLOEXEC,
          noLinks ? BENEATH_NO_LINKS : BENEATH,
        );
      } catch (error) {
        const errno = errnoOf(error);
        if (errno === Errno.EAGAIN && attempt < RACE_RETRIES) continue;
        throw refusalOf(error, errno, shown, noLinks);
      }
    }
  }

  /** Closes a descriptor of a {@link Held}. */
  closeFd(fd: number): void {
    try {
      this.#libc?.close(fd);
    } catch { /* EBADF would be a bug; EINTR leaves it closed on Linux */ }
  }

  /** Lets go of the root's descriptor. */
  close(): void {
    if (this.#fd !== undefined) this.closeFd(this.#fd);
    this.#fd = undefined;
  }

  #realOf(parts: readonly string[]): string {
    if (parts.length === 0) return this.path;
    return this.path === "/" ? `/${parts.join("/")}` : `${this.path}/${parts.join("/")}`;
  }
}

/** stat (or lstat) with the error naming `shown`. */
function statOrThrow(
  path: string,
  shown: string,
  stat: (path: string) => Deno.FileInfo,
): Deno.FileInfo {
  try {
    return stat(path);
  } catch (error) {
    throw toFerryError(error, "find", shown);
  }
}

/** What an openat2 failure means for the request at `shown`. */
function refusalOf(
  error: unknown,
  errno: number | undefined,
  shown: string,
  noLinks: boolean,
): FerryError {
  const refuse = (why: string) =>
    new FerryError(ErrorCode.BadPath, `Refused path "${printable(shown)}": ${why}`, {
      path: shown,
    });
  if (errno === Errno.EXDEV) return refuse("it leads outside the root (a symlink?)");
  if (errno === Errno.ELOOP) {
    return noLinks ? changedWhileUsed(shown) : refuse("it goes through too many symlinks");
  }
  if (errno === Errno.ENOTDIR) return notAFolder(shown);
  if (errno === Errno.EAGAIN) return changedWhileUsed(shown);
  return toFerryError(error, "find", shown);
}

function notAFolder(shown: string): FerryError {
  return new FerryError(
    ErrorCode.NotDirectory,
    `"${printable(shown)}" is not a folder (or a file is in the way)`,
    { path: shown },
  );
}
