// status's snapshot of each worker (store/status-cache.ts) on real stores: what it shows is what the
// files say, and it gives way when a message arrives, a record is replaced, the agent dies, the
// activity file is touched, a worker is removed, or the snapshot is damaged or edited.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, orch, polledReport, privateTmux, sessionRepo, sleep, slowWorker, tempDir, tmux, waitUntil } from "./helpers.ts";

interface View {
  worker_id: string;
  status: string;
  agent: string;
  alive: boolean;
  pr_url: string | null;
  waiting_for?: string | null;
  last_activity_at: string | null;
  ahead: number | null;
}

function statusJson(repo: string, env?: Record<string, string | undefined>): { workers: View[] } {
  const r = orch(["status", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return r.json as { workers: View[] };
}

const byId = (views: View[]) => Object.fromEntries(views.map((w) => [w.worker_id, w]));

function snapshotFile(repo: string, id: string): string {
  return path.join(repo, ".orch", "sessions", id, "status-cache.json");
}

function snapshotIds(repo: string, id: string): string[] {
  const snapshot = JSON.parse(fs.readFileSync(snapshotFile(repo, id), "utf8")) as { workers: object };
  return Object.keys(snapshot.workers).sort();
}

function spawnWorker(repo: string, branch: string, env?: Record<string, string | undefined>): string {
  const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return r.json.worktree_path as string;
}

/**
 * Status until every worker is in the snapshot: a folder is kept only once it was last changed
 * before the file system's clock was read, so a status right after a change reads the files.
 */
async function settle(
  repo: string,
  id: string,
  count: number,
  env?: Record<string, string | undefined>,
): Promise<{ workers: View[] }> {
  for (let i = 0; ; i++) {
    await sleep(20);
    const view = statusJson(repo, env);
    if (fs.existsSync(snapshotFile(repo, id)) && snapshotIds(repo, id).length === count) return view;
    if (i > 100) assert.unreachable("the snapshot never held every worker");
  }
}

/** status with the snapshot removed first: what the files alone say. */
function fromFiles(repo: string, id: string, env?: Record<string, string | undefined>): { workers: View[] } {
  fs.rmSync(snapshotFile(repo, id), { force: true });
  return statusJson(repo, env);
}

test("what status shows from the snapshot is what the files say, for every kind of state", async () => {
  const { repo, id } = sessionRepo({ "a.txt": "a\n" });
  const done = spawnWorker(repo, "feat/done");
  const asking = spawnWorker(repo, "feat/asking");
  const blocked = spawnWorker(repo, "feat/blocked");
  spawnWorker(repo, "feat/quiet");
  commitFiles(done, { "done.txt": "d\n" }, "done work");
  const notify = (wt: string, args: string[]) => assert.is(orch(["notify", ...args], { cwd: wt }).code, 0);
  notify(done, ["--type", "task_complete", "--summary", "done", "--pr-url", "https://github.com/o/r/pull/7"]);
  notify(asking, ["--type", "question", "--summary", "which?", "--question", "which one?"]);
  notify(blocked, ["--type", "blocked", "--summary", "needs a person", "--waiting-for", "permission"]);
  const cached = await settle(repo, id, 4);
  assert.equal(snapshotIds(repo, id), ["feat-asking", "feat-blocked", "feat-done", "feat-quiet"]);
  assert.equal(statusJson(repo), cached);
  assert.equal(fromFiles(repo, id), cached);
  const views = byId(cached.workers);
  assert.equal(
    ["feat-done", "feat-asking", "feat-blocked", "feat-quiet"].map((w) => views[w]!.status),
    ["done", "waiting", "blocked", "running"],
  );
  assert.is(views["feat-done"]!.pr_url, "https://github.com/o/r/pull/7");
  assert.is(views["feat-blocked"]!.waiting_for, "permission");
  assert.is(views["feat-done"]!.ahead, 1);
});

test("the worker's folder stamp decides: the snapshot is used while it holds; any change orch makes moves it", async () => {
  const { repo, id } = sessionRepo();
  const wt = spawnWorker(repo, "feat/one");
  await settle(repo, id, 1);
  // An edit in place (orch never writes a record so: it replaces it) leaves the folder's stamp as
  // it was, so status still shows what it read before: the snapshot is what status used.
  const file = path.join(repo, ".orch", "sessions", id, "workers", "feat-one", "worker.json");
  const record = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  fs.writeFileSync(file, JSON.stringify({ ...record, agent: "edited-in-place" }));
  assert.is(byId(statusJson(repo).workers)["feat-one"]!.agent, "claude");
  // A record replaced the way orch replaces it (a new file renamed over it) is seen at once.
  const replacement = `${file}.new`;
  fs.writeFileSync(replacement, JSON.stringify({ ...record, agent: "replaced" }));
  fs.renameSync(replacement, file);
  assert.is(byId(statusJson(repo).workers)["feat-one"]!.agent, "replaced");
  // A message arriving adds a link to the event log: seen at once.
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: wt }).code, 0);
  assert.is(byId(statusJson(repo).workers)["feat-one"]!.status, "done");
});

test("messages are seen by the next status, however soon they arrive after a cached one", async () => {
  const { repo, id } = sessionRepo();
  const wt = spawnWorker(repo, "feat/busy");
  await settle(repo, id, 1);
  const steps: [string[], string][] = [
    [["--type", "progress", "--summary", "halfway"], "running"],
    [["--type", "question", "--summary", "which?", "--question", "which?"], "waiting"],
    [["--type", "progress", "--summary", "on it"], "running"],
    [["--type", "task_failed", "--summary", "no", "--error", "it broke"], "failed"],
  ];
  for (const [args, status] of steps) {
    assert.is(orch(["notify", ...args], { cwd: wt }).code, 0);
    assert.is(byId(statusJson(repo).workers)["feat-busy"]!.status, status, args.join(" "));
  }
});

test("the agent's liveness and the activity file are looked at every time, the snapshot notwithstanding", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const agent = path.join(tempDir("orch-agent-"), "agent.sh");
  fs.writeFileSync(agent, ["#!/bin/sh", "exec sleep 300", ""].join("\n"), { mode: 0o755 });
  const spawned = orch(["spawn", "feat/live", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const pidFile = path.join(repo, ".orch", "sessions", id, "workers", "feat-live", "agent.pid");
  await waitUntil(() => fs.existsSync(pidFile), 20_000, "the agent's pid");
  const activity = path.join(repo, ".orch", "sessions", id, "workers", "feat-live", "activity");
  fs.writeFileSync(activity, "");
  const before = byId((await settle(repo, id, 1, env)).workers)["feat-live"]!;
  assert.is(before.alive, true);
  // A whole second: utimes keeps it exactly (a fraction of a millisecond could round either way).
  const later = new Date(Math.ceil(Date.now() / 1000) * 1000 + 60_000);
  fs.utimesSync(activity, later, later);
  assert.is(byId(statusJson(repo, env).workers)["feat-live"]!.last_activity_at, later.toISOString());
  // Killed with its window: no report from the agent, the watchdog tells.
  const agentPid = Number(fs.readFileSync(pidFile, "utf8").split(" ")[0]);
  tmux(["kill-window", "-t", spawned.json.window_id as string], env);
  if (spawnSync("kill", ["-0", String(agentPid)]).status === 0) process.kill(agentPid, "SIGKILL");
  await waitUntil(() => spawnSync("kill", ["-0", String(agentPid)]).status !== 0, 10_000, "the agent to die");
  const after = byId(statusJson(repo, env).workers)["feat-live"]!;
  assert.is(after.alive, false);
  // The runner, hung up with its window, may still be reporting: status leaves the report to it while it lives.
  await waitUntil(() => byId(statusJson(repo, env).workers)["feat-live"]!.status === "failed", 10_000, "the report");
  assert.equal(fromFiles(repo, id, env).workers.map((w) => [w.status, w.alive]), [["failed", false]]);
});

test("a removed worker leaves the snapshot; a new one joins it", async () => {
  const { repo, id } = sessionRepo();
  spawnWorker(repo, "feat/a");
  spawnWorker(repo, "feat/b");
  await settle(repo, id, 2);
  assert.is(orch(["rm", "feat-a", "--force"], { cwd: repo }).code, 0);
  assert.equal(statusJson(repo).workers.map((w) => w.worker_id), ["feat-b"]);
  assert.equal(snapshotIds(repo, id), ["feat-b"]);
  spawnWorker(repo, "feat/c");
  assert.equal(statusJson(repo).workers.map((w) => w.worker_id), ["feat-b", "feat-c"]);
  await settle(repo, id, 2);
});

test("a damaged or edited snapshot is read again from the files, without an error", async () => {
  const { repo, id } = sessionRepo();
  const wt = spawnWorker(repo, "feat/x");
  assert.is(orch(["notify", "--type", "question", "--summary", "q", "--question", "q"], { cwd: wt }).code, 0);
  const truth = await settle(repo, id, 1);
  type Entries = { version: number; workers: Record<string, Record<string, unknown>> };
  const snapshot = JSON.parse(fs.readFileSync(snapshotFile(repo, id), "utf8")) as Entries;
  const entry = snapshot.workers["feat-x"]!;
  // This orch's own version: each edit is refused for what it holds, not for its version.
  const version = snapshot.version;
  const edits: unknown[] = [
    "{ not json",
    { version, workers: { "feat-x": { ...entry, log: { ...(entry.log as object), status: "sleeping" } } } },
    { version, workers: { "feat-x": { ...entry, record: { ...(entry.record as object), worker_id: "feat-y" } } } },
    { version, workers: { "feat-x": { ...entry, folder: "nope" } } },
    { version, workers: { "feat-x": 7 } },
    { version, workers: [] },
    [],
  ];
  for (const edit of edits) {
    fs.writeFileSync(snapshotFile(repo, id), typeof edit === "string" ? edit : JSON.stringify(edit));
    const r = orch(["status", "--json"], { cwd: repo });
    assert.is(r.code, 0, `${JSON.stringify(edit).slice(0, 80)}: ${r.stderr}`);
    assert.is(r.stderr, "");
    assert.equal(r.json.workers, truth.workers, JSON.stringify(edit).slice(0, 80));
  }
});

test("an entry an older orch worked out is not trusted: a turn a model API error ended is failed", async () => {
  const { repo, id } = sessionRepo();
  const wt = spawnWorker(repo, "feat/x");
  const payload = { hook_event_name: "StopFailure", error: "rate_limit", last_assistant_message: "429", cwd: wt };
  const hook = orch(["hook", "stop-failure"], { cwd: wt, input: JSON.stringify(payload) });
  assert.is(hook.code, 0, hook.stderr);
  const truth = await settle(repo, id, 1);
  assert.is(byId(truth.workers)["feat-x"]!.status, "failed");
  // What the orch before model API failures were told (version 1) made of the same files: its turn_failed
  // event was no event it knew, so the worker was running. Its stamps are those of the files as they are.
  type Entries = { version: number; workers: Record<string, Record<string, unknown>> };
  const snapshot = JSON.parse(fs.readFileSync(snapshotFile(repo, id), "utf8")) as Entries;
  const entry = snapshot.workers["feat-x"]!;
  const { turn_failed: _, ...log } = entry.log as Record<string, unknown>;
  const older = { version: 1, workers: { "feat-x": { ...entry, log: { ...log, status: "running" } } } };
  fs.writeFileSync(snapshotFile(repo, id), JSON.stringify(older));
  assert.equal(statusJson(repo).workers, truth.workers);
});

test("an entry of an orch before agent.pid named its runner is not trusted: the runner reports its agent's end", async () => {
  const { repo, id, env, pidFile } = slowWorker();
  await waitUntil(() => fs.existsSync(pidFile), 20_000, "the agent's pid");
  const [agentText = "", , , runnerText = ""] = fs.readFileSync(pidFile, "utf8").trim().split(" ");
  const agentPid = Number(agentText);
  const runnerPid = Number(runnerText.split(":")[0]);
  assert.ok(runnerPid > 0, "agent.pid names the runner");
  await settle(repo, id, 1, env);
  // What an orch from before d2cb72b (a status still running the old binary after an upgrade: an orch mcp, a
  // second shell) made of the same agent.pid: it read the first three fields, so its entry names no runner.
  type Entries = { version: number; workers: Record<string, Record<string, unknown>> };
  const snapshot = JSON.parse(fs.readFileSync(snapshotFile(repo, id), "utf8")) as Entries;
  const entry = snapshot.workers["slow"]!;
  assert.ok((entry.agent as { runner?: unknown }).runner, "this orch's entry names the runner");
  const { runner: _, ...agent } = entry.agent as Record<string, unknown>;
  const older = { version: 2, workers: { slow: { ...entry, agent } } };
  fs.writeFileSync(snapshotFile(repo, id), JSON.stringify(older));

  // The runner is not run when its agent ends (a busy machine): a status meanwhile leaves the report to it.
  process.kill(runnerPid, "SIGSTOP");
  try {
    process.kill(agentPid, "SIGKILL");
    await waitUntil(() => !fs.existsSync(`/proc/${agentPid}`) || fs.readFileSync(`/proc/${agentPid}/stat`, "utf8").includes(") Z "),
      10_000, "the agent to die");
    const view = byId(statusJson(repo, env).workers)["slow"]!;
    assert.is(view.status, "running", "status leaves the report to the runner that lives");
    assert.is(view.alive, false);
  } finally {
    process.kill(runnerPid, "SIGCONT");
  }
  const seen = await polledReport(repo, env);
  assert.is(seen.length, 1, JSON.stringify(seen));
  assert.is(seen[0]!.content.error, "the agent exited with code 137 without reporting", "the runner's words");
  assert.match(seen[0]!.content.details ?? "", /working on it/);
  tmux(["kill-server"], env);
});

test.run();
