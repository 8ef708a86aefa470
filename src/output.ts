// Writing to stdout and stderr, and colour: picocolors (which loads node:tty) only when a terminal asks for it.

import fs from "node:fs";
import { OrchError, errnoCode } from "./errors.ts";
import { pipeHasReader } from "./proc.ts";

/**
 * The most written at once: to a non-blocking pipe, a write of up to PIPE_BUF bytes is all or nothing (EAGAIN).
 * Deno's writeSync writes until all is written and throws EAGAIN once the pipe is full, losing the count of
 * what it wrote: a larger write would be written again on the retry.
 */
const PIPE_BUF = 4096;

/** One write of the start of `buffer` (at most PIPE_BUF bytes): the bytes written, 0 while the pipe is full. */
function writeSome(fd: number, buffer: Buffer): number {
  try {
    return fs.writeSync(fd, buffer.subarray(0, PIPE_BUF));
  } catch (error) {
    if (errnoCode(error) !== "EAGAIN") throw error;
    return 0;
  }
}

/** Writes all of `text` (or bytes) to a file descriptor, also when it is a non-blocking pipe. */
export function writeAll(fd: number, text: string | Uint8Array): void {
  let buffer = typeof text === "string" ? Buffer.from(text, "utf8") : Buffer.from(text);
  while (buffer.length > 0) {
    const written = writeSome(fd, buffer);
    if (written === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    buffer = buffer.subarray(written);
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
    const openedReadWrite = flags !== undefined && (parseInt(flags, 8) & 3) === 2;
    if (openedReadWrite) throw new OrchError("failed", "standard output is closed: nothing was taken");
  } catch (error) {
    if (error instanceof OrchError) throw error;
  }
}

/** How often a waiting listener looks for its pipe's reader: the look reads every process's fd list. */
const READER_CHECK_MS = 5000;
/** Set at the first ask, so a listener's start (and its first message's latency) never pays for the look. */
let lastReaderCheck: number | undefined;

/**
 * Why standard output leads nowhere any more, or undefined: it is a pipe that no process holds open
 * for reading (`orch watch | head -1` once head has its line). A waiting listener asks this as it waits,
 * so it ends instead of waiting for a message it could never hand out. Linux has no call that says so
 * without writing; /proc shows who holds the pipe and how. Asked at most every READER_CHECK_MS.
 */
export function stdoutReaderGone(): string | undefined {
  // performance.now() goes only forward: a wall clock set back must not put the look off for as long.
  lastReaderCheck ??= performance.now();
  if (process.platform !== "linux" || performance.now() - lastReaderCheck < READER_CHECK_MS) return undefined;
  lastReaderCheck = performance.now();
  try {
    const stat = fs.fstatSync(1);
    // What /proc shows for each fd of it: "pipe:[inode]", or a named FIFO's path.
    if (!stat.isFIFO() || pipeHasReader(fs.readlinkSync("/proc/self/fd/1"))) return undefined;
  } catch {
    return undefined; // /proc cannot be read here: assume someone reads
  }
  return "nothing reads standard output any more (its pipe was closed)";
}

export function writeOut(text: string | Uint8Array): void {
  writeAll(1, text);
}

/** How often a listener whose output pipe is full looks whether it should still wait for room. */
const FULL_PIPE_CHECK_MS = 1000;
let patientStdout: number | undefined;

/** Standard output, opened anew without blocking when it is a pipe (a new open file, so nobody else's changes). */
function nonBlockingStdout(): number {
  try {
    if (!fs.fstatSync(1).isFIFO()) return 1;
    return fs.openSync("/proc/self/fd/1", fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    return 1; // no /proc, or no reader left (ENXIO): the write on fd 1 says what is wrong
  }
}

/**
 * writeOut for a listener handing out messages: while its pipe is full (the reader holds it open and does
 * not read) it waits without blocking the process, so a hangup (SIGHUP: a closed terminal or tmux pane)
 * still ends it, and asks `check` (which may throw) every second. A blocking write there lasted until the
 * reader read, while the listener kept every message of its claim from any other reader.
 */
export async function writeOutPatiently(text: string | Uint8Array, check: () => void = () => undefined): Promise<void> {
  const fd = (patientStdout ??= nonBlockingStdout());
  let buffer = typeof text === "string" ? Buffer.from(text, "utf8") : Buffer.from(text);
  let lastCheck = performance.now();
  // From 1 ms up to 50 ms while the pipe stays full: a reader that reads slowly still gets a large output fast.
  let pause = 1;
  while (buffer.length > 0) {
    const written = writeSome(fd, buffer);
    buffer = buffer.subarray(written);
    if (written > 0) {
      pause = 1;
      continue;
    }
    if (performance.now() - lastCheck >= FULL_PIPE_CHECK_MS) {
      lastCheck = performance.now();
      check();
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 50);
  }
}

export function writeErr(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // Nowhere left to report to.
  }
}

/**
 * A line on stderr. Its control characters are shown escaped (forTerminal): a warning or an error can carry
 * what a host's orch or git said, or a worker's text, and none of it may command the terminal.
 */
export function warn(line: string): void {
  writeErr(`orch: ${forTerminal(line, false)}\n`);
}

const ESC = 0x1b;

/** An SGR sequence (ESC [ digits and ; m) at `at`: its length, else 0. Colours are the only ones orch writes. */
function colourSequenceAt(text: string, at: number): number {
  if (text.charCodeAt(at + 1) !== 0x5b) return 0;
  for (let i = at + 2; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x6d) return i - at + 1;
    if (!((c >= 0x30 && c <= 0x39) || c === 0x3b)) return 0;
  }
  return 0;
}

/**
 * Human output made harmless for a terminal: a worker's summary (or a branch, a PR body) is text from an
 * agent, and its control characters would be the terminal's commands (clear the screen, retitle the
 * window, OSC 52 writes the clipboard). Each C0/C1 control but newline and tab is shown as \xNN; with
 * `keepColours`, colour sequences stay (picocolors writes them). A loop, not a regular expression: the
 * first one a compiled binary runs costs ~1 ms, and status and poll print through here.
 */
export function forTerminal(text: string, keepColours: boolean): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const control = (c < 0x20 && c !== 0x0a && c !== 0x09) || (c >= 0x7f && c <= 0x9f);
    if (!control) continue;
    const colour = keepColours && c === ESC ? colourSequenceAt(text, i) : 0;
    if (colour > 0) {
      i += colour - 1;
      continue;
    }
    out += `${text.slice(from, i)}\\x${c.toString(16).padStart(2, "0")}`;
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
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
