// The server's hooks (issue 14 item 4): validate before the commit, onReceived
// after it, and hooks that throw, reject or hang, against real transfers.

import { assert, assertEquals } from "./_assert.ts";
import { connect } from "../lib/client/connect.ts";
import { ErrorCode } from "../lib/errors.ts";
import { ferry, serveProcess } from "./_cli.ts";
import {
  connectTo,
  exists,
  listTree,
  patternBytes,
  startServer,
  tempDir,
  TOKEN,
  waitFor,
} from "./_helpers.ts";
import type { OfferedFile, ReceivedFile } from "../mod.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("validate refuses before the commit: nothing refused is stored, not even a temporary, and the rest arrive", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  for (const name of ["ok.txt", "bad.exe", "big.bin"]) {
    await Deno.writeFile(`${local.path}/${name}`, patternBytes(name === "big.bin" ? 5 << 20 : 100));
  }
  const seen: ReceivedFile[] = [];
  await using server = await startServer(root.path, {
    validate: async (file) => {
      seen.push(file);
      // The verified bytes are there to inspect, under the temporary's name.
      assertEquals((await Deno.stat(file.localPath)).size, file.size);
      return file.path.endsWith(".exe") ? "executables are not accepted" : true;
    },
  });
  await using client = await connect({
    host: "127.0.0.1",
    port: server.port,
    token: TOKEN,
    name: "laptop",
  });
  const sent = await client.send(
    ["ok.txt", "bad.exe", "big.bin"].map((n) => `${local.path}/${n}`),
    "in/",
  );
  assertEquals([sent.files, sent.errors], [2, 1]);
  assertEquals(sent.failures[0]!.code, ErrorCode.PermissionDenied);
  assert(
    sent.failures[0]!.message.includes("executables are not accepted"),
    sent.failures[0]!.message,
  );
  assertEquals(await listTree(root.path), ["in", "in/big.bin", "in/ok.txt"]);
  assertEquals(seen.map((f) => [f.path, f.clientName]).sort(), [
    ["in/bad.exe", "laptop"],
    ["in/big.bin", "laptop"],
    ["in/ok.txt", "laptop"],
  ]);
  assert(seen.every((f) => f.localPath.includes("/.ferry-")), "validate sees the temporary");
});

Deno.test("admit refuses at the PUT header, by name or size, before a byte of the body is taken", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const sizes = { "ok.txt": 100, "bad.exe": 100, "huge.bin": 24 << 20 };
  for (const [name, size] of Object.entries(sizes)) {
    await Deno.writeFile(`${local.path}/${name}`, patternBytes(size));
  }
  const offered: OfferedFile[] = [];
  const validated: string[] = [];
  await using server = await startServer(root.path, {
    admit: (file) => {
      offered.push(file);
      if (file.path.endsWith(".exe")) return "executables are not accepted";
      return file.size === undefined || file.size <= 1 << 20 || "over 1 MiB";
    },
    validate: (file) => (validated.push(file.path), true),
  });
  await using client = await connectTo(server);
  const sent = await client.send(Object.keys(sizes).map((n) => `${local.path}/${n}`), "in/");
  assertEquals([sent.files, sent.errors], [1, 2]);
  assertEquals(sent.failures.map((f) => f.code), [
    ErrorCode.PermissionDenied,
    ErrorCode.PermissionDenied,
  ]);
  assert(sent.failures.some((f) => f.message.includes("over 1 MiB")), sent.failures[0]!.message);
  // The big file waits for the server's answer to its header: not one byte of it moved.
  assert(sent.transferred < 1 << 20, `${sent.transferred} bytes moved`);
  assertEquals(offered.map((f) => [f.path, f.size]).sort(), [
    ["in/bad.exe", 100],
    ["in/huge.bin", 24 << 20],
    ["in/ok.txt", 100],
  ]);
  assertEquals(validated, ["in/ok.txt"], "validate runs only for what admit let in");
  assertEquals(await listTree(root.path), ["in", "in/ok.txt"]);
  await client.put("in/streamed.txt", new Blob(["streamed"]).stream());
  assertEquals(offered.at(-1)?.size, undefined, "a stream's size is unknown at its header");
});

Deno.test("a validate that throws or hangs refuses that file; the client is answered and goes on", async () => {
  await using root = await tempDir();
  await using server = await startServer(root.path, {
    hookTimeoutMs: 300,
    validate: (file) => {
      if (file.path === "throws") throw new Error("checker crashed");
      if (file.path === "hangs") return new Promise(() => {});
      return true;
    },
  });
  await using client = await connectTo(server);
  for (const [path, says] of [["throws", "checker crashed"], ["hangs", "did not answer"]]) {
    const error = await client.put(path!, bytes("x")).catch((e) => e);
    assertEquals(error.code, ErrorCode.PermissionDenied, String(error));
    assert(error.message.includes(says!), error.message);
  }
  await client.put("fine", bytes("y"));
  assertEquals(await listTree(root.path), ["fine"]);
});

Deno.test("onReceived sees each stored file after its commit; one that throws or hangs never delays the client", async () => {
  await using root = await tempDir();
  const received: ReceivedFile[] = [];
  await using server = await startServer(root.path, {
    hookTimeoutMs: 300,
    onReceived: async (file) => {
      received.push(file);
      // Already under its name when told.
      assertEquals(await Deno.readTextFile(file.localPath), "hello");
      if (file.path === "throws") throw new Error("indexer crashed");
      if (file.path === "hangs") await new Promise(() => {});
    },
    // A handler that throws must not fail requests either.
    onEvent: () => {
      throw new Error("a broken log handler");
    },
  });
  await using client = await connectTo(server);
  for (const path of ["a.txt", "throws", "hangs"]) {
    const stored = await client.put(path, bytes("hello"));
    assertEquals(stored.size, 5);
    assert(
      await waitFor(() => Promise.resolve(received.some((f) => f.path === path)), 5_000),
      `onReceived for ${path}`,
    );
    const file = received.find((f) => f.path === path)!;
    assertEquals([file.size, file.digest, file.localPath], [
      5,
      stored.digest,
      `${server.root}/${path}`,
    ]);
    assert(file.remote.startsWith("127.0.0.1:"), file.remote);
  }
});

Deno.test("serve --accept refuses *.exe with its stderr (exit 3, nothing stored); --on-receive sees the documented variables and never the token", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using logs = await tempDir();
  await Deno.writeTextFile(`${local.path}/report.txt`, "quarterly");
  await Deno.writeTextFile(`${local.path}/tool.exe`, "MZ");
  const accept =
    `sh -c 'case "$FERRY_REL_PATH" in *.exe) echo "no executables here" >&2; exit 1;; esac'`;
  const onReceive = `sh -c 'env | grep -e ^FERRY_ -e ^PATH= | sort > "$0"' ${logs.path}/env.txt`;
  await using server = await serveProcess(root.path, [
    "--accept",
    accept,
    "--on-receive",
    onReceive,
  ]);
  const at = `ferry://127.0.0.1:${server.port}/drop/`;
  const refused = await ferry(["send", "--name", "laptop", `${local.path}/tool.exe`, at]);
  assertEquals(refused.code, 3, refused.stderr);
  assert(refused.stderr.includes("no executables here"), refused.stderr);
  assertEquals(
    await listTree(root.path),
    ["drop"],
    "nothing refused is stored, not even a temporary",
  );

  const sent = await ferry(["send", "--name", "laptop", `${local.path}/report.txt`, at]);
  assertEquals(sent.code, 0, sent.stderr);
  assert(await waitFor(async () => await exists(`${logs.path}/env.txt`), 10_000), "on-receive ran");
  await waitFor(async () =>
    (await Deno.readTextFile(`${logs.path}/env.txt`)).includes("FERRY_SIZE")
  );
  const env = Object.fromEntries(
    (await Deno.readTextFile(`${logs.path}/env.txt`)).trim().split("\n").map((line) => {
      const cut = line.indexOf("=");
      return [line.slice(0, cut), line.slice(cut + 1)];
    }),
  );
  const stored = await Deno.realPath(`${root.path}/drop/report.txt`);
  assertEquals(env.FERRY_PATH, stored);
  assertEquals(env.FERRY_REL_PATH, "drop/report.txt");
  assertEquals(env.FERRY_SIZE, "9");
  assertEquals(env.FERRY_CLIENT_NAME, "laptop");
  assert(/^[0-9a-f]{32}$/.test(env.FERRY_DIGEST ?? ""), env.FERRY_DIGEST);
  assert(env.FERRY_REMOTE?.startsWith("127.0.0.1:"), env.FERRY_REMOTE);
  assertEquals(env.FERRY_TOKEN, undefined, "the token never reaches a hook");
  const { log } = await server.stop();
  assert(log.includes("(laptop) put"), log);
  assert(log.includes('hook "drop/report.txt" ok: on-receive done'), log);
});
