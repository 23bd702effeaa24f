/**
 * Include and exclude rules over the paths of a transfer, in rsync's words:
 * rules are tried in order and the first that matches decides; a path no
 * rule matches is included. A rule is "- PATTERN" (exclude) or "+ PATTERN"
 * (include). In a pattern, `*` matches within one name, `**` across folders,
 * `?` one character but "/", `[…]` one of a set (`[!…]` none of it), and `\`
 * makes the next character ordinary. A trailing "/" matches folders only; a
 * leading "/" anchors the pattern at the top of the transfer (the source
 * folder's contents); otherwise it matches the last name, or with a "/"
 * inside, the path's last names. "dir/***" matches dir and all inside it.
 *
 * The same rules run on the client (the trees it walks) and on the server
 * (the trees it lists for a get), so excluded files never cross the
 * network. Matching simulates the pattern as an automaton, linear in the
 * pattern times the path: no pattern can make it backtrack.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { joinRemotePath } from "../remote_path.ts";

/** Rules a peer may send in one request, and the length of each. */
export const MAX_FILTER_RULES = 1000;
export const MAX_RULE_CHARS = 1024;

type Token =
  | { kind: "char"; char: string }
  | { kind: "any" } // ?
  | { kind: "set"; chars: Set<string>; ranges: [string, string][]; negated: boolean }
  | { kind: "star"; crossesFolders: boolean };

interface Rule {
  include: boolean;
  foldersOnly: boolean;
  anchored: boolean;
  tokens: Token[];
  /** "dir/***": the folder itself also matches. */
  alsoFolderItself: Token[] | undefined;
}

/**
 * Checks include and exclude rules ("- PATTERN", "+ PATTERN"; see
 * `TransferOptions.filter`) before they are used: throws a usage error
 * naming the first malformed rule.
 */
export function checkFilter(rules: readonly string[]): void {
  PathFilter.parse(rules);
}

/** A compiled list of rules; see the module doc. */
export class PathFilter {
  /**
   * The rules as given, to send to a server; undefined for a view
   * {@link PathFilter.below} a folder, whose paths the server would not
   * know to prefix (the client then filters alone).
   */
  readonly rules: readonly string[] | undefined;
  #compiled: Rule[];
  #prefix: string;

  private constructor(rules: readonly string[] | undefined, compiled: Rule[], prefix = "") {
    this.rules = rules;
    this.#compiled = compiled;
    this.#prefix = prefix;
  }

  /** Compiles "- PATTERN" and "+ PATTERN" rules; a malformed one is a usage error. */
  static parse(rules: readonly string[]): PathFilter {
    if (rules.length > MAX_FILTER_RULES) {
      throw filterError(`More than ${MAX_FILTER_RULES} filter rules`);
    }
    return new PathFilter([...rules], rules.map(compileRule));
  }

  /** A filter of `rules`, or undefined when there are none (nothing to check per path). */
  static optional(rules: readonly string[] | undefined): PathFilter | undefined {
    return rules === undefined || rules.length === 0 ? undefined : PathFilter.parse(rules);
  }

  /**
   * Whether the first rule that matches `path` (relative to the top of the
   * transfer, "/"-separated) excludes it. A folder's own verdict only: a
   * walk that skips excluded folders never asks about what is inside them.
   */
  excludes(path: string, isFolder: boolean): boolean {
    if (this.#prefix !== "") path = joinRemotePath(this.#prefix, path);
    for (const rule of this.#compiled) {
      if (rule.foldersOnly && !isFolder) continue;
      if (
        matches(rule.tokens, path, rule.anchored) ||
        (rule.alsoFolderItself !== undefined && matches(rule.alsoFolderItself, path, rule.anchored))
      ) {
        return !rule.include;
      }
    }
    return false;
  }

  /** The same rules for paths below the folder `prefix` (a watched folder's new subfolder). */
  below(prefix: string): PathFilter {
    const full = this.#prefix === ""
      ? prefix
      : prefix === ""
      ? this.#prefix
      : `${this.#prefix}/${prefix}`;
    return new PathFilter(undefined, this.#compiled, full);
  }

  /** Whether `path` or a folder above it is excluded: for paths that come without their walk. */
  excludesPath(path: string, isFolder: boolean): boolean {
    let slash = path.indexOf("/");
    while (slash >= 0) {
      if (this.excludes(path.slice(0, slash), true)) return true;
      slash = path.indexOf("/", slash + 1);
    }
    return this.excludes(path, isFolder);
  }
}

function filterError(message: string): FerryError {
  return new FerryError(ErrorCode.Usage, message);
}

function compileRule(text: string): Rule {
  if (typeof text !== "string" || text.length > MAX_RULE_CHARS) {
    throw filterError(`A filter rule is longer than ${MAX_RULE_CHARS} characters`);
  }
  const sign = text.slice(0, 2);
  if (sign !== "- " && sign !== "+ ") {
    throw filterError(`The filter rule "${text}" does not start with "- " or "+ "`);
  }
  let pattern = text.slice(2);
  if (pattern === "" || pattern === "/") throw filterError(`The filter rule "${text}" is empty`);
  const foldersOnly = pattern.endsWith("/");
  if (foldersOnly) pattern = pattern.slice(0, -1);
  const anchored = pattern.startsWith("/");
  if (anchored) pattern = pattern.slice(1);
  let alsoFolderItself: Token[] | undefined;
  if (pattern.endsWith("/***")) {
    alsoFolderItself = tokenize(pattern.slice(0, -4), text);
    pattern = pattern.slice(0, -1);
  }
  // A pattern with a "/" inside (or "**") is matched against the path's last
  // names, anchored or at any folder boundary; otherwise against the last name.
  return {
    include: sign === "+ ",
    foldersOnly,
    anchored,
    tokens: tokenize(pattern, text),
    alsoFolderItself,
  };
}

function tokenize(pattern: string, rule: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length) {
      tokens.push({ kind: "char", char: pattern[++i]! });
    } else if (c === "*") {
      const crossesFolders = pattern[i + 1] === "*";
      while (pattern[i + 1] === "*") i++;
      // Two stars in a row match the same as one of them.
      if (tokens.at(-1)?.kind !== "star") tokens.push({ kind: "star", crossesFolders });
      else if (crossesFolders) tokens[tokens.length - 1] = { kind: "star", crossesFolders };
    } else if (c === "?") {
      tokens.push({ kind: "any" });
    } else if (c === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close < 0) throw filterError(`The filter rule "${rule}" has a "[" that is never closed`);
      let body = pattern.slice(i + 1, close);
      const negated = body.startsWith("!") || body.startsWith("^");
      if (negated) body = body.slice(1);
      const chars = new Set<string>();
      const ranges: [string, string][] = [];
      for (let j = 0; j < body.length; j++) {
        if (body[j + 1] === "-" && j + 2 < body.length) {
          ranges.push([body[j]!, body[j + 2]!]);
          j += 2;
        } else chars.add(body[j]!);
      }
      tokens.push({ kind: "set", chars, ranges, negated });
      i = close;
    } else {
      tokens.push({ kind: "char", char: c });
    }
  }
  return tokens;
}

function tokenTakes(token: Token, c: string): boolean {
  switch (token.kind) {
    case "char":
      return token.char === c;
    case "any":
      return c !== "/";
    case "set": {
      if (c === "/") return false;
      const inSet = token.chars.has(c) || token.ranges.some(([lo, hi]) => c >= lo && c <= hi);
      return inSet !== token.negated;
    }
    case "star":
      return token.crossesFolders || c !== "/";
  }
}

/**
 * Whether `tokens` match all of `path` (anchored) or a tail of it that
 * starts after a "/" (not anchored), by running the pattern as an NFA.
 */
function matches(tokens: Token[], path: string, anchored: boolean): boolean {
  const end = tokens.length;
  let states = new Set<number>();
  const enter = (set: Set<number>, state: number) => {
    // A star may match nothing: entering it also enters what follows.
    while (state <= end && !set.has(state)) {
      set.add(state);
      if (tokens[state]?.kind !== "star") break;
      state++;
    }
  };
  enter(states, 0);
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    const next = new Set<number>();
    for (const state of states) {
      const token = tokens[state];
      if (token === undefined || !tokenTakes(token, c)) continue;
      if (token.kind === "star") enter(next, state);
      else enter(next, state + 1);
    }
    // Unanchored, a match may also start at any name.
    if (!anchored && c === "/") enter(next, 0);
    if (next.size === 0 && anchored) return false;
    states = next;
  }
  return states.has(end);
}
