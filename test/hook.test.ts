// orch hook: recorded Claude Code payloads on stdin; PR reports once, inbox delivery, idle once, always exit 0.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ROOT, orch, orchAsync, sessionRepo, tempDir } from "./helpers.ts";

interface Worker {
  repo: string;
  id: string;
  worktree: string;
}

function worker(branch = "feat/login"): Worker {
  const { repo, id } = sessionRepo();
  const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
  if (r.code !== 0) throw new Error(`spawn failed: ${r.stderr}`);
  return { repo, id, worktree: r.json.worktree_path as string };
}

/** The shape Claude Code sends after a Bash call that exited 0 (hooks reference, PostToolUse input). */
function postToolUse(cwd: string, command: string, stdout: string): string {
  return JSON.stringify({
    session_id: "abc123",
    transcript_path: "/home/u/.claude/projects/x/abc123.jsonl",
    cwd,
    permission_mode: "default",
    hook_event_name: "PostToolUse",
    tool_name: "Bash",
    tool_input: { command, description: "Open the pull request", timeout: 120000, run_in_background: false },
    tool_response: { stdout, stderr: "", interrupted: false, isImage: false },
    tool_use_id: "toolu_01ABC",
    duration_ms: 2140,
  });
}

/** After a Bash call that exited non-zero (PostToolUseFailure input). */
function postToolUseFailure(cwd: string, command: string, output: string): string {
  return JSON.stringify({
    session_id: "abc123",
    transcript_path: "/home/u/.claude/projects/x/abc123.jsonl",
    cwd,
    permission_mode: "default",
    hook_event_name: "PostToolUseFailure",
    tool_name: "Bash",
    tool_input: { command, description: "Open the pull request" },
    tool_use_id: "toolu_01DEF",
    error: `Exit code 1\n${output}`,
    is_interrupt: false,
    duration_ms: 900,
  });
}

function stopPayload(cwd: string, active = false): string {
  return JSON.stringify({
    session_id: "abc123",
    transcript_path: "/home/u/.claude/projects/x/abc123.jsonl",
    cwd,
    permission_mode: "default",
    hook_event_name: "Stop",
    stop_hook_active: active,
    last_assistant_message: "I have finished the login form.",
    background_tasks: [],
    session_crons: [],
  });
}

const PR_URL = "https://github.com/acme/shop/pull/42";
const GH_OUTPUT = `\nCreating pull request for feat/login into main in acme/shop\n\n${PR_URL}\n`;

function hook(event: string, input: string, cwd: string, env: Record<string, string | undefined> = {}) {
  return orch(["hook", event], { cwd, input, env });
}

function poll(w: Worker): { message_type: string; worker_id: string; content: Record<string, string> }[] {
  const r = orch(["poll", "--json", "--orch", w.id], { cwd: w.repo });
  assert.is(r.code, 0, r.stderr);
  return r.json.messages;
}

test("a successful gh pr create sends exactly one task_complete with pr_url and branch, also when fed twice", () => {
  const w = worker();
  const input = postToolUse(w.worktree, `gh pr create --title "Login form" --body "$(cat <<'EOF'\nAdds it\nEOF\n)"`, GH_OUTPUT);
  const first = hook("post-tool-use", input, w.worktree);
  assert.is(first.code, 0, first.stderr);
  const output = JSON.parse(first.stdout);
  assert.is(output.hookSpecificOutput.hookEventName, "PostToolUse");
  assert.match(output.hookSpecificOutput.additionalContext, PR_URL);
  const second = hook("post-tool-use", input, w.worktree);
  assert.is(second.code, 0);
  assert.is(second.stdout, "", "nothing new to say the second time");
  const messages = poll(w);
  assert.is(messages.length, 1);
  assert.is(messages[0]!.message_type, "task_complete");
  assert.is(messages[0]!.worker_id, "feat-login");
  assert.is(messages[0]!.content.pr_url, PR_URL);
  assert.is(messages[0]!.content.branch, "feat/login");
  assert.match(messages[0]!.content.summary!, "Login form");
  const status = orch(["status", "--json", "--orch", w.id], { cwd: w.repo }).json;
  assert.is(status.workers[0].status, "done");
  assert.is(status.workers[0].pr_url, PR_URL);
});

test("concurrent hooks for the same PR still send it once", async () => {
  const w = worker();
  const input = postToolUse(w.worktree, "gh pr create --fill", GH_OUTPUT);
  const runs = Array.from({ length: 6 }, () => orchAsync(["hook", "post-tool-use"], { cwd: w.worktree, input }).done);
  for (const r of await Promise.all(runs)) assert.is(r.code, 0, r.stderr);
  assert.equal(poll(w).map((m) => m.message_type), ["task_complete"]);
});

test("a failed gh pr create, or one without a URL, sends nothing", () => {
  const w = worker();
  const alreadyExists = `a pull request for branch "feat/login" into branch "main" already exists:\n${PR_URL}`;
  const payload = postToolUseFailure(w.worktree, "gh pr create --fill", alreadyExists);
  const failed = hook("post-tool-use", payload, w.worktree);
  assert.is(failed.code, 0);
  assert.is(failed.stdout, "");
  const noUrl = hook("post-tool-use", postToolUse(w.worktree, "gh pr create --fill", "Warning: 2 uncommitted changes\n"), w.worktree);
  assert.is(noUrl.code, 0);
  assert.is(noUrl.stdout, "");
  const otherCommand = hook("post-tool-use", postToolUse(w.worktree, "gh pr view 42", PR_URL), w.worktree);
  assert.is(otherCommand.stdout, "");
  assert.equal(poll(w), []);
});

test("outside a worker: no output, exit 0 (the main checkout, a plain directory, a missing cwd)", () => {
  const w = worker();
  orch(["send", "feat-login", "hello", "--orch", w.id], { cwd: w.repo });
  for (const cwd of [w.repo, tempDir(), "/nonexistent/dir"]) {
    const input = postToolUse(cwd, "gh pr create --fill", GH_OUTPUT);
    const r = hook("post-tool-use", input, w.repo);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, "", cwd);
    assert.is(r.stderr, "", cwd);
    const s = hook("stop", stopPayload(cwd), w.repo);
    assert.is(s.code, 0);
    assert.is(s.stdout, "");
  }
  assert.equal(poll(w), [], "no PR was reported for the main checkout");
  // The worker's message is still waiting for it.
  const inbox = orch(["inbox", "--json"], { cwd: w.worktree });
  assert.is(inbox.json.message_count, 1);
});

test("pending orchestrator messages reach the agent as additionalContext, once", () => {
  const w = worker();
  // U+009B: a control character JSON.stringify leaves as it is; the hook's JSON must carry it unchanged.
  const text = `Use the "session" cookie; keep $(this) and \`that\` as they are.\nSecond line \u009b.`;
  assert.is(orch(["send", "feat-login", text, "--orch", w.id], { cwd: w.repo }).code, 0);
  assert.is(orch(["send", "feat-login", "and add a test", "--orch", w.id], { cwd: w.repo }).code, 0);
  const input = postToolUse(w.worktree, "npm test", "ok\n");
  const first = hook("post-tool-use", input, w.worktree);
  assert.is(first.code, 0, first.stderr);
  const context: string = JSON.parse(first.stdout).hookSpecificOutput.additionalContext;
  assert.ok(context.includes(text), context);
  assert.ok(context.indexOf(text) < context.indexOf("and add a test"), "oldest first");
  const second = hook("post-tool-use", input, w.worktree);
  assert.is(second.stdout, "", "handed out once");
  assert.is(orch(["inbox", "--json"], { cwd: w.worktree }).json.message_count, 0, "marked read");
});

test("after a failed command the messages come with hookEventName PostToolUseFailure", () => {
  const w = worker();
  orch(["send", "feat-login", "stop and rebase", "--orch", w.id], { cwd: w.repo });
  const r = hook("post-tool-use", postToolUseFailure(w.worktree, "npm test", "1 failing"), path.join(w.worktree));
  const output = JSON.parse(r.stdout);
  assert.is(output.hookSpecificOutput.hookEventName, "PostToolUseFailure");
  assert.match(output.hookSpecificOutput.additionalContext, "stop and rebase");
});

test("a reply to a question names the question", () => {
  const w = worker();
  const asked = orch(
    ["notify", "--type", "question", "--summary", "which db?", "--question", "Postgres or SQLite?", "--json"],
    { cwd: w.worktree },
  );
  assert.is(asked.code, 0, asked.stderr);
  assert.is(orch(["reply", asked.json.message_id, "SQLite", "--orch", w.id], { cwd: w.repo }).code, 0);
  const r = hook("post-tool-use", postToolUse(w.worktree, "ls", ""), w.worktree);
  const context: string = JSON.parse(r.stdout).hookSpecificOutput.additionalContext;
  assert.match(context, "Postgres or SQLite?");
  assert.match(context, "SQLite");
});

test("the worker is found from the payload's cwd, also in a subfolder, whatever the process's cwd", () => {
  const w = worker();
  fs.mkdirSync(path.join(w.worktree, "src/deep"), { recursive: true });
  orch(["send", "feat-login", "ping", "--orch", w.id], { cwd: w.repo });
  const r = hook("post-tool-use", postToolUse(path.join(w.worktree, "src/deep"), "ls", ""), tempDir());
  assert.match(JSON.parse(r.stdout).hookSpecificOutput.additionalContext, "ping");
});

test("garbage on stdin, empty stdin, wrong shapes: exit 0 and no output", () => {
  const w = worker();
  const wrongTypes = '{"tool_name": 5, "cwd": 7, "tool_input": "x", "tool_response": [1]}';
  for (const input of ["", "not json", "{", "[1,2]", "null", "42", wrongTypes, "\u0000\u00ff"]) {
    for (const event of ["post-tool-use", "stop"]) {
      const r = hook(event, input, w.worktree);
      assert.is(r.code, 0, `${event} ${JSON.stringify(input)}: ${r.stderr}`);
      assert.is(r.stdout, "", `${event} ${JSON.stringify(input)}`);
    }
  }
});

test("a broken store does not break the agent: exit 0", () => {
  const w = worker();
  fs.rmSync(path.join(w.repo, ".orch"), { recursive: true, force: true });
  const r = hook("post-tool-use", postToolUse(w.worktree, "gh pr create --fill", GH_OUTPUT), w.worktree);
  assert.is(r.code, 0);
  assert.is(r.stdout, "");
});

test("stop with pending messages blocks with the messages as the reason; without them sends idle once", () => {
  const w = worker();
  orch(["send", "feat-login", "also update the README", "--orch", w.id], { cwd: w.repo });
  const blocked = hook("stop", stopPayload(w.worktree), w.worktree);
  assert.is(blocked.code, 0, blocked.stderr);
  const output = JSON.parse(blocked.stdout);
  assert.is(output.decision, "block");
  assert.match(output.reason, "also update the README");
  assert.equal(poll(w), [], "no idle while the agent was kept going");

  // The agent worked on it and stops again (stop_hook_active): now it is idle, once.
  const idle = hook("stop", stopPayload(w.worktree, true), w.worktree);
  assert.is(idle.code, 0);
  assert.is(idle.stdout, "");
  assert.is(hook("stop", stopPayload(w.worktree), w.worktree).stdout, "");
  const messages = poll(w);
  assert.equal(messages.map((m) => m.message_type), ["idle"]);
  assert.is(messages[0]!.content.branch, "feat/login");
  assert.match(messages[0]!.content.details!, "finished the login form");
  assert.is(orch(["status", "--json", "--orch", w.id], { cwd: w.repo }).json.workers[0].status, "idle");

  // A new message makes it run again; its next stop is a new idle.
  orch(["send", "feat-login", "one more thing", "--orch", w.id], { cwd: w.repo });
  assert.is(JSON.parse(hook("stop", stopPayload(w.worktree), w.worktree).stdout).decision, "block");
  hook("stop", stopPayload(w.worktree, true), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["idle"]);

  // Someone typed in the window and the agent worked (a tool call) without orch: a new turn, a new idle.
  hook("post-tool-use", postToolUse(w.worktree, "ls", "a\n"), w.worktree);
  assert.is(orch(["status", "--json", "--orch", w.id], { cwd: w.repo }).json.workers[0].status, "running");
  hook("stop", stopPayload(w.worktree), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["idle"]);
});

test("stop after the worker reported done sends no idle", () => {
  const w = worker();
  hook("post-tool-use", postToolUse(w.worktree, "gh pr create --fill", GH_OUTPUT), w.worktree);
  hook("stop", stopPayload(w.worktree), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["task_complete"]);
});

/** Claude Code's StopFailure input: a model API error ended the turn after its retries. */
function stopFailurePayload(cwd: string): string {
  return JSON.stringify({
    session_id: "abc123", cwd, hook_event_name: "StopFailure", error: "rate_limit",
    last_assistant_message: "API Error: Request rejected (429) · rate limited",
  });
}

test("a turn a model API error ended is failed until the next turn, past a second StopFailure or a Stop", () => {
  const w = worker();
  const status = () => orch(["status", "--json", "--orch", w.id], { cwd: w.repo }).json.workers[0].status;
  hook("stop-failure", stopFailurePayload(w.worktree), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["task_failed"]);
  assert.is(status(), "failed");
  // The same turn's end heard again (a second StopFailure, a Stop): still failed, not told again.
  hook("stop-failure", stopFailurePayload(w.worktree), w.worktree);
  hook("stop", stopPayload(w.worktree), w.worktree);
  assert.equal(poll(w), []);
  assert.is(status(), "failed");
  // The next turn (orch send's wake-up line, or a person typing) makes it running; its failure is told anew.
  const prompt = JSON.stringify({ session_id: "abc123", cwd: w.worktree, hook_event_name: "UserPromptSubmit" });
  hook("user-prompt-submit", prompt, w.worktree);
  assert.is(status(), "running");
  hook("stop-failure", stopFailurePayload(w.worktree), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["task_failed"]);
  assert.is(status(), "failed");
});

test("a worker that reported done: a failed turn of the same work is not told; one of work sent after is", () => {
  const w = worker();
  const status = () => orch(["status", "--json", "--orch", w.id], { cwd: w.repo }).json.workers[0].status;
  const notified = orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: w.worktree });
  assert.is(notified.code, 0, notified.stderr);
  hook("stop-failure", stopFailurePayload(w.worktree), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["task_complete"], "its report stands");
  assert.is(status(), "done");
  // The orchestrator sends it more work: its next turn fails on the model API, and the orchestrator hears it.
  hook("stop", stopPayload(w.worktree), w.worktree);
  const prompt = JSON.stringify({ session_id: "abc123", cwd: w.worktree, hook_event_name: "UserPromptSubmit" });
  hook("user-prompt-submit", prompt, w.worktree);
  hook("stop-failure", stopFailurePayload(w.worktree), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["task_failed"]);
  assert.is(status(), "failed");
});

test("pre-compact at the prompt (a person's /compact, one after a turn) starts no turn: idle stays idle", () => {
  const w = worker();
  const status = () => orch(["status", "--json", "--orch", w.id], { cwd: w.repo }).json.workers[0].status;
  hook("stop", stopPayload(w.worktree), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["idle"]);
  for (const trigger of ["manual", "auto"]) {
    const compact = JSON.stringify({ session_id: "abc123", cwd: w.worktree, hook_event_name: "PreCompact", trigger });
    const r = hook("pre-compact", compact, w.worktree);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, "");
    assert.is(status(), "idle", trigger);
  }
  // The worker's next turn still makes it running, and its end idle again.
  const prompt = JSON.stringify({ session_id: "abc123", cwd: w.worktree, hook_event_name: "UserPromptSubmit" });
  hook("user-prompt-submit", prompt, w.worktree);
  assert.is(status(), "running");
  hook("stop", stopPayload(w.worktree), w.worktree);
  assert.equal(poll(w).map((m) => m.message_type), ["idle"]);
});

test("event names: Claude Code's spelling works; an unknown one fails with exit 1, never 2 (Claude Code's 'block')", () => {
  const w = worker();
  orch(["send", "feat-login", "hi", "--orch", w.id], { cwd: w.repo });
  const answered = JSON.parse(hook("PostToolUse", postToolUse(w.worktree, "ls", ""), w.worktree).stdout);
  assert.is(answered.hookSpecificOutput.hookEventName, "PostToolUse");
  // A settings file of another orch naming an event this one does not know: a 2 would block every tool call.
  const bad = hook("pre-tool-use", postToolUse(w.worktree, "ls", ""), w.worktree);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /^orch: unknown hook event "pre-tool-use": use post-tool-use, .*\n$/);
  assert.is(bad.stdout, "");
  const none = orch(["hook"], { cwd: w.worktree });
  assert.is(none.code, 2, "no event at all is a usage error, as for any command");
  assert.equal(poll(w).map((m) => m.message_type), [], "nothing was sent");
});

/** The modules a file loads when it is imported: static imports only, `import type` and `await import()` excluded. */
function staticImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!file.endsWith(".ts")) return;
    const text = fs.readFileSync(file, "utf8");
    for (const match of text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)";/gms)) {
      const spec = match[1]!;
      visit(spec.startsWith(".") ? path.resolve(path.dirname(file), spec) : spec);
    }
  };
  visit(entry);
  return seen;
}

test("the hook's import graph stays small: no cac, zx, child_process, picocolors or proper-lockfile", () => {
  const heavy = ["cac", "zx", "node:child_process", "child_process", "picocolors", "proper-lockfile"];
  for (const entry of ["src/main.ts", "src/commands/hook.ts"]) {
    const modules = staticImports(path.join(ROOT, entry));
    for (const name of heavy) assert.not.ok(modules.has(name), `${entry} loads ${name}`);
  }
  const own = [...staticImports(path.join(ROOT, "src/commands/hook.ts"))].filter((m) => m.endsWith(".ts"));
  // 19 while store/workers.ts held the records, the claims and the status; split in three, the same code is 21;
  // 22 with text.ts (text cut between characters, for waiting_for and error messages; it imports nothing).
  assert.ok(own.length < 23, `hook.ts pulls in ${own.length} modules: ${own.join(", ")}`);
});

test.run();
