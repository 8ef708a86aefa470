// Starting a worker's agent on the runner's terminal (stdio inherited), with an argument array: the
// one place a worker's agent program is started.

import { findOnPath } from "./tools.ts";

export interface AgentRun {
  pid: number | undefined;
  /** Resolves with the exit code; 127 when the program is not found, 126 when it could not be started. */
  exit: Promise<number>;
  /** Why the agent could not be started (E2BIG, ENOENT, a NUL in an argument…), once exit has resolved. */
  startError: () => string | undefined;
}

/**
 * Why a program did not start with ENOENT: a bare name was looked up on PATH; a path was not, and a relative
 * one is taken from the worktree the agent runs in, not from where orch spawn was typed.
 */
function notFound(program: string, cwd: string): string {
  if (!program.includes("/")) return `${program} was not found on PATH`;
  if (program.startsWith("/")) return `${program} was not found`;
  return `${program} was not found in the worker's worktree ${cwd} (a relative --agent path is taken from there)`;
}

/**
 * Why `program` would not be found when the agent starts in `cwd` with `PATH` (as notFound says it), or
 * undefined when it is there: resume checks it first, so an agent uninstalled since the spawn is one line
 * and nothing started, not a worker said resumed that then fails.
 */
export function missingProgram(program: string, cwd: string, PATH: string): string | undefined {
  return findOnPath(program, { PATH }, cwd) === undefined ? notFound(program, cwd) : undefined;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Starts the agent on this terminal (stdio inherited); argv already holds the prompt. Never throws:
 * a start that fails (also synchronously, as a NUL in an argument does) is a resolved exit code plus
 * its reason in startError().
 */
export async function startAgent(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<AgentRun> {
  const { spawn } = await import("node:child_process");
  let startError: string | undefined;
  const describe = (error: NodeJS.ErrnoException) =>
    error.code === "ENOENT" ? notFound(argv[0]!, cwd)
    : error.code === "E2BIG" ? `the agent's arguments and environment are too large for one program start (E2BIG)`
    : `cannot start ${argv[0]}: ${error.code ?? ""} ${error.message}`.trim();
  try {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: "inherit" });
    const exit = new Promise<number>((resolve) => {
      child.on("error", (error: NodeJS.ErrnoException) => {
        startError = describe(error);
        process.stderr.write(`orch: ${startError}\n`);
        resolve(error.code === "ENOENT" ? 127 : 126);
      });
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 15) : 1)));
    });
    return { pid: child.pid, exit, startError: () => startError };
  } catch (error) {
    startError = describe(error as NodeJS.ErrnoException);
    process.stderr.write(`orch: ${startError}\n`);
    return { pid: undefined, exit: Promise.resolve(126), startError: () => startError };
  }
}
