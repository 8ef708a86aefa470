// The machine restarts (or the tmux server dies) under workers in every state: every worker process and the tmux
// server are killed at once, the pids the store recorded are given to unrelated processes (what a reboot leaves),
// the tmux socket folder is gone. Then the user's commands, as after a real reboot. Scripted agents (sh scripts).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  agentScript, orch, orchAsync, privateTmux, processWithPid, sessionRepo, sleepingAgent, tmux, waitUntil, workerProcesses,
} from "./helpers.ts";

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

interface Row {
  worker_id: string;
  status: string;
  agent_alive: boolean;
  window_alive: boolean;
}

/** Kills the tmux server and every process of the session's workers at once, as a power cut does. */
function powerCut(id: string, workers: string[], env: Record<string, string | undefined>): void {
  const server = Number(tmux(["display-message", "-p", "#{pid}"], env));
  const victims = [server, ...workers.flatMap((worker) => workerProcesses(id, worker))];
  for (const pid of victims) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // ended meanwhile: the server went first, and took its panes with it
    }
  }
}

test("after a reboot: status and poll tell each dead worker once; stop, rm, resume and spawn spare the pids' new owners", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const reporting = (type: string, extra: string[] = []) =>
    agentScript([`orch notify --type ${type} --summary "${type}" ${extra.join(" ")}`, "exec sleep 300"]);
  const agents: Record<string, string> = {
    run: sleepingAgent(), idle: reporting("idle"), blocked: reporting("blocked"),
    ask: reporting("question", ["--question", "which?"]), done: reporting("task_complete"), halted: sleepingAgent(),
  };
  for (const [worker, agent] of Object.entries(agents)) {
    const spawned = orch(["spawn", worker, "--agent", agent], { cwd: repo, env });
    assert.is(spawned.code, 0, spawned.stderr);
  }
  const workersDir = path.join(repo, ".orch", "sessions", id, "workers");
  const pidFile = (worker: string) => path.join(workersDir, worker, "agent.pid");
  await waitUntil(() => Object.keys(agents).every((w) => fs.existsSync(pidFile(w))), 30_000, "every agent to start");
  assert.is(orch(["stop", "halted"], { cwd: repo, env }).code, 0);
  const rows = () => {
    const r = orch(["status", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stderr, "", "nothing on stderr");
    return new Map((r.json.workers as Row[]).map((w) => [w.worker_id, w]));
  };
  const expected = { run: "running", idle: "idle", blocked: "blocked", ask: "waiting", done: "done", halted: "stopped" };
  await waitUntil(() => Object.entries(expected).every(([w, s]) => rows().get(w)?.status === s), 30_000, "every report");
  assert.equal(orch(["poll", "--json"], { cwd: repo, env }).json.message_count, 4);

  const live = Object.keys(agents).filter((w) => w !== "halted");
  const recorded = new Map(live.map((w) => [w, Number(fs.readFileSync(pidFile(w), "utf8").split(" ")[0])]));
  powerCut(id, Object.keys(agents), env);
  // The pids the records name are given to unrelated processes (their start times are their own).
  const owners: number[] = [];
  for (const [worker, pid] of recorded) {
    let owner = await processWithPid(pid);
    if (owner === undefined) {
      owner = bystander();
      const [, ...rest] = fs.readFileSync(pidFile(worker), "utf8").trim().split(" ");
      fs.writeFileSync(`${pidFile(worker)}.new`, `${[owner, ...rest].join(" ")}\n`);
      fs.renameSync(`${pidFile(worker)}.new`, pidFile(worker));
    }
    owners.push(owner);
  }
  fs.rmSync(env.TMUX_TMPDIR!, { recursive: true, force: true });
  fs.mkdirSync(env.TMUX_TMPDIR!, { mode: 0o700 });

  const after = rows();
  const shown = Object.fromEntries([...after].map(([w, row]) => [w, row.status]));
  assert.equal(shown, { run: "failed", idle: "failed", blocked: "failed", ask: "failed", done: "done", halted: "stopped" });
  for (const row of after.values()) assert.ok(!row.agent_alive && !row.window_alive, `${row.worker_id}: nothing runs`);
  const polled = orch(["poll", "--json"], { cwd: repo, env }).json.messages as { worker_id: string; message_type: string }[];
  assert.equal(polled.map((m) => `${m.worker_id} ${m.message_type}`).sort(),
    ["ask task_failed", "blocked task_failed", "idle task_failed", "run task_failed"], "each dead worker once");
  assert.is(orch(["poll", "--json"], { cwd: repo, env }).json.message_count, 0, "and only once");

  assert.is(orch(["stop", "idle"], { cwd: repo, env }).code, 0);
  assert.is(orch(["rm", "blocked", "--force", "--yes"], { cwd: repo, env }).code, 0);
  const resumed = orch(["resume", "run", "--prompt", "go on"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  const fresh = orch(["spawn", "fresh", "--agent", sleepingAgent()], { cwd: repo, env });
  assert.is(fresh.code, 0, fresh.stderr);
  await waitUntil(() => rows().get("run")?.agent_alive === true && rows().get("fresh")?.agent_alive === true,
    30_000, "the resumed and the new agent to run");
  assert.is(rows().get("run")?.status, "running");
  for (const owner of owners) assert.ok(running(owner), `pid ${owner}'s new owner is left alone`);
  tmux(["kill-server"], env);
});

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
