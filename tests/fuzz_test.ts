// Thousands of random and mutated inputs against a live server, bounded in
// count and time. Afterwards the server must still serve a normal client,
// nothing may exist outside its root, and its memory must have stayed bounded.

import { assert, assertEquals } from "./_assert.ts";
import { FileDigest } from "../lib/fs/digest.ts";
import {
  encodeHeader,
  encodePreamble,
  FRAME_HEADER_SIZE,
  PREAMBLE_SIZE,
} from "../lib/protocol/frame.ts";
import {
  clientHandshake,
  concat,
  connectTo,
  json,
  Kind,
  listTree,
  startServer,
  tempDir,
} from "./_helpers.ts";

const INPUTS = 3000;
const TIME_LIMIT_MS = 40_000;

function frame(kind: number, id: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  encodeHeader(bytes, 0, kind as Kind, id, payload.length);
  bytes.set(payload, FRAME_HEADER_SIZE);
  return bytes;
}

/** Valid request sequences that the mutations start from. */
async function seeds(): Promise<Uint8Array[][]> {
  const body = new TextEncoder().encode("hello fuzz");
  const digest = await FileDigest.start();
  digest.update(body);
  const end = digest.finish();
  const put = (id: number, path: string, extra = {}) =>
    frame(Kind.Put, id, json({ path, size: body.length, mode: 0o644, mtime: 0, ...extra }));
  return [
    [put(1, "f.txt"), frame(Kind.Data, 1, body), frame(Kind.End, 1, end)],
    [
      put(1, "big", { resume: true }),
      frame(Kind.Resume, 1, json({ offset: 0 })),
      frame(Kind.Data, 1, body),
    ],
    [put(2, "s", { stream: true }), frame(Kind.Data, 2, body), frame(Kind.End, 2, end)],
    [frame(Kind.Get, 3, json({ path: "f.txt", recursive: false }))],
    [frame(Kind.Get, 3, json({ path: "f.txt", offset: 4, digest: "00".repeat(16) }))],
    [frame(Kind.List, 4, json({ path: "", recursive: true, digests: true }))],
    [frame(Kind.Mkdir, 5, json({ path: "d/e", parents: true }))],
    [frame(Kind.Remove, 6, json({ path: "d", recursive: true }))],
    [frame(Kind.Rename, 7, json({ from: "f.txt", to: "g.txt" }))],
    [frame(Kind.Stat, 8, json({ path: "../outside" }))],
    [put(9, "../outside/planted"), frame(Kind.Data, 9, body), frame(Kind.End, 9, end)],
    [frame(Kind.Cancel, 1), frame(Kind.End, 1, end)],
  ];
}

/** A deterministic generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

function mutate(frames: Uint8Array[], next: () => number): Uint8Array {
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)]!;
  let parts = frames.map((f) => f.slice());
  switch (Math.floor(next() * 6)) {
    case 0: // flip bits anywhere
      for (const part of parts) {
        for (let i = 0; i < 1 + next() * 4; i++) {
          part[Math.floor(next() * part.length)]! ^= 1 << (next() * 8);
        }
      }
      break;
    case 1: { // a huge or wrong length
      const part = pick(parts);
      if (part.length >= FRAME_HEADER_SIZE) {
        new DataView(part.buffer).setUint32(6, pick([0xffff_ffff, 1 << 24, 65_537, 0, 3]));
      }
      break;
    }
    case 2: // valid frames in the wrong order, or repeated
      parts = [...parts, ...parts].sort(() => next() - 0.5);
      break;
    case 3: // an unknown or out-of-place kind
      pick(parts)[0] = pick([0, 1, 2, 3, 4, 5, 6, 0x14, 0x22, 0x33, 0x7f, 0xff]);
      break;
    case 4: { // truncated
      const all = concat(parts);
      return all.subarray(0, Math.floor(next() * all.length));
    }
    default: // random bytes after valid ones
      parts.push(crypto.getRandomValues(new Uint8Array(1 + Math.floor(next() * 200))));
  }
  return concat(parts);
}

/** One authenticated connection that sends `bytes`, reads whatever comes back briefly, and hangs up. */
async function deliver(port: number, bytes: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    // The input reaches the server's frame parser: it is sealed like any client's bytes.
    const secure = await clientHandshake(conn);
    await secure.write(bytes).catch(() => 0);
    // EOF after the input: the server answers what it can, then closes.
    await secure.closeWrite().catch(() => {});
    const sink = new Uint8Array(64 * 1024);
    const deadline = setTimeout(() => conn.close(), 200);
    try {
      while ((await secure.read(sink)) !== null) { /* drain */ }
    } catch { /* closed by the deadline or the server */ }
    clearTimeout(deadline);
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

Deno.test({
  name:
    "thousands of mutated inputs: the server survives, stays inside its root, keeps memory bounded",
  // deliver() closes on a timer that can outlive a read; the server's own resources are checked below.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using parent = await tempDir();
    const root = `${parent.path}/root`;
    await Deno.mkdir(root);
    await Deno.mkdir(`${parent.path}/outside`);
    await Deno.writeTextFile(`${parent.path}/outside/secret`, "untouched");
    await using server = await startServer(root, { maxConnections: 64 });
    const base = await seeds();
    const next = random(20261121);
    const rssBefore = Deno.memoryUsage().rss;
    const started = Date.now();
    let sent = 0;
    // A bare preamble with another version, and garbage before any handshake, too.
    const preamble = new Uint8Array(PREAMBLE_SIZE);
    encodePreamble(preamble);
    for (; sent < INPUTS && Date.now() - started < TIME_LIMIT_MS; sent++) {
      await deliver(
        server.port,
        mutate(next() < 0.1 ? [preamble] : base[sent % base.length]!, next),
      );
    }
    assert(sent >= 1000, `only ${sent} inputs in the time limit`);
    const grown = (Deno.memoryUsage().rss - rssBefore) / (1024 * 1024);
    assert(grown < 200, `memory grew by ${grown.toFixed(0)} MiB`);

    // A normal client is still served correctly.
    await using local = await tempDir();
    await Deno.writeTextFile(`${local.path}/after.txt`, "still fine");
    await using client = await connectTo(server);
    assertEquals((await client.send([`${local.path}/after.txt`], "/")).files, 1);
    assertEquals((await client.get(["after.txt"], `${local.path}/back.txt`)).files, 1);
    assertEquals(await Deno.readTextFile(`${local.path}/back.txt`), "still fine");
    // Nothing outside the root, and nothing there changed.
    assertEquals((await listTree(parent.path)).filter((p) => !p.startsWith("root")), [
      "outside",
      "outside/secret",
    ]);
    assertEquals(await Deno.readTextFile(`${parent.path}/outside/secret`), "untouched");
  },
});
