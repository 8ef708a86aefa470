// Crashes and restarts: a tmux server killed under running workers, whose window ids the next server hands
// out again. Real processes in a private tmux server, scripted agents (shell scripts).

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, privateTmux, sessionRepo, tempDir, tmux, waitUntil } from "./helpers.ts";

function sleepingAgent(): string {
  const script = path.join(tempDir("orch-agent-"), "agent.sh");
  fs.writeFileSync(script, ["#!/bin/sh", "exec sleep 300", ""].join("\n"), { mode: 0o755 });
  return script;
}

interface StatusRow {
  worker_id: string;
  status: string;
  window_id: string | null;
  window_alive: boolean;
  agent_alive: boolean;
}

function statusRows(repo: string, env: Record<string, string | undefined>): Map<string, StatusRow> {
  const r = orch(["status", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return new Map((r.json.workers as StatusRow[]).map((w) => [w.worker_id, w]));
}

test("after tmux restarts, a dead worker's old window id is another worker's: stop, resume and rm leave that one alone", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = sleepingAgent();
  const old = orch(["spawn", "old", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(old.code, 0, old.stderr);
  await waitUntil(() => statusRows(repo, env).get("old")?.agent_alive === true, 20_000, "the first agent to start");
  tmux(["kill-server"], env);
  await waitUntil(() => statusRows(repo, env).get("old")?.status === "failed", 20_000, "the first worker to fail");

  const fresh = orch(["spawn", "fresh", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(fresh.code, 0, fresh.stderr);
  assert.is(fresh.json.window_id, old.json.window_id, "the new server hands the same window id out again");
  await waitUntil(() => statusRows(repo, env).get("fresh")?.agent_alive === true, 20_000, "the second agent to start");
  assert.is(statusRows(repo, env).get("old")?.window_alive, false, "the old worker's window is gone, whatever its id names now");

  const stopped = orch(["stop", "old", "--json"], { cwd: repo, env });
  assert.is(stopped.code, 0, stopped.stderr);
  assert.is(stopped.json.window_closed, false);
  const resumed = orch(["resume", "old", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.window_reused, false, "a new window, not the other worker's");
  assert.is.not(resumed.json.window_id, fresh.json.window_id);
  await waitUntil(() => statusRows(repo, env).get("old")?.agent_alive === true, 20_000, "the resumed agent to start");
  const removed = orch(["rm", "old", "--force", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.window_closed, true, "its own new window is closed");

  const survivor = statusRows(repo, env).get("fresh");
  assert.is(survivor?.status, "running");
  assert.is(survivor?.agent_alive, true, "the other worker's agent still runs");
  assert.is(survivor?.window_alive, true);
  tmux(["kill-server"], env);
});

test.run();
