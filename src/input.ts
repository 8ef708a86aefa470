// Reading what the user hands orch as text (spawn's prompt, send/reply -) with a bound, so that /dev/zero
// or an endless pipe ends in a clear error instead of all of memory.

import { OrchError, errnoCode, usage } from "./errors.ts";
import { stringFlag } from "./flags.ts";
import { NotRegularFileError, readUpTo } from "./store/files.ts";

/** The largest message text `send`/`reply` take from standard input. */
export const MAX_TEXT_BYTES = 1024 * 1024;

/**
 * How many bytes standard input holds, as the orch that drives this host says it wrote them (the internal
 * --stdin-bytes): a connection that ends mid-write ends this input early, which reads as its end, and a
 * short text would be taken for the whole (a worker started on half a prompt, half a message delivered).
 */
export function stdinBytesFlag(flags: Record<string, unknown>): number | undefined {
  const given = stringFlag(flags, "stdinBytes");
  if (given === undefined) return undefined;
  if (!/^\d{1,15}$/.test(given)) throw usage(`bad --stdin-bytes ${JSON.stringify(given)}: a count of bytes`);
  return Number(given);
}

/**
 * All of `fd` (a regular file, a pipe), at most `max` bytes, as UTF-8 text: more, a folder, or bytes that
 * are not UTF-8 are refused (exit 2), never stored changed (U+FFFD in place of the bytes). With `expected`
 * (see stdinBytesFlag), any other count is refused (exit 1) before the text is used.
 */
export function readTextBounded(fd: number, max: number, what: string, expected?: number): string {
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
  if (expected !== undefined && bytes.length !== expected) {
    const why = bytes.length < expected ? "the connection ended before all of it came?" : "more than was sent";
    throw new OrchError("failed", `${what}: ${bytes.length} of ${expected} bytes came (${why}): nothing was done`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new OrchError("invalid", `${what} is not valid UTF-8 text`);
  }
}

/** All of standard input as text (see readTextBounded), of the length --stdin-bytes says when given. */
export function readStdinBounded(max: number, what: string, flags: Record<string, unknown>): string {
  return readTextBounded(0, max, what, stdinBytesFlag(flags));
}

/**
 * The text of a flag, or (with the internal --text-on-stdin, from the orch that drives this host) standard
 * input: a text in a quoted argument could pass the host's limit on one command line (128 KiB) once quoted.
 */
export function flagTextOrStdin(flags: Record<string, unknown>, name: string, what: string): string | undefined {
  if (flags.textOnStdin === true) return readStdinBounded(MAX_TEXT_BYTES, what, flags);
  // Strictly, as every text flag: given twice is a usage error, never taken as not given at all.
  return stringFlag(flags, name);
}
