// -z (issue 17): zstd per DATA chunk, negotiated in the handshake. Round
// trips of compressible and incompressible data both ways, with a proxy that
// counts what crossed; a server without compression; and compressed frames
// that no one agreed to, or that would expand past the DATA cap.

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import {
  connectTo,
  json,
  Kind,
  listTree,
  patternBytes,
  RawClient,
  startServer,
  tcpProxy,
  tempDir,
  TOKEN,
} from "./_helpers.ts";
import { connect } from "../lib/client/connect.ts";
import { ChunkCompressor, decompressChunk } from "../lib/wire/compression.ts";
import { encodeHeader, FLAG_COMPRESSED, FRAME_HEADER_SIZE } from "../lib/protocol/frame.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { zstdCompressSync } from "node:zlib";

/** Log-like text: compresses several times. */
function logBytes(size: number): Uint8Array {
  let text = "";
  for (let i = 0; text.length < size; i++) {
    text += `2026-11-22T08:${i % 60} INFO GET /api/v1/items?id=${(i * 7919) % 100000} 200 ${
      i % 977
    }ms\n`;
  }
  return new TextEncoder().encode(text.slice(0, size));
}

/** A TCP proxy in front of `port` that counts the bytes going each way. */
function countingProxy(port: number) {
  const counted = { toServer: 0, toClient: 0 };
  const proxy = tcpProxy(port, async (from, to, flow) => {
    const buffer = new Uint8Array(64 * 1024);
    for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
      counted[flow === "to-server" ? "toServer" : "toClient"] += n;
      for (let done = 0; done < n;) done += await to.write(buffer.subarray(done, n));
    }
  });
  return Object.assign(proxy, { port: proxy.addr.port, counted });
}

Deno.test("ChunkCompressor sends a chunk compressed only when it shrinks; decompressChunk refuses bombs", () => {
  const compressor = new ChunkCompressor(3);
  const text = logBytes(1024 * 1024);
  const packed = compressor.compress(text)!;
  assert(packed.length < text.length / 3, `${packed.length}`);
  assertEquals(compressor.lastWireBytes, packed.length);
  assertEquals(new Uint8Array(decompressChunk(packed)), text);
  const noise = patternBytes(1024 * 1024);
  assertEquals(compressor.compress(noise), undefined);
  assertEquals(compressor.lastWireBytes, noise.length);
  const bomb = zstdCompressSync(new Uint8Array(2 * 1024 * 1024));
  const error = assertThrows(() => decompressChunk(bomb), FerryError);
  assertEquals(error.code, ErrorCode.Protocol);
  assertEquals(assertThrows(() => decompressChunk(noise), FerryError).code, ErrorCode.Protocol);
});

Deno.test("send and get with compress: byte-identical, compressible data crosses in a fraction, noise as it is", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const text = logBytes(6 * 1024 * 1024);
  const noise = patternBytes(3 * 1024 * 1024);
  await Deno.writeFile(`${local.path}/app.log`, text);
  await Deno.writeFile(`${local.path}/noise.bin`, noise);
  await using server = await startServer(root.path);
  await using proxy = countingProxy(server.port);
  await using client = await connect({ host: "127.0.0.1", port: proxy.port, token: TOKEN });
  await client.send([`${local.path}/app.log`], "/", { compress: true });
  assert(proxy.counted.toServer < text.length / 3, `${proxy.counted.toServer} bytes went`);
  assertEquals(await Deno.readFile(`${root.path}/app.log`), text);
  const before = proxy.counted.toServer;
  await client.send([`${local.path}/noise.bin`], "/", { compress: 19 });
  assert(proxy.counted.toServer - before >= noise.length, "incompressible data goes as it is");
  assertEquals(await Deno.readFile(`${root.path}/noise.bin`), noise);

  await Deno.mkdir(`${local.path}/back`);
  const got = await client.get(["app.log", "noise.bin"], `${local.path}/back/`, { compress: true });
  assertEquals(got.files, 2);
  assert(proxy.counted.toClient < text.length / 3 + noise.length + 64 * 1024, "get compressed too");
  assertEquals(await Deno.readFile(`${local.path}/back/app.log`), text);
  assertEquals(await Deno.readFile(`${local.path}/back/noise.bin`), noise);
});

Deno.test("a server without compression still works with a client that asks for it: the data goes as it is", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const text = logBytes(2 * 1024 * 1024);
  await Deno.writeFile(`${local.path}/app.log`, text);
  await using server = await startServer(root.path, { compression: false });
  await using proxy = countingProxy(server.port);
  await using client = await connect({ host: "127.0.0.1", port: proxy.port, token: TOKEN });
  await client.send([`${local.path}/app.log`], "/", { compress: true });
  assert(proxy.counted.toServer >= text.length);
  await client.get(["app.log"], `${local.path}/copy.log`, { compress: true });
  assert(proxy.counted.toClient >= text.length);
  assertEquals(await Deno.readFile(`${local.path}/copy.log`), text);
});

/** A DATA frame with the compressed flag, whatever its payload. */
function compressedData(id: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  encodeHeader(frame, 0, Kind.Data, id, payload.length, FLAG_COMPRESSED);
  frame.set(payload, FRAME_HEADER_SIZE);
  return frame;
}

const put = (path: string, size: number) => json({ path, size, mode: 0o644, mtime: 0 });

Deno.test("a compressed DATA frame nobody agreed to, or one that expands past 1 MiB, is a protocol error and stores nothing", async () => {
  for (
    const [compression, payload] of [
      [false, zstdCompressSync(new Uint8Array(1000))],
      [true, zstdCompressSync(new Uint8Array(2 * 1024 * 1024))],
      [true, new TextEncoder().encode("not zstd at all")],
    ] as const
  ) {
    await using root = await tempDir();
    await using server = await startServer(root.path, { compression });
    await using raw = await RawClient.open(server);
    await raw.send(Kind.Put, 1, put("x.bin", 2 * 1024 * 1024));
    await raw.conn.write(compressedData(1, payload));
    const frames = await raw.drain();
    const error = frames.find((f) => f.kind === Kind.Error);
    assert(error?.text.includes(ErrorCode.Protocol), JSON.stringify(frames));
    assertEquals(await listTree(root.path), [], "no file, no temporary");
    // The server goes on serving others.
    await using client = await connectTo(server);
    assertEquals(await client.stat("x.bin"), null);
  }
});
