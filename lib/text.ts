/**
 * How messages show what they name, from the library and the command line
 * alike: names made safe to print on a terminal, sizes as people read them.
 *
 * @module
 */

// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** A name made safe to print on a terminal: control characters become \xNN or \uNNNN escapes. */
export function printable(name: string): string {
  return name.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** "0 B", "1.5 KiB", "12.0 MiB": binary units, one decimal above bytes. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // Whole bytes: a speed of 989.538 B/s is shown as "990 B".
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}
