// ferry from outside its repository: a script elsewhere imports mod.ts by
// path, and `deno install -g` makes a `ferry` command, each with no
// --config and exactly the shipped permissions.

import { assert, assertEquals } from "./_assert.ts";
import {
  SHIPPED_PERMISSIONS,
  SHIPPED_RUNTIME_FLAGS,
  startServer,
  tempDir,
  TOKEN,
} from "./_helpers.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const MAIN = new URL("../main.ts", import.meta.url).href;

async function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const output = await new Deno.Command(command, { args, cwd, env, stdin: "null" }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("a script in another folder imports mod.ts by path: connect, put, open, list, a cancelled send and the next one", async () => {
  await using root = await tempDir();
  await using elsewhere = await tempDir();
  await using server = await startServer(root.path);
  await Deno.writeFile(`${elsewhere.path}/big.bin`, new Uint8Array(16 * 1024 * 1024));
  await Deno.writeTextFile(
    `${elsewhere.path}/script.ts`,
    `import { connect, FerryError } from "${MOD}";

const client = await connect({ host: "127.0.0.1", port: ${server.port}, token: Deno.env.get("FERRY_TOKEN")! });
const stored = await client.put("inbox/hello.txt", new TextEncoder().encode("hello"));
console.log("put", stored.path, stored.size, stored.digest);
const file = await client.open("inbox/hello.txt");
console.log("open", file.size, await new Response(file.readable).text());
for await (const entry of client.list("inbox")) console.log("list", entry.path, entry.type);
const controller = new AbortController();
try {
  await client.send(["big.bin"], "inbox/", {
    signal: controller.signal,
    limitRate: 8 * 1024 * 1024,
    onProgress: (p) => p.bytesDone > 1024 * 1024 && controller.abort(),
  });
} catch (error) {
  console.log("cancelled", (error as FerryError).code);
}
const sent = await client.send(["big.bin"], "inbox/");
console.log("sent", sent.files, sent.bytes);
await client.close();
`,
  );
  const result = await run(
    Deno.execPath(),
    ["run", ...SHIPPED_PERMISSIONS, "script.ts"],
    elsewhere.path,
    { FERRY_TOKEN: TOKEN, NO_COLOR: "1" },
  );
  assertEquals(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert(lines[0]!.startsWith("put inbox/hello.txt 5 "), lines[0]);
  assertEquals(lines.slice(1), [
    "open 5 hello",
    "list inbox/hello.txt file",
    "cancelled aborted",
    `sent 1 ${16 * 1024 * 1024}`,
  ]);
  assertEquals((await Deno.stat(`${root.path}/inbox/big.bin`)).size, 16 * 1024 * 1024);
});

Deno.test("deno install -g gives a ferry command that works from any folder with the shipped permissions", async () => {
  await using install = await tempDir();
  await using root = await tempDir();
  await using server = await startServer(root.path);
  const installed = await run(
    Deno.execPath(),
    ["install", "-g", "--root", install.path, "--name", "ferry", ...SHIPPED_RUNTIME_FLAGS, MAIN],
    install.path,
  );
  assertEquals(installed.code, 0, installed.stderr);
  const ferry = `${install.path}/bin/ferry`;
  const script = await Deno.readTextFile(ferry);
  for (const flag of SHIPPED_RUNTIME_FLAGS) assert(script.includes(flag), flag);
  await Deno.writeTextFile(`${install.path}/note.txt`, "from anywhere");
  const sent = await run(
    ferry,
    ["send", "note.txt", `ferry://127.0.0.1:${server.port}/`],
    install.path,
    { FERRY_TOKEN: TOKEN, PATH: Deno.env.get("PATH") ?? "", HOME: install.path },
  );
  assertEquals(sent.code, 0, sent.stderr);
  assertEquals(await Deno.readTextFile(`${root.path}/note.txt`), "from anywhere");
});
