// Every command and flag of orch, declared once: cac builds help and parsing from this table, and the
// pre-parser of hot commands (fastparse.ts) reads the same table.

import type { CommandMain } from "../commands/types.ts";

export interface OptionSpec {
  /** cac syntax: "--name <value>" takes a value, "--name" is a switch, "--no-name" negates. */
  flags: string;
  description: string;
}

export interface CommandSpec {
  /** cac syntax, e.g. "spawn <branch> [stdin]" or "await [...workers]". */
  usage: string;
  description: string;
  options: OptionSpec[];
  load: () => Promise<CommandMain>;
  /** Called in loops or after every tool call: parsed without loading cac when the arguments are plain. */
  hot?: boolean;
  hidden?: boolean;
}

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { flags: "--json", description: "Print exactly one JSON document on stdout" },
  { flags: "--orch <id>", description: "Orchestrator session (default: $ORCH_ID, the worktree's worker marker, the newest session)" },
];

const opt = (flags: string, description: string): OptionSpec => ({ flags, description });

export const COMMANDS: CommandSpec[] = [
  {
    usage: "init",
    description: "Create an orchestrator session and print its id",
    options: [opt("--project-dir <dir>", "Project directory (default: the current directory)")],
    load: async () => (await import("../commands/init.ts")).main,
  },
  {
    usage: "notify",
    description: "Send a message from a worker to its orchestrator",
    hot: true,
    options: [
      opt("--type <type>", "task_complete | task_failed | question | progress | idle (required)"),
      opt("--summary <text>", "One-line summary (required)"),
      opt("--details <text>", "More detail"),
      opt("--pr-url <url>", "Pull request URL"),
      opt("--branch <branch>", "Branch (default: the worker's)"),
      opt("--error <text>", "What went wrong (task_failed)"),
      opt("--question <text>", "The question (question)"),
    ],
    load: async () => (await import("../commands/notify.ts")).main,
  },
  {
    usage: "poll",
    description: "Take all unread messages, oldest first, and mark them read",
    hot: true,
    options: [
      opt("--wait", "Block until at least one message arrives"),
      opt("--timeout <sec>", "With --wait: give up after SEC seconds (exit 124)"),
    ],
    load: async () => (await import("../commands/poll.ts")).main,
  },
  {
    usage: "status",
    description: "The session, its mailbox counts and its workers",
    hot: true,
    options: [],
    load: async () => (await import("../commands/status.ts")).main,
  },
  {
    usage: "list",
    description: "The workers, one row each",
    hot: true,
    options: [],
    load: async () => (await import("../commands/status.ts")).listMain,
  },
];
