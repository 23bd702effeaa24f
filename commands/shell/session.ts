/**
 * One shell session: the client of one server, the current remote folder,
 * and the remote listings kept for completion. The current local folder is
 * the process's own.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../../lib/errors.ts";
import { printErr } from "../_output.ts";
import { remotePath, shownRemote } from "./paths.ts";
import { printable } from "../../lib/text.ts";
import type { FerryClient } from "../../mod.ts";

/** A name in a folder, for completion. */
export interface FolderName {
  name: string;
  folder: boolean;
}

/** How the session prints: text, or one JSON line per command. */
export interface ShellOutput {
  json: boolean;
  quiet: boolean;
}

export class ShellSession {
  /** The server as the user named it ("pi", "127.0.0.1:7717"). */
  readonly label: string;
  readonly client: FerryClient;
  /** Where `cd` with no argument goes: the folder the shell started in. */
  readonly home: string;
  readonly output: ShellOutput;
  /** The current remote folder, from the server's root ("" is the root). */
  cwd: string;
  // Listings for completion, by folder; dropped whenever a command runs,
  // since that command (or another client) may have changed the folder.
  #listings = new Map<string, Promise<FolderName[]>>();
  #wasConnected = false;

  constructor(label: string, client: FerryClient, home: string, output: ShellOutput) {
    this.label = label;
    this.client = client;
    this.home = home;
    this.cwd = home;
    this.output = output;
  }

  /** "ferry pi:/photos> ", with the folder's name made safe to print. */
  prompt(): string {
    return `ferry ${this.label}:${printable(shownRemote(this.cwd))}> `;
  }

  /** The remote path `typed` names, from the server's root. */
  resolve(typed: string): string {
    return remotePath(this.cwd, typed);
  }

  /** A remote path as the client takes it: from the server's root. */
  wire(path: string): string {
    return `/${path}`;
  }

  /** Checks that `path` is a remote folder; the error names what is there instead. */
  async requireFolder(path: string): Promise<void> {
    const found = await this.client.stat(this.wire(path));
    if (found === null) {
      throw new FerryError(
        ErrorCode.NotFound,
        `No such remote folder: "${printable(shownRemote(path))}"`,
        { path },
      );
    }
    if (found.type !== "dir") {
      throw new FerryError(
        ErrorCode.NotDirectory,
        `"${printable(shownRemote(path))}" is not a folder`,
        { path },
      );
    }
  }

  /**
   * Before a command that uses the connection: says so when the last one
   * was lost (the client reopens it at its next call).
   */
  beforeRemote(): void {
    this.#listings.clear();
    if (this.#wasConnected && !this.client.connected && !this.output.json) {
      printErr(`ferry: the connection to ${this.label} was lost; reconnecting`);
    }
  }

  /** After a command: whether there is a connection whose loss is worth a notice. */
  afterCommand(): void {
    this.#wasConnected ||= this.client.connected;
  }

  /** Names in the remote folder `path`, listed once per folder until the next command. */
  names(path: string): Promise<FolderName[]> {
    let listing = this.#listings.get(path);
    if (listing === undefined) {
      listing = (async () => {
        const names: FolderName[] = [];
        for await (const entry of this.client.list(this.wire(path))) {
          if (entry.path !== path) names.push({ name: entry.name, folder: entry.type === "dir" });
        }
        return names;
      })();
      // A failed listing is not kept: the next Tab tries again.
      listing.catch(() => this.#listings.delete(path));
      this.#listings.set(path, listing);
    }
    return listing;
  }
}
