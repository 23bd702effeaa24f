/**
 * The few C library calls Deno has no op for, reached through `Deno.dlopen`:
 * openat2(2) to resolve a path beneath a folder descriptor in the kernel,
 * openat(2) to create a file by name in a held folder, fchmod(2) and
 * close(2). Linux only; {@link libc} is null where they cannot be had (another
 * OS, no FFI permission, a kernel older than 5.6, no /proc), and callers then
 * take the user-space path.
 *
 * @module
 */

/** openat2's `resolve` flags (linux/openat2.h). */
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;

/** open(2) flags, the same numbers on x86-64 and arm64 Linux. */
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

// The syscall number of openat2 is 437 on every Linux architecture (the unified table).
const SYS_OPENAT2 = 437n;
const OPEN_HOW_BYTES = 24n;

const SYMBOLS = {
  syscall: { parameters: ["i64", "i64", "buffer", "buffer", "usize"], result: "i64" },
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/**
 * A failed call as the error Deno's own ops throw for that errno (NotFound,
 * AlreadyExists, ...), so that one mapping to exit codes serves both, with
 * the errno kept for the callers that tell EXDEV and ELOOP apart.
 */
function systemCallError(call: string, errno: number): Error {
  const message = `${call} failed (os error ${errno})`;
  const Class = ERRORS_BY_ERRNO[errno] ?? Error;
  return Object.assign(new Class(message), { errno });
}

/** The errno of an error thrown by these calls, if it is one. */
export function errnoOf(error: unknown): number | undefined {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === "number" ? errno : undefined;
}

/** errno values the callers tell apart. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EAGAIN: 11,
  EACCES: 13,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  ENOSYS: 38,
  ELOOP: 40,
} as const;

const ERRORS_BY_ERRNO: Record<number, new (message: string) => Error> = {
  [Errno.EPERM]: Deno.errors.PermissionDenied,
  [Errno.EACCES]: Deno.errors.PermissionDenied,
  [Errno.ENOENT]: Deno.errors.NotFound,
  [Errno.EEXIST]: Deno.errors.AlreadyExists,
  [Errno.ENOTDIR]: Deno.errors.NotADirectory,
  [Errno.EISDIR]: Deno.errors.IsADirectory,
};

/** The calls, bound; each throws on failure as a Deno op would (see systemCallError). */
export interface Libc {
  /** openat2(dirFd, path, { flags, mode, resolve }): a new descriptor. */
  openat2(dirFd: number, path: string, flags: number, resolve: number): number;
  /** openat(dirFd, name, flags, mode): a new descriptor. */
  openat(dirFd: number, name: string, flags: number, mode: number): number;
  fchmod(fd: number, mode: number): void;
  close(fd: number): void;
}

const encoder = new TextEncoder();
// A path as C takes it, NUL-terminated, written into one buffer per process:
// the calls are synchronous, and a request path is at most 4096 bytes.
const pathBytes = new Uint8Array(3 * 4096 + 1);

function cString(text: string): Uint8Array {
  const { written } = encoder.encodeInto(text, pathBytes);
  if (written >= pathBytes.length - 1) throw new Deno.errors.InvalidData("path too long");
  pathBytes[written] = 0;
  return pathBytes;
}

function bind(): Libc {
  const { symbols } = Deno.dlopen("libc.so.6", SYMBOLS);
  const errnoView = new Deno.UnsafePointerView(symbols.__errno_location()!);
  const fail = (call: string): never => {
    throw systemCallError(call, errnoView.getInt32());
  };
  // One struct open_how (u64 flags, mode, resolve) per process, refilled per call;
  // the low halves are written (both targets are little-endian), the high ones stay 0.
  const how = new Uint32Array(6);
  const howBytes = new Uint8Array(how.buffer);
  return {
    openat2(dirFd, path, flags, resolve) {
      how[0] = flags;
      how[4] = resolve;
      const dir = BigInt(dirFd);
      const fd = symbols.syscall(SYS_OPENAT2, dir, cString(path), howBytes, OPEN_HOW_BYTES);
      return fd < 0 ? fail("openat2") : Number(fd);
    },
    openat(dirFd, name, flags, mode) {
      const fd = symbols.openat(dirFd, cString(name), flags, mode);
      return fd < 0 ? fail("openat") : fd;
    },
    fchmod(fd, mode) {
      if (symbols.fchmod(fd, mode) < 0) fail("fchmod");
    },
    close(fd) {
      if (symbols.close(fd) < 0) fail("close");
    },
  };
}

// Resolved once: undefined until first asked.
let bound: Libc | null | undefined;
let unavailableBecause = "";

/**
 * The bound calls, or null when openat2 cannot be used here
 * ({@link libcUnavailableBecause} says why). `FERRY_CONFINEMENT=user`
 * forces null, to run the fallback on a machine that has openat2.
 */
export function libc(): Libc | null {
  if (bound !== undefined) return bound;
  bound = null;
  try {
    if (Deno.build.os !== "linux") throw new Error(`${Deno.build.os} has no openat2`);
    if (Deno.env.get("FERRY_CONFINEMENT") === "user") {
      throw new Error("FERRY_CONFINEMENT=user asks for the user-space checks");
    }
    const calls = bind();
    probe(calls);
    bound = calls;
  } catch (error) {
    unavailableBecause = errnoOf(error) === Errno.ENOSYS
      ? "the kernel has no openat2 (Linux 5.6 or later has it)"
      : error instanceof Error
      ? error.message
      : String(error);
  }
  return bound;
}

/** Why {@link libc} is null ("" when it is not). */
export function libcUnavailableBecause(): string {
  libc();
  return unavailableBecause;
}

/** openat2 works, and a descriptor can be reached as /proc/self/fd/N. */
function probe(calls: Libc): void {
  const fd = calls.openat2(-100, /* AT_FDCWD */ "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  try {
    if (!Deno.statSync(`/proc/self/fd/${fd}`).isDirectory) {
      throw new Error("/proc/self/fd does not lead to open folders");
    }
  } finally {
    calls.close(fd);
  }
}
