// The shell's line handling without a server: words and quoting as a POSIX
// shell reads them, remote paths that never leave the root, and the line
// editor's keys driven through a scripted terminal.

import { assertEquals, assertThrows } from "./_assert.ts";
import { UsageError } from "../commands/_usage.ts";
import {
  columnsOf,
  commonPrefix,
  type Completer,
  LineEditor,
  type Terminal,
} from "../commands/shell/line_editor.ts";
import { remotePath } from "../commands/shell/paths.ts";
import { partialWord, quoteWord, splitWords } from "../commands/shell/words.ts";

Deno.test("splitWords() reads blanks, quotes and backslashes as a POSIX shell does", () => {
  assertEquals(splitWords("  get  a.txt\tb "), ["get", "a.txt", "b"]);
  assertEquals(splitWords(`get "my file.txt" 'it''s' x\\ y`), ["get", "my file.txt", "its", "x y"]);
  assertEquals(splitWords(`put "a \\"b\\" \\\\ \\n"`), ["put", `a "b" \\ \\n`]);
  assertEquals(splitWords(`put 'a\\b "c"'`), ["put", `a\\b "c"`]);
  assertEquals(splitWords(`rm ""`), ["rm", ""]);
  assertEquals(splitWords(`a"b c"d`), ["ab cd"]);
  assertEquals(splitWords("# a comment"), []);
  assertEquals(splitWords("ls a#b"), ["ls", "a#b"]);
  assertEquals(
    assertThrows(() => splitWords(`get "open`), UsageError).message.includes("never"),
    true,
  );
  assertEquals(
    assertThrows(() => splitWords(`get 'open`), UsageError).message.includes("never"),
    true,
  );
  assertEquals(
    assertThrows(() => splitWords(`get a\\`), UsageError).message.includes("backslash"),
    true,
  );
});

Deno.test("quoteWord() writes names that splitWords reads back unchanged", () => {
  const names = ["plain.txt", "my file.txt", `it's`, `say "hi"`, "a\\b", "#tag", "$HOME", "ü é"];
  for (const name of names) assertEquals(splitWords(`get ${quoteWord(name)}`), ["get", name]);
  assertEquals(quoteWord("photos/2026.jpg"), "photos/2026.jpg");
  assertEquals(quoteWord("my file"), "my\\ file");
  // Continuing a word that the user opened with a quote.
  assertEquals(quoteWord("my file.txt", '"', true), `"my file.txt"`);
  assertEquals(quoteWord("my dir/", '"'), `"my dir/`);
  assertEquals(splitWords(`get ${quoteWord(`it's`, "'", true)}`), ["get", `it's`]);
});

Deno.test("partialWord() finds the word at the cursor, inside quotes too", () => {
  assertEquals(partialWord("get pho"), {
    before: ["get"],
    start: 4,
    value: "pho",
    quote: undefined,
  });
  assertEquals(partialWord("get "), { before: ["get"], start: 4, value: "", quote: undefined });
  assertEquals(partialWord(`get "my f`), { before: ["get"], start: 4, value: "my f", quote: '"' });
  assertEquals(partialWord(`cd a\\ b`), {
    before: ["cd"],
    start: 3,
    value: "a b",
    quote: undefined,
  });
  assertEquals(partialWord("he"), { before: [], start: 0, value: "he", quote: undefined });
});

Deno.test("remotePath() resolves against the current folder and never goes above the root", () => {
  assertEquals(remotePath("", ".."), "");
  assertEquals(remotePath("a/b", "../../../.."), "");
  assertEquals(remotePath("a/b", "c/./d"), "a/b/c/d");
  assertEquals(remotePath("a/b", "/x//y/"), "x/y");
  assertEquals(remotePath("a/b", "../c"), "a/c");
  assertEquals(remotePath("a", ""), "a");
  assertEquals(remotePath("a", "/"), "");
});

/** A terminal that hands out the scripted reads one by one and records what is drawn. */
function scripted(reads: string[], columns = 40): Terminal & { shown: string; raw: boolean[] } {
  const encoder = new TextEncoder();
  const terminal = {
    shown: "",
    raw: [] as boolean[],
    setRaw(raw: boolean) {
      terminal.raw.push(raw);
    },
    read(buffer: Uint8Array) {
      const next = reads.shift();
      if (next === undefined) return Promise.resolve(null);
      const bytes = encoder.encode(next);
      buffer.set(bytes);
      return Promise.resolve(bytes.length);
    },
    write(text: string) {
      terminal.shown += text;
    },
    columns: () => columns,
  };
  return terminal;
}

Deno.test("LineEditor: editing keys, history, Ctrl-C and Ctrl-D", async () => {
  const terminal = scripted([
    "lx",
    "\x1b[D", // left
    "s\r", // "lsx"
    "cd a\x03", // dropped line
    "pwd\r",
    "\x1b[A\x1b[A\r", // two lines back: "lsx"
    "abc\x01X\x05Y\x1b[DZ\r", // Home, End, left: "XabcZY"
    "one two\x17three\r", // Ctrl-W deletes a word
    "\x1b[A\x15\x1b[B\r", // recalled, cleared, back to the (empty) draft
    "\x04",
  ]);
  const editor = new LineEditor(terminal);
  const lines = [];
  for (let line = await editor.read("> "); line !== null; line = await editor.read("> ")) {
    lines.push(line);
  }
  assertEquals(lines, ["lsx", "pwd", "lsx", "XabcZY", "one three", ""]);
  assertEquals(terminal.shown.includes("^C"), true);
  // Raw only while a line is read.
  assertEquals(terminal.raw.filter((raw) => raw).length, terminal.raw.length / 2);
  assertEquals(terminal.raw.at(-1), false);
});

Deno.test("LineEditor: Tab inserts one completion, the common part of several, and lists them", async () => {
  const asked: string[] = [];
  const complete: Completer = (before) => {
    asked.push(before);
    const word = before.slice(before.lastIndexOf(" ") + 1);
    const names = ["photos/", "photo.jpg", "music/"].filter((name) => name.startsWith(word));
    return Promise.resolve({
      start: before.length - word.length,
      candidates: names.map((name) => ({
        text: name.endsWith("/") ? name : `${name} `,
        shown: name,
      })),
    });
  };
  const terminal = scripted(["cd mu\t\r", "get ph\t", "\t", "o\t\r", "get zz\t\r"]);
  const editor = new LineEditor(terminal, complete);
  assertEquals(await editor.read("> "), "cd music/");
  // "ph" → the common "photo", then a list, then "photo" + "o" → nothing in common: still listed.
  assertEquals(await editor.read("> "), "get photoo");
  assertEquals(/photos\/ +photo\.jpg\r\n/.test(terminal.shown), true);
  assertEquals(await editor.read("> "), "get zz");
  assertEquals(terminal.shown.includes("\x07"), true);
  assertEquals(asked, ["cd mu", "get ph", "get photo", "get photoo", "get zz"]);
});

Deno.test("LineEditor: a line wider than the terminal scrolls instead of wrapping", async () => {
  const long = "x".repeat(100);
  const terminal = scripted([`${long}\r`], 30);
  const editor = new LineEditor(terminal);
  assertEquals(await editor.read("> "), long);
  // Every redraw fits in 30 columns: the prompt and at most 27 characters of the line.
  for (const draw of terminal.shown.split("\r").filter((part) => part.startsWith("> "))) {
    assertEquals(draw.replace("\x1b[K", "").length <= 29, true, draw);
  }
});

Deno.test("commonPrefix() and columnsOf() for completion lists", () => {
  assertEquals(commonPrefix(["photos/", "photo.jpg"]), "photo");
  assertEquals(commonPrefix([`a\\ b`, `a\\(b`]), "a");
  assertEquals(commonPrefix(["same", "same"]), "same");
  assertEquals(columnsOf(["a", "bb", "c"], 8), "a   c\r\nbb\r\n");
  assertEquals(columnsOf(["evil\x1b[2J"], 80), "evil\\x1b[2J\r\n");
});
