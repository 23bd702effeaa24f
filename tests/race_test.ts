// A local user racing the server: another process swaps a folder inside the
// root for a symlink to the outside and back, as fast as it can, while a
// client sends every kind of request through it. Bounded: 300 requests of
// each kind (1,800 in all), then the swapper is killed. Prints how many
// requests reached the outside, per kind (issue 16 item 6).

import { assert } from "./_assert.ts";
import { connectTo, exists, startServer, tempDir } from "./_helpers.ts";

const PER_KIND = 300;

// The swapper: d is the real folder or, about half the time, a link to the outside.
const SWAPPER = `
const [root, outside] = Deno.args;
const d = root + "/d";
const ignore = (step) => { try { step(); } catch { /* lost a race with the server */ } };
for (let n = 0; ; n++) {
  try {
    Deno.renameSync(d, d + ".real");
  } catch {
    continue;
  }
  ignore(() => Deno.symlinkSync(outside, d));
  ignore(() => Deno.removeSync(d));
  // The server may have made a new d meanwhile (mkdir -p of a PUT): set it aside.
  for (let m = 0; ; m++) {
    try {
      Deno.renameSync(d + ".real", d);
      break;
    } catch {
      ignore(() => Deno.renameSync(d, d + ".stray" + n + "-" + m));
    }
  }
}`;

Deno.test("a folder swapped for a link to the outside while requests use it: at most a stray empty folder reaches the outside", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  await Deno.mkdir(`${root.path}/d`);
  await Deno.writeTextFile(`${root.path}/d/x`, "inside");
  await Deno.writeTextFile(`${outside.path}/x`, "SECRET, outside the root");
  await Deno.writeTextFile(`${outside.path}/only-outside`, "");
  for (let i = 0; i < PER_KIND; i++) {
    await Deno.writeTextFile(`${root.path}/d/victim${i}`, "");
    await Deno.writeTextFile(`${outside.path}/victim${i}`, "");
  }
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const swapper = new Deno.Command(Deno.execPath(), {
    args: ["eval", SWAPPER, root.path, outside.path],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const escapes = { get: 0, stat: 0, list: 0, put: 0, mkdir: 0, rm: 0 };
  let refused = 0;
  try {
    for (let i = 0; i < PER_KIND; i++) {
      const results = await Promise.allSettled([
        (async () => {
          const file = await client.open("d/x");
          const text = await new Response(file.readable).text();
          if (text.startsWith("SECRET")) escapes.get++;
        })(),
        (async () => {
          const info = await client.stat("d/x");
          if (info?.size === "SECRET, outside the root".length) escapes.stat++;
        })(),
        (async () => {
          for await (const entry of client.list("d")) {
            if (entry.name === "only-outside") escapes.list++;
          }
        })(),
        client.put(`d/new${i}`, new TextEncoder().encode("written")),
        client.mkdir(`d/made${i}`),
        client.remove(`d/victim${i}`, { force: true }),
      ]);
      refused += results.filter((r) => r.status === "rejected").length;
    }
  } finally {
    try {
      swapper.kill("SIGKILL");
    } catch { /* it stopped by itself: the figures below still count */ }
    await swapper.status;
  }
  // The swapper may have stopped in the middle: put the real folder back.
  if (await exists(`${root.path}/d.real`)) {
    await Deno.remove(`${root.path}/d`, { recursive: true }).catch(() => {});
    await Deno.rename(`${root.path}/d.real`, `${root.path}/d`);
  }
  for (let i = 0; i < PER_KIND; i++) {
    if (await exists(`${outside.path}/new${i}`)) escapes.put++;
    if (await exists(`${outside.path}/made${i}`)) escapes.mkdir++;
    if (!(await exists(`${outside.path}/victim${i}`))) escapes.rm++;
  }
  const total = Object.values(escapes).reduce((a, b) => a + b, 0);
  const figures = `race: ${total} of ${6 * PER_KIND} requests reached the outside, ` +
    `${refused} were refused ${JSON.stringify(escapes)}\n`;
  Deno.stderr.writeSync(new TextEncoder().encode(figures));
  // The swapper did race the requests: many met a swapped folder and were refused.
  assert(refused > PER_KIND / 10, `only ${refused} requests met a swapped folder`);
  // Before the checks, 9 to 38 of 1,800 reached the outside per run here (282 in the
  // issue's run), 4 to 18 of them reads, writes or removals; with them, 0 to 5, nearly
  // all empty folders made by mkdir (README, security model), and in a few runs of a
  // loaded machine one or two stats or listings, which a swap back and forth between
  // the lookup and its confirmation lets through. So: at most 3 reads, writes or
  // removals (the old code's fewest was 4), and mkdir's residue stays small.
  const { mkdir, ...others } = escapes;
  const leaked = Object.values(others).reduce((a, b) => a + b, 0);
  assert(leaked <= 3, `${leaked} reads, writes or removals reached the outside: ${figures}`);
  assert(mkdir <= 20, `${mkdir} folders were made outside: ${figures}`);
});
