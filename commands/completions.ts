/**
 * `ferry completions bash|zsh|fish`: a shell completion script for ferry's
 * commands and flags, generated from the commands' own help texts so that it
 * never falls behind them.
 *
 * @module
 */

import { UsageError } from "./_usage.ts";
import { parseFlags } from "./_args.ts";
import { printOut } from "./_output.ts";

export const HELP = `Usage: ferry completions bash|zsh|fish

Prints a completion script for commands and flags (remote paths are not
completed; local ones are, by the shell).

Install:
  bash:  ferry completions bash > ~/.local/share/bash-completion/completions/ferry
  zsh:   ferry completions zsh > "\${fpath[1]}/_ferry"
  fish:  ferry completions fish > ~/.config/fish/completions/ferry.fish`;

const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = typeof SHELLS[number];

/** What a completion script needs to know about one command. */
export interface CompletedCommand {
  name: string;
  summary: string;
  flags: string[];
}

export function parseCompletionsArgs(argv: string[]): { shell: Shell } | "help" {
  const { values, positionals } = parseFlags("completions", argv, {
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return "help";
  const shell = positionals[0];
  if (positionals.length !== 1 || !SHELLS.includes(shell as Shell)) {
    throw new UsageError(`completions needs one shell: bash, zsh or fish`);
  }
  return { shell: shell as Shell };
}

/** The long flags in a help text's option lines ("  -P, --port PORT ..."). */
export function flagsFromHelp(help: string): string[] {
  const flags = [...help.matchAll(/^ +(?:-[A-Za-z], +)?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
  return [...new Set(flags)];
}

export function printCompletions(shell: Shell, commands: CompletedCommand[]): void {
  printOut(completionScript(shell, commands));
}

export function completionScript(shell: Shell, commands: CompletedCommand[]): string {
  const names = commands.map((c) => c.name).join(" ");
  const quote = (text: string) => text.replaceAll("'", "");
  if (shell === "bash") {
    return `# ferry completion for bash
_ferry() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${names} --help --version" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${commands.map((c) => `    ${c.name}) opts="${c.flags.join(" ")}" ;;`).join("\n")}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _ferry ferry`;
  }
  if (shell === "zsh") {
    return `#compdef ferry
# ferry completion for zsh
_ferry() {
  local -a commands
  commands=(
${commands.map((c) => `    '${c.name}:${quote(c.summary)}'`).join("\n")}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  if [[ $words[CURRENT] == -* ]]; then
    case $words[2] in
${commands.map((c) => `      ${c.name}) compadd -- ${c.flags.join(" ")} ;;`).join("\n")}
    esac
  else
    _files
  fi
}
_ferry "$@"`;
  }
  return [
    "# ferry completion for fish",
    "complete -c ferry -f -n __fish_use_subcommand -l help -d 'Show help'",
    "complete -c ferry -f -n __fish_use_subcommand -l version -d 'Show the version'",
    ...commands.map((c) =>
      `complete -c ferry -f -n __fish_use_subcommand -a ${c.name} -d '${quote(c.summary)}'`
    ),
    ...commands.flatMap((c) =>
      c.flags.map((flag) =>
        `complete -c ferry -n '__fish_seen_subcommand_from ${c.name}' -l ${flag.slice(2)}`
      )
    ),
  ].join("\n");
}
