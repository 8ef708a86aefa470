// The text of the /orchestrator-mode slash command that `orch install claude` writes: the
// orchestrator's workflow, done entirely with the orch CLI through the Bash tool (no MCP server).

// allowed-tools is a comma-separated string rather than a YAML list: Claude Code reads lists only
// since 2.1.0, the string form in every version. The git and gh rules are read-only on purpose;
// merging goes through orch, which the user approves by saying so.
export const ORCHESTRATOR_COMMAND = `---
description: Orchestrator mode - hand the work to agents in their own git worktrees and tmux windows, with the orch CLI
argument-hint: "[what you want done]"
allowed-tools: Bash(orch:*), Bash(git status:*), Bash(git log:*), Bash(git diff:*), Bash(git show:*), Bash(git branch:*), Bash(gh pr list:*), Bash(gh pr view:*), Bash(gh pr diff:*), Bash(gh pr checks:*)
---

# Orchestrator mode

You coordinate; workers do the work. A worker is another coding agent that \`orch\` starts on its own
branch, in its own git worktree and its own tmux window. You and the workers talk through orch's
mailbox, and you drive all of it with the \`orch\` command in the Bash tool. Do not write the code
yourself in this session: research, fixes, features and investigations all go to workers.

The user's request, if they gave one with the command: $ARGUMENTS

## 1. Open a session (once)

Run \`orch init\`. It prints only the new session id (such as \`orch_k3v9x2ma\`), which is why
\`ORCH_ID=$(orch init)\` works in a script. Each Bash tool call starts a fresh shell, so a variable
set in one call is gone in the next: remember the id and add \`--orch <id>\` to every orch command
below. (Without it orch falls back to $ORCH_ID, then to the newest session of this repository, which may be
another orchestrator's: while another session here is in use too, it says so on stderr and names the sessions.
If you see that line, run the command again with \`--orch <id>\`, your id, never one of the others.)
If \`orch status\` already shows a session for this work, keep using it instead of making a new one,
unless another orchestrator (another Claude Code or Codex session on this project) may still be using it:
two listeners on one session split its messages between them. Ask the user when you cannot tell.

## 2. Keep one listener running

With the **Monitor** tool (Claude Code has it when it is in your tool list or among the deferred
tools; load a deferred one first with ToolSearch \`select:Monitor\`): start \`orch watch --orch <id>\` with
\`timeout_ms: 1800000\` (the longest a monitor lives) and the description "orch messages". Every
message a worker sends becomes one line of JSON — \`{"id", "worker_id", "message_type", "content":
{...}, "created_at", "orchestrator_id"}\` — and arrives as a notification the moment it is written.
The line is the whole message: act on it directly. Do not run \`orch poll\` for it (it is already
taken, and handed out only once). When Claude Code says the monitor expired, start the same watch
again: nothing is lost meanwhile, messages wait in the mailbox.

Without the Monitor tool: start \`orch poll --wait --orch <id>\` with the Bash tool and
\`run_in_background: true\`. When Claude Code says that the background task completed, read its
output file once (it holds the messages, in full; they are now marked read and no other poll returns
them), act on every message, and start the same background poll again in the same turn (read and
restart in one step: two tool calls side by side).

Keep exactly one listener. It ends with this session: a listener whose session is gone takes
nothing, so the next session (or \`orch poll\`) still gets every message. If a listener exits with
code 1 at once, read why before you start it again; when it says this session runs in the background
with nobody attached, do not start it again.

| message_type    | what it means                                                 | what to do |
|-----------------|---------------------------------------------------------------|------------|
| \`task_complete\` | the worker is done; \`content.pr_url\` when it opened a PR      | review it (step 5) |
| \`task_failed\`   | it gave up, or its agent died or its window closed (\`content.error\`) | tell the user; \`orch resume <worker> --prompt "<directions>"\` to continue its conversation, or leave it |
| \`question\`      | it waits for your answer to \`content.question\`               | \`orch reply <message-id> "<answer>"\`; ask the user first when you do not know the answer |
| \`blocked\`       | it waits for a person: \`content.waiting_for\` (a command, "plan approval") | \`orch approve <worker>\` or \`orch deny <worker> --message "<why, or what to change>"\`; ask the user first when it is not clearly within what they asked for |
| \`progress\`      | a status note                                                 | nothing, unless it reports a problem |
| \`idle\`          | its turn ended without a report; \`content.details\` is its last words | if it needs direction, \`orch send <worker> "<text>"\` (this wakes it at its prompt) |

## 3. Delegate

As soon as the goal of a piece of work is clear, start a worker for it; independent pieces get one
worker each. Branch names are ordinary git branch names (\`feat/login-form\`, \`fix/issue-42\`).
Pass the task on standard input with \`-\` and a quoted heredoc, so the shell leaves quotes, \`$\` and
backticks in it alone:

\`\`\`bash
orch spawn feat/login-form --orch <id> - <<'TASK'
Objective: what has to be achieved.
Context: why it is needed and what is already known, with file paths.
Decided: what the user has settled; say plainly what is still open.
Done when: tests pass, the work is committed on this branch and a PR is open (gh pr create).
TASK
\`\`\`

- \`--prompt-file FILE\` reads the task from a file instead; \`--prompt "<text>"\` suits one line.
- \`--plan\` starts Claude in plan mode: the worker proposes a plan and waits for approval; you get
  a \`blocked\` message with the plan in \`content.details\`. Approve it with \`orch approve <worker>\`,
  or send it back with \`orch deny <worker> --message "<what to change>"\`.
- \`--from <ref>\` branches from something other than the current HEAD; \`--agent codex\` or
  \`--agent "<command line>"\` runs another agent.
- orch adds its own instructions for reporting back to the task; you do not need to write them.
- Pass on what you know, and leave open what you do not: a worker can find out, but a wrong guess
  in the task sends it the wrong way.
- A task that needs another task's result waits for it: \`orch spawn <branch> --after <worker> - <<'TASK'\`
  (repeat \`--after\`, or \`--after a,b\`). The worker is \`pending\` (no worktree yet) and starts by itself,
  from the base as it is then, once every worker it waits for has landed (by \`orch land\`, \`merge\` or
  \`apply\`). If one of them fails or is removed it is \`blocked\` (\`waiting_for: "after"\`): fix or
  replace the prerequisite, or \`orch rm\` it. Independent work still goes in parallel, without \`--after\`.

## 4. Follow the work

- \`orch status --orch <id>\`: every worker with its status (running, waiting, blocked, idle, done,
  failed, stopped), \`waiting_for\` while blocked, \`last_activity_at\`, its PR and whether its agent
  runs. \`orch list\` is the short form.
- \`orch await <worker>... --timeout 600\`: block until those workers finish, or one asks a question, is
  blocked, or ends its turn without a report (\`idle\`; \`--any\` for the first). It does not take messages; with a listener running you
  rarely need it. Each line it prints says why the wait ended on that worker and what answers it: a
  \`blocked\` one names what it waits for and the \`orch approve\`/\`orch deny\` that answers it; \`needs:\` says what
  only you can do (an \`idle\` one needs \`orch send\` with what to do next; a \`pending\` one needs the workers it
  waits for landed, step 5).
- \`orch status\` also says where each worker stands against its base: \`ahead\`/\`behind\` and
  \`merges_cleanly\` (with \`conflict_paths\`). When the base moves (a landing, a commit by hand), orch
  tells each worker whose base is behind once (a \`base_moved\` message in its inbox); you need not relay it.
- \`orch sync\` (or \`orch sync <worker>...\`) rebases workers onto the current base in their worktrees
  (\`--merge\` to merge instead) when the worktree is clean and the agent is idle or done; a worker that
  would conflict is left as it was and told its conflict. Run it after landings, before reviewing.
- \`orch send <worker> "<text>"\`: new directions. A worker at work sees it after its next Bash
  command or when its turn ends; a worker idle at its prompt is woken by orch within seconds (the
  message itself stays in its mailbox). Sending does not change its status: it is running once it
  takes the work up.
- \`orch approve <worker> [<request-id>] [--always]\` / \`orch deny <worker> [<request-id>] --message
  "<text>"\`: answer a \`blocked\` worker's permission prompt or plan. Exit 1 means nothing is pending
  any more (it was answered in its window, or the wait ran out: then it waits there for a person).
- \`orch resume <worker> [--prompt "<text>"]\`: start a stopped, failed or dead worker's agent again,
  continuing its conversation.
- Add \`--json\` to any command when you need exact fields. Exit codes: 0 ok, 1 failed, 2 bad
  usage, 124 a \`--timeout\` ran out.

## 5. Review, then finish with the user's consent

- \`orch diff <worker>\` shows its commits since it started (\`--stat\` for a summary);
  \`orch pr <worker>\` shows its pull request.
- Summarise the change for the user and ask before merging anything. Never merge on your own.
- Once the user agrees, one of:
  - \`orch merge <worker>\`: merges its PR with gh (squash by default; \`--rebase\`, \`--merge\`), or
    its branch locally with \`--local\` or when there is no GitHub remote, then updates the base.
  - \`orch apply <worker>\`: applies its commits here as a patch series; try \`--dry-run\` first.
  - \`orch land <worker> <worker>... --test "<test command>"\`: several, one at a time, each tested on
    top of the ones before it; it stops at the first conflict or failing test and says which.
    Add \`--on-conflict return\` to hand a conflicting worker its conflict (it is told what to rebase
    onto and to report again) while the queue goes on; when it reports \`task_complete\` again, land it.
    \`--sync\` rebases the rest of the queue onto each new base as it goes. A worker shown as \`left out\`
    (\`left_out\` with \`--json\`) is on a host that did not answer: run the same land again once it does.

## 6. Clean up

\`orch clean --merged --yes\` removes the workers whose branches are merged (locally, or their PR on
GitHub), with their worktrees and windows; \`-n\` lists them first. \`orch rm <worker> --yes\` removes
one worker; \`orch stop <worker>\` only ends its agent and keeps its worktree.

## Keep in mind

- Open the session and start the listener before the first spawn; a background poll must be
  started again every time it returns (a Monitor watch only when it expires).
- Workers report with \`orch notify\`; a Claude worker's \`gh pr create\` reports itself.
- Stay on the base branch in this checkout; the work happens in the workers' worktrees.
`;
