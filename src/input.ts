// Reading what the user hands orch as text (spawn's prompt, send/reply -) with a bound, so that /dev/zero
// or an endless pipe ends in a clear error instead of all of memory.

import { OrchError, errnoCode } from "./errors.ts";
import { stringFlag } from "./flags.ts";
import { NotRegularFileError, readUpTo } from "./store/files.ts";

/** The largest message text `send`/`reply` take from standard input. */
export const MAX_TEXT_BYTES = 1024 * 1024;

/**
 * All of `fd` (a regular file, a pipe), at most `max` bytes, as UTF-8 text: more, a folder, or bytes that
 * are not UTF-8 are refused (exit 2), never stored changed (U+FFFD in place of the bytes).
 */
export function readTextBounded(fd: number, max: number, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readUpTo(fd, max, what);
  } catch (error) {
    if (error instanceof NotRegularFileError) {
      throw new OrchError("invalid", `${what} is larger than ${max / (1024 * 1024)} MiB: orch takes at most that much`);
    }
    // Only standard input can be one here: a file given by name is checked to be a regular file first.
    if (errnoCode(error) === "EISDIR") throw new OrchError("invalid", `${what}: standard input is a folder`);
    throw error;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new OrchError("invalid", `${what} is not valid UTF-8 text`);
  }
}

/** All of standard input as text (see readTextBounded). */
export function readStdinBounded(max: number, what: string): string {
  return readTextBounded(0, max, what);
}

/**
 * The text of a flag, or (with the internal --text-on-stdin, from the orch that drives this host) standard
 * input: a text in a quoted argument could pass the host's limit on one command line (128 KiB) once quoted.
 */
export function flagTextOrStdin(flags: Record<string, unknown>, name: string, what: string): string | undefined {
  if (flags.textOnStdin === true) return readStdinBounded(MAX_TEXT_BYTES, what);
  // Strictly, as every text flag: given twice is a usage error, never taken as not given at all.
  return stringFlag(flags, name);
}
