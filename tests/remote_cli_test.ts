// ferry ls, mkdir, rm and mv as users and scripts run them: subprocesses,
// a real `ferry serve`, exit codes, JSON output, named hosts from a config file.

import { assert, assertEquals } from "./_assert.ts";
import { ferry, serveProcess } from "./_cli.ts";
import { listTree, tempDir, TOKEN } from "./_helpers.ts";

Deno.test("ferry ls prints names, -l details, -R paths and --json lines; a missing path exits 4", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/photos/2026`, { recursive: true });
  await Deno.writeFile(`${root.path}/photos/2026/a.jpg`, new Uint8Array(1536));
  await Deno.writeTextFile(`${root.path}/notes.txt`, "hi", { mode: 0o600 });
  await using server = await serveProcess(root.path);
  const at = `127.0.0.1:${server.port}`;
  const names = await ferry(["ls", `ferry://${at}/`]);
  assertEquals([names.code, names.stdout], [0, "notes.txt\nphotos\n"]);
  const long = await ferry(["ls", "-lh", `ferry://${at}/`]);
  assert(
    /^-rw------- +2 B +\d{4}-\d\d-\d\d \d\d:\d\d +notes\.txt$/m.test(long.stdout),
    long.stdout,
  );
  assert(/^drwx/m.test(long.stdout));
  const tree = await ferry(["ls", "-R", `ferry://${at}/photos`]);
  assertEquals(tree.stdout, "2026\n2026/a.jpg\n");
  const json = await ferry(["ls", "-R", "--json", `ferry://${at}/photos`]);
  const entries = json.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assertEquals(entries.map((e) => [e.name, e.path, e.type, e.size]), [
    ["2026", "photos/2026", "dir", entries[0].size],
    ["a.jpg", "photos/2026/a.jpg", "file", 1536],
  ]);
  assert(entries.every((e) => typeof e.mtime === "number" && typeof e.mode === "number"));
  const missing = await ferry(["ls", `ferry://${at}/nope`]);
  assertEquals(missing.code, 4);
  assert(missing.stderr.includes(`"nope"`), missing.stderr);
  const jsonError = await ferry(["ls", "--json", `ferry://${at}/nope`]);
  assertEquals(jsonError.code, 4);
  assertEquals(JSON.parse(jsonError.stderr).code, "not_found");
  const escape = await ferry(["ls", `ferry://${at}/../etc`]);
  assertEquals(escape.code, 3);
});

Deno.test("ferry ls escapes control characters in names on a terminal", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/evil\x1b[2Jname`, "");
  await using server = await serveProcess(root.path);
  // script(1) gives the command a pseudo-terminal as stdout.
  const command = [Deno.execPath(), "run", "-A", new URL("../main.ts", import.meta.url).pathname]
    .concat(["ls", `127.0.0.1:`, "-P", String(server.port)]).join(" ");
  const output = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: { FERRY_TOKEN: TOKEN, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert(text.includes("evil\\x1b[2Jname"), JSON.stringify(text));
  assert(!text.includes("\x1b[2J"), "no raw escape sequence reaches the terminal");
});

Deno.test("ferry mkdir, rm and mv exit with the documented codes and change only what they name", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/file`, "keep");
  await using server = await serveProcess(root.path);
  const at = (path: string) => `ferry://127.0.0.1:${server.port}/${path}`;
  assertEquals((await ferry(["mkdir", at("a")])).code, 0);
  const exists = await ferry(["mkdir", at("a")]);
  assertEquals(exists.code, 10);
  const overFile = await ferry(["mkdir", at("file")]);
  assertEquals(overFile.code, 10);
  assert(overFile.stderr.includes(`Cannot create folder "file"`), overFile.stderr);
  assertEquals((await ferry(["mkdir", at("x/y")])).code, 4);
  assertEquals((await ferry(["mkdir", "-p", at("x/y"), at("a")])).code, 0);
  assertEquals((await ferry(["rm", at("x")])).code, 11);
  assertEquals((await ferry(["rm", at("missing")])).code, 4);
  assertEquals((await ferry(["rm", "-f", at("missing")])).code, 0);
  for (const path of ["", ".", "./"]) {
    const root_ = await ferry(["rm", "-rf", at(path)]);
    assertEquals(root_.code, 3, `rm -rf "${path}"`);
    assert(/root folder|ends in "\."/.test(root_.stderr), root_.stderr);
  }
  assertEquals((await ferry(["rm", "-rf", `127.0.0.1:/`, "-P", String(server.port)])).code, 3);
  assertEquals((await ferry(["rm", "-rf", `127.0.0.1:..`, "-P", String(server.port)])).code, 3);
  assertEquals((await ferry(["mv", at("file"), at("a/")])).code, 0);
  assertEquals((await ferry(["mv", at("a/file"), at("renamed")])).code, 0);
  await Deno.writeTextFile(`${root.path}/x/y/keep`, "k");
  assertEquals((await ferry(["mv", at("a"), at("x/y")])).code, 0, "into the folder x/y");
  assertEquals((await ferry(["rm", "-r", at("x/y/a"), at("missing"), at("renamed")])).code, 4);
  assertEquals(await listTree(root.path), ["x", "x/y", "x/y/keep"]);
  assertEquals((await ferry(["rm", "-r", at("x")])).code, 0);
  assertEquals(await listTree(root.path), []);
  // --json: one object on stdout saying what was done, also when something failed.
  const made = await ferry(["mkdir", "--json", at("j1"), at("j2")]);
  assertEquals([made.code, JSON.parse(made.stdout)], [0, { created: ["j1", "j2"] }]);
  const moved = await ferry(["mv", "--json", at("j1"), at("j3")]);
  assertEquals(JSON.parse(moved.stdout), { moved: [{ from: "j1", to: "j3" }] });
  const removed = await ferry(["rm", "-rf", "--json", at("j2"), at("nothing")]);
  assertEquals(JSON.parse(removed.stdout), { removed: ["j2"], missing: ["nothing"] });
  const partly = await ferry(["rm", "--json", at("j3"), at("absent")]);
  assertEquals([partly.code, JSON.parse(partly.stdout)], [4, { removed: [] }]);
  assertEquals(await listTree(root.path), ["j3"]);
});

Deno.test("serve --no-delete and --read-only: refusals exit 3 and name the setting; stored files survive", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/backup.tar`, "night 1");
  await Deno.writeTextFile(`${local.path}/backup.tar`, "ransomware");
  for (const setting of ["--no-delete", "--read-only"]) {
    await using server = await serveProcess(root.path, [setting]);
    const at = (path: string) => `ferry://127.0.0.1:${server.port}/${path}`;
    for (
      const args of [
        ["rm", at("backup.tar")],
        ["mv", at("backup.tar"), at("gone.tar")],
        ["send", `${local.path}/backup.tar`, at("")],
      ]
    ) {
      const refused = await ferry(args);
      assertEquals(refused.code, 3, `${setting} ${args[0]}`);
      assert(refused.stderr.includes(setting), refused.stderr);
    }
    const get = await ferry(["ls", at("")]);
    assertEquals(get.stdout, "backup.tar\n");
  }
  assertEquals(await Deno.readTextFile(`${root.path}/backup.tar`), "night 1");
  assertEquals(await listTree(root.path), ["backup.tar"]);
});

Deno.test("named hosts: ALIAS:PATH uses the config's host, port, token file and folder", async () => {
  await using root = await tempDir();
  await using home = await tempDir();
  await Deno.mkdir(`${root.path}/nightly`);
  await Deno.writeTextFile(`${home.path}/pi.token`, TOKEN + "\n", { mode: 0o600 });
  await Deno.writeTextFile(`${home.path}/backup.tar`, "data");
  await using server = await serveProcess(root.path);
  const config = `${home.path}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      hosts: {
        pi: { host: "127.0.0.1", port: server.port, tokenFile: "pi.token", folder: "nightly" },
      },
    }),
  );
  // No FERRY_TOKEN: the token comes from the named host's file.
  const env = { FERRY_CONFIG: config, FERRY_TOKEN: "" };
  const sent = await ferry(["send", `${home.path}/backup.tar`, "pi:"], env);
  assertEquals(sent.code, 0, sent.stderr);
  assertEquals(await Deno.readTextFile(`${root.path}/nightly/backup.tar`), "data");
  assertEquals((await ferry(["ls", "pi:"], env)).stdout, "backup.tar\n");
  assertEquals((await ferry(["ls", "pi:/"], env)).stdout, "nightly\n", "/ starts at the root");
  // The URL form resolves inside the folder too; its "//" starts at the root.
  assertEquals((await ferry(["ls", "ferry://pi/"], env)).stdout, "backup.tar\n");
  assertEquals((await ferry(["ls", "ferry://pi//"], env)).stdout, "nightly\n");
  assertEquals((await ferry(["mv", "pi:backup.tar", "pi:old.tar"], env)).code, 0);
  assertEquals((await ferry(["get", "pi:old.tar", `${home.path}/back.tar`], env)).code, 0);
  assertEquals(await Deno.readTextFile(`${home.path}/back.tar`), "data");
  assertEquals((await ferry(["rm", "pi:old.tar"], env)).code, 0);
  assertEquals(await listTree(root.path), ["nightly"]);
  // As rm refuses ".", the named host's whole folder and "DIR/." are refused (exit 3).
  await Deno.writeTextFile(`${root.path}/nightly/keep.tar`, "kept");
  await Deno.mkdir(`${root.path}/nightly/sub`);
  for (const target of ["pi:", "pi:.", "pi:sub/.", "pi:sub/./"]) {
    const refused = await ferry(["rm", "-r", target], env);
    assertEquals(refused.code, 3, `${target}: ${refused.stderr}`);
    assert(refused.stderr.includes("Refused to remove"), refused.stderr);
  }
  assertEquals(await listTree(root.path), ["nightly", "nightly/keep.tar", "nightly/sub"]);
  assertEquals((await ferry(["rm", "-r", "pi:sub"], env)).code, 0);
});

Deno.test("a broken config file names the file, the key and the problem; tokens are never printed", async () => {
  await using home = await tempDir();
  const config = `${home.path}/config.json`;
  const env = { FERRY_CONFIG: config };
  const cases: [string, RegExp, number][] = [
    [`{"hosts": {"pi": {"host": "127.0.0.1",}}}`, /not valid JSON/, 2],
    [`{"hosts": {"pi": {"host": "127.0.0.1", "tokn": "x"}}}`, /unknown key "hosts\.pi\.tokn"/, 2],
    [`{"host": {}}`, /unknown key "host"/, 2],
    [`{"hosts": {"pi": {"host": "127.0.0.1", "port": "7717"}}}`, /"hosts\.pi\.port"/, 2],
    [
      `{"hosts": {"pi": {"host": "127.0.0.1", "tokenFile": "missing.token"}}}`,
      /missing\.token.*host "pi"/,
      3,
    ],
  ];
  for (const [text, expected, code] of cases) {
    await Deno.writeTextFile(config, text);
    const run = await ferry(["ls", "pi:"], env);
    assertEquals(run.code, code, text);
    assert(expected.test(run.stderr), run.stderr);
    if (code === 2) assert(run.stderr.includes(config), run.stderr);
    assert(!run.stderr.includes(TOKEN) && !run.stdout.includes(TOKEN));
  }
  await Deno.remove(config);
  const missing = await ferry(["ls", "pi:"], env);
  assertEquals(missing.code, 2, "a missing $FERRY_CONFIG is an error");
});

Deno.test("--fsync: send and get store files in every mode, serve --fsync sets the floor, a bad mode exits 2", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${local.path}/tree/deep`, { recursive: true });
  await Deno.writeTextFile(`${local.path}/tree/deep/a.txt`, "a");
  await using server = await serveProcess(root.path, ["--fsync", "none", "--log", "json"]);
  const at = (path: string) => `ferry://127.0.0.1:${server.port}/${path}`;
  for (const mode of ["each", "batch", "none"]) {
    const sent = await ferry(["send", "-r", `--fsync=${mode}`, `${local.path}/tree`, at(mode)]);
    assertEquals(sent.code, 0, sent.stderr);
    const got = await ferry(["get", "-r", "--fsync", mode, at(mode), `${local.path}/back-${mode}`]);
    assertEquals(got.code, 0, got.stderr);
    assertEquals(await Deno.readTextFile(`${local.path}/back-${mode}/deep/a.txt`), "a");
  }
  const bad = await ferry(["send", "--fsync", "sometimes", `${local.path}/tree`, at("x")]);
  assertEquals(bad.code, 2);
  assert(bad.stderr.includes("each, batch, none"), bad.stderr);
  const badServe = await ferry(["serve", root.path, "--fsync", "never"]);
  assertEquals(badServe.code, 2);
  assertEquals(await listTree(root.path), [
    "batch",
    "batch/deep",
    "batch/deep/a.txt",
    "each",
    "each/deep",
    "each/deep/a.txt",
    "none",
    "none/deep",
    "none/deep/a.txt",
  ]);
  const { log } = await server.stop();
  const puts = log.split("\n").filter((line) => line.startsWith("{")).map((line) =>
    JSON.parse(line)
  )
    .filter((event) => event.action === "put");
  assertEquals(puts.map((event) => event.fsync), ["each", "batch", "none"]);
});
