// Worker status tells the truth: arrival order over clocks, terminal reports that stay, stop without
// a failure, dead agents and closed windows reported failed exactly once, runner failures with their
// reason, last_activity_at. Real processes in a private tmux server; scripted agents (shell scripts).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { agentScript, baseEnv, orch, orchCommand, privateTmux, sessionRepo, tmux, waitUntil } from "./helpers.ts";

interface Polled {
  message_type: string;
  worker_id: string;
  content: { summary?: string; error?: string };
}

function pollAll(repo: string, env: Record<string, string | undefined> = {}): Polled[] {
  const r = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return r.json.messages as Polled[];
}

function statusOf(repo: string, env: Record<string, string | undefined> = {}) {
  const r = orch(["status", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return r.json.workers[0];
}

/**
 * libfaketime (Debian's faketime package), preloaded by the test itself: the faketime wrapper names a semaphore
 * after its pid and fails ("sem_open: File exists") when a killed wrapper of that pid left one in /dev/shm.
 */
function findLibfaketime(): string | undefined {
  const dirs = ["/usr/lib", "/usr/local/lib", "/usr/lib64"].flatMap((dir) => {
    let subdirs: string[] = [];
    try {
      subdirs = fs.readdirSync(dir).map((sub) => path.join(dir, sub));
    } catch {
      // not on this system
    }
    return [dir, ...subdirs];
  });
  return dirs.map((dir) => path.join(dir, "faketime", "libfaketime.so.1")).find((file) => fs.existsSync(file));
}
const libfaketime = findLibfaketime();

test("status follows arrival order: a progress dated a day ahead does not hide the later task_complete", () => {
  if (!libfaketime) {
    console.log("SKIP: faketime is not installed (apt-get install faketime), so the clock test was not run");
    return;
  }
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/clock", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  const [cmd, ...pre] = orchCommand();
  const notifyArgs = ["notify", "--type", "progress", "--summary", "from the future", "--json"];
  const future = spawnSync(cmd!, [...pre, ...notifyArgs], {
    cwd: wt,
    env: { ...baseEnv(), LD_PRELOAD: libfaketime, FAKETIME: "+1d" },
    encoding: "utf8",
  });
  assert.is(future.status, 0, future.stderr);
  const createdAt = Date.parse(future.stdout ? JSON.parse(future.stdout).created_at : "");
  assert.ok(createdAt > Date.now() + 12 * 3600_000, "the progress is dated in the future");
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "now"], { cwd: wt }).code, 0);
  assert.is(statusOf(repo).status, "done");
  const awaited = orch(["await", "--timeout", "10", "--json"], { cwd: repo });
  assert.is(awaited.json.workers[0].status, "done");
  assert.is(awaited.json.workers[0].final_message.content.summary, "now", "the final message is the one that arrived last");
});

test("an agent that exits after task_complete stays done; no task_failed is sent for it", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = agentScript(['orch notify --type task_complete --summary "all done"', "exit 0"]);
  const spawned = orch(["spawn", "feat/done", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  await waitUntil(
    () => statusOf(repo, env).agent_alive === false && statusOf(repo, env).status === "done",
    20_000,
    "the agent to report and exit",
  );
  assert.equal(pollAll(repo, env).map((m) => m.message_type), ["task_complete"]);
  assert.is(statusOf(repo, env).status, "done");
  assert.ok(statusOf(repo, env).last_activity_at, "last_activity_at is the report's time");
});

test("stop records stopped and sends no task_failed, though the agent dies of the signal", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = agentScript(['orch notify --type progress --summary "working"', "exec sleep 300"]);
  orch(["spawn", "feat/stopme", "--agent", agent], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).agent_alive === true && pollAll(repo, env).length > 0, 20_000, "the agent to start");
  const stopped = orch(["stop", "feat/stopme", "--json"], { cwd: repo, env });
  assert.is(stopped.code, 0, stopped.stderr);
  assert.is(stopped.json.agent_stopped, true);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(pollAll(repo, env), [], "no task_failed for a stopped worker");
  assert.is(statusOf(repo, env).status, "stopped");
  const awaited = orch(["await", "feat/stopme", "--timeout", "5", "--json"], { cwd: repo, env });
  assert.is(awaited.code, 0);
  assert.is(awaited.json.workers[0].status, "stopped");
});

test("a closed window makes the worker failed once, and await returns on it", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = agentScript(['orch notify --type progress --summary "working"', "exec sleep 300"]);
  const spawned = orch(["spawn", "feat/closed", "--agent", agent, "--json"], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).agent_alive === true, 20_000, "the agent to start");
  tmux(["kill-window", "-t", spawned.json.window_id], env);
  const awaited = orch(["await", "feat/closed", "--timeout", "30", "--json"], { cwd: repo, env });
  assert.is(awaited.code, 0, awaited.stderr);
  assert.is(awaited.json.workers[0].status, "failed");
  assert.match(awaited.json.workers[0].final_message.content.error, /window/);
  orch(["status"], { cwd: repo, env });
  orch(["await", "--timeout", "1"], { cwd: repo, env });
  const failures = pollAll(repo, env).filter((m) => m.message_type === "task_failed");
  assert.is(failures.length, 1, "reported exactly once");
  assert.is(statusOf(repo, env).status, "failed");
});

test("an agent killed with its runner (no one left to report) is noticed by poll, once", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const agent = agentScript(["exec sleep 300"]);
  const spawned = orch(["spawn", "feat/killed", "--agent", agent, "--json"], { cwd: repo, env });
  const pidFile = path.join(repo, ".orch", "sessions", id, "workers", "feat-killed", "agent.pid");
  await waitUntil(() => fs.existsSync(pidFile), 20_000, "the agent's pid");
  // agent.pid holds "<pid> <start time>": the start time tells the agent from a later process with its pid.
  const agentPid = Number(fs.readFileSync(pidFile, "utf8").split(" ")[0]);
  const panePid = Number(tmux(["display-message", "-p", "-t", spawned.json.window_id, "#{pane_pid}"], env));
  const runner = spawnSync("pgrep", ["-P", String(panePid)], { encoding: "utf8" }).stdout.trim().split("\n").map(Number).filter(Boolean);
  for (const pid of runner) process.kill(pid, "SIGKILL");
  process.kill(agentPid, "SIGKILL");
  await waitUntil(() => spawnSync("kill", ["-0", String(agentPid)]).status !== 0, 10_000, "the agent to die");
  const first = pollAll(repo, env);
  assert.equal(first.map((m) => m.message_type), ["task_failed"]);
  assert.match(first[0]!.content.error!, new RegExp(`pid ${agentPid}`));
  assert.equal(pollAll(repo, env), []);
  assert.is(statusOf(repo, env).status, "failed");
  assert.equal(pollAll(repo, env), [], "status reports nothing again");
});

test("a finished worker's agent.pid left by a killed runner is removed by status and poll, without a report; a live one stays", () => {
  const { repo, id } = sessionRepo();
  const pidOf = (worker: string) => path.join(repo, ".orch", "sessions", id, "workers", worker, "agent.pid");
  const deadPid = () => {
    const child = spawnSync("sh", ["-c", 'sh -c "exit 0" & wait; echo "$!"'], { encoding: "utf8" });
    return `${child.stdout.trim()} 1\n`;
  };
  for (const branch of ["feat/by-status", "feat/by-poll", "feat/live"]) {
    const spawned = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
    const done = orch(["notify", "--type", "task_complete", "--summary", "finished"], { cwd: spawned.json.worktree_path });
    assert.is(done.code, 0, done.stderr);
  }
  assert.equal(pollAll(repo).map((m) => m.message_type), ["task_complete", "task_complete", "task_complete"]);
  fs.writeFileSync(pidOf("feat-by-status"), deadPid());
  // This test's own process, with its start time as the runner records it (field 22 of /proc/PID/stat).
  const startTime = fs.readFileSync(`/proc/${process.pid}/stat`, "utf8").split(")").pop()!.trim().split(" ")[19];
  fs.writeFileSync(pidOf("feat-live"), `${process.pid} ${startTime}\n`);
  assert.is(orch(["status", "--json"], { cwd: repo }).code, 0);
  assert.not.ok(fs.existsSync(pidOf("feat-by-status")), "status removed the dead one");
  fs.writeFileSync(pidOf("feat-by-poll"), deadPid());
  assert.equal(pollAll(repo), [], "a finished worker's agent ending is no failure");
  assert.not.ok(fs.existsSync(pidOf("feat-by-poll")), "poll removed the dead one");
  assert.ok(fs.existsSync(pidOf("feat-live")), "a running agent's pid stays");
  const live = orch(["status", "--json"], { cwd: repo }).json.workers.find((w: { worker_id: string }) => w.worker_id === "feat-live");
  assert.is(live.status, "done");
  assert.is(live.agent_alive, true);
});

test("the runner reports every start failure with its reason: not found, E2BIG, a NUL in an argument", () => {
  const { repo, id } = sessionRepo();
  const cases: [string, (record: Record<string, unknown>) => void, RegExp][] = [
    ["feat/missing", (r) => (r.agent_argv = ["/nonexistent/agent"]), /\/nonexistent\/agent was not found/],
    [
      "feat/huge",
      (r) => Object.assign(r, { agent_argv: ["sh", "-c", "exit 0"], agent_env: { HUGE: "x".repeat(3 * 1024 * 1024) } }),
      /E2BIG/,
    ],
    ["feat/nul", (r) => (r.agent_argv = ["sh", "-c", "a\u0000b"]), /cannot start sh/],
  ];
  for (const [branch, edit, reason] of cases) {
    const spawned = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
    const file = path.join(repo, ".orch", "sessions", id, "workers", spawned.json.worker_id, "worker.json");
    const record = JSON.parse(fs.readFileSync(file, "utf8"));
    edit(record);
    fs.writeFileSync(file, JSON.stringify(record));
    const ran = orch(["__agent", "--orch", id, spawned.json.worker_id], { cwd: repo });
    assert.ok(ran.code !== 0, `${branch}: the runner fails`);
    assert.not.match(ran.stderr, /at .*\(.*:\d+:\d+\)/, `${branch}: no stack trace`);
    const messages = pollAll(repo);
    assert.is(messages.length, 1, `${branch}: one report`);
    assert.is(messages[0]!.message_type, "task_failed");
    assert.match(messages[0]!.content.error!, reason, branch);
  }
});

test.run();
