// A rogue server that answers GET with names a real server never sends. The
// client must refuse them and write nothing outside its destination.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { connect } from "../lib/client/connect.ts";
import { FileDigest } from "../lib/fs/digest.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { FrameReader } from "../lib/wire/frame_reader.ts";
import { FrameWriter } from "../lib/wire/frame_writer.ts";
import { json, Kind, listTree, serverHandshake, tempDir, TOKEN } from "./_helpers.ts";

/**
 * Serves every connection (a get lists on a second one): STAT says "a
 * folder", LIST answers with `entries` (paths as given, from the server
 * root), and every GET gets a small body.
 */
function rogueServer(
  entries: { kind: "dir" | "file"; path: string }[],
  options: {
    wrongDigest?: boolean;
    holdListUntilGet?: boolean;
    /** How a GET's body ends instead of END: OK straight away, or CANCEL then OK. */
    bodyEnd?: "ok" | "cancel";
    /** Entries the LIST's OK claims beyond those sent. */
    listOvercount?: number;
  } = {},
): Deno.TcpListener & AsyncDisposable {
  // With holdListUntilGet, the LIST ends only after a GET arrived (at most 10 s).
  const gotGet = Promise.withResolvers<void>();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const body = new TextEncoder().encode("pwned");
  const stat = { type: "dir", size: 0, mode: 0o755, mtime: 0 };
  const served: Promise<void>[] = [];
  const serveOne = async (conn: Deno.TcpConn) => {
    try {
      const secure = await serverHandshake(conn);
      if (secure === null) return;
      const reader = new FrameReader(secure);
      const writer = new FrameWriter(secure);
      for (let frame = await reader.read(); frame !== null; frame = await reader.read()) {
        const id = frame.id;
        if (frame.kind === Kind.Stat) {
          await writer.frame(Kind.Ok, id, json(stat), { flush: true });
        } else if (frame.kind === Kind.List) {
          const listed = entries.map((e) => ({
            name: e.path.split("/").at(-1),
            path: e.path,
            type: e.kind,
            size: e.kind === "file" ? body.length : 0,
            mode: 0o644,
            mtime: 0,
          }));
          await writer.frame(Kind.Entries, id, json({ entries: listed }), { flush: true });
          if (options.holdListUntilGet) {
            const timeout = new Promise((resolve) => setTimeout(resolve, 10_000, "timeout"));
            if (await Promise.race([gotGet.promise, timeout]) === "timeout") {
              const error = { code: "io", message: "no GET while the listing streamed" };
              await writer.frame(Kind.Error, id, json(error), { flush: true });
              continue;
            }
          }
          const counted = listed.length + (options.listOvercount ?? 0);
          await writer.frame(Kind.Ok, id, json({ entries: counted }), { flush: true });
        } else if (frame.kind === Kind.Get) {
          gotGet.resolve();
          const digest = await FileDigest.start();
          digest.update(options.wrongDigest ? new TextEncoder().encode("other") : body);
          await writer.frame(
            Kind.File,
            id,
            json({ path: "", size: body.length, mode: 0o644, mtime: 0 }),
          );
          await writer.frame(Kind.Data, id, body);
          if (options.bodyEnd === "cancel") await writer.frame(Kind.Cancel, id);
          if (options.bodyEnd === undefined) await writer.frame(Kind.End, id, digest.finish());
          else digest.release();
          await writer.frame(Kind.Ok, id, json({ files: 1 }), { flush: true });
        }
      }
    } catch {
      /* the client hung up */
    } finally {
      conn.close();
    }
  };
  const accepting = (async () => {
    try {
      for (;;) served.push(serveOne(await listener.accept()));
    } catch {
      /* the listener was closed */
    }
  })();
  return Object.assign(listener, {
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await accepting;
      await Promise.all(served);
    },
  });
}

Deno.test("get() refuses ../ and absolute names from a server and writes nothing outside DEST", async () => {
  await using parent = await tempDir();
  const dest = `${parent.path}/dest`;
  await Deno.mkdir(dest);
  for (
    const path of [
      "tree/../escaped.txt",
      "/etc-escaped.txt",
      "tree/ok/../../../up.txt",
      "tree/../../outside-dir",
      "elsewhere/file.txt",
    ]
  ) {
    await using rogue = rogueServer([{ kind: "file", path }]);
    await using client = await connect({
      host: "127.0.0.1",
      port: rogue.addr.port,
      token: TOKEN,
    });
    const error = await assertRejects(
      () => client.get(["tree"], dest, { recursive: true }),
      FerryError,
    );
    // A name that leaves the source ends the transfer: that server is not to be trusted further.
    assertEquals(error.code, ErrorCode.BadPath, path);
  }
  assertEquals(await listTree(parent.path), ["dest", "dest/tree"]);
});

Deno.test("get() refuses a name from a server that is absolute inside the listing", async () => {
  await using parent = await tempDir();
  const dest = `${parent.path}/dest`;
  await Deno.mkdir(dest);
  await using rogue = rogueServer([{ kind: "file", path: "tree//etc/passwd" }]);
  await using client = await connect({ host: "127.0.0.1", port: rogue.addr.port, token: TOKEN });
  const error = await assertRejects(
    () => client.get(["tree"], dest, { recursive: true }),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.BadPath);
  assertEquals(await listTree(parent.path), ["dest", "dest/tree"]);
});

Deno.test("get() refuses a server name that walks through a symlink out of DEST", async () => {
  await using parent = await tempDir();
  await using outside = await tempDir();
  const dest = `${parent.path}/dest`;
  await Deno.mkdir(`${dest}/tree`, { recursive: true });
  await Deno.symlink(outside.path, `${dest}/tree/link`);
  await using rogue = rogueServer([
    { kind: "file", path: "tree/link/planted.txt" },
    { kind: "file", path: "tree/fine.txt" },
  ]);
  await using client = await connect({ host: "127.0.0.1", port: rogue.addr.port, token: TOKEN });
  const summary = await client.get(["tree"], dest, { recursive: true });
  assertEquals([summary.files, summary.failures[0]?.code], [1, ErrorCode.BadPath]);
  assertEquals(await listTree(outside.path), []);
  assertEquals(await Deno.readTextFile(`${dest}/tree/fine.txt`), "pwned");
});

Deno.test("get() replaces a symlink at a file's own name instead of writing through it", async () => {
  await using parent = await tempDir();
  await using outside = await tempDir();
  const dest = `${parent.path}/dest`;
  await Deno.mkdir(`${dest}/tree`, { recursive: true });
  await Deno.writeTextFile(`${outside.path}/target.txt`, "kept");
  // One link to an outside file, one dangling link to a name outside.
  await Deno.symlink(`${outside.path}/target.txt`, `${dest}/tree/linked.txt`);
  await Deno.symlink(`${outside.path}/absent.txt`, `${dest}/tree/dangling.txt`);
  await using rogue = rogueServer([
    { kind: "file", path: "tree/linked.txt" },
    { kind: "file", path: "tree/dangling.txt" },
  ]);
  await using client = await connect({ host: "127.0.0.1", port: rogue.addr.port, token: TOKEN });
  const summary = await client.get(["tree"], dest, { recursive: true });
  assertEquals([summary.files, summary.failures.length], [2, 0]);
  assertEquals(await listTree(outside.path), ["target.txt"]);
  assertEquals(await Deno.readTextFile(`${outside.path}/target.txt`), "kept");
  for (const name of ["linked.txt", "dangling.txt"]) {
    assertEquals((await Deno.lstat(`${dest}/tree/${name}`)).isFile, true);
    assertEquals(await Deno.readTextFile(`${dest}/tree/${name}`), "pwned");
  }
});

Deno.test("a body whose END digest does not match is never committed: get keeps the old file, open() errors", async () => {
  await using parent = await tempDir();
  const dest = `${parent.path}/dest`;
  await Deno.mkdir(`${dest}/tree`, { recursive: true });
  await Deno.writeTextFile(`${dest}/tree/a.txt`, "old");
  await using rogue = rogueServer([{ kind: "file", path: "tree/a.txt" }], { wrongDigest: true });
  await using client = await connect({ host: "127.0.0.1", port: rogue.addr.port, token: TOKEN });
  const summary = await client.get(["tree"], dest, { recursive: true });
  assertEquals([summary.files, summary.failures[0]?.code], [0, ErrorCode.DigestMismatch]);
  assertEquals(await Deno.readTextFile(`${dest}/tree/a.txt`), "old");
  assertEquals(await listTree(parent.path), ["dest", "dest/tree", "dest/tree/a.txt"]);
  const file = await client.open("tree/a.txt");
  const error = await assertRejects(() => new Response(file.readable).arrayBuffer(), FerryError);
  assertEquals(error.code, ErrorCode.DigestMismatch);
});

Deno.test("get() fetches files while the listing still streams: it never waits for the whole listing", async () => {
  await using parent = await tempDir();
  const dest = `${parent.path}/dest`;
  // This server finishes the listing only once a file was asked for: a get that
  // listed everything before fetching would wait for it, then fail.
  await using rogue = rogueServer([
    { kind: "dir", path: "tree/sub" },
    { kind: "file", path: "tree/sub/a.txt" },
    { kind: "file", path: "tree/b.txt" },
  ], { holdListUntilGet: true });
  await using client = await connect({ host: "127.0.0.1", port: rogue.addr.port, token: TOKEN });
  const summary = await client.get(["tree"], `${dest}/`, { recursive: true });
  assertEquals([summary.files, summary.failures.length], [2, 0]);
  assertEquals(await listTree(dest), ["tree", "tree/b.txt", "tree/sub", "tree/sub/a.txt"]);
});

Deno.test("get() fails, leaving nothing behind, when a server ends a body without END or lists fewer entries than it counts", async () => {
  for (const bodyEnd of ["ok", "cancel"] as const) {
    await using parent = await tempDir();
    const dest = `${parent.path}/dest`;
    await using rogue = rogueServer([{ kind: "file", path: "tree/a.txt" }], { bodyEnd });
    await using client = await connect({ host: "127.0.0.1", port: rogue.addr.port, token: TOKEN });
    const summary = await client.get(["tree"], `${dest}/`, { recursive: true });
    assertEquals([summary.files, summary.failures[0]?.code], [0, ErrorCode.Protocol], bodyEnd);
    // No file and no temporary: only the folders that were made.
    assertEquals(await listTree(dest), ["tree"], bodyEnd);
  }
  await using parent = await tempDir();
  const dest = `${parent.path}/dest`;
  await using rogue = rogueServer([{ kind: "file", path: "tree/a.txt" }], { listOvercount: 5 });
  await using client = await connect({ host: "127.0.0.1", port: rogue.addr.port, token: TOKEN });
  const error = await assertRejects(
    () => client.get(["tree"], `${dest}/`, { recursive: true }),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.Protocol);
  assert(error.message.includes("counted 6 entries but sent 1"), error.message);
});
