import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { parseRemote } from "../lib/config/address.ts";
import { FerryError } from "../lib/errors.ts";

Deno.test("parseRemote() reads ferry:// URLs with optional port and IPv6 hosts", () => {
  assertEquals(parseRemote("ferry://pi.local/photos/a.jpg"), {
    host: "pi.local",
    port: undefined,
    path: "photos/a.jpg",
  });
  assertEquals(parseRemote("ferry://pi:9000/"), { host: "pi", port: 9000, path: "" });
  assertEquals(parseRemote("ferry://pi//x"), { host: "pi", port: undefined, path: "/x" });
  assertEquals(parseRemote("ferry://[::1]:7717/x"), { host: "::1", port: 7717, path: "x" });
  assertEquals(parseRemote("ferry://[fe80::1]"), { host: "fe80::1", port: undefined, path: "" });
  assertEquals(parseRemote("ferry://h/a%20b"), { host: "h", port: undefined, path: "a b" });
});

Deno.test("parseRemote() reads scp-style HOST:PATH and [IPV6]:PATH", () => {
  assertEquals(parseRemote("pi:logs/app.log"), {
    host: "pi",
    port: undefined,
    path: "logs/app.log",
  });
  assertEquals(parseRemote("pi:"), { host: "pi", port: undefined, path: "" });
  assertEquals(parseRemote("192.168.1.5:/"), { host: "192.168.1.5", port: undefined, path: "/" });
  assertEquals(parseRemote("[::1]:a/b"), { host: "::1", port: undefined, path: "a/b" });
});

Deno.test("parseRemote() leaves local paths alone, as scp does", () => {
  for (const local of ["file.txt", "./a:b", "dir/x:y", "/abs/path:z", ":leading", "[notipv6"]) {
    assertEquals(parseRemote(local), null, local);
  }
});

Deno.test("parseRemote() refuses bad ports and hosts with a usage error", () => {
  for (
    const bad of [
      "ferry://h:0/",
      "ferry://h:70000/",
      "ferry://h:x/",
      "ferry:///p",
      "ferry://[::1/x",
      "bad host:x",
      "[zz]:x",
      "ferry://::1/",
      "ferry://fe80::1:7717/x",
    ]
  ) {
    assertEquals(assertThrows(() => parseRemote(bad), FerryError).code, "usage");
  }
});

Deno.test("parseRemote() refuses HOST:PORT:PATH, which scp-style addresses cannot mean, and says what to write", () => {
  const error = assertThrows(() => parseRemote("host:7717:dir/"), FerryError);
  assertEquals(error.code, "usage");
  assert(error.message.includes("ferry://host:7717/dir/"), error.message);
  assert(error.message.includes("-P 7717"), error.message);
  // The way out for a folder whose name starts with digits and a colon.
  assertEquals(parseRemote("host:./7717:dir/"), {
    host: "host",
    port: undefined,
    path: "./7717:dir/",
  });
  const ipv6 = assertThrows(() => parseRemote("ferry://::1/x"), FerryError);
  assert(ipv6.message.includes("ferry://[::1]/"), ipv6.message);
});
