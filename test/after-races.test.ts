// spawn --after under races and kills: the start of a pending worker (by whichever orch command noticed
// its prerequisite land) at the same time as stop or rm, killed -9 half-way, or failed; a landing noticed
// late (by watch, by status). Scripted agents in a private tmux server.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  baseEnv, commitFiles, orch, orchAsync, privateTmux, racing, sessionRepo, sleep, sleepingAgent, tempDir, tmuxRacing,
  startTime, waitUntil, workerProcesses,
} from "./helpers.ts";

function windows(env: Record<string, string | undefined>, name: string): number {
  const ask = ["list-windows", "-a", "-F", "#{window_name}"];
  const listed = spawnSync("tmux", ask, { env: baseEnv(env), encoding: "utf8" });
  return listed.status === 0 ? listed.stdout.split("\n").filter((n) => n === name).length : 0; // no server: none
}

test("stop and rm while land opens a pending worker's window: they wait for it, close it, end the agent", async () => {
  const { repo, id } = sessionRepo();
  const env = { ...privateTmux(), ...tmuxRacing() };
  const agent = sleepingAgent();
  for (const [name, race] of [["w-stop", "stop w-stop"], ["w-rm", "rm w-rm --force"]] as const) {
    const first = `first-${name}`;
    const a = orch(["spawn", first, "--no-window", "--json"], { cwd: repo, env });
    assert.is(a.code, 0, a.stderr);
    const b = orch(["spawn", name, "--after", first, "--agent", agent, "--json"], { cwd: repo, env });
    assert.is(b.json.status, "pending", b.stderr);
    commitFiles(a.json.worktree_path, { [`${first}.txt`]: "a\n" }, "a done");
    const done = orch(["notify", "--type", "task_complete", "--summary", "a done"], { cwd: a.json.worktree_path });
    assert.is(done.code, 0, done.stderr);
    const out = tempDir("orch-race-");
    // land starts the pending worker; as it asks tmux for its window, the stop or rm runs.
    const landed = orch(["land", first, "--json"], { cwd: repo, env: { ...env, RACE: race, RACE_OUT: out } });
    assert.is(landed.code, 0, landed.stderr);
    assert.equal(landed.json.started, [name], landed.stderr);
    await waitUntil(() => fs.existsSync(path.join(out, "race.done")), 60_000, `orch ${race} to end`);
    const raced = JSON.parse(fs.readFileSync(path.join(out, "race.json"), "utf8"));
    assert.is(raced.success, true, fs.readFileSync(path.join(out, "race.err"), "utf8"));
    assert.is(raced.window_closed, true, `orch ${race} closed the window the start opened`);
    const worker = orch(["status", "--json"], { cwd: repo, env }).json.workers.find(
      (w: { worker_id: string }) => w.worker_id === name);
    if (race.startsWith("stop")) assert.is(worker.status, "stopped");
    else assert.is(worker, undefined, "removed");
    await waitUntil(() => workerProcesses(id, name).length === 0, 10_000, `no process of ${name}`);
    assert.is(windows(env, name), 0, `no window of ${name}`);
  }
  assert.not.match(spawnSync("git", ["worktree", "list"], { cwd: repo, encoding: "utf8" }).stdout, /\/w-rm /);
});


/** git, racing (see racing) as an orch command runs `git worktree add` of a folder named $RACE_WORKTREE. */
function gitRacing(): Record<string, string> {
  return racing("git", '"$*" in "worktree add "*"/$RACE_WORKTREE "*');
}

test("rm while land makes a pending worker's worktree: one wins whole; no worktree, window or agent left", async () => {
  const { repo, id } = sessionRepo();
  const env = { ...privateTmux(), ...gitRacing() };
  const a = orch(["spawn", "first", "--no-window", "--json"], { cwd: repo, env });
  assert.is(a.code, 0, a.stderr);
  const b = orch(["spawn", "then", "--after", "first", "--agent", sleepingAgent(), "--json"], { cwd: repo, env });
  assert.is(b.json.status, "pending", b.stderr);
  commitFiles(a.json.worktree_path, { "first.txt": "a\n" }, "a done");
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "a done"], { cwd: a.json.worktree_path }).code, 0);
  const out = tempDir("orch-race-");
  const racing = { ...env, RACE: "rm then --force", RACE_OUT: out, RACE_WORKTREE: "then" };
  const landed = orch(["land", "first", "--json"], { cwd: repo, env: racing });
  assert.is(landed.code, 0, landed.stderr);
  await waitUntil(() => fs.existsSync(path.join(out, "race.done")), 60_000, "orch rm to end");
  const raced = JSON.parse(fs.readFileSync(path.join(out, "race.json"), "utf8"));
  assert.is(raced.success, true, fs.readFileSync(path.join(out, "race.err"), "utf8"));
  assert.not.match(landed.stderr, /ENOENT|EEXIST/, "no raw error");
  const workers = orch(["status", "--json"], { cwd: repo, env }).json.workers;
  assert.equal(workers.map((w: { worker_id: string }) => w.worker_id), ["first"], "removed");
  await waitUntil(() => workerProcesses(id, "then").length === 0, 10_000, "no process of then");
  assert.is(windows(env, "then"), 0, "no window of then");
  assert.not.match(spawnSync("git", ["worktree", "list"], { cwd: repo, encoding: "utf8" }).stdout, /\/then /);
});

/**
 * PATH with a stand-in for `program` that runs the real one and SIGKILLs the orch that called it once the
 * call whose first two arguments match `call` (a sh case pattern) succeeded.
 */
function killedAfter(program: string, call: string): Record<string, string> {
  const bin = tempDir("orch-kill-bin-");
  const real = spawnSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" }).stdout.trim();
  fs.writeFileSync(path.join(bin, program), [
    "#!/bin/sh",
    `case "$1 $2" in ${call.replaceAll(" ", "\\ ")}) ;; *) exec ${real} "$@" ;; esac`,
    `${real} "$@"; code=$?`,
    "[ $code = 0 ] && kill -KILL $PPID",
    "exit $code",
    "",
  ].join("\n"), { mode: 0o755 });
  return { PATH: `${bin}:${baseEnv().PATH}` };
}

test("the command starting a pending worker killed -9 after git made its worktree: the next one starts it", () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const a = orch(["spawn", "first", "--no-window", "--json"], { cwd: repo, env });
  assert.is(a.code, 0, a.stderr);
  const b = orch(["spawn", "then", "--after", "first", "--no-window", "--json"], { cwd: repo, env });
  assert.is(b.json.status, "pending", b.stderr);
  // A lands by hand (no orch runs); the next orch command notices it and starts B, and is killed half-way.
  commitFiles(a.json.worktree_path, { "first.txt": "a\n" }, "a done");
  spawnSync("git", ["merge", "--no-ff", "-q", "-m", "merge first", "first"], { cwd: repo });
  const killed = orch(["status", "--json"], { cwd: repo, env: { ...env, ...killedAfter("git", "worktree add") } });
  assert.is(killed.code, -1, `killed by its SIGKILL: ${killed.stderr}`);
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  const then = status.json.workers.find((w: { worker_id: string }) => w.worker_id === "then");
  assert.is(then.status, "running", status.stderr);
  assert.is(then.base_commit, spawnSync("git", ["rev-parse", "main"], { cwd: repo, encoding: "utf8" }).stdout.trim());
  assert.ok(fs.existsSync(path.join(then.worktree_path, "first.txt")), "from the base that includes first");
  assert.is(orch(["rm", "then", "--yes", "--delete-branch"], { cwd: repo, env }).code, 0);

  // Killed so again, then removed while still pending: rm removes what the killed start made too.
  const c = orch(["spawn", "second", "--no-window", "--json"], { cwd: repo, env });
  const d = orch(["spawn", "after-second", "--after", "second", "--no-window", "--json"], { cwd: repo, env });
  assert.is(d.json.status, "pending", d.stderr);
  commitFiles(c.json.worktree_path, { "second.txt": "c\n" }, "c done");
  spawnSync("git", ["merge", "--no-ff", "-q", "-m", "merge second", "second"], { cwd: repo });
  const again = orch(["list", "--json"], { cwd: repo, env: { ...env, ...killedAfter("git", "worktree add") } });
  assert.is(again.code, -1, `killed by its SIGKILL: ${again.stderr}`);
  const removed = orch(["rm", "after-second", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  const worktrees = spawnSync("git", ["worktree", "list"], { cwd: repo, encoding: "utf8" }).stdout;
  assert.not.match(worktrees, /\/(then|after-second) /);
  const branch = spawnSync("git", ["rev-parse", "--verify", "-q", "refs/heads/after-second"], { cwd: repo });
  assert.is.not(branch.status, 0, "the branch the killed start made is deleted");
});

test("a prerequisite merged by hand (or pulled from GitHub), then watch or poll --wait: it starts the pending worker",
  async () => {
  const { repo, id } = sessionRepo();
  const record = (worker: string) => JSON.parse(
    fs.readFileSync(path.join(repo, ".orch", "sessions", id, "workers", worker, "worker.json"), "utf8"));
  const landByHand = (worker: string) => {
    const spawned = orch(["spawn", worker, "--no-window", "--json"], { cwd: repo });
    assert.is(spawned.code, 0, spawned.stderr);
    const waiting = orch(["spawn", `${worker}-next`, "--after", worker, "--no-window", "--json"], { cwd: repo });
    assert.is(waiting.json.status, "pending", waiting.stderr);
    commitFiles(spawned.json.worktree_path, { [`${worker}.txt`]: "work\n" }, `${worker} done`);
    return () => spawnSync("git", ["merge", "--no-ff", "-q", "-m", `merge ${worker}`, worker], { cwd: repo });
  };
  // Merged before the watch: the watch is the first orch command after it.
  landByHand("early")();
  const watched = orch(["watch", "--timeout", "1"], { cwd: repo });
  assert.is(watched.code, 124, watched.stderr);
  assert.is(record("early-next").pending, undefined, `started by the watch: ${watched.stderr}`);
  assert.ok(fs.existsSync(path.join(record("early-next").worktree_path, "early.txt")));
  // Merged while a watch runs: it notices at its next wake-up.
  const merge = landByHand("late");
  const watching = orchAsync(["watch", "--timeout", "60"], { cwd: repo });
  await sleep(500);
  merge();
  await waitUntil(() => record("late-next").pending === undefined, 30_000, "the watch to start late-next");
  watching.child.kill("SIGTERM");
  await watching.done;
  // And while a poll --wait runs (it noticed moves only at its start): it notices at its next wake-up too.
  const polled = landByHand("polled");
  const polling = orchAsync(["poll", "--wait", "--timeout", "60"], { cwd: repo });
  await sleep(500);
  polled();
  await waitUntil(() => record("polled-next").pending === undefined, 30_000, "the poll --wait to start polled-next");
  polling.child.kill("SIGTERM");
  await polling.done;
});

test("status that failed to start a pending worker says it failed, not pending", () => {
  const { repo } = sessionRepo();
  const a = orch(["spawn", "first", "--no-window", "--json"], { cwd: repo });
  assert.is(a.code, 0, a.stderr);
  const b = orch(["spawn", "then", "--after", "first", "--no-window", "--json"], { cwd: repo });
  assert.is(b.json.status, "pending", b.stderr);
  // Its worktree's folder is taken meanwhile: its start fails.
  fs.mkdirSync(path.join(path.dirname(a.json.worktree_path), "then"));
  commitFiles(a.json.worktree_path, { "first.txt": "a\n" }, "a done");
  spawnSync("git", ["merge", "--no-ff", "-q", "-m", "merge first", "first"], { cwd: repo });
  const status = orch(["status", "--json"], { cwd: repo });
  assert.is(status.code, 0, status.stderr);
  assert.match(status.stderr, /could not start then after first: .*already exists/);
  const then = status.json.workers.find((w: { worker_id: string }) => w.worker_id === "then");
  assert.is(then.status, "failed", "as the next status says it");
  assert.is(orch(["status", "--json"], { cwd: repo }).json.workers.find(
    (w: { worker_id: string }) => w.worker_id === "then").status, "failed");
});

test("rm of a pending worker whose start saves it started just after rm read it: removed as started", async () => {
  const { repo, id } = sessionRepo();
  const a = orch(["spawn", "first", "--no-window", "--json"], { cwd: repo });
  assert.is(a.code, 0, a.stderr);
  const b = orch(["spawn", "then", "--after", "first", "--no-window", "--json"], { cwd: repo });
  assert.is(b.json.status, "pending", b.stderr);
  commitFiles(a.json.worktree_path, { "first.txt": "a\n" }, "a done");
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "a done"], { cwd: a.json.worktree_path }).code, 0);
  // The rm is held just after it read the worker pending (under its removal claim): this test holds the sync
  // claim it waits for next. Meanwhile land starts the worker; then the rm goes on.
  const folder = path.join(repo, ".orch", "sessions", id, "workers", "then");
  const held = JSON.stringify({ pid: process.pid, start_time: startTime(process.pid) });
  fs.writeFileSync(path.join(folder, "syncing"), held);
  const rm = orchAsync(["rm", "then", "--force", "--json"], { cwd: repo });
  await waitUntil(() => fs.existsSync(path.join(folder, "removing")), 20_000, "the rm to claim the removal");
  const landed = orch(["land", "first", "--json"], { cwd: repo });
  assert.is(landed.code, 0, landed.stderr);
  assert.equal(landed.json.started, ["then"], landed.stderr);
  fs.rmSync(path.join(folder, "syncing"));
  const removed = await rm.done;
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.worktree_path, path.join(`${repo}-worktrees`, "then"), "its worktree was removed");
  const workers = orch(["status", "--json"], { cwd: repo }).json.workers;
  assert.equal(workers.map((w: { worker_id: string }) => w.worker_id), ["first"], "removed");
  assert.not.match(spawnSync("git", ["worktree", "list"], { cwd: repo, encoding: "utf8" }).stdout, /\/then /);
  assert.not.ok(fs.existsSync(path.join(`${repo}-worktrees`, "then")), "no worktree folder left");
});
test.run();
