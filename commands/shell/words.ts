/**
 * The shell's words: a command line split as a POSIX shell splits it, without
 * expansion. Blanks separate words; '…' is literal; "…" keeps blanks and
 * takes \" and \\; outside quotes a backslash makes the next character
 * ordinary. A line whose first word starts with # is a comment.
 *
 * @module
 */

import { UsageError } from "../_usage.ts";

type Quote = "'" | '"';

/** What a scan of a line (or of the part before the cursor) found. */
interface Scan {
  words: string[];
  /** The word still open at the end, or undefined after a blank. */
  current: string | undefined;
  /** Where `current` starts in the text. */
  currentStart: number;
  /** The quote still open at the end. */
  quote: Quote | undefined;
  /** The text ended in a backslash that escapes nothing yet. */
  escaping: boolean;
}

function scan(text: string): Scan {
  const words: string[] = [];
  let current: string | undefined;
  let currentStart = text.length;
  let quote: Quote | undefined;
  let escaping = false;
  const begin = (at: number) => {
    if (current === undefined) {
      current = "";
      currentStart = at;
    }
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (escaping) {
      // Inside "…" a backslash escapes only " and \; before anything else it stays.
      current += quote === '"' && c !== '"' && c !== "\\" ? `\\${c}` : c;
      escaping = false;
    } else if (quote === "'") {
      if (c === "'") quote = undefined;
      else current += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\") escaping = true;
      else current += c;
    } else if (c === " " || c === "\t") {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else {
      begin(i);
      if (c === "'" || c === '"') quote = c;
      else if (c === "\\") escaping = true;
      else current += c;
    }
  }
  return { words, current, currentStart, quote, escaping };
}

/** The words of `line`; a comment is none. Throws a usage error for an open quote. */
export function splitWords(line: string): string[] {
  if (line.trimStart().startsWith("#")) return [];
  const { words, current, quote, escaping } = scan(line);
  if (quote !== undefined) throw new UsageError(`The quote ${quote} is never closed`);
  if (escaping) throw new UsageError(`The line ends with a backslash`);
  return current === undefined ? words : [...words, current];
}

/** The word the cursor is in, for completion. */
export interface PartialWord {
  /** The words before it. */
  before: string[];
  /** Where it starts in the text. */
  start: number;
  /** Its value so far, quotes removed. */
  value: string;
  /** The quote it is inside of, if any. */
  quote: Quote | undefined;
}

/** The word being typed at the end of `text` (the line up to the cursor). */
export function partialWord(text: string): PartialWord {
  const { words, current, currentStart, quote } = scan(text);
  return {
    before: words,
    start: current === undefined ? text.length : currentStart,
    value: current ?? "",
    quote,
  };
}

const PLAIN = /^[\p{L}\p{N}_@%+=:,./~^-]*$/u;

/**
 * `value` written so that splitWords reads it back: as it is when it is
 * plain, else with each special character escaped. Inside an open quote
 * (completion of a word that started with one) it continues that quote.
 * `final` closes such a quote.
 */
export function quoteWord(value: string, quote?: Quote, final = false): string {
  if (quote === '"') return `"${value.replace(/["\\]/g, "\\$&")}${final ? '"' : ""}`;
  if (quote === "'") return `'${value.replaceAll("'", `'\\''`)}${final ? "'" : ""}`;
  if (PLAIN.test(value) && !value.startsWith("#")) return value;
  return value.replace(/[^\p{L}\p{N}_@%+=:,./~^-]/gu, "\\$&").replace(/^#/, "\\#");
}
