// The machine restarts (or the tmux server dies) under workers in every state: every worker process and the tmux
// server are killed at once, the pids the store recorded are given to unrelated processes (what a reboot leaves),
// the tmux socket folder is gone. Then the user's commands, as after a real reboot. Scripted agents (sh scripts).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, orchAsync, processWithPid, sessionRepo, waitUntil } from "./helpers.ts";

/** An unrelated process of any pid, for a record to name when the pid itself cannot be chosen. */
function bystander(): number {
  const started = spawnSync("sh", ["-c", "sleep 600 </dev/null >/dev/null 2>&1 & echo $!"], { encoding: "utf8" });
  return Number(started.stdout.trim());
}

function running(pid: number): boolean {
  try {
    return !fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

test("approve after a reboot: the blocked worker's hook is gone and its pid another process's; nothing is pending", async () => {
  const { repo, id } = sessionRepo();
  const spawned = orch(["spawn", "feat/asked", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  const payload = JSON.stringify({
    session_id: "0b6e1f6e-4c1e-4a43-9d59-5c0a5d1f0e11", cwd: worktree, permission_mode: "default",
    hook_event_name: "PermissionRequest", tool_name: "Bash", tool_input: { command: "make deploy" },
  });
  const hook = orchAsync(["hook", "permission-request"], { cwd: worktree, input: payload, env: { ORCH_APPROVAL_WAIT: "600" } });
  const requests = path.join(repo, ".orch", "sessions", id, "workers", "feat-asked", "requests");
  const requestFile = () => fs.readdirSync(requests).map((name) => path.join(requests, name))[0];
  await waitUntil(() => fs.existsSync(requests) && requestFile() !== undefined, 15_000, "the hook's request");
  const request = JSON.parse(fs.readFileSync(requestFile()!, "utf8")) as { hook_pid: number };

  process.kill(request.hook_pid, "SIGKILL");
  await hook.done;
  let other = await processWithPid(request.hook_pid);
  if (other === undefined) {
    // The pid cannot be chosen here: the record is made to name another process, as a reboot would have it.
    other = bystander();
    fs.writeFileSync(requestFile()!, JSON.stringify({ ...request, hook_pid: other }));
  }
  const before = fs.readdirSync(requests).sort();
  const approved = orch(["approve", "feat-asked"], { cwd: repo });
  assert.is(approved.code, 1, approved.stdout);
  assert.match(approved.stderr, /^orch: no pending request for worker feat-asked/);
  assert.equal(fs.readdirSync(requests).sort(), before, "no answer written for a hook that is gone");
  assert.ok(running(other), "the process that has the pid now is left alone");
});

test.run();
