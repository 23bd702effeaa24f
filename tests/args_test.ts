import { oneServer } from "../commands/_connect.ts";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { UsageError } from "../commands/_usage.ts";
import { parseGetArgs } from "../commands/get.ts";
import { parseSendArgs } from "../commands/send.ts";
import { formatEvent, parseServeArgs } from "../commands/serve.ts";

Deno.test("parseSendArgs() reads sources, destination and flags", () => {
  assertEquals(
    parseSendArgs(["-r", "a", "b", "pi:dst/", "--json", "-P", "9000", "--token-file", "t"]),
    {
      sources: ["a", "b"],
      dest: { host: "pi", port: undefined, path: "dst/" },
      recursive: true,
      quiet: false,
      json: true,
      port: 9000,
      tokenFile: "t",
      sync: false,
      checksum: false,
      delete: false,
      retries: 3,
      timeoutSeconds: undefined,
      limitRate: undefined,
      jobs: 1,
      fsync: undefined,
      backup: false,
      name: undefined,
      filter: undefined,
      dryRun: false,
      verbose: 0,
      ignoreExisting: false,
      update: false,
      progress: undefined,
      compress: undefined,
      warnings: [],
      fromCommand: undefined,
    },
  );
  const backups = (argv: string[]) => {
    const parsed = parseSendArgs([...argv, "a", "pi:"]);
    return parsed === "help" ? "help" : parsed.backup;
  };
  assertEquals(backups(["--backup"]), true);
  assertEquals(backups(["--backup-dir", ".old"]), ".old");
  const tuned = parseSendArgs([
    "--sync",
    "--delete",
    "--retries",
    "0",
    "--timeout",
    "5",
    "--limit-rate",
    "1.5M",
    "--fsync=batch",
    "a",
    "pi:",
  ]);
  assertEquals(
    tuned !== "help" &&
      [
        tuned.sync,
        tuned.delete,
        tuned.retries,
        tuned.timeoutSeconds,
        tuned.limitRate,
        tuned.fsync,
      ],
    [true, true, 0, 5, 1572864, "batch"],
  );
  for (const rate of ["fast", "0", "-1K", "10X"]) {
    assertThrows(() => parseSendArgs(["--limit-rate", rate, "a", "pi:"]), UsageError);
  }
  assertEquals(parseSendArgs(["--help"]), "help");
});

Deno.test("parseSendArgs() refuses a local destination, a remote source, unknown flags and bad ports", () => {
  // Each refusal says what was wrong, not only that something was.
  const refusals: [string[], string][] = [
    [["a"], "send needs at least one source and a destination"],
    [["a", "b"], `The destination "b" is not a remote address`],
    [["pi:a", "pi:b"], `"pi:a" is remote: send takes local sources`],
    [["--frobnicate", "a", "pi:"], "Unknown option '--frobnicate'"],
    [["-P", "0", "a", "pi:"], `--port needs a whole number from 1 to 65535, not "0"`],
    [["--token", "x", "a", "pi:"], "Unknown option '--token'"],
  ];
  for (const [argv, says] of refusals) {
    const error = assertThrows(() => parseSendArgs(argv), UsageError);
    assert(error.message.includes(says), `${argv.join(" ")}: ${error.message}`);
  }
});

Deno.test("parseGetArgs() defaults DEST to the current folder; one get needs one server", () => {
  const one = parseGetArgs(["pi:logs/app.log"]);
  assertEquals(one !== "help" && [one.sources.map((s) => [s.host, s.path]), one.dest], [
    [["pi", "logs/app.log"]],
    ".",
  ]);
  const two = parseGetArgs(["-r", "pi:a", "pi:b", "out"]);
  assertEquals(two !== "help" && [two.sources.map((s) => s.path), two.dest, two.recursive], [
    ["a", "b"],
    "out",
    true,
  ]);
  const target = (host: string) => ({
    host,
    port: undefined,
    path: "a",
    tokenFile: undefined,
    alias: undefined,
    folder: "",
  });
  assertEquals(oneServer([target("pi"), target("pi")], "get").host, "pi");
  assertThrows(() => oneServer([target("pi"), target("other")], "get"), UsageError);
  assertThrows(() => parseGetArgs(["local", "out"]), UsageError);
  assertThrows(() => parseGetArgs([]), UsageError);
});

Deno.test("parseServeArgs() applies documented defaults and validates values", () => {
  assertEquals(parseServeArgs([]), {
    root: ".",
    create: false,
    requireConfinement: false,
    host: undefined,
    port: 7717,
    tokenFile: undefined,
    log: "text",
    maxConnections: 32,
    idleTimeoutMs: 300_000,
    graceMs: 10_000,
    readOnly: false,
    noDelete: false,
    maxFileSize: undefined,
    minFreeBytes: undefined,
    fsync: "each",
    accept: undefined,
    onReceive: undefined,
    hookTimeoutMs: 30_000,
    settleMs: 2_000,
    warnings: [],
  });
  const floor = parseServeArgs(["--fsync", "none"]);
  assertEquals(floor !== "help" && floor.fsync, "none");
  assertThrows(() => parseServeArgs(["--fsync", "sometimes"]), UsageError);
  assertThrows(() => parseSendArgs(["--fsync", "always", "a", "pi:"]), UsageError);
  const custom = parseServeArgs(["/srv", "--port", "0", "--log", "json", "--grace", "0"]);
  assertEquals(custom !== "help" && [custom.root, custom.port, custom.log, custom.graceMs], [
    "/srv",
    0,
    "json",
    0,
  ]);
  for (const argv of [["a", "b"], ["--log", "xml"], ["--port", "-1"], ["--max-conns", "0"]]) {
    assertThrows(() => parseServeArgs(argv), UsageError);
  }
});

Deno.test("formatEvent() escapes control characters in logged paths", () => {
  const line = formatEvent({
    time: "T",
    remote: "r",
    action: "put",
    path: "a\x1b[2Jb",
    ok: false,
    code: "bad_path",
    message: "m",
  }, "text");
  assertEquals(line, `T r put "a\\x1b[2Jb" refused bad_path: m`);
});

Deno.test("docs/ferry.service starts serve with flags serve accepts, and is hardened", async () => {
  const unit = await Deno.readTextFile(new URL("../docs/ferry.service", import.meta.url));
  const execStart = unit.match(/^ExecStart=(\S+) serve (.+)$/m);
  assert(execStart !== null, "an ExecStart running ferry serve");
  const options = parseServeArgs(execStart[2]!.split(/\s+/));
  assert(options !== "help");
  assertEquals([options.root, options.port, options.noDelete], ["/srv/ferry", 7717, true]);
  for (
    const line of [
      "User=ferry",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      `ReadWritePaths=${options.root}`,
      "Restart=on-failure",
    ]
  ) {
    assert(unit.includes(`\n${line}\n`), `the unit has ${line}`);
  }
});

Deno.test("parseSendArgs() counts -v, and keeps filter rules in command-line order", () => {
  const parsed = parseSendArgs([
    "-vv",
    "-n",
    "--include",
    "keep.tmp",
    "--exclude=*.tmp",
    "-u",
    "--ignore-existing",
    "a",
    "pi:",
  ]);
  assert(parsed !== "help");
  assertEquals(
    [parsed.verbose, parsed.dryRun, parsed.update, parsed.ignoreExisting, parsed.filter],
    [2, true, true, true, ["+ keep.tmp", "- *.tmp"]],
  );
  assertThrows(() => parseSendArgs(["--exclude", "[", "a", "pi:"]), UsageError);
});
