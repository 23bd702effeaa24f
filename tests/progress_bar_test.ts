import { assert, assertEquals } from "./_assert.ts";
import {
  formatBytes,
  formatDuration,
  ProgressBar,
  renderProgress,
} from "../commands/progress_bar.ts";

Deno.test("formatBytes() and formatDuration() use binary units and h:mm:ss", () => {
  assertEquals([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(3 * 1024 ** 3)], [
    "0 B",
    "1023 B",
    "1.5 KiB",
    "3.0 GiB",
  ]);
  assertEquals([formatDuration(7), formatDuration(754), formatDuration(3723)], [
    "0:07",
    "12:34",
    "1:02:03",
  ]);
});

Deno.test("renderProgress() shows percent, bytes, speed, ETA and files, within the width", () => {
  const line = renderProgress(
    {
      bytesDone: 512 * 1024 ** 2,
      bytesTotal: 1024 ** 3,
      filesDone: 3,
      filesTotal: 10,
      path: "x",
      bytesPerSecond: 256 * 1024 ** 2,
      etaSeconds: 2,
    },
    100,
  );
  assert(line.startsWith("[###############---------------]"), line);
  for (const part of [" 50%", "512.0 MiB/1.0 GiB", "256.0 MiB/s", "ETA 0:02", "3/10 files"]) {
    assert(line.includes(part), `${part} in ${line}`);
  }
  assert(
    renderProgress({
      bytesDone: 0,
      bytesTotal: 0,
      filesDone: 0,
      filesTotal: 0,
      path: "",
      bytesPerSecond: 0,
      etaSeconds: undefined,
    }, 40)
      .length <= 40,
  );
});

Deno.test("ProgressBar draws over one line and ends it", () => {
  const written: string[] = [];
  const out = {
    writeSync: (bytes: Uint8Array) => (written.push(new TextDecoder().decode(bytes)), bytes.length),
  };
  const bar = new ProgressBar(out, 80);
  const progress = {
    bytesDone: 10,
    bytesTotal: 10,
    filesDone: 1,
    filesTotal: 1,
    path: "a",
    bytesPerSecond: 10,
    etaSeconds: 0,
  };
  bar.update(progress);
  bar.finish(progress);
  assert(written[0]!.startsWith("\r"));
  assertEquals(written.at(-1), "\n");
});
