/**
 * What a server lets its clients do: which changes are refused
 * (`serve --read-only`, `--no-delete`) and how big a file may be or how much
 * free space must remain (`--max-size`, `--min-free`).
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import type { ResolvedServerOptions } from "./options.ts";
import { formatBytes, printable } from "../text.ts";
import type { FsyncMode } from "../protocol/constants.ts";

/** What the server lets clients change. */
export interface ServerPolicy {
  /** Refuse every change: put, mkdir, rm, mv. */
  readOnly: boolean;
  /** Refuse rm and mv, and never replace an existing file: an append-only drop box. */
  noDelete: boolean;
  /** The weakest durability served: a PUT asking for less is served at this (`--fsync`). */
  fsyncFloor: FsyncMode;
}

/** What the server accepts. */
export interface ServerLimits {
  /** Largest file accepted, in bytes. */
  maxFileSize: number;
  /** Free bytes that must remain on the root's file system; 0 turns the check off. */
  minFreeBytes: number;
}

/** The policy of a server's options. */
export function policyOf(options: ResolvedServerOptions): ServerPolicy {
  return { readOnly: options.readOnly, noDelete: options.noDelete, fsyncFloor: options.fsync };
}

/** The limits of a server's options. */
export function limitsOf(options: ResolvedServerOptions): ServerLimits {
  return { maxFileSize: options.maxFileSize, minFreeBytes: options.minFreeBytes };
}

/**
 * Refuses a change the policy forbids, naming the server's setting.
 * `destroys` marks changes that remove or replace what is stored (rm, mv).
 */
export function checkChange(
  policy: ServerPolicy,
  action: string,
  path: string,
  destroys = false,
): void {
  const setting = policy.readOnly
    ? "read-only"
    : destroys && policy.noDelete
    ? "no-delete"
    : undefined;
  if (setting === undefined) return;
  throw new FerryError(
    ErrorCode.PermissionDenied,
    `Cannot ${action} "${printable(path)}": the server runs with --${setting}`,
    { path },
  );
}

/** Why an existing file is kept under `noDelete`, for the upload's refusal. */
export const KEEPS_STORED_FILES = "the server runs with --no-delete, which keeps stored files";

/** The refusal of a file over the size limit. */
export function tooLarge(rootPath: string, max: number): FerryError {
  return new FerryError(
    ErrorCode.TooLarge,
    `Cannot store "${printable(rootPath)}": it is larger than the server's --max-size of ${
      formatBytes(max)
    }`,
    { path: rootPath },
  );
}
