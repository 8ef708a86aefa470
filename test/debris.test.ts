// Interrupted work leaves no debris: Ctrl-C or SIGTERM during spawn and land undoes them; what a kill -9
// of spawn left is repaired by the next spawn, rm, clean or doctor; a notify on a full disk leaves no file.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, gitOk, orch, orchAsync, sessionRepo, tempDir, waitUntil } from "./helpers.ts";

function running(pid: number): boolean {
  try {
    return !fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/** A postCreate hook that says it started (with its pid) and then takes its time. */
function slowHook(repo: string): string {
  const started = path.join(tempDir("orch-hook-"), "started");
  git(["config", "gtr.hook.postCreate", `echo $$ > ${started}.tmp && mv ${started}.tmp ${started} && sleep 300`], repo);
  return started;
}

function noDebris(repo: string, id: string, branch: string): void {
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1, "no worktree left");
  assert.not.ok(gitOk(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], repo), "no branch left");
  assert.equal(fs.readdirSync(path.join(repo, ".orch", "sessions", id, "workers")), [], "no worker record left");
  assert.not.ok(fs.existsSync(path.join(repo, ".orch", "sessions", id, "spawning")), "no spawn journal left");
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  test(`${signal} during spawn undoes it: worktree, branch, record, and the hook it was running`, async () => {
    const { repo, id } = sessionRepo();
    const started = slowHook(repo);
    const run = orchAsync(["spawn", "feat/cut", "--no-window", "--json"], { cwd: repo });
    await waitUntil(() => fs.existsSync(started), 20_000, "the hook to start");
    const hookPid = Number(fs.readFileSync(started, "utf8"));
    run.child.kill(signal);
    const result = await run.done;
    assert.is(result.code, 130, result.stderr);
    assert.match(result.stderr, /interrupted/);
    noDebris(repo, id, "feat/cut");
    await waitUntil(() => !running(hookPid), 10_000, "the hook to end");
  });
}

test("SIGTERM during land ends the test command and removes the throw-away worktree; nothing lands", async () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/slow", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  commitFiles(wt, { "s.txt": "s\n" }, "s");
  orch(["notify", "--type", "task_complete", "--summary", "s"], { cwd: wt });
  const head = git(["rev-parse", "HEAD"], repo);
  const started = path.join(tempDir("orch-test-cmd-"), "started");
  const run = orchAsync(["land", "--test", `sleep 300 & echo $! > ${started}.tmp; mv ${started}.tmp ${started}; wait`, "--json"], { cwd: repo });
  await waitUntil(() => fs.existsSync(started), 20_000, "the test command to start");
  const testPid = Number(fs.readFileSync(started, "utf8"));
  run.child.kill("SIGTERM");
  const result = await run.done;
  assert.is(result.code, 130, result.stderr);
  await waitUntil(() => !running(testPid), 10_000, "the test command's child to end");
  assert.is(git(["rev-parse", "HEAD"], repo), head, "nothing landed");
  assert.is(git(["worktree", "list"], repo).split("\n").length, 2, "only the main checkout and the worker remain");
  assert.not.match(git(["worktree", "list"], repo), /orch-scratch/);
});

for (const next of ["spawn", "rm", "clean", "doctor"] as const) {
  test(`after kill -9 of spawn, ${next} repairs what it left`, async () => {
    const { repo, id } = sessionRepo();
    const started = slowHook(repo);
    const run = orchAsync(["spawn", "feat/killed", "--no-window", "--json"], { cwd: repo });
    await waitUntil(() => fs.existsSync(started), 20_000, "the hook to start");
    run.child.kill("SIGKILL");
    await run.done;
    spawnSync("kill", ["-9", fs.readFileSync(started, "utf8").trim()]);
    assert.is(git(["worktree", "list"], repo).split("\n").length, 2, "the killed spawn left a worktree");
    git(["config", "--unset", "gtr.hook.postCreate"], repo);
    if (next === "spawn") {
      const again = orch(["spawn", "feat/killed", "--no-window", "--json"], { cwd: repo });
      assert.is(again.code, 0, again.stderr);
      assert.match(again.stderr, /interrupted spawn/);
      assert.is(orch(["status", "--json"], { cwd: repo }).json.workers[0].worker_id, "feat-killed");
      return;
    }
    const args = next === "rm" ? ["rm", "feat/killed", "--yes"] : next === "clean" ? ["clean", "--yes"] : ["doctor"];
    const r = orch([...args, "--json"], { cwd: repo });
    if (next !== "doctor") assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /interrupted spawn/);
    noDebris(repo, id, "feat/killed");
  });
}

test("notify on a full disk fails with one line and leaves no partial file in tmp/", () => {
  if (process.getuid?.() !== 0) {
    console.log("SKIP: notify on a full disk needs root to mount a small tmpfs");
    return;
  }
  const mount = tempDir("orch-full-");
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mount], { encoding: "utf8" });
  if (mounted.status !== 0) {
    console.log(`SKIP: cannot mount a tmpfs here: ${mounted.stderr.trim()}`);
    return;
  }
  try {
    const { repo } = sessionRepo();
    const env = { ORCH_HOME: path.join(mount, "store") };
    assert.is(orch(["init"], { cwd: repo, env }).code, 0);
    const filler = path.join(mount, "filler");
    spawnSync("sh", ["-c", `dd if=/dev/zero of=${filler} bs=1k count=1000 2>/dev/null; true`]);
    const r = orch(["notify", "--type", "progress", "--summary", "big", "--details", "x".repeat(100_000), "--json"], { cwd: repo, env });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /no space left on device/);
    assert.is(r.stderr.trim().split("\n").length, 1, "one line, no stack trace");
    const session = fs.readdirSync(path.join(mount, "store", "sessions"))[0]!;
    assert.equal(fs.readdirSync(path.join(mount, "store", "sessions", session, "mail", "tmp")), []);
  } finally {
    spawnSync("umount", ["-l", mount]);
  }
});

test.run();
