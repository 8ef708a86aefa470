// Worker status with the real Claude Code (the pinned version, offline, against the scripted Anthropic
// server), each worker started by orch spawn in its tmux window: permission prompts and plans become
// blocked and are answered with approve/deny, send wakes an idle worker, endings stay truthful, resume
// continues the conversation. Workers of one test run side by side; every wait has a generous limit.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { contentText, firstUserText, step, userText, type RecordedRequest } from "./agents/anthropic-server.ts";
import { allPids, processEnviron } from "../src/proc.ts";
import { claudeWorkers } from "./claude-workers.ts";
import { orch, orchAsync, tmux } from "./helpers.ts";

const { server, session } = await claudeWorkers();
const setup = (allow: string[] = []) => session({ allow });

/** The `orch hook permission-request` processes still running for a worker (found by its environment). */
function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return ""; // ended meanwhile
  }
}

/** The worker's processes whose arguments hold `words` (NUL-separated, as in /proc/PID/cmdline). */
function processesOf(worker: string, words: string): number[] {
  return allPids().filter((pid) => processEnviron(pid)?.includes(`ORCH_WORKER=${worker}`) && commandLine(pid).includes(words));
}

function permissionHooksOf(worker: string): number[] {
  return processesOf(worker, "hook\0permission-request");
}

/** Whether the worker's agent is running `orch inbox --wait` (its Bash tool, in a turn). */
function inboxWaitOf(worker: string): boolean {
  return processesOf(worker, "inbox\0--wait").length > 0;
}

/** The text of the last message of a request: what the model was told most recently. */
const lastText = (request: RecordedRequest | undefined) => contentText(request?.body?.messages?.at(-1)?.content);

test("a permission prompt and a plan each become blocked; approve lets them go on, deny --message reaches the model", async () => {
  const s = setup();
  server.script("feat-allow", [step.bash("touch allowed-by-orch", "Create a marker file"), step.say("Marker made.")]);
  server.script("feat-deny", [step.bash("touch denied-by-orch", "Create a marker file"), step.say("Understood.")]);
  const plan = "1. Add the widget.\n2. Test it.";
  // Claude Code 2.1.328's ExitPlanMode takes no plan: the model writes it to the plan file first.
  server.script("feat-plan-ok", [step.writePlan(plan), step.tool("ExitPlanMode", {}), step.say("Starting on the plan.")]);
  server.script("feat-plan-no", [step.writePlan(plan), step.tool("ExitPlanMode", {}), step.say("Revising the plan.")]);
  const allow = s.spawn("feat/allow", "Make a marker file.");
  s.spawn("feat/deny", "Make a marker file.");
  s.spawn("feat/plan-ok", "Plan the widget.", ["--plan"]);
  s.spawn("feat/plan-no", "Plan the widget.", ["--plan"]);
  const workers = ["feat-allow", "feat-deny", "feat-plan-ok", "feat-plan-no"];

  await s.waitFor(() => workers.every((w) => s.worker(w).status === "blocked"), "all four workers blocked");
  assert.is(s.worker("feat-allow").waiting_for, "Bash: touch allowed-by-orch");
  assert.is(s.worker("feat-deny").waiting_for, "Bash: touch denied-by-orch");
  assert.is(s.worker("feat-plan-ok").waiting_for, "plan approval");
  const awaited = s.run(["await", "feat-allow", "--timeout", "60", "--json"]);
  assert.is(awaited.code, 0, awaited.stderr);
  assert.is(awaited.json.workers[0].status, "blocked", "await returns for a blocked worker");
  const blocked = s.poll().filter((m) => m.message_type === "blocked");
  assert.equal(blocked.map((m) => m.worker_id).sort(), [...workers].sort(), "one blocked message per worker");
  const planMessage = blocked.find((m) => m.worker_id === "feat-plan-ok")!;
  assert.is(planMessage.content.waiting_for, "plan approval");
  assert.is(planMessage.content.details, plan, "the plan comes with the message");

  for (const [args, code] of [
    [["approve", "feat-allow"], 0], [["deny", "feat-deny", "--message", "Not in this repository: write it under /srv instead."], 0],
    [["approve", "feat-plan-ok"], 0], [["deny", "feat-plan-no", "--message", "Split step 2 into unit and browser tests."], 0],
  ] as const) {
    const r = s.run([...args, "--json"]);
    assert.is(r.code, code, `${args.join(" ")}: ${r.stderr}`);
  }
  const answered = (w: string) => server.used(w) === (w.startsWith("feat-plan") ? 3 : 2);
  await s.waitFor(() => workers.every(answered), "every worker's next request");
  const [, afterAllow] = server.turns("feat-allow");
  assert.not.match(lastText(afterAllow), /denied|rejected|error/i, "the approved command ran");
  assert.ok(fs.existsSync(path.join(allow.worktree_path, "allowed-by-orch")), "the approved command ran in the worktree");
  const denied = lastText(server.turns("feat-deny")[1]);
  assert.ok(denied.includes("Not in this repository: write it under /srv instead."), denied);
  assert.not.ok(fs.existsSync(path.join(allow.worktree_path, "../feat-deny/denied-by-orch")), "the denied command did not run");
  assert.match(userText(server.turns("feat-plan-ok")[2]!.body), /You have exited plan mode/, "the plan was approved");
  assert.not.match(userText(server.turns("feat-plan-no")[2]!.body), /You have exited plan mode/, "a denied plan stays in plan mode");
  const planDenied = lastText(server.turns("feat-plan-no")[2]);
  assert.ok(planDenied.includes("Split step 2 into unit and browser tests."), planDenied);
  await s.waitFor(() => workers.every((w) => s.worker(w).status === "idle"), "every worker idle after its turn");
  assert.is(s.run(["approve", "feat-allow"]).code, 1, "nothing is pending any more");
});

test("send to a worker idle at its prompt starts its next turn, and the message reaches the model", async () => {
  const s = setup();
  server.script("feat-idle", [step.say("Ready when you are."), step.say("Renaming the button now.")]);
  const idle = s.spawn("feat/idle", "Wait for directions.");
  await s.waitFor(() => s.poll().some((m) => m.worker_id === "feat-idle" && m.message_type === "idle"), "the idle report");
  assert.is(s.worker("feat-idle").status, "idle");
  const sent = s.run(["send", "feat-idle", "-rename the button to Save", "--json"]);
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, true, "orch typed its wake-up line");
  await s.waitFor(() => server.used("feat-idle") === 2, "the next model request");
  const woken = userText(server.turns("feat-idle")[1]!.body);
  assert.ok(woken.includes("-rename the button to Save"), "the message reached the model with the wake-up line");
  assert.ok(woken.includes("you have a new message from your orchestrator"));
  await s.waitFor(() => s.poll().filter((m) => m.worker_id === "feat-idle" && m.message_type === "idle").length === 2, "the second idle");
  const inbox = orch(["inbox", "--json"], { cwd: idle.worktree_path, env: s.env });
  assert.is(inbox.json.message_count, 0, "the hook handed the message over and marked it read");
});

test("endings: exit after task_complete stays done, stop is stopped without task_failed, a killed window or agent fails once", async () => {
  const s = setup();
  // Text outside ASCII both ways, with no LANG (the C locale) for orch, tmux and Claude Code: CJK, a family of
  // emoji joined by ZWJs, a combining accent, right-to-left script.
  const wide = "日本語 👩\u200d👩\u200d👧 e\u0301 עברית العربية";
  const summary = `widget done: ${wide}`;
  server.script("feat-done", [step.bash(`orch notify --type task_complete --summary '${summary}'`), step.say("Done.")]);
  server.script("feat-stop", [step.say("Waiting.")]);
  // In a turn (its Bash tool waits for directions), so an await on it waits until the window goes.
  server.script("feat-kill", [step.bash("orch inbox --wait --timeout 300", "Wait for directions"), step.say("Got them.")]);
  server.script("feat-crash", [step.bash("touch never-approved", "Create a marker file"), step.say("Made.")]);
  // Invisible characters Claude Code 2.1.331 drops from its prompt (orch passes them: spawn.test): zero-width space
  // and non-joiner, a right-to-left override, a direction isolate, a soft hyphen, a BOM, a word joiner, a tag.
  const invisible = "\u200b\u200c\u202e\u2066\u00ad\ufeff\u2060\u{E0041}";
  const prompt = `Finish the widget: ${wide} [${invisible}].`;
  const done = s.spawn("feat/done", prompt);
  s.spawn("feat/stop", "Wait.");
  const killed = s.spawn("feat/kill", "Wait.");
  s.spawn("feat/crash", "Make a marker file.");
  await s.waitFor(() => {
    s.poll();
    return s.worker("feat-done").status === "done" && s.worker("feat-stop").status === "idle" &&
      s.worker("feat-kill").status === "running" && inboxWaitOf("feat-kill") && s.worker("feat-crash").status === "blocked";
  }, "done, idle, running (its inbox wait), blocked");

  // Claude Code SIGKILLed at its permission prompt: the hook (under the `sh -c` that outlives it) stops
  // waiting, so nothing is left pending and the worker is failed.
  const pidFile = path.join(s.repo, ".orch", "sessions", s.id, "workers", "feat-crash", "agent.pid");
  process.kill(Number(fs.readFileSync(pidFile, "utf8").split(" ")[0]), "SIGKILL");
  await s.waitFor(() => s.worker("feat-crash").status === "failed", "the crashed agent's worker failed");
  await s.waitFor(() => permissionHooksOf("feat-crash").length === 0, "the permission hook of the crashed agent to end");
  const lateApproval = s.run(["approve", "feat-crash"]);
  assert.is(lateApproval.code, 1, "nothing is pending for an agent that is gone");

  tmux(["send-keys", "-t", done.window_id, "/exit", "Enter"], s.env);
  await s.waitFor(() => s.worker("feat-done").agent_alive === false, "claude to exit");
  const stopped = s.run(["stop", "feat-stop", "--json"]);
  assert.is(stopped.code, 0, stopped.stderr);
  const awaiting = orchAsync(["await", "feat-kill", "--timeout", "100", "--json"], { cwd: s.repo, env: s.env });
  tmux(["kill-window", "-t", killed.window_id], s.env);
  const awaited = await awaiting.done;
  assert.is(awaited.code, 0, awaited.stderr);
  assert.is(awaited.json.workers[0].status, "failed", "await returns when the window is killed");

  assert.is(s.worker("feat-done").status, "done", "exiting after task_complete changes nothing");
  const asked = firstUserText(server.turns("feat-done")[0]!.body);
  assert.ok(asked.includes(`Finish the widget: ${wide} [].\n`), `the prompt reaches the model: ${JSON.stringify(asked)}`);
  // status says done once notify has linked its event; its message may come to the mailbox a moment later.
  await s.waitFor(() => s.poll() && s.of("feat-done", "task_complete").length > 0, "the task_complete message");
  assert.equal(s.of("feat-done", "task_complete").map((m) => m.content.summary), [summary]);
  assert.is(s.worker("feat-stop").status, "stopped");
  assert.is(s.worker("feat-kill").status, "failed");
  const failures = s.poll().filter((m) => m.message_type === "task_failed");
  assert.equal(failures.map((m) => m.worker_id).sort(), ["feat-crash", "feat-kill"], "only the killed ones fail, once each");
  assert.is(s.worker("feat-kill").status, "failed");
  assert.equal(s.poll().filter((m) => m.message_type === "task_failed").length, 2, "and never again");
});

test("resume after stop continues the same conversation: the model sees the earlier turns", async () => {
  const s = setup();
  server.script("feat-resume", [step.say("Noted: the secret word is PELICAN."), step.say("The secret word was PELICAN.")]);
  s.spawn("feat/resume", "Remember a secret word.");
  await s.waitFor(() => s.worker("feat-resume").status === "idle", "the first turn");
  assert.is(s.run(["stop", "feat-resume"]).code, 0);
  await s.waitFor(() => s.worker("feat-resume").agent_alive === false, "the agent to end");
  const resumed = s.run(["resume", "feat-resume", "--prompt", "What was the secret word?", "--json"]);
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.conversation_continued, true);
  await s.waitFor(() => server.used("feat-resume") === 2, "the resumed turn");
  const [first, second] = server.turns("feat-resume");
  const messages = second!.body?.messages ?? [];
  const said = messages.filter((m) => m.role === "assistant").map((m) => contentText(m.content));
  assert.ok(said.includes("Noted: the secret word is PELICAN."), "the earlier answer is in the resumed conversation");
  assert.ok(userText(second!.body).includes("What was the secret word?"));
  assert.ok(userText(second!.body).includes(userText(first!.body).slice(0, 200)), "and the first prompt");
  const sessionOf = (r: RecordedRequest | undefined) =>
    (JSON.parse(String((r?.body?.metadata as { user_id?: string }).user_id)) as { session_id?: string }).session_id;
  assert.is(sessionOf(second), sessionOf(first), "the same Claude Code session");
  await s.waitFor(() => s.worker("feat-resume").status === "idle", "the resumed turn to end");
  assert.equal(s.poll().filter((m) => m.message_type === "task_failed"), [], "stop and resume are no failure");
});

test.run();
