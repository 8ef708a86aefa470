// Every command and flag of orch, declared once: cac builds help and parsing from this table, and the
// pre-parser of hot commands (fastparse.ts) reads the hot part of it (hot.ts) without loading this file.

import {
  AGENT, COHERENCE, DEMO_AGENT, HOOK, INBOX, LIFELINE, LIST, NOTIFY, opt, POLL, SPAWN, STATUS, STDIN_BYTES,
  type CommandSpec,
} from "./hot.ts";

export { GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from "./hot.ts";

export const COMMANDS: CommandSpec[] = [
  {
    usage: "init",
    description: "Create an orchestrator session and print its id",
    options: [opt("--project-dir <dir>", "Project directory (default: the current directory)")],
    load: async () => (await import("../commands/init.ts")).main,
  },
  NOTIFY,
  POLL,
  STATUS,
  LIST,
  SPAWN,
  {
    usage: "await [...workers]",
    description:
      "Wait until the workers (default: all but stopped ones) have finished, or one asks a question, is blocked or " +
      "ended its turn without a report (idle); print their final messages",
    options: [
      opt("--any", "Return when the first of them finishes"),
      opt("--timeout <sec>", "Give up after SEC seconds (exit 124, with what is known so far)"),
    ],
    load: async () => (await import("../commands/await.ts")).main,
  },
  {
    usage: "send <worker> <text>",
    description: "Send a message to a worker (TEXT - reads stdin)",
    options: [
      opt("--message-id <id>", "Internal, for the orch that drives this host: the message's id (sent once)"),
      STDIN_BYTES,
    ],
    load: async () => (await import("../commands/messages.ts")).sendMain,
  },
  {
    usage: "reply <message-id> <text>",
    description: "Answer a worker's question (TEXT - reads stdin)",
    options: [
      opt("--message-id <id>", "Internal, for the orch that drives this host: the message's id (sent once)"),
      STDIN_BYTES,
    ],
    load: async () => (await import("../commands/messages.ts")).replyMain,
  },
  INBOX,
  {
    usage: "watch",
    description:
      "A never-ending poll --wait: each message once, as one JSON line, as it arrives (for tools that read output " +
      "lines, such as Claude Code's Monitor)",
    options: [opt("--timeout <sec>", "Stop after SEC seconds (exit 124 when nothing at all arrived)")],
    load: async () => (await import("../commands/watch.ts")).main,
    jsonLines: true,
  },
  {
    usage: "approve <worker> [request-id]",
    description: "Allow the worker's pending request (a permission prompt or a plan), answered through its hook",
    options: [opt("--always", "Also allow this kind of call for the rest of the worker's session")],
    load: async () => (await import("../commands/approve.ts")).approveMain,
  },
  {
    usage: "deny <worker> [request-id]",
    description:
      "Refuse the worker's pending request; --message is what the agent is told (for a plan: what to change)",
    options: [
      opt("--message <text>", "What the agent is told (required)"),
      opt("--text-on-stdin", "Internal, for the orch that drives this host: the --message text is on standard input"),
      STDIN_BYTES,
    ],
    load: async () => (await import("../commands/approve.ts")).denyMain,
  },
  {
    usage: "resume <worker>",
    description:
      "Start the agent of a stopped, failed or dead worker again in its worktree, continuing its conversation",
    options: [
      opt("--prompt <text>", "The next user message (default: continue where you left off)"),
      opt("--text-on-stdin", "Internal, for the orch that drives this host: the --prompt text is on standard input"),
      STDIN_BYTES,
    ],
    load: async () => (await import("../commands/resume.ts")).main,
  },
  {
    usage: "stop <worker>",
    description: "End the worker's agent and window; keep its worktree and branch",
    options: [],
    load: async () => (await import("../commands/stop.ts")).main,
  },
  {
    usage: "rm <worker>",
    description: "Stop the worker, remove its worktree and forget it",
    options: [
      opt("--force", "Remove even with uncommitted changes or a failing preRemove hook"),
      opt("--delete-branch", "Delete the branch too (it must be merged, unless --force)"),
      opt("--yes", "Do not ask for confirmation"),
    ],
    load: async () => (await import("../commands/rm.ts")).main,
  },
  {
    usage: "clean",
    description:
      "Remove the workers whose branch is merged into its base (and with --merged, whose PR is merged on GitHub)",
    options: [
      opt("--merged", "Also ask GitHub (gh pr list --head B --state merged)"),
      opt("-n, --dry-run", "Only say what would be removed"),
      opt("--yes", "Do not ask for confirmation"),
    ],
    load: async () => (await import("../commands/clean.ts")).main,
  },
  {
    usage: "diff <worker>",
    description: "What the worker changed since its base commit",
    options: [opt("--stat", "Only the commits and a summary of files")],
    load: async () => (await import("../commands/diff.ts")).diffMain,
  },
  {
    usage: "pr <worker>",
    description: "The worker's pull request (gh pr view and gh pr diff)",
    options: [],
    load: async () => (await import("../commands/diff.ts")).prMain,
  },
  {
    usage: "apply <worker>",
    description: "Apply the worker's commits here as a patch series (git am)",
    options: [
      opt("--dry-run", "Try it in a throw-away worktree; change nothing"),
      opt("--no-3way", "Do not fall back to a 3-way merge (git am without --3way)"),
      opt("--force", "Apply a series that was already applied"),
      opt("--expected-head <sha>", "Refuse unless HEAD is SHA"),
      opt("--leave-conflict", "On a conflict, leave the git am session for you to resolve"),
    ],
    load: async () => (await import("../commands/apply.ts")).main,
  },
  {
    usage: "merge <worker>",
    description: "Merge the worker's PR with gh (then fast-forward the base), or its branch locally",
    options: [
      opt("--squash", "Squash into one commit (default)"),
      opt("--rebase", "Replay its commits on the base"),
      opt("--merge", "A merge commit"),
      opt("--local", "Merge locally even when there is a PR"),
      opt("--delete-branch", "Remove the worker and its branch after merging"),
    ],
    load: async () => (await import("../commands/merge.ts")).main,
  },
  {
    usage: "land [...workers]",
    description:
      "Merge queue: one at a time, merge onto the base in a throw-away worktree, run --test, land exactly what " +
      "passed; stop at the first conflict or red test",
    options: [
      opt("--test <cmd>", "Test command line, run by sh in the throw-away worktree"),
      opt("--method <method>", "squash (default), rebase or merge"),
      opt(
        "--on-conflict <action>",
        "stop (default): stop the queue at a conflict; return: hand the conflict back to the worker and go on",
      ),
      opt("--sync", "After each landing, bring the rest of the queue onto the new base (orch sync)"),
    ],
    load: async () => (await import("../commands/land.ts")).main,
  },
  {
    usage: "sync [...workers]",
    description:
      "Bring workers (default: all) onto the current base in their worktrees: rebase (default) or merge; a " +
      "conflicting one is left as it was and told",
    options: [
      opt("--all", "Every worker (the default when none is named)"),
      opt("--rebase", "Rebase the worker's commits onto the base (default)"),
      opt("--merge", "Merge the base into the worker's branch instead"),
    ],
    load: async () => (await import("../commands/sync.ts")).main,
  },
  {
    usage: "demo",
    description:
      "The whole loop on a scratch repository with a scripted agent: spawn three workers, await, approve the one " +
      "that asks, status, land (one conflicts and is handed back), clean",
    options: [
      opt("--keep", "Keep the scratch repository and its tmux server for a look afterwards"),
      opt(
        "--hosts",
        "The same with workers on two throw-away local ssh hosts (needs root: a user account and an sshd each)",
      ),
    ],
    load: async () => (await import("../commands/demo.ts")).main,
  },
  DEMO_AGENT,
  {
    usage: "mcp",
    description:
      "Serve orch's tools over MCP on stdin/stdout (the tmux-worktree plugin's tool names and arguments, and orch's " +
      "own for answering, landing and removing workers); runs until stdin closes",
    options: [],
    load: async () => (await import("../commands/mcp.ts")).main,
  },
  {
    usage: "install <agent>",
    description:
      "Install the integration for an agent: for claude, the /orchestrator-mode command, orch's hooks and an allow " +
      "rule for Bash(orch:*) in .claude/settings.local.json",
    options: [
      opt("--global", "Into ~/.claude/ (settings.json) for every project, instead of this repository's .claude/"),
    ],
    load: async () => (await import("../commands/install.ts")).main,
  },
  HOOK,
  {
    usage: "doctor",
    description: "Check git, tmux, gh, git gtr, the agent and the store, and say what to fix",
    options: [opt("--agent <agent>", "The agent to look for (default: claude)")],
    load: async () => (await import("../commands/doctor.ts")).main,
  },
  {
    usage: "completion <shell>",
    description: "Print a completion script for bash, zsh or fish",
    options: [],
    load: async () => (await import("../commands/completion.ts")).main,
  },
  {
    usage: "host <action> [...names]",
    description: "Hosts for workers, over ssh: host add NAME DEST [--path DIR], host list, host rm NAME",
    options: [
      opt("--path <dir>", "add: the clone on the host (default: ~/orch/<repo>)"),
      opt("--force", "rm: forget the host even though workers of it are recorded"),
    ],
    load: async () => (await import("../commands/host.ts")).main,
  },
  AGENT,
  LIFELINE,
  COHERENCE,
];
