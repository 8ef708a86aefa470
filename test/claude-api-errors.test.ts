// A Claude Code worker whose model API fails, with the real Claude Code against the scripted Anthropic server:
// an error that outlasts Claude Code's own retries (a rate limit, an invalid key, a request that times out)
// makes the worker failed and tells the orchestrator once, with the agent's error text; orch send then starts
// its next turn; errors Claude Code retries and recovers from are never reported.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnthropicServer, step, userText } from "./agents/anthropic-server.ts";
import { claudeUser, endUserProcesses } from "./agents/harness.ts";
import { orch, privateTmux, sessionRepo, tmux, type PolledMessage, waitUntil } from "./helpers.ts";

/** Real agents start in seconds on a quiet machine; on a loaded 2-core one, give them minutes. */
const AGENT_WAIT = 120_000;

const server = await new AnthropicServer().start();
const users: ReturnType<typeof claudeUser>[] = [];
test.after(async () => {
  for (const user of users) endUserProcesses(user);
  await server.stop();
});

/** A session, a scratch Claude Code user with `env` (its retries), and every message polled so far. */
function setup(env: Record<string, string>) {
  const { repo } = sessionRepo();
  const user = claudeUser();
  users.push(user);
  const all = { ...privateTmux(), ...user.env, ...server.env, ...env };
  const polled: PolledMessage[] = [];
  const run = (args: string[]) => orch(args, { cwd: repo, env: all });
  const poll = () => {
    const r = run(["poll", "--json"]);
    assert.is(r.code, 0, r.stderr);
    polled.push(...(r.json.messages as PolledMessage[]));
    return polled;
  };
  const status = (worker: string): string => {
    const r = run(["status", "--json"]);
    assert.is(r.code, 0, r.stderr);
    return (r.json.workers as { worker_id: string; status: string }[]).find((w) => w.worker_id === worker)!.status;
  };
  const spawn = (branch: string, prompt: string) => {
    const r = run(["spawn", branch, "--prompt", prompt, "--json"]);
    assert.is(r.code, 0, r.stderr);
  };
  const of = (worker: string, type: string) => polled.filter((m) => m.worker_id === worker && m.message_type === type);
  /** Waits for a condition; on failure says what the model server, the mailbox and the panes saw. */
  const waitFor = async (check: () => boolean, what: string) => {
    try {
      await waitUntil(check, AGENT_WAIT, what);
    } catch (error) {
      const windows = tmux(["list-windows", "-a", "-F", "#{window_id}"], all).split("\n").filter(Boolean);
      const panes = windows.map((w) => `--- ${w}\n${tmux(["capture-pane", "-p", "-t", w], all)}`);
      const evidence = `messages: ${JSON.stringify(polled)}\nrequests:\n${server.describe()}\n${panes.join("\n")}`;
      throw new Error(`${(error as Error).message}\n${evidence}`);
    }
  };
  return { run, poll, status, spawn, of, waitFor };
}

test("an API error past Claude Code's retries: failed, told once with its error text; send starts the next turn", async () => {
  // One retry, which each error answers too; a request times out after 4 s.
  const s = setup({ CLAUDE_CODE_MAX_RETRIES: "1", API_TIMEOUT_MS: "4000" });
  const limit = "Number of request tokens has exceeded your per-minute rate limit";
  server.script("feat-limit", [
    step.fail(429, "rate_limit_error", limit), step.fail(429, "rate_limit_error", limit), step.say("Back at it."),
  ]);
  const badKey = step.fail(401, "authentication_error", "invalid x-api-key");
  server.script("feat-key", [badKey, badKey]);
  server.script("feat-hang", [step.hang(), step.hang()]);
  s.spawn("feat/limit", "Work through the rate limit.");
  s.spawn("feat/key", "Work with a bad key.");
  s.spawn("feat/hang", "Work with a model that never answers.");
  const workers = ["feat-limit", "feat-key", "feat-hang"];
  await s.waitFor(() => {
    s.poll();
    return workers.every((w) => s.of(w, "task_failed").length > 0);
  }, "a task_failed from each worker");
  const [limited] = s.of("feat-limit", "task_failed");
  assert.match(limited!.content.error!, limit, "the agent's own error text");
  assert.match(limited!.content.error!, "429");
  assert.match(limited!.content.summary!, "rate_limit");
  assert.match(s.of("feat-key", "task_failed")[0]!.content.error!, /Invalid API key/);
  assert.match(s.of("feat-hang", "task_failed")[0]!.content.error!, /timed out/i);
  for (const worker of workers) assert.is(s.status(worker), "failed", worker);
  const awaited = s.run(["await", "feat-limit", "--timeout", "60", "--json"]);
  assert.is(awaited.code, 0, awaited.stderr);
  assert.is(awaited.json.workers[0].status, "failed", "await returns for it");

  // Its agent is at its prompt, not gone: resume says how to start it again.
  const resumed = s.run(["resume", "feat-limit"]);
  assert.is(resumed.code, 1, resumed.stderr);
  assert.match(resumed.stderr, "orch send feat-limit");

  const sent = s.run(["send", "feat-limit", "The limit has passed: go on.", "--json"]);
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, true, "orch typed its wake-up line");
  await s.waitFor(() => server.used("feat-limit") === 3, "the next turn's request");
  assert.ok(userText(server.turns("feat-limit")[2]!.body).includes("The limit has passed: go on."));
  await s.waitFor(() => {
    s.poll();
    return s.of("feat-limit", "idle").length === 1;
  }, "the idle of the recovered turn");
  assert.is(s.status("feat-limit"), "idle", "running again, then idle");
  s.poll();
  for (const worker of workers) assert.is(s.of(worker, "task_failed").length, 1, `${worker} is reported once`);
});

test("errors Claude Code retries and recovers from (529, a cut stream, 500, 429) are not reported", async () => {
  const s = setup({});
  server.script("feat-flaky", [
    step.fail(529, "overloaded_error", "Overloaded"), step.cut(), step.fail(500, "api_error", "Internal server error"),
    step.fail(429, "rate_limit_error", "slow down"), step.say("Recovered."),
  ]);
  s.spawn("feat/flaky", "Work through a flaky API.");
  await s.waitFor(() => {
    s.poll();
    return s.of("feat-flaky", "idle").length === 1;
  }, "the idle after the recovered turn");
  assert.is(server.used("feat-flaky"), 5, "four failed tries, then the answer");
  assert.is(s.status("feat-flaky"), "idle");
  assert.equal(s.of("feat-flaky", "task_failed"), [], "no failure reported");
  assert.is(s.of("feat-flaky", "idle")[0]!.content.details, "Recovered.");
});

test.run();
