// A Codex worker's status tells the truth, with the real Codex 0.169 in its tmux window, offline against a
// scripted Responses API: an approval prompt makes it blocked (approve and deny answer it through
// Codex's PermissionRequest hook), its end of turn makes it idle, send wakes it at its prompt, and
// resume after stop continues the same conversation; the user's own hooks keep running.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { codexHookTrustHash } from "../src/agents/codex.ts";
import { cachedCodex, scratchOutsideTmp } from "./codex-harness.ts";
import type { RecordedRequest, Step } from "./codex-harness.ts";
import { gate, LONG, paneText, pollUntil, requestFor, requestsOf, setup as setupFor, spawnCodex, workerRecord } from "./codex-workers.ts";
import type { Polled, Setup } from "./codex-workers.ts";
import { orch, tmux, waitUntil } from "./helpers.ts";

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const codexEntry = cachedCodex();
const scratch = scratchOutsideTmp();
const setup = (scripts: Record<string, Step[]>): Promise<Setup> => setupFor(scripts, scratch.users, codexEntry!);
const verbose = (line: string) => process.env.ORCH_TEST_VERBOSE && console.error(line);

/** The same text as src/commands/messages.ts WAKE_LINE: what orch types into an idle agent's window. */
const WAKE_LINE = "orch: you have a new message from your orchestrator. Read it with: orch inbox";

interface StatusRow {
  worker_id: string;
  status: string;
  waiting_for?: string | null;
  request_id?: string | null;
}

function statusOf(s: Setup, worker: string): StatusRow {
  const r = orch(["status", "--json"], { cwd: s.repo, env: s.env });
  assert.is(r.code, 0, r.stderr);
  return (r.json.workers as StatusRow[]).find((w) => w.worker_id === worker)!;
}

/** Everything the model was sent in a request, as text: prompts, hook context, tool outputs. */
const bodyText = (request: RecordedRequest): string => JSON.stringify(request.body);

if (!codexEntry) {
  test("Codex", () => console.log("SKIP: Codex 0.169 is not in the agent cache (run .ci/install-agents)"));
} else {
  test("a Codex worker at an approval prompt is blocked; approve and deny answer it; its turn's end is idle; send wakes it", async () => {
    // Outside every writable root of the sandbox: only an approved, escalated command can write here.
    const outside = fs.mkdtempSync(path.join(scratch.users, "outside-"));
    const approvedFile = path.join(outside, "approved.txt");
    const deniedFile = path.join(outside, "denied.txt");
    const s = await setup({
      block: [
        { exec: `echo approved > ${approvedFile}`, escalate: "needs the shared cache outside the worktree" },
        { exec: `echo denied > ${deniedFile}`, escalate: "one more write outside" },
        { say: "turn over" },
      ],
    });
    try {
      const worker = spawnCodex(s, "feat/block", "Write the cache. SCRIPT:block");
      const seen: Polled[] = [];
      const first = await pollUntil(s, seen, (m) => m.message_type === "blocked", "the first blocked message");
      assert.is(first.worker_id, worker);
      assert.is(first.content.waiting_for, `Bash: echo approved > ${approvedFile}`);
      assert.ok(first.content.request_id, "the request is named for approve/deny");
      assert.is(first.content.details, "needs the shared cache outside the worktree", "the model's justification");
      const blocked = statusOf(s, worker);
      assert.is(blocked.status, "blocked");
      assert.is(blocked.waiting_for, first.content.waiting_for);
      assert.is(blocked.request_id, first.content.request_id);
      const awaited = orch(["await", worker, "--timeout", "60", "--json"], { cwd: s.repo, env: s.env });
      assert.is(awaited.code, 0, awaited.stderr);
      assert.is(awaited.json.workers[0].status, "blocked", "await returns on a blocked worker");
      // Codex runs the hook before it shows its own prompt: the window says so meanwhile.
      const windowId = workerRecord(s, worker).window_id;
      await waitUntil(() => paneText(s, windowId).includes("Running hook"), LONG, "the window showing the hook at work");

      // Codex's hook cannot allow a kind of call for the rest of the session: refused, nothing answered.
      const always = orch(["approve", worker, "--always"], { cwd: s.repo, env: s.env });
      assert.is(always.code, 2, always.stderr);
      assert.match(always.stderr, "--always");
      assert.is(statusOf(s, worker).status, "blocked");

      const approve = orch(["approve", worker, "--json"], { cwd: s.repo, env: s.env });
      assert.is(approve.code, 0, approve.stderr);
      assert.is(approve.json.request_id, first.content.request_id);
      await requestFor(s.server, "block", 1, "the request after the approved command");
      assert.is(fs.readFileSync(approvedFile, "utf8"), "approved\n", "the approved command ran outside the sandbox");

      const second = await pollUntil(
        s,
        seen,
        (m) => m.message_type === "blocked" && m.content.request_id !== first.content.request_id,
        "the second blocked message",
      );
      assert.is(second.content.waiting_for, `Bash: echo denied > ${deniedFile}`);
      const deny = orch(["deny", worker, "--message", "-no: keep to the worktree"], { cwd: s.repo, env: s.env });
      assert.is(deny.code, 0, deny.stderr);
      const afterDeny = await requestFor(s.server, "block", 2, "the request after the denied command");
      assert.match(bodyText(afterDeny), "-no: keep to the worktree", "the model reads the reason");
      assert.not.ok(fs.existsSync(deniedFile), "the denied command did not run");

      const idle = await pollUntil(s, seen, (m) => m.message_type === "idle", "idle at the end of the turn");
      assert.is(idle.worker_id, worker);
      assert.is(statusOf(s, worker).status, "idle");

      // At its prompt: send types the fixed line, and the next turn's request carries the message.
      const sentAt = Date.now();
      const send = orch(["send", worker, "--json", "look at the cache again"], { cwd: s.repo, env: s.env });
      assert.is(send.code, 0, send.stderr);
      assert.is(send.json.woken, true);
      const isWakeTurn = (r: RecordedRequest) => s.server.userTexts(r).some((t) => t.includes(WAKE_LINE));
      await waitUntil(() => requestsOf(s.server, "block").some(isWakeTurn), LONG, "the turn the wake-up line starts")
        .catch((error: Error) => assert.unreachable(`${error.message}; the window shows:\n${paneText(s, windowId)}`));
      const woken = requestsOf(s.server, "block").find(isWakeTurn)!;
      verbose(`send → next model request: ${woken.at - sentAt} ms`);
      assert.match(bodyText(woken), "look at the cache again", "the message reaches the model with the new turn");
      await pollUntil(
        s,
        seen,
        (m) => m.message_type === "idle" && seen.filter((n) => n.message_type === "idle").length >= 2,
        "idle after the woken turn",
      );
      assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      await s.server.close();
    }
  });

  test("a blocked Codex worker whose window is closed: its hook stops waiting, the worker is failed, nothing is pending", async () => {
    const s = await setup({ orphan: [{ exec: "echo never > /never-written", escalate: "outside" }] });
    try {
      const worker = spawnCodex(s, "feat/orphan", "Write outside. SCRIPT:orphan");
      const seen: Polled[] = [];
      const blocked = await pollUntil(s, seen, (m) => m.message_type === "blocked", "the blocked message");
      const requestFile = path.join(s.repo, ".orch/sessions", s.id, "workers", worker, "requests", `${blocked.content.request_id}.json`);
      const hookPid = (JSON.parse(fs.readFileSync(requestFile, "utf8")) as { hook_pid: number }).hook_pid;
      assert.ok(isAlive(hookPid), "the hook waits for an answer");
      tmux(["kill-window", "-t", workerRecord(s, worker).window_id], s.env);
      await waitUntil(() => !isAlive(hookPid), LONG, "the hook to give up once its agent is gone");
      const awaited = orch(["await", worker, "--timeout", "60", "--json"], { cwd: s.repo, env: s.env });
      assert.is(awaited.code, 0, awaited.stderr);
      assert.is(awaited.json.workers[0].status, "failed");
      const approve = orch(["approve", worker], { cwd: s.repo, env: s.env });
      assert.is(approve.code, 1, "nothing is pending");
    } finally {
      await s.server.close();
    }
  });

  test("resume after stop continues the Codex conversation", async () => {
    // Every turn of this script is its step 0 (no tool calls): the gate is swapped to hold the resumed one.
    let hold: Promise<unknown> = Promise.resolve();
    const resumed = gate();
    const s = await setup({ again: [{ say: "noted the word", get after() { return hold; } }] });
    // The user's own hook, trusted in their config.toml: orch's per-invocation hooks and their trust
    // must leave it working.
    const userHookRan = path.join(s.env.CODEX_HOME!, "user-hook-ran");
    const userHook = `touch ${userHookRan}`;
    const userHookKey = `${s.env.CODEX_HOME}/config.toml:user_prompt_submit:0:0`;
    fs.appendFileSync(path.join(s.env.CODEX_HOME!, "config.toml"), [
      "[[hooks.UserPromptSubmit]]",
      "[[hooks.UserPromptSubmit.hooks]]",
      'type = "command"',
      `command = ${JSON.stringify(userHook)}`,
      `[hooks.state.${JSON.stringify(userHookKey)}]`,
      `trusted_hash = ${JSON.stringify(codexHookTrustHash("user_prompt_submit", userHook, 600))}`,
      "",
    ].join("\n"));
    try {
      const worker = spawnCodex(s, "feat/again", "Remember the word PELICAN. SCRIPT:again");
      const seen: Polled[] = [];
      await pollUntil(s, seen, (m) => m.message_type === "idle", "idle after the first turn");
      assert.ok(fs.existsSync(userHookRan), "the user's own trusted hook ran beside orch's");
      await waitUntil(() => typeof workerRecord(s, worker).agent_session_id === "string", LONG, "the Codex session id");
      const sessionId = workerRecord(s, worker).agent_session_id!;
      const before = requestsOf(s.server, "again").length;
      hold = resumed.opened;

      const resumeRunning = orch(["resume", worker], { cwd: s.repo, env: s.env });
      assert.is(resumeRunning.code, 1, "refused while the agent runs");
      assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
      assert.is(statusOf(s, worker).status, "stopped");

      const resume = orch(["resume", worker, "--json", "--prompt", "-carry on with the word"], { cwd: s.repo, env: s.env });
      assert.is(resume.code, 0, resume.stderr);
      assert.is(resume.json.conversation_continued, true);
      await waitUntil(() => requestsOf(s.server, "again").length > before, LONG, "the resumed conversation's request");
      const next = requestsOf(s.server, "again")[before]!;
      const texts = s.server.userTexts(next);
      assert.ok(texts.some((t) => t.startsWith("Remember the word PELICAN.")), "the first prompt is in the history");
      const why = `the resume prompt follows: ${texts.map((t) => t.slice(0, 60)).join(" | ")}`;
      assert.ok(texts.some((t) => t === "-carry on with the word"), why);
      assert.match(bodyText(next), "noted the word", "the model's earlier answer is in the history");
      assert.is(statusOf(s, worker).status, "running");
      assert.is(workerRecord(s, worker).agent_session_id, sessionId, "the same Codex session");
      resumed.open();
      await pollUntil(
        s,
        seen,
        (m) => m.message_type === "idle" && seen.filter((n) => n.message_type === "idle").length >= 2,
        "idle after the resumed turn",
      );
      assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
      // Its rollouts gone (the sessions folder removed): the task starts over in a new session. Before: resumed,
      // its conversation said continued, then failed at once with Codex's "no rollout found" and a stack backtrace.
      const sessions = path.join(s.env.CODEX_HOME!, "sessions");
      fs.renameSync(sessions, `${sessions}.moved`);
      const before2 = requestsOf(s.server, "again").length;
      const over = orch(["resume", worker, "--json", "--prompt", "-the word again"], { cwd: s.repo, env: s.env });
      assert.is(over.code, 0, over.stderr);
      assert.is(over.json.conversation_continued, false, "nothing to continue");
      await waitUntil(() => requestsOf(s.server, "again").length > before2, LONG, "the new session's request");
      const first = s.server.userTexts(requestsOf(s.server, "again")[before2]!);
      const whole = (t: string) => t.startsWith("Remember the word PELICAN.") && t.endsWith("\n\n-the word again");
      assert.ok(first.some(whole), `the task, then the message: ${first.map((t) => t.slice(0, 80))}`);
      await waitUntil(() => workerRecord(s, worker).agent_session_id !== sessionId, LONG, "the new session recorded");
      await pollUntil(
        s,
        seen,
        (m) => m.message_type === "idle" && seen.filter((n) => n.message_type === "idle").length >= 3,
        "idle after the new session's turn",
      );
      assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      await s.server.close();
    }
  });
}

test.run();
