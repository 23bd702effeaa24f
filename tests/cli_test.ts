// The command line as users and cron run it: real subprocesses of main.ts
// with the shipped permissions, real servers, real exit codes.

import { assert, assertEquals } from "./_assert.ts";
import { TEMP_PREFIX } from "../lib/fs/temporary.ts";
import { ferry, ferryCommand, serveProcess } from "./_cli.ts";
import { generateToken } from "../lib/config/token.ts";
import {
  corruptingProxy,
  exists,
  freePort,
  listTree,
  patternBytes,
  tempDir,
  TOKEN,
  waitFor,
} from "./_helpers.ts";

Deno.test("ferry --version, --help and usage errors exit 0 and 2", async () => {
  const version = await ferry(["--version"]);
  assertEquals(version.code, 0);
  assert(/^ferry \d+\.\d+\.\d+/.test(version.stdout));
  for (const command of ["serve", "send", "get", "mkdir", "rm", "mv"]) {
    const help = await ferry([command, "--help"]);
    assertEquals(help.code, 0);
    assert(help.stdout.startsWith(`Usage: ferry ${command}`));
  }
  assertEquals((await ferry(["frobnicate"])).code, 2);
  assertEquals((await ferry(["send", "--bogus", "a", "h:b"])).code, 2);
  await using local = await tempDir();
  const folder = await ferry(["send", local.path, "127.0.0.1:x"]);
  assertEquals(folder.code, 2, "a folder without -r is a usage error, before any connection");
  assert(folder.stderr.includes("use -r"));
  assertEquals((await ferry(["send", `${local.path}/missing`, "127.0.0.1:x"])).code, 4);
});

Deno.test("a folder without -r is the same usage error, exit 2, for send and for get", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${root.path}/photos`);
  await Deno.writeTextFile(`${root.path}/photos/a.jpg`, "a");
  await Deno.mkdir(`${local.path}/photos`);
  await using server = await serveProcess(root.path);
  const address = `ferry://127.0.0.1:${server.port}`;
  const send = await ferry(["send", `${local.path}/photos`, `${address}/`]);
  const get = await ferry(["get", `${address}/photos`, `${local.path}/out`]);
  for (const run of [send, get]) {
    assertEquals(run.code, 2, run.stderr);
    assert(run.stderr.includes("is a folder: use -r"), run.stderr);
  }
  assertEquals(await exists(`${local.path}/out`), false, "get wrote nothing");
  assertEquals(await listTree(root.path), ["photos", "photos/a.jpg"], "send stored nothing");
});

Deno.test("serve, send -r and get -r from the command line, with a JSON summary", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${local.path}/tree/sub`, { recursive: true });
  await Deno.writeFile(`${local.path}/tree/a.bin`, patternBytes(300_000));
  await Deno.writeTextFile(`${local.path}/tree/sub/b.txt`, "b");
  await using server = await serveProcess(root.path, ["--log", "json"]);
  const sent = await ferry([
    "send",
    "-r",
    "--json",
    `${local.path}/tree`,
    `127.0.0.1:backup/`,
    "-P",
    String(server.port),
  ]);
  assertEquals(sent.code, 0, sent.stderr);
  const summary = JSON.parse(sent.stdout);
  assertEquals([
    summary.files,
    summary.bytes,
    summary.skipped,
    summary.errors,
    typeof summary.seconds,
  ], [2, 300_001, 0, 0, "number"]);
  const got = await ferry([
    "get",
    "-r",
    "-q",
    `ferry://127.0.0.1:${server.port}/backup/tree`,
    `${local.path}/copy`,
  ]);
  assertEquals([got.code, got.stdout, got.stderr], [0, "", ""]);
  assertEquals(await Deno.readFile(`${local.path}/copy/a.bin`), patternBytes(300_000));
  const stopped = await server.stop();
  assertEquals(stopped.code, 0);
  const events = stopped.log.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  assertEquals(events.filter((e) => e.action === "put" && e.ok).length, 2);
});

Deno.test("a wrong or missing token exits 3 and writes nothing", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await using home = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "f");
  await using server = await serveProcess(root.path);
  const address = `ferry://127.0.0.1:${server.port}/f`;
  const wrong = await ferry(["send", `${local.path}/f`, address], {
    FERRY_TOKEN: "a-wrong-token-of-length",
  });
  assertEquals(wrong.code, 3);
  assert(wrong.stderr.includes("token"), wrong.stderr);
  const missing = await ferry(["send", `${local.path}/f`, address], {
    FERRY_TOKEN: "",
    HOME: home.path,
    XDG_CONFIG_HOME: "",
  });
  assertEquals(missing.code, 3);
  assert(missing.stderr.includes("No token"), missing.stderr);
  const json = await ferry(["send", "--json", `${local.path}/f`, address], {
    FERRY_TOKEN: "a-wrong-token-of-length",
  });
  assertEquals(JSON.parse(json.stderr).code, "auth_failed");
  assertEquals(await listTree(root.path), []);
});

Deno.test("paths that leave the root exit 3; a missing remote file exits 4", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "f");
  await using server = await serveProcess(root.path);
  for (const dest of ["../x", "/../../etc/x", "a/../../b"]) {
    const run = await ferry([
      "send",
      `${local.path}/f`,
      `127.0.0.1:${dest}`,
      "-P",
      String(server.port),
    ]);
    assertEquals(run.code, 3, `${dest}: ${run.stderr}`);
    assert(run.stderr.includes("Refused path"), run.stderr);
  }
  const missing = await ferry(["get", "127.0.0.1:nope.txt", local.path, "-P", String(server.port)]);
  assertEquals(missing.code, 4);
  assertEquals(await listTree(root.path), []);
});

Deno.test("a transfer altered on the way exits non-zero and leaves the old file", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/data.bin`, "old");
  await Deno.writeFile(`${local.path}/data.bin`, patternBytes(1024 * 1024));
  await using server = await serveProcess(root.path);
  await using proxy = corruptingProxy(server.port, "to-server", 250_000);
  const run = await ferry([
    "send",
    `${local.path}/data.bin`,
    `127.0.0.1:data.bin`,
    "-P",
    String(proxy.addr.port),
    "--retries",
    "0",
  ]);
  // The server cannot decrypt the altered record and drops the connection.
  assertEquals(run.code, 5, run.stderr);
  assertEquals(await Deno.readTextFile(`${root.path}/data.bin`), "old");
});

Deno.test("a client killed mid-file leaves no file and no temporary, and the server serves on", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  // Sparse: a large file that costs no disk, so the transfer is long enough to interrupt.
  using big = await Deno.open(`${local.path}/big.bin`, { write: true, create: true });
  await big.truncate(4 * 1024 ** 3);
  await using server = await serveProcess(root.path);
  const sender = ferryCommand([
    "send",
    `${local.path}/big.bin`,
    `127.0.0.1:big.bin`,
    "-P",
    String(server.port),
  ]).spawn();
  while (!(await listTree(root.path)).some((p) => p.startsWith(TEMP_PREFIX))) {
    await new Promise((r) => setTimeout(r, 2));
  }
  sender.kill("SIGKILL");
  await sender.output();
  while ((await listTree(root.path)).length > 0) await new Promise((r) => setTimeout(r, 10));
  assert(!(await exists(`${root.path}/big.bin`)));
  await Deno.writeTextFile(`${local.path}/small.txt`, "after");
  const after = await ferry([
    "send",
    `${local.path}/small.txt`,
    `127.0.0.1:small.txt`,
    "-P",
    String(server.port),
  ]);
  assertEquals(after.code, 0, after.stderr);
  assertEquals(await listTree(root.path), ["small.txt"]);
});

Deno.test("serve with no token creates one with mode 0600 and clients on the machine find it", async () => {
  await using root = await tempDir();
  await using config = await tempDir();
  await using local = await tempDir();
  const env = { FERRY_TOKEN: "", XDG_CONFIG_HOME: config.path };
  await using server = await serveProcess(root.path, [], env);
  const tokenFile = `${config.path}/ferry/token`;
  assertEquals((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);
  assert((await Deno.readTextFile(tokenFile)).trim().length >= 40);
  await Deno.writeTextFile(`${local.path}/f`, "f");
  const run = await ferry(
    ["send", `${local.path}/f`, `127.0.0.1:f`, "-P", String(server.port)],
    env,
  );
  assertEquals(run.code, 0, run.stderr);
  const stopped = await server.stop();
  assertEquals(stopped.code, 0);
  assert(stopped.log.includes("created a new token"), stopped.log);
  assert(
    !stopped.log.includes((await Deno.readTextFile(tokenFile)).trim()),
    "the token itself is never printed",
  );
  // A second start says where the token is again, and --create makes a missing folder.
  const missing = `${root.path}/served`;
  await using again = await serveProcess(missing, ["--create"], env);
  const log = (await again.stop()).log;
  assert(log.includes(`the token is in "${tokenFile}"`), log);
  assert(log.includes(`created the folder "${missing}"`), log);
  assert((await Deno.stat(missing)).isDirectory);
});

Deno.test("serve refuses a root it cannot create and creates no token then", async () => {
  await using config = await tempDir();
  await Deno.writeTextFile(`${config.path}/file`, "");
  const run = await ferry(["serve", `${config.path}/file/sub`, "--port", "0"], {
    FERRY_TOKEN: "",
    XDG_CONFIG_HOME: config.path,
  });
  assert(run.code !== 0, run.stderr);
  assert(!await exists(`${config.path}/ferry/token`), "no token left behind");
});

Deno.test("a server that is not listening exits 5 with a hint", async () => {
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "f");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const run = await ferry(["send", `${local.path}/f`, `127.0.0.1:f`, "-P", String(port)]);
  assertEquals(run.code, 5);
  assert(run.stderr.includes("ferry serve"), run.stderr);
});

Deno.test("serve on a port in use exits 9, names the port and the flag to pick another", async () => {
  await using root = await tempDir();
  await using server = await serveProcess(root.path);
  const second = await ferry([
    "serve",
    root.path,
    "--host",
    "127.0.0.1",
    "--port",
    String(server.port),
  ]);
  assertEquals(second.code, 9, second.stderr);
  assert(second.stderr.includes(`port ${server.port}: it is in use`), second.stderr);
  assert(second.stderr.includes("(pick another with --port)"), second.stderr);
});

Deno.test("a token file others may read is refused by clients and by serve, with the chmod to run (exit 3)", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "f");
  const tokenFile = `${local.path}/token`;
  await Deno.writeTextFile(tokenFile, `${TOKEN}\n`);
  await Deno.chmod(tokenFile, 0o644);
  await using server = await serveProcess(root.path);
  const address = `ferry://127.0.0.1:${server.port}/f`;
  const client = await ferry(["send", "--token-file", tokenFile, `${local.path}/f`, address], {
    FERRY_TOKEN: "",
  });
  assertEquals(client.code, 3);
  assert(client.stderr.includes(`chmod 600 "${tokenFile}"`), client.stderr);
  const serve = await ferry(["serve", root.path, "--port", "0", "--token-file", tokenFile]);
  assertEquals(serve.code, 3);
  assert(serve.stderr.includes("may be read by others (mode 0644)"), serve.stderr);
  assertEquals(await listTree(root.path), []);
  // Once only its owner may read it, the same file works.
  await Deno.chmod(tokenFile, 0o600);
  const fixed = await ferry(["send", "--token-file", tokenFile, `${local.path}/f`, address], {
    FERRY_TOKEN: "",
  });
  assertEquals(fixed.code, 0, fixed.stderr);
});

Deno.test("a failed file is reported once on stderr, whether it is the only one or one of several", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/small`, "ok");
  await Deno.writeFile(`${local.path}/big`, patternBytes(5000));
  await using server = await serveProcess(root.path, ["--max-size", "1K"]);
  const at = `ferry://127.0.0.1:${server.port}/`;
  const count = (text: string) => text.split("larger than the server's --max-size").length - 1;
  const one = await ferry(["send", `${local.path}/big`, at]);
  assertEquals([one.code, count(one.stderr)], [3, 1], one.stderr);
  const several = await ferry(["send", `${local.path}/big`, `${local.path}/small`, at]);
  assertEquals([several.code, count(several.stderr)], [8, 1], several.stderr);
  assert(several.stderr.includes("1 of 2 files failed"), several.stderr);
});

Deno.test("SIGTERM during a get exits 130 and leaves no temporary in DEST, as Ctrl-C does", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeFile(`${root.path}/slow.bin`, patternBytes(3 * 1024 * 1024));
  await using server = await serveProcess(root.path);
  const child = ferryCommand([
    "get",
    "--limit-rate",
    "256K",
    `ferry://127.0.0.1:${server.port}/slow.bin`,
    `${local.path}/`,
  ]).spawn();
  // Once the temporary exists, the body is arriving.
  const arriving = await waitFor(
    async () => (await listTree(local.path)).some((p) => p.startsWith(TEMP_PREFIX)),
    10_000,
  );
  assert(arriving, "the get started");
  child.kill("SIGTERM");
  const { code } = await child.output();
  assertEquals(code, 130);
  assertEquals(await listTree(local.path), []);
});

Deno.test("Ctrl-C during the wait before a retry exits 130, not 5", async () => {
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/f`, "x");
  // Nothing listens there: the first attempt is refused, then the retry waits 1 s.
  const port = freePort();
  const child = ferryCommand([
    "send",
    "--retries",
    "5",
    `${local.path}/f`,
    `ferry://127.0.0.1:${port}/`,
  ])
    .spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("retry 1 of 5")) {
    const { value, done } = await lines.read();
    if (done) break;
    said += value;
  }
  child.kill("SIGINT");
  const { code } = await child.status;
  await lines.cancel();
  await child.stdout.cancel();
  assert(said.includes("retry 1 of 5"), said);
  assertEquals(code, 130);
});

Deno.test("serve warns about a token that looks chosen by a person, and not about a generated one", async () => {
  await using root = await tempDir();
  const human = await serveProcess(root.path, [], { FERRY_TOKEN: "correct-horse-battery-staple" });
  const humanLog = (await human.stop()).log;
  assert(humanLog.includes("looks chosen by a person"), humanLog);
  const generated = await serveProcess(root.path, [], { FERRY_TOKEN: generateToken() });
  const generatedLog = (await generated.stop()).log;
  assert(!generatedLog.includes("looks chosen by a person"), generatedLog);
});

Deno.test("ls, mkdir, rm and mv take --timeout: a server that never answers fails them with exit 5", async () => {
  // Accepts connections and says nothing, like a stopped server process.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for (;;) held.push(await silent.accept());
    } catch { /* closed */ }
  })();
  try {
    const at = (path: string) => `ferry://127.0.0.1:${silent.addr.port}/${path}`;
    for (
      const args of [["ls", at("")], ["mkdir", at("a")], ["rm", at("a")], ["mv", at("a"), at("b")]]
    ) {
      const run = await ferry([args[0]!, "--timeout", "1", ...args.slice(1)]);
      assertEquals(run.code, 5, `${args[0]}: ${run.stderr}`);
    }
  } finally {
    silent.close();
    await accepting;
    for (const conn of held) conn.close();
  }
});
