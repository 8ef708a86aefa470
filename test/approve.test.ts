// blocked, approve and deny through the PermissionRequest hook path (payloads as Claude Code sends
// them on stdin): the orchestrator is told, await returns, the hook returns the orchestrator's answer
// as Claude Code's decision, or nothing (the prompt stays for a person) when none comes in time.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { OrchError } from "../src/errors.ts";
import { StoreLayout } from "../src/store/layout.ts";
import { openRequest } from "../src/store/requests.ts";
import type { WorkerRecord } from "../src/store/workers.ts";
import { orch, orchAsync, sessionRepo, waitUntil, type Result } from "./helpers.ts";

interface Worker {
  repo: string;
  id: string;
  worktree: string;
}

function worker(branch = "feat/guarded"): Worker {
  const { repo, id } = sessionRepo();
  const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
  if (r.code !== 0) throw new Error(`spawn failed: ${r.stderr}`);
  return { repo, id, worktree: r.json.worktree_path as string };
}

/** Claude Code's PermissionRequest input (hooks reference): the tool, its input, its suggested rules. */
function permissionPayload(cwd: string, toolName: string, toolInput: Record<string, unknown>): string {
  return JSON.stringify({
    session_id: "0b6e1f6e-4c1e-4a43-9d59-5c0a5d1f0e11",
    transcript_path: "/home/u/.claude/projects/x/s.jsonl",
    cwd,
    permission_mode: "default",
    hook_event_name: "PermissionRequest",
    tool_name: toolName,
    tool_input: toolInput,
    permission_suggestions: [{
      type: "addRules",
      rules: [{ toolName: "Bash", ruleContent: "make deploy:*" }],
      behavior: "allow",
      destination: "localSettings",
    }],
  });
}

function raise(w: Worker, toolName: string, toolInput: Record<string, unknown>, waitSeconds = "60"): Promise<Result> {
  return orchAsync(["hook", "permission-request"], {
    cwd: w.worktree,
    input: permissionPayload(w.worktree, toolName, toolInput),
    env: { ORCH_APPROVAL_WAIT: waitSeconds },
  }).done;
}

function statusOf(w: Worker) {
  return orch(["status", "--json"], { cwd: w.repo }).json.workers[0];
}

async function blockedRequest(w: Worker): Promise<{ request_id: string; waiting_for: string }> {
  await waitUntil(() => statusOf(w).status === "blocked", 15_000, "the worker to be blocked");
  return statusOf(w);
}

test("a permission prompt: blocked message, status and await; approve answers through the hook", async () => {
  const w = worker();
  const hook = raise(w, "Bash", { command: "make deploy", description: "Deploy" });
  const blocked = await blockedRequest(w);
  assert.is(blocked.waiting_for, "Bash: make deploy");
  assert.match(blocked.request_id, /^req_[a-z0-9]{8}$/);
  const polled = orch(["poll", "--json"], { cwd: w.repo }).json.messages;
  assert.equal(polled.map((m: { message_type: string }) => m.message_type), ["blocked"]);
  assert.is(polled[0].content.request_id, blocked.request_id);
  assert.is(polled[0].content.waiting_for, "Bash: make deploy");
  const awaited = orch(["await", "--timeout", "10", "--json"], { cwd: w.repo });
  assert.is(awaited.code, 0, "await returns on a blocked worker");
  assert.is(awaited.json.workers[0].status, "blocked");
  // await's answer alone is enough to answer the request: status is not needed for its id.
  assert.is(awaited.json.workers[0].waiting_for, "Bash: make deploy");
  assert.is(awaited.json.workers[0].request_id, blocked.request_id);
  // So is the human form, which is what a model reads after orch await.
  const said = orch(["await", "--timeout", "10"], { cwd: w.repo }).stdout;
  const answer = `orch approve feat-guarded ${blocked.request_id}, or orch deny feat-guarded ${blocked.request_id} --message`;
  assert.ok(said.includes(`waiting for Bash: make deploy: ${answer}`), said);

  const approved = orch(["approve", "feat/guarded", "--json"], { cwd: w.repo });
  assert.is(approved.code, 0, approved.stderr);
  assert.is(approved.json.request_id, blocked.request_id);
  const out = await hook;
  assert.is(out.code, 0, out.stderr);
  assert.equal(JSON.parse(out.stdout), {
    hookSpecificOutput: {
      hookEventName: "PermissionRequest",
      decision: { behavior: "allow", updatedInput: { command: "make deploy", description: "Deploy" } },
    },
  });
  assert.is(statusOf(w).status, "running");
  assert.is(statusOf(w).waiting_for, undefined);
  assert.is(orch(["approve", "feat/guarded"], { cwd: w.repo }).code, 1, "nothing pending any more");
});

test("approve --always adds the suggested rules for this session only; deny --message is what the agent is told", async () => {
  const w = worker();
  const first = raise(w, "Bash", { command: "make deploy" });
  const req = await blockedRequest(w);
  assert.is(orch(["approve", "feat-guarded", req.request_id, "--always"], { cwd: w.repo }).code, 0);
  const allowed = JSON.parse((await first).stdout).hookSpecificOutput.decision;
  assert.equal(allowed.updatedPermissions, [{
    type: "addRules",
    rules: [{ toolName: "Bash", ruleContent: "make deploy:*" }],
    behavior: "allow",
    destination: "session",
  }]);

  const second = raise(w, "Bash", { command: "rm -rf build" });
  await blockedRequest(w);
  assert.is(orch(["deny", "feat-guarded"], { cwd: w.repo }).code, 2, "deny needs --message");
  const denied = orch(["deny", "feat-guarded", "--message", "Use make clean instead"], { cwd: w.repo });
  assert.is(denied.code, 0, denied.stderr);
  assert.equal(JSON.parse((await second).stdout).hookSpecificOutput.decision, { behavior: "deny", message: "Use make clean instead" });
});

test("a plan to approve: waiting_for is plan approval with the plan in details; deny --message is the feedback", async () => {
  const w = worker();
  const plan = "1. Add the login form\n2. Wire it to the session store";
  const hook = raise(w, "ExitPlanMode", { plan });
  const req = await blockedRequest(w);
  assert.is(req.waiting_for, "plan approval");
  const message = orch(["poll", "--json"], { cwd: w.repo }).json.messages[0];
  assert.is(message.content.details, plan);
  assert.is(orch(["deny", "feat-guarded", "--message", "Also add tests"], { cwd: w.repo }).code, 0);
  assert.equal(JSON.parse((await hook).stdout).hookSpecificOutput.decision, { behavior: "deny", message: "Also add tests" });
});

test("no answer in time: the hook says nothing (the prompt stays for a person), the worker stays blocked, approve exits 1", async () => {
  const w = worker();
  const out = await raise(w, "Write", { file_path: "/etc/hosts", content: "x" }, "0.5");
  assert.is(out.code, 0);
  assert.is(out.stdout, "");
  assert.is(statusOf(w).status, "blocked");
  assert.is(statusOf(w).waiting_for, "Write: /etc/hosts");
  const late = orch(["approve", "feat-guarded", "--json"], { cwd: w.repo });
  assert.is(late.code, 1);
  assert.is(late.json.error.code, "not_found");
});

test("a long command is cut in waiting_for before an emoji at the limit, never inside it (no lone surrogate in JSON)", async () => {
  const w = worker();
  // 194 + "echo " = 199 code units, then an emoji of two: a cut at 200 would keep half of it.
  const command = `echo ${"x".repeat(194)}😀😀 and more`;
  await raise(w, "Bash", { command }, "0.5");
  const expected = `Bash: echo ${"x".repeat(194)}…`;
  const status = orch(["status", "--json"], { cwd: w.repo });
  assert.is(status.json.workers[0].waiting_for, expected);
  const polled = orch(["poll", "--json"], { cwd: w.repo });
  assert.is(polled.json.messages[0].content.waiting_for, expected);
  for (const out of [status.stdout, polled.stdout]) assert.not.match(out, /\\ud[89ab]/i, "no half of a surrogate pair");
});

test("status's table stays aligned when waiting_for holds CJK, an emoji of joined ones, an accent and a newline", async () => {
  const w = worker();
  assert.is(orch(["spawn", "feat/other", "--no-window"], { cwd: w.repo }).code, 0);
  await raise(w, "Bash", { command: "echo 日本語 👩‍👩‍👧‍👦 e\u0301\nsecond" }, "0.5");
  const rows = orch(["status"], { cwd: w.repo }).stdout.split("\n").slice(1, -1);
  assert.is(rows.length, 2, "one row a worker: the newline in the command is shown as \\x0a");
  assert.match(rows[0]!, /^feat-guarded  blocked \(Bash: echo 日本語 👩‍👩‍👧‍👦 e\u0301\\x0asecond req_[a-z0-9]{8}\)  -  /);
  // Columns on a terminal: "blocked (Bash: echo " 20, 日本語 6, the family 2, é 1, "\x0asecond" 10, the rest 16.
  const statusWidth = 20 + 6 + 1 + 2 + 1 + 1 + 10 + 14;
  assert.ok(rows[1]!.startsWith(`feat-other    ${"running".padEnd(statusWidth)}  -  agent not running`), rows[1]);
});

test("approve and deny refuse bad input: unknown worker, bad request id, nothing pending", () => {
  const w = worker();
  assert.is(orch(["approve", "nobody"], { cwd: w.repo }).code, 1);
  assert.is(orch(["approve", "feat-guarded", "req_BAD"], { cwd: w.repo }).code, 2);
  assert.is(orch(["approve", "feat-guarded", "../x"], { cwd: w.repo }).code, 2);
  assert.is(orch(["approve", "feat-guarded"], { cwd: w.repo }).code, 1);
  assert.is(orch(["deny", "feat-guarded", "--message", "no"], { cwd: w.repo }).code, 1);
  const twice = orch(["deny", "feat-guarded", "--message", "a", "--message", "b"], { cwd: w.repo });
  assert.is(twice.code, 2);
  assert.match(twice.stderr, /--message was given more than once/);
  assert.is(statusOf(w).status, "running", "nothing changed");
});

test("outside a worker the permission hook says nothing and returns at once", async () => {
  const { repo } = sessionRepo();
  const out = await orchAsync(["hook", "permission-request"], {
    cwd: repo,
    input: permissionPayload(repo, "Bash", { command: "ls" }),
  }).done;
  assert.is(out.code, 0);
  assert.is(out.stdout, "");
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 0);
});

test("approve twice at once, and approve racing deny: one answer reaches the hook, the other says it was answered", async () => {
  for (const [first, second] of [["approve", "approve"], ["approve", "deny"]] as const) {
    const w = worker();
    const hook = raise(w, "Bash", { command: "make deploy", description: "Deploy" });
    const { request_id: requestId } = await blockedRequest(w);
    const args = (verb: string) => [verb, "feat-guarded", ...(verb === "deny" ? ["--message", "no"] : [])];
    const both = await Promise.all([first, second].map((verb) => orchAsync(args(verb), { cwd: w.repo }).done));
    assert.equal(both.map((r) => r.code).sort(), [0, 1], both.map((r) => r.stderr).join(""));
    const loser = both.find((r) => r.code === 1)!;
    assert.match(loser.stderr.trim(), new RegExp(`^orch: request ${requestId} of worker feat-guarded was already ` +
      "answered \\((allow|deny)\\)$"));
    const out = await hook;
    assert.is(out.code, 0, out.stderr);
    const winner = [first, second][both.findIndex((r) => r.code === 0)];
    const decision = JSON.parse(out.stdout).hookSpecificOutput.decision.behavior;
    assert.is(decision, winner === "deny" ? "deny" : "allow", "the winner's answer, once, reaches the agent");
    const late = orch(args("approve"), { cwd: w.repo });
    assert.is(late.code, 1);
    assert.match(late.stderr, /was already answered/);
  }
});

test("a request raised as an rm removes the worker: refused, and the worker's folder is not made again", () => {
  const w = worker("feat/going");
  const layout = new StoreLayout(path.join(w.repo, ".orch"));
  const workerDir = layout.workerDir(w.id, "feat-going");
  const record = JSON.parse(fs.readFileSync(path.join(workerDir, "worker.json"), "utf8")) as WorkerRecord;
  // The hook found the worker; then the rm took its folder before the request was written.
  assert.is(orch(["rm", "feat-going", "--yes", "--json"], { cwd: w.repo }).code, 0);
  try {
    openRequest(layout, record, "Bash", "make deploy");
    assert.unreachable("a request for a removed worker");
  } catch (error) {
    assert.instance(error, OrchError);
    assert.is((error as OrchError).kind, "not_found");
  }
  assert.not.ok(fs.existsSync(workerDir), "no folder of only requests/ left, on which a spawn of it would trip");
  assert.is(orch(["spawn", "feat/going", "--no-window"], { cwd: w.repo }).code, 0, "the name is free again");
});

test.run();
