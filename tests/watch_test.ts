// Watch and push (issue 14): watchers receive what is committed under their
// folder over their own connection, catch up after being offline, and never
// write outside their local folder.

import { assert, assertEquals } from "./_assert.ts";
import { connect } from "../lib/client/connect.ts";
import { ferryCommand, serveProcess } from "./_cli.ts";
import {
  exists,
  Kind,
  listTree,
  patternBytes,
  serverHandshake,
  startServer,
  tempDir,
  TOKEN,
  waitFor,
} from "./_helpers.ts";
import { ErrorCode } from "../lib/errors.ts";
import { FrameReader } from "../lib/wire/frame_reader.ts";
import { FrameWriter } from "../lib/wire/frame_writer.ts";
import { Watcher } from "../lib/server/watchers.ts";
import type { Responder } from "../lib/server/responder.ts";
import {
  decodeEntries,
  encodeEntries,
  encodeError,
  encodeListDone,
  encodeStatReply,
  entryJson,
} from "../lib/protocol/replies.ts";
import type { WatchedFile } from "../mod.ts";

const client = (port: number, name?: string) =>
  connect({ host: "127.0.0.1", port, token: TOKEN, ...(name ? { name } : {}) });

/** Starts watching `folder` into `local`; the files received land in `got`. */
async function startWatch(port: number, folder: string, local: string, name?: string) {
  const watcher = await client(port, name);
  const stop = new AbortController();
  const got: WatchedFile[] = [];
  const running = watcher.watch(folder, local, {
    signal: stop.signal,
    onFile: (file) => void got.push(file),
  });
  const done = running.done().catch((error) => error);
  return {
    got,
    async [Symbol.asyncDispose]() {
      stop.abort();
      await done;
      await watcher.close();
    },
  };
}

Deno.test("three watchers receive a file sent by a fourth client, byte-identical, with mode and mtime", async () => {
  await using root = await tempDir();
  await using locals = await tempDir();
  await Deno.mkdir(`${root.path}/outbox`);
  await using server = await startServer(root.path);
  const watchers = await Promise.all(
    [0, 1, 2].map((i) => startWatch(server.port, "outbox", `${locals.path}/w${i}`)),
  );
  try {
    // Each has registered once the server lists it.
    assert(
      await waitFor(() =>
        Promise.resolve(server.clients().filter((c) => c.watching.length > 0).length === 3)
      ),
    );
    const data = patternBytes(300_000, 3);
    await using sender = await client(server.port);
    await sender.put("outbox/photo.jpg", data, { mode: 0o640, mtime: 1_700_000_000_000 });
    await sender.put("elsewhere.txt", new TextEncoder().encode("not watched"));
    for (let i = 0; i < 3; i++) {
      const local = `${locals.path}/w${i}/photo.jpg`;
      assert(
        await waitFor(async () => (await listTree(`${locals.path}/w${i}`)).includes("photo.jpg")),
        `w${i}`,
      );
      assertEquals(await Deno.readFile(local), data);
      const info = await Deno.stat(local);
      assertEquals([info.mode! & 0o777, info.mtime?.getTime()], [0o640, 1_700_000_000_000]);
      assert(await waitFor(() => Promise.resolve(watchers[i]!.got.length === 1)));
      assertEquals(watchers[i]!.got.map((f) => f.remotePath), ["outbox/photo.jpg"]);
      assertEquals(await listTree(`${locals.path}/w${i}`), ["photo.jpg"]);
    }
  } finally {
    for (const watcher of watchers) await watcher[Symbol.asyncDispose]();
  }
});

Deno.test("a watcher that was offline during two sends catches up when it reconnects", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${root.path}/outbox/sub`, { recursive: true });
  await using server = await startServer(root.path);
  await using sender = await client(server.port);
  await sender.put("outbox/early.txt", new TextEncoder().encode("before"));
  {
    await using watch = await startWatch(server.port, "outbox", local.path);
    // onFile runs once the file is committed: wait for it, not for the file.
    assert(await waitFor(() => Promise.resolve(watch.got.length === 1)));
    assertEquals(watch.got.map((f) => f.remotePath), ["outbox/early.txt"]);
  }
  // Offline: two sends.
  await sender.put("outbox/one.txt", new TextEncoder().encode("1"));
  await sender.put("outbox/sub/two.txt", new TextEncoder().encode("2"));
  await using again = await startWatch(server.port, "outbox", local.path);
  assert(await waitFor(() => Promise.resolve(again.got.length === 2)));
  assertEquals(again.got.map((f) => f.remotePath).sort(), ["outbox/one.txt", "outbox/sub/two.txt"]);
  // Then live again.
  await sender.put("outbox/three.txt", new TextEncoder().encode("3"));
  assert(await waitFor(async () => (await listTree(local.path)).includes("three.txt")));
});

Deno.test("server.push() reaches only the watcher that named itself so, and clients() lists them", async () => {
  await using root = await tempDir();
  await using locals = await tempDir();
  await using server = await startServer(root.path);
  await using laptop = await startWatch(server.port, "", `${locals.path}/laptop`, "laptop");
  await using phone = await startWatch(server.port, "", `${locals.path}/phone`, "phone");
  assert(
    await waitFor(() =>
      Promise.resolve(server.clients().filter((c) => c.watching.length > 0).length === 2)
    ),
  );
  // One entry per connection; a catch-up lists on a second one, closed when it is done.
  assert(await waitFor(() => Promise.resolve(server.clients().length === 2)), "caught up");
  const watching = server.clients().filter((c) => c.watching.length > 0);
  assertEquals(watching.map((c) => [c.name, c.watching]).sort(), [["laptop", [""]], ["phone", [
    "",
  ]]]);
  const told = await server.push(new TextEncoder().encode("for the laptop"), "notes/only.txt", {
    to: "laptop",
  });
  assertEquals(told, 1);
  assert(
    await waitFor(async () => (await listTree(`${locals.path}/laptop`)).includes("notes/only.txt")),
  );
  assertEquals(await Deno.readTextFile(`${root.path}/notes/only.txt`), "for the laptop");
  assert(await waitFor(() => Promise.resolve(laptop.got.length === 1)));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assertEquals(await listTree(`${locals.path}/phone`), []);
  assertEquals(laptop.got.length + phone.got.length, 1);
});

Deno.test("server.push() of a folder stores and pushes each of its files, as the watchers mirror it", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using source = await tempDir();
  await Deno.mkdir(`${source.path}/album/day2`, { recursive: true });
  await Deno.writeFile(`${source.path}/album/a.jpg`, patternBytes(5000, 1));
  await Deno.writeFile(`${source.path}/album/day2/b.jpg`, patternBytes(7000, 2));
  await Deno.symlink("/etc/passwd", `${source.path}/album/link`);
  await Deno.mkdir(`${root.path}/shared`);
  await using server = await startServer(root.path);
  await using _watch = await startWatch(server.port, "shared", local.path, "laptop");
  assert(await waitFor(() => Promise.resolve(server.clients().some((c) => c.watching.length > 0))));
  const told = await server.push(`${source.path}/album`, "shared/album");
  assertEquals(told, 2, "one watcher told of each file");
  assertEquals(await listTree(`${root.path}/shared`), [
    "album",
    "album/a.jpg",
    "album/day2",
    "album/day2/b.jpg",
  ]);
  const mirrored = ["album/a.jpg", "album/day2/b.jpg"];
  assert(
    await waitFor(async () => {
      const tree = await listTree(local.path);
      return mirrored.every((path) => tree.includes(path));
    }),
  );
  assertEquals(await Deno.readFile(`${local.path}/album/day2/b.jpg`), patternBytes(7000, 2));
  assertEquals(await exists(`${local.path}/album/link`), false, "symlinks are not pushed");
  assertEquals(server.events.filter((e) => e.action === "push").length, 2);
});

Deno.test("a file another program writes into the served folder reaches watchers once it settled; one still growing does not", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${root.path}/outbox`);
  await using server = await startServer(root.path, { settleMs: 400 });
  await using watch = await startWatch(server.port, "outbox", local.path);
  assert(await waitFor(() => Promise.resolve(server.clients().some((c) => c.watching.length > 0))));
  await Deno.writeTextFile(`${root.path}/outbox/snapshot.jpg`, "one frame");
  assert(await waitFor(async () => (await listTree(local.path)).includes("snapshot.jpg")));
  assertEquals(await Deno.readTextFile(`${local.path}/snapshot.jpg`), "one frame");

  // A recording that keeps growing for a while: never sent half done.
  const file = await Deno.open(`${root.path}/outbox/video.mp4`, { write: true, create: true });
  for (let i = 0; i < 10; i++) {
    await file.write(patternBytes(10_000, i));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert(!(await listTree(local.path)).includes("video.mp4"), "sent while it still grew");
  }
  file.close();
  assert(await waitFor(async () => (await listTree(local.path)).includes("video.mp4")));
  assert(await waitFor(() => Promise.resolve(watch.got.length === 2)));
  assertEquals((await Deno.stat(`${local.path}/video.mp4`)).size, 100_000);
  // ferry's own temporaries are never pushed.
  assertEquals(watch.got.map((f) => f.remotePath).sort(), [
    "outbox/snapshot.jpg",
    "outbox/video.mp4",
  ]);
});

Deno.test("a hostile server's push of ../ or an absolute name writes nothing outside the local folder", async () => {
  await using parent = await tempDir();
  const local = `${parent.path}/inbox`;
  // A rogue server: an empty folder to catch up with, then pushes of names a real one never sends.
  const hostile = ["../escape.txt", "a/../../b.txt", "/../../etc/evil", "x\u0000y"];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      void (async () => {
        try {
          const secure = await serverHandshake(conn);
          if (secure === null) return;
          const reader = new FrameReader(secure);
          const writer = new FrameWriter(secure);
          for (let frame; (frame = await reader.read()) !== null;) {
            const { id } = frame;
            if (frame.kind === Kind.Watch) {
              const lines = hostile.map((path) =>
                entryJson({ name: "n", path, type: "file", size: 1, mode: 0o644, mtime: 0 })
              );
              await writer.frame(Kind.Entries, id, encodeEntries(lines), { flush: true });
            } else if (frame.kind === Kind.Stat) {
              const dir = encodeStatReply({ type: "dir", size: 0, mode: 0o755, mtime: 0 });
              await writer.frame(Kind.Ok, id, dir, { flush: true });
            } else if (frame.kind === Kind.List) {
              await writer.frame(Kind.Ok, id, encodeListDone({ entries: 0 }), { flush: true });
            } else {
              const refusal = encodeError({ code: ErrorCode.NotFound, message: "no" });
              await writer.frame(Kind.Error, id, refusal, { flush: true });
            }
          }
        } catch {
          /* the client left */
        } finally {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  })();
  const errors: string[] = [];
  try {
    await using watcher = await client(listener.addr.port);
    const stop = new AbortController();
    const running = watcher.watch("", local, {
      signal: stop.signal,
      onError: (error) => void errors.push(error.message),
    }).done().catch((error) => error);
    assert(
      await waitFor(() => Promise.resolve(errors.length >= hostile.length)),
      errors.join("; "),
    );
    stop.abort();
    await running;
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
  assertEquals(await listTree(parent.path), ["inbox"]);
  assert(
    errors.every((e) => e.includes("not a name inside") || e.includes("no")),
    errors.join("; "),
  );
});

Deno.test("ferry watch: two watchers get a file written on the server's side, run --exec, print JSON lines, and stop with exit 0 on SIGTERM", async () => {
  await using root = await tempDir();
  await using locals = await tempDir();
  await Deno.mkdir(`${root.path}/outbox`);
  await using server = await serveProcess(root.path, ["--settle", "1"]);
  const at = `ferry://127.0.0.1:${server.port}/outbox`;
  const exec = `sh -c 'echo "$FERRY_REMOTE_PATH $FERRY_SIZE" > "$FERRY_PATH.seen"'`;
  const watchers = [0, 1].map((i) =>
    ferryCommand([
      "watch",
      "--json",
      "--name",
      `laptop${i}`,
      "--exec",
      exec,
      at,
      `${locals.path}/w${i}`,
    ])
      .spawn()
  );
  try {
    // Both registered: the server says so in its log? Wait for their folders instead.
    assert(await waitFor(async () => (await listTree(locals.path)).length === 2, 15_000));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await Deno.writeTextFile(`${root.path}/outbox/report.pdf`, "%PDF-1.7");
    for (const i of [0, 1]) {
      assert(
        await waitFor(async () => await exists(`${locals.path}/w${i}/report.pdf.seen`), 15_000),
        `watcher ${i}`,
      );
      assertEquals(await Deno.readTextFile(`${locals.path}/w${i}/report.pdf`), "%PDF-1.7");
      assertEquals(
        await Deno.readTextFile(`${locals.path}/w${i}/report.pdf.seen`),
        "outbox/report.pdf 8\n",
      );
    }
  } finally {
    for (const child of watchers) child.kill("SIGTERM");
  }
  for (const child of watchers) {
    const output = await child.output();
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    const lines = new TextDecoder().decode(output.stdout).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assertEquals(lines.map((l) => [l.remotePath, l.size]), [["outbox/report.pdf", 8]]);
  }
});

Deno.test("with delete, a watcher mirrors removals and moves away as they happen; without it, it keeps its copies", async () => {
  await using root = await tempDir();
  await using locals = await tempDir();
  await Deno.mkdir(`${root.path}/outbox/old`, { recursive: true });
  for (const name of ["a.txt", "b.txt", "old/c.txt"]) {
    await Deno.writeTextFile(`${root.path}/outbox/${name}`, name);
  }
  await using server = await startServer(root.path);
  const mirror = `${locals.path}/mirror`;
  const keeper = `${locals.path}/keeper`;
  await using watcher = await client(server.port);
  await using other = await client(server.port);
  const stop = new AbortController();
  const runs = [
    watcher.watch("outbox", mirror, { signal: stop.signal, delete: true }).done(),
    other.watch("outbox", keeper, { signal: stop.signal }).done(),
  ].map((run) => run.catch((error) => error));
  try {
    const tree = (path: string) => listTree(path).catch(() => [] as string[]);
    assert(
      await waitFor(async () =>
        (await tree(mirror)).length === 4 && (await tree(keeper)).length === 4
      ),
    );
    await using sender = await client(server.port);
    await sender.remove("outbox/a.txt");
    await sender.remove("outbox/old", { recursive: true });
    await sender.rename("outbox/b.txt", "elsewhere.txt");
    assert(
      await waitFor(async () => (await listTree(mirror)).length === 0),
      String(await listTree(mirror)),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assertEquals(await listTree(keeper), ["a.txt", "b.txt", "old", "old/c.txt"]);
  } finally {
    stop.abort();
    await Promise.all(runs);
  }
});

Deno.test("a watcher that falls more than 1,024 entries behind is told to sync its folder instead, and offering never waits", async () => {
  const sent: string[][] = [];
  let release = () => {};
  const blocked = new Promise<void>((resolve) => release = resolve);
  // A connection that does not drain: the first write waits until released.
  const writer = {
    frame: async (_kind: number, _id: number, payload: Uint8Array) => {
      if (sent.length === 0) await blocked;
      sent.push(decodeEntries(payload).map((e) => e.type === "dir" ? `sync ${e.path}` : e.path));
    },
  };
  const watcher = new Watcher(
    "outbox",
    { remote: "test", name: undefined },
    { writer } as unknown as Responder,
    1,
  );
  try {
    const file = (n: number) => ({
      name: `f${n}`,
      path: `outbox/f${n}`,
      type: "file" as const,
      size: 1,
      mode: 0o644,
      mtime: 0,
    });
    for (let n = 0; n < 2_000; n++) watcher.offer(file(n)); // returns at once, every time
    release();
    // The first batch was on its way; the 1,024 that piled up behind it became
    // one "sync", followed by what arrived after that (f1026 to f1999).
    const total = () => sent.reduce((sum, batch) => sum + batch.length, 0);
    assert(await waitFor(() => Promise.resolve(total() === 1 + 1 + 974)), `${total()} sent`);
    assertEquals(sent[0], ["outbox/f0"]);
    assertEquals(sent[1]!.slice(0, 2), ["sync outbox", "outbox/f1026"]);
  } finally {
    watcher.close();
  }
});

Deno.test("ferry watch reconnects after the server restarts and catches up on what was sent meanwhile", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${root.path}/outbox`);
  let server = await serveProcess(root.path);
  const port = server.port;
  const child = ferryCommand(["watch", "-q", `ferry://127.0.0.1:${port}/outbox`, local.path])
    .spawn();
  try {
    await Deno.writeTextFile(`${root.path}/outbox/before.txt`, "1");
    assert(await waitFor(async () => await exists(`${local.path}/before.txt`)));
    await server.stop();
    // Sent while the watcher had no server: found at the catch-up after the restart.
    await Deno.writeTextFile(`${root.path}/outbox/meanwhile.txt`, "2");
    server = await serveProcess(root.path, [], {}, port);
    assert(await waitFor(async () => await exists(`${local.path}/meanwhile.txt`), 30_000));
  } finally {
    child.kill("SIGTERM");
    const { code } = await child.output();
    assertEquals(code, 0);
    await server.stop();
  }
});
