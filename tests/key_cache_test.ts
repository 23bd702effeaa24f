// The key cache of token files (lib/config/key_cache.ts): a client command
// takes the key of a token file it has seen before instead of paying scrypt
// again, and nothing about the cache may let a changed token file, a
// planted link or a folder others can write decide the key.

import { assert, assertEquals } from "./_assert.ts";
import { createHash } from "node:crypto";
import { ferry, serveProcess } from "./_cli.ts";
import { exists, listTree, tempDir, TOKEN } from "./_helpers.ts";
import { primeTokenKey, tokenFileIdentity } from "../lib/config/key_cache.ts";
import { pskFor } from "../lib/config/psk.ts";

/** A token file older than the cache's settling time, so that its key may be cached. */
async function settledTokenFile(dir: string, token = TOKEN): Promise<string> {
  const path = `${dir}/token`;
  await Deno.writeTextFile(path, token + "\n", { mode: 0o600 });
  // ctime cannot be set back: wait until the file counts as settled.
  await new Promise((resolve) => setTimeout(resolve, 2_100));
  return path;
}

function entryName(tokenPath: string): string {
  return createHash("sha256").update(Deno.realPathSync(tokenPath)).digest("hex");
}

const wrongKey = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));

Deno.test("a client's token file key is cached 0600 in a 0700 folder, used, and dropped when the file changes", async () => {
  await using root = await tempDir();
  await using home = await tempDir();
  const tokenFile = await settledTokenFile(home.path);
  await using server = await serveProcess(root.path);
  const address = `ferry://127.0.0.1:${server.port}/`;
  const cache = `${home.path}/cache`;
  const env = { XDG_CACHE_HOME: cache };
  const ls = () => ferry(["ls", "--token-file", tokenFile, address], env);

  assertEquals((await ls()).code, 0);
  const keys = `${cache}/ferry/keys`;
  const entry = `${keys}/${entryName(tokenFile)}`;
  assertEquals((await Deno.stat(keys)).mode! & 0o777, 0o700);
  assertEquals((await Deno.stat(entry)).mode! & 0o777, 0o600);
  const stored = JSON.parse(await Deno.readTextFile(entry));
  assert(!JSON.stringify(stored).includes(TOKEN), "the token itself is not in the cache");
  assertEquals(stored.key, btoa(String.fromCharCode(...await pskFor(TOKEN))));
  assertEquals((await ls()).code, 0, "a cached key logs in");

  // Proof that the second command used the cache: a wrong cached key is what it sends.
  await Deno.writeTextFile(entry, JSON.stringify({ ...stored, key: wrongKey }));
  const wrong = await ls();
  assertEquals(wrong.code, 3, wrong.stderr);

  // The token file rewritten (same token, new change time): the entry no longer matches.
  await Deno.writeTextFile(tokenFile, TOKEN + "\n");
  const rewritten = await ls();
  assertEquals(rewritten.code, 0, rewritten.stderr);
  assertEquals(
    JSON.parse(await Deno.readTextFile(entry)).key,
    wrongKey,
    "a token file changed a moment ago is not cached (a second change in the same tick could hide)",
  );
});

Deno.test("FERRY_TOKEN's key is never written to disk", async () => {
  await using root = await tempDir();
  await using home = await tempDir();
  await using server = await serveProcess(root.path);
  const run = await ferry(["ls", `ferry://127.0.0.1:${server.port}/`], {
    XDG_CACHE_HOME: `${home.path}/cache`,
    FERRY_TOKEN: TOKEN,
  });
  assertEquals(run.code, 0, run.stderr);
  assertEquals(await exists(`${home.path}/cache/ferry`), false);
});

Deno.test("a keys folder that is a link, or that others may write, is neither read nor written", async () => {
  await using root = await tempDir();
  await using home = await tempDir();
  await using elsewhere = await tempDir();
  const tokenFile = await settledTokenFile(home.path);
  await using server = await serveProcess(root.path);
  const address = `ferry://127.0.0.1:${server.port}/`;

  // A planted link: the key must not land where it points.
  const linked = `${home.path}/linked`;
  await Deno.mkdir(`${linked}/ferry`, { recursive: true, mode: 0o700 });
  await Deno.symlink(elsewhere.path, `${linked}/ferry/keys`);
  const viaLink = await ferry(["ls", "--token-file", tokenFile, address], {
    XDG_CACHE_HOME: linked,
  });
  assertEquals(viaLink.code, 0, viaLink.stderr);
  assertEquals(await listTree(elsewhere.path), [], "nothing written through the link");

  // A folder anyone may write, holding a planted entry with a wrong key for this very file.
  const open = `${home.path}/open`;
  await Deno.mkdir(`${open}/ferry/keys`, { recursive: true });
  await Deno.chmod(`${open}/ferry/keys`, 0o777);
  const info = await Deno.stat(tokenFile);
  const identity = tokenFileIdentity(Deno.realPathSync(tokenFile), info)!;
  const planted = `${open}/ferry/keys/${entryName(tokenFile)}`;
  const { dev, ino, size, mtimeMs, ctimeMs } = identity;
  await Deno.writeTextFile(
    planted,
    JSON.stringify({ v: 1, dev, ino, size, mtimeMs, ctimeMs, key: wrongKey }),
  );
  const viaOpen = await ferry(["ls", "--token-file", tokenFile, address], {
    XDG_CACHE_HOME: open,
  });
  assertEquals(viaOpen.code, 0, "the planted key was not used: " + viaOpen.stderr);
  assertEquals(JSON.parse(await Deno.readTextFile(planted)).key, wrongKey);
  assertEquals(await exists(`${open}/ferry/keys/${entryName(tokenFile)}.tmp`), false);
});

Deno.test("primeTokenKey: an entry for another file, or a damaged one, is ignored and replaced", async () => {
  await using home = await tempDir();
  const token = "key-cache-unit-token-0123456789";
  const old = Date.now() - 60_000;
  const identity = {
    path: `${home.path}/token`,
    dev: 1,
    ino: 2,
    size: 32,
    mtimeMs: old,
    ctimeMs: old,
    uid: Deno.statSync(home.path).uid!,
  };
  const previous = Deno.env.get("XDG_CACHE_HOME");
  Deno.env.set("XDG_CACHE_HOME", `${home.path}/cache`);
  try {
    const entry = `${home.path}/cache/ferry/keys/${
      createHash("sha256").update(identity.path).digest("hex")
    }`;
    await Deno.mkdir(`${home.path}/cache/ferry/keys`, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(entry, "{not json");
    await primeTokenKey(token, identity);
    const written = JSON.parse(await Deno.readTextFile(entry));
    assertEquals(written.key, btoa(String.fromCharCode(...await pskFor(token))));
    // Another inode with the same path: the entry is not its key.
    await Deno.writeTextFile(entry, JSON.stringify({ ...written, key: wrongKey }));
    await primeTokenKey(token, { ...identity, ino: 3 });
    assertEquals(JSON.parse(await Deno.readTextFile(entry)).ino, 3);
    assert(JSON.parse(await Deno.readTextFile(entry)).key !== wrongKey);
  } finally {
    if (previous === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", previous);
  }
});
