// Attacks and accidents against a live server, with raw frames a real client
// never sends. After each, the server must still serve a normal client, and
// nothing may appear outside its root.

import { MIN_PENDING_LOGINS } from "../lib/server/admission.ts";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { connect } from "../lib/client/connect.ts";
import { encodeHeader, FRAME_HEADER_SIZE } from "../lib/protocol/frame.ts";
import { resumeKeyFor, TEMP_PREFIX } from "../lib/fs/temporary.ts";
import { FileDigest } from "../lib/fs/digest.ts";
import {
  connectTo,
  json,
  Kind,
  listTree,
  patternBytes,
  RawClient,
  startServer,
  tempDir,
  TOKEN,
  waitFor,
} from "./_helpers.ts";

async function stillServes(
  server: Awaited<ReturnType<typeof startServer>>,
  local: string,
): Promise<void> {
  await Deno.writeTextFile(`${local}/probe.txt`, "still here");
  await using client = await connectTo(server);
  const summary = await client.send([`${local}/probe.txt`], "probe.txt");
  assertEquals(summary.files, 1);
}

const put = (path: string, size = 3) => json({ path, size, mode: 0o644, mtime: 0 });

Deno.test("the server refuses every path that tries to leave the root, and writes nothing", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  const bad = [
    "../x",
    "/../../etc/x",
    "a/../../b",
    "a\0b",
    "n".repeat(5000),
  ];
  for (const [i, path] of bad.entries()) {
    const id = i + 1;
    await raw.send(Kind.Put, id, put(path));
    await raw.send(Kind.Data, id, new Uint8Array([1, 2, 3]));
    await raw.send(Kind.End, id, new Uint8Array(16));
    const reply = await raw.next();
    assertEquals([reply?.kind, reply?.id], [Kind.Error, id], path.slice(0, 20));
    assertEquals(JSON.parse(reply!.text).code, ErrorCode.BadPath);
  }
  for (const [i, path] of ["../", "/../../etc", "a/../../b"].entries()) {
    await raw.send(Kind.Get, 100 + i, json({ path, recursive: true }));
    assertEquals(JSON.parse((await raw.next())!.text).code, ErrorCode.BadPath);
    await raw.send(Kind.Mkdir, 200 + i, json({ path, parents: true }));
    assertEquals(JSON.parse((await raw.next())!.text).code, ErrorCode.BadPath);
  }
  assertEquals(await listTree(root.path), []);
  await stillServes(server, local.path);
});

Deno.test("garbage, a truncated frame and a huge length close only that connection", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using server = await startServer(root.path);
  await using bystander = await connectTo(server);

  const huge = new Uint8Array(FRAME_HEADER_SIZE);
  encodeHeader(huge, 0, Kind.Data, 1, 0xffff_fff0);
  const truncated = new Uint8Array(FRAME_HEADER_SIZE + 4);
  encodeHeader(truncated, 0, Kind.Put, 1, 500);
  const attacks: [string, Uint8Array, boolean][] = [
    ["garbage before the handshake", patternBytes(4096, 11), false],
    ["garbage after the handshake", patternBytes(4096, 12), true],
    ["a huge announced length", huge, true],
    ["a truncated frame", truncated, true],
  ];
  for (const [what, bytes, authenticate] of attacks) {
    await using raw = await RawClient.open(server, authenticate);
    await raw.conn.write(bytes);
    if (what === "a truncated frame") await raw.conn.closeWrite();
    const frames = await raw.drain();
    if (authenticate && what !== "a truncated frame") {
      const last = frames.at(-1);
      assertEquals(last?.kind, Kind.Error, what);
      assertEquals(JSON.parse(last!.text).code, ErrorCode.Protocol, what);
    }
  }
  // Valid frames in the wrong order: DATA with no PUT, and a second handshake.
  for (const kind of [Kind.Data, Kind.End, Kind.Hello, Kind.Ok]) {
    await using raw = await RawClient.open(server);
    await raw.send(kind, 9, new Uint8Array(16));
    const frames = await raw.drain();
    assertEquals(JSON.parse(frames.at(-1)!.text).code, ErrorCode.Protocol);
  }
  assert(server.events.some((e) => e.code === ErrorCode.Protocol));
  // The client that was connected all along is unaffected.
  await Deno.writeTextFile(`${local.path}/b.txt`, "bystander");
  assertEquals((await bystander.send([`${local.path}/b.txt`], "b.txt")).files, 1);
  assertEquals(await listTree(root.path), ["b.txt"]);
  await stillServes(server, local.path);
});

Deno.test("a client that disappears mid-file leaves no file and no temporary behind", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/old.bin`, "old");
  await using server = await startServer(root.path);
  const raw = await RawClient.open(server);
  await raw.send(Kind.Put, 1, put("old.bin", 10_000_000));
  await raw.send(Kind.Data, 1, patternBytes(500_000));
  await raw.send(Kind.Put, 2, put("new.bin", 10_000_000)).catch(() => {});
  // The temporary exists while the upload runs...
  while (!(await listTree(root.path)).some((p) => p.startsWith(TEMP_PREFIX))) {
    await new Promise((r) => setTimeout(r, 5));
  }
  raw.conn.close();
  // ...and is removed once the server sees the connection end.
  while ((await listTree(root.path)).some((p) => p.startsWith(TEMP_PREFIX))) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assertEquals(await listTree(root.path), ["old.bin"]);
  assertEquals(await Deno.readTextFile(`${root.path}/old.bin`), "old");
  await stillServes(server, local.path);
});

Deno.test("an upload that ends early or runs long is refused and discarded", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  await raw.send(Kind.Put, 1, put("short.bin", 10));
  await raw.send(Kind.Data, 1, new Uint8Array(5));
  await raw.send(Kind.End, 1, new Uint8Array(16));
  const frames = await raw.drain();
  assertEquals(JSON.parse(frames.at(-1)!.text).code, ErrorCode.Protocol);
  assertEquals(await listTree(root.path), []);

  await using raw2 = await RawClient.open(server);
  await raw2.send(Kind.Put, 1, put("long.bin", 2));
  await raw2.send(Kind.Data, 1, new Uint8Array(5));
  assertEquals(JSON.parse((await raw2.drain()).at(-1)!.text).code, ErrorCode.Protocol);
  assertEquals(await listTree(root.path), []);
});

Deno.test("a refused upload's remaining frames are dropped and the connection goes on", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  await raw.send(Kind.Put, 1, put("../escape", 3));
  await raw.send(Kind.Data, 1, new Uint8Array(3));
  await raw.send(Kind.End, 1, new Uint8Array(16));
  assertEquals((await raw.next())?.kind, Kind.Error);
  await raw.send(Kind.Stat, 2, json({ path: "/" }));
  const stat = await raw.next();
  assertEquals([stat?.kind, JSON.parse(stat!.text).type], [Kind.Ok, "dir"]);
});

Deno.test("close() lets an upload in progress finish, then stops", async () => {
  await using root = await tempDir();
  const server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  const body = patternBytes(100_000, 3);
  const { FileDigest } = await import("../lib/fs/digest.ts");
  const digest = await FileDigest.start();
  digest.update(body);
  await raw.send(Kind.Put, 1, put("late.bin", body.length));
  await raw.send(Kind.Data, 1, body.subarray(0, 50_000));
  while (!(await listTree(root.path)).some((p) => p.startsWith(TEMP_PREFIX))) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const closing = server.close(5_000);
  await raw.send(Kind.Data, 1, body.subarray(50_000));
  await raw.send(Kind.End, 1, digest.finish());
  assertEquals((await raw.next())?.kind, Kind.Ok);
  await closing;
  assertEquals(await Deno.readFile(`${root.path}/late.bin`), body);
  assertEquals(await listTree(root.path), ["late.bin"]);
});

Deno.test("a bad script's wrong tokens never lock the owner out: the right token from that address gets in at once", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/a.txt`, "a");
  await using server = await startServer(root.path, { authFailureDelayMs: 5 });
  for (let i = 0; i < 25; i++) {
    const error = await assertRejects(
      () => connect({ host: "127.0.0.1", port: server.port, token: "wrong-token-wrong-token" }),
      FerryError,
    );
    assertEquals(error.code, ErrorCode.AuthFailed);
  }
  await using client = await connectTo(server);
  assertEquals((await client.stat("a.txt"))?.type, "file", "the right token is let in");
  assertEquals(server.events.filter((e) => e.code === ErrorCode.AuthFailed).length, 25);
});

Deno.test("wrong tokens cannot be tried in parallel to beat the delay: 4 are held at a time, the rest turned away untried", async () => {
  await using root = await tempDir();
  // Long enough that all eight arrive while the first four wait for their answer.
  await using server = await startServer(root.path, { authFailureDelayMs: 3_000 });
  const tries = Array.from({ length: 8 }, async (_, i) => {
    // In order, so that the first four are the ones verified.
    await new Promise((resolve) => setTimeout(resolve, i * 50));
    const error = await assertRejects(
      () => connect({ host: "127.0.0.1", port: server.port, token: "wrong-token-wrong-token" }),
      FerryError,
    );
    return error.code;
  });
  const codes = await Promise.all(tries);
  assertEquals(codes.filter((code) => code === ErrorCode.AuthFailed).length, 4, codes.join());
  assertEquals(codes.filter((code) => code === ErrorCode.Busy).length, 4, codes.join());
  // Once their answers went out, the right token gets in.
  await using client = await connectTo(server);
  assertEquals(await client.stat("missing"), null);
});

Deno.test("a crowd of silent strangers cannot evict a held wrong login to learn its answer early", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path, { authFailureDelayMs: 2_000 });
  const guess = connect({ host: "127.0.0.1", port: server.port, token: "wrong-token-wrong-token" })
    .then(() => "in", (error: FerryError) => error.code);
  // The guess is verified within milliseconds and then held for its delay.
  await new Promise((resolve) => setTimeout(resolve, 300));
  // More strangers than the pool of logins holds: the oldest are dropped, not the held guess.
  const strangers = await Promise.all(
    Array.from(
      { length: MIN_PENDING_LOGINS + 16 },
      () => Deno.connect({ hostname: "127.0.0.1", port: server.port }),
    ),
  );
  try {
    assertEquals(await guess, ErrorCode.AuthFailed, "answered auth_failed, not cut early");
  } finally {
    for (const stranger of strangers) stranger.close();
  }
});

Deno.test("uploads ended by a short or malformed END leak no temporary and no descriptor, connection after connection", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using server = await startServer(root.path);
  // Deno reads /proc only with --allow-all; ls may read this process's descriptors.
  const openDescriptors = async () => {
    const ls = await new Deno.Command("ls", { args: [`/proc/${Deno.pid}/fd`] }).output();
    return new TextDecoder().decode(ls.stdout).trim().split("\n").length;
  };
  const before = await openDescriptors();
  const endings = [
    { data: 2, end: new Uint8Array(16) }, // fewer bytes than announced
    { data: 3, end: new Uint8Array(5) }, // a digest of the wrong size
    { data: 3, end: new Uint8Array(0) }, // no digest at all
  ];
  for (let i = 0; i < 60; i++) {
    const { data, end } = endings[i % endings.length]!;
    await using raw = await RawClient.open(server);
    // Several uploads open at once, one of them resumable, before the bad END.
    await raw.send(Kind.Put, 1, put(`f${i}.bin`, 3));
    await raw.send(
      Kind.Put,
      3,
      json({ path: `big${i}.bin`, size: 5_000_000, mode: 0o644, mtime: 0, resume: true }),
    );
    await raw.send(Kind.Data, 1, new Uint8Array(data));
    await raw.send(Kind.End, 1, end);
    // Every other client hangs up without waiting for the answer.
    if (i % 2 === 0) await raw.drain();
  }
  // The server notices each closed connection on its own time.
  const settled = await waitFor(async () => await openDescriptors() <= before + 5, 10_000);
  assert(settled, `descriptors: ${before} before, ${await openDescriptors()} after 60 connections`);
  // Nothing arrived for the resumable uploads, so no partial is kept either.
  const temporaries = async () =>
    (await listTree(root.path)).filter((p) => p.startsWith(TEMP_PREFIX));
  await waitFor(async () => (await temporaries()).length === 0, 10_000);
  assertEquals(await temporaries(), []);
  await stillServes(server, local.path);
});

Deno.test("a path beyond PATH_MAX once joined to the root: stored beneath the held root, or (user space) refused as bad_path, not io", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  // 4,095 bytes in 16 levels of 255-byte names: within the protocol's limits, but
  // beyond PATH_MAX once joined to the root folder.
  const name = "n".repeat(254);
  const long = Array.from({ length: 16 }, () => name).join("/").slice(0, 4095);
  const digest = await FileDigest.start();
  digest.update(new Uint8Array(3));
  await raw.send(Kind.Put, 1, put(long, 3));
  await raw.send(Kind.Data, 1, new Uint8Array(3));
  await raw.send(Kind.End, 1, digest.finish());
  const reply = await raw.next();
  if (server.confinement.kernel) {
    // Resolved beneath the root's descriptor, the path is never joined to the root's.
    assertEquals(reply?.kind, Kind.Ok, reply?.text);
  } else {
    assertEquals(reply?.kind, Kind.Error);
    assertEquals(JSON.parse(reply!.text).code, ErrorCode.BadPath);
  }
  // The folders it made stay (as mkdir -p's would); no temporary does.
  const left = await listTree(root.path);
  assert(left.every((p) => !p.split("/").at(-1)!.startsWith(TEMP_PREFIX)), "no temporary left");
  await stillServes(server, local.path);
});

Deno.test("a link planted at a resumable partial's name is never written through, nor followed to create a file", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using outside = await tempDir();
  await Deno.writeTextFile(`${outside.path}/precious`, "keep me");
  const big = patternBytes(5 * 1024 * 1024);
  const mtime = new Date(1_700_000_000_000);
  for (const [name, target] of [["a.bin", "precious"], ["b.bin", "created"]]) {
    await Deno.writeFile(`${local.path}/${name}`, big);
    await Deno.utime(`${local.path}/${name}`, mtime, mtime);
    // The partial's name is predictable: a local user plants a link there first.
    const key = await resumeKeyFor(name!, big.length, mtime.getTime());
    await Deno.symlink(`${outside.path}/${target}`, `${root.path}/${TEMP_PREFIX}${key}.part`);
  }
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const sent = await client.send([`${local.path}/a.bin`, `${local.path}/b.bin`], "/");
  assertEquals(sent.files, 2);
  assertEquals(await Deno.readTextFile(`${outside.path}/precious`), "keep me");
  assertEquals(await listTree(outside.path), ["precious"], "nothing created through a link");
  assertEquals(await listTree(root.path), ["a.bin", "b.bin"], "the planted links are gone");
  assertEquals(await Deno.readFile(`${root.path}/a.bin`), big);
});

Deno.test('a resumable upload whose partial another connection is writing starts afresh instead of failing as "started twice"', async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const big = patternBytes(6 * 1024 * 1024);
  await Deno.writeFile(`${local.path}/big.bin`, big);
  await using server = await startServer(root.path);
  await using first = await connectTo(server);
  await using second = await connectTo(server);
  // Both ask for the same partial (same name, size and mtime) at once.
  const [a, b] = await Promise.all([
    first.send([`${local.path}/big.bin`], "big.bin", { limitRate: 8 * 1024 * 1024 }),
    second.send([`${local.path}/big.bin`], "big.bin", { limitRate: 8 * 1024 * 1024 }),
  ]);
  assertEquals(
    [a.files, a.errors, b.files, b.errors],
    [1, 0, 1, 0],
    JSON.stringify([a.failures.map((f) => f.message), b.failures.map((f) => f.message)]),
  );
  assertEquals(await Deno.readFile(`${root.path}/big.bin`), big);
});

Deno.test("a folder swapped for a link to the outside after a connection used it is not written through on that connection", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  await Deno.mkdir(`${root.path}/sub`);
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  const upload = async (id: number, path: string) => {
    const digest = await FileDigest.start();
    digest.update(new TextEncoder().encode("abc"));
    await raw.send(Kind.Put, id, put(path, 3));
    await raw.send(Kind.Data, id, new TextEncoder().encode("abc"));
    await raw.send(Kind.End, id, digest.finish());
    return await raw.next();
  };
  assertEquals((await upload(1, "sub/first"))?.kind, Kind.Ok);
  // A local user on the server swaps the folder for a link, between two files.
  await Deno.rename(`${root.path}/sub`, `${root.path}/moved`);
  await Deno.symlink(outside.path, `${root.path}/sub`);
  const refused = await upload(2, "sub/second");
  assertEquals(refused?.kind, Kind.Error);
  assertEquals(JSON.parse(refused!.text).code, ErrorCode.BadPath);
  assertEquals(await listTree(outside.path), []);
});

Deno.test("200 connections that never log in do not lock out a client with the token (issue 16 item 2)", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using server = await startServer(root.path, { maxConnections: 4 });
  const strangers: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      // Half say nothing; half start a preamble and stop.
      if (i % 2 === 1) await conn.write(new TextEncoder().encode("FE"));
      strangers.push(conn);
    }
    // Three clients and the probe take the 4 session slots; the strangers took none.
    const clients = await Promise.all([0, 1, 2].map(() => connectTo(server)));
    await stillServes(server, local.path);
    for (const client of clients.slice(1)) await client.close();
    await stillServes(server, local.path);
    // The pool of logins is bounded: the oldest strangers were closed to make room.
    const closed = await Promise.all(strangers.map(async (conn) => {
      const buffer = new Uint8Array(64);
      try {
        while (true) {
          const read = await Promise.race([
            conn.read(buffer),
            new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 200)),
          ]);
          if (read === "open") return false;
          if (read === null) return true;
        }
      } catch {
        return true;
      }
    }));
    const dropped = closed.filter((c) => c).length;
    assert(dropped >= 200 - 64, `only ${dropped} of 200 strangers were dropped`);
    await clients[0]!.close();
  } finally {
    for (const conn of strangers) {
      try {
        conn.close();
      } catch { /* dropped by the server */ }
    }
  }
});

Deno.test("a client beyond --max-conns is told the server is busy; one that leaves frees its slot", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path, { maxConnections: 1 });
  const first = await connectTo(server);
  const error = await assertRejects(() => connectTo(server), FerryError);
  assertEquals(error.code, ErrorCode.Busy);
  assert(error.message.includes("busy"), error.message);
  await first.close();
  const freed = await waitFor(async () => {
    try {
      await (await connectTo(server)).close();
      return true;
    } catch {
      return false;
    }
  });
  assert(freed, "the slot of a client that left was never freed");
});

Deno.test("a client name with a control character of any kind (C0, DEL, C1) never names the client", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  const hostile = ["\x9b31mred", "\x9d0;PWNED\x9c", "next\x85line", "esc\x1b[2J", "del\x7f"];
  for (const [i, name] of hostile.entries()) {
    await using client = await connect({
      host: "127.0.0.1",
      port: server.port,
      token: TOKEN,
      name,
    });
    await client.mkdir(`made-${i}`);
    await client.remove(`made-${i}`, { recursive: true });
  }
  await using named = await connect({
    host: "127.0.0.1",
    port: server.port,
    token: TOKEN,
    name: "pi-kitchen",
  });
  await named.mkdir("named");
  await named.remove("named", { recursive: true });
  const made = server.events.filter((event) => event.action === "rm");
  assertEquals(made.map((event) => event.client), [...hostile.map(() => undefined), "pi-kitchen"]);
});

Deno.test("an upload cut off by a lost connection is logged with how far it got", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  {
    await using raw = await RawClient.open(server);
    await raw.send(Kind.Put, 1, put("cut.bin", 1000));
    await raw.send(Kind.Data, 1, patternBytes(300));
    // A round trip: the server has the DATA before the connection goes.
    await raw.send(Kind.Stat, 2, json({ path: "/" }));
    assertEquals((await raw.next())?.id, 2);
  }
  assert(await waitFor(() => Promise.resolve(server.events.some((e) => e.code === "aborted"))));
  const cut = server.events.find((event) => event.code === "aborted")!;
  assertEquals([cut.action, cut.path, cut.bytes, cut.ok], ["put", "cut.bin", 300, false]);
  assertEquals(cut.message, "the connection ended first");
  assertEquals(await listTree(root.path), [], "the partial of a small file is not kept");
});
