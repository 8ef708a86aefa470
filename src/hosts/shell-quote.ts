// The one function that turns an argument array into a command line for the remote login shell: ssh
// joins its arguments into one string that the remote shell parses, so every word crosses quoted, once.

import { invalid } from "../errors.ts";

/**
 * One word for the remote shell: inside single quotes nothing is special to a POSIX shell except the
 * single quote itself, which is closed, escaped and reopened ('\''). A backslash goes outside the quotes
 * the same way ('\\'): fish, a login shell people use, reads \\ and \' as escapes even inside single
 * quotes, and outside them every shell reads \\ as one backslash. The same words then come back in sh,
 * dash, bash, ksh, zsh and fish.
 */
function quoteWord(word: string): string {
  if (word.includes("\0")) {
    throw invalid("an argument for the remote shell holds a NUL byte, which no command line can carry");
  }
  return `'${word.replace(/['\\]/g, (c) => `'\\${c}'`)}'`;
}

/** `argv` as one command line for the remote shell; its word splitting gives back exactly `argv`. */
export function quoteForShell(argv: readonly string[]): string {
  if (argv.length === 0) throw invalid("no command to quote for the remote shell");
  return argv.map(quoteWord).join(" ");
}

/** A command line for the remote login shell, made here: scriptLine's, for a login shell known to be POSIX. */
export interface ShellLine {
  readonly line: string;
}

/** What runs on a host: a program and its arguments (quoted by quoteForShell), or a ShellLine. */
export type RemoteCommand = readonly string[] | ShellLine;

/** The one line the remote shell is given for `command`. */
export function commandLine(command: RemoteCommand): string {
  return "line" in command ? command.line : quoteForShell(command);
}

/**
 * `script` (a constant of orch's, never user input) run with `args` as its "$@". In a login shell known to
 * be POSIX (sh, dash, bash: checked by host add, see POSIX_SHELL_CHECK) the script is its own next
 * command, after a `set --` of the quoted arguments: one program start fewer on the host. Any other shell
 * (zsh splits words its own way, fish and csh have their own syntax) gets `sh -c script name args`.
 */
export function scriptLine(
  script: string,
  name: string,
  args: readonly string[],
  posixLoginShell: boolean,
): RemoteCommand {
  if (!posixLoginShell) return ["sh", "-c", script, name, ...args];
  return { line: `${quoteForShell(["set", "--", ...args])}\n${script}` };
}

/**
 * Run as the login shell's own command line by host add, after its rc files as every later command is:
 * prints POSIX_SHELL_OK only where the shell reads scripts as POSIX sh does — `set --`, field splitting of
 * an unquoted expansion with the default IFS, a glob that matches nothing left as it is (not an error, as
 * bash's failglob makes it, nor nothing, as nullglob) — and no option is on that would change orch's
 * scripts: -f (no globs: the poll's look would see no messages), -e, -u, -x. zsh fails the splitting and
 * the glob, fish and csh do not parse it at all.
 */
export const POSIX_SHELL_CHECK: ShellLine = {
  line: "set -- a 'b c'; s='d e'; set -- \"$@\" $s; " +
    "for f in /nonexistent-orch-check/*; do set -- \"$@\" \"$f\"; done; " +
    "case $- in *[efux]*) set -- ;; esac; " +
    "[ $# = 5 ] && [ \"$2\" = 'b c' ] && [ \"$5\" = '/nonexistent-orch-check/*' ] && echo orch-posix-shell",
};
export const POSIX_SHELL_OK = "orch-posix-shell";
