// ConfinedRoot and Held on their own (lib/fs/confinement.ts, held.ts):
// what openat2 beneath a held root follows and refuses, and what a local
// user who plants links at the names ferry uses can and cannot make it do.
// Each test runs in whichever mode this machine has; the kernel's own
// refusals are checked where it confines (CI also runs the whole suite with
// FERRY_CONFINEMENT=user).

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { tempDir } from "./_helpers.ts";
import { ConfinedRoot, confinementMode } from "../lib/fs/confinement.ts";
import { IncomingFile } from "../lib/fs/incoming_file.ts";
import { FileDigest } from "../lib/fs/digest.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";

const kernel = confinementMode().kernel;

Deno.test("a held root follows a relative link that stays inside and refuses one that leaves", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  await Deno.mkdir(`${root.path}/real/deeper`, { recursive: true });
  await Deno.writeTextFile(`${root.path}/real/deeper/f`, "inside");
  await Deno.symlink("real", `${root.path}/inside-link`);
  await Deno.symlink("../../..", `${root.path}/real/deeper/up-and-out`);
  await Deno.symlink(outside.path, `${root.path}/escape`);
  const confined = ConfinedRoot.open(root.path);
  try {
    using folder = confined.folder(["inside-link", "deeper"]);
    assertEquals(Deno.readTextFileSync(folder.at("f")), "inside");
    assertEquals(folder.real, `${root.path}/inside-link/deeper`);
    for (const parts of [["escape"], ["escape", "x"], ["real", "deeper", "up-and-out"]]) {
      const error = assertThrows(() => confined.folder(parts), FerryError);
      assertEquals(error.code, ErrorCode.BadPath, parts.join("/"));
    }
    const { held, info } = confined.object(["inside-link", "deeper", "f"]);
    assert(info.isFile && info.size === "inside".length);
    held.release();
  } finally {
    confined.close();
  }
});

Deno.test("makeFolders makes what is missing, refuses a link planted on the way, and names a file in the way", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  await Deno.symlink(outside.path, `${root.path}/planted`);
  await Deno.writeTextFile(`${root.path}/file`, "");
  const confined = ConfinedRoot.open(root.path);
  try {
    const { folder, made } = confined.makeFolders(["a", "b", "c"]);
    folder.release();
    assertEquals(made, ["a/b/c", "a/b", "a"].map((p) => `${root.path}/${p}`));
    const planted = assertThrows(() => confined.makeFolders(["planted", "x"]), FerryError);
    assertEquals(planted.code, ErrorCode.BadPath);
    const inTheWay = assertThrows(() => confined.makeFolders(["file", "x"]), FerryError);
    assertEquals(inTheWay.code, ErrorCode.NotDirectory);
    assertEquals([...Deno.readDirSync(outside.path)], [], "nothing made outside");
  } finally {
    confined.close();
  }
});

Deno.test("a walk's step never enters a link, even one that stays inside", async () => {
  await using root = await tempDir();
  await Deno.mkdir(`${root.path}/real`);
  await Deno.symlink("real", `${root.path}/link`);
  const confined = ConfinedRoot.open(root.path);
  try {
    using top = confined.top();
    using real = top.enter("real");
    assertEquals(real.real, `${root.path}/real`);
    if (kernel) {
      const error = assertThrows(() => top.enter("link"), FerryError);
      assertEquals(error.code, ErrorCode.BadPath);
    }
  } finally {
    confined.close();
  }
});

Deno.test("a temporary swapped for a link to an outside file before its commit: refused, and the outside file keeps its mode and contents", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  const victim = `${outside.path}/private`;
  await Deno.writeTextFile(victim, "keep me");
  await Deno.chmod(victim, 0o600);
  const confined = ConfinedRoot.open(root.path);
  try {
    using folder = confined.top();
    const body = new TextEncoder().encode("new");
    const upload = await IncomingFile.open(folder, "f", "f", { size: 3, mode: 0o777, mtime: 0 });
    await upload.write(body);
    // A local user who can write in the folder replaces the temporary's name.
    await Deno.remove(upload.tempPath);
    await Deno.symlink(victim, upload.tempPath);
    const digest = await FileDigest.start();
    digest.update(body);
    const error = await upload.verify(digest.finish()).then(() => null, (e) => e);
    if (kernel) {
      assert(error instanceof FerryError && error.code === ErrorCode.BadPath, String(error));
    }
    assertEquals((await Deno.stat(victim)).mode! & 0o777, 0o600, "the outside file's mode");
    assertEquals(await Deno.readTextFile(victim), "keep me");
  } finally {
    confined.close();
  }
});
