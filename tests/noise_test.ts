// The Noise handshake and cipher states against the published cacophony
// vector for exactly ferry's protocol name, byte for byte (the fixed
// ephemeral keys are injected here only), and the failures a wrong PSK or
// an altered message must cause.

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { SecureTransport } from "../lib/wire/secure_transport.ts";
import { FerryError } from "../lib/errors.ts";
import { Handshake, keyPairFromPrivate, PROTOCOL_NAME, type Session } from "../lib/wire/noise.ts";

const VECTOR_FILE = new URL(
  "./vectors/noise_nnpsk0_25519_chachapoly_sha256.json",
  import.meta.url,
);

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_psks: string[];
  init_ephemeral: string;
  resp_prologue: string;
  resp_psks: string[];
  resp_ephemeral: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const fromHex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (p) => parseInt(p, 16));
const toHex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

async function vector(): Promise<Vector> {
  return JSON.parse(await Deno.readTextFile(VECTOR_FILE)).vector;
}

function sides(v: Vector) {
  const initiator = new Handshake({
    initiator: true,
    psk: fromHex(v.init_psks[0]!),
    prologue: fromHex(v.init_prologue),
    ephemeral: keyPairFromPrivate(fromHex(v.init_ephemeral)),
  });
  const responder = new Handshake({
    initiator: false,
    psk: fromHex(v.resp_psks[0]!),
    prologue: fromHex(v.resp_prologue),
    ephemeral: keyPairFromPrivate(fromHex(v.resp_ephemeral)),
  });
  return { initiator, responder };
}

Deno.test("the NNpsk0 handshake and transport reproduce the cacophony vector byte for byte", async () => {
  const v = await vector();
  assertEquals(v.protocol_name, PROTOCOL_NAME);
  const { initiator, responder } = sides(v);
  const [m1, m2, ...transport] = v.messages;
  const message1 = initiator.writeMessage1(fromHex(m1!.payload));
  assertEquals(toHex(message1), m1!.ciphertext);
  assertEquals(toHex(responder.readMessage1(message1)), m1!.payload);
  const message2 = responder.writeMessage2(fromHex(m2!.payload));
  assertEquals(toHex(message2), m2!.ciphertext);
  assertEquals(toHex(initiator.readMessage2(message2)), m2!.payload);
  const client = initiator.split();
  const server = responder.split();
  assertEquals(toHex(client.handshakeHash), v.handshake_hash);
  assertEquals(toHex(server.handshakeHash), v.handshake_hash);
  // Transport messages alternate, starting with the initiator.
  for (const [i, m] of transport.entries()) {
    const [from, to] = i % 2 === 0 ? [client, server] : [server, client];
    const sealed = from.send.seal(fromHex(m.payload));
    assertEquals(toHex(sealed), m.ciphertext, `transport message ${i}`);
    assertEquals(toHex(to.receive.open(sealed)), m.payload);
  }
});

Deno.test("a responder with another PSK cannot read message 1; an altered message 2 fails", async () => {
  const v = await vector();
  const initiator = new Handshake({
    initiator: true,
    psk: new Uint8Array(32).fill(1),
    prologue: new Uint8Array(0),
  });
  const stranger = new Handshake({
    initiator: false,
    psk: new Uint8Array(32).fill(2),
    prologue: new Uint8Array(0),
  });
  assertThrows(() => stranger.readMessage1(initiator.writeMessage1(new Uint8Array(0))), FerryError);

  const { initiator: client, responder: server } = sides(v);
  server.readMessage1(client.writeMessage1(new Uint8Array(0)));
  const message2 = server.writeMessage2(new Uint8Array(0));
  message2[40]! ^= 1;
  assertThrows(() => client.readMessage2(message2), FerryError);
});

Deno.test("a different prologue gives a handshake that fails", () => {
  const psk = new Uint8Array(32).fill(7);
  const a = new Handshake({ initiator: true, psk, prologue: Uint8Array.of(1) });
  const b = new Handshake({ initiator: false, psk, prologue: Uint8Array.of(2) });
  assertThrows(() => b.readMessage1(a.writeMessage1(new Uint8Array(0))), FerryError);
});

function session(): { client: Session; server: Session } {
  const psk = new Uint8Array(32).fill(9);
  const prologue = new Uint8Array(0);
  const a = new Handshake({ initiator: true, psk, prologue });
  const b = new Handshake({ initiator: false, psk, prologue });
  b.readMessage1(a.writeMessage1(new Uint8Array(0)));
  a.readMessage2(b.writeMessage2(new Uint8Array(0)));
  return { client: a.split(), server: b.split() };
}

Deno.test("a transport message opens once and in order: reordered, replayed or altered ones fail", () => {
  const text = new TextEncoder();
  const reordered = session();
  reordered.client.send.seal(text.encode("one"));
  const second = reordered.client.send.seal(text.encode("two"));
  assertThrows(() => reordered.server.receive.open(second), FerryError);

  const replayed = session();
  const first = replayed.client.send.seal(text.encode("one"));
  assertEquals(new TextDecoder().decode(replayed.server.receive.open(first)), "one");
  assertThrows(() => replayed.server.receive.open(first), FerryError);

  const altered = session();
  const message = altered.client.send.seal(text.encode("x"));
  message[0]! ^= 1;
  assertThrows(() => altered.server.receive.open(message), FerryError);
});

Deno.test("after a rekey on both sides messages still open; a side that did not rekey cannot read", () => {
  const text = new TextEncoder();
  const { client, server } = session();
  client.send.rekey();
  server.receive.rekey();
  const sealed = client.send.seal(text.encode("after"));
  assertEquals(new TextDecoder().decode(server.receive.open(sealed)), "after");
  const other = session();
  other.client.send.rekey();
  assertThrows(
    () => other.server.receive.open(other.client.send.seal(text.encode("x"))),
    FerryError,
  );
});

/** One direction of an in-memory byte stream: what is written is read back, in order. */
class MemoryPipe {
  #chunks: Uint8Array[] = [];
  write(bytes: Uint8Array): Promise<number> {
    this.#chunks.push(bytes.slice());
    return Promise.resolve(bytes.length);
  }
  read(target: Uint8Array): Promise<number | null> {
    const chunk = this.#chunks.shift();
    if (chunk === undefined) return Promise.resolve(null);
    const n = Math.min(target.length, chunk.length);
    target.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#chunks.unshift(chunk.subarray(n));
    return Promise.resolve(n);
  }
  close(): void {}
}

Deno.test("the record layer rekeys both ends in step: 70,000 records cross the 2^16 boundary intact", async () => {
  const { client, server } = session();
  const pipe = new MemoryPipe();
  const sender = new SecureTransport(pipe, client);
  const receiver = new SecureTransport(pipe, server);
  const records = 70_000;
  for (let i = 0; i < records; i++) await sender.write(Uint8Array.of(i & 0xff));
  const received = new Uint8Array(records);
  let got = 0;
  while (got < records) {
    const n = await receiver.read(received.subarray(got));
    if (n === null) break;
    got += n;
  }
  assertEquals(got, records);
  assert(received.every((byte, i) => byte === (i & 0xff)), "every byte in order");
  assertEquals(client.send.counter, BigInt(records));
});
