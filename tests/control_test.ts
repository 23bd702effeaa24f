// rsync-grade control (issue 17): -n/--dry-run changes nothing on either
// side and prints the plan, -v and -vv print each file (and --json each
// event), --ignore-existing and --update choose what is replaced.

import { assert, assertEquals } from "./_assert.ts";
import { ferry, serveProcess } from "./_cli.ts";
import { connectTo, listTree, startServer, tempDir } from "./_helpers.ts";

/** Every entry under `root` with its contents and modification time: equal snapshots, nothing changed. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const path of await listTree(root)) {
    const info = await Deno.lstat(`${root}/${path}`);
    const body = info.isFile ? await Deno.readTextFile(`${root}/${path}`) : "<dir>";
    out.push(`${path} ${body} ${info.mtime?.getTime()}`);
  }
  return out;
}

/** A source tree and a server copy that differ: one changed, one new, one extra. */
async function divergedTrees(local: string, root: string): Promise<void> {
  await Deno.mkdir(`${local}/src/sub`, { recursive: true });
  await Deno.mkdir(`${root}/src/sub`, { recursive: true });
  await Deno.writeTextFile(`${local}/src/same.txt`, "same");
  await Deno.writeTextFile(`${local}/src/sub/changed.txt`, "new text");
  await Deno.writeTextFile(`${local}/src/sub/added.txt`, "added");
  await Deno.writeTextFile(`${root}/src/same.txt`, "same");
  await Deno.writeTextFile(`${root}/src/sub/changed.txt`, "old");
  await Deno.writeTextFile(`${root}/src/extra.txt`, "only on the server");
  const time = new Date("2026-01-02T03:04:05Z");
  await Deno.utime(`${local}/src/same.txt`, time, time);
  await Deno.utime(`${root}/src/same.txt`, time, time);
}

Deno.test("send -n -v --sync --delete prints the plan and leaves both sides byte-identical", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await divergedTrees(local.path, root.path);
  await using server = await serveProcess(root.path);
  const before = [await snapshot(local.path), await snapshot(root.path)];
  const at = `ferry://127.0.0.1:${server.port}/`;
  const run = await ferry([
    "send",
    "-n",
    "-v",
    "-r",
    "--sync",
    "--delete",
    `${local.path}/src`,
    at,
  ]);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(run.stdout.split("\n").filter(Boolean).sort(), [
    "+ src/sub/added.txt",
    "+ src/sub/changed.txt",
    "- src/extra.txt",
    "= src/same.txt",
  ]);
  assert(run.stderr.includes("Dry run: would copy 2 files"), run.stderr);
  const json = await ferry(["send", "-n", "--json", "-r", "--delete", `${local.path}/src`, at]);
  const summary = JSON.parse(json.stdout.trim().split("\n").at(-1)!);
  assertEquals([summary.dryRun, summary.files, summary.deletedPaths], [true, 2, ["src/extra.txt"]]);
  assertEquals([await snapshot(local.path), await snapshot(root.path)], before);
});

Deno.test("get -n --delete into a new folder creates nothing; into an existing one changes nothing", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  // Here the server is the source: swap the roles of the two trees.
  await divergedTrees(root.path, `${local.path}/dst`);
  await using server = await serveProcess(root.path);
  const before = [await snapshot(local.path), await snapshot(root.path)];
  const at = `ferry://127.0.0.1:${server.port}/src`;
  const run = await ferry(["get", "-n", "-vv", "-r", "--delete", at, `${local.path}/dst/`]);
  assertEquals(run.code, 0, run.stderr);
  const lines = run.stdout.split("\n").filter(Boolean).map((line) => line.replace(local.path, ""));
  assertEquals(lines.sort(), [
    "+ /dst/src/sub/added.txt",
    "+ /dst/src/sub/changed.txt",
    `- ${local.path}/dst/src/extra.txt`.replace(local.path, ""),
    "= /dst/src/same.txt",
  ]);
  const fresh = await ferry(["get", "-n", "-r", at, `${local.path}/new/`]);
  assertEquals(fresh.code, 0, fresh.stderr);
  assertEquals([await snapshot(local.path), await snapshot(root.path)], before);
});

Deno.test("rm -n and mv -n print what they would do and change nothing; their refusals keep the real codes", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/old/deep`, { recursive: true });
  await Deno.writeTextFile(`${root.path}/old/deep/a.txt`, "a");
  await Deno.writeTextFile(`${root.path}/b.txt`, "b");
  await using server = await serveProcess(root.path);
  const before = await snapshot(root.path);
  const at = (path: string) => `ferry://127.0.0.1:${server.port}/${path}`;
  const rm = await ferry(["rm", "-n", "-r", at("old"), at("b.txt")]);
  assertEquals(rm.code, 0, rm.stderr);
  assertEquals(rm.stdout, "- old\n- old/deep\n- old/deep/a.txt\n- b.txt\n");
  assertEquals((await ferry(["rm", "-n", at("old")])).code, 11);
  assertEquals((await ferry(["rm", "-n", at("missing")])).code, 4);
  assertEquals((await ferry(["rm", "-n", "-f", at("missing")])).code, 0);
  const mv = await ferry(["mv", "-n", at("b.txt"), at("old")]);
  assertEquals([mv.code, mv.stdout], [0, "b.txt -> old/b.txt\n"]);
  const json = await ferry(["mv", "-n", "--json", at("b.txt"), at("c.txt")]);
  assertEquals(JSON.parse(json.stdout), { moved: [{ from: "b.txt", to: "c.txt" }], dryRun: true });
  assertEquals((await ferry(["mv", "-n", at("missing"), at("c.txt")])).code, 4);
  assertEquals(await snapshot(root.path), before);
});

Deno.test("-v prints each copy and deletion as it happens, -vv each skip; with --json each is a JSON line before the summary", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await divergedTrees(local.path, root.path);
  await using server = await serveProcess(root.path);
  const at = `ferry://127.0.0.1:${server.port}/`;
  const run = await ferry([
    "send",
    "-v",
    "--json",
    "-r",
    "--delete",
    `${local.path}/src`,
    at,
  ]);
  assertEquals(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
  const summary = lines.pop();
  assertEquals(lines.map((l) => [l.action, l.path]).sort(), [
    ["copy", "src/sub/added.txt"],
    ["copy", "src/sub/changed.txt"],
    ["delete", "src/extra.txt"],
  ]);
  assertEquals([summary.deleted, summary.deletedPaths], [1, ["src/extra.txt"]]);
  assertEquals(await Deno.readTextFile(`${root.path}/src/sub/changed.txt`), "new text");
  // Everything matches now: -v prints nothing, -vv each skip.
  const quiet = await ferry(["send", "-v", "-r", "--sync", `${local.path}/src`, at]);
  assertEquals([quiet.code, quiet.stdout], [0, ""]);
  const skips = await ferry(["send", "-vv", "-r", "--sync", `${local.path}/src`, at]);
  assertEquals(skips.stdout.split("\n").filter(Boolean).sort(), [
    "= src/same.txt",
    "= src/sub/added.txt",
    "= src/sub/changed.txt",
  ]);
});

Deno.test("--ignore-existing never replaces a file there; --update skips files newer there, both ways", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const old = new Date("2026-01-01T00:00:00Z");
  const recent = new Date("2026-06-01T00:00:00Z");
  const write = async (path: string, text: string, time: Date) => {
    await Deno.writeTextFile(path, text);
    await Deno.utime(path, time, time);
  };
  await write(`${local.path}/a.txt`, "local a", recent);
  await write(`${local.path}/b.txt`, "local b", old);
  await write(`${local.path}/c.txt`, "local c", old);
  await write(`${root.path}/a.txt`, "server a", old);
  await write(`${root.path}/b.txt`, "server b", recent);
  const sources = ["a.txt", "b.txt", "c.txt"].map((name) => `${local.path}/${name}`);

  const kept = await client.send(sources, "/", { ignoreExisting: true });
  assertEquals([kept.files, kept.skipped], [1, 2]);
  assertEquals(await Deno.readTextFile(`${root.path}/a.txt`), "server a");
  assertEquals(await Deno.readTextFile(`${root.path}/c.txt`), "local c");

  const updated = await client.send(sources, "/", { update: true });
  assertEquals(await Deno.readTextFile(`${root.path}/a.txt`), "local a", "older there: replaced");
  assertEquals(await Deno.readTextFile(`${root.path}/b.txt`), "server b", "newer there: kept");
  // b.txt kept, and c.txt already matches (size and time, as rsync's quick check).
  assertEquals([updated.files, updated.skipped], [1, 2]);

  // And from the server: b.txt is newer there, a.txt is now the same age.
  await write(`${local.path}/a.txt`, "edited here", recent);
  await Deno.utime(`${local.path}/a.txt`, new Date("2027-01-01"), new Date("2027-01-01"));
  const got = await client.get(["a.txt", "b.txt"], `${local.path}/`, { update: true });
  assertEquals(await Deno.readTextFile(`${local.path}/a.txt`), "edited here", "newer here: kept");
  assertEquals(await Deno.readTextFile(`${local.path}/b.txt`), "server b");
  assertEquals([got.files, got.skipped], [1, 1]);
  const none = await client.get(["a.txt", "b.txt"], `${local.path}/`, { ignoreExisting: true });
  assertEquals([none.files, none.skipped], [0, 2]);
});

Deno.test("--progress=json prints a JSON object a second on stderr; --progress plain lines, without a terminal", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeFile(`${root.path}/slow.bin`, new Uint8Array(1536 * 1024));
  await using server = await serveProcess(root.path);
  const at = `ferry://127.0.0.1:${server.port}/slow.bin`;
  const json = await ferry([
    "get",
    "--progress=json",
    "--limit-rate",
    "512K",
    at,
    `${local.path}/`,
  ]);
  assertEquals(json.code, 0, json.stderr);
  const objects = json.stderr.trim().split("\n").map((line) => JSON.parse(line));
  assert(objects.length >= 2, json.stderr);
  assertEquals(objects.at(-1).bytesDone, 1536 * 1024);
  assert(objects.every((o) => typeof o.bytesPerSecond === "number" && "stalledSeconds" in o));
  assert(objects.at(-1).path.endsWith("slow.bin"));
  const plain = await ferry(["get", "--progress", at, `${local.path}/again.bin`]);
  assertEquals(plain.code, 0, plain.stderr);
  assert(/100% 1\.5 MiB\/1\.5 MiB .* 1\/1 .*again\.bin\n/.test(plain.stderr), plain.stderr);
  assert(!plain.stderr.includes("\r"), "no terminal redraws in a log");
  assertEquals((await ferry(["get", "--progress=fancy", at, local.path])).code, 2);
});
