/**
 * ferry's error model: every failure a user or script can act on carries a
 * stable string code. The same codes travel in ERROR frames on the wire, appear
 * in `--json` output, and become exit codes in one table (commands/exit_codes.ts).
 *
 * @module
 */

import { printable } from "./text.ts";

/**
 * Stable error codes, shared by the wire protocol, the library and the CLI
 * (each maps to one documented exit code).
 *
 * @example
 * ```ts
 * import { ErrorCode, FerryError } from "@ferry/ferry";
 *
 * const error = new FerryError(ErrorCode.NotFound, `Cannot find "a.txt" on the server`);
 * console.log(error.code === ErrorCode.NotFound); // true
 * ```
 */
export const ErrorCode = {
  /** A bad argument: an unknown flag, a malformed address, a folder named without recursion. */
  Usage: "usage",
  /** The token did not match, or no token was available. */
  AuthFailed: "auth_failed",
  /** The server or the local system refused the operation. */
  PermissionDenied: "permission_denied",
  /** A path leaves the root or is not a valid ferry path. */
  BadPath: "bad_path",
  /** A source or remote path does not exist. */
  NotFound: "not_found",
  /** A file was expected but a folder was found, or the reverse. */
  IsDirectory: "is_directory",
  NotDirectory: "not_directory",
  /** The target of mkdir (or of a refused overwrite) already exists. */
  AlreadyExists: "already_exists",
  /** A folder that must be empty is not (mv onto a folder with contents). */
  NotEmpty: "not_empty",
  /** The connection could not be made, was lost, or timed out. */
  Connection: "connection",
  /** The peer broke the protocol: bad magic, unknown frame, oversize header. */
  Protocol: "protocol",
  /** The peer speaks another protocol version. */
  Version: "version",
  /** The received bytes did not match the sender's digest. */
  DigestMismatch: "digest_mismatch",
  /** The server is at its connection limit or shutting down. */
  Busy: "busy",
  /** A local or remote file system operation failed (I/O error). */
  Io: "io",
  /** The disk is full, or a write would leave less than the server's --min-free. */
  NoSpace: "no_space",
  /** A file is larger than the server's --max-size. */
  TooLarge: "too_large",
  /** Some files were transferred and some failed. */
  Partial: "partial",
  /** The operation was cancelled through an AbortSignal or a signal. */
  Aborted: "aborted",
  /** Anything unexpected; a bug report is welcome. */
  Internal: "internal",
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** Whether a string received from a peer is a code this version knows. */
export function isErrorCode(value: string): value is ErrorCode {
  return KNOWN_CODES.has(value);
}

/**
 * An error with a stable code, an actionable message and, where known, a
 * path. Everything the library rejects with is one.
 *
 * @example Telling a missing file from a lost connection
 * ```ts
 * import { connect, ErrorCode, FerryError, FerryServer } from "@ferry/ferry";
 *
 * const root = await Deno.makeTempDir();
 * const token = "a-long-shared-secret-token";
 * await using server = await FerryServer.listen({ root, token, host: "127.0.0.1", port: 0 });
 * await using client = await connect({ host: "127.0.0.1", port: server.port, token });
 * try {
 *   await client.open("missing.txt");
 * } catch (error) {
 *   if (error instanceof FerryError && error.code === ErrorCode.NotFound) console.log(error.message);
 *   else throw error;
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class FerryError extends Error {
  /** "FerryError", for stack traces and logs. */
  override name = "FerryError";
  /** What kind of failure this is: stable across versions, the same on the wire and in `--json`. */
  readonly code: ErrorCode;
  /** The file or folder it concerns, when one does. */
  readonly path: string | undefined;

  /** An error of kind `code`; the message says what failed and what to do. */
  constructor(
    code: ErrorCode,
    message: string,
    options?: { path?: string | undefined; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options?.path;
  }
}

/** How an error of the system reads as a FerryError: its code and what it says. */
interface SystemError {
  matches(error: unknown): boolean;
  code: ErrorCode;
  /** After "Cannot ACTION "PATH": ", or undefined for what the system said. */
  says?: string;
}

const osError = (pattern: RegExp) => (error: unknown) =>
  error instanceof Error && pattern.test(error.message);
const withCode = (code: string) => (error: unknown) =>
  (error as { code?: unknown } | null)?.code === code;

/** The system's errors, tried in order; what matches none is an I/O error. */
const SYSTEM_ERRORS: readonly SystemError[] = [
  {
    matches: (e) => e instanceof Deno.errors.NotFound,
    code: ErrorCode.NotFound,
    says: "no such file or folder",
  },
  {
    matches: (e) =>
      e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable,
    code: ErrorCode.PermissionDenied,
    says: "permission denied",
  },
  // Valid for the protocol, but too long once joined to the root here.
  {
    matches: withCode("ENAMETOOLONG"),
    code: ErrorCode.BadPath,
    says: "the path is too long for this file system",
  },
  {
    matches: (e) => e instanceof Deno.errors.IsADirectory,
    code: ErrorCode.IsDirectory,
    says: "it is a folder",
  },
  {
    matches: (e) => e instanceof Deno.errors.NotADirectory,
    code: ErrorCode.NotDirectory,
    says: "a parent is not a folder",
  },
  {
    matches: (e) => e instanceof Deno.errors.AlreadyExists,
    code: ErrorCode.AlreadyExists,
    says: "it already exists",
  },
  { matches: osError(/\(os error 28\)|ENOSPC/), code: ErrorCode.NoSpace, says: "the disk is full" },
  {
    matches: osError(/\(os error 30\)|EROFS/),
    code: ErrorCode.PermissionDenied,
    says: "the file system is read-only",
  },
  {
    matches: osError(/\(os error 122\)|EDQUOT/),
    code: ErrorCode.NoSpace,
    says: "the disk quota is used up",
  },
  {
    matches: (e) => e instanceof Error && withCode("ENOTEMPTY")(e),
    code: ErrorCode.NotEmpty,
    says: "the folder is not empty",
  },
  { matches: isConnectionError, code: ErrorCode.Connection },
  {
    matches: (e) => e instanceof DOMException && e.name === "AbortError",
    code: ErrorCode.Aborted,
    says: "cancelled",
  },
];

/**
 * Converts errors thrown by Deno's file system and network APIs into a
 * FerryError that names what failed, on which path.
 */
export function toFerryError(error: unknown, action: string, path?: string): FerryError {
  if (error instanceof FerryError) return error;
  const where = path === undefined ? "" : ` "${path}"`;
  const options = path === undefined ? { cause: error } : { path, cause: error };
  const known = SYSTEM_ERRORS.find((kind) => kind.matches(error));
  const says = known?.says ?? osDescription(error);
  return new FerryError(known?.code ?? ErrorCode.Io, `Cannot ${action}${where}: ${says}`, options);
}

/**
 * What the system said, without the runtime's own wrapping: "Input/output
 * error (os error 5): open '/srv/x/.ferry-1.part'" becomes "input/output
 * error", so a message names the path the user knows (a peer never sees the
 * server's folders).
 */
function osDescription(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const os = /^(.*?) \(os error \d+\)/.exec(text);
  if (os === null) return text;
  const description = os[1]!;
  return description.charAt(0).toLowerCase() + description.slice(1);
}

function isConnectionError(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.TimedOut ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.AddrNotAvailable ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.BadResource;
}

/**
 * Whether a retry on a new connection may succeed: a lost or refused
 * connection, or a busy server. Transfers with `retries` use it.
 *
 * @example
 * ```ts
 * import { ErrorCode, FerryError, isRetriableError } from "@ferry/ferry";
 *
 * console.log(isRetriableError(new FerryError(ErrorCode.Connection, "reset"))); // true
 * console.log(isRetriableError(new FerryError(ErrorCode.AuthFailed, "wrong token"))); // false
 * ```
 */
export function isRetriableError(error: unknown): boolean {
  if (error instanceof FerryError && error.cause instanceof UnknownHostError) return false;
  if (error instanceof FerryError) {
    return error.code === ErrorCode.Connection || error.code === ErrorCode.Busy;
  }
  return isConnectionError(error);
}

/**
 * Why a connection could not even start: the host name is not known (a
 * typo), which no retry fixes, unlike a name server that is down for now.
 */
export class UnknownHostError extends Error {
  override name = "UnknownHostError";
}

/**
 * The error for a folder named as a source of a transfer that is not
 * recursive: the same code, path and words for send and get, so that the
 * command line can turn both into the same usage error.
 */
export function folderNeedsRecursive(path: string): FerryError {
  return new FerryError(
    ErrorCode.IsDirectory,
    `"${printable(path || "/")}" is a folder: copy it recursively`,
    { path, cause: RECURSIVE_NEEDED },
  );
}

const RECURSIVE_NEEDED = Symbol("recursive needed");

/** Whether `error` is a source folder named without `recursive` (see {@link folderNeedsRecursive}). */
export function needsRecursive(error: unknown): boolean {
  return error instanceof FerryError && error.cause === RECURSIVE_NEEDED;
}
