// The layers of lib/ as the tree shows them: a lower layer never imports a
// higher one, nothing in lib/ imports the command line, there are no import
// cycles, the command line stands on the library, and functions keep the
// shapes of the style (scripts/lint_shapes.ts, also run by deno lint).

import { assert, assertEquals } from "./_assert.ts";
import shapes, { MAX_FUNCTION_LINES } from "../scripts/lint_shapes.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Rank of each part of lib/: a module may import only from parts of lower or equal rank. */
// lib/fs knows files, not frames: the protocol and the wire stand on it.
const RANK: Record<string, number> = {
  "text.ts": 0,
  // Error messages print the names they give.
  "errors.ts": 0.25,
  // Remote paths are refused with errors that print their names.
  "remote_path.ts": 0.5,
  fs: 1,
  config: 1,
  protocol: 2,
  wire: 3,
  client: 4,
  server: 4,
};

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Relative imports of `file`, resolved to paths from the project root. */
async function importsOf(file: string): Promise<string[]> {
  // Examples in doc comments import too, but are not part of the graph.
  const text = (await Deno.readTextFile(`${ROOT}${file}`))
    .split("\n").filter((line) => !/^\s*\*/.test(line)).join("\n");
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    const parts = file.split("/").slice(0, -1);
    for (const segment of match[1]!.split("/")) {
      if (segment === "..") parts.pop();
      else if (segment !== ".") parts.push(segment);
    }
    found.push(parts.join("/"));
  }
  return found;
}

function layerOf(file: string): string {
  return file.split("/")[1]!;
}

Deno.test("lib/ layers import only downwards and never the command line", async () => {
  const wrong: string[] = [];
  for (const file of await sourceFiles("lib")) {
    const layer = layerOf(file);
    assert(layer in RANK, `${file} is in no known layer`);
    for (const target of await importsOf(file)) {
      if (!target.startsWith("lib/")) {
        wrong.push(`${file} imports ${target}, outside lib/`);
      } else if (RANK[layerOf(target)]! > RANK[layer]!) {
        wrong.push(`${file} imports ${target}, a higher layer`);
      } else if (RANK[layerOf(target)] === RANK[layer] && layerOf(target) !== layer) {
        wrong.push(`${file} imports ${target}, a sibling layer`);
      }
    }
  }
  assertEquals(wrong, []);
});

// The command line stands on the library: what it does, a script can do through mod.ts.
const COMMANDS_MAY_IMPORT = [
  /^mod\.ts$/,
  /^deno\.json$/,
  /^lib\/config\//,
  /^lib\/(errors|text|remote_path)\.ts$/,
];

Deno.test("commands/ import only mod.ts, lib/config and the base modules of lib/", async () => {
  const wrong: string[] = [];
  for (const file of [...await sourceFiles("commands"), "main.ts"]) {
    for (const target of await importsOf(file)) {
      if (target.startsWith("commands/")) continue;
      if (!COMMANDS_MAY_IMPORT.some((allowed) => allowed.test(target))) {
        wrong.push(`${file} imports ${target}`);
      }
    }
  }
  assertEquals(wrong, []);
});

Deno.test("no module of lib/, commands/, main.ts or mod.ts is part of an import cycle", async () => {
  const files = [
    ...await sourceFiles("lib"),
    ...await sourceFiles("commands"),
    "main.ts",
    "mod.ts",
  ];
  const graph = new Map<string, string[]>();
  for (const file of files) graph.set(file, await importsOf(file));
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "visiting") {
      cycles.push([...trail.slice(trail.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "visiting");
    for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
    state.set(file, "done");
  };
  for (const file of files) visit(file, []);
  assertEquals(cycles, []);
});

/**
 * What the shape rules report in `file` (as `deno lint` does), without the
 * places that say why they may differ: a "deno-lint-ignore" of the rule on
 * the line before, with a reason after "--".
 */
function shapeProblems(file: string, source: string): string[] {
  const lines = source.split("\n");
  return Deno.lint.runPlugin(shapes, file, source).filter((problem) => {
    const line = source.slice(0, problem.range[0]).split("\n").length;
    const before = lines[line - 2] ?? "";
    return !(before.includes(`deno-lint-ignore ${problem.id}`) && /--\s*\S/.test(before));
  }).map((problem) => `${file}: ${problem.message}`);
}

Deno.test("no function of lib/ or commands/ is over 60 lines or nested over 4 deep without saying why", async () => {
  const problems: string[] = [];
  for (const file of [...await sourceFiles("lib"), ...await sourceFiles("commands")]) {
    problems.push(...shapeProblems(`${ROOT}${file}`, await Deno.readTextFile(`${ROOT}${file}`)));
  }
  assertEquals(problems, []);
});

Deno.test("the shape rules see a long function and deep nesting, not an else-if chain", () => {
  const body = (lines: number) => Array.from({ length: lines - 2 }, (_, i) => `  f(${i});`);
  const long = ["function long() {", ...body(MAX_FUNCTION_LINES + 1), "}"].join("\n");
  const fits = ["function fits() {", ...body(MAX_FUNCTION_LINES), "}"].join("\n");
  const deep = "function deep(a: number) {\n" +
    "  if (a) { for (;;) { while (a) { try { if (a) f(); } catch { /* */ } } } }\n}";
  const chain = "function chain(a: number) {\n" +
    "  if (a) { for (;;) { while (a) { if (a) f(); else if (a > 1) f(); else if (a > 2) f(); } } }\n}";
  const said = "// deno-lint-ignore ferry-shapes/function-length -- a table\n" + long;
  const file = `${ROOT}lib/shape_probe.ts`;
  assertEquals(shapeProblems(file, long).length, 1);
  assertEquals(shapeProblems(file, fits), []);
  assertEquals(shapeProblems(file, deep).length, 1);
  assertEquals(shapeProblems(file, chain), []);
  assertEquals(shapeProblems(file, said), []);
  assertEquals(shapeProblems(`${ROOT}tests/probe_test.ts`, long), []);
});

Deno.test("tests and scripts name no file outside the repository", async () => {
  // A user's clone has nothing beside it: what a test reads is copied into the repository.
  const outside: string[] = [];
  for (const file of [...await sourceFiles("tests"), ...await sourceFiles("scripts")]) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    for (const match of text.matchAll(/new URL\(\s*"([^"]+)"\s*,\s*import\.meta\.url/g)) {
      const depth = file.split("/").length - 1;
      const ups = match[1]!.split("/").filter((segment) => segment === "..").length;
      if (ups > depth) outside.push(`${file}: ${match[1]}`);
    }
  }
  assertEquals(outside, []);
});
