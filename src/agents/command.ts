// Command templates: any other --agent value is a command line, split as sh would split words (never
// run through a shell); plus the instructions appended to every worker's prompt and the runner's start.

import { usage } from "../errors.ts";
import type { AgentProfile } from "./profile.ts";

/** Splits a command line into words as sh would (quotes, backslashes), with no expansion at all. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw usage(`unterminated ' in --agent ${JSON.stringify(line)}`);
      word += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      i++;
      for (; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\" && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1]!)) i++;
        word += line[i];
      }
      if (i >= line.length) throw usage(`unterminated " in --agent ${JSON.stringify(line)}`);
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 < line.length) word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A command template: the prompt is appended as its last argument (after its own "--" if it ends with one). */
export function commandProfile(line: string): AgentProfile {
  const argv = splitWords(line);
  if (argv.length === 0) throw usage("--agent is empty");
  const endsWithDashDash = argv[argv.length - 1] === "--";
  return {
    name: argv[0]!.split("/").pop()!,
    start(spec) {
      if (spec.plan) spec.warn(`--plan only changes how claude starts; ignored for --agent ${line}`);
      return { argv: endsWithDashDash ? argv.slice(0, -1) : argv, promptPlacement: endsWithDashDash ? "after-dashdash" : "last", env: {} };
    },
    prepare: async () => [],
  };
}

export interface WorkerIdentity {
  orchestratorId: string;
  workerId: string;
  branch: string;
}

/** The instructions appended to every prompt: how to report back, ask, and read the inbox. */
export function reportingInstructions(who: WorkerIdentity): string {
  return [
    "---",
    `You are an orch worker: worker ${who.workerId} on branch ${who.branch}, orchestrator ${who.orchestratorId}.`,
    "Commit your work on this branch. Then report back from this worktree with one of:",
    '  orch notify --type task_complete --summary "<one line>" [--details "<more>"] [--pr-url <url>]',
    '  orch notify --type task_failed --summary "<one line>" --error "<what went wrong>"',
    "To ask the orchestrator something:",
    '  orch notify --type question --summary "<one line>" --question "<the question>"',
    "  then wait for the answer with: orch inbox --wait",
    "Messages from the orchestrator may also arrive on their own; read them any time with: orch inbox",
  ].join("\n");
}

export function fullPrompt(userPrompt: string, who: WorkerIdentity): string {
  const instructions = reportingInstructions(who);
  return userPrompt === "" ? instructions : `${userPrompt}\n\n${instructions}`;
}

export interface AgentRun {
  pid: number | undefined;
  exit: Promise<number>;
  /** Why the program could not be started at all (then exit resolves 127), else undefined. */
  startFailure(): string | undefined;
}

/**
 * Starts the agent on this terminal (stdio inherited); argv already holds the prompt. The exit
 * promise resolves with its exit code: 127 when the program could not be started (startFailure says
 * why), and also when a program that did start exits 127 itself (then startFailure is undefined).
 */
export async function startAgent(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<AgentRun> {
  const { spawn } = await import("node:child_process");
  const os = await import("node:os");
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: "inherit" });
  let failure: string | undefined;
  const exit = new Promise<number>((resolve) => {
    child.on("error", (error: NodeJS.ErrnoException) => {
      failure = error.code === "ENOENT" ? `${argv[0]} was not found on PATH` : `cannot start ${argv[0]}: ${error.message}`;
      process.stderr.write(`orch: ${failure}\n`);
      resolve(127);
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 15) : 1)));
  });
  return { pid: child.pid, exit, startFailure: () => failure };
}
