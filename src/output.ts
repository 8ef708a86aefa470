// Writing to stdout and stderr, and colour: picocolors (which loads node:tty) only when a terminal asks for it.

import fs from "node:fs";
import { errnoCode } from "./errors.ts";

/** Writes all of `text` to a file descriptor, also when it is a non-blocking pipe. */
export function writeAll(fd: number, text: string): void {
  let buffer = Buffer.from(text, "utf8");
  while (buffer.length > 0) {
    try {
      const written = fs.writeSync(fd, buffer);
      buffer = buffer.subarray(written);
    } catch (error) {
      if (errnoCode(error) !== "EAGAIN") throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

export function writeOut(text: string): void {
  writeAll(1, text);
}

export function writeErr(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // Nowhere left to report to.
  }
}

export function warn(line: string): void {
  writeErr(`orch: ${line}\n`);
}

type Paint = (text: string) => string;

export interface Colors {
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
}

const plain: Paint = (text) => text;
export const NO_COLORS: Colors = { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };

/** Linux device majors of terminals: 4 (tty, ttyS), 5 (tty, console, ptmx), 136–143 (pts). */
const TERMINAL_MAJORS = new Set([4, 5, 136, 137, 138, 139, 140, 141, 142, 143]);

/**
 * A cheap first test: pipes, files and /dev/null are not terminals. It spares them loading node:tty,
 * which costs ~10 ms in a compiled binary; a yes still goes through tty.isatty.
 */
function mightBeTerminal(fd: number): boolean {
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isCharacterDevice()) return false;
    return process.platform !== "linux" || TERMINAL_MAJORS.has(Math.floor(Number(stat.rdev) / 256) & 0xfff);
  } catch {
    return false;
  }
}

/** Colours for a descriptor: off with NO_COLOR, TERM=dumb, or when it is not a terminal. */
export async function colorsFor(fd: number, env: NodeJS.ProcessEnv): Promise<Colors> {
  if (env.NO_COLOR || env.TERM === "dumb") return NO_COLORS;
  if (!mightBeTerminal(fd)) return NO_COLORS;
  const tty = await import("node:tty");
  if (!tty.isatty(fd)) return NO_COLORS;
  const { createColors } = (await import("picocolors")).default;
  return createColors(true);
}
