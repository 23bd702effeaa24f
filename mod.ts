/**
 * ferry as a library: the same client and server the `ferry` command uses,
 * with Promises, progress callbacks and AbortSignal.
 *
 * A client sends and gets files and folders over one authenticated
 * connection. Every file is verified with its digest and committed
 * atomically on the receiving side before the Promise resolves.
 *
 * @example Serve a folder, send a file to it and get it back
 * ```ts
 * import { connect, FerryServer } from "@ferry/ferry";
 *
 * const root = await Deno.makeTempDir();
 * const local = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${local}/hello.txt`, "hello");
 *
 * const token = "a-long-shared-secret-token";
 * await using server = await FerryServer.listen({ root, token, host: "127.0.0.1", port: 0 });
 * await using client = await connect({ host: "127.0.0.1", port: server.port, token });
 *
 * const sent = await client.send([`${local}/hello.txt`], "inbox/", {
 *   onProgress: (p) => console.log(`${p.bytesDone}/${p.bytesTotal} bytes`),
 * });
 * console.log(`${sent.files} file sent in ${sent.seconds.toFixed(3)} s`);
 *
 * await client.get(["inbox/hello.txt"], `${local}/copy.txt`);
 * console.log(await Deno.readTextFile(`${local}/copy.txt`)); // "hello"
 *
 * await Deno.remove(root, { recursive: true });
 * await Deno.remove(local, { recursive: true });
 * ```
 *
 * @module
 */

export { connect, type HostOptions } from "./lib/client/connect.ts";
// A type only: a client is opened with connect(), never constructed.
export type { FerryClient } from "./lib/client/client.ts";
export { type ConnectOptions, DEFAULT_TIMEOUT_MS } from "./lib/client/connection.ts";
export {
  type CommittedFile,
  type GetOptions,
  type Progress,
  type RetryNotice,
  type SendOptions,
  summaryError,
  type TransferChange,
  TransferError,
  type TransferOptions,
  type TransferSummary,
} from "./lib/client/options.ts";
export type { OpenOptions, PutOptions, RemoteFile } from "./lib/client/remote_file.ts";
export type { ListOptions, MkdirOptions, RemoveOptions } from "./lib/client/remote_ops.ts";
export type { RemoteEntry, StatReply } from "./lib/protocol/replies.ts";
export {
  COMPRESS_LEVELS,
  DEFAULT_PORT,
  FSYNC_MODES,
  type FsyncMode,
} from "./lib/protocol/constants.ts";
export { checkFilter } from "./lib/fs/filter.ts";
export { FerryServer, type ServerOptions } from "./lib/server/server.ts";
export type { ServerEvent } from "./lib/server/events.ts";
export type {
  OfferCheck,
  OfferedFile,
  ReceivedFile,
  ReceivedHandler,
  Validator,
} from "./lib/server/hooks.ts";
export type { ClientInfo } from "./lib/server/watchers.ts";
export type { PushSource } from "./lib/server/push.ts";
export type { ConfinementMode } from "./lib/fs/confinement.ts";
export type { WatchedFile, WatchOptions, WatchRun } from "./lib/client/watch.ts";
export { ErrorCode, FerryError, isRetriableError } from "./lib/errors.ts";
export { generateToken } from "./lib/config/token.ts";
