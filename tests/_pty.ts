// A ferry command on a real pseudo-terminal, through script(1) (util-linux,
// in every Debian): keys are written as a user types them (Tab, Ctrl-C, the
// arrow keys' escape sequences) and the screen output is read back.

import { MAIN, SHIPPED_RUNTIME_FLAGS, TOKEN } from "./_helpers.ts";

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

export class Pty implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reading: Promise<void>;
  #from = 0;
  /** Everything the terminal showed so far. */
  output = "";

  /** Runs `ferry ARGS` in `cwd` on a terminal of `columns` × 30. */
  constructor(args: string[], cwd: string, columns = 100) {
    const ferry = [Deno.execPath(), "run", ...SHIPPED_RUNTIME_FLAGS, MAIN, ...args].map(quote);
    this.#child = new Deno.Command("script", {
      args: ["-qec", `stty cols ${columns} rows 30; exec ${ferry.join(" ")}`, "/dev/null"],
      cwd,
      env: { FERRY_TOKEN: TOKEN, NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const screen = this.#child.stdout.pipeThrough(new TextDecoderStream());
    this.#reading = (async () => {
      for await (const text of screen) this.output += text;
    })();
  }

  /** Types `keys`; later expectations look only at what is shown after this. */
  async type(keys: string): Promise<void> {
    this.#from = this.output.length;
    await this.#writer.write(new TextEncoder().encode(keys));
  }

  /** Waits until the output since the last keys contains `text` (20 s at most). */
  async expect(text: string | RegExp, limitMs = 20_000): Promise<string> {
    const end = Date.now() + limitMs;
    for (;;) {
      const shown = this.output.slice(this.#from);
      if (typeof text === "string" ? shown.includes(text) : text.test(shown)) return shown;
      if (Date.now() > end) {
        throw new Error(
          `${JSON.stringify(text)} never appeared; the screen showed ${JSON.stringify(shown)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Waits for the program to exit (after the keys that end it). */
  async exit(): Promise<number> {
    const { code } = await this.#child.status;
    await this.#reading;
    await this.#writer.close().catch(() => {});
    return code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.exit();
  }
}
