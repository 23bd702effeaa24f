// The typed codec: every request and reply decodes to exactly what was
// encoded, optional fields included, and an encoder refuses what no frame
// may carry.

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { ErrorCode, FerryError, isRetriableError } from "../lib/errors.ts";
import { connectFailure } from "../lib/wire/transport.ts";
import * as requests from "../lib/protocol/requests.ts";
import * as replies from "../lib/protocol/replies.ts";

Deno.test("every request kind round-trips through its encoder and decoder", () => {
  const puts: requests.PutRequest[] = [
    { path: "a/b", size: 10, mode: 0o644, mtime: -5 },
    { path: "big", size: 2 ** 40, mode: 0o600, mtime: 1, resume: true },
    { path: "pipe", size: 0, mode: 0o644, mtime: 2, stream: true },
    { path: "kept", size: 1, mode: 0o644, mtime: 3, backup: "" },
    { path: "kept2", size: 1, mode: 0o644, mtime: 3, backup: "old/tree", fsync: "none" },
  ];
  for (const put of puts) assertEquals(requests.decodePut(requests.encodePut(put)), put);
  const gets: requests.GetRequest[] = [
    { path: "x", recursive: true },
    { path: "y", recursive: false, resumeFrom: { offset: 4096, digest: "ab".repeat(16) } },
  ];
  for (const get of gets) assertEquals(requests.decodeGet(requests.encodeGet(get)), get);
  for (const resume of [{ offset: 0 }, { offset: 7, digest: "cd".repeat(16) }]) {
    assertEquals(requests.decodeResume(requests.encodeResume(resume)), resume);
  }
  assertEquals(requests.decodeStat(requests.encodeStat({ path: "s" })), { path: "s" });
  for (const mkdir of [{ path: "m", parents: true }, { path: "n", parents: false, mode: 0o700 }]) {
    assertEquals(requests.decodeMkdir(requests.encodeMkdir(mkdir)), mkdir);
  }
  for (
    const list of [{ path: "", recursive: true, digests: false }, {
      path: "l",
      recursive: false,
      digests: true,
    }]
  ) {
    assertEquals(requests.decodeList(requests.encodeList(list)), list);
  }
  for (
    const remove of [
      { path: "r", recursive: true, force: false },
      { path: "r", recursive: false, force: true, backup: "" },
    ]
  ) {
    assertEquals(requests.decodeRemove(requests.encodeRemove(remove)), remove);
  }
  assertEquals(requests.decodeRename(requests.encodeRename({ from: "a", to: "b" })), {
    from: "a",
    to: "b",
  });
});

Deno.test("every reply kind round-trips, and RM's reply defaults to removed", () => {
  const file = { path: "f", size: 9, mode: 0o640, mtime: 3, offset: 4 };
  assertEquals(replies.decodeFile(replies.encodeFile(file)), file);
  assertEquals(replies.decodeDir(replies.encodeDir({ path: "d", mode: 0o755 })), {
    path: "d",
    mode: 0o755,
  });
  const stat: replies.StatReply = { type: "symlink", size: 1, mode: 0o777, mtime: 0 };
  assertEquals(replies.decodeStatReply(replies.encodeStatReply(stat)), stat);
  const entries: replies.RemoteEntry[] = [
    {
      name: "a",
      path: "x/a",
      type: "file",
      size: 1,
      mode: 0o644,
      mtime: 5,
      digest: "ef".repeat(16),
    },
    { name: "b", path: "x/b", type: "dir", size: 0, mode: 0o755, mtime: 6 },
  ];
  assertEquals(
    replies.decodeEntries(replies.encodeEntries(entries.map(replies.entryJson))),
    entries,
  );
  for (const removed of [true, false]) {
    assertEquals(replies.decodeRemoveDone(replies.encodeRemoveDone({ removed })), { removed });
  }
  assertEquals(replies.decodeRemoveDone(replies.EMPTY_OK), { removed: true });
  const error = { code: ErrorCode.NotFound, message: "gone", path: "p" };
  assertEquals(replies.decodeError(replies.encodeError(error)), error);
  const long = replies.decodeError(
    replies.encodeError({
      code: ErrorCode.Io,
      message: "m".repeat(10_000),
      path: "p".repeat(10_000),
    }),
  );
  assertEquals([long.message.length, long.path?.length], [2000, 4096]);
});

Deno.test("an encoder refuses a payload over the control-frame cap", () => {
  const error = assertThrows(
    () => requests.encodeStat({ path: "x".repeat(70_000) }),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.BadPath);
});

Deno.test("a host name that does not exist fails at once, without retries; a refused connection is retried", () => {
  const unknown = connectFailure(
    "nosuchhost.invalid:7717",
    new Error("failed to lookup address information: Name or service not known"),
  );
  assertEquals(unknown.code, ErrorCode.Connection);
  assert(unknown.message.includes("no host has that name"), unknown.message);
  assertEquals(isRetriableError(unknown), false);
  // A name server that is down for now may come back: that one is retried.
  const later = connectFailure(
    "pi:7717",
    new Error("failed to lookup address information: Temporary failure in name resolution"),
  );
  assertEquals(isRetriableError(later), true);
  const refused = connectFailure("pi:7717", new Deno.errors.ConnectionRefused("refused"));
  assertEquals(isRetriableError(refused), true);
  assert(refused.message.includes('is "ferry serve" running there?'), refused.message);
});
