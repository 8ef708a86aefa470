// The wake-up line with the real Claude Code: orch pastes it into an idle worker's window (so Codex takes
// the Enter after it as a submit, too), and Claude Code starts its next turn with the message beside it.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnthropicServer, step } from "./agents/anthropic-server.ts";
import { claudeUser } from "./agents/harness.ts";
import { orch, privateTmux, sessionRepo, tmux, waitUntil } from "./helpers.ts";

const AGENT_WAIT = 90_000;
const server = await new AnthropicServer().start();
test.after(() => server.stop());

test("send to a Claude Code worker idle at its prompt starts its next turn, with the message", async () => {
  const { repo } = sessionRepo();
  const env = { ...privateTmux(), ...claudeUser().env, ...server.env };
  server.script("feat-wake", [step.say("First turn done."), step.say("Read it.")]);
  const spawned = orch(["spawn", "feat/wake", "--prompt", "Say that you are done.", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const status = () => orch(["status", "--json"], { cwd: repo, env }).json.workers[0].status as string;
  await waitUntil(() => status() === "idle", AGENT_WAIT, "the worker idle at its prompt");
  const sent = orch(["send", "feat/wake", "-use the other cache", "--json"], { cwd: repo, env });
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, true);
  await waitUntil(() => server.used("feat-wake") >= 2, AGENT_WAIT, "the woken turn")
    .catch((error: Error) => assert.unreachable(`${error.message}:\n${tmux(["capture-pane", "-p", "-t", spawned.json.window_id], env)}`));
  const woken = JSON.stringify(server.turns("feat-wake").at(-1)!.body);
  assert.match(woken, "orch: you have a new message from your orchestrator. Read it with: orch inbox");
  assert.match(woken, "-use the other cache", "the UserPromptSubmit hook hands over the message");
  assert.is(orch(["stop", "feat/wake"], { cwd: repo, env }).code, 0);
});

test.run();
