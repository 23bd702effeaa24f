// The layers of lib/ as the tree shows them: a lower layer never imports a
// higher one, nothing in lib/ imports the command line, there are no import
// cycles, and no module grows past the size where it stops being one concept.

import { assert, assertEquals } from "./_assert.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Rank of each part of lib/: a module may import only from parts of lower or equal rank. */
// lib/fs knows files, not frames: the protocol and the wire stand on it.
const RANK: Record<string, number> = {
  "text.ts": 0,
  "errors.ts": 0,
  // Remote paths are refused with errors that print their names.
  "remote_path.ts": 0.5,
  fs: 1,
  config: 1,
  protocol: 2,
  wire: 3,
  client: 4,
  server: 4,
};
const MAX_MODULE_LINES = 400;

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

Deno.test(`no module of lib/ is over ${MAX_MODULE_LINES} lines`, async () => {
  const long: string[] = [];
  for (const file of await sourceFiles("lib")) {
    const lines = (await Deno.readTextFile(`${ROOT}${file}`)).split("\n").length;
    if (lines > MAX_MODULE_LINES) long.push(`${file}: ${lines} lines`);
  }
  assertEquals(long, []);
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
