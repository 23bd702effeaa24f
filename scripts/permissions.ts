/**
 * The permissions the ferry binary ships with: network, files, the
 * environment (for FERRY_TOKEN, HOME and XDG_CONFIG_HOME), and running
 * programs. ferry runs a program only when told to: coreutils `sync` for
 * --fsync=batch, and the commands the user names with send --from-command
 * (through `sh -c`) and serve --accept and --on-receive (directly). Those
 * are arbitrary programs by design, so the permission cannot name them.
 * No -A, no ffi. The compile task bakes these in; the CLI tests run with
 * exactly these.
 *
 * @module
 */

export const SHIPPED_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  // Free disk space for serve --min-free, and nothing else of the system.
  "--allow-sys=statfs",
  // coreutils `sync -f` (the only syncfs Deno can reach) for --fsync=batch, and
  // the user's own commands: send --from-command, serve --accept and --on-receive.
  "--allow-run",
];

/**
 * The permissions and the V8 setting ferry runs with. A 1 MiB young
 * generation makes V8 collect the short-lived buffers of the record layer
 * (node:crypto allocates one per 64 KiB record) long before they pile up:
 * a 4 GiB send measured 90/86 MiB peak RSS (client/server) with it and
 * 144/133 MiB without, and ran faster. A heap that grows by 20% instead of
 * V8's default before the next full collection keeps a get of 100,000 files
 * at 41 MiB of heap instead of 72 MiB (and a server at 86 MiB peak RSS
 * instead of 104), for some more collector time.
 */
export const SHIPPED_RUNTIME_FLAGS: readonly string[] = [
  ...SHIPPED_PERMISSIONS,
  "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=20",
];
