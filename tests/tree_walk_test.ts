// The walk under every LIST, recursive GET and send (issue 27, item 21): a
// huge folder is looked up a batch at a time, each batch confirmed before it
// is yielded, so that what the server holds does not grow with the folder.

import { assert, assertEquals } from "./_assert.ts";
import { tempDir } from "./_helpers.ts";
import { walkTree } from "../lib/fs/tree_walk.ts";

Deno.test("walkTree() looks a big folder up in batches, confirming the folder before each is yielded", async () => {
  await using root = await tempDir();
  for (let i = 0; i < 1000; i++) {
    Deno.writeTextFileSync(`${root.path}/f${String(i).padStart(4, "0")}`, "");
  }
  const events: string[] = [];
  const walk = walkTree(root.path, Deno.lstatSync(root.path), {
    descend: false,
    confirm: () => events.push("confirm"),
  });
  for await (const entry of walk) if (entry.rel !== "") events.push(entry.rel);
  const confirms = events.filter((event) => event === "confirm").length;
  assert(confirms >= 4, `${confirms} confirms for 1000 entries: looked up in batches`);
  assertEquals(events[0], "confirm", "nothing is yielded before the folder is confirmed");
  assertEquals(events.filter((event) => event !== "confirm").length, 1000);
  assertEquals(events.at(-1), "f0999", "in name order");
});
