// ferry shell as its users run it: batch scripts on standard input and with
// -b, a person at a real terminal (completion, history, Ctrl-C), and a
// server that restarts under an open session.

import { assert, assertEquals } from "./_assert.ts";
import { ferry, ferryCommand, serveProcess } from "./_cli.ts";
import { exists, listTree, patternBytes, tempDir, waitFor } from "./_helpers.ts";
import { Pty } from "./_pty.ts";

/** Runs `ferry shell ARGS` with `input` on its standard input (a pipe). */
async function shellWithInput(args: string[], input: string) {
  const child = ferryCommand(["shell", ...args], {}, "piped").spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const output = await child.output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** The output of a child process as it arrives, to wait for a line in it. */
function collect(stream: ReadableStream<Uint8Array>) {
  const seen = { text: "" };
  const done = (async () => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) seen.text += text;
  })();
  return { seen, done };
}

Deno.test("shell batch on standard input: each command runs in order, echoed; the first failure stops it with its exit code", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/old.txt`, "old");
  await Deno.writeTextFile(`${local.path}/a.txt`, "hello");
  await Deno.writeTextFile(`${local.path}/my file.txt`, "spaced");
  await using server = await serveProcess(root.path);
  const script = [
    `lcd ${local.path}`,
    "mkdir docs",
    "cd docs",
    "put a.txt",
    `put "my file.txt"`,
    "ls",
    "pwd",
    "cd ..",
    "cd ..",
    "pwd",
    "lmkdir back",
    "get docs/a.txt back/",
    "rm old.txt",
    "get missing.txt",
    "lmkdir never",
    "",
  ].join("\n");
  const run = await shellWithInput(["127.0.0.1", "-P", String(server.port)], script);
  assertEquals(run.code, 4, run.stderr);
  assertEquals(
    run.stdout,
    "a.txt\nmy file.txt\nRemote working directory: /docs\nRemote working directory: /\n",
  );
  // Echoed before it ran; the command after the failure never ran.
  assert(run.stderr.includes('ferry> put "my file.txt"\n'), run.stderr);
  assert(run.stderr.includes("ferry> get missing.txt\n"), run.stderr);
  assert(!run.stderr.includes("lmkdir never"), run.stderr);
  assert(/ferry: .*missing\.txt/.test(run.stderr), run.stderr);
  assertEquals(await listTree(root.path), ["docs", "docs/a.txt", "docs/my file.txt"]);
  assertEquals(await Deno.readTextFile(`${root.path}/docs/my file.txt`), "spaced");
  assertEquals(await Deno.readTextFile(`${local.path}/back/a.txt`), "hello");
  assert(!await exists(`${local.path}/never`));
});

Deno.test("shell -b FILE with --json: one result line per command; a line starting with - may fail", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/top.txt`, "t");
  await using server = await serveProcess(root.path);
  const batch = `${local.path}/commands.txt`;
  await Deno.writeTextFile(
    batch,
    "# made by a test\n-rm nothere\nmkdir -p x/y\ncd x/y\npwd\nls /\nmv /top.txt ..\nquit\npwd\n",
  );
  const run = await ferry(["shell", "--json", "-b", batch, "-P", String(server.port), "127.0.0.1"]);
  assertEquals(run.code, 0, run.stderr);
  const results = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assertEquals(results.map((r) => [r.command, r.ok]), [
    ["rm", false],
    ["mkdir", true],
    ["cd", true],
    ["pwd", true],
    ["ls", true],
    ["mv", true],
  ]);
  assertEquals(results[0].code, "not_found");
  assertEquals([results[2].path, results[3].path], ["/x/y", "/x/y"]);
  assertEquals(results[4].entries.map((e: { name: string }) => e.name), ["top.txt", "x"]);
  assertEquals([results[5].from, results[5].to], ["/top.txt", "/x/top.txt"]);
  assertEquals(await listTree(root.path), ["x", "x/top.txt", "x/y"]);
});

Deno.test("shell: cd .. stops at the root, cd into a file or a missing folder changes nothing, quoted names work", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/file.txt`, "f");
  await Deno.mkdir(`${root.path}/sub`);
  await Deno.writeTextFile(`${local.path}/it's here.txt`, "quote");
  await Deno.writeTextFile(`${local.path}/say "hi".txt`, "double");
  await using server = await serveProcess(root.path);
  const port = ["-P", String(server.port)];
  const script = [
    `lcd ${local.path}`,
    "cd sub",
    "cd ../../..",
    "pwd",
    "-cd file.txt",
    "-cd nothere",
    "pwd",
    `put it\\'s\\ here.txt 'sub/it'\\''s there.txt'`,
    `put "say \\"hi\\".txt" sub/`,
    `get "sub/it's there.txt" "copy of it.txt"`,
    "",
  ].join("\n");
  const run = await shellWithInput(["127.0.0.1", ...port], script);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(run.stdout, "Remote working directory: /\nRemote working directory: /\n");
  assert(/ferry: "\/file\.txt" is not a folder/.test(run.stderr), run.stderr);
  assert(/ferry: No such remote folder: "\/nothere"/.test(run.stderr), run.stderr);
  assertEquals(await Deno.readTextFile(`${root.path}/sub/it's there.txt`), "quote");
  assertEquals(await Deno.readTextFile(`${root.path}/sub/say "hi".txt`), "double");
  assertEquals(await Deno.readTextFile(`${local.path}/copy of it.txt`), "quote");

  // Not tolerated, cd into a file ends the batch with exit 11, an open quote with 2.
  const intoFile = await shellWithInput(["127.0.0.1", ...port], "cd file.txt\npwd\n");
  assertEquals([intoFile.code, intoFile.stdout], [11, ""]);
  const openQuote = await shellWithInput(["127.0.0.1", ...port], `get "file.txt\n`);
  assertEquals(openQuote.code, 2);
  assert(openQuote.stderr.includes("never closed"), openQuote.stderr);
  const unknown = await shellWithInput(["127.0.0.1", ...port], "frobnicate\n");
  assertEquals(unknown.code, 2);
  assert(unknown.stderr.includes(`Unknown command "frobnicate"`), unknown.stderr);
  // A start folder that is missing fails before any command.
  const missing = await shellWithInput([`127.0.0.1:nothere`, ...port], "pwd\n");
  assertEquals([missing.code, missing.stdout], [4, ""]);
});

Deno.test("shell on a terminal: the prompt, Tab completion of remote names, history, Ctrl-C stops a get and leaves no temporary", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${root.path}/photos`);
  await Deno.writeTextFile(`${root.path}/photos/summer 2026.jpg`, "sunny");
  // Under 4 MiB: not kept as a resumable partial when stopped (a bigger file's would be).
  await Deno.writeFile(`${root.path}/big.bin`, patternBytes(3 * 1024 * 1024));
  await using server = await serveProcess(root.path);
  await using pty = new Pty(["shell", "127.0.0.1", "-P", String(server.port)], local.path);
  await pty.expect("ferry 127.0.0.1:/> ");

  await pty.type("cd pho\t");
  await pty.expect("cd photos/");
  await pty.type("\r");
  await pty.expect("ferry 127.0.0.1:/photos> ");
  await pty.type("get sum\t");
  await pty.expect("get summer\\ 2026.jpg ");
  await pty.type("\r");
  await pty.expect("Got 1 file");
  assertEquals(await Deno.readTextFile(`${local.path}/summer 2026.jpg`), "sunny");

  // Ctrl-C on a typed line drops it; the up arrow recalls the last command.
  await pty.type("cd nowhere\x03");
  await pty.expect("^C");
  await pty.type("\x1b[A");
  await pty.expect("get summer\\ 2026.jpg");
  await pty.type("\x15cd ..\r");
  await pty.expect("ferry 127.0.0.1:/> ");

  await pty.type("get --limit-rate 256K big.bin\r");
  const temporary = async () => (await listTree(local.path)).some((n) => n.startsWith(".ferry-"));
  assert(await waitFor(temporary), "the get started writing its temporary");
  await pty.type("\x03");
  await pty.expect(/cancelled[^]*ferry 127\.0\.0\.1:\/> /);
  assertEquals(await listTree(local.path), ["summer 2026.jpg"]);
  // The session goes on: the same get, unlimited, completes.
  await pty.type("get big.bin\r");
  await pty.expect("Got 1 file");
  assertEquals(
    await Deno.readFile(`${local.path}/big.bin`),
    await Deno.readFile(`${root.path}/big.bin`),
  );

  await pty.type("pwd\r");
  await pty.expect("Remote working directory: /");
  await pty.type("\x04");
  assertEquals(await pty.exit(), 0);
});

Deno.test("shell: a server that restarts under the session is reconnected at the next command, in the same folder", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/docs`);
  await Deno.writeTextFile(`${root.path}/docs/a.txt`, "a");
  const first = await serveProcess(root.path);
  const port = first.port;
  const child = ferryCommand(["shell", "127.0.0.1", "-P", String(port)], {}, "piped").spawn();
  const writer = child.stdin.getWriter();
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  await writer.write(new TextEncoder().encode("cd docs\npwd\n"));
  assert(await waitFor(() => Promise.resolve(stdout.seen.text.includes("/docs"))));
  await first.stop();
  await using second = await serveProcess(root.path, [], {}, port);
  await writer.write(new TextEncoder().encode("ls\npwd\n"));
  await writer.close();
  const { code } = await child.status;
  await Promise.all([stdout.done, stderr.done]);
  assertEquals(code, 0, stderr.seen.text);
  assertEquals(
    stdout.seen.text,
    "Remote working directory: /docs\na.txt\nRemote working directory: /docs\n",
  );
  assert(stderr.seen.text.includes("connection to 127.0.0.1 was lost; reconnecting"));
  assertEquals(second.port, port);
});
