// What the command line says when a user gets something wrong: one clear
// line in ferry's words, the documented exit code, and nothing created or
// changed on the way (issue 27, items 5 and 12-15).

import { assert, assertEquals } from "./_assert.ts";
import { ferry, serveProcess } from "./_cli.ts";
import { exists, freePort, listTree, tempDir } from "./_helpers.ts";
import { toFerryError } from "../lib/errors.ts";
import { splitCommand } from "../commands/_hooks.ts";
import { HELP as SERVE_HELP } from "../commands/serve.ts";
import { ProgressBar } from "../commands/progress_bar.ts";

Deno.test("a flag given a value that starts with '-' says so in one line, without the parser's own text", async () => {
  for (const [flag, value] of [["--limit-rate", "-5M"], ["--retries", "-1"], ["-j", "-1"]]) {
    const run = await ferry(["send", flag!, value!, "a.txt", "127.0.0.1:x/"]);
    assertEquals(run.code, 2, run.stderr);
    assertEquals(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert(run.stderr.includes(`${flag} needs a value, not "${value}"`), run.stderr);
    for (const noise of ["\\x0a", "ambiguous", "Did you forget"]) {
      assert(!run.stderr.includes(noise), run.stderr);
    }
  }
});

Deno.test("get of a folder to standard output says that only a file can go there, -r or not", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/backup`);
  await Deno.writeTextFile(`${root.path}/backup/a.txt`, "a");
  await using server = await serveProcess(root.path);
  for (const recursive of [["-r"], []]) {
    const run = await ferry(["get", ...recursive, `ferry://127.0.0.1:${server.port}/backup`, "-"]);
    assertEquals(run.code, 11, run.stderr);
    assert(run.stderr.includes("only one file can go to standard output"), run.stderr);
    assert(!run.stderr.includes("recursively"), run.stderr);
    assertEquals(run.stdout, "");
  }
});

Deno.test("a token file that is a folder is named as a folder, not as readable by others", async () => {
  await using local = await tempDir();
  const folder = `${local.path}/tokens`;
  await Deno.mkdir(folder, { mode: 0o755 });
  const run = await ferry(["ls", "--token-file", folder, "127.0.0.1:"]);
  assertEquals(run.code, 3, run.stderr);
  assert(run.stderr.includes(`"${folder}" is a folder`), run.stderr);
  assert(!run.stderr.includes("read by others"), run.stderr);
});

Deno.test("a read-only file system is said in ferry's words, without the runtime's text or the server's paths", () => {
  const raw = new Error("Read-only file system (os error 30): open '/srv/ferry/.ferry-1a2b.part'");
  const error = toFerryError(raw, "write", "inbox/a.txt");
  assertEquals(error.code, "permission_denied");
  assertEquals(error.message, 'Cannot write "inbox/a.txt": the file system is read-only');
  const io = toFerryError(new Error("Input/output error (os error 5): read '/srv/x'"), "read", "x");
  assertEquals(io.message, 'Cannot read "x": input/output error');
});

Deno.test("send to a server whose root is mounted read-only exits 3 with a message in ferry's words", async () => {
  if (Deno.uid() !== 0) return; // a read-only bind mount needs root; CI runs as root
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/a.txt`, "a");
  const mount = (...args: string[]) => new Deno.Command("mount", { args }).output();
  assert((await mount("--bind", root.path, root.path)).success);
  try {
    assert((await mount("-o", "remount,ro,bind", root.path)).success);
    await using server = await serveProcess(root.path);
    const run = await ferry([
      "send",
      "--retries",
      "0",
      `${local.path}/a.txt`,
      `ferry://127.0.0.1:${server.port}/`,
    ]);
    assertEquals(run.code, 3, run.stderr);
    assert(run.stderr.includes("the file system is read-only"), run.stderr);
    for (const noise of ["os error", root.path, ".part"]) assert(!run.stderr.includes(noise));
  } finally {
    await new Deno.Command("umount", { args: [root.path] }).output();
  }
});

Deno.test("flags that contradict each other are refused; flags that do nothing are warned of once", async () => {
  for (
    const argv of [
      ["send", "-q", "-v", "a", "127.0.0.1:x/"],
      ["get", "-q", "--progress", "127.0.0.1:x"],
      ["serve", "--read-only", "--no-delete", "."],
    ]
  ) {
    const run = await ferry(argv);
    assertEquals(run.code, 2, `${argv.join(" ")}: ${run.stderr}`);
    assert(run.stderr.includes("contradict each other"), run.stderr);
  }
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/a.txt`, "a");
  await using server = await serveProcess(root.path);
  const sent = await ferry([
    "send",
    "--delete",
    `${local.path}/a.txt`,
    `ferry://127.0.0.1:${server.port}/`,
  ]);
  assertEquals(sent.code, 0, sent.stderr);
  assertEquals(sent.stderr.match(/warning: --delete has no effect without -r/g)?.length, 1);
  assertEquals(await listTree(root.path), ["a.txt"]);
  await using readOnly = await serveProcess(root.path, ["--read-only", "--accept", "true"]);
  const { log } = await readOnly.stop();
  assert(log.includes("--accept has no effect with --read-only"), log);
});

Deno.test("a port that is not ferry is said at once, whether it stays silent or answers in its own protocol", async () => {
  await using silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using talker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const serveSilent = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  const serveTalker = (async () => {
    for await (const conn of talker) {
      await conn.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
      held.push(conn);
    }
  })();
  try {
    const quiet = await ferry(["ls", "--timeout", "60", `ferry://127.0.0.1:${silent.addr.port}/`]);
    assertEquals(quiet.code, 6, quiet.stderr);
    assert(
      quiet.stderr.includes("is not a ferry server: it sent nothing within 5 s"),
      quiet.stderr,
    );
    const http = await ferry(["ls", "--timeout", "60", `ferry://127.0.0.1:${talker.addr.port}/`]);
    assertEquals(http.code, 6, http.stderr);
    assert(http.stderr.includes('is not a ferry server: it began with "HTTP/1.1"'), http.stderr);
  } finally {
    silent.close();
    talker.close();
    for (const conn of held) conn.close();
    await Promise.allSettled([serveSilent, serveTalker]);
  }
});

Deno.test("serve never makes a missing root unless asked, never its parents, and never before the port is bound", async () => {
  await using parent = await tempDir();
  const typo = `${parent.path}/sahred/deeper`;
  const missing = await ferry(["serve", typo, "--port", "0"]);
  assertEquals(missing.code, 4, missing.stderr);
  assert(missing.stderr.includes("no such folder"), missing.stderr);
  const deep = await ferry(["serve", "--create", typo, "--port", "0"]);
  assertEquals(deep.code, 4, deep.stderr);
  assert(deep.stderr.includes("only the last folder is made"), deep.stderr);
  assertEquals(await exists(`${parent.path}/sahred`), false, "no parent was made");

  await using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fresh = `${parent.path}/fresh`;
  const taken = await ferry([
    "serve",
    "--create",
    fresh,
    "--host",
    "127.0.0.1",
    "--port",
    String(busy.addr.port),
  ]);
  assertEquals(taken.code, 9, taken.stderr);
  assertEquals(await exists(fresh), false, "a start that could not bind made no folder");

  await using made = await serveProcess(fresh, ["--create"]);
  const { log } = await made.stop();
  assert(log.includes(`created the folder "${fresh}"`), log);
  assert((await Deno.stat(fresh)).isDirectory);
});

Deno.test("help says what the commands do: the listing lines up, ls lists --json once, serve's example quotes its hook", async () => {
  const usage = await ferry(["--help"]);
  assert(/\n {2}completions {2}Print a shell completion script/.test(usage.stdout), usage.stdout);
  const ls = await ferry(["ls", "--help"]);
  assertEquals(ls.stdout.match(/^ +--json /gm)?.length, 1, ls.stdout);
  // The example's --on-receive argument as a POSIX shell passes it, then as ferry splits it.
  const example = SERVE_HELP.slice(SERVE_HELP.indexOf('--on-receive "sh')).split("\n")[0]!;
  const argv = await new Deno.Command("sh", {
    args: ["-c", `printf '%s\\n' ${example}`],
    env: { FERRY_REL_PATH: "expanded-too-early" },
    stdout: "piped",
  }).output();
  const [, command] = new TextDecoder().decode(argv.stdout).trim().split("\n");
  const words = splitCommand(command!, "--on-receive");
  assertEquals(words.slice(0, 2), ["sh", "-c"]);
  assert(words[2]!.includes('"$FERRY_REL_PATH"'), words[2]);
});

Deno.test("serve takes -P and the clients take -p for the port, as each other's spelling", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/a.txt`, "a");
  const port = await freePort();
  await using server = await serveProcess(root.path, ["-P", String(port)], {}, port);
  assertEquals(server.port, port);
  const listed = await ferry(["ls", "-p", String(port), "127.0.0.1:"]);
  assertEquals([listed.code, listed.stdout], [0, "a.txt\n"], listed.stderr);
});

Deno.test("--progress without a terminal writes a line every 5 seconds, not every second", async () => {
  const writes: string[] = [];
  const sink = {
    writeSync: (bytes: Uint8Array) => (writes.push(new TextDecoder().decode(bytes)), bytes.length),
  };
  const bar = new ProgressBar(sink, () => 120, "lines").start();
  bar.update({
    bytesDone: 1,
    bytesTransferred: 1,
    bytesTotal: 10,
    filesDone: 0,
    filesTotal: 1,
    path: "a",
    bytesPerSecond: 1,
    etaSeconds: 9,
  });
  await new Promise((resolve) => setTimeout(resolve, 2_300));
  bar.close();
  assertEquals(writes.length, 1, writes.join(""));
});

Deno.test("two sources with one destination name are refused before anything moves, for send and get", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  for (const folder of ["a", "b", "a/photos", "b/photos"]) {
    await Deno.mkdir(`${local.path}/${folder}`);
  }
  await Deno.writeTextFile(`${local.path}/a/same.txt`, "from a");
  await Deno.writeTextFile(`${local.path}/b/same.txt`, "from b");
  await using server = await serveProcess(root.path);
  const address = `ferry://127.0.0.1:${server.port}`;
  const files = await ferry([
    "send",
    "-v",
    `${local.path}/a/same.txt`,
    `${local.path}/b/same.txt`,
    `${address}/inbox/`,
  ]);
  assertEquals(files.code, 2, files.stderr);
  assert(
    files.stderr.includes(`"${local.path}/a/same.txt" and "${local.path}/b/same.txt"`),
    files.stderr,
  );
  assert(files.stderr.includes('would both be stored as "inbox/same.txt"'), files.stderr);
  assertEquals(files.stdout, "", "nothing was reported stored");
  const folders = await ferry([
    "send",
    "-r",
    `${local.path}/a/photos`,
    `${local.path}/b/photos`,
    `${address}/inbox/`,
  ]);
  assertEquals(folders.code, 2, folders.stderr);
  assertEquals(await listTree(root.path), [], "nothing was sent");

  for (const folder of ["x", "y"]) {
    await Deno.mkdir(`${root.path}/${folder}`);
    await Deno.writeTextFile(`${root.path}/${folder}/same.txt`, folder);
  }
  const out = `${local.path}/out`;
  const got = await ferry(["get", `${address}/x/same.txt`, `${address}/y/same.txt`, `${out}/`]);
  assertEquals(got.code, 2, got.stderr);
  assert(got.stderr.includes('"x/same.txt" and "y/same.txt" would both be stored as'), got.stderr);
  assertEquals(await exists(out), false, "get made nothing");
});

Deno.test("names with a tab, a newline or a backslash go both ways and are printed escaped", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const names = ["tab\tname.txt", "new\nline.txt", "back\\slash.txt"];
  await Deno.mkdir(`${local.path}/uni`);
  for (const name of names) await Deno.writeTextFile(`${local.path}/uni/${name}`, name);
  await using server = await serveProcess(root.path);
  const address = `ferry://127.0.0.1:${server.port}`;
  const sent = await ferry(["send", "-r", "-v", `${local.path}/uni`, `${address}/`]);
  assertEquals(sent.code, 0, sent.stderr);
  assert(sent.stdout.includes("uni/tab\\x09name.txt"), sent.stdout);
  assert(!sent.stdout.includes("\t") && !sent.stdout.includes("new\nline"), "printed escaped");
  for (const name of names) {
    assertEquals(await Deno.readTextFile(`${root.path}/uni/${name}`), name);
  }
  const got = await ferry(["get", "-r", `${address}/uni`, `${local.path}/back`]);
  assertEquals(got.code, 0, got.stderr);
  for (const name of names) {
    assertEquals(await Deno.readTextFile(`${local.path}/back/${name}`), name);
  }
});
