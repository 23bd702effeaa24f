/**
 * The progress line shown on a terminal: bytes, percent, speed, ETA and
 * files done of total. Pure formatting from a {@link Progress} snapshot, so
 * it is tested without a terminal.
 *
 * @module
 */

import type { Progress } from "../lib/client/transfer.ts";
import { formatBytes } from "../lib/units.ts";

export { formatBytes };

/** "0:07", "12:34", "1:02:03". */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** One line describing a transfer, at most `width` characters wide. */
export function renderProgress(progress: Progress, width = 80): string {
  const { bytesDone, bytesTotal, filesDone, filesTotal } = progress;
  const fraction = bytesTotal > 0
    ? Math.min(1, bytesDone / bytesTotal)
    : filesTotal > 0
    ? filesDone / filesTotal
    : 0;
  // The recent speed, not the run's average: a resumed or stalled transfer shows what moves now.
  const speed = progress.bytesPerSecond;
  const eta = progress.etaSeconds !== undefined && bytesTotal > bytesDone
    ? formatDuration(progress.etaSeconds)
    : "--:--";
  const stats =
    `${String(Math.floor(fraction * 100)).padStart(3)}% ${formatBytes(bytesDone)}/${
      formatBytes(bytesTotal)
    } ` +
    `${formatBytes(speed)}/s ETA ${eta} ${filesDone}/${filesTotal} files`;
  const barWidth = Math.max(0, Math.min(30, width - stats.length - 3));
  if (barWidth < 5) return stats.slice(0, width);
  const filled = Math.round(fraction * barWidth);
  return `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${stats}`;
}

/** Draws the progress line on a terminal, at most ten times a second. */
export class ProgressBar {
  #out: { writeSync(bytes: Uint8Array): number };
  #width: number;
  #lastDraw = 0;
  #encoder = new TextEncoder();
  #drawn = false;

  constructor(out: { writeSync(bytes: Uint8Array): number }, width: number) {
    this.#out = out;
    this.#width = width;
  }

  update(progress: Progress): void {
    const now = performance.now();
    if (now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.#draw(progress);
  }

  /** Draws the final state and ends the line. */
  finish(progress: Progress): void {
    this.#draw(progress);
    this.#out.writeSync(this.#encoder.encode("\n"));
  }

  /** Removes the line, so an error message starts on a clean line. */
  clear(): void {
    if (this.#drawn) this.#out.writeSync(this.#encoder.encode("\r\x1b[K"));
    this.#drawn = false;
  }

  #draw(progress: Progress): void {
    const line = renderProgress(progress, this.#width - 1);
    this.#out.writeSync(this.#encoder.encode(`\r${line}\x1b[K`));
    this.#drawn = true;
  }
}
