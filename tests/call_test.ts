// Connection.call, the one request lifecycle of the client, against a
// scripted server on loopback: OK ends the replies, ERROR throws, NOTICE is
// reported, an early stop or an abort sends CANCEL and keeps the connection,
// and a frame out of place fails the connection for every request on it.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { Connection } from "../lib/client/connection.ts";
import { FerryError } from "../lib/errors.ts";
import { FrameReader } from "../lib/wire/frame_reader.ts";
import { FrameWriter } from "../lib/wire/frame_writer.ts";
import { json, Kind, serverHandshake, TOKEN, waitFor } from "./_helpers.ts";

/** How the server answers request `id`; `cancels` holds the ids the client cancelled so far. */
type Reply = (writer: FrameWriter, id: number, cancels: number[]) => Promise<void>;

/**
 * A server that answers each request kind as `script` says, each request
 * while it goes on reading, and records the CANCELs it gets.
 */
function scriptedServer(script: Partial<Record<Kind, Reply>>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const cancels: number[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const secure = await serverHandshake(conn);
      if (secure === null) continue;
      const reader = new FrameReader(secure);
      const writer = new FrameWriter(secure);
      void (async () => {
        for (let frame = await reader.read(); frame !== null; frame = await reader.read()) {
          if (frame.kind === Kind.Cancel) cancels.push(frame.id);
          else void script[frame.kind]?.(writer, frame.id, cancels).catch(() => {});
        }
      })().catch(() => {});
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    cancels,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

const stat = json({ type: "file", size: 1, mode: 0o644, mtime: 0 });
const entries = json({
  entries: [{ name: "a", path: "a", type: "file", size: 0, mode: 0, mtime: 0 }],
});

Deno.test("call: OK is the last reply, NOTICE goes to onNotice, ERROR throws and marks the call refused", async () => {
  await using server = scriptedServer({
    [Kind.Stat]: async (writer, id) => {
      await writer.frame(Kind.Notice, id, json({ code: "io", message: "a part failed" }));
      await writer.frame(Kind.Ok, id, stat, { flush: true });
    },
    [Kind.Mkdir]: (writer, id) =>
      writer.frame(Kind.Error, id, json({ code: "permission_denied", message: "no" }), {
        flush: true,
      }),
  });
  const connection = await Connection.open({ host: "127.0.0.1", port: server.port, token: TOKEN });
  try {
    const notices: FerryError[] = [];
    const call = connection.call(Kind.Stat, json({ path: "a" }), {
      onNotice: (notice) => notices.push(notice),
    });
    const kinds: Kind[] = [];
    for await (const frame of call) kinds.push(frame.kind);
    assertEquals(kinds, [Kind.Ok]);
    assertEquals(notices.map((n) => [n.code, n.message]), [["io", "a part failed"]]);
    assert(call.over && !call.refused);

    const refused = connection.call(Kind.Mkdir, json({ path: "d", parents: false }));
    const error = await assertRejects(() => refused.ok(), FerryError);
    assertEquals(error.code, "permission_denied");
    assert(refused.refused);
    assertEquals(server.cancels, []);
  } finally {
    await connection.close();
  }
});

Deno.test("call: a consumer that stops early, or whose signal aborts, sends CANCEL and the connection goes on", async () => {
  // LIST streams batches until it hears CANCEL (at most 10 s); STAT answers at once.
  await using server = scriptedServer({
    [Kind.List]: async (writer, id, cancels) => {
      for (let i = 0; i < 1000 && !cancels.includes(id); i++) {
        await writer.frame(Kind.Entries, id, entries, { flush: true });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    [Kind.Stat]: (writer, id) => writer.frame(Kind.Ok, id, stat, { flush: true }),
  });
  const connection = await Connection.open({ host: "127.0.0.1", port: server.port, token: TOKEN });
  try {
    const early = connection.call(Kind.List, json({ path: "", recursive: false, digests: false }));
    for await (const frame of early) {
      assertEquals(frame.kind, Kind.Entries);
      break;
    }
    assert(await waitFor(() => Promise.resolve(server.cancels.length === 1)));
    assertEquals(server.cancels, [early.id]);
    assertEquals((await connection.call(Kind.Stat, json({ path: "a" })).ok()).length, stat.length);

    const controller = new AbortController();
    const aborted = connection.call(
      Kind.List,
      json({ path: "", recursive: false, digests: false }),
      { signal: controller.signal },
    );
    const error = await assertRejects(async () => {
      for await (const _ of aborted) controller.abort();
    }, FerryError);
    assertEquals(error.code, "aborted");
    assert(await waitFor(() => Promise.resolve(server.cancels.length === 2)));
    assertEquals(server.cancels, [early.id, aborted.id]);
    assert(connection.usable);
    assertEquals((await connection.call(Kind.Stat, json({ path: "a" })).ok()).length, stat.length);
  } finally {
    await connection.close();
  }
});

Deno.test("call: a reply out of place fails the connection and every request waiting on it", async () => {
  await using server = scriptedServer({
    // The reply to STAT is a file body's FILE frame: no STAT is answered so.
    [Kind.Stat]: (writer, id) =>
      writer.frame(Kind.File, id, json({ path: "", size: 1, mode: 0, mtime: 0 }), {
        flush: true,
      }),
    [Kind.List]: () => Promise.resolve(),
  });
  const connection = await Connection.open({ host: "127.0.0.1", port: server.port, token: TOKEN });
  try {
    const waiting = connection.call(
      Kind.List,
      json({ path: "", recursive: false, digests: false }),
    );
    const listed = waiting.next();
    const error = await assertRejects(
      () => connection.call(Kind.Stat, json({ path: "a" })).ok(),
      FerryError,
    );
    assertEquals(error.code, "protocol");
    const other = await assertRejects(() => listed, FerryError);
    assertEquals(other.code, "protocol");
    assert(!connection.usable);
  } finally {
    await connection.close();
  }
});
