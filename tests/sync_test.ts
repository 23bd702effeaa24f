// Sync, checksum, delete, pipes and server limits through the library and
// the CLI, against real servers on loopback.

import { assert, assertEquals } from "./_assert.ts";
import { ferry, ferryCommand, serveProcess } from "./_cli.ts";
import {
  connectTo,
  listTree,
  MAIN,
  patternBytes,
  SHIPPED_RUNTIME_FLAGS,
  startServer,
  tempDir,
  TOKEN,
  waitFor,
} from "./_helpers.ts";

async function writeTree(root: string, files: number): Promise<void> {
  for (let i = 0; i < files; i++) {
    const dir = `${root}/d${i % 10}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(`${dir}/f${i}`, patternBytes(100 + (i % 50), i + 1));
  }
}

Deno.test("send --sync skips an unchanged tree, sends only what changed, and --delete removes the rest", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await writeTree(`${local.path}/tree`, 500);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const first = await client.send([`${local.path}/tree`], "/", { recursive: true, sync: true });
  assertEquals([first.files, first.skipped], [500, 0]);
  const again = await client.send([`${local.path}/tree`], "/", { recursive: true, sync: true });
  assertEquals([again.files, again.transferred, again.skipped], [0, 0, 500]);

  await Deno.writeTextFile(`${local.path}/tree/d1/f1`, "changed size");
  await Deno.remove(`${local.path}/tree/d2`, { recursive: true });
  await Deno.writeTextFile(`${root.path}/tree/extra.txt`, "only on the server");
  const changed = await client.send([`${local.path}/tree`], "/", {
    recursive: true,
    delete: true,
  });
  assertEquals([changed.files, changed.skipped, changed.deleted], [1, 449, 2]);
  assertEquals(await listTree(`${root.path}/tree`), await listTree(`${local.path}/tree`));
  assertEquals(await Deno.readTextFile(`${root.path}/tree/d1/f1`), "changed size");
});

Deno.test("--checksum finds a change that keeps size and modification time", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await Deno.writeTextFile(`${local.path}/a`, "aaaa");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  await client.send([`${local.path}/a`], "/");
  const { mtime } = await Deno.stat(`${local.path}/a`);
  await Deno.writeTextFile(`${local.path}/a`, "bbbb");
  await Deno.utime(`${local.path}/a`, mtime!, mtime!);
  assertEquals((await client.send([`${local.path}/a`], "/", { sync: true })).skipped, 1);
  const summed = await client.send([`${local.path}/a`], "/", { checksum: true });
  assertEquals([summed.files, summed.skipped], [1, 0]);
  assertEquals(await Deno.readTextFile(`${root.path}/a`), "bbbb");
  assertEquals((await client.send([`${local.path}/a`], "/", { checksum: true })).skipped, 1);
});

Deno.test("get --sync and --delete mirror a remote tree, skipping what is already here", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await writeTree(`${root.path}/tree`, 200);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const first = await client.get(["tree"], local.path, { recursive: true, sync: true });
  assertEquals(first.files, 200);
  const again = await client.get(["tree"], local.path, { recursive: true, sync: true });
  assertEquals([again.files, again.transferred, again.skipped], [0, 0, 200]);
  await Deno.writeTextFile(`${local.path}/tree/local-only`, "x");
  await Deno.mkdir(`${local.path}/tree/old/deep`, { recursive: true });
  await Deno.writeTextFile(`${root.path}/tree/d0/f0`, "new on the server");
  const mirrored = await client.get(["tree"], local.path, { recursive: true, delete: true });
  assertEquals([mirrored.files, mirrored.deleted], [1, 2]);
  assertEquals(await listTree(`${local.path}/tree`), await listTree(`${root.path}/tree`));
  assertEquals(await Deno.readTextFile(`${local.path}/tree/d0/f0`), "new on the server");
});

Deno.test("a --no-delete server refuses send --delete: exit 3, nothing removed", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await Deno.mkdir(`${local.path}/box`);
  await Deno.mkdir(`${root.path}/box`);
  await Deno.writeTextFile(`${local.path}/box/new`, "new");
  await Deno.writeTextFile(`${root.path}/box/stored`, "stored");
  await using server = await serveProcess(root.path, ["--no-delete"]);
  const run = await ferry([
    "send",
    "-r",
    "--delete",
    `${local.path}/box`,
    `ferry://127.0.0.1:${server.port}/`,
  ]);
  assertEquals(run.code, 3, run.stderr);
  assert(run.stderr.includes("--no-delete"), run.stderr);
  assertEquals(await listTree(root.path), ["box", "box/new", "box/stored"]);
});

Deno.test("pipes: send - stores standard input, get ... - writes standard output", async () => {
  await using root = await tempDir();
  await using server = await serveProcess(root.path);
  const at = `ferry://127.0.0.1:${server.port}`;
  const data = patternBytes(3 * 1024 * 1024 + 7, 9);
  const child = ferryCommand(["send", "-", `${at}/db.sql`], {}, "piped").spawn();
  const writer = child.stdin.getWriter();
  await writer.write(data);
  await writer.close();
  const sent = await child.output();
  assertEquals(sent.code, 0, new TextDecoder().decode(sent.stderr));
  assertEquals(await Deno.readFile(`${root.path}/db.sql`), data);
  const got = await ferryCommand(["get", `${at}/db.sql`, "-"]).output();
  assertEquals(got.code, 0);
  assertEquals(got.stdout, data);
  const folder = await ferry(["send", "-", `${at}/`]);
  assertEquals(folder.code, 2, "standard input needs a file name");
});

Deno.test("a send from standard input that is killed midway stores nothing", async () => {
  await using root = await tempDir();
  await using server = await serveProcess(root.path);
  const child = ferryCommand(
    ["send", "-", `ferry://127.0.0.1:${server.port}/partial.sql`],
    {},
    "piped",
  ).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(patternBytes(2 * 1024 * 1024));
  // Wait until the server holds some of it, then kill the sender before its input ends.
  await waitFor(async () => (await listTree(root.path)).length > 0, 5_000);
  child.kill("SIGKILL");
  await child.status;
  await writer.close().catch(() => {});
  await child.stdout.cancel();
  await child.stderr.cancel();
  await waitFor(async () => (await listTree(root.path)).length === 0, 5_000);
  assertEquals(await listTree(root.path), []);
});

Deno.test("send --from-command stores the output only when the command exits 0; a failed or killed producer replaces nothing (exit 8)", async () => {
  await using root = await tempDir();
  await using server = await serveProcess(root.path);
  const dest = `ferry://127.0.0.1:${server.port}/db.sql`;
  // 3 MiB and more, so that the server holds part of it before the command fails.
  const dump = "head -c 3145728 /dev/zero | tr '\\0' x";
  const good = await ferry(["send", "--from-command", `${dump}; printf end`, dest]);
  assertEquals(good.code, 0, good.stderr);
  const stored = await Deno.readTextFile(`${root.path}/db.sql`);
  assertEquals(stored.length, 3 * 1024 * 1024 + 3);
  assert(stored.endsWith("xend"));

  for (
    const [producer, says] of [
      [`${dump}; exit 3`, "exited with status 3"],
      [`${dump}; kill -9 $$`, "killed by SIGKILL"],
    ]
  ) {
    const failed = await ferry(["send", "--from-command", producer!, dest]);
    assertEquals(failed.code, 8, failed.stderr);
    assert(failed.stderr.includes(says!), failed.stderr);
    assert(failed.stderr.includes("was not stored"), failed.stderr);
    assertEquals(
      await Deno.readTextFile(`${root.path}/db.sql`),
      stored,
      "yesterday's file is kept",
    );
    assert(
      await waitFor(async () => (await listTree(root.path)).length === 1, 5_000),
      `a temporary was left: ${await listTree(root.path)}`,
    );
  }

  // A plain pipe cannot know: the same failing producer through "send -" is stored, truncated.
  const piped = await new Deno.Command("sh", {
    args: [
      "-c",
      '(head -c 100 /dev/zero; exit 3) | "$@"',
      "sh",
      Deno.execPath(),
      "run",
      ...SHIPPED_RUNTIME_FLAGS,
      MAIN,
      "send",
      "-",
      dest,
    ],
    env: { FERRY_TOKEN: TOKEN, NO_COLOR: "1" },
  }).output();
  assertEquals(piped.code, 0, new TextDecoder().decode(piped.stderr));
  assertEquals((await Deno.stat(`${root.path}/db.sql`)).size, 100);

  const usage = await ferry(["send", "--from-command", "true", "local.txt", dest]);
  assertEquals(usage.code, 2, usage.stderr);
});

Deno.test("serve --max-size and --min-free refuse with clear errors and keep serving", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await Deno.writeFile(`${local.path}/big`, patternBytes(2048));
  await Deno.writeFile(`${local.path}/small`, patternBytes(10));
  {
    await using server = await serveProcess(root.path, ["--max-size", "1K"]);
    const at = `ferry://127.0.0.1:${server.port}/`;
    const big = await ferry(["send", `${local.path}/big`, at]);
    assertEquals(big.code, 3);
    assert(big.stderr.includes("--max-size"), big.stderr);
    assertEquals((await ferry(["send", `${local.path}/small`, at])).code, 0);
  }
  {
    // More free space than any disk here has: every upload would leave too little.
    await using server = await serveProcess(root.path, ["--min-free", "1000T"]);
    const at = `ferry://127.0.0.1:${server.port}/`;
    const full = await ferry(["send", "--json", `${local.path}/big`, at]);
    assertEquals(full.code, 9);
    assertEquals(JSON.parse(full.stderr).code, "no_space");
    assert((await ferry(["ls", at])).stdout.includes("small"), "the server still serves");
  }
  assertEquals(await listTree(root.path), ["small"]);
});

Deno.test("the README's cron line with --backup works night after night on a --no-delete server; without it the second night fails (issue 16 item 11)", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await using server = await serveProcess(root.path, ["--no-delete"]);
  const nightly = (...extra: string[]) =>
    ferry([
      "send",
      "-r",
      "--sync",
      "--retries",
      "0",
      "--json",
      ...extra,
      `${local.path}/docs`,
      `ferry://127.0.0.1:${server.port}/nightly/`,
    ]);
  await Deno.mkdir(`${local.path}/docs/sub`, { recursive: true });
  await Deno.writeTextFile(`${local.path}/docs/a.txt`, "a, night 1");
  await Deno.writeTextFile(`${local.path}/docs/sub/b.txt`, "b, night 1");
  const first = await nightly("--backup");
  assertEquals(first.code, 0, first.stderr);

  const later = new Date(Date.now() + 60_000);
  await Deno.writeTextFile(`${local.path}/docs/a.txt`, "a, night 2");
  await Deno.utime(`${local.path}/docs/a.txt`, later, later);
  const without = await nightly();
  assertEquals(without.code, 3, `without --backup a changed file is refused: ${without.stderr}`);
  assert(without.stderr.includes("--no-delete"), without.stderr);
  const second = await nightly("--backup");
  assertEquals(second.code, 0, second.stderr);
  assertEquals(JSON.parse(second.stdout).files, 1);

  const later2 = new Date(Date.now() + 120_000);
  await Deno.writeTextFile(`${local.path}/docs/a.txt`, "a, night 3");
  await Deno.utime(`${local.path}/docs/a.txt`, later2, later2);
  await Deno.remove(`${local.path}/docs/sub/b.txt`);
  const third = await nightly("--backup", "--delete");
  assertEquals(third.code, 0, third.stderr);
  assertEquals(JSON.parse(third.stdout).deleted, 1);

  const at = `${root.path}/nightly/docs`;
  assertEquals(await Deno.readTextFile(`${at}/a.txt`), "a, night 3");
  assertEquals(await Deno.readTextFile(`${at}/a.txt.~1~`), "a, night 1");
  assertEquals(await Deno.readTextFile(`${at}/a.txt.~2~`), "a, night 2");
  assertEquals(await Deno.readTextFile(`${at}/sub/b.txt.~1~`), "b, night 1");
  assertEquals(
    (await listTree(root.path)).filter((p) => p.includes(".ferry-")),
    [],
    "no temporary is left",
  );
  // A fourth night with nothing changed sends nothing, and --delete leaves the backups alone.
  const fourth = await nightly("--backup", "--delete");
  assertEquals(fourth.code, 0, fourth.stderr);
  assertEquals([JSON.parse(fourth.stdout).files, JSON.parse(fourth.stdout).deleted], [0, 0]);
  assert(await Deno.stat(`${at}/a.txt.~2~`));
});

Deno.test("--backup-dir keeps replaced and deleted files in a mirror tree, both ways, and never outside the root", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await using server = await startServer(root.path, { noDelete: true });
  await using client = await connectTo(server);
  await Deno.mkdir(`${local.path}/tree/sub`, { recursive: true });
  await Deno.writeTextFile(`${local.path}/tree/sub/f.txt`, "one");
  await Deno.writeTextFile(`${local.path}/tree/gone.txt`, "gone");
  await client.send([`${local.path}/tree`], "/", { recursive: true });
  await Deno.writeTextFile(`${local.path}/tree/sub/f.txt`, "two!");
  await Deno.remove(`${local.path}/tree/gone.txt`);
  const sent = await client.send([`${local.path}/tree`], "/", {
    recursive: true,
    sync: true,
    delete: true,
    backup: "old",
  });
  assertEquals([sent.files, sent.deleted, sent.errors], [1, 1, 0]);
  assertEquals(await Deno.readTextFile(`${root.path}/tree/sub/f.txt`), "two!");
  assertEquals(await Deno.readTextFile(`${root.path}/old/tree/sub/f.txt.~1~`), "one");
  assertEquals(await Deno.readTextFile(`${root.path}/old/tree/gone.txt.~1~`), "gone");

  // The other way: a get replaces and deletes local files, keeping them in a local folder.
  await Deno.writeTextFile(`${local.path}/tree/extra.txt`, "local only");
  const got = await client.get(["tree"], local.path, {
    recursive: true,
    sync: true,
    delete: true,
    backup: `${local.path}/kept`,
  });
  assertEquals([got.files, got.deleted, got.errors], [0, 1, 0]);
  assertEquals(await Deno.readTextFile(`${local.path}/kept/tree/extra.txt.~1~`), "local only");
  await Deno.writeTextFile(`${root.path}/tree/sub/f.txt`, "three");
  const replaced = await client.get(["tree/sub/f.txt"], `${local.path}/tree/sub/f.txt`, {
    backup: true,
  });
  assertEquals(replaced.files, 1);
  assertEquals(await Deno.readTextFile(`${local.path}/tree/sub/f.txt`), "three");
  assertEquals(await Deno.readTextFile(`${local.path}/tree/sub/f.txt.~1~`), "two!");

  // rm with a backup is allowed by --no-delete; a backup folder outside the root is refused.
  assertEquals(await client.remove("tree/sub/f.txt", { backup: true }), true);
  assertEquals(await Deno.readTextFile(`${root.path}/tree/sub/f.txt.~1~`), "three");
  await Deno.writeTextFile(`${local.path}/tree/sub/f.txt`, "four");
  const escape = await client.send([`${local.path}/tree/sub/f.txt`], "tree/sub/f.txt", {
    backup: "../outside",
  });
  assertEquals(escape.failures.map((f) => f.code), ["bad_path"]);
  // A backup folder that is a link to the outside is refused too, and the file is kept.
  await using outside = await tempDir();
  await Deno.writeTextFile(`${root.path}/tree/sub/f.txt`, "five");
  await Deno.symlink(outside.path, `${root.path}/evil`);
  const linked = await client.send([`${local.path}/tree/sub/f.txt`], "tree/sub/f.txt", {
    backup: "evil",
  });
  assertEquals(linked.failures.map((f) => f.code), ["bad_path"]);
  assertEquals(await Deno.readTextFile(`${root.path}/tree/sub/f.txt`), "five");
  assertEquals(await listTree(outside.path), []);
});
