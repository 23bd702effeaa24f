/**
 * `deno task compile`: standalone binaries for x86-64 and 64-bit ARM Linux in
 * dist/, with the shipped permissions baked in, and each binary's size and
 * SHA-256. `deno compile` downloads its runtime (denort) for each target;
 * where Deno's download server is unreachable this stops at once and says so.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { SHIPPED_RUNTIME_FLAGS } from "./permissions.ts";

const TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"];
const root = new URL("..", import.meta.url).pathname;
const print = (line: string) => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

await Deno.mkdir(`${root}dist`, { recursive: true });
for (const target of TARGETS) {
  const output = `${root}dist/ferry-${target}`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "--target",
      target,
      "--output",
      output,
      ...SHIPPED_RUNTIME_FLAGS,
      `${root}main.ts`,
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) {
    Deno.stderr.writeSync(result.stderr);
    if (/download|dl\.deno\.land|denort|dns|connect/i.test(stderr)) {
      print(
        `compile: cannot fetch Deno's runtime for ${target}: this machine cannot reach Deno's download server.`,
      );
      print(
        "compile: run this task on a machine with internet access, or use the source: " +
          `deno run ${SHIPPED_RUNTIME_FLAGS.join(" ")} main.ts`,
      );
    }
    Deno.exit(1);
  }
  const bytes = await Deno.readFile(output);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  print(
    `ferry ${denoJson.version} ${target}: ${output} ${
      (bytes.length / 1024 / 1024).toFixed(1)
    } MiB sha256 ${hex}`,
  );
}
