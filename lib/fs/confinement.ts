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
  O_PATH,
  RESOLVE_BENEATH,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
} from "./libc.ts";
import { changedWhileUsed, EXISTING, resolveInside } from "./safe_path.ts";
import { Held, type HoldingRoot, notAFolder } from "./held.ts";
import { printable } from "../text.ts";

export { Held, openLookedUp, type WritableFile } from "./held.ts";

const BENEATH = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
const BENEATH_NO_LINKS = BENEATH | RESOLVE_NO_SYMLINKS;
// openat2 says EAGAIN when a rename elsewhere raced a ".." step; it is retried.
const RACE_RETRIES = 16;

/** How a root is confined: by the kernel, or by the user-space checks. */
export interface ConfinementMode {
  /** openat2 resolves every path beneath the root: the kernel enforces it. */
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

/** Refuses, saying why, when the kernel cannot confine paths here (`--require-confinement`). */
export function requireKernelConfinement(): void {
  const { kernel, why } = confinementMode();
  if (kernel) return;
  throw new FerryError(
    ErrorCode.PermissionDenied,
    `Confinement beneath the root is not kernel-enforced here (${why}), and it is required`,
  );
}

/** A root folder, held; see the module doc. */
export class ConfinedRoot implements HoldingRoot {
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
      const fd = calls.openat2(-100, /* AT_FDCWD */ path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
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
    if (folder.fd === undefined) return new ConfinedRoot(folder.access, null, undefined);
    const fd = this.openBeneath(folder.fd, ".", O_DIRECTORY, folder.parts, false);
    try {
      return new ConfinedRoot(Deno.realPathSync(`/proc/self/fd/${fd}`), this.#libc, fd);
    } catch (error) {
      this.closeFd(fd);
      throw toFerryError(error, "open the folder", folder.real);
    }
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
    if (this.#fd === undefined) {
      return new Held(this, parts, real, undefined, resolveInside(this.path, parts, EXISTING));
    }
    const fd = this.openBeneath(this.#fd, parts.join("/") || ".", O_DIRECTORY, parts, false);
    return new Held(this, parts, real, fd);
  }

  /**
   * What is at `parts`, file or folder, with links inside the root followed
   * (STAT, GET), and its stat. In user space, the stat is of the resolved path.
   */
  object(parts: readonly string[]): { held: Held; info: Deno.FileInfo } {
    const rootPath = parts.join("/") || "/";
    if (this.#fd === undefined) {
      const path = resolveInside(this.path, parts, EXISTING);
      const held = new Held(this, parts, this.#realOf(parts), undefined, path);
      return { held, info: statOrThrow(path, rootPath, Deno.lstatSync) };
    }
    const fd = this.openBeneath(this.#fd, parts.join("/") || ".", 0, parts, false);
    const held = new Held(this, parts, this.#realOf(parts), fd);
    try {
      return { held, info: statOrThrow(held.access, rootPath, Deno.statSync) };
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
        throw refusalOf(error, errno, parts.join("/") || "/", noLinks);
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

/** stat (or lstat) with the error naming `rootPath`. */
function statOrThrow(
  path: string,
  rootPath: string,
  stat: (path: string) => Deno.FileInfo,
): Deno.FileInfo {
  try {
    return stat(path);
  } catch (error) {
    throw toFerryError(error, "find", rootPath);
  }
}

/** What an openat2 failure means for the request at `rootPath`. */
function refusalOf(
  error: unknown,
  errno: number | undefined,
  rootPath: string,
  noLinks: boolean,
): FerryError {
  const refuse = (why: string) =>
    new FerryError(ErrorCode.BadPath, `Refused path "${printable(rootPath)}": ${why}`, {
      path: rootPath,
    });
  if (errno === Errno.EXDEV) return refuse("it leads outside the root (a symlink?)");
  if (errno === Errno.ELOOP) {
    return noLinks ? changedWhileUsed(rootPath) : refuse("it goes through too many symlinks");
  }
  // A walk's step (O_NOFOLLOW) finds a link, or a file, where a folder was looked up.
  if (errno === Errno.ENOTDIR) return noLinks ? changedWhileUsed(rootPath) : notAFolder(rootPath);
  if (errno === Errno.EAGAIN) return changedWhileUsed(rootPath);
  return toFerryError(error, "find", rootPath);
}
