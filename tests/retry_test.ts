// withRetries' accounting, without I/O: attempts are played by hand on the
// trackers they are given, as send and get play them.

import { assert, assertEquals } from "./_assert.ts";
import { withRetries } from "../lib/client/retry.ts";
import { TransferTracker } from "../lib/client/tracker.ts";
import type { TransferSettings } from "../lib/client/options.ts";
import { ErrorCode, FerryError, type RetryNotice } from "../mod.ts";

const lost = () => new FerryError(ErrorCode.Connection, "the link dropped");

Deno.test("withRetries: what a failed attempt committed, or sent before its OK was lost, counts as sent, not as skipped by the retry", async () => {
  const notices: RetryNotice[] = [];
  const reported: string[] = [];
  const seen: TransferSettings[] = [];
  const summary = await withRetries(
    { retries: 2, onRetry: (notice) => notices.push(notice), onFile: (f) => reported.push(f.path) },
    (options) => {
      seen.push(options);
      const tracker = new TransferTracker(options);
      if (seen.length === 1) {
        // a is committed; b is sent whole but its OK is lost with the connection.
        tracker.planned(3, 60);
        tracker.started("a");
        tracker.moved(10);
        tracker.committed("a", 10, "da");
        tracker.started("b");
        tracker.moved(20);
        return Promise.reject(lost());
      }
      // The retry syncs: a and b are there already; c is sent.
      tracker.skip("a", 10);
      tracker.skip("b", 20);
      tracker.planned(1, 30);
      tracker.started("c");
      tracker.moved(30);
      tracker.committed("c", 30, "dc");
      return Promise.resolve(tracker.summary());
    },
  );
  assertEquals(seen.length, 2);
  assertEquals([seen[0]!.sync, seen[1]!.sync], [undefined, true], "only the retry syncs");
  assertEquals(notices.map((n) => [n.attempt, n.retries, n.delaySeconds, n.error.code]), [
    [1, 2, 1, "connection"],
  ]);
  assertEquals(reported, ["a", "c"]);
  // a (committed by the first attempt), b (its OK lost: found by the retry) and c.
  assertEquals([summary.files, summary.bytes, summary.skipped], [3, 60, 0]);
  assertEquals(summary.transferred, 40, "c's 30 bytes and a's 10; b's resent nothing");
  assert(summary.seconds >= 1, "the whole time, the backoff included");
});

Deno.test("withRetries: a failure a new connection cannot cure is not retried, and neither is any after the last retry", async () => {
  let attempts = 0;
  const refused = await withRetries({ retries: 3 }, () => {
    attempts++;
    return Promise.reject(new FerryError(ErrorCode.PermissionDenied, "no"));
  }).catch((error) => error);
  assertEquals([attempts, refused.code], [1, "permission_denied"]);
  attempts = 0;
  const dropped = await withRetries({ retries: 1 }, () => {
    attempts++;
    return Promise.reject(lost());
  }).catch((error) => error);
  assertEquals([attempts, dropped.code], [2, "connection"]);
});
