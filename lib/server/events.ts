/**
 * The server's log: one event per finished transfer or refusal, given to
 * `ServerOptions.onEvent` (and printed by `ferry serve`).
 *
 * @module
 */

/** One line of the server log: a finished transfer or a refusal. */
export interface ServerEvent {
  /** ISO 8601 time of the event. */
  time: string;
  /** The client's address and port. */
  remote: string;
  /**
   * What was asked for; "auth" and "connection" are refused logins and
   * broken connections, "hook" a failed `onReceived` run.
   */
  action:
    | "put"
    | "get"
    | "stat"
    | "list"
    | "mkdir"
    | "rm"
    | "mv"
    | "auth"
    | "connection"
    | "hook"
    | "watch"
    | "push";
  /** The name the client gave itself, if any. */
  client?: string | undefined;
  /** The path it concerned, relative to the root. */
  path?: string | undefined;
  /** Bytes of file bodies moved. */
  bytes?: number | undefined;
  /** Files moved (a GET of a folder). */
  files?: number | undefined;
  /** How a stored file was made durable (see `ServerOptions.fsync`): the mode served. */
  fsync?: "each" | "batch" | "none" | undefined;
  /** Whether it succeeded. */
  ok: boolean;
  /** The error code of a refusal. */
  code?: string | undefined;
  /** The message of a refusal. */
  message?: string | undefined;
}

/** An event before the session adds the time and the client's address. */
export type SessionEvent = Omit<ServerEvent, "time" | "remote">;
