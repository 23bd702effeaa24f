// Protocol v2 against hostile networks and peers: a proxy that flips,
// replays, drops or reorders encrypted records, a whole session replayed
// against the server, wrong tokens both ways, a v1 peer, and a capture of a
// transfer that must show neither the file, nor its name, nor the token.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { connect } from "../lib/client/connect.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { ferry, serveProcess } from "./_cli.ts";
import {
  concat,
  listTree,
  patternBytes,
  startServer,
  tempDir,
  TOKEN,
  waitFor,
} from "./_helpers.ts";
import { recordProxy, RecordSplitter } from "./_records.ts";

function includesBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const MARKER = "FERRY-SECRET-MARKER-6b1f";

async function markedFile(path: string): Promise<Uint8Array> {
  const bytes = patternBytes(600_000, 3);
  bytes.set(new TextEncoder().encode(MARKER), 1000);
  bytes.set(new TextEncoder().encode(MARKER), 500_000);
  await Deno.writeFile(path, bytes);
  return bytes;
}

Deno.test("a capture of a whole transfer shows neither the file's bytes, nor its name, nor the token", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const name = "quarterly-report-name-7c2e.bin";
  const bytes = await markedFile(`${local.path}/${name}`);
  await using server = await startServer(root.path);
  await using proxy = recordProxy(server.port, "to-server", "none");
  {
    await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
    await client.send([`${local.path}/${name}`], "inbox/");
    await client.get([`inbox/${name}`], `${local.path}/back.bin`);
    for await (const _ of client.list("inbox")) { /* names travel in the listing too */ }
  }
  assertEquals(await Deno.readFile(`${local.path}/back.bin`), bytes);
  const capture = concat([...proxy.captured["to-server"], ...proxy.captured["to-client"]]);
  assert(capture.length > 2 * bytes.length, "both directions were captured");
  const text = new TextEncoder();
  for (const secret of [MARKER, name, TOKEN, "inbox"]) {
    assert(!includesBytes(capture, text.encode(secret)), `"${secret}" is in the capture`);
  }
});

for (const fault of ["flip", "replay", "drop", "reorder"] as const) {
  Deno.test(`a ${fault} of a record to the server ends the connection and stores nothing`, async () => {
    await using root = await tempDir();
    await using local = await tempDir();
    await Deno.writeTextFile(`${root.path}/keep.bin`, "old contents");
    await markedFile(`${local.path}/keep.bin`);
    await Deno.writeFile(`${local.path}/other.bin`, patternBytes(300_000, 4));
    await using server = await startServer(root.path);
    // Record 1 to the server is inside the body of the first file.
    await using proxy = recordProxy(server.port, "to-server", fault, 1);
    await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
    const error = await assertRejects(
      () => client.send([`${local.path}/keep.bin`, `${local.path}/other.bin`], "/"),
      FerryError,
    );
    assertEquals(error.code, ErrorCode.Connection, error.message);
    assertEquals(await Deno.readTextFile(`${root.path}/keep.bin`), "old contents");
    assert(
      await waitFor(async () => (await listTree(root.path)).length === 1),
      `nothing else stored: ${await listTree(root.path)}`,
    );
    assert(server.events.some((e) => e.action === "connection" && /decrypt/.test(e.message ?? "")));
  });

  Deno.test(`a ${fault} of a record to the client ends the get and writes nothing`, async () => {
    await using root = await tempDir();
    await using local = await tempDir();
    await markedFile(`${root.path}/f.bin`);
    await Deno.writeTextFile(`${local.path}/f.bin`, "old local");
    await using server = await startServer(root.path);
    // Record 0 answers STAT; record 2 is inside the file's body.
    await using proxy = recordProxy(server.port, "to-client", fault, 2);
    await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
    const error = await assertRejects(() => client.get(["f.bin"], local.path), FerryError);
    // A record that fails to open is an attack; one that never comes is a stalled link.
    assert(
      error.code === ErrorCode.Protocol || error.code === ErrorCode.Connection,
      `${error.code}: ${error.message}`,
    );
    assertEquals(await Deno.readTextFile(`${local.path}/f.bin`), "old local");
    assertEquals(await listTree(local.path), ["f.bin"]);
  });
}

Deno.test("a whole session replayed against the server is refused and stores nothing", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await markedFile(`${local.path}/once.bin`);
  await using server = await startServer(root.path);
  await using tap = recordProxy(server.port, "to-server", "none");
  {
    await using client = await connect({ host: "127.0.0.1", port: tap.addr.port, token: TOKEN });
    await client.send([`${local.path}/once.bin`], "once.bin");
  }
  await Deno.remove(`${root.path}/once.bin`);
  // Everything the client sent, sent again on a new connection: the server's new
  // ephemeral key gives new session keys, so the old records do not decrypt.
  // As an attacker would: the greeting and message 1, then, once the server
  // answered, the recorded records.
  const units = new RecordSplitter().push(concat(tap.captured["to-server"]));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const write = async (bytes: Uint8Array) => {
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
  };
  try {
    await write(concat(units.slice(0, 2).map((u) => u.bytes)));
    const answer = new RecordSplitter();
    const buffer = new Uint8Array(4096);
    let answered = 0;
    while (answered < 2) {
      const n = await conn.read(buffer);
      if (n === null) break;
      answered += answer.push(buffer.subarray(0, n)).length;
    }
    await write(concat(units.slice(2).map((u) => u.bytes)));
    await conn.closeWrite();
    const sink = new Uint8Array(65536);
    while ((await conn.read(sink)) !== null) { /* until the server closes */ }
  } catch {
    /* closed by the server */
  } finally {
    conn.close();
  }
  assertEquals(await listTree(root.path), []);
  assert(server.events.some((e) => e.action === "connection" && /decrypt/.test(e.message ?? "")));
});

Deno.test("a wrong token is refused both ways: the server says auth_failed, a rogue server cannot pass", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  const wrong = await assertRejects(
    () =>
      connect({ host: "127.0.0.1", port: server.port, token: "another-token-of-enough-length" }),
    FerryError,
  );
  assertEquals(wrong.code, ErrorCode.AuthFailed);
  assertEquals(server.events.at(-1)?.code, ErrorCode.AuthFailed);
  // A server with another token: the client refuses it.
  await using impostor = await startServer(root.path, { token: "the-impostor-has-another-token" });
  const error = await assertRejects(
    () => connect({ host: "127.0.0.1", port: impostor.port, token: TOKEN }),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.AuthFailed);
});

Deno.test("a version 1 peer is told both versions and the command exits 6", async () => {
  await using root = await tempDir();
  // A v1 server: the preamble with version 1 and its old HELLO.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    const v1 = new Uint8Array([0x46, 0x45, 0x52, 0x52, 0x59, 0x00, 0x00, 0x01]);
    await conn.write(v1).catch(() => 0);
    await conn.read(new Uint8Array(1024)).catch(() => null);
    conn.close();
  })();
  const run = await ferry(["ls", `ferry://127.0.0.1:${listener.addr.port}/`], {
    FERRY_TOKEN: TOKEN,
  });
  listener.close();
  await serving;
  assertEquals(run.code, 6, run.stderr);
  assert(/protocol 1.*speaks 2/.test(run.stderr), run.stderr);
  // A v1 client against a v2 server: the server logs the version and serves on.
  await using server = await serveProcess(root.path, [], { FERRY_TOKEN: TOKEN });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await conn.write(new Uint8Array([0x46, 0x45, 0x52, 0x52, 0x59, 0x00, 0x00, 0x01]));
  const greeting = new Uint8Array(8);
  let got = 0;
  while (got < 8) {
    const n = await conn.read(greeting.subarray(got));
    if (n === null) break;
    got += n;
  }
  conn.close();
  assertEquals(greeting[7], 2, "the server greets with version 2");
  const listed = await ferry(["ls", `ferry://127.0.0.1:${server.port}/`], { FERRY_TOKEN: TOKEN });
  assertEquals(listed.code, 0, listed.stderr);
});
