/**
 * What a `FerryServer` is told at `FerryServer.listen()`: the
 * folder, the token, where to listen, its limits and policy, and its hooks.
 *
 * @module
 */

import type { ServerEvent } from "./events.ts";
import type { FsyncMode } from "../protocol/constants.ts";
import type { OfferCheck, ReceivedHandler, Validator } from "./hooks.ts";

/** Options for `FerryServer.listen()`. */
export interface ServerOptions {
  /** The folder to serve. Nothing outside it is ever read or written. */
  root: string;
  /**
   * Create `root` when it is missing (its parent must exist: a typo or an
   * unmounted disk is never made into folders), once the port is bound.
   * Default false: a missing root is a `not_found` error.
   */
  createRoot?: boolean | undefined;
  /**
   * Refuse to start unless the kernel confines every request path beneath
   * the root (openat2, Linux 5.6 and later). Default false: where it is
   * missing, the user-space checks run, and `confinement` says why.
   */
  requireConfinement?: boolean | undefined;
  /** The shared secret clients must prove they know. */
  token: string;
  /** Interface to listen on; by default every IPv4 and IPv6 address ("::", else 0.0.0.0). */
  host?: string | undefined;
  /** Port; 0 picks a free one. Default {@link DEFAULT_PORT}. */
  port?: number | undefined;
  /**
   * Logged-in connections served at once; more are refused as busy. Default 32.
   * Connections still logging in do not count: they have their own bounded pool.
   */
  maxConnections?: number | undefined;
  /** A connection with no traffic for this long is closed. Default 5 minutes. */
  idleTimeoutMs?: number | undefined;
  /** A client must authenticate within this time. Default 10 seconds. */
  handshakeTimeoutMs?: number | undefined;
  /**
   * Delay before answering a wrong token, doubled for every 10 failures of
   * the address within 10 minutes (up to 30 s). Default 1 second.
   */
  authFailureDelayMs?: number | undefined;
  /** Largest file accepted, in bytes. Default: no limit. */
  maxFileSize?: number | undefined;
  /** Refuse a transfer that would leave less free space than this. Default 0: off. */
  minFreeBytes?: number | undefined;
  /** Refuse every change (put, mkdir, rm, mv). */
  readOnly?: boolean | undefined;
  /** Refuse rm and mv and never replace a stored file: an append-only drop box. */
  noDelete?: boolean | undefined;
  /**
   * The weakest durability served (see {@link FsyncMode}): a client asking
   * for less is served at this. Default `each`: every file and its folder
   * are on disk before the client hears OK.
   */
  fsync?: FsyncMode | undefined;
  /**
   * Accept zstd-compressed file data from clients that send it (`-z`), and
   * compress what clients ask to get compressed. Default true; false makes
   * this server one that does not know compression.
   */
  compression?: boolean | undefined;
  /**
   * Receives one event per finished transfer or refusal. A notification:
   * it is not awaited, and what it throws or rejects with is ignored.
   */
  onEvent?: ((event: ServerEvent) => void) | undefined;
  /**
   * Decides at the PUT header, before a byte of the body is accepted,
   * whether a file may be sent (by its path, size or sender): `true`, or a
   * reason to refuse it (the client gets permission_denied with it). Runs
   * before `validate`, which sees the verified bytes. A throw or a hang past
   * `hookTimeoutMs` refuses too.
   */
  admit?: OfferCheck | undefined;
  /**
   * Decides, once a file is verified and before it is committed, whether it
   * is stored: `true`, or a reason to refuse it (the client gets
   * permission_denied with it, and nothing is stored). A throw or a hang
   * past `hookTimeoutMs` refuses too.
   */
  validate?: Validator | undefined;
  /**
   * Told after each file is committed; never delays or fails the transfer.
   * Runs a few at a time, each at most `hookTimeoutMs`; failures are logged
   * as "hook" events.
   */
  onReceived?: ReceivedHandler | undefined;
  /** Time allowed to `admit`, `validate` and `onReceived`. Default 30 seconds. */
  hookTimeoutMs?: number | undefined;
  /**
   * Files written into a watched folder by other programs on this machine
   * are pushed to its watchers once their size and mtime have not changed
   * for this long. Default 2 seconds; 0 turns watching the disk off.
   */
  settleMs?: number | undefined;
}

/** Every field present and defined: what is left once each default is applied. */
type Defined<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };

/** The options a running server keeps, each with its default applied, the root a real path. */
export type ResolvedServerOptions =
  & Defined<
    Omit<
      ServerOptions,
      | "host"
      | "port"
      | "onEvent"
      | "admit"
      | "validate"
      | "onReceived"
      | "hookTimeoutMs"
      | "settleMs"
      | "createRoot"
      | "requireConfinement"
    >
  >
  & { onEvent: ((event: ServerEvent) => void) | undefined };

/** `options` with the documented defaults, serving `root` (already resolved). */
export function resolveServerOptions(options: ServerOptions, root: string): ResolvedServerOptions {
  return {
    root,
    token: options.token,
    maxConnections: options.maxConnections ?? 32,
    idleTimeoutMs: options.idleTimeoutMs ?? 300_000,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    authFailureDelayMs: options.authFailureDelayMs ?? 1_000,
    maxFileSize: options.maxFileSize ?? Number.MAX_SAFE_INTEGER,
    minFreeBytes: options.minFreeBytes ?? 0,
    readOnly: options.readOnly ?? false,
    noDelete: options.noDelete ?? false,
    fsync: options.fsync ?? "each",
    compression: options.compression ?? true,
    onEvent: options.onEvent,
  };
}
