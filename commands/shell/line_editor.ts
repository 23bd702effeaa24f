import { printable } from "../../lib/text.ts";
/**
 * The interactive shell's line editor, on a terminal in raw mode: the arrow
 * keys, Home and End, history, the common Emacs keys and Tab completion. The
 * terminal is raw only while a line is read, so a running command gets
 * Ctrl-C as SIGINT. A line longer than the terminal scrolls sideways instead
 * of wrapping, so every redraw stays on one row.
 *
 * @module
 */

/** One way to complete the word before the cursor. */
export interface Candidate {
  /** The text that replaces the word (quoted, with a closing blank when it ends the word). */
  text: string;
  /** What a list of candidates shows: a name, "folder/". */
  shown: string;
}

/** Completions of the line up to the cursor: the word starts at `start`. */
export interface Completions {
  start: number;
  candidates: Candidate[];
}

export type Completer = (before: string) => Promise<Completions>;

/** The editor's terminal: raw mode, reads, writes and its width. */
export interface Terminal {
  setRaw(raw: boolean): void;
  read(buffer: Uint8Array): Promise<number | null>;
  write(text: string): void;
  columns(): number;
}

type Key = { text: string } | { name: string };

const MAX_HISTORY = 1000;
const MAX_LISTED = 200;

/** The line being edited. */
interface Line {
  chars: string[];
  cursor: number;
  /** The first character shown, when the line is wider than the terminal. */
  scroll: number;
  /** Position in the history; history.length is the line being typed. */
  recalled: number;
  /** The typed line, kept while the history is browsed. */
  draft: string;
}

/** The keys that edit the line in place: the cursor, deletions and kills (as readline's). */
const EDITS: Record<string, (line: Line) => void> = {
  backspace: (line) => {
    const { chars } = line;
    if (line.cursor > 0) chars.splice(--line.cursor, 1);
  },
  delete: (line) => {
    const { chars } = line;
    chars.splice(line.cursor, 1);
  },
  left: (line) => {
    line.cursor = Math.max(0, line.cursor - 1);
  },
  right: (line) => {
    const { chars } = line;
    line.cursor = Math.min(chars.length, line.cursor + 1);
  },
  home: (line) => {
    line.cursor = 0;
  },
  end: (line) => {
    const { chars } = line;
    line.cursor = chars.length;
  },
  "word-left": (line) => {
    const { chars } = line;
    line.cursor = wordStart(chars, line.cursor);
  },
  "word-right": (line) => {
    const { chars } = line;
    line.cursor = wordEnd(chars, line.cursor);
  },
  "kill-start": (line) => {
    const { chars } = line;
    chars.splice(0, line.cursor);
    line.cursor = 0;
  },
  "kill-end": (line) => {
    const { chars } = line;
    chars.splice(line.cursor);
  },
  "kill-word": (line) => {
    const { chars } = line;
    const start = wordStart(chars, line.cursor);
    chars.splice(start, line.cursor - start);
    line.cursor = start;
  },
};

export class LineEditor {
  #terminal: Terminal;
  #complete: Completer | undefined;
  #history: string[] = [];
  #decoder = new TextDecoder();
  #keys: Key[] = [];
  #buffer = new Uint8Array(4096);

  constructor(terminal: Terminal, complete?: Completer) {
    this.#terminal = terminal;
    this.#complete = complete;
  }

  /** Reads one line after `prompt`; null at Ctrl-D on an empty line or the end of input. */
  async read(prompt: string): Promise<string | null> {
    const line: Line = {
      chars: [],
      cursor: 0,
      scroll: 0,
      recalled: this.#history.length,
      draft: "",
    };
    this.#terminal.setRaw(true);
    try {
      this.#render(prompt, line);
      for (;;) {
        const key = await this.#nextKey();
        if (key === null) {
          this.#terminal.write("\r\n");
          return null;
        }
        const done = "text" in key
          ? this.#insert(line, key.text)
          : await this.#command(prompt, line, key.name);
        if (done !== undefined) return done;
        this.#render(prompt, line);
      }
    } finally {
      this.#terminal.setRaw(false);
    }
  }

  /** Handles one named key; returns the line when it ends (null for the end of input). */
  async #command(prompt: string, line: Line, name: string): Promise<string | null | undefined> {
    const { chars } = line;
    switch (name) {
      case "enter": {
        line.cursor = chars.length;
        this.#render(prompt, line);
        this.#terminal.write("\r\n");
        const text = chars.join("");
        if (text.trim() !== "" && this.#history.at(-1) !== text) {
          this.#history.push(text);
          if (this.#history.length > MAX_HISTORY) this.#history.shift();
        }
        return text;
      }
      case "ctrl-c":
        // As in bash: the line is abandoned, a fresh prompt follows.
        line.cursor = chars.length;
        this.#render(prompt, line);
        this.#terminal.write("^C\r\n");
        Object.assign(line, { chars: [], cursor: 0, scroll: 0, recalled: this.#history.length });
        return;
      case "ctrl-d":
        if (chars.length === 0) {
          this.#terminal.write("\r\n");
          return null;
        }
        chars.splice(line.cursor, 1);
        return;
      case "up":
      case "down":
        this.#recall(line, name === "up" ? -1 : 1);
        return;
      case "clear":
        this.#terminal.write("\x1b[H\x1b[2J");
        return;
      case "tab":
        await this.#completeWord(prompt, line);
        return;
      default:
        EDITS[name]?.(line);
        return;
    }
  }

  #insert(line: Line, text: string): undefined {
    // Control characters never enter the line (a paste may carry them).
    const chars = [...text].filter((c) => c >= " " && c !== "\x7f");
    line.chars.splice(line.cursor, 0, ...chars);
    line.cursor += chars.length;
    return undefined;
  }

  #recall(line: Line, step: number): void {
    const to = line.recalled + step;
    if (to < 0 || to > this.#history.length) return;
    if (line.recalled === this.#history.length) line.draft = line.chars.join("");
    line.recalled = to;
    line.chars = [...(to === this.#history.length ? line.draft : this.#history[to]!)];
    line.cursor = line.chars.length;
  }

  async #completeWord(prompt: string, line: Line): Promise<void> {
    const before = line.chars.slice(0, line.cursor).join("");
    let found: Completions;
    try {
      found = this.#complete === undefined
        ? { start: 0, candidates: [] }
        : await this.#complete(before);
    } catch {
      found = { start: 0, candidates: [] };
    }
    const { candidates } = found;
    if (candidates.length === 0) {
      this.#terminal.write("\x07");
      return;
    }
    const start = [...before.slice(0, found.start)].length;
    const typed = line.cursor - start;
    const replacement = candidates.length === 1
      ? candidates[0]!.text
      : commonPrefix(candidates.map((c) => c.text));
    if ([...replacement].length > typed) {
      const chars = [...replacement];
      line.chars.splice(start, typed, ...chars);
      line.cursor = start + chars.length;
      return;
    }
    // Nothing more in common: show the choices under the line, then the line again.
    line.cursor = line.chars.length;
    this.#render(prompt, line);
    this.#terminal.write("\r\n" + columnsOf(candidates.map((c) => c.shown), this.#width()));
    line.cursor = start + typed;
  }

  #width(): number {
    return Math.max(20, this.#terminal.columns() || 80);
  }

  /** Redraws the prompt and the visible part of the line, and places the cursor. */
  #render(prompt: string, line: Line): void {
    const width = this.#width();
    let shownPrompt = [...prompt];
    const most = Math.floor(width / 2);
    if (shownPrompt.length > most) shownPrompt = ["…", ...shownPrompt.slice(-(most - 1))];
    const room = Math.max(1, width - shownPrompt.length - 1);
    line.scroll = Math.min(line.scroll, Math.max(0, line.chars.length - room));
    if (line.cursor < line.scroll) line.scroll = line.cursor;
    if (line.cursor > line.scroll + room) line.scroll = line.cursor - room;
    const visible = line.chars.slice(line.scroll, line.scroll + room).join("");
    const column = shownPrompt.length + line.cursor - line.scroll;
    this.#terminal.write(
      `\r${shownPrompt.join("")}${visible}\x1b[K\r${column > 0 ? `\x1b[${column}C` : ""}`,
    );
  }

  /** The next key typed; null at the end of input. */
  async #nextKey(): Promise<Key | null> {
    while (this.#keys.length === 0) {
      const n = await this.#terminal.read(this.#buffer);
      if (n === null) return null;
      this.#keys.push(...this.#parse(this.#buffer.subarray(0, n)));
    }
    return this.#keys.shift()!;
  }

  /** The keys in bytes read from the terminal. */
  #parse(bytes: Uint8Array): Key[] {
    const keys: Key[] = [];
    let i = 0;
    while (i < bytes.length) {
      const byte = bytes[i]!;
      if (byte === 0x1b) {
        const [key, length] = escapeKey(bytes, i);
        if (key !== undefined) keys.push({ name: key });
        i += length;
      } else if (byte < 0x20 || byte === 0x7f) {
        const key = CONTROL_KEYS[byte];
        if (key !== undefined) keys.push({ name: key });
        i++;
      } else {
        let end = i;
        while (end < bytes.length && bytes[end]! >= 0x20 && bytes[end] !== 0x7f) end++;
        const text = this.#decoder.decode(bytes.subarray(i, end), { stream: true });
        if (text !== "") keys.push({ text });
        i = end;
      }
    }
    return keys;
  }
}

const CONTROL_KEYS: Record<number, string> = {
  0x01: "home",
  0x02: "left",
  0x03: "ctrl-c",
  0x04: "ctrl-d",
  0x05: "end",
  0x06: "right",
  0x08: "backspace",
  0x09: "tab",
  0x0a: "enter",
  0x0b: "kill-end",
  0x0c: "clear",
  0x0d: "enter",
  0x0e: "down",
  0x10: "up",
  0x15: "kill-start",
  0x17: "kill-word",
  0x7f: "backspace",
};

const CSI_KEYS: Record<string, string> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
  "1~": "home",
  "7~": "home",
  "4~": "end",
  "8~": "end",
  "3~": "delete",
  "1;5C": "word-right",
  "1;5D": "word-left",
  "1;3C": "word-right",
  "1;3D": "word-left",
};

const ALT_KEYS: Record<string, string> = {
  b: "word-left",
  f: "word-right",
  "\x7f": "kill-word",
};

/** The key an escape sequence at `at` stands for (if one the editor knows), and its length. */
function escapeKey(bytes: Uint8Array, at: number): [string | undefined, number] {
  const next = bytes[at + 1];
  if (next === undefined) return [undefined, 1];
  const char = String.fromCharCode(next);
  if (char === "[" || char === "O") {
    // Parameters and intermediates, then one final byte (ECMA-48).
    let end = at + 2;
    while (end < bytes.length && bytes[end]! >= 0x20 && bytes[end]! <= 0x3f) end++;
    if (end >= bytes.length) return [undefined, end - at];
    const body = String.fromCharCode(...bytes.subarray(at + 2, end + 1));
    return [char === "O" ? CSI_KEYS[body.slice(-1)] : CSI_KEYS[body], end + 1 - at];
  }
  return [ALT_KEYS[char], 2];
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && c !== " " && c !== "/";
}

function wordStart(chars: string[], cursor: number): number {
  let i = cursor;
  while (i > 0 && !isWordChar(chars[i - 1])) i--;
  while (i > 0 && isWordChar(chars[i - 1])) i--;
  return i;
}

function wordEnd(chars: string[], cursor: number): number {
  let i = cursor;
  while (i < chars.length && !isWordChar(chars[i])) i++;
  while (i < chars.length && isWordChar(chars[i])) i++;
  return i;
}

/** The longest start all of `texts` share, never ending inside a backslash escape. */
export function commonPrefix(texts: string[]): string {
  let prefix = texts[0] ?? "";
  for (const text of texts) {
    let n = 0;
    while (n < prefix.length && n < text.length && prefix[n] === text[n]) n++;
    prefix = prefix.slice(0, n);
  }
  const trailing = /\\+$/.exec(prefix)?.[0].length ?? 0;
  return trailing % 2 === 1 ? prefix.slice(0, -1) : prefix;
}

/** Names in columns that fit `width`, as a shell lists completions; each row ends with CR LF. */
export function columnsOf(names: string[], width: number): string {
  const shown = names.slice(0, MAX_LISTED).map(printable);
  const cell = Math.max(...shown.map((name) => name.length)) + 2;
  const perRow = Math.max(1, Math.floor(width / cell));
  const rows = Math.ceil(shown.length / perRow);
  let text = "";
  for (let row = 0; row < rows; row++) {
    let cells = "";
    // Down the columns first, as ls does.
    for (let column = 0; column < perRow; column++) {
      const name = shown[column * rows + row];
      if (name !== undefined) cells += name.padEnd(cell);
    }
    text += cells.trimEnd() + "\r\n";
  }
  if (names.length > MAX_LISTED) text += `… and ${names.length - MAX_LISTED} more\r\n`;
  return text;
}
