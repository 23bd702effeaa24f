// The progress line and its state machine, without a terminal: an injected
// clock and width, and the tracker's snapshots (resumed bytes, refused files).

import { assert, assertEquals } from "./_assert.ts";
import {
  formatBytes,
  formatDuration,
  ProgressBar,
  renderProgress,
} from "../commands/progress_bar.ts";
import { TransferTracker } from "../lib/client/tracker.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import type { Progress } from "../mod.ts";

const progress = (fields: Partial<Progress> = {}): Progress => ({
  bytesDone: 512 * 1024 ** 2,
  bytesTransferred: 512 * 1024 ** 2,
  bytesTotal: 1024 ** 3,
  filesDone: 3,
  filesTotal: 10,
  path: "photos/2026/summer.jpg",
  bytesPerSecond: 256 * 1024 ** 2,
  etaSeconds: 2,
  ...fields,
});

Deno.test("formatBytes() and formatDuration() use binary units, whole bytes and h:mm:ss", () => {
  assertEquals(
    [formatBytes(0), formatBytes(1023), formatBytes(989.5380238131197), formatBytes(1536)],
    ["0 B", "1023 B", "990 B", "1.5 KiB"],
  );
  assertEquals(formatBytes(3 * 1024 ** 3), "3.0 GiB");
  assertEquals([formatDuration(7), formatDuration(754), formatDuration(3723)], [
    "0:07",
    "12:34",
    "1:02:03",
  ]);
});

Deno.test("renderProgress() shows percent, bytes, speed, ETA, files and the current file, within the width", () => {
  const line = renderProgress(progress(), 100);
  assert(line.startsWith("[##"), line);
  for (
    const part of [" 50%", "512.0 MiB/1.0 GiB", "256.0 MiB/s", "ETA 0:02", "3/10", "summer.jpg"]
  ) {
    assert(line.includes(part), `${part} in ${line}`);
  }
  assert(line.length <= 100);
  // Narrow: the name is shortened from the left, the bar goes, nothing wraps.
  for (const width of [80, 60, 40, 20]) {
    const narrow = renderProgress(
      progress({ path: "a/very/long/folder/name/" + "x".repeat(80) }),
      width,
    );
    assert([...narrow].length <= width, `${narrow.length} > ${width}: ${narrow}`);
  }
  assert(renderProgress(progress({ path: "a/".repeat(40) + "end.bin" }), 80).endsWith("end.bin"));
  assert(renderProgress(progress({ path: "evil\x1b[2J.txt" }), 100).includes("evil?[2J.txt"));
});

/** A bar over a recorder, with a clock the test moves. */
function recordedBar(style: "bar" | "lines" | "json" = "bar") {
  const written: string[] = [];
  const clock = { now: 0, columns: 100 };
  const out = {
    writeSync: (bytes: Uint8Array) => (written.push(new TextDecoder().decode(bytes)), bytes.length),
  };
  const bar = new ProgressBar(out, () => clock.columns, style, () => clock.now);
  return { bar, written, clock };
}

Deno.test("ProgressBar: a stall is counted on the timer's redraws, and ends when bytes move", () => {
  const { bar, written, clock } = recordedBar();
  bar.update(progress());
  assert(written.at(-1)!.includes("256.0 MiB/s"));
  // Nothing moves: the timer redraws with the time since the last byte.
  clock.now = 7_000;
  bar.redraw();
  assert(written.at(-1)!.includes("stalled 7s"), written.at(-1));
  assert(!written.at(-1)!.includes("MiB/s"));
  clock.now = 7_500;
  bar.update(progress({ bytesDone: 600 * 1024 ** 2 }));
  assert(!written.at(-1)!.includes("stalled"), written.at(-1));
});

Deno.test("ProgressBar: a resize redraws at the new width; lines and JSON styles for logs", () => {
  const { bar, written, clock } = recordedBar();
  bar.update(progress());
  assert(written.at(-1)!.length > 80);
  clock.columns = 50;
  bar.redraw();
  // "\r" + line + "\x1b[K": the line itself is under 50 columns.
  assert(written.at(-1)!.length - 4 < 50, written.at(-1));

  const lines = recordedBar("lines");
  lines.bar.update(progress());
  lines.clock.now = 1_000;
  lines.bar.update(progress({ bytesDone: 1 }));
  assertEquals(lines.written.length, 1, "a line every 5 s, not on every update");
  lines.clock.now = 6_000;
  lines.bar.update(progress({ bytesDone: 2 }));
  assertEquals(lines.written.length, 2);
  assert(lines.written.every((line) => line.endsWith("\n") && !line.includes("\r")));

  const json = recordedBar("json");
  json.bar.update(progress());
  json.clock.now = 4_000;
  json.bar.redraw();
  const object = JSON.parse(json.written.at(-1)!);
  assertEquals([object.filesDone, object.stalledSeconds, object.path], [3, 4, progress().path]);
});

Deno.test("ProgressBar: a transfer with nothing to do leaves no line at all", () => {
  const { bar, written } = recordedBar();
  bar.finish(undefined);
  bar.finish(progress({ filesTotal: 0, bytesTotal: 0, bytesDone: 0, filesDone: 0 }));
  assertEquals(written, []);
  const done = recordedBar();
  done.bar.finish(progress());
  assertEquals(done.written.at(-1), "\n");
});

Deno.test("TransferTracker: resumed bytes are done but not speed; a refused file leaves the totals", () => {
  const snapshots: Progress[] = [];
  const tracker = new TransferTracker({ onProgress: (p) => snapshots.push(p) });
  tracker.planned(2, 300);
  tracker.started("a");
  tracker.moved(100, true, "a"); // resumed: verified, not moved
  const resumed = snapshots.at(-1)!;
  assertEquals([resumed.bytesDone, resumed.bytesTransferred, resumed.bytesPerSecond], [100, 0, 0]);
  tracker.started("b");
  tracker.moved(50, false, "b");
  tracker.fileFailed(new FerryError(ErrorCode.TooLarge, "refused"), "b", 200);
  const after = snapshots.at(-1)!;
  assertEquals([after.bytesDone, after.bytesTotal, after.filesTotal], [100, 100, 1]);
  tracker.committed("a", 100, "");
  assertEquals(snapshots.at(-1)!.filesDone, 1);
  assertEquals(tracker.summary().errors, 1);
});
