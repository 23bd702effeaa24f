// The copy-or-keep decision both directions share, without I/O: every rule
// of rsync's that ferry follows, and the digest asked for only when it decides;
// and what delete removes.

import { assertEquals } from "./_assert.ts";
import { compare, isExtra, keepsReceiving, type ReceivingEntry } from "../lib/client/compare.ts";
import { PathFilter } from "../lib/fs/filter.ts";

const source = { size: 10, mtime: 1_000_000 };
const same: ReceivingEntry = { isFile: true, size: 10, mtime: 1_000_000 };

Deno.test("compare: nothing there copies; the quick check keeps a file of the same size and time, to the millisecond utime() may lose", () => {
  assertEquals(compare(source, undefined, { sync: true }), "copy");
  assertEquals(compare(source, same, { sync: true }), "skip");
  assertEquals(compare(source, { ...same, mtime: 1_000_001 }, { sync: true }), "skip");
  assertEquals(compare(source, { ...same, mtime: 1_000_002 }, { sync: true }), "copy");
  assertEquals(compare(source, { ...same, size: 11 }, { sync: true }), "copy");
  // A folder where the file goes is never kept as the file.
  assertEquals(compare(source, { ...same, isFile: false }, { sync: true }), "copy");
});

Deno.test("compare: checksum asks for the contents only when the sizes agree; ignore-existing keeps anything; update keeps a newer file", () => {
  assertEquals(compare(source, same, { checksum: true }), "digests");
  assertEquals(compare(source, { ...same, size: 9 }, { checksum: true }), "copy");
  assertEquals(compare(source, { ...same, isFile: false }, { ignoreExisting: true }), "skip");
  assertEquals(compare(source, { ...same, size: 1 }, { ignoreExisting: true }), "skip");
  assertEquals(compare(source, { ...same, size: 1, mtime: 2_000_000 }, { update: true }), "skip");
  assertEquals(compare(source, { ...same, size: 1, mtime: 999_000 }, { update: true }), "copy");
  // A newer folder is not a newer file.
  assertEquals(
    compare(source, { ...same, isFile: false, mtime: 2_000_000 }, { update: true }),
    "copy",
  );
});

Deno.test("keepsReceiving: the known digest, from either side, against the local one, hashed only when the verdict asks", async () => {
  let hashed = 0;
  const local = (digest: string) => () => {
    hashed++;
    return Promise.resolve(digest);
  };
  const rules = { checksum: true };
  // Send: the remote listing gave the receiving side's digest.
  assertEquals(await keepsReceiving(source, { ...same, digest: "d" }, rules, local("d")), true);
  assertEquals(await keepsReceiving(source, { ...same, digest: "d" }, rules, local("e")), false);
  // Get: the listing gave the source's digest.
  assertEquals(await keepsReceiving({ ...source, digest: "d" }, same, rules, local("d")), true);
  // No digest known (a server that lists none): copied, never assumed equal.
  assertEquals(await keepsReceiving(source, same, rules, local("d")), false);
  assertEquals(hashed, 3);
  // Sizes differ: nothing is hashed.
  assertEquals(await keepsReceiving(source, { ...same, size: 1 }, rules, local("d")), false);
  assertEquals(await keepsReceiving(source, same, { sync: true }, local("d")), true);
  assertEquals(hashed, 3);
});

Deno.test("isExtra: delete removes only what the source lacks, never a backup, what the rules exclude, or what a removed folder held", () => {
  const filter = PathFilter.optional(["- *.tmp"]);
  const extras = { keep: new Set(["a", "a/b.txt"]), filter, removed: ["old"] };
  const held = (rel: string, isDir = false, isBackup = false) => ({ rel, isDir, isBackup });
  assertEquals(isExtra(held("a/b.txt"), extras), false, "the source has it");
  assertEquals(isExtra(held("a", true), extras), false, "the source has the folder");
  assertEquals(isExtra(held("a/c.txt"), extras), true, "the source lacks it");
  assertEquals(isExtra(held("gone", true), extras), true, "a folder the source lacks");
  assertEquals(isExtra(held("a/c.txt", false, true), extras), false, "a backup is kept");
  assertEquals(isExtra(held("a/x.tmp"), extras), false, "excluded: not the transfer's to remove");
  assertEquals(isExtra(held("old/inner.txt"), extras), false, "went with its removed folder");
  assertEquals(
    isExtra(held("older.txt"), extras),
    true,
    "a name that only starts like a removed one",
  );
  assertEquals(isExtra(held("a/c.txt"), { ...extras, filter: undefined }), true);
});
