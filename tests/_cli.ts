// The command line as a subprocess: main.ts run with the shipped permissions,
// and `ferry serve` started on a free loopback port.

import { MAIN, SHIPPED_RUNTIME_FLAGS, TOKEN } from "./_helpers.ts";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// The key cache of token files (lib/config/key_cache.ts) goes here, not
// into the home folder of whoever runs the tests. Deno's own cache follows
// XDG_CACHE_HOME too, so it is pinned where it was.
const KEY_CACHE_HOME = Deno.makeTempDirSync({ prefix: "ferry-test-cache-" });
globalThis.addEventListener("unload", () => Deno.removeSync(KEY_CACHE_HOME, { recursive: true }));
const DENO_DIR = Deno.env.get("DENO_DIR") ||
  `${Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`}/deno`;

export function ferryCommand(
  args: string[],
  env: Record<string, string> = {},
  stdin: "null" | "piped" = "null",
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...SHIPPED_RUNTIME_FLAGS, MAIN, ...args],
    env: { FERRY_TOKEN: TOKEN, NO_COLOR: "1", XDG_CACHE_HOME: KEY_CACHE_HOME, DENO_DIR, ...env },
    stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

export async function ferry(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const output = await ferryCommand(args, env).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** A `ferry serve` subprocess; killed at the end of the scope. */
export interface ServeProcess extends AsyncDisposable {
  port: number;
  child: Deno.ChildProcess;
  /** SIGTERM, then the exit code and everything it logged. */
  stop(): Promise<{ code: number; log: string }>;
}

/** `ferry serve` as a subprocess; resolves once it printed its address. */
export async function serveProcess(
  root: string,
  extra: string[] = [],
  env: Record<string, string> = {},
  port = 0,
): Promise<ServeProcess> {
  const child = ferryCommand(
    ["serve", root, "--host", "127.0.0.1", "--port", String(port), ...extra],
    env,
  )
    .spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  let bound = 0;
  while (bound === 0) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`serve exited early: ${log}`);
    log += value;
    const match = log.match(/serving ".*" on 127\.0\.0\.1:(\d+)/);
    if (match) bound = Number(match[1]);
  }
  const rest = (async () => {
    for (let r = await lines.read(); !r.done; r = await lines.read()) log += r.value;
    return log;
  })();
  await child.stdout.cancel();
  return {
    port: bound,
    child,
    async stop(): Promise<{ code: number; log: string }> {
      child.kill("SIGTERM");
      const status = await child.status;
      return { code: status.code, log: await rest };
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await rest;
    },
  };
}
