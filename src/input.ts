// Reading what the user hands orch (a prompt file, standard input) with a bound, so that /dev/zero, a
// FIFO nobody writes or an endless pipe ends in a clear error instead of a hang or all of memory.

import fs from "node:fs";
import { OrchError, errnoCode } from "./errors.ts";
import { NotRegularFileError, readUpTo } from "./store/files.ts";

/** The largest prompt orch takes (a prompt this size already goes to the agent through ORCH_PROMPT_FILE). */
export const MAX_PROMPT_BYTES = 8 * 1024 * 1024;
/** The largest message text `send`/`reply` take from standard input. */
export const MAX_TEXT_BYTES = 1024 * 1024;

function tooLarge(what: string, max: number): OrchError {
  return new OrchError("invalid", `${what} is larger than ${max / (1024 * 1024)} MiB: orch takes at most that much`);
}

/** All of standard input, at most `max` bytes (more is refused, exit 2). */
export function readStdinBounded(max: number, what: string): string {
  try {
    return readUpTo(0, max, what).toString("utf8");
  } catch (error) {
    if (error instanceof NotRegularFileError) throw tooLarge(what, max);
    if (errnoCode(error) === "EISDIR") throw new OrchError("invalid", `${what}: standard input is a folder`);
    throw error;
  }
}

/**
 * A --prompt-file: a regular file of at most `max` bytes, or standard input (`-`, /dev/stdin). A FIFO,
 * a device (/dev/zero), a folder or a missing file is refused with exit 2 before anything is read.
 */
export function readPromptFile(file: string, max = MAX_PROMPT_BYTES): string {
  if (file === "-" || file === "/dev/stdin" || file === "/proc/self/fd/0") return readStdinBounded(max, "the prompt on standard input");
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch {
    throw new OrchError("invalid", `--prompt-file ${file}: no such readable file`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new OrchError("invalid", `--prompt-file ${file}: not a regular file`);
    if (stat.size > max) throw tooLarge(`--prompt-file ${file}`, max);
    try {
      return readUpTo(fd, max, file).toString("utf8");
    } catch (error) {
      if (error instanceof NotRegularFileError) throw tooLarge(`--prompt-file ${file}`, max);
      throw error;
    }
  } finally {
    fs.closeSync(fd);
  }
}
