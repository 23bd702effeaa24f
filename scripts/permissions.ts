/**
 * The permissions the ferry binary ships with: network, files and the
 * environment (for FERRY_TOKEN, HOME and XDG_CONFIG_HOME). No -A, no run, no
 * ffi. The compile task bakes these in; the CLI tests run with exactly these.
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
];

/**
 * The permissions and the V8 setting ferry runs with. A 1 MiB young
 * generation makes V8 collect the short-lived buffers of the record layer
 * (node:crypto allocates one per 64 KiB record) long before they pile up:
 * a 4 GiB send measured 90/86 MiB peak RSS (client/server) with it and
 * 144/133 MiB without, and ran faster.
 */
export const SHIPPED_RUNTIME_FLAGS: readonly string[] = [
  ...SHIPPED_PERMISSIONS,
  "--v8-flags=--max-semi-space-size=1",
];
