// Ctrl-C on a transfer (issue 27, items 3, 4 and 9): nothing is committed
// after the user cancels, even during a --limit-rate wait; what the client
// reports stored is what the server stored; a big upload's partial is kept,
// so that the rerun resumes; and the server logs each upload that was cut off.

import { assert, assertEquals } from "./_assert.ts";
import { ferry, ferryCommand, serveProcess } from "./_cli.ts";
import { listTree, partialBytes, patternBytes, tempDir, waitFor } from "./_helpers.ts";
import { TEMP_PREFIX } from "../lib/fs/temporary.ts";

const MiB = 1024 * 1024;

/** Whether a ferry temporary exists directly in `dir`. */
async function hasTemporary(dir: string): Promise<boolean> {
  return (await listTree(dir).catch(() => [])).some((p) => p.startsWith(TEMP_PREFIX));
}

Deno.test("Ctrl-C during a rate-limited send commits nothing, although the body was all sent", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/twelve.txt`, "twelve bytes");
  await using server = await serveProcess(root.path);
  // At 1 byte/s the 12 bytes go out at once, then the sender waits 12 s before END.
  const child = ferryCommand([
    "send",
    "--limit-rate",
    "1",
    `${local.path}/twelve.txt`,
    `ferry://127.0.0.1:${server.port}/slow/`,
  ]).spawn();
  assert(await waitFor(() => hasTemporary(`${root.path}/slow`)), "the upload began");
  child.kill("SIGINT");
  const run = await child.output();
  assertEquals(run.code, 130);
  assert(new TextDecoder().decode(run.stderr).includes("cancelled"));
  const { log } = await server.stop();
  assertEquals(await listTree(`${root.path}/slow`), [], "nothing stored, no temporary left");
  assert(
    log.includes(`put "slow/twelve.txt" aborted after 12 bytes: the client cancelled it`),
    log,
  );
});

Deno.test("Ctrl-C during a send of many files: the files reported stored are the files stored", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.mkdir(`${local.path}/many`);
  for (let i = 0; i < 200; i++) {
    await Deno.writeFile(
      `${local.path}/many/f${String(i).padStart(3, "0")}`,
      patternBytes(4096, i),
    );
  }
  await using server = await serveProcess(root.path);
  const child = ferryCommand([
    "send",
    "-r",
    "-v",
    "--limit-rate",
    "64K",
    `${local.path}/many`,
    `ferry://127.0.0.1:${server.port}/`,
  ]).spawn();
  const stored = async () =>
    (await listTree(`${root.path}/many`).catch(() => [])).filter(
      (p) => !p.startsWith(TEMP_PREFIX),
    );
  assert(await waitFor(async () => (await stored()).length >= 5), "files are arriving");
  child.kill("SIGINT");
  const run = await child.output();
  assertEquals(run.code, 130);
  await server.stop();
  const reported = new TextDecoder().decode(run.stdout).split("\n")
    .filter((line) => line.startsWith("+ many/")).map((line) => line.slice("+ many/".length));
  const onServer = await stored();
  assert(onServer.length < 200, "the cancel stopped the send");
  assertEquals(reported.sort(), onServer.sort());
  const said = new TextDecoder().decode(run.stderr);
  assert(said.includes(`cancelled; ${onServer.length} files were copied before it`), said);
});

Deno.test("Ctrl-C during a big send keeps what arrived, and the rerun resumes from there", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  const body = patternBytes(8 * MiB);
  await Deno.writeFile(`${local.path}/big.bin`, body);
  await using server = await serveProcess(root.path);
  const at = `ferry://127.0.0.1:${server.port}/`;
  const child = ferryCommand(["send", "--limit-rate", "2M", `${local.path}/big.bin`, at]).spawn();
  assert(await waitFor(async () => await partialBytes(root.path) >= MiB), "the body is arriving");
  child.kill("SIGINT");
  assertEquals((await child.output()).code, 130);
  assert(await partialBytes(root.path) >= MiB, "the partial was kept");
  const rerun = await ferry(["send", "--json", `${local.path}/big.bin`, at]);
  assertEquals(rerun.code, 0, rerun.stderr);
  const summary = JSON.parse(rerun.stdout.trim().split("\n").at(-1)!);
  assert(summary.transferred <= body.length - MiB, `resumed: ${summary.transferred} bytes moved`);
  assertEquals(await Deno.readFile(`${root.path}/big.bin`), body);
  const { log } = await server.stop();
  assert(log.includes("the part received is kept to resume"), log);
});
