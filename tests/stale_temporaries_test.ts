// Temporaries that killed transfers left (issue 27, item 7): swept by the
// server at start and by a later get into the same folder; never one that a
// live transfer holds, never a resumable partial, never anything not ferry's.

import { assert, assertEquals } from "./_assert.ts";
import { ferry, serveProcess } from "./_cli.ts";
import { listTree, startServer, tempDir, waitFor } from "./_helpers.ts";
import { sweepFolder } from "../lib/fs/stale_temporaries.ts";
import { openTemporary } from "../lib/fs/temporary.ts";
import { ConfinedRoot } from "../lib/fs/confinement.ts";

const LONG_AGO = new Date(Date.now() - 10 * 60_000);
const FRESH = ".ferry-0123456789abcdef.part";
const RESUMABLE = ".ferry-0123456789abcdef0123456789abcdef.part";

/** A file at `path` that was last changed ten minutes ago. */
async function oldFile(path: string): Promise<void> {
  await Deno.writeTextFile(path, "left by a killed transfer");
  await Deno.utime(path, LONG_AGO, LONG_AGO);
}

Deno.test("sweepFolder() removes old unlocked temporaries only: not young, held, resumable or foreign ones", async () => {
  await using dir = await tempDir();
  await oldFile(`${dir.path}/${FRESH}`);
  await oldFile(`${dir.path}/${RESUMABLE}`);
  await oldFile(`${dir.path}/.ferry-notours.part`);
  await oldFile(`${dir.path}/kept.txt`);
  await Deno.writeTextFile(`${dir.path}/.ferry-aaaaaaaaaaaaaaaa.part`, "young");
  // A live transfer's temporary, as old as the others: its lock keeps it.
  const root = ConfinedRoot.open(dir.path);
  const live = openTemporary(root.top(), undefined);
  root.close();
  await Deno.utime(live.tempPath, LONG_AGO, LONG_AGO);
  try {
    assertEquals(sweepFolder(dir.path), 1);
    const liveName = live.tempPath.slice(dir.path.length + 1);
    assertEquals(
      await listTree(dir.path),
      [".ferry-aaaaaaaaaaaaaaaa.part", ".ferry-notours.part", RESUMABLE, "kept.txt", liveName]
        .sort(),
    );
  } finally {
    live.file.close();
    live.release();
  }
  // Once its transfer is gone (the lock with it), an old one goes.
  assertEquals(sweepFolder(dir.path), 1);
});

Deno.test("the server sweeps stale temporaries under its root when it starts", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/deep/er`, { recursive: true });
  await oldFile(`${root.path}/${FRESH}`);
  await oldFile(`${root.path}/deep/er/${FRESH}`);
  await oldFile(`${root.path}/deep/${RESUMABLE}`);
  await using _server = await startServer(root.path);
  const left = () => listTree(root.path);
  assert(await waitFor(async () => !(await left()).some((p) => p.endsWith(FRESH))), "swept");
  assertEquals(await left(), ["deep", `deep/${RESUMABLE}`, "deep/er"]);
});

Deno.test("a get sweeps what a killed get left in the folder it writes into", async () => {
  await using root = await tempDir();
  await using local = await tempDir();
  await Deno.writeTextFile(`${root.path}/a.txt`, "a");
  await oldFile(`${local.path}/${FRESH}`);
  await using server = await serveProcess(root.path);
  const run = await ferry(["get", `ferry://127.0.0.1:${server.port}/a.txt`, `${local.path}/`]);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(await listTree(local.path), ["a.txt"]);
});
