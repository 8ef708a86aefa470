// A Claude Code worker whose model API fails, with the real Claude Code against the scripted Anthropic server:
// an error that outlasts Claude Code's own retries (a rate limit, an invalid key, a request that times out)
// makes the worker failed and tells the orchestrator once, with the agent's error text; orch send then starts
// its next turn; errors Claude Code retries and recovers from are never reported.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { step, userText } from "./agents/anthropic-server.ts";
import { claudeWorkers } from "./claude-workers.ts";

const { server, session } = await claudeWorkers();

test("an API error past Claude Code's retries: failed, told once with its error text; send starts the next turn", async () => {
  // One retry, which each error answers too; a request times out after 4 s.
  const s = session({ env: { CLAUDE_CODE_MAX_RETRIES: "1", API_TIMEOUT_MS: "4000" } });
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
  const s = session();
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
