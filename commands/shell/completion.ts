/**
 * Tab completion for the shell: command names first, then what each
 * argument names (remote paths over the open connection, local paths, or
 * commands for help), quoted so that the line reads back the same.
 *
 * @module
 */

import { type ArgumentKind, commandNames, findCommand } from "./commands.ts";
import type { Candidate, Completer, Completions } from "./line_editor.ts";
import { localPath } from "./paths.ts";
import type { FolderName, ShellSession } from "./session.ts";
import { partialWord, quoteWord } from "./words.ts";

/** A completer for the lines of `session`. */
export function shellCompleter(session: ShellSession): Completer {
  return async (before: string): Promise<Completions> => {
    const word = partialWord(before);
    const done = (candidates: Candidate[]) => ({ start: word.start, candidates });
    const kind = word.before.length === 0 ? "command" : argumentKind(word.before);
    if (kind === undefined || word.value.startsWith("-")) return done([]);
    if (kind === "command") {
      return done(
        commandNames().filter((name) => name.startsWith(word.value)).map((name) => ({
          text: `${quoteWord(name, word.quote, true)} `,
          shown: name,
        })),
      );
    }
    // The folder part as typed stays; names in that folder complete the rest.
    const slash = word.value.lastIndexOf("/");
    const folder = word.value.slice(0, slash + 1);
    const prefix = word.value.slice(slash + 1);
    const names = kind.startsWith("remote")
      ? await session.names(session.resolve(folder))
      : await localNames(localPath(folder === "" ? "." : folder));
    const foldersOnly = kind.endsWith("-folder");
    return done(
      names
        .filter(({ name, folder }) =>
          name.startsWith(prefix) && (folder || !foldersOnly) &&
          // Hidden names only when asked for, as shells do.
          (prefix.startsWith(".") || !name.startsWith("."))
        )
        .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
        .map(({ name, folder: isFolder }) => {
          const value = folder + name + (isFolder ? "/" : "");
          return {
            text: quoteWord(value, word.quote, !isFolder) + (isFolder ? "" : " "),
            shown: name + (isFolder ? "/" : ""),
          };
        }),
    );
  };
}

/** What the next argument of the command line `words` names, if anything. */
function argumentKind(words: string[]): ArgumentKind | undefined {
  let command;
  try {
    command = findCommand(words[0]!).command;
  } catch {
    return undefined;
  }
  const positionals = words.slice(1).filter((word) => !word.startsWith("-")).length;
  const kinds = command.completes;
  return kinds[Math.min(positionals, kinds.length - 1)];
}

/** Names in a local folder; a link to a folder counts as a folder. */
async function localNames(path: string): Promise<FolderName[]> {
  const names: FolderName[] = [];
  for await (const entry of Deno.readDir(path)) {
    let folder = entry.isDirectory;
    if (entry.isSymlink) {
      folder = await Deno.stat(`${path}/${entry.name}`).then(
        (info) => info.isDirectory,
        () => false,
      );
    }
    names.push({ name: entry.name, folder });
  }
  return names;
}
