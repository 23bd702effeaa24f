/**
 * `deno task bench [--quick] [--json] [--only WORD] [--fs ext4]`: ferry side by
 * side with the rsync daemon, rsync over ssh and scp (each when installed),
 * over loopback, in one run, alternating tools, median of three. Makes its
 * own data in bench-data/: a large random file, a tree of small files in 100
 * folders, and a tree of 100,000 tiny files for the memory budget.
 *
 * `--fs ext4` (as root) writes on a loop-mounted ext4 image with a journal
 * (data=ordered, as Raspberry Pi OS mounts its root) instead of this
 * machine's file system, which has no journal and flushes unlike a Pi's.
 *
 * ferry runs as shipped: bundled into one file (`deno task bundle`, dist/)
 * under the shipped runtime flags.
 *
 * Measured per run: wall seconds, client CPU and peak RSS (GNU time), server
 * CPU (from /proc, per run) and peak RSS (VmHWM of a server started for the
 * scenario). Who flushes to disk: ferry by default (`--fsync=each`: every
 * file and its folder before it is acknowledged) and with `--fsync=batch`;
 * rsync only with --fsync (its own row); ferry --fsync=none, the rsync
 * daemon, rsync over ssh and scp never.
 *
 * @module
 */

import { SHIPPED_RUNTIME_FLAGS } from "./permissions.ts";
import { freePort, waitForPort } from "./_net.ts";

const quick = Deno.args.includes("--quick");
const asJson = Deno.args.includes("--json");
// `--only WORD`: run just the scenarios whose name contains WORD (for profiling one).
const onlyAt = Deno.args.indexOf("--only");
const only = onlyAt < 0 ? undefined : Deno.args[onlyAt + 1] ?? "";
const fsAt = Deno.args.indexOf("--fs");
const onExt4 = fsAt >= 0 && Deno.args[fsAt + 1] === "ext4";
if (fsAt >= 0 && !onExt4) throw new Error(`--fs takes "ext4", not "${Deno.args[fsAt + 1]}"`);
const BIG_BYTES = quick ? 128 * 1024 ** 2 : 1024 ** 3;
const HUGE_BYTES = quick ? 512 * 1024 ** 2 : 4 * 1024 ** 3;
const SMALL_FILES = quick ? 1_000 : 10_000;
const smallSize = (i: number) => 100 + ((i * 7919) % 8092);
const MANY_FILES = quick ? 10_000 : 100_000;
// The -z scenarios: a compressible tree of log files, sent over a link limited to 20 MiB/s.
const LOG_FILES = 20;
const LOG_BYTES = (quick ? 2 : 10) * 1024 ** 2;
const LINK_RATE = "20M";
const SMALL_BYTES = Array.from({ length: SMALL_FILES }, (_, i) => smallSize(i)).reduce(
  (a, b) => a + b,
  0,
);
const RUNS = 3;
const TOKEN = "bench-token-0123456789abcdef";
const root = new URL("..", import.meta.url).pathname;
const data = `${root}bench-data`;
// Clients read the token from a file, as the README sets them up, so the
// key cache spares them scrypt after the first run; servers take FERRY_TOKEN.
const tokenFile = `${data}/token`;
// ferry runs as it ships: one bundled file (as on a Pi, see the README), built
// afresh from this tree at the start, not the ~90 source modules, whose loading
// costs every run about 25 ms that no user pays.
const ferryBundle = `${root}dist/ferry.js`;
// Where the servers write and gets land: the journaled image with --fs ext4.
const written = onExt4 ? `${data}/ext4` : data;
const print = (line: string): void =>
  void Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
const log = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function makeData(): Promise<void> {
  if ((await Deno.readTextFile(tokenFile).catch(() => "")) !== TOKEN + "\n") {
    await Deno.mkdir(data, { recursive: true });
    await Deno.writeTextFile(tokenFile, TOKEN + "\n", { mode: 0o600 });
  }
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
  // The memory check only needs size, not entropy: a sparse file reads fast.
  const huge = `${data}/huge/huge.bin`;
  await Deno.mkdir(`${data}/huge`, { recursive: true });
  if ((await Deno.stat(huge).catch(() => null))?.size !== HUGE_BYTES) {
    await Deno.truncate(huge, 0).catch(() => {});
    using file = await Deno.open(huge, { write: true, create: true });
    await file.truncate(HUGE_BYTES);
  }
  await tree("small", `count-${SMALL_FILES}`, async () => {
    log(`bench: writing ${SMALL_FILES} small files`);
    for (let i = 0; i < SMALL_FILES; i++) {
      const dir = `${data}/src/small/d${i % 100}`;
      if (i < 100) await Deno.mkdir(dir, { recursive: true });
      await Deno.writeFile(
        `${dir}/f${i}.dat`,
        crypto.getRandomValues(new Uint8Array(smallSize(i))),
      );
    }
  });
  await tree("logs", `${LOG_FILES}x${LOG_BYTES}`, async () => {
    log(`bench: writing ${LOG_FILES} log files of ${LOG_BYTES} bytes`);
    await Deno.mkdir(`${data}/src/logs`, { recursive: true });
    for (let f = 0; f < LOG_FILES; f++) {
      await Deno.writeTextFile(`${data}/src/logs/app-${f}.log`, logText(f));
    }
  });
  await tree("many", `count-${MANY_FILES}`, () => {
    log(`bench: writing ${MANY_FILES} tiny files`);
    const bytes = new Uint8Array(64);
    for (let i = 0; i < MANY_FILES; i++) {
      const dir = `${data}/src/many/d${i % 1000}`;
      if (i < 1000) Deno.mkdirSync(dir, { recursive: true });
      Deno.writeFileSync(`${dir}/f${i}`, crypto.getRandomValues(bytes));
    }
    return Promise.resolve();
  });
}

/** MANY_FILES empty files in one folder, made in place (a send of them is not the point). */
async function flatFolder(path: string): Promise<void> {
  if (await exists(`${path}/f${MANY_FILES - 1}`)) return;
  log(`bench: making ${MANY_FILES} empty files in one folder`);
  Deno.mkdirSync(path, { recursive: true });
  for (let i = 0; i < MANY_FILES; i++) Deno.writeFileSync(`${path}/f${i}`, new Uint8Array(0));
}

/**
 * Makes the source tree `name` unless its marker file says it has the
 * `shape` asked for (a --quick run makes smaller trees, and says so there).
 */
async function tree(name: string, shape: string, make: () => Promise<void>): Promise<void> {
  const marker = `${data}/src/.${name}`;
  if ((await Deno.readTextFile(marker).catch(() => "")) === shape) return;
  await Deno.remove(marker).catch(() => {});
  await Deno.remove(`${data}/src/${name}`, { recursive: true }).catch(() => {});
  await make();
  await Deno.writeTextFile(marker, shape);
}

/**
 * LOG_BYTES of web-server-like log lines, varied by a simple generator so
 * that they compress as real logs do (about 5 to 10 times), not as a repeat.
 */
function logText(seed: number): string {
  const paths = ["/", "/api/v1/items", "/api/v1/users", "/static/app.js", "/login", "/health"];
  const agents = [
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64)",
    "ferry/0.2.0",
    "Go-http-client/1.1",
  ];
  let x = seed * 2654435761 + 1;
  const next = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < LOG_BYTES; i++) {
    const line = `2026-11-22T${String(next(24)).padStart(2, "0")}:${
      String(next(60)).padStart(2, "0")
    }:${String(next(60)).padStart(2, "0")}.${String(next(1000)).padStart(3, "0")}Z 10.0.${
      next(256)
    }.${next(256)} "GET ${paths[next(paths.length)]}?id=${next(100000)}" ${
      [200, 200, 200, 304, 404, 500][next(6)]
    } ${next(50000)} ${next(900)}ms "${agents[next(agents.length)]}" req=${seed}-${i}\n`;
    lines.push(line);
    length += line.length;
  }
  return lines.join("").slice(0, LOG_BYTES);
}

/**
 * Formats and mounts a journaled ext4 image at `written` (--fs ext4): 20 GiB,
 * sparse, enough for the 4 GiB file and every tool's copies.
 */
async function mountExt4(): Promise<void> {
  if (Deno.uid() !== 0) throw new Error("--fs ext4 mounts a loop image: run as root");
  const run = async (command: string, args: string[]) => {
    const result = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
      .output();
    if (!result.success) {
      throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(result.stderr)}`);
    }
  };
  await unmountExt4();
  const image = `${data}/ext4.img`;
  await Deno.remove(image).catch(() => {});
  using file = await Deno.open(image, { write: true, create: true });
  await file.truncate(20 * 1024 ** 3);
  log("bench: formatting a journaled ext4 image (data=ordered)");
  await run("mkfs.ext4", ["-q", "-F", "-O", "has_journal", image]);
  await Deno.mkdir(written, { recursive: true });
  await run("mount", ["-o", "loop,data=ordered", image, written]);
}

async function unmountExt4(): Promise<void> {
  await new Deno.Command("umount", { args: [written], stdout: "null", stderr: "null" }).output();
}

// Folders that a run empties are moved here and deleted only when the bench ends.
// Deleting 10,000 files right before a run makes that run's creates slow on an ext4
// without a journal, as this machine's is: for up to five minutes the kernel skips
// inodes freed recently (recently_deleted() in perf, 28% of the server's samples),
// rescanning them for every new file, so whoever ran right after a delete paid for it.
const trashEmptied = `${data}/.trash-emptied`;
const FREED_INODES_SETTLE_MS = 5 * 60_000;
let trashed = 0;

/** Empties `path` for the next run: files are deleted, folders moved to the trash. */
async function fresh(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  // A rename cannot cross file systems: the image keeps its own trash.
  const trash = path.startsWith(`${written}/`) ? `${written}/trash` : `${data}/trash`;
  await Deno.mkdir(trash, { recursive: true });
  for await (const entry of Deno.readDir(path)) {
    const inside = `${path}/${entry.name}`;
    if (entry.isDirectory) await Deno.rename(inside, `${trash}/${trashed++}`);
    else await Deno.remove(inside);
  }
}

async function emptyTrash(): Promise<void> {
  for (const trash of new Set([`${data}/trash`, `${written}/trash`])) {
    if (!await exists(trash)) continue;
    log("bench: deleting the emptied trees");
    await Deno.remove(trash, { recursive: true });
    await Deno.writeTextFile(trashEmptied, "");
  }
}

/** Waits until inodes freed by an earlier bench's cleanup can be reused (see `trash`). */
async function waitForFreedInodes(): Promise<void> {
  const emptied = (await Deno.stat(trashEmptied).catch(() => null))?.mtime?.getTime();
  const left = emptied === undefined ? 0 : emptied + FREED_INODES_SETTLE_MS - Date.now();
  if (left <= 0) return;
  log(`bench: waiting ${Math.ceil(left / 1000)} s for the inodes freed by the last cleanup`);
  await new Promise((resolve) => setTimeout(resolve, left));
}

/**
 * Writes every dirty page to disk before a measured run, so that no tool pays
 * for the writeback of the one before it (ferry's fsync otherwise waited behind
 * the gigabyte another tool had left in the page cache).
 */
async function settle(): Promise<void> {
  await new Deno.Command("sync").output();
}

/** One measured command. */
interface Sample {
  seconds: number;
  clientCpu: number;
  /** KiB, or 0 without GNU time. */
  clientRss: number;
  serverCpu: number;
}

const GNU_TIME = "/usr/bin/time";
const hasGnuTime = await exists(GNU_TIME);

/** Builds {@link ferryBundle} from this tree with `deno task bundle`, its one recipe. */
async function bundleFerry(): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "bundle"],
    cwd: root,
    stdout: "null",
  }).output();
  if (!result.success) {
    throw new Error(`deno task bundle failed: ${new TextDecoder().decode(result.stderr)}`);
  }
}

/** Runs a client command; wall time, and its CPU and peak RSS through GNU time. */
async function timed(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Omit<Sample, "serverCpu">> {
  const stats = await Deno.makeTempFile();
  const [program, programArgs] = hasGnuTime
    ? [GNU_TIME, ["-f", "%U %S %M", "-o", stats, command, ...args]]
    : [command, args];
  const started = performance.now();
  const result = await new Deno.Command(program, {
    args: programArgs,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const [user = 0, sys = 0, rss = 0] = hasGnuTime
    ? (await Deno.readTextFile(stats)).trim().split("\n").at(-1)!.split(" ").map(Number)
    : [];
  await Deno.remove(stats);
  if (!result.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed: ${new TextDecoder().decode(result.stderr)}`,
    );
  }
  return { seconds, clientCpu: user + sys, clientRss: rss };
}

/** A file under /proc/PID; Deno reads /proc only with --allow-all, cat needs just --allow-run. */
async function readProc(pid: number, file: string): Promise<string> {
  const read = new Deno.Command("cat", { args: [`/proc/${pid}/${file}`], stderr: "null" });
  return new TextDecoder().decode((await read.output()).stdout);
}

/** CPU seconds a running process has used, and its peak RSS in KiB, from /proc. */
async function processStats(pid: number | undefined): Promise<{ cpu: number; rss: number }> {
  if (pid === undefined) return { cpu: 0, rss: 0 };
  try {
    const stat = (await readProc(pid, "stat")).split(") ")[1]!.split(" ");
    const status = await readProc(pid, "status");
    const rss = Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? 0);
    // Fields 14-17: utime, stime, and those of reaped children (rsync and sshd fork
    // per connection), in clock ticks of 1/100 s.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(stat[i]), 0);
    return { cpu: ticks / 100, rss };
  } catch {
    return { cpu: 0, rss: 0 };
  }
}

/**
 * Waits (at most 5 s) until a forking daemon has reaped its per-connection
 * children, whose CPU only then counts in its own figures.
 */
async function childrenReaped(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  for (let tries = 0; tries < 100; tries++) {
    if ((await readProc(pid, `task/${pid}/children`)).trim() === "") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A background server process: started per scenario, so its peak RSS is that scenario's. */
class Server {
  #child: Deno.ChildProcess | undefined;
  #start: () => Deno.ChildProcess;
  #port: number | undefined;

  constructor(start: () => Deno.ChildProcess, port?: number) {
    this.#start = start;
    this.#port = port;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    this.#child = this.#start();
    if (this.#port !== undefined) await waitForPort(this.#port);
  }

  async stop(): Promise<void> {
    this.#child?.kill("SIGTERM");
    await this.#child?.status;
    this.#child = undefined;
  }
}

interface Tool {
  name: string;
  /** The scenarios it runs in, when not all (the --fsync variants of ferry). */
  only?: string[];
  /** The server side, or undefined when the tool has none of its own (scp uses sshd). */
  server: Server | undefined;
  /** Where the server side writes. */
  root: string;
  send(
    source: string,
    recursive: boolean,
    sync: boolean,
    extra?: string[],
  ): Promise<Omit<Sample, "serverCpu">>;
  get(
    source: string,
    recursive: boolean,
    dest: string,
    extra?: string[],
  ): Promise<Omit<Sample, "serverCpu">>;
  list?(folder: string): Promise<Omit<Sample, "serverCpu">>;
}

/** The 1 GiB scenarios. */
const BIG = ["send big file", "get big file"];
/** The scenarios that compare ferry with and without -z. */
const COMPRESSION_SCENARIOS = [...BIG, "send logs @20M", "get logs @20M"];

/**
 * ferry with the default `--fsync=each`, or with a variant asked for by the
 * client (its server's floor is `none`, so it serves what is asked), or with
 * `-z` (compressing, in the compression scenarios only).
 */
function ferryTool(fsync?: "batch" | "none", compress = false): Tool {
  const port = freePort();
  const variant = fsync ? `-${fsync}` : compress ? "-z" : "";
  const serverRoot = `${written}/ferry${variant}-root`;
  const asked = [...(fsync ? [`--fsync=${fsync}`] : []), ...(compress ? ["-z"] : [])];
  const ferry = (args: string[]) =>
    timed(Deno.execPath(), [
      "run",
      ...SHIPPED_RUNTIME_FLAGS,
      ferryBundle,
      ...args,
      "--token-file",
      tokenFile,
      "-P",
      String(port),
    ]);
  return {
    name: fsync ? `ferry ${fsync}` : compress ? "ferry -z" : "ferry",
    // --fsync=none also on the big file: scp and the rsync daemon never flush either.
    ...(fsync
      ? { only: ["send small tree", "get small tree", ...(fsync === "none" ? BIG : [])] }
      : {}),
    ...(compress ? { only: COMPRESSION_SCENARIOS } : {}),
    root: serverRoot,
    server: new Server(() =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...SHIPPED_RUNTIME_FLAGS,
          ferryBundle,
          "serve",
          ...(fsync ? ["--fsync", "none"] : []),
          serverRoot,
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
        ],
        env: { FERRY_TOKEN: TOKEN },
        stderr: "null",
        stdout: "null",
      }).spawn(), port),
    send: (source, recursive, sync, extra = []) =>
      ferry([
        "send",
        "-q",
        ...asked,
        ...extra,
        ...(recursive ? ["-r"] : []),
        ...(sync ? ["--sync"] : []),
        source,
        "127.0.0.1:/",
      ]),
    get: (source, recursive, dest, extra = []) =>
      ferry([
        "get",
        "-q",
        ...asked,
        ...extra,
        ...(recursive ? ["-r"] : []),
        `127.0.0.1:${source}`,
        dest,
      ]),
    list: (folder) => ferry(["ls", `127.0.0.1:${folder}`]),
  };
}

/** The rsync daemon on loopback; `fsync` adds --fsync (rsync 3.2.4+) on the receiving side. */
function rsyncDaemonTool(daemon: { server: Server; port: number }, fsync: boolean): Tool {
  const url = `rsync://127.0.0.1:${daemon.port}/bench`;
  const flags = fsync ? ["-a", "--fsync"] : ["-a"];
  return {
    name: fsync ? "rsync --fsync" : "rsync daemon",
    root: `${written}/rsync-root`,
    server: daemon.server,
    send: (source) => timed("rsync", [...flags, source, `${url}/`]),
    get: (source, _recursive, dest) => timed("rsync", [...flags, `${url}/${source}`, dest]),
    list: (folder) => timed("rsync", [`${url}/${folder}/`]),
  };
}

function rsyncDaemon(): { server: Server; port: number } {
  const port = freePort();
  const config = `${data}/rsyncd.conf`;
  return {
    port,
    server: new Server(() => {
      Deno.writeTextFileSync(
        config,
        `[bench]\npath = ${written}/rsync-root\nread only = false\nuse chroot = false\nuid = root\ngid = root\n`,
      );
      return new Deno.Command("rsync", {
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
    }, port),
  };
}

/**
 * sshd on a loopback port with a throwaway host key and client key, for rsync
 * over ssh and scp. Undefined when sshd is not installed (openssh-server).
 */
async function sshPeer(): Promise<{ server: Server; ssh: string[]; port: number } | undefined> {
  const sshd = "/usr/sbin/sshd";
  if (!await exists(sshd) || Deno.uid() !== 0) return undefined;
  const dir = `${data}/ssh`;
  await fresh(dir);
  for (const key of ["host", "client"]) {
    await new Deno.Command("ssh-keygen", {
      args: ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/${key}`],
    }).output();
  }
  await Deno.copyFile(`${dir}/client.pub`, `${dir}/authorized_keys`);
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/sshd_config`,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${dir}/host`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "StrictModes no",
      `PidFile ${dir}/sshd.pid`,
      // scp speaks SFTP since OpenSSH 9.
      "Subsystem sftp internal-sftp",
    ].join("\n") + "\n",
  );
  await Deno.mkdir("/run/sshd", { recursive: true }).catch(() => {});
  const ssh = [
    "-i",
    `${dir}/client`,
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
  ];
  return {
    port,
    ssh,
    server: new Server(() =>
      new Deno.Command(sshd, {
        args: ["-D", "-e", "-f", `${dir}/sshd_config`],
        stdout: "null",
        stderr: "null",
      }).spawn(), port),
  };
}

function rsyncSshTool(peer: { server: Server; ssh: string[]; port: number }): Tool {
  const shell = ["ssh", "-p", String(peer.port), ...peer.ssh].join(" ");
  const serverRoot = `${written}/ssh-root`;
  return {
    name: "rsync over ssh",
    root: serverRoot,
    server: peer.server,
    send: (source) => timed("rsync", ["-a", "-e", shell, source, `127.0.0.1:${serverRoot}/`]),
    get: (source, _recursive, dest) =>
      timed("rsync", ["-a", "-e", shell, `127.0.0.1:${serverRoot}/${source}`, dest]),
  };
}

function scpTool(peer: { server: Server; ssh: string[]; port: number }): Tool {
  const serverRoot = `${written}/scp-root`;
  const scp = (args: string[]) =>
    timed("scp", ["-q", "-P", String(peer.port), ...peer.ssh, ...args]);
  return {
    name: "scp",
    root: serverRoot,
    server: peer.server,
    send: (source, recursive) =>
      scp([...(recursive ? ["-r"] : []), source, `127.0.0.1:${serverRoot}/`]),
    get: (source, recursive, dest) =>
      scp([...(recursive ? ["-r"] : []), `127.0.0.1:${serverRoot}/${source}`, dest]),
  };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Scenario {
  name: string;
  bytes: number;
  files: number;
  /** Put the server side in the state the scenario starts from (not measured). */
  prepare?(tool: Tool, run: number): Promise<void>;
  /**
   * Empties where the run writes, after the disk flush and right before the
   * run. This VM hands memory freed for a few seconds back to its host, and
   * touching it again costs a fault per page (a 1 GiB write took 0.2 s on
   * recycled pages and 2.5 s after a 15 s pause); deleting the previous
   * output just before the run gives every tool the same recycled pages.
   */
  clear?(tool: Tool): Promise<void>;
  run(tool: Tool): Promise<Omit<Sample, "serverCpu">> | undefined;
}

interface Result {
  scenario: string;
  tool: string;
  seconds: number;
  mbPerSecond: number;
  filesPerSecond: number;
  clientCpu: number;
  serverCpu: number;
  clientRssMiB: number;
  serverRssMiB: number;
}

async function main(): Promise<void> {
  await makeData();
  if (onExt4) await mountExt4();
  try {
    await measure();
  } finally {
    if (onExt4) await unmountExt4();
  }
}

async function measure(): Promise<void> {
  await emptyTrash(); // left by an interrupted run
  await bundleFerry();
  await waitForFreedInodes();
  // Spawning a missing program throws before output() returns a promise.
  const hasRsync = await Promise.resolve()
    .then(() => new Deno.Command("rsync", { args: ["--version"], stdout: "null" }).output())
    .then((r) => r.success, () => false);
  const daemon = hasRsync ? rsyncDaemon() : undefined;
  const peer = await sshPeer();
  const tools: Tool[] = [
    ferryTool(),
    ferryTool("batch"),
    ferryTool("none"),
    ferryTool(undefined, true),
    ...(daemon ? [rsyncDaemonTool(daemon, false), rsyncDaemonTool(daemon, true)] : []),
    ...(peer && hasRsync ? [rsyncSshTool(peer)] : []),
    ...(peer ? [scpTool(peer)] : []),
  ];
  if (peer === undefined) log("bench: no sshd (openssh-server) or not root: no ssh peers");
  const back = `${written}/back`;
  const sendFresh = async (tool: Tool) => await fresh(tool.root);
  const scenarios: Scenario[] = [
    {
      name: "send big file",
      bytes: BIG_BYTES,
      files: 1,
      clear: sendFresh,
      run: (t) => t.send(`${data}/src/big.bin`, false, false),
    },
    {
      name: "send small tree",
      bytes: SMALL_BYTES,
      files: SMALL_FILES,
      clear: sendFresh,
      run: (t) => t.send(`${data}/src/small`, true, false),
    },
    {
      name: "sync unchanged",
      bytes: SMALL_BYTES,
      files: SMALL_FILES,
      prepare: async (t, run) => {
        if (run === 0) await sendFresh(t), await t.send(`${data}/src/small`, true, false);
      },
      // scp has no sync: it would copy everything again.
      run: (t) => t.name === "scp" ? undefined : t.send(`${data}/src/small`, true, true),
    },
    {
      name: "get big file",
      bytes: BIG_BYTES,
      files: 1,
      prepare: async (t, run) => {
        if (run === 0) await sendFresh(t), await t.send(`${data}/src/big.bin`, false, false);
      },
      clear: () => fresh(back),
      run: (t) => t.get("big.bin", false, `${back}/`),
    },
    {
      name: "get small tree",
      bytes: SMALL_BYTES,
      files: SMALL_FILES,
      prepare: async (t, run) => {
        if (run === 0) await sendFresh(t), await t.send(`${data}/src/small`, true, false);
      },
      clear: () => fresh(back),
      run: (t) => t.get("small", true, `${back}/`),
    },
    {
      // Only ferry and ferry -z, over a link of 20 MiB/s (--limit-rate).
      name: "send logs @20M",
      bytes: LOG_FILES * LOG_BYTES,
      files: LOG_FILES,
      clear: sendFresh,
      run: (t) =>
        t.name.startsWith("ferry")
          ? t.send(`${data}/src/logs`, true, false, ["--limit-rate", LINK_RATE])
          : undefined,
    },
    {
      name: "get logs @20M",
      bytes: LOG_FILES * LOG_BYTES,
      files: LOG_FILES,
      prepare: async (t, run) => {
        if (run === 0 && t.name.startsWith("ferry")) {
          await sendFresh(t), await t.send(`${data}/src/logs`, true, false);
        }
      },
      clear: () => fresh(back),
      run: (t) =>
        t.name.startsWith("ferry")
          ? t.get("logs", true, `${back}/`, ["--limit-rate", LINK_RATE])
          : undefined,
    },
    {
      name: "ls small folder",
      bytes: 0,
      files: SMALL_FILES / 100,
      // The tree is there after the scenarios before; with --only it is sent first.
      prepare: async (t, run) => {
        if (run === 0 && !await exists(`${t.root}/small`)) {
          await t.send(`${data}/src/small`, true, false);
        }
      },
      run: (t) => t.list?.("small/d1"),
    },
    {
      name: `send ${HUGE_BYTES / 1024 ** 3} GiB (RSS)`,
      bytes: HUGE_BYTES,
      files: 1,
      clear: sendFresh,
      // Once, for ferry only: the memory budget, not a race.
      run: (t) => t.name === "ferry" ? t.send(`${data}/huge/huge.bin`, false, false) : undefined,
    },
    {
      name: `get ${HUGE_BYTES / 1024 ** 3} GiB (RSS)`,
      bytes: HUGE_BYTES,
      files: 1,
      prepare: async (t) => {
        if (t.name === "ferry" && !await exists(`${t.root}/huge.bin`)) {
          await t.send(`${data}/huge/huge.bin`, false, false);
        }
      },
      clear: () => fresh(back),
      run: (t) => t.name === "ferry" ? t.get("huge.bin", false, `${back}/`) : undefined,
    },
    {
      name: `send ${MANY_FILES / 1000}k files (RSS)`,
      bytes: 0,
      files: MANY_FILES,
      clear: sendFresh,
      run: (t) => t.name === "ferry" ? t.send(`${data}/src/many`, true, false) : undefined,
    },
    {
      name: `get ${MANY_FILES / 1000}k files (RSS)`,
      bytes: 0,
      files: MANY_FILES,
      prepare: async (t) => {
        if (t.name === "ferry" && !await exists(`${t.root}/many`)) {
          await t.send(`${data}/src/many`, true, false);
        }
      },
      clear: () => fresh(back),
      run: (t) => t.name === "ferry" ? t.get("many", true, `${back}/`) : undefined,
    },
    {
      // The server's memory for a listing that is streamed, not built whole.
      name: `ls ${MANY_FILES / 1000}k-entry folder (RSS)`,
      bytes: 0,
      files: MANY_FILES,
      prepare: async (t) => {
        if (t.name === "ferry") await flatFolder(`${t.root}/flat`);
      },
      run: (t) => t.name === "ferry" ? t.list?.("flat") : undefined,
    },
  ];
  const results: Result[] = [];
  for (const scenario of scenarios) {
    if (only !== undefined && !scenario.name.includes(only)) continue;
    const taking = tools.filter((t) => t.only === undefined || t.only.includes(scenario.name));
    const servers = [...new Set(taking.map((t) => t.server).filter((s) => s !== undefined))];
    // A server refuses a root that does not exist yet (fresh bench-data).
    for (const tool of taking) await Deno.mkdir(tool.root, { recursive: true });
    for (const server of servers) await server.start();
    try {
      const samples = new Map<string, Sample[]>(taking.map((t) => [t.name, []]));
      const runs = scenario.name.includes("RSS") ? 1 : RUNS;
      for (let run = 0; run < runs; run++) {
        // Every other run in reverse, so no tool always follows the same one: this VM
        // pages out memory idle for about a second (a DAMON "pageout" scheme) and
        // returns it to its host, so a tool that ran while the disk flushed what an
        // unflushing tool left (scp) wrote into cold memory, at 2.5 s per GiB.
        for (const tool of run % 2 === 0 ? taking : [...taking].reverse()) {
          await scenario.prepare?.(tool, run);
          await settle();
          await scenario.clear?.(tool);
          const before = await processStats(tool.server?.pid);
          const measuring = scenario.run(tool);
          if (measuring === undefined) continue;
          const sample = await measuring;
          await childrenReaped(tool.server?.pid);
          const after = await processStats(tool.server?.pid);
          samples.get(tool.name)!.push({ ...sample, serverCpu: after.cpu - before.cpu });
        }
      }
      for (const tool of taking) {
        const taken = samples.get(tool.name)!;
        if (taken.length === 0) continue;
        const seconds = median(taken.map((s) => s.seconds));
        results.push({
          scenario: scenario.name,
          tool: tool.name,
          seconds,
          mbPerSecond: scenario.bytes / 1e6 / seconds,
          filesPerSecond: scenario.files / seconds,
          clientCpu: median(taken.map((s) => s.clientCpu)),
          serverCpu: median(taken.map((s) => s.serverCpu)),
          clientRssMiB: Math.max(...taken.map((s) => s.clientRss)) / 1024,
          serverRssMiB: (await processStats(tool.server?.pid)).rss / 1024,
        });
      }
    } finally {
      for (const server of servers) await server.stop();
    }
  }
  await emptyTrash();
  if (asJson) {
    return print(
      JSON.stringify({
        date: new Date().toISOString(),
        quick,
        fileSystem: onExt4 ? "ext4 image, journal, data=ordered" : "this machine's",
        bigBytes: BIG_BYTES,
        smallFiles: SMALL_FILES,
        results,
      }),
    );
  }
  print(
    `ferry benchmark, ${
      new Date().toISOString().slice(0, 10)
    }, ${Deno.build.target}, ${navigator.hardwareConcurrency} cores, median of ${RUNS}. ` +
      `Written to ${onExt4 ? "a journaled ext4 image (data=ordered)" : "this machine's disk"}. ` +
      `Flush to disk: ferry and "ferry batch" yes, "rsync --fsync" yes; ` +
      `"ferry none", rsync daemon, rsync over ssh, scp no.`,
  );
  print(
    "scenario              tool              seconds     MB/s  files/s  cpu c/s s   rss c/s MiB  vs rsync  vs --fsync",
  );
  for (const r of results) {
    const ratio = (peer: string) => {
      const other = results.find((x) => x.scenario === r.scenario && x.tool === peer);
      return other ? (r.seconds / other.seconds).toFixed(2) + "x" : "-";
    };
    print(
      r.scenario.padEnd(22) + r.tool.padEnd(16) + r.seconds.toFixed(3).padStart(9) +
        (r.mbPerSecond === 0 ? "-" : r.mbPerSecond.toFixed(0)).padStart(9) +
        r.filesPerSecond.toFixed(0).padStart(9) +
        `${r.clientCpu.toFixed(2)}/${r.serverCpu.toFixed(2)}`.padStart(12) +
        `${r.clientRssMiB.toFixed(0)}/${r.serverRssMiB.toFixed(0)}`.padStart(13) +
        ratio("rsync daemon").padStart(10) + ratio("rsync --fsync").padStart(12),
    );
  }
}

await main();
