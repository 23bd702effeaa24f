/**
 * `deno task bench [--quick] [--json]`: ferry against the rsync daemon (when
 * rsync is installed) over loopback, in one run, alternating tools, median of
 * three. Makes its own data in bench-data/: a large random file and a tree of
 * small files in 100 folders.
 *
 * Both sides flush differently: ferry fsyncs every file before it
 * acknowledges it; rsync is run without --fsync (its default).
 *
 * @module
 */

import { SHIPPED_PERMISSIONS } from "./permissions.ts";

const quick = Deno.args.includes("--quick");
const asJson = Deno.args.includes("--json");
const BIG_BYTES = quick ? 128 * 1024 ** 2 : 1024 ** 3;
const SMALL_FILES = quick ? 1_000 : 10_000;
const smallSize = (i: number) => 100 + ((i * 7919) % 8092);
const SMALL_BYTES = Array.from({ length: SMALL_FILES }, (_, i) => smallSize(i)).reduce(
  (a, b) => a + b,
  0,
);
const RUNS = 3;
const TOKEN = "bench-token-0123456789abcdef";
const root = new URL("..", import.meta.url).pathname;
const data = `${root}bench-data`;
const print = (line: string): void =>
  void Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
const log = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function makeData(): Promise<void> {
  const big = `${data}/src/big.bin`;
  await Deno.mkdir(`${data}/src/small`, { recursive: true });
  if ((await Deno.stat(big).catch(() => null))?.size !== BIG_BYTES) {
    log(`bench: writing ${BIG_BYTES} random bytes`);
    using file = await Deno.open(big, { write: true, create: true, truncate: true });
    const chunk = new Uint8Array(1024 * 1024);
    for (let written = 0; written < BIG_BYTES; written += chunk.length) {
      for (let i = 0; i < chunk.length; i += 65536) {
        crypto.getRandomValues(chunk.subarray(i, i + 65536));
      }
      await file.write(chunk);
    }
  }
  const marker = `${data}/src/small/.count-${SMALL_FILES}`;
  if (!await exists(marker)) {
    log(`bench: writing ${SMALL_FILES} small files`);
    await Deno.remove(`${data}/src/small`, { recursive: true });
    for (let i = 0; i < SMALL_FILES; i++) {
      const dir = `${data}/src/small/d${i % 100}`;
      if (i < 100) await Deno.mkdir(dir, { recursive: true });
      await Deno.writeFile(
        `${dir}/f${i}.dat`,
        crypto.getRandomValues(new Uint8Array(smallSize(i))),
      );
    }
    await Deno.writeTextFile(marker, "");
  }
}

async function fresh(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
  await Deno.mkdir(path, { recursive: true });
}

async function timed(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<number> {
  const started = performance.now();
  const result = await new Deno.Command(command, { args, env, stdout: "null", stderr: "piped" })
    .output();
  const seconds = (performance.now() - started) / 1000;
  if (!result.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
  return seconds;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Waits until a server accepts connections on `port` (bounded: 20 s). */
async function waitForPort(port: number): Promise<void> {
  for (let tries = 0; tries < 400; tries++) {
    const up = await Deno.connect({ hostname: "127.0.0.1", port }).then(
      (c) => (c.close(), true),
      () => false,
    );
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Nothing listens on 127.0.0.1:${port} after 20 s`);
}

interface Tool {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  send(source: string, recursive: boolean): Promise<number>;
  get(source: string, recursive: boolean, dest: string): Promise<number>;
}

function ferryTool(serverRoot: string): Tool {
  const port = freePort();
  let server: Deno.ChildProcess | undefined;
  const ferry = (args: string[]) =>
    timed(Deno.execPath(), [
      "run",
      ...SHIPPED_PERMISSIONS,
      `${root}main.ts`,
      ...args,
      "-P",
      String(port),
      "-q",
    ], { FERRY_TOKEN: TOKEN });
  return {
    name: "ferry",
    async start() {
      server = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...SHIPPED_PERMISSIONS,
          `${root}main.ts`,
          "serve",
          serverRoot,
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
        ],
        env: { FERRY_TOKEN: TOKEN },
        stderr: "null",
        stdout: "null",
      }).spawn();
      await waitForPort(port);
    },
    async stop() {
      server?.kill("SIGTERM");
      await server?.status;
    },
    send: (source, recursive) =>
      ferry(["send", ...(recursive ? ["-r"] : []), source, "127.0.0.1:/"]),
    get: (source, recursive, dest) =>
      ferry(["get", ...(recursive ? ["-r"] : []), `127.0.0.1:${source}`, dest]),
  };
}

function rsyncDaemonTool(serverRoot: string): Tool {
  const port = freePort();
  let daemon: Deno.ChildProcess | undefined;
  const config = `${data}/rsyncd.conf`;
  return {
    name: "rsync daemon",
    async start() {
      await Deno.writeTextFile(
        config,
        `[bench]\npath = ${serverRoot}\nread only = false\nuse chroot = false\nuid = root\ngid = root\n`,
      );
      daemon = new Deno.Command("rsync", {
        args: [
          "--daemon",
          "--no-detach",
          `--config=${config}`,
          `--port=${port}`,
          "--address=127.0.0.1",
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitForPort(port);
    },
    async stop() {
      daemon?.kill("SIGTERM");
      await daemon?.status;
    },
    send: (source) => timed("rsync", ["-a", source, `rsync://127.0.0.1:${port}/bench/`]),
    get: (source, _recursive, dest) =>
      timed("rsync", ["-a", `rsync://127.0.0.1:${port}/bench/${source}`, dest]),
  };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  await makeData();
  const hasRsync = await new Deno.Command("rsync", { args: ["--version"], stdout: "null" }).output()
    .then((r) => r.success, () => false);
  const tools = [
    ferryTool(`${data}/ferry-root`),
    ...(hasRsync ? [rsyncDaemonTool(`${data}/rsync-root`)] : []),
  ];
  const roots: Record<string, string> = {
    "ferry": `${data}/ferry-root`,
    "rsync daemon": `${data}/rsync-root`,
  };
  const scenarios: {
    name: string;
    bytes: number;
    files: number;
    run: (tool: Tool) => Promise<number>;
  }[] = [
    {
      name: "send big file",
      bytes: BIG_BYTES,
      files: 1,
      run: (t) => t.send(`${data}/src/big.bin`, false),
    },
    {
      name: "send small tree",
      bytes: SMALL_BYTES,
      files: SMALL_FILES,
      run: (t) => t.send(`${data}/src/small`, true),
    },
    {
      name: "get big file",
      bytes: BIG_BYTES,
      files: 1,
      run: (t) => t.get("big.bin", false, `${data}/back/`),
    },
    {
      name: "get small tree",
      bytes: SMALL_BYTES,
      files: SMALL_FILES,
      run: (t) => t.get("small", true, `${data}/back/`),
    },
  ];
  const results: {
    scenario: string;
    tool: string;
    seconds: number;
    mbPerSecond: number;
    filesPerSecond: number;
  }[] = [];
  for (const tool of tools) await fresh(roots[tool.name]!);
  for (const tool of tools) await tool.start();
  try {
    for (const scenario of scenarios) {
      const samples = new Map<string, number[]>(tools.map((t) => [t.name, []]));
      for (let run = 0; run < RUNS; run++) {
        for (const tool of tools) {
          // Each run starts from an empty destination, so nothing is skipped.
          if (scenario.name.startsWith("send")) await fresh(roots[tool.name]!);
          if (scenario.name.startsWith("get")) await fresh(`${data}/back`);
          if (scenario.name.startsWith("get") && run === 0 && scenario.name.includes("big")) {
            await tool.send(`${data}/src/big.bin`, false);
          }
          if (scenario.name === "get small tree" && run === 0) {
            await tool.send(`${data}/src/small`, true);
          }
          samples.get(tool.name)!.push(await scenario.run(tool));
        }
      }
      for (const tool of tools) {
        const seconds = median(samples.get(tool.name)!);
        results.push({
          scenario: scenario.name,
          tool: tool.name,
          seconds,
          mbPerSecond: scenario.bytes / 1e6 / seconds,
          filesPerSecond: scenario.files / seconds,
        });
      }
    }
  } finally {
    for (const tool of tools) await tool.stop();
  }
  if (asJson) {
    return print(
      JSON.stringify({
        date: new Date().toISOString(),
        quick,
        bigBytes: BIG_BYTES,
        smallFiles: SMALL_FILES,
        results,
      }),
    );
  }
  print(
    `ferry benchmark, ${
      new Date().toISOString().slice(0, 10)
    }, ${Deno.build.target}, median of ${RUNS}` +
      `; ferry fsyncs every file, rsync runs without --fsync`,
  );
  print("scenario          tool            seconds     MB/s    files/s   ratio to rsync");
  for (const r of results) {
    const rsync = results.find((x) => x.scenario === r.scenario && x.tool === "rsync daemon");
    const ratio = rsync ? (r.seconds / rsync.seconds).toFixed(2) + "x" : "-";
    print(
      `${r.scenario.padEnd(18)}${r.tool.padEnd(16)}${r.seconds.toFixed(3).padStart(7)}${
        r.mbPerSecond.toFixed(0).padStart(9)
      }` +
        `${r.filesPerSecond.toFixed(0).padStart(11)}   ${ratio}`,
    );
  }
}

await main();
