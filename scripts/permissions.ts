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
