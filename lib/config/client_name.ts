/**
 * A client's name (`--name`, the config's name for this machine): what the
 * server logs and gives its hooks and `push`. Checked the same on both ends.
 *
 * @module
 */

/** Longest client name carried in the handshake. */
export const MAX_CLIENT_NAME = 64;

/** Whether `name` may name a client: 1 to 64 characters, none of them a control character. */
export function isClientName(name: unknown): name is string {
  return typeof name === "string" && name.length > 0 && name.length <= MAX_CLIENT_NAME &&
    // deno-lint-ignore no-control-regex
    !/[\u0000-\u001f\u007f-\u009f]/.test(name);
}
