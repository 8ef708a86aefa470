// The commands called in loops, after every tool call or once per worker (notify, poll, status, the
// hooks, spawn…) and the types of the command table: all that main.ts loads at start-up.
// cli/spec.ts adds the rest of the table.

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
  hidden?: boolean;
  /** Its --json output is JSON Lines (watch): a failure's document is one line too, never pretty-printed. */
  jsonLines?: boolean;
}

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { flags: "--json", description: "Print exactly one JSON document on stdout" },
  {
    flags: "--orch <id>",
    description: "Orchestrator session (default: $ORCH_ID, the worktree's worker marker, the newest session)",
  },
];

export const opt = (flags: string, description: string): OptionSpec => ({ flags, description });

/** Of the commands that take a text on standard input from the orch that drives this host (see stdinBytesFlag). */
export const STDIN_BYTES = opt("--stdin-bytes <n>",
  "Internal, for the orch that drives this host: how many bytes its standard input holds (any other count is refused)");

export const NOTIFY: CommandSpec = {
  usage: "notify",
  description: "Send a message from a worker to its orchestrator",

  options: [
    opt("--type <type>", "task_complete | task_failed | question | progress | idle | blocked (required)"),
    opt("--summary <text>", "One-line summary (required)"),
    opt("--details <text>", "More detail"),
    opt("--pr-url <url>", "Pull request URL"),
    opt("--branch <branch>", "Branch (default: the worker's)"),
    opt("--error <text>", "What went wrong (task_failed)"),
    opt("--question <text>", "The question (question)"),
    opt("--waiting-for <text>", "What the agent waits for (blocked)"),
  ],
  load: async () => (await import("../commands/notify.ts")).main,
};

export const POLL: CommandSpec = {
  usage: "poll",
  description: "Take all unread messages, oldest first, and mark them read",

  options: [
    opt("--wait", "Block until at least one message arrives"),
    opt("--timeout <sec>", "With --wait: give up after SEC seconds (exit 124)"),
  ],
  load: async () => (await import("../commands/poll.ts")).main,
};

export const STATUS: CommandSpec = {
  usage: "status",
  description: "The session, its mailbox counts and its workers",

  options: [opt("--branch-tips", "Internal, for the orch that drives this host: branch tips instead of standings")],
  load: async () => (await import("../commands/status.ts")).main,
};

export const LIST: CommandSpec = {
  usage: "list",
  description: "The workers, one row each",

  options: [],
  load: async () => (await import("../commands/status.ts")).listMain,
};

export const INBOX: CommandSpec = {
  usage: "inbox",
  description: "Worker side: read the messages the orchestrator sent",

  options: [
    opt("--wait", "Block until at least one message arrives"),
    opt("--timeout <sec>", "With --wait: give up after SEC seconds (exit 124)"),
  ],
  load: async () => (await import("../commands/messages.ts")).inboxMain,
};

export const DEMO_AGENT: CommandSpec = {
  usage: "__demo-agent [prompt]",
  description: "Internal: the scripted agent of orch demo",

  hidden: true,
  options: [],
  load: async () => (await import("../commands/demo-agent.ts")).main,
};

/** The hook events orch handles (hook.ts), by orch's names. */
export const HOOK_EVENTS = [
  "post-tool-use", "stop", "stop-failure", "user-prompt-submit", "permission-request", "notification", "pre-compact",
  "session-start",
] as const;

export const HOOK: CommandSpec = {
  usage: "hook <event>",
  description: `Claude Code and Codex hook handler (${HOOK_EVENTS.join(", ")}) reading the hook JSON on stdin; ` +
    "exits 0 whatever the payload (1 for an event this orch does not know)",

  options: [],
  load: async () => (await import("../commands/hook.ts")).main,
};

export const AGENT: CommandSpec = {
  usage: "__agent <worker>",
  description: "Internal: runs the agent inside the worker's tmux window",

  hidden: true,
  options: [opt("--resume", "Start what orch resume prepared instead of the first prompt")],
  load: async () => (await import("../commands/agent-run.ts")).main,
};

export const SPAWN: CommandSpec = {
  usage: "spawn <branch> [stdin]",
  description:
    "Create a worktree for BRANCH, record the worker, open a tmux window and start the agent (- reads the prompt " +
    "from stdin)",
  options: [
    opt("--from <ref>", "Start a new branch from REF (default: HEAD of the main worktree)"),
    opt("--plan", "Start claude in plan mode (--permission-mode plan)"),
    opt("--prompt <text>", "The task for the agent"),
    opt("--prompt-file <file>", "Read the task from FILE"),
    opt("--agent <agent>", "claude (default), codex, or any command line; the prompt is appended as its last argument"),
    opt("--no-window", "Create and record the worker without tmux and without starting the agent"),
    opt(
      "--after <worker>",
      "Record it pending and start it (from the base as it is then) once WORKER has landed; repeatable, or A,B",
    ),
    opt(
      "--backend <backend>",
      "git (native, default) or gtr (git gtr, when installed); default: git config orch.backend",
    ),
    opt("--host <name>", "Create the worker on that host (orch host add), over ssh"),
    opt("--worker-id <id>", "Internal, for the orch that drives this host: the worker's id, chosen there"),
    opt("--new-branch", "Internal, for the orch that drives this host: refuse a branch that exists here"),
    STDIN_BYTES,
  ],
  load: async () => (await import("../commands/spawn.ts")).main,
};

export const LIFELINE: CommandSpec = {
  usage: "__lifeline <request>",
  description: "Internal: serves a poll or await to the orch that reached this host over ssh",
  hidden: true,
  options: [],
  load: async () => (await import("../commands/lifeline.ts")).main,
};

export const COHERENCE: CommandSpec = {
  usage: "__coherence <request>",
  description: "Internal: tells or syncs a worker here for the orch that reached this host over ssh (JSON on stdin)",
  hidden: true,
  options: [STDIN_BYTES],
  load: async () => (await import("../commands/host-coherence.ts")).main,
};

/** Parsed without cac when their arguments are plain (cli/fastparse.ts). */
export const HOT_COMMANDS: CommandSpec[] = [
  NOTIFY, POLL, STATUS, LIST, INBOX, SPAWN, HOOK, AGENT, DEMO_AGENT, LIFELINE, COHERENCE,
];
