// Include and exclude rules (issue 17): rsync's semantics case by case, then
// end to end: excluded files never arrive, never cross the network (the
// server's log and listings say so), and survive --delete on either side.

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { PathFilter } from "../lib/fs/filter.ts";
import { FerryError } from "../lib/errors.ts";
import { ferry, ferryCommand, serveProcess } from "./_cli.ts";
import { connectTo, listTree, startServer, tempDir, waitFor } from "./_helpers.ts";

const excluded = (rules: string[], path: string, folder = false) =>
  PathFilter.parse(rules).excludes(path, folder);

Deno.test("filter: the first rule that matches decides; no match includes", () => {
  assertEquals(excluded(["+ *.jpg", "- *"], "a.jpg"), false);
  assertEquals(excluded(["+ *.jpg", "- *"], "a.png"), true);
  assertEquals(excluded(["- *", "+ *.jpg"], "a.jpg"), true);
  assertEquals(excluded(["- *.tmp"], "a.txt"), false);
});

Deno.test("filter: * stays within a name, ** crosses folders, ? and [...] match one character", () => {
  assertEquals(excluded(["- /*.txt"], "a.txt"), true);
  assertEquals(excluded(["- /*.txt"], "sub/a.txt"), false, "anchored * does not cross /");
  assertEquals(excluded(["- /**.txt"], "sub/deeper/a.txt"), true);
  assertEquals(excluded(["- /photos/**/raw"], "photos/2026/06/raw", true), true);
  assertEquals(excluded(["- file?.log"], "file1.log"), true);
  assertEquals(excluded(["- file?.log"], "file12.log"), false);
  assertEquals(excluded(["- a?b"], "a/b"), false, "? never matches /");
  assertEquals(excluded(["- [ab]*.c"], "b1.c"), true);
  assertEquals(excluded(["- [!ab]*.c"], "b1.c"), false);
  assertEquals(excluded(["- [0-9][0-9].txt"], "42.txt"), true);
  assertEquals(excluded(["- \\*.txt"], "*.txt"), true, "a backslash makes * ordinary");
  assertEquals(excluded(["- \\*.txt"], "a.txt"), false);
});

Deno.test("filter: a trailing / matches folders only; a leading / anchors at the top", () => {
  assertEquals(excluded(["- cache/"], "x/cache", true), true);
  assertEquals(excluded(["- cache/"], "x/cache", false), false);
  assertEquals(excluded(["- /build"], "build", true), true);
  assertEquals(excluded(["- /build"], "src/build", true), false);
  assertEquals(excluded(["- build"], "src/build", true), true);
});

Deno.test("filter: without a leading /, a pattern matches the last name, or with a / the path's tail", () => {
  assertEquals(excluded(["- *.o"], "a/b/c.o"), true);
  assertEquals(excluded(["- *.o"], "a.o/c"), false, "only the last name");
  assertEquals(excluded(["- b/c.o"], "a/b/c.o"), true);
  assertEquals(excluded(["- b/c.o"], "a/xb/c.o"), false, "the tail starts at a name");
  assertEquals(excluded(["- dir/***"], "x/dir", true), true);
  assertEquals(excluded(["- dir/***"], "x/dir/a/b"), true);
  assertEquals(excluded(["- dir/***"], "x/dirt"), false);
});

Deno.test("filter: excludesPath() sees an excluded folder above; hostile patterns cannot make it backtrack", () => {
  const filter = PathFilter.parse(["- cache/"]);
  assertEquals(filter.excludes("cache/x", false), false, "its own verdict only");
  assertEquals(filter.excludesPath("a/cache/x", false), true);
  assertEquals(filter.below("a/cache").excludesPath("x", false), false);
  assertEquals(PathFilter.parse(["- /a/b"]).below("a").excludes("b", false), true);
  // Exponential for a backtracking regex; linear here.
  const hostile = PathFilter.parse([`- ${"*a".repeat(40)}b`]);
  assertEquals(hostile.excludes("a".repeat(4000), false), false);
  for (const bad of ["* x", "-x", "- ", "- [abc", "- /"]) {
    assertThrows(() => PathFilter.parse([bad]), FerryError);
  }
  assertThrows(() => PathFilter.parse(Array(1001).fill("- x")), FerryError);
});

/** A tree with what a backup usually leaves out. */
async function makeTree(root: string): Promise<void> {
  for (const path of ["a.txt", "b.tmp", "cache/x", "sub/c.txt", "sub/d.tmp", "sub/cache/y"]) {
    await Deno.mkdir(`${root}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(`${root}/${path}`, path);
  }
}

Deno.test("send --exclude: excluded files never reach the server, and a --delete spares what the rules exclude there", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await makeTree(`${local.path}/src`);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const filter = ["- *.tmp", "- cache/"];
  await client.send([`${local.path}/src`], "", { recursive: true, filter });
  assertEquals(await listTree(root.path), ["src", "src/a.txt", "src/sub", "src/sub/c.txt"]);
  const puts = server.events.filter((e) => e.action === "put").map((e) => e.path);
  assertEquals(puts.sort(), ["src/a.txt", "src/sub/c.txt"], "nothing excluded crossed");
  // On the server: a file the rules exclude, and one they do not.
  await Deno.writeTextFile(`${root.path}/src/keep.tmp`, "theirs");
  await Deno.writeTextFile(`${root.path}/src/extra.txt`, "stale");
  const summary = await client.send([`${local.path}/src`], "", {
    recursive: true,
    delete: true,
    filter,
  });
  assertEquals(summary.deleted, 1);
  assertEquals(await listTree(root.path), [
    "src",
    "src/a.txt",
    "src/keep.tmp",
    "src/sub",
    "src/sub/c.txt",
  ]);
});

Deno.test("get --include/--exclude: the server lists and sends only what the rules keep; a local --delete spares excluded files", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await makeTree(`${root.path}/src`);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const filter = ["+ sub/", "+ *.txt", "- *"];
  const listed = [];
  for await (const entry of client.list("src", { recursive: true, filter })) {
    listed.push(entry.path);
  }
  assertEquals(listed, ["src/a.txt", "src/sub", "src/sub/c.txt"], "excluded names never cross");
  await Deno.mkdir(`${local.path}/dst/src`, { recursive: true });
  await Deno.writeTextFile(`${local.path}/dst/src/mine.tmp`, "local only, excluded");
  await Deno.writeTextFile(`${local.path}/dst/src/old.txt`, "local only, included");
  const summary = await client.get(["src"], `${local.path}/dst`, {
    recursive: true,
    delete: true,
    filter,
  });
  assertEquals([summary.files, summary.deleted], [2, 1]);
  assertEquals(await listTree(`${local.path}/dst`), [
    "src",
    "src/a.txt",
    "src/mine.tmp",
    "src/sub",
    "src/sub/c.txt",
  ]);
  const sent = server.events.filter((e) => e.action === "get").reduce(
    (n, e) => n + (e.bytes ?? 0),
    0,
  );
  assertEquals(sent, "a.txt".length + "sub/c.txt".length, "no excluded byte crossed");
});

Deno.test("ferry send and get: rules in command-line order, --exclude-from, --files-from on standard input, a bad pattern exits 2", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await makeTree(`${local.path}/src`);
  await using server = await serveProcess(root.path);
  const at = `ferry://127.0.0.1:${server.port}/`;
  // --include before --exclude keeps sub/d.tmp; the other order would not.
  const rules = `${local.path}/rules.txt`;
  await Deno.writeTextFile(rules, "# build output\ncache/\n+ a.txt\n*.txt\n");
  const sent = await ferry([
    "send",
    "-r",
    "--include",
    "sub/d.tmp",
    "--exclude",
    "*.tmp",
    "--exclude-from",
    rules,
    `${local.path}/src`,
    at,
  ]);
  assertEquals(sent.code, 0, sent.stderr);
  assertEquals(await listTree(root.path), ["src", "src/a.txt", "src/sub", "src/sub/d.tmp"]);

  const child = ferryCommand(
    ["get", "-r", "--files-from", "-", `${at}src`, `${local.path}/got/`],
    {},
    "piped",
  ).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("./sub/d.tmp\n\n"));
  await writer.close();
  const got = await child.output();
  assertEquals(got.code, 0, new TextDecoder().decode(got.stderr));
  assertEquals(await listTree(`${local.path}/got`), ["src", "src/sub", "src/sub/d.tmp"]);

  const bad = await ferry(["send", "-r", "--exclude", "[oops", `${local.path}/src`, at]);
  assertEquals(bad.code, 2);
  assert(bad.stderr.includes("never closed"), bad.stderr);
  const missing = await ferry(["get", "-r", "--exclude-from", "/nonexistent", `${at}src`, "."]);
  assertEquals(missing.code, 2);
});

Deno.test("watch with a filter: the catch-up and the live pushes leave excluded files on the server", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${root.path}/outbox`);
  await Deno.writeTextFile(`${root.path}/outbox/early.txt`, "e");
  await Deno.writeTextFile(`${root.path}/outbox/early.tmp`, "e");
  await using server = await startServer(root.path);
  await using watcher = await connectTo(server);
  await using sender = await connectTo(server);
  const stop = new AbortController();
  const got: string[] = [];
  const running = watcher.watch("outbox", local.path, {
    signal: stop.signal,
    filter: ["- *.tmp"],
    onFile: (file) => void got.push(file.remotePath),
  }).done();
  assert(await waitFor(() => Promise.resolve(got.includes("outbox/early.txt"))));
  await sender.put("outbox/late.tmp", new TextEncoder().encode("x"));
  await sender.put("outbox/late.txt", new TextEncoder().encode("y"));
  assert(await waitFor(() => Promise.resolve(got.includes("outbox/late.txt"))));
  stop.abort();
  await running;
  assertEquals(got, ["outbox/early.txt", "outbox/late.txt"]);
  assertEquals(await listTree(local.path), ["early.txt", "late.txt"]);
});
