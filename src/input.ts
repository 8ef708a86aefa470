// Reading what the user hands orch on standard input (send/reply -) with a bound, so that /dev/zero or an
// endless pipe ends in a clear error instead of all of memory. (spawn reads its prompt in spawn.ts.)

import { OrchError, errnoCode } from "./errors.ts";
import { NotRegularFileError, readUpTo } from "./store/files.ts";

/** The largest message text `send`/`reply` take from standard input. */
export const MAX_TEXT_BYTES = 1024 * 1024;

function tooLarge(what: string, max: number): OrchError {
  return new OrchError("invalid", `${what} is larger than ${max / (1024 * 1024)} MiB: orch takes at most that much`);
}

/** All of standard input, at most `max` bytes (more is refused, exit 2), as UTF-8 text. */
export function readStdinBounded(max: number, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readUpTo(0, max, what);
  } catch (error) {
    if (error instanceof NotRegularFileError) throw tooLarge(what, max);
    if (errnoCode(error) === "EISDIR") throw new OrchError("invalid", `${what}: standard input is a folder`);
    throw error;
  }
  // Refused rather than stored with U+FFFD in place of the bytes, as arguments and spawn's prompt are.
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new OrchError("invalid", `${what} is not valid UTF-8 text`);
  }
}

/**
 * The text of a flag, or (with the internal --text-on-stdin, from the orch that drives this host) standard
 * input: a text in a quoted argument could pass the host's limit on one command line (128 KiB) once quoted.
 */
export function flagTextOrStdin(flags: Record<string, unknown>, name: string, what: string): string | undefined {
  if (flags.textOnStdin === true) return readStdinBounded(MAX_TEXT_BYTES, what);
  const value = flags[name];
  return typeof value === "string" ? value : undefined;
}
