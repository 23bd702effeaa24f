// The group commit of received files, on real files in a temp folder, with
// the flushes counted or made to fail through its SyncFunctions: no file is
// renamed before its data is flushed, each folder is flushed after its files
// are renamed into it and once per round, a failed flush never answers OK,
// and --fsync=none flushes nothing yet never shows a partial file.

import { assert, assertEquals } from "./_assert.ts";
import { exists, patternBytes, tempDir } from "./_helpers.ts";
import { GroupCommit } from "../lib/fs/group_commit.ts";
import { IncomingFile, type IncomingMeta, type IncomingOptions } from "../lib/fs/incoming_file.ts";
import { FileDigest } from "../lib/fs/digest.ts";
import { type SyncFunctions, SYSTEM_SYNC } from "../lib/fs/durability.ts";
import { ConfinedRoot } from "../lib/fs/confinement.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import type { FsyncMode } from "../mod.ts";

/** Real flushes that record what they flushed, and what was visible then. */
class RecordingSync implements SyncFunctions {
  files: string[] = [];
  folders: string[] = [];
  fileSystems: string[] = [];
  /** Final names that existed when their temporary was flushed: must stay empty. */
  visibleBeforeFlush: string[] = [];
  /** Flushed files not yet renamed into a folder being flushed: must stay empty. */
  unnamedAtFolderFlush: string[] = [];
  failFile: ((tempPath: string) => boolean) | undefined;
  failFolder: ((path: string) => boolean) | undefined;
  /** Holds every file flush until released (to gather the next round). */
  gate: Promise<void> | undefined;
  fileSystemAvailable = true;
  #destinations = new Map<string, string>();

  expect(file: IncomingFile): void {
    this.#destinations.set(file.tempPath, file.path);
  }

  async file(file: Deno.FsFile, path: string): Promise<void> {
    await this.gate;
    this.files.push(path);
    const destination = this.#destinations.get(path);
    if (destination !== undefined && await exists(destination)) {
      this.visibleBeforeFlush.push(destination);
    }
    if (this.failFile?.(path)) throw new Deno.errors.Interrupted("injected writeback error");
    await SYSTEM_SYNC.file(file, path);
  }

  async folder(path: string): Promise<void> {
    this.folders.push(path);
    for (const temp of this.files) {
      const destination = this.#destinations.get(temp)!;
      if (destination.startsWith(`${path}/`) && !await exists(destination)) {
        this.unnamedAtFolderFlush.push(destination);
      }
    }
    if (this.failFolder?.(path)) throw new Deno.errors.Interrupted("injected folder error");
    await SYSTEM_SYNC.folder(path);
  }

  fileSystem(path: string): Promise<boolean> {
    if (!this.fileSystemAvailable) return Promise.resolve(false);
    this.fileSystems.push(path);
    return Promise.resolve(true);
  }
}

/** Opens an upload of `path`, its folder held as the server holds it. */
async function openIncoming(
  path: string,
  meta: IncomingMeta,
  options: IncomingOptions = {},
): Promise<IncomingFile> {
  const cut = path.lastIndexOf("/");
  const root = ConfinedRoot.open(path.slice(0, cut));
  try {
    using folder = root.top();
    return await IncomingFile.open(folder, path.slice(cut + 1), path.slice(cut + 1), meta, options);
  } finally {
    root.close();
  }
}

/** Makes `path` (and its parents) in the folder `parent`; the folders made, as the server reports them. */
function makeFolder(parent: string, path: string): string[] {
  const root = ConfinedRoot.open(parent);
  const { folder, made } = root.makeFolders(path.split("/"));
  folder.release();
  root.close();
  return made;
}

/** Receives `bytes` into `path` and ends the body in `commits`; resolves with the outcome. */
async function receive(
  commits: GroupCommit,
  sync: RecordingSync,
  path: string,
  bytes: Uint8Array,
  fsync: FsyncMode = "each",
): Promise<{ outcome: Promise<"ok" | FerryError> }> {
  const existed = await exists(path);
  const file = await openIncoming(path, {
    size: bytes.length,
    mode: 0o644,
    mtime: 1_700_000_000_000,
  }, { fsync });
  sync.expect(file);
  await file.write(bytes);
  if (!existed) assert(!await exists(path), "nothing under the final name before the commit");
  const digest = await FileDigest.start();
  digest.update(bytes);
  const outcome = Promise.withResolvers<"ok" | FerryError>();
  await commits.end(file, digest.finish(), async (committed) => {
    try {
      await committed;
      outcome.resolve("ok");
    } catch (error) {
      outcome.resolve(error as FerryError);
    }
  });
  return { outcome: outcome.promise };
}

Deno.test("group commit: data flushed before the rename, each folder flushed once per round after it", async () => {
  await using dir = await tempDir();
  const sync = new RecordingSync();
  const commits = new GroupCommit({ sync });
  const a = `${dir.path}/a`;
  await Deno.mkdir(a);
  // Round 1 holds the first file until the others are waiting.
  const gate = Promise.withResolvers<void>();
  sync.gate = gate.promise;
  const first = await receive(commits, sync, `${a}/1`, patternBytes(1000, 1));
  const newFolder = `${dir.path}/b/c`;
  commits.foldersMade(makeFolder(dir.path, "b/c"), "each");
  const rest = [
    await receive(commits, sync, `${a}/2`, patternBytes(2000, 2)),
    await receive(commits, sync, `${a}/3`, patternBytes(3000, 3)),
    await receive(commits, sync, `${newFolder}/4`, patternBytes(4000, 4)),
    await receive(commits, sync, `${newFolder}/5`, patternBytes(5000, 5)),
  ];
  gate.resolve();
  for (const { outcome } of [first, ...rest]) assertEquals(await outcome, "ok");
  await commits.drain();

  assertEquals(sync.files.length, 5);
  assertEquals(sync.visibleBeforeFlush, []);
  assertEquals(sync.unnamedAtFolderFlush, []);
  // Round 1: a. Round 2: a once for two files, the new folder once, and the
  // parents of both new folders (b and the root).
  const counts = Object.fromEntries(
    [a, newFolder, `${dir.path}/b`, dir.path].map((
      f,
    ) => [f, sync.folders.filter((x) => x === f).length]),
  );
  assertEquals(counts, { [a]: 2, [newFolder]: 1, [`${dir.path}/b`]: 1, [dir.path]: 1 });
  assertEquals(sync.folders.length, 5);
  assertEquals(await Deno.readFile(`${newFolder}/5`), patternBytes(5000, 5));
  assertEquals(commits.size, 0);
});

Deno.test("group commit: a failed file flush fails that file only, and the old file is kept", async () => {
  await using dir = await tempDir();
  const sync = new RecordingSync();
  const commits = new GroupCommit({ sync });
  await Deno.writeTextFile(`${dir.path}/bad`, "old contents");
  const doomed = new Set<string>();
  sync.failFile = (temp) => doomed.has(temp);
  const gate = Promise.withResolvers<void>();
  sync.gate = gate.promise;
  const good = await receive(commits, sync, `${dir.path}/good`, patternBytes(100, 1));
  const bad = await openIncoming(`${dir.path}/bad`, {
    size: 100,
    mode: 0o644,
    mtime: 0,
  });
  doomed.add(bad.tempPath);
  await bad.write(patternBytes(100, 2));
  const digest = await FileDigest.start();
  digest.update(patternBytes(100, 2));
  const failed = Promise.withResolvers<unknown>();
  await commits.end(
    bad,
    digest.finish(),
    (committed) => committed.then(failed.resolve, failed.resolve),
  );
  gate.resolve();

  assertEquals(await good.outcome, "ok");
  const error = await failed.promise;
  assert(error instanceof FerryError, `not OK: ${error}`);
  assert(error.message.includes("bad"), error.message);
  assertEquals(await Deno.readTextFile(`${dir.path}/bad`), "old contents");
  assert(!await exists(bad.tempPath), "the temporary is removed");
  await commits.drain();
});

Deno.test("group commit: a failed folder flush never answers OK for the files in it", async () => {
  await using dir = await tempDir();
  const sync = new RecordingSync();
  const commits = new GroupCommit({ sync });
  await Deno.mkdir(`${dir.path}/frail`);
  await Deno.mkdir(`${dir.path}/fine`);
  sync.failFolder = (path) => path.endsWith("/frail");
  const gate = Promise.withResolvers<void>();
  sync.gate = gate.promise;
  const inFrail = await receive(commits, sync, `${dir.path}/frail/x`, patternBytes(10));
  const inFine = await receive(commits, sync, `${dir.path}/fine/y`, patternBytes(10));
  gate.resolve();
  const frail = await inFrail.outcome;
  assert(frail instanceof FerryError, "a file whose folder was not flushed is not OK");
  assert(frail.message.includes("folder"), frail.message);
  assertEquals(await inFine.outcome, "ok");
  await commits.drain();
});

Deno.test("group commit: --fsync=none flushes nothing but still verifies and renames", async () => {
  await using dir = await tempDir();
  const sync = new RecordingSync();
  const commits = new GroupCommit({ sync });
  commits.foldersMade(makeFolder(dir.path, "new"), "none");
  const { outcome } = await receive(
    commits,
    sync,
    `${dir.path}/new/f`,
    patternBytes(70_000),
    "none",
  );
  assertEquals(await outcome, "ok");
  await commits.drain();
  assertEquals([sync.files, sync.folders, sync.fileSystems], [[], [], []]);
  assertEquals(await Deno.readFile(`${dir.path}/new/f`), patternBytes(70_000));

  // A corrupted body is refused in this mode too, and leaves nothing behind.
  const file = await openIncoming(
    `${dir.path}/new/g`,
    { size: 5, mode: 0o644, mtime: 0 },
    {
      fsync: "none",
    },
  );
  await file.write(new TextEncoder().encode("hello"));
  const refused = Promise.withResolvers<unknown>();
  await commits.end(file, new Uint8Array(16), (c) => c.then(refused.resolve, refused.resolve));
  const error = await refused.promise;
  assert(error instanceof FerryError && error.code === ErrorCode.DigestMismatch);
  assert(!await exists(`${dir.path}/new/g`));
  assert(!await exists(file.tempPath));
});

Deno.test("group commit: --fsync=batch flushes the file system before and after the renames, else falls back to each", async () => {
  await using dir = await tempDir();
  const sync = new RecordingSync();
  const commits = new GroupCommit({ sync });
  const { outcome } = await receive(commits, sync, `${dir.path}/f`, patternBytes(100), "batch");
  assertEquals(await outcome, "ok");
  await commits.drain();
  // Before and after; the file's own flush still runs (it reports a writeback error).
  assertEquals([sync.fileSystems.length, sync.files.length, sync.folders], [2, 1, []]);

  const fallback = new RecordingSync();
  fallback.fileSystemAvailable = false;
  const plain = new GroupCommit({ sync: fallback });
  const second = await receive(plain, fallback, `${dir.path}/g`, patternBytes(100), "batch");
  assertEquals(await second.outcome, "ok");
  await plain.drain();
  assertEquals([fallback.files.length, fallback.folders], [1, [dir.path]]);
});
