// Where docs/PROTOCOL.md and the server must agree (issue 27, items 16-20),
// as a second implementation written from the document alone found them:
// every kind and optional field in the tables, the 4 KiB handshake cap on
// the header, request id 0, exactly one zstd frame, a short record, the 65th
// upload, frames between a body's DATA, and ferry's temporaries as names.

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { encodeHeader, FRAME_HEADER_SIZE, preambleBytes } from "../lib/protocol/frame.ts";
import {
  encodeGet,
  encodeList,
  encodeMkdir,
  encodePut,
  encodeRemove,
} from "../lib/protocol/requests.ts";
import { decompressChunk } from "../lib/wire/compression.ts";
import { FileDigest } from "../lib/fs/digest.ts";
import { zstdCompressSync } from "node:zlib";
import {
  clientHandshake,
  concat,
  json,
  Kind,
  listTree,
  RawClient,
  startServer,
  tempDir,
} from "./_helpers.ts";

const SPEC = new URL("../docs/PROTOCOL.md", import.meta.url);
const put = (path: string, size: number) => json({ path, size, mode: 0o644, mtime: 0 });

/** The row of section 3's table for `name`. */
function tableRow(spec: string, name: string): string {
  return spec.split("\n").find((line) =>
    new RegExp(`^\\| 0x[0-9a-f]{2} \\| ${name} `).test(line)
  ) ??
    "";
}

Deno.test("section 3 lists every kind the codec knows, and each request row names every field it can carry", async () => {
  const spec = await Deno.readTextFile(SPEC);
  for (const [name, value] of Object.entries(Kind)) {
    const upper = { AuthOk: "AUTH_OK", Remove: "RM" }[name] ?? name.toUpperCase();
    const row = tableRow(spec, upper);
    assert(
      row.startsWith(`| 0x${value.toString(16).padStart(2, "0")} `),
      `${upper} is in the table`,
    );
  }
  // Every field an encoder writes when every option is set.
  const everything: [string, Uint8Array][] = [
    [
      "PUT",
      encodePut({
        path: "p",
        size: 1,
        mode: 1,
        mtime: 1,
        resume: true,
        stream: true,
        fsync: "batch",
        backup: "",
      }),
    ],
    [
      "GET",
      encodeGet({
        path: "p",
        recursive: true,
        resumeFrom: { offset: 1, digest: "d" },
        compress: 3,
        chunk: 1024,
      }),
    ],
    ["LIST", encodeList({ path: "p", recursive: true, digests: true, filter: ["- x"] })],
    ["MKDIR", encodeMkdir({ path: "p", parents: true, mode: 1, mtime: 1 })],
    ["RM", encodeRemove({ path: "p", recursive: true, force: true, backup: "" })],
  ];
  for (const [kind, payload] of everything) {
    const row = tableRow(spec, kind);
    for (const field of Object.keys(JSON.parse(new TextDecoder().decode(payload)))) {
      assert(new RegExp(`\\b${field}\\b`).test(row), `${kind}'s row names "${field}": ${row}`);
    }
  }
});

Deno.test("a HELLO header over 4 KiB is a protocol error at once, before its payload, and no failed login", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const header = new Uint8Array(FRAME_HEADER_SIZE);
  encodeHeader(header, 0, Kind.Hello, 0, 4097);
  // Only the header: a server that waits for the payload would wait for its login limit.
  await tcp.write(concat([preambleBytes(), header]));
  const reply = new Uint8Array(await new Response(tcp.readable).arrayBuffer());
  assertEquals(reply[8 + 0], Kind.Error, "a plaintext ERROR after the server's preamble");
  const message = JSON.parse(new TextDecoder().decode(reply.subarray(8 + FRAME_HEADER_SIZE)));
  assertEquals(message.code, ErrorCode.Protocol);
  assertEquals(server.events.filter((event) => event.action === "auth"), [], "not a wrong token");
});

Deno.test("a request with id 0 is a protocol error that ends the connection", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  await raw.send(Kind.Stat, 0, json({ path: "/" }));
  const frames = await raw.drain();
  assertEquals(frames.length, 1, "one ERROR, then the connection closed");
  assertEquals(JSON.parse(frames[0]!.text).code, ErrorCode.Protocol);
});

Deno.test("compressed DATA must be exactly one whole zstd frame: truncated, trailed or doubled is refused", () => {
  const frame = new Uint8Array(zstdCompressSync(new TextEncoder().encode("x".repeat(5000))));
  assertEquals(decompressChunk(frame).length, 5000);
  for (
    const [what, bytes] of [
      ["truncated", frame.subarray(0, frame.length - 3)],
      ["followed by junk", concat([frame, new Uint8Array([1, 2, 3])])],
      ["two frames", concat([frame, frame])],
    ] as const
  ) {
    const error = assertThrows(() => decompressChunk(bytes), FerryError);
    assertEquals(error.code, ErrorCode.Protocol, what);
  }
});

Deno.test("a record shorter than its 16-byte tag closes the connection without a reply", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await clientHandshake(tcp);
  await tcp.write(new Uint8Array([0, 5, 1, 2, 3, 4, 5]));
  const after = new Uint8Array(
    await new Response(tcp.readable).arrayBuffer().catch(() => new ArrayBuffer(0)),
  );
  assertEquals(after.length, 0, "nothing sent back, not even an encrypted ERROR");
});

Deno.test("the 65th open upload is a protocol error; frames of other requests may come between a body's DATA", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  {
    await using raw = await RawClient.open(server);
    for (let id = 1; id <= 65; id++) await raw.send(Kind.Put, id, put(`f${id}`, 10));
    const frames = await raw.drain();
    const last = JSON.parse(frames.at(-1)!.text);
    assertEquals([frames.at(-1)!.kind, last.code], [Kind.Error, ErrorCode.Protocol]);
    assert(last.message.includes("64"), last.message);
  }
  await using raw = await RawClient.open(server);
  const body = new TextEncoder().encode("abcdef");
  const digest = await FileDigest.start();
  digest.update(body);
  await raw.send(Kind.Put, 1, put("mixed.txt", 6));
  await raw.send(Kind.Data, 1, body.subarray(0, 3));
  await raw.send(Kind.Stat, 2, json({ path: "/" }));
  await raw.send(Kind.Data, 1, body.subarray(3));
  await raw.send(Kind.End, 1, digest.finish());
  const replies = [await raw.next(), await raw.next()];
  assertEquals(replies.map((f) => [f?.kind, f?.id]).sort(), [[Kind.Ok, 1], [Kind.Ok, 2]]);
  assertEquals(await Deno.readTextFile(`${root.path}/mixed.txt`), "abcdef");
});

Deno.test("a request naming one of ferry's temporaries is refused, except RM (how a stale one goes)", async () => {
  await using root = await tempDir();
  const temp = ".ferry-0123456789abcdef.part";
  await Deno.writeTextFile(`${root.path}/${temp}`, "someone's partial");
  await using server = await startServer(root.path);
  await using raw = await RawClient.open(server);
  const refused: [Kind, Uint8Array][] = [
    [Kind.Get, json({ path: temp, recursive: false })],
    [Kind.Put, put(`sub/${temp}`, 0)],
    [Kind.Mkdir, json({ path: temp, parents: true })],
    [Kind.Rename, json({ from: temp, to: "stolen.txt" })],
  ];
  for (const [i, [kind, payload]] of refused.entries()) {
    await raw.send(kind, i + 1, payload);
    if (kind === Kind.Put) await raw.send(Kind.End, i + 1, new Uint8Array(16));
    const reply = await raw.next();
    assertEquals([reply?.kind, JSON.parse(reply!.text).code], [Kind.Error, ErrorCode.BadPath]);
  }
  assertEquals(await listTree(root.path), [temp], "nothing read, made or moved");
  await raw.send(Kind.Remove, 9, json({ path: temp, recursive: false, force: false }));
  assertEquals((await raw.next())?.kind, Kind.Ok);
  assertEquals(await listTree(root.path), []);
});
