import { assertEquals, assertThrows } from "./_assert.ts";
import { ErrorCode, FerryError } from "../lib/errors.ts";
import { resolveInside } from "../lib/fs/safe_path.ts";
import { tempDir } from "./_helpers.ts";
import { printable } from "../lib/text.ts";
import { splitAnnouncedName, splitRemotePath } from "../lib/remote_path.ts";

Deno.test("splitRemotePath() treats /, . and empty parts as the root and keeps plain names", () => {
  assertEquals(splitRemotePath(""), []);
  assertEquals(splitRemotePath("/"), []);
  assertEquals(splitRemotePath("./a//b/./c/"), ["a", "b", "c"]);
  assertEquals(splitRemotePath("/photos/2024 summer/ünïcode 📷.jpg"), [
    "photos",
    "2024 summer",
    "ünïcode 📷.jpg",
  ]);
});

Deno.test("splitRemotePath() refuses every way out of the root and every malformed name", () => {
  const refused = [
    "../x",
    "/../../etc/x",
    "a/../../b",
    "a/..",
    "a\0b",
    "\ud800",
    "x".repeat(5000),
    "a/" + "y".repeat(256),
    Array(65).fill("d").join("/"),
  ];
  for (const path of refused) {
    const error = assertThrows(() => splitRemotePath(path), FerryError);
    assertEquals(error.code, ErrorCode.BadPath, JSON.stringify(path.slice(0, 20)));
  }
});

Deno.test("splitRemotePath() accepts every name a POSIX file system allows but NUL and /", () => {
  for (
    const name of ["tab\tname", "new\nline", "a\x1b[31mb", "a\u202eb", "back\\slash", "\x7f\x85"]
  ) {
    assertEquals(splitRemotePath(`dir/${name}`), ["dir", name]);
  }
});

Deno.test("splitAnnouncedName() refuses absolute names from a server instead of re-rooting them", () => {
  assertEquals(
    assertThrows(() => splitAnnouncedName("/etc/passwd"), FerryError).code,
    ErrorCode.BadPath,
  );
  assertEquals(
    assertThrows(() => splitAnnouncedName("../evil"), FerryError).code,
    ErrorCode.BadPath,
  );
  assertEquals(splitAnnouncedName("a/b"), ["a", "b"]);
});

Deno.test("resolveInside() follows symlinks that stay inside and refuses those that leave", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  await Deno.mkdir(`${root.path}/real`);
  await Deno.symlink(`${root.path}/real`, `${root.path}/inside-link`);
  await Deno.symlink(outside.path, `${root.path}/escape`);
  await Deno.symlink("/nonexistent/target", `${root.path}/dangling`);
  assertEquals(resolveInside(root.path, ["inside-link", "f"]), `${root.path}/real/f`);
  assertEquals(resolveInside(root.path, ["new", "deeper", "f"]), `${root.path}/new/deeper/f`);
  for (const parts of [["escape"], ["escape", "f"], ["dangling"], ["dangling", "x"]]) {
    const error = assertThrows(() => resolveInside(root.path, parts), FerryError);
    assertEquals(error.code, ErrorCode.BadPath, parts.join("/"));
  }
});

Deno.test("printable() escapes control characters and terminal escapes", () => {
  assertEquals(printable("a\x1b[2Jb\nc\u202e"), "a\\x1b[2Jb\\x0ac\\u202e");
  assertEquals(printable("\x07\x08\x7f"), "\\x07\\x08\\x7f");
});
