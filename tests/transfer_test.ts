import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { connect } from "../lib/client/connect.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { encodePut } from "../lib/protocol/requests.ts";
import { FerryServer } from "../lib/server/server.ts";
import type { ServerEvent } from "../lib/server/events.ts";
import {
  connectTo,
  corruptingProxy,
  exists,
  Kind,
  listTree,
  patternBytes,
  RawClient,
  startServer,
  tempDir,
  TOKEN,
} from "./_helpers.ts";
import { recordProxy } from "./_records.ts";
import type { FsyncMode } from "../mod.ts";

Deno.test("send() and get() move a folder tree byte for byte, keeping mode and mtime", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using back = await tempDir();
  await Deno.mkdir(`${local.path}/tree/sub/empty`, { recursive: true });
  const big = patternBytes(3 * 1024 * 1024 + 17);
  await Deno.writeFile(`${local.path}/tree/big.bin`, big);
  await Deno.writeFile(`${local.path}/tree/sub/zero`, new Uint8Array(0));
  await Deno.writeTextFile(`${local.path}/tree/sub/script.sh`, "#!/bin/sh\n");
  await Deno.chmod(`${local.path}/tree/sub/script.sh`, 0o750);
  const mtime = new Date("2020-02-02T02:02:02.123Z");
  await Deno.utime(`${local.path}/tree/big.bin`, mtime, mtime);

  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const progress: number[] = [];
  const sent = await client.send([`${local.path}/tree`], "backup/", {
    recursive: true,
    onProgress: (p) => progress.push(p.bytesDone),
  });
  assertEquals([sent.files, sent.bytes, sent.errors], [3, big.length + 10, 0]);
  assertEquals(progress.at(-1), big.length + 10);
  assertEquals(await listTree(root.path), [
    "backup",
    "backup/tree",
    "backup/tree/big.bin",
    "backup/tree/sub",
    "backup/tree/sub/empty",
    "backup/tree/sub/script.sh",
    "backup/tree/sub/zero",
  ]);
  assertEquals(await Deno.readFile(`${root.path}/backup/tree/big.bin`), big);
  assertEquals(
    (await Deno.stat(`${root.path}/backup/tree/big.bin`)).mtime?.getTime(),
    mtime.getTime(),
  );
  assertEquals((await Deno.stat(`${root.path}/backup/tree/sub/script.sh`)).mode! & 0o777, 0o750);

  const got = await client.get(["backup/tree"], back.path, { recursive: true });
  assertEquals([got.files, got.errors], [3, 0]);
  assertEquals(await Deno.readFile(`${back.path}/tree/big.bin`), big);
  assertEquals((await Deno.stat(`${back.path}/tree/big.bin`)).mtime?.getTime(), mtime.getTime());
  assertEquals((await Deno.stat(`${back.path}/tree/sub/script.sh`)).mode! & 0o777, 0o750);
  assert(await exists(`${back.path}/tree/sub/empty`));
});

Deno.test("send() follows cp: a file to a name, into an existing folder, and several into a new folder", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/a.txt`, "a");
  await Deno.writeTextFile(`${local.path}/b.txt`, "b");
  await Deno.mkdir(`${root.path}/existing`);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  await client.send([`${local.path}/a.txt`], "renamed.txt");
  await client.send([`${local.path}/a.txt`], "existing");
  await client.send([`${local.path}/a.txt`, `${local.path}/b.txt`], "fresh");
  assertEquals(await listTree(root.path), [
    "existing",
    "existing/a.txt",
    "fresh",
    "fresh/a.txt",
    "fresh/b.txt",
    "renamed.txt",
  ]);
  const error = await assertRejects(
    () => client.send([`${local.path}/a.txt`, `${local.path}/b.txt`], "renamed.txt"),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.NotDirectory);
});

Deno.test("a wrong token is refused with auth_failed and nothing is written", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  const error = await assertRejects(
    () => connect({ host: "127.0.0.1", port: server.port, token: "not-the-right-token" }),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.AuthFailed);
  assertEquals(await listTree(root.path), []);
  assertEquals(server.events.at(-1)?.code, ErrorCode.AuthFailed);
});

Deno.test("an upload whose END digest does not match keeps the old file and reports digest_mismatch", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/keep.bin`, "old contents");
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  const body = patternBytes(1000, 5);
  await raw.send(
    Kind.Put,
    1,
    encodePut({ path: "keep.bin", size: body.length, mode: 0o644, mtime: 0 }),
  );
  await raw.send(Kind.Data, 1, body);
  await raw.send(Kind.End, 1, new Uint8Array(16));
  const reply = await raw.next();
  assertEquals([reply?.kind, JSON.parse(reply!.text).code], [Kind.Error, ErrorCode.DigestMismatch]);
  assertEquals(await Deno.readTextFile(`${root.path}/keep.bin`), "old contents");
  assertEquals(await listTree(root.path), ["keep.bin"]);
});

Deno.test("an upload altered on the way (a flipped byte after the handshake) ends the connection and keeps the old file", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/keep.bin`, "old contents");
  await Deno.writeFile(`${local.path}/keep.bin`, patternBytes(1024 * 1024, 5));
  await using server = await startServer(root.path);
  // Offset 200000 falls inside the first file's body, well after the handshake.
  await using proxy = corruptingProxy(server.port, "to-server", 200_000);
  await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
  const error = await assertRejects(
    () => client.send([`${local.path}/keep.bin`], "keep.bin"),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.Connection);
  assertEquals(await Deno.readTextFile(`${root.path}/keep.bin`), "old contents");
  assertEquals(await listTree(root.path), ["keep.bin"]);
});

Deno.test("a download altered on the way fails to decrypt and keeps the old local file", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeFile(`${root.path}/f.bin`, patternBytes(1024 * 1024, 6));
  await Deno.writeTextFile(`${local.path}/f.bin`, "old local");
  await using server = await startServer(root.path);
  await using proxy = corruptingProxy(server.port, "to-client", 300_000);
  await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
  const error = await assertRejects(() => client.get(["f.bin"], local.path), FerryError);
  assertEquals(error.code, ErrorCode.Protocol);
  assert(error.message.includes("decrypt"), error.message);
  assertEquals(await Deno.readTextFile(`${local.path}/f.bin`), "old local");
  assertEquals(await listTree(local.path), ["f.bin"]);
});

Deno.test("several clients send different trees at once and every file arrives intact", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using server = await startServer(root.path);
  const clients = 8;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    await Deno.mkdir(`${local.path}/t${c}`);
    for (let f = 0; f < 20; f++) {
      await Deno.writeFile(
        `${local.path}/t${c}/f${f}`,
        patternBytes(1000 + c * 997 + f * 131, c * 100 + f + 1),
      );
    }
    await using client = await connectTo(server);
    const summary = await client.send([`${local.path}/t${c}`], "/", { recursive: true });
    assertEquals([summary.files, summary.errors], [20, 0]);
  }));
  for (let c = 0; c < clients; c++) {
    for (let f = 0; f < 20; f++) {
      assertEquals(
        await Deno.readFile(`${root.path}/t${c}/f${f}`),
        patternBytes(1000 + c * 997 + f * 131, c * 100 + f + 1),
      );
    }
  }
});

Deno.test("get() of a missing path fails with not_found and a folder without recursive with is_directory", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${root.path}/dir`);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  assertEquals(
    (await assertRejects(() => client.get(["nope"], local.path), FerryError)).code,
    ErrorCode.NotFound,
  );
  assertEquals(
    (await assertRejects(() => client.get(["dir"], local.path), FerryError)).code,
    ErrorCode.IsDirectory,
  );
  assertEquals(await listTree(local.path), []);
});

Deno.test("get() skips symlinks inside a tree and refuses a symlink that leads outside the root", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${outside.path}/secret`, "secret");
  await Deno.mkdir(`${root.path}/tree`);
  await Deno.writeTextFile(`${root.path}/tree/ok.txt`, "ok");
  await Deno.symlink(`${outside.path}/secret`, `${root.path}/tree/link`);
  await Deno.symlink(outside.path, `${root.path}/escape`);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const summary = await client.get(["tree"], local.path, { recursive: true });
  assertEquals([summary.files, summary.skipped], [1, 1]);
  assertEquals(await listTree(local.path), ["tree", "tree/ok.txt"]);
  for (const path of ["escape/secret", "escape", "tree/link"]) {
    const error = await assertRejects(
      () => client.get([path], `${local.path}/x`, { recursive: true }),
      FerryError,
    );
    assertEquals(error.code, ErrorCode.BadPath, path);
  }
  assertEquals(await listTree(local.path), ["tree", "tree/ok.txt"]);
});

Deno.test("send() to a path through a symlink that leads outside is refused and writes nothing outside", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "x");
  await Deno.symlink(outside.path, `${root.path}/escape`);
  await Deno.symlink(`${outside.path}/target`, `${root.path}/file-link`);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  for (const dest of ["escape/f", "escape/deeper/f", "file-link", "escape/"]) {
    const error = await assertRejects(() => client.send([`${local.path}/f`], dest), FerryError);
    assertEquals(error.code, ErrorCode.BadPath, dest);
  }
  assertEquals(await listTree(outside.path), []);
});

Deno.test("parallel (-j 3) deals files to three connections and every file arrives intact", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await using back = await tempDir();
  for (let i = 0; i < 7; i++) {
    await Deno.writeFile(`${local.path}/f${i}`, patternBytes(200_000 + i * 50_000, i + 1));
  }
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const sent = await client.send([local.path], "/", { recursive: true, parallel: 3 });
  assertEquals([sent.files, sent.errors], [7, 0]);
  const senders = new Set(server.events.filter((e) => e.action === "put").map((e) => e.remote));
  assertEquals(senders.size, 3, "three connections carried the files");
  const name = local.path.split("/").at(-1)!;
  const got = await client.get([name], back.path, { recursive: true, parallel: 3 });
  assertEquals([got.files, got.errors], [7, 0]);
  const getters = new Set(server.events.filter((e) => e.action === "get").map((e) => e.remote));
  assertEquals(getters.size, 3);
  for (let i = 0; i < 7; i++) {
    assertEquals(
      await Deno.readFile(`${back.path}/${name}/f${i}`),
      await Deno.readFile(`${local.path}/f${i}`),
    );
  }
});

Deno.test("a server serves a PUT at no less than its --fsync floor, and logs the mode it served", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "durable");
  const served = async (floor: FsyncMode | undefined, asked: FsyncMode | undefined) => {
    await using server = await startServer(root.path, floor === undefined ? {} : { fsync: floor });
    await using client = await connectTo(server);
    await client.send([`${local.path}/f`], `${floor}-${asked}`, asked ? { fsync: asked } : {});
    assertEquals(await Deno.readTextFile(`${root.path}/${floor}-${asked}`), "durable");
    return server.events.find((event) => event.action === "put")?.fsync;
  };
  assertEquals(await served(undefined, "none"), "each");
  assertEquals(await served(undefined, undefined), "each");
  assertEquals(await served("batch", "none"), "batch");
  assertEquals(await served("none", "none"), "none");
  assertEquals(await served("none", "batch"), "batch");
  assertEquals(await served("none", undefined), "each");
});

Deno.test("a tree with more folders than requests in flight is sent whole (the MKDIRs are flushed before waiting for their replies)", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  // One more folder than the client keeps in flight (1024): it used to wait forever
  // for replies to MKDIRs still in its write buffer.
  for (let i = 0; i < 1100; i++) {
    await Deno.mkdir(`${local.path}/tree/d${i}`, { recursive: true });
    await Deno.writeTextFile(`${local.path}/tree/d${i}/f`, String(i));
  }
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const summary = await client.send([`${local.path}/tree`], "", { recursive: true });
  assertEquals(summary.files, 1100);
  assertEquals(await Deno.readTextFile(`${root.path}/tree/d1099/f`), "1099");
});

Deno.test("send walks the tree as it sends (memory does not grow with the tree): a file added to a later folder mid-send arrives", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  // More files in a/ than the client keeps in flight (1024): when the first one is
  // acknowledged, the walk cannot have reached z/ yet. A send that walked the whole
  // tree first would not see z/late.txt.
  await Deno.mkdir(`${local.path}/tree/a`, { recursive: true });
  await Deno.mkdir(`${local.path}/tree/z`);
  for (let i = 0; i < 1100; i++) await Deno.writeTextFile(`${local.path}/tree/a/f${i}`, "");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  let added = false;
  const summary = await client.send([`${local.path}/tree`], "", {
    recursive: true,
    onFile: () => {
      if (added) return;
      added = true;
      Deno.writeTextFileSync(`${local.path}/tree/z/late.txt`, "late");
    },
  });
  assertEquals(summary.files, 1101);
  assertEquals(await Deno.readTextFile(`${root.path}/tree/z/late.txt`), "late");
});

Deno.test("a server started without a host takes IPv4 and IPv6 clients, and logs IPv4 ones as plain addresses", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "both");
  const events: ServerEvent[] = [];
  await using server = await FerryServer.listen({
    root: root.path,
    token: TOKEN,
    port: 0,
    onEvent: (event) => events.push(event),
  });
  for (const host of ["127.0.0.1", "::1"]) {
    await using client = await connect({ host, port: server.port, token: TOKEN });
    await client.send([`${local.path}/f`], `from-${host.replaceAll(":", "")}`);
  }
  assertEquals(await Deno.readTextFile(`${root.path}/from-1`), "both");
  assertEquals(await Deno.readTextFile(`${root.path}/from-127.0.0.1`), "both");
  const remotes = events.filter((e) => e.action === "put").map((e) =>
    e.remote.replace(/:\d+$/, "")
  );
  assertEquals(remotes, ["127.0.0.1", "[::1]"]);
});

Deno.test("a file rewritten while it is sent is sent again as it is then; one that keeps changing fails with its new size, and nothing torn is stored", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const path = `${local.path}/log.bin`;
  const first = patternBytes(256 * 1024, 1);
  const second = patternBytes(256 * 1024, 2);
  await Deno.writeFile(path, first);
  // File times tick in jiffies: a rewrite within the same one as the write would
  // look unchanged to fstat (as to tar's and rsync's checks). An older mtime
  // makes the rewrite show.
  await Deno.utime(path, 1_700_000_000, 1_700_000_000);
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  // Rewritten once, as soon as the first bytes left: the second version arrives whole.
  let rewritten = false;
  const once = await client.send([path], "once.bin", {
    limitRate: 512 * 1024,
    onProgress: (p) => {
      if (rewritten || p.bytesDone === 0) return;
      rewritten = true;
      Deno.writeFileSync(path, second);
    },
  });
  assertEquals([once.files, once.failures.length], [1, 0]);
  // Compared whole, not diffed: a diff of two 256 KiB arrays takes gigabytes.
  assert(sameBytes(await Deno.readFile(`${root.path}/once.bin`), second), "the second version");
  // Cut shorter on every attempt: it fails, saying how big it is now, and is not stored.
  await Deno.writeFile(path, first);
  await Deno.utime(path, 1_700_000_000, 1_700_000_000);
  let size = first.length;
  const always = await client.send([path], "always.bin", {
    limitRate: 512 * 1024,
    onProgress: (p) => {
      if (p.bytesDone === 0 || size < 1000) return;
      size = Math.floor(size / 2);
      Deno.truncateSync(path, size);
    },
  });
  assertEquals(always.files, 0);
  const error = always.failures[0]!;
  assert(error.message.includes("changed as it was read"), error.message);
  assert(/it is now \d+\)/.test(error.message), error.message);
  assert(!await exists(`${root.path}/always.bin`), "nothing torn is stored");
});

Deno.test("a file named like ferry's temporaries is left out of a send but counted as skipped", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${local.path}/tree`);
  await Deno.writeTextFile(`${local.path}/tree/.ferry-0123456789abcdef.part`, "mine");
  await Deno.writeTextFile(`${local.path}/tree/kept.txt`, "kept");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const sent = await client.send([`${local.path}/tree`], "", { recursive: true });
  assertEquals([sent.files, sent.skipped], [1, 1]);
  assertEquals(await listTree(root.path), ["tree", "tree/kept.txt"]);
});

Deno.test("folders keep their permission bits both ways, sticky bit included, whatever the umask", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const modes: Record<string, number> = { private: 0o700, open: 0o777, shared: 0o1777 };
  for (const [name, mode] of Object.entries(modes)) {
    await Deno.mkdir(`${local.path}/tree/${name}`, { recursive: true });
    await Deno.writeTextFile(`${local.path}/tree/${name}/f`, name);
    await Deno.chmod(`${local.path}/tree/${name}`, mode);
  }
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  await client.send([`${local.path}/tree`], "", { recursive: true });
  await client.get(["tree"], `${local.path}/back/`, { recursive: true });
  for (const [name, mode] of Object.entries(modes)) {
    assertEquals(
      (await Deno.stat(`${root.path}/tree/${name}`)).mode! & 0o7777,
      mode,
      `sent ${name}`,
    );
    assertEquals(
      (await Deno.stat(`${local.path}/back/tree/${name}`)).mode! & 0o7777,
      mode,
      `got ${name}`,
    );
  }
});

Deno.test("folders keep their modification times both ways, set after their files, with and without sync", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const times: Record<string, Date> = {
    "tree": new Date("2020-01-02T03:04:05Z"),
    "tree/a": new Date("2021-06-07T08:09:10Z"),
    "tree/a/b": new Date("2019-11-12T13:14:15Z"),
  };
  await Deno.mkdir(`${local.path}/tree/a/b`, { recursive: true });
  await Deno.writeTextFile(`${local.path}/tree/a/b/f`, "deep");
  await Deno.writeTextFile(`${local.path}/tree/top`, "top");
  // Deepest first, as writing into a folder changes its time.
  for (const rel of Object.keys(times).reverse()) {
    await Deno.utime(`${local.path}/${rel}`, times[rel]!, times[rel]!);
  }
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const mtimeOf = async (path: string) => (await Deno.stat(path)).mtime?.getTime();
  for (const options of [{}, { sync: true }]) {
    await client.send([`${local.path}/tree`], "", { recursive: true, ...options });
    await client.get(["tree"], `${local.path}/back/`, { recursive: true, ...options });
    for (const [rel, time] of Object.entries(times)) {
      assertEquals(await mtimeOf(`${root.path}/${rel}`), time.getTime(), `sent ${rel}`);
      assertEquals(await mtimeOf(`${local.path}/back/${rel}`), time.getTime(), `got ${rel}`);
    }
  }
});

Deno.test("a file whose name is not valid UTF-8 fails with a message that says so, and the rest of the tree is sent", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${local.path}/tree`);
  await Deno.writeTextFile(`${local.path}/tree/fine.txt`, "fine");
  // Deno cannot name such a file: the shell makes one whose name is the byte 0xff.
  const made = await new Deno.Command("bash", {
    args: ["-c", `printf x > "$1"/$'\\xff'`, "bash", `${local.path}/tree`],
  }).output();
  assert(made.success, new TextDecoder().decode(made.stderr));
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const sent = await client.send([`${local.path}/tree`], "", { recursive: true });
  assertEquals([sent.files, sent.failures[0]?.code], [1, ErrorCode.BadPath]);
  assert(sent.failures[0]!.message.includes("not valid UTF-8"), sent.failures[0]!.message);
  assertEquals(await listTree(root.path), ["tree", "tree/fine.txt"]);
});

Deno.test("get asks for files in groups: 300 small files take far fewer records to the server than files, and all arrive", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const files = 300;
  for (let folder = 0; folder < 3; folder++) {
    await Deno.mkdir(`${root.path}/tree/d${folder}`, { recursive: true });
    for (let i = 0; i < files / 3; i++) {
      await Deno.writeFile(`${root.path}/tree/d${folder}/f${i}`, patternBytes(100, i));
    }
  }
  await using server = await startServer(root.path);
  await using proxy = recordProxy(server.port, "to-server", "none");
  {
    await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
    const got = await client.get(["tree"], `${local.path}/`, { recursive: true });
    assertEquals(got.files, files);
  }
  assertEquals(
    (await listTree(`${local.path}/tree`)).filter((p) => p.includes("/f")).length,
    files,
  );
  assertEquals(await Deno.readFile(`${local.path}/tree/d2/f99`), patternBytes(100, 99));
  // One record per GET would be 300; grouped, the GETs leave a window's worth at a time.
  assert(
    proxy.records["to-server"] < files / 4,
    `${proxy.records["to-server"]} records to the server`,
  );
});

for (const size of [100, 200_000]) {
  Deno.test(`a file of ${size} bytes whose destination is a folder fails with is_directory both ways; the folder and the rest of the tree are untouched`, async () => {
    await using root = await tempDir();
    await using local = await tempDir();
    // send: the server holds a folder where the file would go.
    await Deno.mkdir(`${local.path}/tree`);
    await Deno.writeFile(`${local.path}/tree/taken`, patternBytes(size));
    await Deno.writeFile(`${local.path}/tree/other`, patternBytes(10, 2));
    await Deno.mkdir(`${root.path}/tree/taken`, { recursive: true });
    await Deno.writeTextFile(`${root.path}/tree/taken/inside`, "kept");
    await using server = await startServer(root.path);
    await using client = await connectTo(server);
    const sent = await client.send([`${local.path}/tree`], "", { recursive: true });
    assertEquals([sent.files, sent.errors], [1, 1]);
    assertEquals(sent.failures[0]!.code, ErrorCode.IsDirectory);
    assert(sent.failures[0]!.message.includes("a folder is in the way"), sent.failures[0]!.message);
    assertEquals(await Deno.readTextFile(`${root.path}/tree/taken/inside`), "kept");
    assertEquals(await Deno.readFile(`${root.path}/tree/other`), patternBytes(10, 2));
    assertEquals(await listTree(root.path), [
      "tree",
      "tree/other",
      "tree/taken",
      "tree/taken/inside",
    ]);

    // get: this side holds the folder.
    await Deno.writeFile(`${root.path}/tree/file`, patternBytes(size));
    await using back = await tempDir();
    await Deno.mkdir(`${back.path}/tree/file`, { recursive: true });
    await Deno.writeTextFile(`${back.path}/tree/file/inside`, "kept");
    await Deno.remove(`${root.path}/tree/taken`, { recursive: true });
    const got = await client.get(["tree"], `${back.path}/`, { recursive: true });
    assertEquals([got.files, got.errors], [1, 1]);
    assertEquals(got.failures[0]!.code, ErrorCode.IsDirectory);
    assert(got.failures[0]!.message.includes("a folder is in the way"), got.failures[0]!.message);
    assertEquals(await Deno.readTextFile(`${back.path}/tree/file/inside`), "kept");
    assertEquals(await listTree(back.path), [
      "tree",
      "tree/file",
      "tree/file/inside",
      "tree/other",
    ]);
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
