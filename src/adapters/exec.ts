// The one place orch starts programs: argument arrays only, never a shell, so no input is ever parsed
// as shell syntax. (zx is used where its helpers pay for its ~40 ms load; see README, "Dependencies".)

import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { OrchError } from "../errors.ts";

/**
 * The caller's git variables that point git at another repository, index, object store or config
 * (`git rev-parse --local-env-vars`, plus what changes how git searches upwards). Inside a git hook or an
 * editor's terminal they name the caller's repository; orch finds repositories from folders and runs
 * every program with an explicit working directory, so these would only redirect its git calls on
 * worktrees (a dry run or a red test landing in the main checkout) and its agents' git. Identity and
 * terminal settings (GIT_AUTHOR_*, GIT_SSH_COMMAND, GIT_CONFIG_GLOBAL…) are kept.
 */
export const REPOSITORY_GIT_VARIABLES = [
  "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
  "GIT_CONFIG_COUNT", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX",
  "GIT_SHALLOW_FILE", "GIT_GRAFT_FILE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
  "GIT_QUARANTINE_PATH",
] as const;

/**
 * `env` without the variables that redirect git to another repository: the environment of every
 * program orch starts.
 */
export function programEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = { ...env };
  for (const name of REPOSITORY_GIT_VARIABLES) delete clean[name];
  // The numbered pairs GIT_CONFIG_COUNT announces, which git reads only with it.
  const isNumberedPair = (key: string) => key.startsWith("GIT_CONFIG_KEY_") || key.startsWith("GIT_CONFIG_VALUE_");
  for (const key of Object.keys(clean)) if (isNumberedPair(key)) delete clean[key];
  return clean;
}

/** Children running now, so an interrupted command can pass the signal on (see interrupt.ts). */
const activeChildren = new Set<ChildProcess>();
const ownGroup = new WeakSet<ChildProcess>();
const finishing = new WeakSet<ChildProcess>();

/**
 * Sends `signal` to every program orch is running (to its process group when it has its own); one run
 * with finishOnInterrupt gets only SIGKILL, the end of the grace period.
 */
export function signalActiveChildren(signal: NodeJS.Signals): void {
  for (const child of activeChildren) {
    if (child.pid === undefined || (finishing.has(child) && signal !== "SIGKILL")) continue;
    try {
      process.kill(ownGroup.has(child) ? -child.pid : child.pid, signal);
    } catch {
      // already gone
    }
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  /** Let the program write straight to our stdout/stderr. */
  inheritOutput?: boolean;
  /** Send the program's stdout and stderr to our stderr (a user's test command): stdout stays ours. */
  outputToStderr?: boolean;
  /**
   * Start it in a process group of its own (a user's command line: a test command, a hook), so an
   * interrupt ends everything it started, not only the shell.
   */
  ownProcessGroup?: boolean;
  /**
   * A short program whose answer orch needs to undo what it did (tmux new-window, which says which window
   * it made): an interrupt lets it finish. It runs in a process group of its own, so a terminal's Ctrl-C
   * misses it too, and is killed only if it is still running when the interrupt's grace period ends.
   */
  finishOnInterrupt?: boolean;
  /**
   * A line the program must print on stderr within `withinMs` (git over ssh behind ANNOUNCE: a login shell
   * that waits for input never gets to it): else it is killed, with its process group when it has one of its
   * own, and the result says `notReady`. The line is taken out of its stderr.
   */
  readyLine?: { text: string; withinMs: number };
  /** Called with the program's pid once it started (to record it where a later orch can see it runs). */
  onStart?: (pid: number) => void;
  /** Past this many bytes of stdout the program is killed and its result says `tooLong` (a host's answer). */
  maxStdoutBytes?: number;
  /** Also give stdout as the bytes it was (`stdoutBytes`): a patch's file contents need not be UTF-8. */
  keepStdoutBytes?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Killed for not printing its readyLine in time. */
  notReady?: boolean;
  /** Killed for printing more than maxStdoutBytes (its stdout is then empty). */
  tooLong?: boolean;
  /** stdout as it came, with keepStdoutBytes (`stdout` has U+FFFD for each byte that is not UTF-8). */
  stdoutBytes?: Buffer;
}

function describe(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(" ");
}

/**
 * What spawn's ENOENT means: the program is missing, or the folder it was to run in is (a worktree another
 * orch command removed meanwhile), which is not to be said as a missing git.
 */
function missingProgram(argv: readonly string[], cwd: string | undefined): OrchError {
  if (cwd !== undefined && !fs.existsSync(cwd)) {
    return new OrchError("failed", `${cwd} does not exist (removed meanwhile?), so ${describe(argv)} cannot run there`);
  }
  return new OrchError("failed", `${argv[0]} is not installed or not on PATH (needed for: ${describe(argv)})`);
}

/** Throws the one-line error of a program that failed, unless `allowFailure`. */
export function checkResult(argv: readonly string[], result: RunResult, options: RunOptions): RunResult {
  if (result.code !== 0 && !options.allowFailure) {
    const message = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join(" | ");
    const detail = message ? `: ${message}` : "";
    throw new OrchError("failed", `${describe(argv.slice(0, 3))} failed (exit ${result.code})${detail}`);
  }
  return result;
}

/** Loaded with the first program run: a command that runs none (or only over ssh-mux) does without it. */
let childProcess: typeof import("node:child_process") | undefined;

/**
 * Watches `child`'s stderr for `line`: not there within `withinMs`, the child is
 * killed (its whole group when it leads one). `stop` once it has ended; `missed` says whether it was killed.
 */
function awaitReadyLine(
  child: ChildProcess,
  line: { text: string; withinMs: number },
  ownGroup: boolean,
): { stop(): void; missed(): boolean } {
  let killed = false;
  const wanted = Buffer.from(`${line.text}\n`);
  const timer = setTimeout(() => {
    killed = true;
    try {
      if (ownGroup && child.pid !== undefined) process.kill(-child.pid, "SIGTERM");
      else child.kill("SIGTERM");
    } catch {
      // already gone
    }
  }, line.withinMs);
  // Each chunk is looked at once, with the end of the ones before that could start the line: a program that
  // prints much before it (or never prints it) costs time in proportion to what it printed.
  let before = Buffer.alloc(0);
  const look = (chunk: Buffer) => {
    const seen = Buffer.concat([before, chunk]);
    if (seen.includes(wanted)) {
      clearTimeout(timer);
      child.stderr?.off("data", look);
      return;
    }
    before = seen.subarray(Math.max(0, seen.length - wanted.length + 1));
  };
  child.stderr?.on("data", look);
  return { stop: () => clearTimeout(timer), missed: () => killed };
}

/**
 * run's synchronous twin, for a short question a synchronous caller must have answered (an agent profile's start):
 * output captured, never a shell, the same cleaned environment. Not for anything that may take long or be
 * interrupted: it is not among the children an interrupt is passed on to.
 */
export function runSync(argv: readonly string[], options: Pick<RunOptions, "cwd" | "env"> = {}): RunResult {
  childProcess ??= process.getBuiltinModule("node:child_process");
  const result = childProcess.spawnSync(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: programEnv(options.env ?? process.env),
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
  });
  if (result.error && (result.error as NodeJS.ErrnoException).code === "ENOENT") {
    throw missingProgram(argv, options.cwd);
  }
  return { code: result.status ?? 1, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  childProcess ??= await import("node:child_process");
  const { spawn } = childProcess;
  const stdinMode = options.input === undefined ? "ignore" : "pipe";
  const stdoutMode = options.outputToStderr ? 2 : options.inheritOutput ? "inherit" : "pipe";
  const stderrMode = options.inheritOutput || options.outputToStderr ? "inherit" : "pipe";
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      env: programEnv(options.env ?? process.env),
      stdio: [stdinMode, stdoutMode, stderrMode],
      detached: options.ownProcessGroup === true || options.finishOnInterrupt === true,
    });
    activeChildren.add(child);
    if (child.pid !== undefined) options.onStart?.(child.pid);
    if (options.ownProcessGroup) ownGroup.add(child);
    if (options.finishOnInterrupt) finishing.add(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let tooLong = false;
    child.stdout?.on("data", (chunk: Buffer) => {
      if (tooLong) return;
      stdout.push(chunk);
      stdoutBytes += chunk.length;
      if (stdoutBytes <= (options.maxStdoutBytes ?? Number.POSITIVE_INFINITY)) return;
      tooLong = true;
      stdout.length = 0;
      child.kill("SIGKILL");
    });
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    const { readyLine } = options;
    const ready = readyLine && awaitReadyLine(child, readyLine, options.ownProcessGroup === true);
    child.on("error", (error: NodeJS.ErrnoException) => {
      ready?.stop();
      activeChildren.delete(child);
      reject(error.code === "ENOENT" ? missingProgram(argv, options.cwd) : error);
    });
    // A program killed for missing its ready line can leave its output pipes open in a process it handed
    // them to (an ssh master holds a channel's pipes): its exit is the end, not their close.
    child.on("exit", () => {
      if (!ready?.missed()) return;
      child.stdout?.destroy();
      child.stderr?.destroy();
    });
    child.on("close", (code, signal) => {
      ready?.stop();
      activeChildren.delete(child);
      const errors = Buffer.concat(stderr).toString("utf8");
      const out = Buffer.concat(stdout);
      const result: RunResult = {
        code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 9) : 1),
        stdout: out.toString("utf8"),
        ...(options.keepStdoutBytes ? { stdoutBytes: out } : {}),
        stderr: readyLine ? errors.replace(`${readyLine.text}\n`, "") : errors,
        ...(ready?.missed() ? { notReady: true } : {}),
        ...(tooLong ? { tooLong } : {}),
      };
      try {
        resolve(checkResult(argv, result, options));
      } catch (error) {
        reject(error);
      }
    });
    if (options.input !== undefined) {
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(options.input);
    }
  });
}

