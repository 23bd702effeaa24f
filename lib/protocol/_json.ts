/**
 * The JSON plumbing under requests.ts and replies.ts: control payloads are
 * UTF-8 JSON objects, so later versions add fields without a version break.
 * Decoders ignore fields they do not know and validate every field they use.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../errors.ts";
import { MAX_CONTROL_PAYLOAD } from "./frame.ts";

/** A decoded JSON object whose fields are not yet validated. */
export type Fields = Record<string, unknown>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a control payload as UTF-8 JSON, refusing anything over the frame cap. */
export function encodeObject(value: object): Uint8Array {
  return capped(encoder.encode(JSON.stringify(value)));
}

/** Encodes an object whose JSON text is already built (ENTRIES batches). */
export function encodeText(json: string): Uint8Array {
  return capped(encoder.encode(json));
}

function capped(bytes: Uint8Array): Uint8Array {
  if (bytes.length > MAX_CONTROL_PAYLOAD) {
    throw new FerryError(
      ErrorCode.BadPath,
      `A message of ${bytes.length} bytes is over the protocol limit of ${MAX_CONTROL_PAYLOAD}`,
    );
  }
  return bytes;
}

/** Parses a payload that must be one JSON object. */
export function decodeObject(payload: Uint8Array, what: string): Fields {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    throw protocolError(`${what} is not valid UTF-8 JSON`);
  }
  return asObject(value, what);
}

/** Checks that a parsed value is a JSON object (not an array, not null). */
export function asObject(value: unknown, what: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw protocolError(`${what} is not a JSON object`);
  }
  return value as Fields;
}

export function protocolError(message: string): FerryError {
  return new FerryError(ErrorCode.Protocol, message);
}

export function str(fields: Fields, key: string, what: string): string {
  const value = fields[key];
  if (typeof value !== "string") throw protocolError(`${what} needs a string "${key}"`);
  return value;
}

export function int(fields: Fields, key: string, what: string, min: number, max: number): number {
  const value = fields[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw protocolError(`${what} needs an integer "${key}" from ${min} to ${max}`);
  }
  return value;
}

/** A boolean field; absent means false. */
export function bool(fields: Fields, key: string, what: string): boolean {
  const value = fields[key];
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw protocolError(`${what} has a non-boolean "${key}"`);
  return value;
}

/** An optional list of strings; absent is undefined. */
export function strings(fields: Fields, key: string, what: string): string[] | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw protocolError(`${what} needs "${key}" to be a list of strings`);
  }
  return value;
}

/** Modification times may precede 1970 but stay within what Date can hold. */
export const MTIME_LIMIT = 8.64e15;

/** Largest file size the protocol carries (2^53 - 1, JSON's exact integers). */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;

export function mtime(fields: Fields, what: string): number {
  return int(fields, "mtime", what, -MTIME_LIMIT, MTIME_LIMIT);
}

export function mode(fields: Fields, what: string): number {
  return int(fields, "mode", what, 0, 0o7777);
}

export function size(fields: Fields, what: string): number {
  return int(fields, "size", what, 0, MAX_FILE_SIZE);
}
