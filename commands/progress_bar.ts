/**
 * The progress line: percent, bytes, recent speed, ETA, files done of total
 * and the current file, or "stalled 7s" while nothing moves. On a terminal
 * it is redrawn in place, on a timer as well as on progress (a stall keeps
 * counting) and at the terminal's width (redrawn when it is resized).
 * `--progress` without a terminal prints it as a plain line every few
 * seconds, `--progress=json` as one JSON object a second. Formatting is pure
 * and the clock injectable, so all of it is tested without a terminal.
 *
 * @module
 */

import { formatBytes } from "../lib/text.ts";
import type { Progress } from "../mod.ts";

export { formatBytes };

/** "0:07", "12:34", "1:02:03". */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Nothing moved for this long: the line says "stalled" instead of a speed. */
export const STALL_SECONDS = 3;

/**
 * One line describing a transfer, at most `width` characters wide; the
 * current file's name takes what room is left, shortened from the left.
 */
export function renderProgress(progress: Progress, width = 80, stalledSeconds = 0): string {
  const { bytesDone, bytesTotal, filesDone, filesTotal } = progress;
  const fraction = bytesTotal > 0
    ? Math.min(1, bytesDone / bytesTotal)
    : filesTotal > 0
    ? filesDone / filesTotal
    : 0;
  const pace = stalledSeconds >= STALL_SECONDS
    ? `stalled ${
      stalledSeconds < 60 ? `${Math.floor(stalledSeconds)}s` : formatDuration(stalledSeconds)
    }`
    : `${formatBytes(progress.bytesPerSecond)}/s ETA ${
      progress.etaSeconds !== undefined && bytesTotal > bytesDone
        ? formatDuration(progress.etaSeconds)
        : "--:--"
    }`;
  const stats = `${String(Math.floor(fraction * 100)).padStart(3)}% ${formatBytes(bytesDone)}/${
    formatBytes(bytesTotal)
  } ${pace} ${filesDone}/${filesTotal}`;
  const barWidth = Math.max(0, Math.min(30, width - stats.length - 3 - 12));
  const filled = Math.round(fraction * barWidth);
  const line = barWidth < 5
    ? stats
    : `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${stats}`;
  const room = width - line.length - 1;
  if (room < 4 || progress.path === "") return line.slice(0, width);
  return `${line} ${shorten(printableName(progress.path), room)}`;
}

/** `name` in at most `room` characters: its end, which names the file, after "…". */
function shorten(name: string, room: number): string {
  const chars = [...name];
  return chars.length <= room ? name : `…${chars.slice(chars.length - room + 1).join("")}`;
}

/** Control characters in a name would move the cursor: shown as "?". */
function printableName(name: string): string {
  // deno-lint-ignore no-control-regex
  return name.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
}

/** How progress is shown: redrawn on a terminal, plain lines for a log, or JSON lines. */
export type ProgressStyle = "bar" | "lines" | "json";

/** How often each style writes, at most (ms); a terminal also redraws on this timer. */
const INTERVAL_MS: Record<ProgressStyle, number> = { bar: 100, lines: 5000, json: 1000 };
const TIMER_MS = 1000;

/** Shows a transfer's progress in one of the styles; see the module doc. */
export class ProgressBar {
  #out: { writeSync(bytes: Uint8Array): number };
  #columns: () => number;
  #style: ProgressStyle;
  #now: () => number;
  #encoder = new TextEncoder();
  #last: Progress | undefined;
  #lastDraw = -Infinity;
  #lastMove: number;
  #drawn = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #onResize = () => this.redraw();

  constructor(
    out: { writeSync(bytes: Uint8Array): number },
    columns: () => number,
    style: ProgressStyle = "bar",
    now: () => number = () => performance.now(),
  ) {
    this.#out = out;
    this.#columns = columns;
    this.#style = style;
    this.#now = now;
    this.#lastMove = now();
  }

  /** Redraws every second (a stall keeps counting) and, on a terminal, when it is resized. */
  start(): this {
    this.#timer = setInterval(() => this.#tick(), TIMER_MS);
    if (this.#style === "bar") Deno.addSignalListener("SIGWINCH", this.#onResize);
    return this;
  }

  /** A new snapshot; drawn when the style's interval has passed. */
  update(progress: Progress): void {
    const last = this.#last;
    if (
      last === undefined || progress.bytesDone !== last.bytesDone ||
      progress.filesDone !== last.filesDone
    ) {
      this.#lastMove = this.#now();
    }
    this.#last = progress;
    if (this.#now() - this.#lastDraw >= INTERVAL_MS[this.#style]) this.#draw();
  }

  /** Draws the last snapshot again (the timer, a resize), when there is one. */
  redraw(): void {
    if (this.#last !== undefined) this.#draw();
  }

  /**
   * The timer: a bar is redrawn every second (a stall keeps counting); log
   * lines and JSON keep to their own interval, moving or not.
   */
  #tick(): void {
    if (this.#style === "bar" || this.#now() - this.#lastDraw >= INTERVAL_MS[this.#style]) {
      this.redraw();
    }
  }

  /** Seconds since bytes or files last moved. */
  get stalledSeconds(): number {
    return (this.#now() - this.#lastMove) / 1000;
  }

  /**
   * Draws the final state and ends the line; a transfer that planned
   * nothing (a sync with nothing to do) leaves no line at all.
   */
  finish(progress: Progress | undefined): void {
    this.close();
    if (progress === undefined || (progress.filesTotal === 0 && progress.bytesTotal === 0)) {
      this.clear();
      return;
    }
    this.#last = progress;
    this.#lastMove = this.#now();
    this.#draw();
    if (this.#style === "bar") this.#write("\n");
  }

  /** Removes the line, so an error message starts on a clean line. */
  clear(): void {
    if (this.#drawn && this.#style === "bar") this.#write("\r\x1b[K");
    this.#drawn = false;
  }

  /** Stops the timer and the resize listener. */
  close(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#style === "bar") Deno.removeSignalListener("SIGWINCH", this.#onResize);
  }

  #draw(): void {
    const progress = this.#last!;
    this.#lastDraw = this.#now();
    const stalled = this.stalledSeconds;
    if (this.#style === "json") {
      this.#write(`${JSON.stringify({ ...progress, stalledSeconds: Math.floor(stalled) })}\n`);
      return;
    }
    const width = Math.max(20, this.#columns() || 80);
    // One column short of the width: a full line would wrap on some terminals.
    const line = renderProgress(progress, width - 1, stalled);
    this.#write(this.#style === "bar" ? `\r${line}\x1b[K` : `${line}\n`);
    this.#drawn = true;
  }

  #write(text: string): void {
    const bytes = this.#encoder.encode(text);
    for (let done = 0; done < bytes.length;) done += this.#out.writeSync(bytes.subarray(done));
  }
}
