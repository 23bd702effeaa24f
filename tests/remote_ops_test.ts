// ls, mkdir, rm and mv through the library, against a real server on
// loopback, and the server's --read-only and --no-delete policies.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { FerryError } from "../lib/errors.ts";
import { connectTo, exists, listTree, startServer, tempDir } from "./_helpers.ts";
import type { RemoteEntry } from "../mod.ts";

async function collect(iterable: AsyncIterable<RemoteEntry>): Promise<RemoteEntry[]> {
  const entries: RemoteEntry[] = [];
  for await (const entry of iterable) entries.push(entry);
  return entries;
}

async function failure(promise: Promise<unknown>): Promise<FerryError> {
  return await assertRejects(() => promise, FerryError);
}

Deno.test("list: sorted entries with type, size, mode and mtime; a file lists itself; -R walks", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/b/deep`, { recursive: true });
  await Deno.writeTextFile(`${root.path}/c.txt`, "12345", { mode: 0o640 });
  await Deno.utime(`${root.path}/c.txt`, 1_700_000_000, 1_700_000_000);
  await Deno.writeTextFile(`${root.path}/b/deep/x`, "x");
  await Deno.writeTextFile(`${root.path}/a`, "");
  await Deno.symlink("/etc", `${root.path}/link`);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);

  const top = await collect(client.list(""));
  assertEquals(top.map((e) => [e.name, e.type]), [
    ["a", "file"],
    ["b", "dir"],
    ["c.txt", "file"],
    ["link", "symlink"],
  ]);
  const file = top.find((e) => e.name === "c.txt")!;
  assertEquals([file.path, file.size, file.mode & 0o777, file.mtime], [
    "c.txt",
    5,
    0o640,
    1_700_000_000_000,
  ]);
  assertEquals((await collect(client.list("b/deep/x"))).map((e) => e.path), ["b/deep/x"]);
  assertEquals((await collect(client.list("b", { recursive: true }))).map((e) => e.path), [
    "b/deep",
    "b/deep/x",
  ]);
  const missing = await failure(collect(client.list("nope")));
  assertEquals(missing.code, "not_found");
  // The link is listed, never followed: -R does not walk into /etc.
  const all = await collect(client.list("/", { recursive: true }));
  assert(all.every((e) => !e.path.startsWith("link/")));
});

Deno.test("list streams a folder of 20,000 entries in batches, and an early stop leaves the connection usable", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/many`);
  for (let i = 0; i < 20_000; i++) {
    await Deno.writeFile(`${root.path}/many/f${i}`, new Uint8Array());
  }
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  let count = 0;
  let previous = "";
  for await (const entry of client.list("many")) {
    assert(entry.name > previous, "sorted by name");
    previous = entry.name;
    count++;
  }
  assertEquals(count, 20_000);
  for await (const _ of client.list("many")) break;
  assertEquals((await client.stat("many"))?.type, "dir");
});

Deno.test("mkdir: without parents the parent must exist and the folder must not; with parents both are fine", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/file`, "keep");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  await client.mkdir("new");
  assertEquals((await failure(client.mkdir("new"))).code, "already_exists");
  assertEquals((await failure(client.mkdir("a/b"))).code, "not_found");
  await client.mkdir("a/b", { parents: true });
  await client.mkdir("a/b", { parents: true });
  const overFile = await failure(client.mkdir("file"));
  assertEquals(overFile.code, "already_exists");
  assert(overFile.message.includes("a file with that name exists"), overFile.message);
  assertEquals((await failure(client.mkdir("file/sub", { parents: true }))).code, "not_directory");
  assertEquals(await Deno.readTextFile(`${root.path}/file`), "keep");
  assertEquals(await listTree(root.path), ["a", "a/b", "file", "new"]);
});

Deno.test("rm: files, folders with -r, -f on missing paths, and never the root", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/dir/sub`, { recursive: true });
  await Deno.writeTextFile(`${root.path}/dir/sub/f`, "x");
  await Deno.writeTextFile(`${root.path}/file`, "x");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  assertEquals((await failure(client.remove("dir"))).code, "is_directory");
  assert(await exists(`${root.path}/dir/sub/f`));
  assertEquals(await client.remove("file"), true);
  assertEquals(await client.remove("dir", { recursive: true }), true);
  assertEquals((await failure(client.remove("file"))).code, "not_found");
  assertEquals(await client.remove("file", { force: true }), false);
  for (const path of ["", "/", "//"]) {
    const refused = await failure(client.remove(path, { recursive: true, force: true }));
    assertEquals(refused.code, "permission_denied", `rm -r "${path}"`);
  }
  // As POSIX rm refuses ".", before asking the server.
  for (const path of [".", "./", "dir/."]) {
    const refused = await failure(client.remove(path, { recursive: true, force: true }));
    assertEquals(refused.code, "bad_path", `rm -r "${path}"`);
  }
  assertEquals((await failure(client.remove("..", { recursive: true }))).code, "bad_path");
  assertEquals((await failure(client.remove("a/../..", { recursive: true }))).code, "bad_path");
  assert(await exists(root.path));
});

Deno.test("rm removes a symlink to an outside folder, alone or inside a tree, and never what it points to", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  await Deno.writeTextFile(`${outside.path}/precious`, "keep me");
  await Deno.symlink(outside.path, `${root.path}/link`);
  await Deno.mkdir(`${root.path}/tree`);
  await Deno.symlink(outside.path, `${root.path}/tree/link`);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  await client.remove("link", { recursive: true });
  await client.remove("tree", { recursive: true });
  assertEquals(await listTree(root.path), []);
  assertEquals(await Deno.readTextFile(`${outside.path}/precious`), "keep me");
  // A path through a link that leaves the root is refused for every command.
  await Deno.symlink(outside.path, `${root.path}/out`);
  for (
    const attempt of [
      collect(client.list("out/precious")),
      client.mkdir("out/new"),
      client.remove("out/precious"),
      client.rename("out/precious", "stolen"),
      client.rename("link-free-name", "out/x"),
    ]
  ) {
    const refused = await failure(attempt);
    assert(["bad_path", "not_found"].includes(refused.code), refused.message);
  }
  assertEquals(await Deno.readTextFile(`${outside.path}/precious`), "keep me");
  assertEquals(await listTree(outside.path), ["precious"]);
});

Deno.test("rename: files and folders within the root; a folder is never moved into itself", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/dir`);
  await Deno.writeTextFile(`${root.path}/dir/f`, "f");
  await Deno.writeTextFile(`${root.path}/old`, "new contents");
  await Deno.writeTextFile(`${root.path}/target`, "replaced");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  await client.rename("old", "target");
  assertEquals(await Deno.readTextFile(`${root.path}/target`), "new contents");
  await client.rename("dir", "moved");
  assertEquals(await Deno.readTextFile(`${root.path}/moved/f`), "f");
  assertEquals((await failure(client.rename("moved", "moved/inside"))).code, "bad_path");
  assertEquals((await failure(client.rename("/", "x"))).code, "permission_denied");
  assertEquals((await failure(client.rename("missing", "x"))).code, "not_found");
  await Deno.mkdir(`${root.path}/full`);
  await Deno.writeTextFile(`${root.path}/full/keep`, "k");
  await Deno.mkdir(`${root.path}/empty-src`);
  assertEquals((await failure(client.rename("empty-src", "full"))).code, "not_empty");
  assertEquals(await listTree(root.path), [
    "empty-src",
    "full",
    "full/keep",
    "moved",
    "moved/f",
    "target",
  ]);
});

Deno.test("--read-only refuses every change and names the setting; reading still works", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/stored`, "old");
  await Deno.writeTextFile(`${local.path}/stored`, "new");
  await using server = await startServer(root.path, { readOnly: true });
  await using client = await connectTo(server);
  for (
    const attempt of [
      client.mkdir("d"),
      client.remove("stored"),
      client.rename("stored", "x"),
    ]
  ) {
    const refused = await failure(attempt);
    assertEquals(refused.code, "permission_denied");
    assert(refused.message.includes("--read-only"), refused.message);
  }
  const sent = await client.send([`${local.path}/stored`], "");
  assertEquals(sent.failures.map((f) => f.code), ["permission_denied"]);
  assertEquals(await Deno.readTextFile(`${root.path}/stored`), "old");
  assertEquals((await collect(client.list(""))).length, 1);
  assertEquals(await listTree(root.path), ["stored"]);
});

Deno.test("--no-delete keeps stored files: no rm, no mv, no overwrite; new files and folders are welcome", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/stored`, "old");
  await Deno.writeTextFile(`${local.path}/stored`, "evil");
  await Deno.writeTextFile(`${local.path}/fresh`, "fresh");
  await using server = await startServer(root.path, { noDelete: true });
  await using client = await connectTo(server);
  for (const attempt of [client.remove("stored"), client.rename("stored", "x")]) {
    const refused = await failure(attempt);
    assertEquals(refused.code, "permission_denied");
    assert(refused.message.includes("--no-delete"), refused.message);
  }
  const sent = await client.send([`${local.path}/stored`, `${local.path}/fresh`], "/");
  assertEquals(sent.files, 1);
  assertEquals(sent.failures.map((f) => [f.code, f.path]), [["permission_denied", "stored"]]);
  assert(sent.failures[0]!.message.includes("--no-delete"));
  await client.mkdir("new/folder", { parents: true });
  assertEquals(await Deno.readTextFile(`${root.path}/stored`), "old");
  assertEquals(await Deno.readTextFile(`${root.path}/fresh`), "fresh");
  assertEquals(await listTree(root.path), ["fresh", "new", "new/folder", "stored"]);
});
