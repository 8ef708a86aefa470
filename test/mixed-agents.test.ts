// Mixed agents in one session, with the real Claude Code and Codex (pinned, offline, scripted models) and a
// command-line agent: each reports, and status/list show each worker with its own agent and state.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnthropicServer, step } from "./agents/anthropic-server.ts";
import { claudeUser, endUserProcesses, type ClaudeUser } from "./agents/harness.ts";
import { cachedCodex, codexHome, responsesServer, scratchOutsideTmp, type ResponsesServer } from "./codex-harness.ts";
import { orch, orchAsync, privateTmux, sessionRepo, tmux } from "./helpers.ts";

const codexEntry = cachedCodex();
const scratch = scratchOutsideTmp();
const anthropic = await new AnthropicServer().start();
const users: ClaudeUser[] = [];
let responses: ResponsesServer | undefined;
test.after(async () => {
  for (const user of users) endUserProcesses(user);
  await anthropic.stop();
  await responses?.close();
});

interface StatusWorker {
  worker_id: string;
  status: string;
  agent: string;
  alive: boolean;
  window_id: string | null;
  host: string | null;
  agent_alive: boolean;
  window_alive: boolean;
}

test("a claude, a codex and a command worker in one session each report, and status shows each one's agent", async () => {
  if (!codexEntry) throw new Error("Codex is not in the agent cache: run .ci/install-agents");
  responses = await responsesServer({
    mixcodex: [
      { exec: "orch notify --type progress --summary codex-progress" },
      { exec: "orch notify --type task_complete --summary codex-done" },
      { say: "codex finished" },
    ],
  });
  const { repo } = sessionRepo();
  const user = claudeUser();
  users.push(user);
  const codexEnv = codexHome(fs.mkdtempSync(path.join(scratch.users, "user-")), responses, codexEntry);
  const env = {
    ...privateTmux(), ...user.env, ...anthropic.env,
    // The claude user's PATH holds codex too; its config (the scripted provider) lives outside TMPDIR.
    CODEX_HOME: codexEnv.CODEX_HOME, ORCH_TEST_OPENAI_KEY: codexEnv.ORCH_TEST_OPENAI_KEY,
  };
  anthropic.script("mixclaude", [
    step.bash("orch notify --type progress --summary claude-progress"),
    step.bash("orch notify --type task_complete --summary claude-done"),
    step.say("claude finished"),
  ]);
  const run = (args: string[]) => orch(args, { cwd: repo, env });
  const spawned = [
    run(["spawn", "feat/claude", "--json", "--prompt", "mixclaude: do it"]),
    run(["spawn", "feat/codex", "--agent", "codex", "--json", "--prompt", "SCRIPT:mixcodex do it"]),
    run(["spawn", "feat/cmd", "--agent", "sh -c 'orch notify --type task_complete --summary cmd-done' sh", "--json",
      "--prompt", "the command's task"]),
  ];
  for (const r of spawned) assert.is(r.code, 0, r.stderr);
  assert.equal(spawned.map((r) => r.json.agent), ["claude", "codex", "sh"], "spawn names each one's agent");
  // Asynchronously: the model servers answer from this process.
  const awaited = await orchAsync(["await", "--timeout", "100", "--json"], { cwd: repo, env }).done;
  assert.is(awaited.code, 0, `${awaited.stderr}\n${anthropic.describe()}`);
  const status = run(["status", "--json"]);
  const byId = new Map((status.json.workers as StatusWorker[]).map((w) => [w.worker_id, w]));
  for (const [worker, agent, agentAlive] of [["feat-claude", "claude", true], ["feat-codex", "codex", true],
    ["feat-cmd", "sh", false]] as const) {
    const w = byId.get(worker)!;
    // Claude Code and Codex stay at their prompt after the report; the command has exited.
    assert.equal([w.agent, w.status, w.agent_alive, w.window_alive, w.host], [agent, "done", agentAlive, true, null], worker);
  }
  const list = run(["list", "--json"]).json.workers as StatusWorker[];
  assert.equal(list.map((w) => [w.worker_id, w.status]), [["feat-claude", "done"], ["feat-codex", "done"], ["feat-cmd", "done"]]);
  const messages = run(["poll", "--json"]).json.messages as { worker_id: string; content: { summary: string } }[];
  assert.equal(messages.map((m) => `${m.worker_id} ${m.content.summary}`).sort(), [
    "feat-claude claude-done", "feat-claude claude-progress", "feat-cmd cmd-done", "feat-codex codex-done",
    "feat-codex codex-progress",
  ], "each report once, attributed to the worker that sent it; no idle after a done");
  assert.equal(windowsOf(env), ["feat-claude", "feat-cmd", "feat-codex"]);
});

function windowsOf(env: Record<string, string | undefined>): string[] {
  return tmux(["list-windows", "-a", "-F", "#{window_name}"], env).split("\n").filter(Boolean).sort();
}

test.run();
