// Fault injection with real processes and sockets: killed clients and
// servers, resume, retries, stalls, and many clients at once. Every wait is
// bounded and every process is killed at the end of its scope.

import { assert, assertEquals } from "./_assert.ts";
import { ferry, ferryCommand, serveProcess } from "./_cli.ts";
import { resumeKeyFor } from "../lib/fs/temporary.ts";
import {
  connectTo,
  corruptingProxy,
  freePort,
  listTree,
  partialBytes,
  patternBytes,
  startServer,
  tempDir,
  waitFor,
} from "./_helpers.ts";

const MiB = 1024 * 1024;
const BIG = 48 * MiB;

interface Summary {
  files: number;
  bytes: number;
  transferred: number;
  skipped: number;
}

function summaryOf(stdout: string): Summary {
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

/** A rate-limited transfer as a child process, to be killed partway. */
function slowFerry(args: string[]): Deno.ChildProcess {
  const [command, ...rest] = args;
  return ferryCommand([command!, "--limit-rate", "16M", "--retries", "0", ...rest]).spawn();
}

async function killed(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel().catch(() => {});
}

Deno.test("a send killed with SIGKILL halfway resumes: the rerun sends about the rest, byte-identical", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  const data = patternBytes(BIG, 3);
  await Deno.writeFile(`${local.path}/big.bin`, data);
  await using server = await serveProcess(root.path);
  const at = `ferry://127.0.0.1:${server.port}/`;
  const child = slowFerry(["send", `${local.path}/big.bin`, at]);
  assert(await waitFor(async () => await partialBytes(root.path) >= 12 * MiB), "upload started");
  await killed(child);
  const kept = await partialBytes(root.path);
  assert(kept >= 12 * MiB && kept < BIG, `kept ${kept} bytes`);
  const rerun = await ferry(["send", "--json", `${local.path}/big.bin`, at]);
  assertEquals(rerun.code, 0, rerun.stderr);
  const summary = summaryOf(rerun.stdout);
  assertEquals([summary.files, summary.bytes], [1, BIG]);
  assert(summary.transferred <= BIG - kept + 2 * MiB, `sent ${summary.transferred} again`);
  assertEquals(await Deno.readFile(`${root.path}/big.bin`), data);
  assertEquals(await listTree(root.path), ["big.bin"], "no partial left behind");
});

Deno.test("a server killed with SIGKILL mid-upload keeps the partial; after a restart the rerun resumes", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  const data = patternBytes(BIG, 4);
  await Deno.writeFile(`${local.path}/big.bin`, data);
  let kept: number;
  {
    await using server = await serveProcess(root.path);
    const child = slowFerry(["send", `${local.path}/big.bin`, `ferry://127.0.0.1:${server.port}/`]);
    assert(await waitFor(async () => await partialBytes(root.path) >= 12 * MiB));
    server.child.kill("SIGKILL");
    const status = await child.status;
    assertEquals(status.code, 5, "the client reports the lost connection");
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    kept = await partialBytes(root.path);
  }
  await using restarted = await serveProcess(root.path);
  const rerun = await ferry([
    "send",
    "--json",
    `${local.path}/big.bin`,
    `ferry://127.0.0.1:${restarted.port}/`,
  ]);
  assertEquals(rerun.code, 0, rerun.stderr);
  assert(summaryOf(rerun.stdout).transferred <= BIG - kept + 2 * MiB);
  assertEquals(await Deno.readFile(`${root.path}/big.bin`), data);
});

Deno.test("a get killed with SIGKILL halfway resumes from the local partial", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const data = patternBytes(BIG, 5);
  await Deno.writeFile(`${root.path}/big.bin`, data);
  await using server = await serveProcess(root.path);
  const source = `ferry://127.0.0.1:${server.port}/big.bin`;
  const child = slowFerry(["get", source, `${local.path}/`]);
  assert(await waitFor(async () => await partialBytes(local.path) >= 12 * MiB));
  await killed(child);
  const kept = await partialBytes(local.path);
  const rerun = await ferry(["get", "--json", source, `${local.path}/`]);
  assertEquals(rerun.code, 0, rerun.stderr);
  assert(summaryOf(rerun.stdout).transferred <= BIG - kept + 2 * MiB);
  assertEquals(await Deno.readFile(`${local.path}/big.bin`), data);
  assertEquals(await listTree(local.path), ["big.bin"]);
});

Deno.test("a kept partial whose prefix does not match the source is not trusted: the file is sent whole", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  const data = patternBytes(8 * MiB, 6);
  await Deno.writeFile(`${local.path}/f.bin`, data);
  const { mtime } = await Deno.stat(`${local.path}/f.bin`);
  // What a crashed transfer of another version with the same size and mtime could leave.
  const key = await resumeKeyFor("f.bin", data.length, mtime!.getTime());
  await Deno.writeFile(`${root.path}/.ferry-${key}.part`, patternBytes(3 * MiB, 99));
  await using server = await startServer(root.path);
  await using client = await connectTo(server);
  const summary = await client.send([`${local.path}/f.bin`], "/");
  assertEquals([summary.files, summary.transferred], [1, data.length]);
  assertEquals(await Deno.readFile(`${root.path}/f.bin`), data);
  assertEquals(await listTree(root.path), ["f.bin"]);
});

Deno.test("--retries waits for a server that is not up yet, with backoff", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "late");
  // Find a free port, then start the server on it only after the client's first attempt failed.
  const port = freePort();
  const client = ferryCommand([
    "send",
    "--retries",
    "3",
    `${local.path}/f`,
    `ferry://127.0.0.1:${port}/`,
  ])
    .spawn();
  await new Promise((resolve) => setTimeout(resolve, 300));
  await using _server = await serveProcess(root.path, [], {}, port);
  const output = await client.output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, stderr);
  assert(stderr.includes("retry 1 of 3"), stderr);
  assertEquals(await Deno.readTextFile(`${root.path}/f`), "late");
});

Deno.test("--timeout: a silent server and a link that stops moving both fail with exit 5, never hang", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  await Deno.writeFile(`${local.path}/f`, patternBytes(2 * MiB));
  // Accepts connections and never says a word.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  // One second to connect or to see anything move, and no second attempt.
  const impatientSend = (port: number) =>
    ferry([
      "send",
      "--timeout",
      "1",
      "--retries",
      "0",
      `${local.path}/f`,
      `ferry://127.0.0.1:${port}/`,
    ]);
  const mute = await impatientSend(silent.addr.port);
  assertEquals(mute.code, 5, mute.stderr);
  silent.close();
  for (const conn of held) conn.close();
  await accepting.catch(() => {});

  await using server = await startServer(root.path);
  // Forwards the handshake, then nothing from the client's first megabyte on.
  await using frozen = corruptingProxy(server.port, "to-server", 1024 * 1024, "freeze");
  const stalled = await impatientSend(frozen.addr.port);
  assertEquals(stalled.code, 5, stalled.stderr);
  assert(stalled.stderr.includes("stalled"), stalled.stderr);
  assert(stalled.stderr.includes("(see --timeout)"), stalled.stderr);
});

Deno.test("32 clients send different trees at once and every file is verified", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using server = await startServer(root.path, { maxConnections: 40 });
  const clients = Array.from({ length: 32 }, async (_, c) => {
    const tree = `${local.path}/client${c}`;
    for (let i = 0; i < 12; i++) {
      await Deno.mkdir(`${tree}/sub${i % 3}`, { recursive: true });
      await Deno.writeFile(
        `${tree}/sub${i % 3}/f${i}`,
        patternBytes(1000 + c * 97 + i * 13, c * 100 + i),
      );
    }
    await using client = await connectTo(server);
    return await client.send([tree], "/", { recursive: true });
  });
  const summaries = await Promise.all(clients);
  assert(summaries.every((s) => s.files === 12 && s.errors === 0));
  for (let c = 0; c < 32; c++) {
    for (let i = 0; i < 12; i++) {
      const path = `client${c}/sub${i % 3}/f${i}`;
      assertEquals(
        await Deno.readFile(`${root.path}/${path}`),
        await Deno.readFile(`${local.path}/${path}`),
      );
    }
  }
});

Deno.test("ls, mkdir, rm and mv take --retries: each waits for a server that is not up yet", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/old`, "x");
  for (
    const [command, ...paths] of [["mkdir", "made"], ["mv", "old", "new"], ["ls", ""], [
      "rm",
      "new",
    ]]
  ) {
    const port = freePort();
    const at = (path: string) => `ferry://127.0.0.1:${port}/${path}`;
    const client = ferryCommand([command!, "--retries", "3", ...paths.map(at)]).spawn();
    // Up only after the first attempt was refused.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await using _server = await serveProcess(root.path, [], {}, port);
    const output = await client.output();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 0, `${command}: ${stderr}`);
    assert(stderr.includes("retry 1 of 3"), `${command}: ${stderr}`);
  }
  assertEquals((await listTree(root.path)).sort(), ["made"]);
});

Deno.test("a server stopped (SIGSTOP) past --timeout mid-transfer and continued: the same send finishes byte-identical, resuming (issue 16 item 1)", async () => {
  await using local = await tempDir();
  await using root = await tempDir();
  const data = patternBytes(32 * MiB, 5);
  await Deno.writeFile(`${local.path}/big.bin`, data);
  await using server = await serveProcess(root.path);
  const client = ferryCommand([
    "send",
    "--json",
    "--timeout",
    "1",
    "--retries",
    "8",
    "--limit-rate",
    "8M",
    `${local.path}/big.bin`,
    `ferry://127.0.0.1:${server.port}/big.bin`,
  ]).spawn();
  assert(await waitFor(async () => (await partialBytes(root.path)) >= 8 * MiB, 20_000));
  server.child.kill("SIGSTOP");
  // Well past the client's --timeout once the socket buffers (several MiB) are
  // full: it gives up on the connection and retries until the server is back.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  server.child.kill("SIGCONT");
  const output = await client.output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, stderr);
  assertEquals(await Deno.readFile(`${root.path}/big.bin`), data);
  // Only a retry that resumed sends less than the file (--json keeps retry notices quiet).
  const summary = JSON.parse(new TextDecoder().decode(output.stdout));
  assert(summary.transferred < data.length, `resumed: ${summary.transferred} sent`);
  assertEquals(await listTree(root.path), ["big.bin"]);
});
