// `ferry completions`: the scripts are generated from the help texts, and the
// bash one is run for real to show that it completes commands and flags.

import { assert, assertEquals } from "./_assert.ts";
import { ferry } from "./_cli.ts";
import { tempDir } from "./_helpers.ts";

async function bash(script: string, words: string[]): Promise<string> {
  const line = `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); ` +
    `COMP_CWORD=${words.length - 1}; _ferry; echo "\${COMPREPLY[*]}"`;
  const output = await new Deno.Command("bash", { args: ["-c", line, "bash", script] }).output();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout).trim();
}

Deno.test("ferry completions bash completes commands and each command's flags", async () => {
  await using dir = await tempDir();
  const generated = await ferry(["completions", "bash"]);
  assertEquals(generated.code, 0);
  const script = `${dir.path}/ferry.bash`;
  await Deno.writeTextFile(script, generated.stdout);
  assertEquals(await bash(script, ["ferry", "s"]), "serve send shell");
  assertEquals(await bash(script, ["ferry", "send", "--sy"]), "--sync");
  assertEquals(await bash(script, ["ferry", "serve", "--no"]), "--no-delete");
  assertEquals(await bash(script, ["ferry", "ls", "--h"]), "--human-readable --help");
  assertEquals(await bash(script, ["ferry", "rm", "--no"]), "", "rm has no --no-delete flag");
});

Deno.test("ferry completions zsh and fish name every command; an unknown shell is a usage error", async () => {
  for (const shell of ["zsh", "fish"]) {
    const { code, stdout } = await ferry(["completions", shell]);
    assertEquals(code, 0);
    for (const name of ["serve", "send", "get", "ls", "mkdir", "rm", "mv"]) {
      assert(stdout.includes(name), `${shell} script names ${name}`);
    }
    assert(stdout.includes("limit-rate"), `${shell} script has send's flags`);
  }
  assertEquals((await ferry(["completions", "tcsh"])).code, 2);
});
