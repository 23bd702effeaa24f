/**
 * `deno task test:arm`: ferry on 64-bit ARM, under emulation, talking to
 * ferry on x86-64 over loopback. The ARM side is Deno's aarch64 build from
 * npm (`@deno/linux-arm64-glibc`) run by `qemu-aarch64-static` with Debian's
 * ARM64 C libraries; both sides run the single-file bundle (dist/ferry.js),
 * which is what a Raspberry Pi runs when no compiled binary is at hand.
 *
 * Checked both ways (ARM server with x86 client, x86 server with ARM client):
 * send, get, ls, mkdir and rm, bytes compared. Slow by nature (each ARM
 * process start is a few seconds of emulation), so it is its own task.
 *
 * @module
 */

import { SHIPPED_RUNTIME_FLAGS } from "./permissions.ts";

// npm has no arm64 build of 2.9.6 (the x86 version CI installs); 2.9.5 is the
// nearest, and the protocol does not depend on the Deno patch version.
const ARM_DENO_VERSION = "2.9.5";
const ARM_SYSROOT = "/usr/aarch64-linux-gnu";
const TOKEN = "arm-test-token-0123456789abcdef";
const root = new URL("..", import.meta.url).pathname;
const cache = `${root}.cache/deno-arm64-${ARM_DENO_VERSION}`;
const bundle = `${root}dist/ferry.js`;

async function run(command: string, args: string[], cwd = root) {
  const output = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Finds or fetches what the ARM side needs; throws naming what is missing and how to get it. */
async function armDeno(): Promise<string> {
  const missing: string[] = [];
  if ((await run("sh", ["-c", "command -v qemu-aarch64-static"])).code !== 0) {
    missing.push("qemu-aarch64-static (apt-get install -y qemu-user-static)");
  }
  if (!await exists(`${ARM_SYSROOT}/lib/ld-linux-aarch64.so.1`)) {
    missing.push(`the ARM64 C library in ${ARM_SYSROOT} (apt-get install -y libc6-arm64-cross)`);
  }
  if (!await exists(`${ARM_SYSROOT}/lib/libgcc_s.so.1`)) {
    missing.push(`libgcc_s for ARM64 (apt-get install -y libgcc-s1-arm64-cross)`);
  }
  if (missing.length > 0) throw new Error(`test:arm needs: ${missing.join("; ")}`);
  const binary = `${cache}/package/deno`;
  if (!await exists(binary)) {
    await Deno.mkdir(cache, { recursive: true });
    const packed = await run("npm", ["pack", `@deno/linux-arm64-glibc@${ARM_DENO_VERSION}`], cache);
    const tarball = packed.stdout.trim().split("\n").at(-1) ?? "";
    if (packed.code !== 0 || (await run("tar", ["xzf", tarball], cache)).code !== 0) {
      throw new Error(
        `test:arm could not fetch @deno/linux-arm64-glibc@${ARM_DENO_VERSION} from npm: ${packed.stderr}`,
      );
    }
  }
  return binary;
}

type Side = "x86" | "arm";
let armBinary = "";

/** The command line that runs the bundle on one side. */
function ferryArgs(side: Side, args: string[]): [string, string[]] {
  const denoArgs = ["run", ...SHIPPED_RUNTIME_FLAGS, bundle, ...args];
  return side === "x86"
    ? [Deno.execPath(), denoArgs]
    : ["qemu-aarch64-static", ["-L", ARM_SYSROOT, armBinary, ...denoArgs]];
}

function ferryCommand(side: Side, args: string[], stdin: "null" | "piped" = "null") {
  const [command, commandArgs] = ferryArgs(side, args);
  return new Deno.Command(command, {
    args: commandArgs,
    env: { FERRY_TOKEN: TOKEN, NO_COLOR: "1" },
    stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

async function ferry(side: Side, args: string[]) {
  const output = await ferryCommand(side, args).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** `ferry serve` on one side; resolves with its port once it listens. */
async function serve(side: Side, folder: string) {
  const child = ferryCommand(side, ["serve", folder, "--host", "127.0.0.1", "--port", "0"])
    .spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    log += value;
    const match = log.match(/on 127\.0\.0\.1:(\d+)/);
    // The line after it says whether openat2 confines paths there (under qemu too).
    const confinement = log.match(/ferry: (?:warning: )?(.*confine.*)\n/);
    if (match && confinement) {
      Deno.stderr.writeSync(new TextEncoder().encode(`${side} server: ${confinement[1]}\n`));
      const draining = (async () => {
        while (!(await reader.read()).done) { /* keep the pipe flowing */ }
      })();
      await child.stdout.cancel();
      return {
        port: Number(match[1]),
        async [Symbol.asyncDispose]() {
          child.kill("SIGTERM");
          await child.status;
          await draining;
        },
      };
    }
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error(`serve on ${side} did not start: ${log}`);
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`failed: ${what}`);
}

async function exercise(serverSide: Side, clientSide: Side): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: `ferry-arm-${serverSide}-` });
  try {
    const served = `${work}/served`;
    const local = `${work}/local`;
    await Deno.mkdir(served);
    await Deno.mkdir(`${local}/tree/sub`, { recursive: true });
    // Bigger than one DATA frame, with a pattern that shows any reordering.
    const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31 + (i >> 11)) & 0xff);
    await Deno.writeFile(`${local}/tree/big.bin`, big);
    await Deno.writeTextFile(`${local}/tree/sub/note.txt`, `from ${clientSide}`);
    await using server = await serve(serverSide, served);
    const at = (path: string) => `ferry://127.0.0.1:${server.port}/${path}`;
    const step = async (args: string[], what: string) => {
      const result = await ferry(clientSide, args);
      check(result.code === 0, `${what}: exit ${result.code} ${result.stderr}`);
      return result;
    };
    await step(["mkdir", at("incoming")], "mkdir");
    await step(["send", "-r", `${local}/tree`, at("incoming/")], "send -r");
    check(
      equal(await Deno.readFile(`${served}/incoming/tree/big.bin`), big),
      "sent bytes are identical",
    );
    const listing = await step(["ls", "-R", at("incoming")], "ls -R");
    check(
      listing.stdout === "tree\ntree/big.bin\ntree/sub\ntree/sub/note.txt\n",
      `ls -R output: ${JSON.stringify(listing.stdout)}`,
    );
    await step(["get", "-r", at("incoming/tree"), `${work}/back/`], "get -r");
    check(equal(await Deno.readFile(`${work}/back/tree/big.bin`), big), "got bytes are identical");
    check(
      await Deno.readTextFile(`${work}/back/tree/sub/note.txt`) === `from ${clientSide}`,
      "got text is identical",
    );
    await step(["rm", "-r", at("incoming/tree")], "rm -r");
    check(!await exists(`${served}/incoming/tree`), "rm removed the tree");
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

async function seconds(side: Side, args: string[]): Promise<number> {
  const started = performance.now();
  await ferry(side, args);
  return (performance.now() - started) / 1000;
}

Deno.test({
  name: "ferry on ARM64 (qemu) and x86-64 interoperate both ways: send, get, ls, mkdir, rm",
  sanitizeResources: false,
  fn: async (t) => {
    armBinary = await armDeno();
    const bundled = await run(Deno.execPath(), ["task", "bundle"]);
    check(bundled.code === 0, `deno task bundle: ${bundled.stderr}`);
    await t.step("ARM server, x86 client", () => exercise("arm", "x86"));
    await t.step("x86 server, ARM client", () => exercise("x86", "arm"));
    // Start-up cost, for the record (not asserted: timing belongs to the benchmark).
    const x86 = await seconds("x86", ["--version"]);
    const arm = await seconds("arm", ["--version"]);
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `start-up of "ferry --version" from the bundle: x86 ${x86.toFixed(2)} s, ARM under qemu ${
          arm.toFixed(2)
        } s\n`,
      ),
    );
  },
});
