// The one place orch starts programs: argument arrays only, never a shell, so no input is ever parsed
// as shell syntax. (zx is used where its helpers pay for its ~40 ms load; see README, "Dependencies".)

import { spawn } from "node:child_process";
import { OrchError } from "../errors.ts";

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
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function describe(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(" ");
}

function missingProgram(argv: readonly string[]): OrchError {
  return new OrchError("failed", `${argv[0]} is not installed or not on PATH (needed for: ${describe(argv)})`);
}

function checkResult(argv: readonly string[], result: RunResult, options: RunOptions): RunResult {
  if (result.code !== 0 && !options.allowFailure) {
    const message = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join(" | ");
    throw new OrchError("failed", `${describe(argv.slice(0, 3))} failed (exit ${result.code})${message ? `: ${message}` : ""}`);
  }
  return result;
}

export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", options.outputToStderr ? 2 : options.inheritOutput ? "inherit" : "pipe", options.inheritOutput || options.outputToStderr ? "inherit" : "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (error: NodeJS.ErrnoException) => reject(error.code === "ENOENT" ? missingProgram(argv) : error));
    child.on("close", (code, signal) => {
      const result = {
        code: code ?? (signal ? 128 + 9 : 1),
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
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

