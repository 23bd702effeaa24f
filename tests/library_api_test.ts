// The library as a script author uses it: put and open, named hosts,
// cancelling one call without losing the client, retries, progress
// snapshots and per-file reports, and parallel lanes that stop together.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import {
  connect,
  ErrorCode,
  FerryError,
  type Progress,
  TransferError,
  type TransferOptions,
} from "../mod.ts";
import { digestFileHex } from "../lib/fs/digest.ts";
import { parseRemote } from "../lib/config/address.ts";
import { loadConfig, resolveTarget } from "../lib/config/config.ts";
import {
  concat,
  connectTo,
  corruptingProxy,
  exists,
  listTree,
  patternBytes,
  startServer,
  tempDir,
  TOKEN,
  waitFor,
} from "./_helpers.ts";

const MiB = 1024 * 1024;

/** Whether any of ferry's temporaries is left anywhere under `root`. */
async function hasTemporaries(root: string): Promise<boolean> {
  return (await listTree(root)).some((path) => /(^|\/)\.ferry-[0-9a-f]+\.part$/.test(path));
}

/** A stream of `chunks` chunks of `size` bytes, made as they are read. */
function generated(chunks: number, size: number): ReadableStream<Uint8Array> {
  let made = 0;
  return new ReadableStream({
    pull(controller) {
      if (made === chunks) return controller.close();
      controller.enqueue(patternBytes(size, ++made));
    },
  });
}

/** Runs a slowed transfer, cancels it once 1 MiB moved, and checks it rejected with aborted. */
async function cancelledAfterOneMiB(
  transfer: (options: TransferOptions) => Promise<unknown>,
): Promise<void> {
  const controller = new AbortController();
  const error = await assertRejects(
    () =>
      transfer({
        signal: controller.signal,
        limitRate: 8 * MiB,
        onProgress: (p) => p.bytesDone > MiB && controller.abort(),
      }),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.Aborted);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("put() stores bytes and streams; open() reads them back with size, mode and mtime", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const bytes = patternBytes(300_000);
  const mtime = new Date("2021-03-04T05:06:07.000Z");
  const stored = await client.put("notes/a.bin", bytes, { mode: 0o600, mtime });
  assertEquals(stored.size, bytes.length);
  assertEquals(stored.digest, await digestFileHex(`${root.path}/notes/a.bin`));
  assertEquals(await Deno.readFile(`${root.path}/notes/a.bin`), bytes);

  const streamed = await client.put("notes/b.bin", generated(5, 100_000));
  assertEquals(streamed.size, 500_000);

  const file = await client.open("notes/a.bin");
  assertEquals([file.size, file.mode & 0o777, file.mtime.getTime()], [
    bytes.length,
    0o600,
    mtime.getTime(),
  ]);
  assertEquals(await readAll(file.readable), bytes);
  const second = await client.open("notes/b.bin");
  assertEquals((await readAll(second.readable)).length, 500_000);
  const error = await assertRejects(() => client.put("notes/", bytes), FerryError);
  assertEquals(error.code, ErrorCode.IsDirectory);
});

Deno.test("open() errors its stream when the bytes are altered on the way", async () => {
  await using root = await tempDir();
  await Deno.writeFile(`${root.path}/big.bin`, patternBytes(MiB));
  await using server = await startServer(root.path);
  await using proxy = corruptingProxy(server.port, "to-client", 400_000);
  await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
  const file = await client.open("big.bin");
  const error = await assertRejects(() => readAll(file.readable), FerryError);
  assertEquals(error.code, ErrorCode.Protocol);
});

Deno.test("a put cancelled through its signal stores nothing, and the client stays usable", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const controller = new AbortController();
  const endless = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(patternBytes(64 * 1024)),
  });
  const error = await assertRejects(
    () =>
      client.put("never.bin", endless, {
        signal: controller.signal,
        onProgress: (p) => p.bytesDone > 2 * MiB && controller.abort(),
      }),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.Aborted);
  await client.put("after.txt", new TextEncoder().encode("still here"));
  assertEquals(await Deno.readTextFile(`${root.path}/after.txt`), "still here");
  assert(await waitFor(async () => !await hasTemporaries(root.path)), "temporary removed");
  assertEquals(await listTree(root.path), ["after.txt"]);
});

Deno.test("a send cancelled through its signal stores nothing, keeps its partial, and the next send resumes", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeFile(`${local.path}/big.bin`, patternBytes(24 * MiB));
  await Deno.writeTextFile(`${local.path}/small.txt`, "small");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  await cancelledAfterOneMiB((options) =>
    client.send([`${local.path}/big.bin`], "big.bin", options)
  );
  const after = await client.send([`${local.path}/small.txt`], "small.txt");
  assertEquals(after.files, 1);
  assertEquals(await exists(`${root.path}/big.bin`), false);
  assert(await waitFor(() => hasTemporaries(root.path)), "the part received was kept");
  const aborted = server.events.find((event) => event.code === "aborted");
  assertEquals(aborted?.path, "big.bin");
  assert((aborted?.bytes ?? 0) > 0 && aborted?.message?.includes("cancelled"), aborted?.message);
  const again = await client.send([`${local.path}/big.bin`], "big.bin");
  assertEquals(again.files, 1);
  assert(again.transferred < 24 * MiB, `resumed: ${again.transferred} bytes moved`);
  assertEquals(await Deno.readFile(`${root.path}/big.bin`), patternBytes(24 * MiB));
});

Deno.test("a get cancelled through its signal leaves the client usable and no file under its name", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeFile(`${root.path}/big.bin`, patternBytes(24 * MiB));
  await Deno.writeTextFile(`${root.path}/small.txt`, "small");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  await cancelledAfterOneMiB((options) =>
    client.get(["big.bin"], `${local.path}/big.bin`, options)
  );
  await client.get(["small.txt"], `${local.path}/small.txt`);
  assertEquals(await Deno.readTextFile(`${local.path}/small.txt`), "small");
  assertEquals(await exists(`${local.path}/big.bin`), false);
  // The listing on the same connection still works after the abandoned reply drained.
  const names: string[] = [];
  for await (const entry of client.list("")) names.push(entry.name);
  assertEquals(names, ["big.bin", "small.txt"]);
});

Deno.test("a listing cancelled through its signal rejects with aborted; the client goes on", async () => {
  await using root = await tempDir();
  for (let i = 0; i < 3000; i++) await Deno.writeTextFile(`${root.path}/f${i}`, "x");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const controller = new AbortController();
  let seen = 0;
  const error = await assertRejects(async () => {
    for await (const _ of client.list("", { signal: controller.signal })) {
      if (++seen === 10) controller.abort();
    }
  }, FerryError);
  assertEquals(error.code, ErrorCode.Aborted);
  assert(seen < 3000);
  assertEquals((await client.stat("f1"))?.type, "file");
});

Deno.test("get() with parallel lanes: when one connection is cut, every lane stops before it rejects", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${root.path}/tree`);
  for (let i = 0; i < 600; i++) {
    await Deno.writeFile(
      `${root.path}/tree/f${String(i).padStart(3, "0")}`,
      patternBytes(32_000, i + 1),
    );
  }
  await using server = await startServer(root.path);
  // The second connection is the first extra lane; it dies after about 2 MB.
  await using proxy = corruptingProxy(server.port, "to-client", 2_000_000, "cut", 2);
  await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
  const error = await assertRejects(
    () =>
      client.get(["tree"], `${local.path}/out`, {
        recursive: true,
        parallel: 2,
        limitRate: 16 * MiB,
      }),
    FerryError,
  );
  assertEquals(error.code, ErrorCode.Connection);
  const atRejection = await listTree(local.path);
  assert(atRejection.length < 601, "the get stopped early");
  // Nothing may be written once get() has rejected.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assertEquals(await listTree(local.path), atRejection);
  assertEquals(await hasTemporaries(local.path), false);
});

Deno.test("send() with retries resumes on a new connection after its connection is cut", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const big = patternBytes(12 * MiB);
  await Deno.writeFile(`${local.path}/big.bin`, big);
  await using server = await startServer(root.path);
  await using proxy = corruptingProxy(server.port, "to-server", 6 * MiB, "cut", 1);
  await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
  const retries: number[] = [];
  const sent = await client.send([`${local.path}/big.bin`], "big.bin", {
    retries: 2,
    onRetry: (notice) => retries.push(notice.delaySeconds),
  });
  assertEquals(retries, [1]);
  assertEquals(await Deno.readFile(`${root.path}/big.bin`), big);
  assert(sent.transferred < big.length, `resumed: ${sent.transferred} of ${big.length} sent again`);
});

Deno.test("a retry takes over the partial of a connection that vanished without a word, and resumes (issue 16 item 1)", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const big = patternBytes(16 * MiB, 7);
  await Deno.writeFile(`${local.path}/big.bin`, big);
  await using server = await startServer(root.path);
  // The first connection dies after 6 MiB, and the server is never told: it still
  // holds that upload, and its partial, when the retry asks for the same file.
  await using proxy = corruptingProxy(server.port, "to-server", 6 * MiB, "vanish", 1);
  await using client = await connect({
    host: "127.0.0.1",
    port: proxy.addr.port,
    token: TOKEN,
    stallTimeoutMs: 2_000,
  });
  const retries: string[] = [];
  const sent = await client.send([`${local.path}/big.bin`], "big.bin", {
    retries: 2,
    onRetry: (notice) => retries.push(notice.error.message),
  });
  assertEquals(retries.length, 1, retries.join("; "));
  assertEquals(await Deno.readFile(`${root.path}/big.bin`), big);
  assert(sent.transferred < big.length, `resumed: ${sent.transferred} of ${big.length} sent`);
  assertEquals((await listTree(root.path)).filter((p) => p.includes(".ferry-")), []);
});

Deno.test("after a retry the summary counts every file sent by any attempt, acknowledged or not, and the whole time", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${local.path}/tree`);
  for (let i = 0; i < 100; i++) {
    await Deno.writeFile(`${local.path}/tree/f${i}`, patternBytes(20_000, i + 1));
  }
  await using server = await startServer(root.path);
  // The first connection dies about halfway through the 2 MB of files.
  await using proxy = corruptingProxy(server.port, "to-server", 1_000_000, "cut", 1);
  await using client = await connect({ host: "127.0.0.1", port: proxy.addr.port, token: TOKEN });
  const committed: string[] = [];
  const sent = await client.send([`${local.path}/tree`], "", {
    recursive: true,
    retries: 1,
    onFile: (file) => committed.push(file.path),
  });
  // Files acknowledged before the cut count as sent, not as skipped by the retry, and so
  // do files the server committed but whose OK the cut swallowed (the retry's sync finds
  // them there; they were sent): 100 files sent, none skipped.
  assertEquals([sent.files, sent.skipped], [100, 0]);
  assert(committed.length <= 100 && committed.length > 0);
  assert(new Set(committed).size === committed.length, "onFile once per file");
  assertEquals(sent.errors, 0);
  // The retry waited 1 s: the summary's time covers both attempts.
  assert(sent.seconds >= 1, `seconds: ${sent.seconds}`);
});

Deno.test("progress arrives as immutable snapshots; onFile reports each committed file with its digest", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  for (const name of ["a", "b", "c"]) {
    await Deno.writeFile(`${local.path}/${name}`, patternBytes(100_000, name.charCodeAt(0)));
  }
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const snapshots: Progress[] = [];
  const files: { path: string; size: number; digest: string }[] = [];
  await client.send(["a", "b", "c"].map((n) => `${local.path}/${n}`), "in/", {
    onProgress: (p) => snapshots.push(p),
    onFile: (file) => files.push(file),
  });
  assert(snapshots.length > 1);
  assert(snapshots.every((p) => Object.isFrozen(p)));
  assert(snapshots[0] !== snapshots.at(-1), "a new object each time");
  assert(
    snapshots[0]!.bytesDone < snapshots.at(-1)!.bytesDone,
    "earlier snapshots stay as they were",
  );
  const last = snapshots.at(-1)!;
  assertEquals([last.filesDone, last.filesTotal, last.bytesDone, last.etaSeconds], [
    3,
    3,
    300_000,
    0,
  ]);
  assert(Number.isFinite(last.bytesPerSecond) && last.bytesPerSecond > 0);
  assertEquals(files.map((f) => f.path).sort(), ["in/a", "in/b", "in/c"]);
  for (const file of files) {
    assertEquals(file.size, 100_000);
    assertEquals(file.digest, await digestFileHex(`${root.path}/${file.path}`));
  }
  const got: string[] = [];
  await client.get(["in"], `${local.path}/back`, {
    recursive: true,
    onFile: (f) => got.push(f.digest),
  });
  assertEquals(got.sort(), files.map((f) => f.digest).sort());
});

Deno.test("connect(name) takes address, port, token file and folder from the config file", async () => {
  await using root = await tempDir();
  await using home = await tempDir();
  await Deno.mkdir(`${root.path}/backups`);
  await Deno.writeTextFile(`${home.path}/pi.token`, `${TOKEN}\n`, { mode: 0o600 });
  await using server = await startServer(root.path);
  await Deno.writeTextFile(
    `${home.path}/config.json`,
    JSON.stringify({
      hosts: {
        pi: {
          host: "127.0.0.1",
          port: server.port,
          tokenFile: `${home.path}/pi.token`,
          folder: "backups",
        },
      },
    }),
  );
  const before = Deno.env.get("FERRY_CONFIG");
  Deno.env.set("FERRY_CONFIG", `${home.path}/config.json`);
  try {
    await using client = await connect("pi");
    // A resolved target's fields fit ConnectOptions under the strict options.
    const target = resolveTarget(parseRemote("pi:db.sql")!, await loadConfig());
    await using direct = await connect({ host: target.host, port: target.port, token: TOKEN });
    assertEquals((await direct.stat("backups"))?.type, "dir");
    await client.put("db.sql", new TextEncoder().encode("dump"));
    assertEquals(await Deno.readTextFile(`${root.path}/backups/db.sql`), "dump");
    assertEquals((await client.stat("/backups"))?.type, "dir", "a leading / starts at the root");
  } finally {
    if (before === undefined) Deno.env.delete("FERRY_CONFIG");
    else Deno.env.set("FERRY_CONFIG", before);
  }
});

Deno.test("every call given an already aborted signal rejects with a FerryError, code aborted", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/a.txt`, "a");
  await Deno.writeTextFile(`${local.path}/b.txt`, "b");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const signal = AbortSignal.abort();
  const calls: [string, () => Promise<unknown>][] = [
    ["send", () => client.send([`${local.path}/b.txt`], "b.txt", { signal })],
    ["get", () => client.get(["a.txt"], `${local.path}/a.txt`, { signal })],
    ["put", () => client.put("c.txt", new Uint8Array(1), { signal })],
    ["open", () => client.open("a.txt", { signal })],
    ["list", async () => {
      for await (const _ of client.list("", { signal })) { /* nothing */ }
    }],
  ];
  for (const [name, call] of calls) {
    const error = await assertRejects(call, FerryError);
    assertEquals(error.code, ErrorCode.Aborted, name);
  }
  assertEquals(await listTree(root.path), ["a.txt"]);
  assertEquals(await listTree(local.path), ["b.txt"]);
});

Deno.test("a script that imports mod.ts opens clients only through connect(): no public constructor, one options object, optional fields that take undefined", async () => {
  await using dir = await tempDir();
  const mod = new URL("../mod.ts", import.meta.url).href;
  const script = `${dir.path}/script.ts`;
  await Deno.writeTextFile(
    script,
    `import * as ferry from "${mod}";
const maybe: number | undefined = undefined;
// @ts-expect-error a client is opened with connect(), never constructed
new ferry.FerryClient(undefined, { host: "h", token: "t" }, "");
// @ts-expect-error options are one object: a second argument is for a host's name
void ferry.connect({ host: "h", token: "t" }, { port: 1 });
void ferry.connect("pi", { port: maybe, tokenFile: undefined });
const server: ferry.ServerOptions = { root: "/", token: "t", port: maybe, host: undefined };
const client: ferry.ConnectOptions = { host: "h", token: "t", port: maybe };
void server;
void client;
`,
  );
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", script],
    cwd: dir.path,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(new TextDecoder().decode(check.stderr), "");
  assert(check.success);
});

Deno.test("every optional field of the public API admits undefined", async () => {
  const doc = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", new URL("../mod.ts", import.meta.url).pathname],
    stdout: "piped",
  }).output();
  const symbols = JSON.parse(new TextDecoder().decode(doc.stdout)).nodes[
    new URL("../mod.ts", import.meta.url).href
  ].symbols as { name: string; declarations: { kind: string; def: DocInterface }[] }[];
  const strict: string[] = [];
  for (const symbol of symbols) {
    for (const declaration of symbol.declarations) {
      if (declaration.kind !== "interface") continue;
      for (const property of declaration.def.properties ?? []) {
        const admits = JSON.stringify(property.tsType).includes('"undefined"');
        if (property.optional && !admits) strict.push(`${symbol.name}.${property.name}`);
      }
    }
  }
  assert(symbols.length > 30);
  assertEquals(strict, []);
});

/** What the test reads of `deno doc --json` for an interface. */
interface DocInterface {
  properties?: { name: string; optional: boolean; tsType: unknown }[];
}

Deno.test("watch() is not a promise: returning it waits for nothing, done() runs it", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const stop = new AbortController();
  const run = client.watch("", local.path, { signal: stop.signal });
  assert(!("then" in run));
  // An async function that returns it resolves with the watch itself, at once.
  const returned = await (async () => {
    await Promise.resolve();
    return run;
  })();
  assert(returned === run);
  const done = run.done();
  stop.abort();
  await done;
});

Deno.test("throwOnFailure rejects with the summary attached; getInto streams one file with its digest checked", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/a.txt`, "alpha");
  await Deno.mkdir(`${root.path}/d`);
  await Deno.writeTextFile(`${root.path}/d/f1`, "one");
  await Deno.writeTextFile(`${root.path}/d/f2`, "two");
  // A folder in the way of d/f1: that file fails, d/f2 arrives.
  await Deno.mkdir(`${local.path}/d/f1`, { recursive: true });
  await Deno.writeTextFile(`${local.path}/d/f1/keep`, "kept");
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const error = await assertRejects(
    () => client.get(["d"], `${local.path}/`, { recursive: true, throwOnFailure: true }),
    TransferError,
  );
  assertEquals([error.code, error.summary.files, error.summary.errors], ["partial", 1, 1]);
  assertEquals(await Deno.readTextFile(`${local.path}/d/f1/keep`), "kept");
  assertEquals(await Deno.readTextFile(`${local.path}/d/f2`), "two");

  const chunks: Uint8Array[] = [];
  const into = new WritableStream<Uint8Array>({ write: (chunk) => void chunks.push(chunk) });
  const summary = await client.getInto("a.txt", into, { limitRate: 1024 * 1024 });
  assertEquals([summary.files, summary.bytes], [1, 5]);
  assertEquals(new TextDecoder().decode(concat(chunks)), "alpha");
});
