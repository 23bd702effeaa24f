import { printable } from "../lib/text.ts";
/**
 * Writing lines to stdout and stderr. Synchronous, so that a line is out
 * before main exits; long output is batched into few writes.
 *
 * @module
 */

const encoder = new TextEncoder();

function writeAllSync(stream: typeof Deno.stdout, bytes: Uint8Array): void {
  // A pipe may take fewer bytes than offered.
  for (let done = 0; done < bytes.length;) done += stream.writeSync(bytes.subarray(done));
}

/** Writes `text` to stdout as it is (no newline added). */
export function writeOut(text: string): void {
  writeAllSync(Deno.stdout, encoder.encode(text));
}

export function printOut(line: string): void {
  writeAllSync(Deno.stdout, encoder.encode(line + "\n"));
}

export function printErr(line: string): void {
  writeAllSync(Deno.stderr, encoder.encode(line + "\n"));
}

/** Collects stdout lines and writes them in blocks of about 64 KiB. */
export class OutputLines {
  #pending: string[] = [];
  #chars = 0;

  add(line: string): void {
    this.#pending.push(line);
    this.#chars += line.length + 1;
    if (this.#chars >= 64 * 1024) this.flush();
  }

  flush(): void {
    if (this.#pending.length === 0) return;
    writeAllSync(Deno.stdout, encoder.encode(this.#pending.join("\n") + "\n"));
    this.#pending = [];
    this.#chars = 0;
  }
}

/** The terminal's width in columns, or `otherwise` when there is no terminal to ask. */
export function terminalColumns(otherwise = 80): number {
  try {
    return Deno.consoleSize().columns || otherwise;
  } catch {
    return otherwise;
  }
}

/**
 * Names as they are shown on stdout: control characters escaped, on a
 * terminal and in a pipe or log alike, so that a newline or an escape in a
 * name cannot forge a line or move the cursor (as rsync does). --json
 * carries names exactly.
 */
export function shownName(): (name: string) => string {
  return printable;
}
