// Command templates: any other --agent value is a command line, split as sh would split words (never
// run through a shell), and the instructions appended to every worker's prompt.

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
      return {
        argv: endsWithDashDash ? argv.slice(0, -1) : argv,
        promptPlacement: endsWithDashDash ? "after-dashdash" : "last",
        env: {},
      };
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
