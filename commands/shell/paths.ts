/**
 * Paths typed in the shell. Remote paths are kept from the server's root
 * ("" is the root, shown as "/"); a relative one starts in the current remote
 * folder, and ".." stops at the root, as in sftp. Local paths are the
 * process's own (lcd changes the process's folder); "~" is $HOME.
 *
 * @module
 */

/** The remote path `typed` names from the folder `cwd`, normalised, from the root. */
export function remotePath(cwd: string, typed: string): string {
  const parts = typed.startsWith("/") ? [] : cwd.split("/").filter((part) => part !== "");
  for (const part of typed.split("/")) {
    if (part === "" || part === ".") continue;
    // Above the root is the root: the server has nothing there.
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

/** A remote path as the shell shows it: "/" for the root, "/a/b" below. */
export function shownRemote(path: string): string {
  return `/${path}`;
}

/** A local path with "~" and "~/…" expanded to $HOME. */
export function localPath(typed: string): string {
  if (typed !== "~" && !typed.startsWith("~/")) return typed;
  const home = Deno.env.get("HOME");
  return home === undefined ? typed : home + typed.slice(1);
}
