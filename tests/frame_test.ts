import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import {
  decodeHeader,
  decodePreamble,
  encodeHeader,
  encodePreamble,
  FRAME_HEADER_SIZE,
  Kind,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  PREAMBLE_SIZE,
  PROTOCOL_VERSION,
} from "../lib/protocol/frame.ts";
import { FrameReader } from "../lib/wire/frame_reader.ts";
import { FrameWriter } from "../lib/wire/frame_writer.ts";
import { decodePut, encodePut } from "../lib/protocol/requests.ts";
import { decodeError, decodeFile, encodeListDone } from "../lib/protocol/replies.ts";
import type { Transport } from "../lib/wire/transport.ts";
import { ChunkedTransport, concat, patternBytes } from "./_helpers.ts";

/** Raw JSON, for payloads no typed encoder would produce. */
function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function frameBytes(kind: number, id: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  encodeHeader(out, 0, kind as Kind, id, payload.length);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

function preamble(version = PROTOCOL_VERSION): Uint8Array {
  const out = new Uint8Array(PREAMBLE_SIZE);
  encodePreamble(out);
  new DataView(out.buffer).setUint16(6, version);
  return out;
}

function expectProtocolError(fn: () => unknown, fragment: string): void {
  const error = assertThrows(fn, FerryError);
  assertEquals(error.code, ErrorCode.Protocol);
  assert(error.message.includes(fragment), error.message);
}

Deno.test("encodeHeader() writes kind, flags, id and length big-endian, byte by byte", () => {
  const out = new Uint8Array(FRAME_HEADER_SIZE);
  encodeHeader(out, 0, Kind.Put, 0x01020304, 0x0000a0b0);
  assertEquals([...out], [0x10, 0x00, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0xa0, 0xb0]);
  assertEquals(decodeHeader(out), { kind: Kind.Put, flags: 0, id: 0x01020304, length: 0xa0b0 });
});

Deno.test("the preamble is FERRY, NUL and the version", () => {
  assertEquals([...preamble()], [0x46, 0x45, 0x52, 0x52, 0x59, 0x00, 0x00, PROTOCOL_VERSION]);
  assertEquals(decodePreamble(preamble()), PROTOCOL_VERSION);
});

Deno.test("decodePreamble() names a wrong magic and a different version clearly", () => {
  expectProtocolError(
    () => decodePreamble(new TextEncoder().encode("GET / HT")),
    'is not ferry: it began with "GET / HT"',
  );
  expectProtocolError(
    () => decodePreamble(new Uint8Array([0x16, 3, 1, 0, 0x22, 0x5c, 0x41, 0])),
    'it began with "\\x16\\x03\\x01\\x00\\x22\\x5cA\\x00"',
  );
  const error = assertThrows(() => decodePreamble(preamble(1)), FerryError);
  assertEquals(error.code, ErrorCode.Version);
  assert(error.message.includes("protocol 1"), error.message);
});

Deno.test("decodeHeader() refuses lengths over the cap of each kind before allocating", () => {
  const header = new Uint8Array(FRAME_HEADER_SIZE);
  encodeHeader(header, 0, Kind.Data, 1, MAX_DATA_PAYLOAD);
  assertEquals(decodeHeader(header).length, MAX_DATA_PAYLOAD);
  encodeHeader(header, 0, Kind.Data, 1, MAX_DATA_PAYLOAD + 1);
  expectProtocolError(() => decodeHeader(header), "more than the limit");
  encodeHeader(header, 0, Kind.Put, 1, MAX_CONTROL_PAYLOAD + 1);
  expectProtocolError(() => decodeHeader(header), "more than the limit");
  encodeHeader(header, 0, Kind.Put, 1, 0xffff_ffff);
  expectProtocolError(() => decodeHeader(header), "4294967295");
});

Deno.test("decodeHeader() refuses unknown kinds and flags; the compressed flag only on DATA", () => {
  const header = new Uint8Array(FRAME_HEADER_SIZE);
  header[0] = 0x7f;
  expectProtocolError(() => decodeHeader(header), "Unknown frame kind 0x7f");
  encodeHeader(header, 0, Kind.Data, 1, 0, 0x02);
  expectProtocolError(() => decodeHeader(header), "Unsupported flags");
  encodeHeader(header, 0, Kind.End, 1, 0, 0x01);
  expectProtocolError(() => decodeHeader(header), "Unsupported flags");
  encodeHeader(header, 0, Kind.Data, 1, 0, 0x01);
  assertEquals(decodeHeader(header).flags, 0x01);
});

Deno.test("FrameReader decodes frames delivered one byte at a time", async () => {
  const body = patternBytes(3000);
  const input = concat([
    preamble(),
    frameBytes(Kind.Put, 7, encodePut({ path: "a", size: 3000, mode: 0o644, mtime: 0 })),
    frameBytes(Kind.Data, 7, body),
    frameBytes(Kind.End, 7, new Uint8Array(16).fill(9)),
  ]);
  for (const chunk of [1, 2, 3, 11, 4096]) {
    const reader = new FrameReader(new ChunkedTransport(input, chunk));
    assertEquals(await reader.readPreamble(), PROTOCOL_VERSION);
    const put = await reader.read();
    assertEquals([put?.kind, put?.id], [Kind.Put, 7]);
    assertEquals(decodePut(put!.payload).path, "a");
    const data = await reader.read();
    assertEquals(data?.kind, Kind.Data);
    assertEquals(data?.payload, body);
    const end = await reader.read();
    assertEquals([end?.kind, end?.payload.length], [Kind.End, 16]);
    assertEquals(await reader.read(), null, `clean EOF after the last frame (chunk ${chunk})`);
  }
});

Deno.test("FrameReader reads full-size DATA frames back to back", async () => {
  const a = patternBytes(MAX_DATA_PAYLOAD, 3);
  const b = patternBytes(MAX_DATA_PAYLOAD, 4);
  const reader = new FrameReader(
    new ChunkedTransport(
      concat([frameBytes(Kind.Data, 1, a), frameBytes(Kind.Data, 1, b)]),
      65536 + 5,
    ),
  );
  assertEquals((await reader.read())?.payload, a);
  assertEquals((await reader.read())?.payload, b);
  assertEquals(await reader.read(), null);
});

Deno.test("FrameReader keeps a stream of small frames at the front of its buffer", async () => {
  // Each read brings one whole frame; once it is consumed, the next lands at the front
  // again, so the 2 MiB buffer's later pages are never touched (never made resident).
  const payload = (i: number) => new Uint8Array([i >> 8, i & 0xff]);
  const frames = Array.from({ length: 500 }, (_, i) => frameBytes(Kind.Get, i + 1, payload(i)));
  const reader = new FrameReader(new ChunkedTransport(concat(frames), frames[0]!.length));
  for (let i = 0; i < frames.length; i++) {
    const frame = await reader.read();
    assertEquals([frame?.id, frame?.payload], [i + 1, payload(i)]);
    assertEquals(frame!.payload.byteOffset, FRAME_HEADER_SIZE, `frame ${i + 1}`);
  }
  assertEquals(await reader.read(), null);
});

Deno.test("FrameReader treats EOF inside a header or a payload as a protocol error, not an end", async () => {
  const whole = frameBytes(Kind.Data, 1, patternBytes(100));
  for (
    const cut of [
      1,
      FRAME_HEADER_SIZE - 1,
      FRAME_HEADER_SIZE,
      FRAME_HEADER_SIZE + 50,
      whole.length - 1,
    ]
  ) {
    const reader = new FrameReader(new ChunkedTransport(whole.subarray(0, cut), 3));
    const error = await assertRejects(() => reader.read(), FerryError);
    assertEquals(error.code, ErrorCode.Protocol, `cut at ${cut}`);
    assert(error.message.includes("middle of a frame"));
  }
});

Deno.test("FrameReader refuses a huge announced length without waiting for the bytes", async () => {
  const header = new Uint8Array(FRAME_HEADER_SIZE);
  encodeHeader(header, 0, Kind.Data, 1, 0x7fff_ffff);
  const reader = new FrameReader(new ChunkedTransport(header, 1));
  const error = await assertRejects(() => reader.read(), FerryError);
  assertEquals(error.code, ErrorCode.Protocol);
});

Deno.test("FrameWriter output decodes to the same frames, even with partial writes", async () => {
  const transport = new ChunkedTransport(new Uint8Array(0), 1);
  const writer = new FrameWriter(transport);
  const body = patternBytes(5000, 9);
  await writer.preamble();
  await writer.frame(Kind.Put, 3, encodePut({ path: "x", size: 5000, mode: 0o600, mtime: 1 }));
  let offset = 0;
  const seen: Uint8Array[] = [];
  const fill = (target: Uint8Array) => {
    const n = Math.min(target.length, body.length - offset);
    target.set(body.subarray(offset, offset + n));
    offset += n;
    return Promise.resolve(n);
  };
  assertEquals(await writer.data(3, 5000, fill, (p) => seen.push(p.slice())), 5000);
  await writer.frame(Kind.End, 3, new Uint8Array(16));
  await writer.flush();
  assertEquals(concat(seen), body);

  const reader = new FrameReader(new ChunkedTransport(transport.output, 13));
  await reader.readPreamble();
  assertEquals((await reader.read())?.kind, Kind.Put);
  assertEquals((await reader.read())?.payload, body);
  assertEquals((await reader.read())?.kind, Kind.End);
  assertEquals(await reader.read(), null);
});

Deno.test("message decoders reject wrong types, out-of-range numbers and bad UTF-8", () => {
  const bad = [
    new Uint8Array([0xff, 0xfe]),
    json([1, 2]),
    json({ path: 1, size: 1, mode: 0, mtime: 0 }),
    json({ path: "a", size: -1, mode: 0, mtime: 0 }),
    json({ path: "a", size: 1.5, mode: 0, mtime: 0 }),
    json({ path: "a", size: 1, mode: 0o10000, mtime: 0 }),
    json({ path: "a", size: 2 ** 60, mode: 0, mtime: 0 }),
  ];
  for (const payload of bad) expectProtocolError(() => decodePut(payload), "PUT");
  expectProtocolError(() => decodeFile(json({ path: "a" })), "FILE");
  // Unknown fields are ignored (room for later versions); unknown error codes degrade.
  assertEquals(
    decodePut(json({ path: "a", size: 1, mode: 0, mtime: 0, resume: true })).size,
    1,
  );
  assertEquals(
    decodeError(json({ code: "from_the_future", message: "m" })).code,
    ErrorCode.Internal,
  );
});

Deno.test("flushSoon() sends frames queued behind a write in progress, together in one write", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using sending = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using receiving = await accepted;
  let writes = 0;
  const counted: Transport = {
    read: (buffer) => sending.read(buffer),
    write: (bytes) => (writes++, sending.write(bytes)),
    close: () => sending.close(),
  };
  const writer = new FrameWriter(counted);
  const frames = 200;
  // As a GET loop does: one frame and one flushSoon() per turn, yielding between them.
  for (let id = 1; id <= frames; id++) {
    void writer.frame(Kind.Ok, id, encodeListDone({ entries: id }));
    writer.flushSoon();
    await Promise.resolve();
  }
  const reader = new FrameReader(receiving);
  const ids: number[] = [];
  // Bounded: a frame left unflushed would otherwise hang the test.
  const timeout = Promise.withResolvers<never>();
  const timer = setTimeout(() => timeout.reject(new Error("frames were left unsent")), 10_000);
  try {
    while (ids.length < frames) {
      const frame = await Promise.race([reader.read(), timeout.promise]);
      ids.push(frame!.id);
    }
  } finally {
    clearTimeout(timer);
  }
  assertEquals(ids, Array.from({ length: frames }, (_, i) => i + 1));
  // The first write, then everything queued while it was in progress.
  assert(writes <= 3, `${writes} writes for ${frames} frames`);
});
