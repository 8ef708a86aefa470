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
  if (word.includes("\0")) throw invalid("an argument for the remote shell holds a NUL byte, which no command line can carry");
  return `'${word.replace(/['\\]/g, (c) => `'\\${c}'`)}'`;
}

/** `argv` as one command line for the remote shell; its word splitting gives back exactly `argv`. */
export function quoteForShell(argv: readonly string[]): string {
  if (argv.length === 0) throw invalid("no command to quote for the remote shell");
  return argv.map(quoteWord).join(" ");
}
