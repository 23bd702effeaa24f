/**
 * --exclude, --include, --exclude-from and --files-from, for send, get and
 * watch: turned into the library's ordered "- PATTERN" / "+ PATTERN" rules
 * in the order they were given, as rsync reads them.
 *
 * @module
 */

import { checkFilter } from "../mod.ts";
import { UsageError } from "./_usage.ts";

export const FILTER_FLAGS = {
  exclude: { type: "string", multiple: true },
  include: { type: "string", multiple: true },
  "exclude-from": { type: "string", multiple: true },
  "files-from": { type: "string" },
} as const;

export const FILTER_FLAGS_HELP =
  `      --exclude PATTERN  Leave out what matches: * within a name, ** across
                         folders, ? and [...]; a trailing / for folders only,
                         a leading / from the top of each source folder
      --include PATTERN  Keep what matches, though a later --exclude would not
                         (the first rule that matches decides)
      --exclude-from FILE  One --exclude per line of FILE ("+ P" or "- P" to
                         choose; # starts a comment)
      --files-from FILE  Only the paths listed in FILE (one per line, below
                         each source folder; "-": standard input)`;

/** One option as parseArgs reports it with `tokens`. */
interface OptionToken {
  kind: string;
  name?: string;
  value?: string | undefined;
}

/**
 * The rules of the filter flags among `tokens`, in order (--files-from's
 * last), or undefined when none was given. A malformed pattern, or a file
 * that cannot be read, is a usage error.
 */
export function filterRules(tokens: readonly OptionToken[]): string[] | undefined {
  const rules: string[] = [];
  let listed: string[] | undefined;
  for (const token of tokens) {
    if (token.kind !== "option" || token.value === undefined) continue;
    if (token.name === "exclude") rules.push(`- ${token.value}`);
    else if (token.name === "include") rules.push(`+ ${token.value}`);
    else if (token.name === "exclude-from") rules.push(...excludeFile(token.value));
    else if (token.name === "files-from") listed = readLines(token.value, "--files-from");
  }
  if (listed !== undefined) rules.push(...onlyThese(listed));
  if (rules.length === 0) return undefined;
  try {
    checkFilter(rules);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return rules;
}

function readLines(file: string, flag: string): string[] {
  try {
    const text = file === "-" ? readStdinSync() : Deno.readTextFileSync(file);
    return text.split("\n").map((line) => line.replace(/\r$/, ""));
  } catch (error) {
    throw new UsageError(
      `${flag} cannot read "${file}": ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** All of standard input (the arguments are parsed before anything runs). */
function readStdinSync(): string {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  for (let n = Deno.stdin.readSync(buffer); n !== null && n > 0; n = Deno.stdin.readSync(buffer)) {
    chunks.push(buffer.slice(0, n));
  }
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(all);
}

/** The lines of an --exclude-from file: excludes, unless they say "+ " or "- " first. */
function excludeFile(file: string): string[] {
  return readLines(file, "--exclude-from")
    .filter((line) => line.trim() !== "" && !line.startsWith("#") && !line.startsWith(";"))
    .map((line) => line.startsWith("+ ") || line.startsWith("- ") ? line : `- ${line}`);
}

/** A pattern that matches `path` itself: its wildcard characters made ordinary. */
function literal(path: string): string {
  return path.replace(/[*?[\\]/g, "\\$&");
}

/**
 * --files-from: each listed path, the folders above it, and (for a listed
 * folder) everything inside it are included; everything else is excluded.
 */
function onlyThese(lines: string[]): string[] {
  const rules: string[] = [];
  const folders = new Set<string>();
  for (const line of lines) {
    const path = line.trim().replace(/^(\.\/)+/, "").replace(/^\/+|\/+$/g, "");
    if (path === "" || path === ".") continue;
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join("/");
      if (!folders.has(folder)) rules.push(`+ /${literal(folder)}/`);
      folders.add(folder);
    }
    rules.push(`+ /${literal(path)}`, `+ /${literal(path)}/***`);
  }
  rules.push("- *");
  return rules;
}
