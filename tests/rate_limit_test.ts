// --limit-rate's token bucket: a wait can be ended at once, so a cancelled
// transfer does not hold its connection for the rest of a long wait.

import { assert, assertEquals } from "./_assert.ts";
import { RateLimiter } from "../lib/wire/rate_limit.ts";
import { encodeGet } from "../lib/protocol/requests.ts";
import { json, Kind, patternBytes, RawClient, startServer, tempDir } from "./_helpers.ts";

Deno.test("RateLimiter.stop() ends a pending wait at once and lets everything through after", async () => {
  // 1 byte per second: a 600-byte chunk asks for a ten-minute wait.
  const limiter = new RateLimiter(1);
  assertEquals(limiter.take(0), undefined);
  const wait = limiter.take(600);
  assertEquals(wait instanceof Promise, true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = Promise.race([
    wait!.then(() => "woken"),
    new Promise((resolve) => timer = setTimeout(() => resolve("still waiting"), 10_000)),
  ]);
  limiter.stop();
  assertEquals(await outcome, "woken");
  clearTimeout(timer);
  assertEquals(limiter.take(1_000_000), undefined);
});

Deno.test("a rate-limited client's GET asks for small DATA frames, and the server keeps to them", async () => {
  await using root = await tempDir();
  await Deno.writeFile(`${root.path}/f.bin`, patternBytes(100_000));
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  await raw.send(Kind.Get, 1, encodeGet({ path: "f.bin", recursive: false, chunk: 4096 }));
  const sizes: number[] = [];
  for (let frame = await raw.next(); frame !== null && frame.kind !== Kind.Ok;) {
    if (frame.kind === Kind.Data) sizes.push(frame.payload.length);
    frame = await raw.next();
  }
  assertEquals(sizes.reduce((a, b) => a + b, 0), 100_000);
  assertEquals(Math.max(...sizes), 4096);
  // Below 1 KiB is not a size the protocol allows.
  await raw.send(Kind.Get, 2, json({ path: "f.bin", recursive: false, chunk: 10 }));
  const refused = await raw.next();
  assert(refused?.kind === Kind.Error && refused.text.includes("protocol"), refused?.text);
});
