// Writing to stdout and stderr, and colour: picocolors (which loads node:tty) only when a terminal asks for it.

import fs from "node:fs";
import { OrchError, errnoCode } from "./errors.ts";

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

/**
 * Refuses to go on when standard output leads nowhere: closed, or closed by the caller and filled in by
 * the runtime (Node, Bun and Deno open /dev/null read-write on a closed descriptor at start-up; a shell's
 * `>/dev/null` opens it write-only). A command that hands out messages checks this before taking any,
 * since a message is marked read only after its bytes reached an open stdout.
 */
export function requireOpenStdout(): void {
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(1);
  } catch {
    throw new OrchError("failed", "standard output is closed: nothing was taken");
  }
  if (!stat.isCharacterDevice() || process.platform !== "linux") return;
  const NULL_DEVICE = 259; // makedev(1, 3)
  if (Number(stat.rdev) !== NULL_DEVICE) return;
  try {
    const flags = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync("/proc/self/fdinfo/1", "utf8"))?.[1];
    if (flags !== undefined && (parseInt(flags, 8) & 3) === 2) throw new OrchError("failed", "standard output is closed: nothing was taken");
  } catch (error) {
    if (error instanceof OrchError) throw error;
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
