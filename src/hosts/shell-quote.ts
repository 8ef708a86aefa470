// The one function that turns an argument array into a command line for a remote POSIX shell: ssh joins
// its arguments into one string that the remote shell parses, so every word crosses quoted, once.

import { invalid } from "../errors.ts";

/**
 * One word for a POSIX shell: inside single quotes nothing is special except the single quote itself,
 * which is closed, escaped and reopened ('\''). Works the same in sh, dash, bash, ksh and zsh.
 */
function quoteWord(word: string): string {
  if (word.includes("\0")) throw invalid("an argument for the remote shell holds a NUL byte, which no command line can carry");
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `argv` as one command line for a POSIX shell; the shell's word splitting gives back exactly `argv`. */
export function quoteForShell(argv: readonly string[]): string {
  if (argv.length === 0) throw invalid("no command to quote for the remote shell");
  return argv.map(quoteWord).join(" ");
}
