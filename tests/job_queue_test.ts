// The queue a transfer's lanes take their files from: it reads the listing ahead
// so a lane can take several files at once, keeps a failure of the listing
// for the get to throw, and closes without waiting on a listing that stalls.

import { assert, assertEquals } from "./_assert.ts";
import { GET_READ_AHEAD, JobQueue } from "../lib/client/lane.ts";
import type { LocalJob } from "../lib/client/receiver.ts";
import { ConfinedRoot } from "../lib/fs/confinement.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";

function wanted(n: number): LocalJob {
  const name = `f${n}`;
  return {
    source: name,
    target: name,
    local: `/tmp/${name}`,
    place: { root: ConfinedRoot.unopened("/tmp"), folder: [], name },
    size: n,
    mode: 0o644,
    mtime: 0,
  };
}

/** Takes what is ready without waiting. */
function takeReady(queue: JobQueue<LocalJob>): string[] {
  const taken: string[] = [];
  for (let item = queue.take(); item !== undefined; item = queue.take()) taken.push(item.source);
  return taken;
}

Deno.test("a lane that waited for one file finds the next ones already there, in order, and then the end", async () => {
  async function* listing() {
    for (let i = 0; i < 5; i++) {
      await Promise.resolve();
      yield wanted(i);
    }
  }
  const queue = new JobQueue(listing(), GET_READ_AHEAD);
  assert(await queue.ready());
  // Let the read-ahead run: everything found is taken at once.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(takeReady(queue), ["f0", "f1", "f2", "f3", "f4"]);
  assertEquals(await queue.ready(), false);
  assertEquals(queue.failure, undefined);
  await queue.close();
});

Deno.test("a listing that fails ends the queue for every lane and keeps the failure", async () => {
  async function* listing() {
    yield wanted(1);
    throw new FerryError(ErrorCode.Protocol, "the listing broke");
  }
  const queue = new JobQueue(listing(), GET_READ_AHEAD);
  assert(await queue.ready());
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(takeReady(queue), ["f1"]);
  assertEquals(await Promise.all([queue.ready(), queue.ready()]), [false, false]);
  assertEquals(queue.failure?.code, ErrorCode.Protocol);
  await queue.close();
});

Deno.test("close() returns while a read still waits on a stalled listing, and the listing is closed once it moves", async () => {
  const moves = Promise.withResolvers<void>();
  let closed = false;
  async function* listing() {
    try {
      yield wanted(1);
      await moves.promise; // a listing whose next batch never comes (until its connection closes)
      yield wanted(2);
    } finally {
      closed = true;
    }
  }
  const queue = new JobQueue(listing(), GET_READ_AHEAD);
  assert(await queue.ready());
  assertEquals(queue.take()?.source, "f1"); // the next read now waits on the listing
  await queue.close();
  assertEquals(await queue.ready(), false, "nothing is handed out after close");
  // The get closes the listing's connection next; the read ends, and the generator with it.
  moves.resolve();
  for (let i = 0; i < 10 && !closed; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  assert(closed, "the listing was returned after its read ended");
  assertEquals(queue.take(), undefined);
});
