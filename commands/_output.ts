/**
 * Writing lines to stdout and stderr. Synchronous, so that a line is out
 * before main exits.
 *
 * @module
 */

const encoder = new TextEncoder();

export function printOut(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

export function printErr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}
