/**
 * The permissions the ferry binary ships with: all of them (`--allow-all`).
 *
 * ferry needs the network, every file its user can reach, the environment
 * (FERRY_TOKEN, HOME, XDG_*), statfs (--min-free), and running programs:
 * coreutils `sync` for --fsync=batch, and the commands the user names with
 * send --from-command (through `sh -c`) and serve --accept and --on-receive.
 * Those are arbitrary programs by design, so --allow-run cannot name them,
 * and an unrestricted --allow-run is, in Deno's own words, effectively the
 * same as --allow-all: a program it starts is not sandboxed. What the
 * narrower list still kept out was Deno's refusal of /dev, /proc and /sys,
 * and Deno pays for that refusal on every file operation when not every
 * permission is granted: it resolves each path one component at a time
 * (a readlink per component) before the call. On a tree of 10,000 small
 * files that was 30% of the server's CPU (on tmpfs) and 10-27% of the wall
 * time of a send or a get (on disk, medians of 3). So ferry asks for all permissions, and its own
 * checks (lib/fs/safe_path.ts: the served root, planted links) are what
 * confines a peer; they never relied on Deno's.
 *
 * The compile task bakes these in; the CLI tests run with exactly these.
 *
 * @module
 */

export const SHIPPED_PERMISSIONS: readonly string[] = ["--allow-all"];

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
