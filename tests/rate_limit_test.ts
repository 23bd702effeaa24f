// --limit-rate's token bucket: a wait can be ended at once, so a cancelled
// transfer does not hold its connection for the rest of a long wait.

import { assertEquals } from "./_assert.ts";
import { RateLimiter } from "../lib/wire/rate_limit.ts";

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
