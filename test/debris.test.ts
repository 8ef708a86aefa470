// Interrupted work leaves no debris: Ctrl-C or SIGTERM during spawn and land undoes them; what a kill -9
// of spawn left is repaired by the next spawn, rm, clean or doctor; a notify on a full disk leaves no file.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, gitOk, orch, orchAsync, sessionRepo, smallDisk, tempDir, waitUntil } from "./helpers.ts";

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
    // As a shell reports a program the signal ended: 128 + its number.
    assert.is(result.code, signal === "SIGINT" ? 130 : 143, result.stderr);
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
  const testCommand = `sleep 300 & echo $! > ${started}.tmp; mv ${started}.tmp ${started}; wait`;
  const run = orchAsync(["land", "--test", testCommand, "--json"], { cwd: repo });
  await waitUntil(() => fs.existsSync(started), 20_000, "the test command to start");
  const testPid = Number(fs.readFileSync(started, "utf8"));
  run.child.kill("SIGTERM");
  const result = await run.done;
  assert.is(result.code, 143, result.stderr);
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

/** A finished worker with one commit of its own. */
function doneWorker(repo: string, branch: string, file: string): void {
  const wt = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  commitFiles(wt, { [file]: `${file}\n` }, file);
  assert.is(orch(["notify", "--type", "task_complete", "--summary", file], { cwd: wt }).code, 0);
}

/** The throw-away worktrees (land's, apply --dry-run's) git has registered. */
function scratchWorktrees(repo: string): string[] {
  return git(["worktree", "list", "--porcelain"], repo).split("\n")
    .filter((line) => line.startsWith("worktree ") && line.includes("orch-scratch-")).map((line) => line.slice(9));
}

/** A land whose test command writes its shell's pid to a file, then waits (for `release`, or long). */
async function slowLand(repo: string, branch: string, release?: string) {
  const started = path.join(tempDir("orch-test-cmd-"), "started");
  const wait = release ? `while [ ! -e ${release} ]; do sleep 0.1; done` : "sleep 300";
  const testCommand = `echo $$ > ${started}.tmp; mv ${started}.tmp ${started}; ${wait}`;
  const land = orchAsync(["land", branch, "--test", testCommand, "--json"], { cwd: repo });
  await waitUntil(() => fs.existsSync(started), 30_000, `the test command of the land of ${branch} to start`);
  return { land, testPid: Number(fs.readFileSync(started, "utf8")) };
}

/** Kills a land with -9, and its test command (a process group of its own, holding orch's stderr) after it. */
async function killLand(killed: Awaited<ReturnType<typeof slowLand>>): Promise<void> {
  killed.land.child.kill("SIGKILL");
  spawnSync("kill", ["-KILL", "--", `-${killed.testPid}`]);
  await killed.land.done;
  await waitUntil(() => !running(killed.testPid), 10_000, "the killed land's test command to end");
}

const STALE_REMOVED = /removed the throw-away worktree \S+ left by an orch \(pid \d+\) that was killed/;

test("after kill -9 of land, the next land removes its throw-away worktree; a running land's is left alone", async () => {
  const { repo } = sessionRepo();
  doneWorker(repo, "feat/killed", "k.txt");
  doneWorker(repo, "feat/running", "r.txt");
  const killed = await slowLand(repo, "feat/killed");
  const [first] = scratchWorktrees(repo);
  assert.ok(first && fs.existsSync(first), "the land's throw-away worktree exists");
  const whileRunning = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(whileRunning.code, 0, whileRunning.stderr);
  assert.equal(scratchWorktrees(repo), [first], "clean leaves a running land's worktree");
  assert.ok(fs.existsSync(path.join(first!, "k.txt")), "on disk too");
  await killLand(killed);
  assert.ok(fs.existsSync(first!), "kill -9 left the throw-away worktree");

  // The next land removes it first thing, takes over the killed land's lock (its holder is gone), and tests.
  const release = path.join(tempDir("orch-release-"), "go");
  const next = await slowLand(repo, "feat/running", release);
  const [live] = scratchWorktrees(repo);
  assert.ok(live && live !== first, "only the running land's throw-away worktree is registered");
  assert.not.ok(fs.existsSync(path.dirname(first!)), "the stale one's temp folder is gone");
  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(cleaned.code, 0, cleaned.stderr);
  assert.equal(cleaned.json.repaired, [], "nothing stale left to repair");
  assert.equal(scratchWorktrees(repo), [live], "clean leaves the running land's worktree");
  assert.ok(fs.existsSync(path.join(live!, "r.txt")), "on disk, with the worker's change merged in");
  assert.ok(running(next.testPid), "the running land's test command still runs");

  fs.writeFileSync(release, "");
  const landed = await next.land.done;
  assert.is(landed.code, 0, landed.stderr);
  assert.match(landed.stderr, STALE_REMOVED);
  assert.ok(landed.stderr.includes(first!), landed.stderr);
  assert.is(landed.json.results[0].status, "landed");
  assert.equal(scratchWorktrees(repo), [], "no throw-away worktree is left");
});

for (const next of ["merge", "clean", "apply --dry-run"] as const) {
  test(`after kill -9 of land, ${next} removes its throw-away worktree`, async () => {
    const { repo } = sessionRepo();
    doneWorker(repo, "feat/killed", "k.txt");
    const killed = await slowLand(repo, "feat/killed");
    const [stale] = scratchWorktrees(repo);
    await killLand(killed);
    assert.ok(stale && fs.existsSync(stale), "kill -9 left the throw-away worktree");
    const args = next === "merge" ? ["merge", "feat/killed", "--local"]
      : next === "clean" ? ["clean", "--yes"] : ["apply", "feat/killed", "--dry-run"];
    const result = orch([...args, "--json"], { cwd: repo });
    assert.is(result.code, 0, result.stderr);
    assert.match(result.stdout + result.stderr, STALE_REMOVED);
    if (next === "clean") assert.ok(result.json.repaired.some((line: string) => line.includes(stale!)), result.stdout);
    assert.equal(scratchWorktrees(repo), [], "no throw-away worktree is left");
    assert.not.ok(fs.existsSync(path.dirname(stale!)), "its temp folder is gone");
  });
}

/**
 * PATH with a git whose `merge --ff-only` moves the branch and then, before it exits, has SIGTERM reach the orch
 * that ran it (a Ctrl-C that comes as git ends): orch passes it on, and that git is ended by it.
 */
function signalAfterFastForward(): Record<string, string> {
  const bin = tempDir("orch-ff-bin-");
  const real = spawnSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).stdout.trim();
  fs.writeFileSync(path.join(bin, "git"), [
    "#!/bin/sh",
    `case "$1 $2" in "merge --ff-only") ${real} "$@" || exit $?; kill -TERM $PPID; sleep 1; exit 0 ;; esac`,
    `exec ${real} "$@"`,
    "",
  ].join("\n"), { mode: 0o755 });
  return { PATH: `${bin}:${process.env.PATH}` };
}

test("SIGTERM as land's git moves the base: land says the worker landed; in a queue, which landed and which not", () => {
  const { repo } = sessionRepo();
  doneWorker(repo, "feat/one", "one.txt");
  const one = orch(["land", "feat/one", "--json"], { cwd: repo, env: signalAfterFastForward() });
  // Before, land said "interrupted by SIGTERM: what was started was undone" (exit 143), or "could not
  // fast-forward main" (exit 1), with the worker's commit in main.
  assert.is(one.code, 0, one.stderr);
  assert.is(one.json.results[0].status, "landed");
  assert.is(git(["show", "main:one.txt"], repo), "one.txt");
  assert.is(git(["status", "--porcelain"], repo), "");

  doneWorker(repo, "feat/two", "two.txt");
  doneWorker(repo, "feat/three", "three.txt");
  const queue = orch(["land", "feat/two", "feat/three", "--json"], { cwd: repo, env: signalAfterFastForward() });
  assert.is(queue.code, 143, queue.stderr);
  assert.is(queue.json.error.code, "interrupted");
  assert.is(queue.json.error.message, "interrupted by SIGTERM after landing feat-two: feat-three not landed", queue.stderr);
  assert.is(git(["show", "main:two.txt"], repo), "two.txt");
  assert.not.ok(gitOk(["cat-file", "-e", "main:three.txt"], repo), "the rest of the queue did not land");
  assert.is(git(["status", "--porcelain"], repo), "");
});

/**
 * PATH with a git whose `nth` `merge --squash` (land's and merge's, in the throw-away worktree) has the terminal's
 * SIGTERM reach the command's whole group: orch, and that git with it.
 */
function groupSignalAtSquash(nth: number): Record<string, string> {
  const bin = tempDir("orch-squash-bin-");
  const real = spawnSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).stdout.trim();
  const count = path.join(bin, "count");
  fs.writeFileSync(path.join(bin, "git"), [
    "#!/bin/sh",
    'if [ "$1 $2" = "merge --squash" ]; then',
    `  n=$(($(cat ${count} 2>/dev/null || echo 0) + 1)); echo $n > ${count}`,
    `  [ $n = ${nth} ] && { /bin/kill -TERM -- -$(ps -o pgid= -p $$ | tr -d ' '); sleep 5; }`,
    "fi",
    `exec ${real} "$@"`,
    "",
  ].join("\n"), { mode: 0o755 });
  return { PATH: `${bin}:${process.env.PATH}` };
}

test("SIGTERM to the group while land or merge merges in the throw-away worktree: exit 143, interrupted, " +
  "saying what landed", async () => {
  const { repo } = sessionRepo();
  doneWorker(repo, "feat/one", "one.txt");
  const head = git(["rev-parse", "HEAD"], repo);
  for (const args of [["land", "feat/one"], ["merge", "feat/one", "--local"]]) {
    const cut = await orchAsync([...args, "--json"], { cwd: repo, env: groupSignalAtSquash(1), ownGroup: true }).done;
    // Before, the git the signal ended read as a failed merge: exit 1, "could not be merged onto main".
    assert.is(cut.code, 143, `${args[0]}: ${cut.stderr}`);
    assert.is(cut.json.error.code, "interrupted", args[0]);
    assert.is(git(["rev-parse", "HEAD"], repo), head);
    assert.is(git(["status", "--porcelain"], repo), "");
  }
  doneWorker(repo, "feat/two", "two.txt");
  const queue = await orchAsync(["land", "feat/one", "feat/two", "--json"], {
    cwd: repo, env: groupSignalAtSquash(2), ownGroup: true,
  }).done;
  assert.is(queue.code, 143, queue.stderr);
  assert.is(queue.json.error.message, "interrupted by SIGTERM after landing feat-one: feat-two not landed");
  assert.is(git(["show", "main:one.txt"], repo), "one.txt");
  assert.not.ok(gitOk(["cat-file", "-e", "main:two.txt"], repo));
  assert.equal(scratchWorktrees(repo), []);
});

test("a worktree that only looks like orch's (no owner file) is never removed", async () => {
  const { repo } = sessionRepo();
  doneWorker(repo, "feat/mine", "m.txt");
  const folder = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "orch-scratch-"));
  git(["worktree", "add", "--quiet", "--detach", path.join(folder, "wt"), "HEAD"], repo);
  const result = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(result.code, 0, result.stderr);
  assert.equal(scratchWorktrees(repo), [path.join(folder, "wt")]);
  assert.ok(fs.existsSync(path.join(folder, "wt", "README.md")));
  git(["worktree", "remove", "--force", path.join(folder, "wt")], repo);
  fs.rmSync(folder, { recursive: true, force: true });
});

test("a worker folder an rm or spawn killed half-way left (.removed-, .new-) is removed by the next removal once its process is gone", () => {
  const { repo, id } = sessionRepo();
  for (const branch of ["a", "b"]) assert.is(orch(["spawn", branch, "--no-window"], { cwd: repo }).code, 0);
  const workers = path.join(repo, ".orch", "sessions", id, "workers");
  const dead = spawnSync("true").pid!;
  const left = (name: string, ageMs: number) => {
    fs.mkdirSync(path.join(workers, name, "events"), { recursive: true });
    fs.writeFileSync(path.join(workers, name, "worker.json"), "{}");
    const then = new Date(Date.now() - ageMs);
    fs.utimesSync(path.join(workers, name), then, then);
  };
  left(`x.removed-${dead}-1795575561514`, 120_000); // an rm killed between its rename and its removal
  left(`y.new-${dead}`, 120_000); // a spawn killed while it made the folder
  left(`z.removed-${process.pid}-1795575561514`, 120_000); // a removal under way: its process runs
  left(`w.new-${dead}`, 0); // a dead pid's, just made: maybe a sandbox's orch, whose pids name nobody here
  const removed = orch(["rm", "b", "--yes"], { cwd: repo });
  assert.is(removed.code, 0, removed.stderr);
  assert.equal(fs.readdirSync(workers).sort(), ["a", `w.new-${dead}`, `z.removed-${process.pid}-1795575561514`]);
});

test("notify on a full disk fails with one line and leaves no partial file in tmp/", () => {
  const disk = smallDisk("256k");
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  const mount = disk.dir;
  try {
    const { repo } = sessionRepo();
    const env = { ORCH_HOME: path.join(mount, "store") };
    assert.is(orch(["init"], { cwd: repo, env }).code, 0);
    const filler = disk.fill(0);
    const r = orch(["notify", "--type", "progress", "--summary", "big", "--details", "x".repeat(100_000), "--json"], { cwd: repo, env });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /no space left on device/);
    assert.is(r.stderr.trim().split("\n").length, 1, "one line, no stack trace");
    const session = fs.readdirSync(path.join(mount, "store", "sessions"))[0]!;
    assert.equal(fs.readdirSync(path.join(mount, "store", "sessions", session, "mail", "tmp")), []);
    const spawned = orch(["spawn", "feat/full", "--no-window", "--agent", "true"], { cwd: repo, env });
    assert.is(spawned.code, 1, spawned.stderr);
    // The line says which file could not be written (a write(2) error names none by itself).
    assert.match(spawned.stderr, /^orch: cannot write \/.+: no space left on device$/m);
    assert.is(spawned.stderr.trim().split("\n").length, 1, "one line, no stack trace");
    assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/feat/full"], repo), "no branch left behind");
    fs.rmSync(filler);
    assert.is(orch(["notify", "--type", "progress", "--summary", "after"], { cwd: repo, env }).code, 0);
    const again = orch(["spawn", "feat/full", "--no-window", "--agent", "true"], { cwd: repo, env });
    assert.is(again.code, 0, again.stderr);
  } finally {
    disk.unmount();
  }
});

test.run();
