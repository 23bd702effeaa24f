/**
 * `deno task flood [COUNT]`, or `deno task flood --watchers [COUNT]`.
 *
 * Without --watchers: the unauthenticated-connection load of issue 16
 * item 2, measured rather than tested. Starts `ferry serve` as shipped, opens
 * COUNT connections (default 200) that never log in (a third say nothing, a
 * third send half a preamble, a third announce a HELLO of 16 MiB and stop),
 * then has a client with the token list the root and send a file while they
 * idle. Prints whether the client got in, how long it took, and the
 * server's resident memory (VmRSS now, VmHWM peak). Bounded: everything
 * closes after one pass.
 *
 * With --watchers: COUNT (default 50) watchers (library clients, in this
 * process) on one folder of a `ferry serve` while one `ferry send` after
 * another puts 20 files of 1 MiB into it; prints how many watchers got all
 * of them and the server's memory.
 *
 * @module
 */

import { encodeHeader, FRAME_HEADER_SIZE, Kind, preambleBytes } from "../lib/protocol/frame.ts";
import { SHIPPED_RUNTIME_FLAGS } from "./permissions.ts";
import { freePort, waitForPort } from "./_net.ts";
import { connect } from "../mod.ts";

const watchersMode = Deno.args.includes("--watchers");
const countArg = Deno.args.find((arg) => /^\d+$/.test(arg));
const COUNT = Number(countArg ?? (watchersMode ? 50 : 200));
const TOKEN = "flood-token-0123456789abcdef";
const main = new URL("../main.ts", import.meta.url).pathname;
const print = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const cat = new Deno.Command("cat", { args: [`/proc/${pid}/status`] });
  const status = new TextDecoder().decode((await cat.output()).stdout);
  const kib = (field: string) => Number(status.match(new RegExp(`${field}:\\s+(\\d+)`))?.[1]);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

/** ferry as a subprocess; `quiet`: its output is not kept (a long-running server's log would fill the pipe and block it). */
function ferry(args: string[], quiet = false): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...SHIPPED_RUNTIME_FLAGS, main, ...args],
    env: { FERRY_TOKEN: TOKEN },
    stdout: quiet ? "null" : "piped",
    stderr: quiet ? "null" : "piped",
  });
}

if (watchersMode) {
  await floodWatchers();
  Deno.exit(0);
}

const root = await Deno.makeTempDir();
const local = await Deno.makeTempFile();
await Deno.writeFile(local, new Uint8Array(4 * 1024 * 1024).fill(7));
const port = freePort();
const server = ferry(["serve", "--host", "127.0.0.1", "--port", `${port}`, root]).spawn();
const strangers: Deno.Conn[] = [];
try {
  await waitForPort(port);
  const before = await memory(server.pid);
  const preamble = preambleBytes();
  const hugeHello = new Uint8Array(preamble.length + FRAME_HEADER_SIZE);
  hugeHello.set(preamble);
  encodeHeader(hugeHello, preamble.length, Kind.Hello, 0, 16 << 20);
  for (let i = 0; i < COUNT; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    if (i % 3 === 1) await conn.write(preambleBytes().subarray(0, 3));
    if (i % 3 === 2) await conn.write(hugeHello);
    strangers.push(conn);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const started = performance.now();
  const target = `ferry://127.0.0.1:${port}/`;
  const listed = await ferry(["ls", "--timeout", "5", target]).output();
  const sent = await ferry(["send", "--timeout", "5", local, `${target}probe.bin`]).output();
  const seconds = (performance.now() - started) / 1000;
  const after = await memory(server.pid);
  const open = await Promise.all(strangers.map(async (conn) => {
    const buffer = new Uint8Array(64);
    const timeout = new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 300));
    for (;;) {
      const read = await Promise.race([conn.read(buffer).catch(() => null), timeout]);
      if (read === "open") return true;
      if (read === null) return false;
    }
  }));
  print(`${COUNT} connections that never log in; ${open.filter(Boolean).length} still open`);
  print(
    `client with the token: ls exit ${listed.code}, send 4 MiB exit ${sent.code}, ` +
      `${seconds.toFixed(2)} s for both`,
  );
  print(
    `server memory: ${before.rss.toFixed(0)} MiB before, ${after.rss.toFixed(0)} MiB during ` +
      `(peak ${after.peak.toFixed(0)} MiB)`,
  );
  if (!listed.success || !sent.success) {
    print(new TextDecoder().decode(listed.stderr) + new TextDecoder().decode(sent.stderr));
  }
} finally {
  for (const conn of strangers) {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
  server.kill("SIGTERM");
  await server.output();
  await Deno.remove(root, { recursive: true });
  await Deno.remove(local);
}

async function floodWatchers(): Promise<void> {
  const root = await Deno.makeTempDir();
  const locals = await Deno.makeTempDir();
  await Deno.mkdir(`${root}/outbox`);
  const file = await Deno.makeTempFile();
  await Deno.writeFile(file, new Uint8Array(1024 * 1024).fill(3));
  const port = freePort();
  // Each watcher holds a connection, and a second one while it catches up.
  const server = ferry([
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    `${port}`,
    "--max-conns",
    `${2 * COUNT + 8}`,
    root,
  ], true).spawn();
  // The watchers run in this process (library clients), so that the 2 cores
  // measure the server, not 50 starting runtimes.
  const stop = new AbortController();
  const watching: Promise<unknown>[] = [];
  try {
    await waitForPort(port);
    const before = await memory(server.pid);
    for (let i = 0; i < COUNT; i++) {
      const client = await connect({ host: "127.0.0.1", port, token: TOKEN, name: `w${i}` });
      const run = Promise.resolve(
        client.watch("outbox", `${locals}/w${i}`, { signal: stop.signal }),
      );
      watching.push(run.catch((error) => error).finally(() => client.close()));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    for (let n = 0; n < 20; n++) {
      const sent = await ferry(["send", "-q", file, `ferry://127.0.0.1:${port}/outbox/f${n}`])
        .output();
      if (!sent.success) print(new TextDecoder().decode(sent.stderr));
    }
    let complete = 0;
    for (let waited = 0; waited < 60_000 && complete < COUNT; waited += 500) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      complete = 0;
      for (let i = 0; i < COUNT; i++) {
        try {
          const names = [...Deno.readDirSync(`${locals}/w${i}`)].filter((e) =>
            !e.name.startsWith(".")
          );
          if (names.length === 20) complete++;
        } catch { /* not made yet */ }
      }
    }
    const after = await memory(server.pid);
    print(`${COUNT} watchers, 20 files of 1 MiB sent: ${complete} watchers got all 20`);
    print(
      `server memory: ${before.rss.toFixed(0)} MiB before, ${after.rss.toFixed(0)} MiB after ` +
        `(peak ${after.peak.toFixed(0)} MiB)`,
    );
  } finally {
    stop.abort();
    await Promise.all(watching);
    server.kill("SIGTERM");
    await server.status;
    await Deno.remove(root, { recursive: true });
    await Deno.remove(locals, { recursive: true });
    await Deno.remove(file);
  }
}
