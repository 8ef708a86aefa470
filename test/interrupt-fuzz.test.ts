// The commands that change things, interrupted at random points: spawn (with and without a window, here and
// on an ssh host), land --test, apply, merge, sync, rm, clean, stop, resume, host add and notify, each started
// in a process group of its own (as a terminal runs it) and sent SIGINT, SIGTERM, SIGHUP or SIGKILL on the
// whole group after a random delay, as a Ctrl-C, a closed terminal, an agent's Bash timeout or the OOM killer
// would. After every interruption the invariants below are checked, then what is left is removed the way the
// README says, and checked gone.
//
// A fixed seed and a few rounds of each by default (the suite's run); ORCH_FUZZ_ROUNDS=500 (and
// ORCH_FUZZ_SEED, ORCH_FUZZ_COMMANDS=land,apply to choose) for a long run by hand.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  commitFiles, git, gitOk, orch, orchAsync, privateTmux, sessionRepo, sleep, sleepingAgent, tmux,
  workerProcesses, type Result,
} from "./helpers.ts";
import { sshSkipReason, startSshWorld, type SshWorld } from "./ssh-harness.ts";

const ROUNDS = Number(process.env.ORCH_FUZZ_ROUNDS ?? 2);
const SEED = Number(process.env.ORCH_FUZZ_SEED ?? 20261125);
const ONLY = process.env.ORCH_FUZZ_COMMANDS?.split(",");
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"] as const;
type Signal = typeof SIGNALS[number];
const SIGNAL_NUMBERS: Record<Signal, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** mulberry32: the same rounds for the same seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Env = Record<string, string | undefined>;

interface World {
  repo: string;
  id: string;
  env: Env;
}

/** The live processes of process group `pgid` (zombies have ended). */
function groupMembers(pgid: number): string[] {
  const members: string[] = [];
  for (const name of fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) {
        members.push(`${name} ${fs.readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ").trim()}`);
      }
    } catch {
      // ended meanwhile
    }
  }
  return members;
}

interface Cut {
  result: Result;
  signal: Signal;
  delay: number;
  /** The command had ended before the signal was sent. */
  finished: boolean;
  /** The signal that ended the command, when it did not catch it (as git or any program dies of a Ctrl-C). */
  killedBy: NodeJS.Signals | null;
  /** What to say with a failed assertion: the round as it can be run again. */
  about: string;
}

/** Runs `orch args` in a group of its own and sends the group `signal` after `delay` ms. */
async function interrupt(
  args: string[], cwd: string, env: Env, signal: Signal, delay: number, about: string,
): Promise<Cut> {
  const run = orchAsync(args, { cwd, env, ownGroup: true });
  let killedBy: NodeJS.Signals | null = null;
  run.child.on("exit", (_code, by) => (killedBy = by));
  let finished = false;
  void run.done.then(() => (finished = true));
  await sleep(delay);
  const pgid = run.child.pid!;
  const sent = !finished;
  if (sent) {
    try {
      process.kill(-pgid, signal);
    } catch {
      // the whole group had ended meanwhile
    }
  }
  const hung = setTimeout(() => process.kill(-pgid, "SIGKILL"), 90_000);
  const result = await run.done;
  clearTimeout(hung);
  const text = `${about} (${signal} after ${delay} ms${sent ? "" : ", not sent: it had ended"}): ` +
    `exit ${result.code}\n${result.stderr}`;
  // Nothing orch started in the terminal's group outlives it for long (a program given the signal gets 5 s).
  for (const deadline = Date.now() + 15_000; groupMembers(pgid).length > 0;) {
    if (Date.now() > deadline) assert.unreachable(`${text}\nleft running in its group: ${groupMembers(pgid).join("; ")}`);
    await sleep(50);
  }
  return { result, signal, delay, finished: !sent, about: text, killedBy };
}

/** The exit a command gives for the signal: as the shell reports it, a clean 0 or 1 when it had ended first. */
function assertExit(cut: Cut, ok: number[] = [0]): void {
  const { code } = cut.result;
  if (cut.signal === "SIGKILL" && !cut.finished && code === 137) return;
  if (cut.killedBy !== null && cut.killedBy === cut.signal) return;
  if (ok.includes(code)) return;
  // Said interrupted, or ended as the signal would have (a command with ssh channels open closes them first).
  if (code === 128 + SIGNAL_NUMBERS[cut.signal]) return;
  assert.unreachable(`unexpected exit: ${cut.about}`);
}

/** orch caught the signal and said so: "interrupted by SIG…: what was started was undone". */
function saidInterrupted(cut: Cut): boolean {
  const lines = cut.result.stderr.trim().split("\n");
  return cut.killedBy === null && cut.signal !== "SIGKILL" && cut.result.code === 128 + SIGNAL_NUMBERS[cut.signal] &&
    /^orch: interrupted by SIG/.test(lines[lines.length - 1]!);
}

const GIT_STATES = ["index.lock", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "REBASE_HEAD", "SQUASH_MSG",
  "rebase-apply", "rebase-merge"];

/** The main checkout: clean, on main, in no git operation. */
function assertCheckoutClean(repo: string, about: string): void {
  const gitDir = path.join(repo, ".git");
  const left = GIT_STATES.filter((name) => fs.existsSync(path.join(gitDir, name)));
  assert.equal(left, [], `git state left in the main checkout: ${about}`);
  assert.is(git(["status", "--porcelain"], repo), "", `the main checkout is dirty: ${about}`);
  assert.is(git(["symbolic-ref", "--short", "HEAD"], repo), "main", about);
}

/**
 * The main checkout after a land, merge or apply was cut: clean, or, killed -9 while git fast-forwarded it, with
 * that step recorded for the next land, merge or apply to finish (checked by the caller). True when clean.
 */
function checkoutCleanOrRecorded(repo: string, cut: Cut): boolean {
  const clean = GIT_STATES.every((name) => !fs.existsSync(path.join(repo, ".git", name))) &&
    git(["status", "--porcelain"], repo) === "";
  if (clean) return true;
  assert.is(cut.signal, "SIGKILL", `the checkout is dirty: ${cut.about}`);
  assert.ok(fs.existsSync(path.join(repo, ".git", "orch-fast-forward.json")), `dirty, and not recorded: ${cut.about}`);
  return false;
}

/** The next merge of `branch` after a cut: it finishes what the cut left, and merges what is not merged yet. */
function mergeAfter(world: World, branch: string, cut: Cut, clean: boolean): void {
  const r = orch(["merge", branch, "--local"], { cwd: world.repo, env: world.env, timeout: 90_000 });
  assert.ok(r.code === 0 || /already merged/.test(r.stderr), `merge after ${cut.about}: ${r.stderr}`);
  if (!clean) assert.match(r.stderr, /killed while git fast-forwarded/, `merge after ${cut.about}`);
  assertCheckoutClean(world.repo, cut.about);
}

/** main is `before`, or `before` with all of `files` (each with its text): never a part. */
function assertWholeOrNothing(repo: string, before: string, files: Record<string, string>, about: string): boolean {
  const now = git(["rev-parse", "main"], repo);
  if (now === before) return false;
  assert.ok(gitOk(["merge-base", "--is-ancestor", before, now], repo), `main was rewritten: ${about}`);
  for (const [file, text] of Object.entries(files)) {
    const there = gitOk(["cat-file", "-e", `main:${file}`], repo);
    assert.ok(there, `main moved without ${file} (a part of the landing): ${about}`);
    assert.is(git(["show", `main:${file}`], repo), text.trim(), about);
  }
  return true;
}

interface StatusRow {
  worker_id: string;
  branch: string;
  status: string;
  worktree_path: string;
  agent_alive: boolean;
  window_alive: boolean;
}

function status(world: World, about: string): { rows: StatusRow[]; stderr: string } {
  const r = orch(["status", "--json"], { cwd: world.repo, env: world.env, timeout: 60_000 });
  assert.is(r.code, 0, `status after ${about}: ${r.stderr}`);
  return { rows: r.json.workers as StatusRow[], stderr: r.stderr };
}

/** The worktrees git knows beside the main checkout. */
function worktrees(repo: string): string[] {
  return git(["worktree", "list", "--porcelain"], repo).split("\n")
    .filter((line) => line.startsWith("worktree ")).map((line) => line.slice(9)).filter((wt) => wt !== repo);
}

/** The tmux windows of the world's server named `name`. */
function windowsNamed(env: Env, name: string): string[] {
  try {
    return tmux(["list-windows", "-a", "-F", "#{window_name}"], env).split("\n").filter((w) => w === name);
  } catch {
    return []; // no server
  }
}

/**
 * Every worktree and branch orch made is known: to status as a worker, or named in its warning of an interrupted
 * spawn, or a throw-away worktree (land's, apply's) that the next land, merge, clean or apply removes.
 */
function assertKnown(world: World, branch: string, about: string): void {
  const { rows, stderr } = status(world, about);
  for (const wt of worktrees(world.repo)) {
    if (/orch-scratch-/.test(wt)) continue;
    const known = rows.some((row) => row.worktree_path === wt) || stderr.includes(wt);
    assert.ok(known, `worktree ${wt} is known to no one: ${about}\nstatus said: ${stderr}`);
  }
  if (gitOk(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], world.repo)) {
    const known = rows.some((row) => row.branch === branch) || stderr.includes(branch);
    assert.ok(known, `branch ${branch} is known to no one: ${about}\nstatus said: ${stderr}`);
  }
}

/**
 * Removes worker `branch` (or what an interrupted spawn left of it) the documented way, in one step, and checks
 * it gone: worktree, branch, record, journal, window, processes; no lock held, no throw-away worktree.
 */
async function removeAndCheck(world: World, branch: string, about: string, rnd: () => number): Promise<void> {
  const { rows } = status(world, about);
  const row = rows.find((w) => w.branch === branch);
  const workerId = row?.worker_id ?? branch.replaceAll("/", "-");
  const started = Date.now();
  if (row) {
    const r = orch(["rm", workerId, "--force", "--yes", "--delete-branch"], { cwd: world.repo, env: world.env, timeout: 90_000 });
    assert.is(r.code, 0, `rm after ${about}: ${r.stderr}`);
  } else if (gitOk(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], world.repo) ||
    worktrees(world.repo).some((wt) => path.basename(wt) === workerId)) {
    const how = ["rm", "clean", "spawn"][Math.floor(rnd() * 3)]!;
    const args = how === "rm" ? ["rm", branch, "--yes"] : how === "clean" ? ["clean", "--yes"]
      : ["spawn", branch, "--no-window"];
    const r = orch(args, { cwd: world.repo, env: world.env, timeout: 90_000 });
    assert.is(r.code, 0, `${how} after ${about}: ${r.stderr}`);
    assert.match(r.stdout + r.stderr, /interrupted spawn/, `${how} after ${about} says what it repaired`);
    if (how === "spawn") {
      const again = orch(["rm", workerId, "--force", "--yes", "--delete-branch"], { cwd: world.repo, env: world.env });
      assert.is(again.code, 0, `rm after ${about}: ${again.stderr}`);
    }
  }
  // A lock a killed command left is taken over at once: no wait for its holder.
  assert.ok(Date.now() - started < 30_000, `the removal waited ${Date.now() - started} ms: ${about}`);
  const cleaned = orch(["clean", "--yes"], { cwd: world.repo, env: world.env, timeout: 90_000 });
  assert.is(cleaned.code, 0, `clean after ${about}: ${cleaned.stderr}`);
  assert.equal(worktrees(world.repo), [], `worktrees left after the removal: ${about}`);
  assert.not.ok(gitOk(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], world.repo), `branch left: ${about}`);
  const sessionDir = path.join(world.repo, ".orch", "sessions", world.id);
  // A folder half-removed or half-made by a killed command goes with the next removal once a minute old.
  const records = fs.readdirSync(path.join(sessionDir, "workers")).filter((name) => {
    const pid = Number(/\.(?:new|removed)-(\d+)(?:-\d+)?$/.exec(name)?.[1]);
    return !(pid > 0 && !fs.existsSync(`/proc/${pid}`));
  });
  assert.equal(records, [], `worker records left: ${about}`);
  const journal = path.join(sessionDir, "spawning");
  assert.equal(fs.existsSync(journal) ? fs.readdirSync(journal) : [], [], `spawn journal left: ${about}`);
  assert.equal(windowsNamed(world.env, workerId), [], `window left: ${about}`);
  for (const deadline = Date.now() + 10_000; workerProcesses(world.id, workerId).length > 0;) {
    if (Date.now() > deadline) assert.unreachable(`processes of ${workerId} left: ${workerProcesses(world.id, workerId)}: ${about}`);
    await sleep(50);
  }
  assertCheckoutClean(world.repo, about);
}

/** A finished worker of `branch` with `commits` commits of one new file each; those files and their text. */
function doneWorker(world: World, branch: string, commits: number, window = false): Record<string, string> {
  const args = ["spawn", branch, "--json", ...(window ? ["--agent", sleepingAgent()] : ["--no-window"])];
  const spawned = orch(args, { cwd: world.repo, env: world.env });
  assert.is(spawned.code, 0, spawned.stderr);
  const wt = spawned.json.worktree_path as string;
  const files: Record<string, string> = {};
  for (let i = 0; i < commits; i++) {
    const file = `${branch.replaceAll("/", "-")}-${i}.txt`;
    files[file] = `${branch} ${i}\n`;
    commitFiles(wt, { [file]: files[file]! }, `${branch} ${i}`);
  }
  const told = orch(["notify", "--type", "task_complete", "--summary", branch], { cwd: wt, env: world.env });
  assert.is(told.code, 0, told.stderr);
  return files;
}

interface Case {
  name: string;
  /** About how long the command runs on this machine: the signal comes 0 to this many ms after its start. */
  spanMs: number;
  needsTmux?: boolean;
  needsHosts?: boolean;
  round(world: World, branch: string, signal: Signal, delay: number, rnd: () => number): Promise<void>;
}

let hosts: SshWorld | undefined;
const hostSkip = sshSkipReason();

const CASES: Case[] = [
  {
    name: "spawn --no-window",
    spanMs: 400,
    async round(world, branch, signal, delay, rnd) {
      const about = `spawn ${branch} --no-window`;
      const cut = await interrupt(["spawn", branch, "--no-window"], world.repo, world.env, signal, delay, about);
      assertExit(cut);
      assertCheckoutClean(world.repo, cut.about);
      if (saidInterrupted(cut)) {
        // Undone: nothing of it is left.
        assert.equal(worktrees(world.repo), [], `an interrupted spawn left its worktree: ${cut.about}`);
        assert.not.ok(gitOk(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], world.repo), cut.about);
      }
      assertKnown(world, branch, cut.about);
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "spawn with a window",
    spanMs: 700,
    needsTmux: true,
    async round(world, branch, signal, delay, rnd) {
      const about = `spawn ${branch} with a window`;
      const args = ["spawn", branch, "--agent", sleepingAgent()];
      const cut = await interrupt(args, world.repo, world.env, signal, delay, about);
      assertExit(cut);
      assertCheckoutClean(world.repo, cut.about);
      if (saidInterrupted(cut)) {
        assert.equal(worktrees(world.repo), [], `an interrupted spawn left its worktree: ${cut.about}`);
        for (const deadline = Date.now() + 10_000; windowsNamed(world.env, branch).length > 0;) {
          if (Date.now() > deadline) assert.unreachable(`an interrupted spawn left its window: ${cut.about}`);
          await sleep(50);
        }
      }
      assertKnown(world, branch, cut.about);
      // A window or agent left runs for a worker status knows.
      const { rows } = status(world, cut.about);
      if (windowsNamed(world.env, branch).length > 0) {
        assert.ok(rows.some((row) => row.branch === branch), `a window without a worker: ${cut.about}`);
      }
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "spawn --host",
    spanMs: 2500,
    needsHosts: true,
    async round(world, branch, signal, delay, rnd) {
      const about = `spawn ${branch} --host alpha --no-window`;
      const args = ["spawn", branch, "--host", "alpha", "--no-window"];
      const cut = await interrupt(args, world.repo, world.env, signal, delay, about);
      assertExit(cut);
      assertCheckoutClean(world.repo, cut.about);
      const { rows } = status(world, cut.about);
      const row = rows.find((w) => w.branch === branch);
      if (row) {
        const r = orch(["rm", row.worker_id, "--force", "--yes", "--delete-branch"], { cwd: world.repo, env: world.env });
        assert.is(r.code, 0, `rm after ${cut.about}: ${r.stderr}`);
      }
      // The host's side: the next spawn of the branch there succeeds, whatever the cut left.
      const again = orch(["spawn", branch, "--host", "alpha", "--no-window", "--json"], { cwd: world.repo, env: world.env });
      assert.is(again.code, 0, `the next spawn after ${cut.about}: ${again.stderr}`);
      const r = orch(["rm", again.json.worker_id, "--force", "--yes", "--delete-branch"], { cwd: world.repo, env: world.env });
      assert.is(r.code, 0, `rm after ${cut.about}: ${r.stderr}`);
      void rnd;
      assert.equal(status(world, cut.about).rows, [], cut.about);
    },
  },
  {
    name: "land --test",
    spanMs: 1500,
    async round(world, branch, signal, delay, rnd) {
      const files = doneWorker(world, branch, 2);
      const before = git(["rev-parse", "main"], world.repo);
      const about = `land ${branch} --test`;
      const cut = await interrupt(["land", branch, "--test", "sleep 0.3"], world.repo, world.env, signal, delay, about);
      assertExit(cut);
      const clean = checkoutCleanOrRecorded(world.repo, cut);
      const landed = assertWholeOrNothing(world.repo, before, files, cut.about);
      if (cut.result.code === 0) assert.ok(landed, `exit 0 but nothing landed: ${cut.about}`);
      if (saidInterrupted(cut)) assert.not.ok(landed, `landed, yet said interrupted: ${cut.about}`);
      assertKnown(world, branch, cut.about);
      mergeAfter(world, branch, cut, clean);
      assert.ok(assertWholeOrNothing(world.repo, before, files, cut.about), cut.about);
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "apply",
    spanMs: 700,
    async round(world, branch, signal, delay, rnd) {
      const files = doneWorker(world, branch, 3);
      const before = git(["rev-parse", "main"], world.repo);
      const about = `apply ${branch}`;
      const cut = await interrupt(["apply", branch], world.repo, world.env, signal, delay, about);
      assertExit(cut);
      const clean = checkoutCleanOrRecorded(world.repo, cut);
      const applied = assertWholeOrNothing(world.repo, before, files, cut.about);
      if (cut.result.code === 0) assert.ok(applied, `exit 0 but nothing applied: ${cut.about}`);
      if (saidInterrupted(cut)) assert.not.ok(applied, `applied, yet said interrupted: ${cut.about}`);
      // Applied again (after an interruption), it is whole once: the changes are here or come now.
      const again = orch(["apply", branch], { cwd: world.repo, env: world.env });
      assert.ok([0, 1].includes(again.code), `apply again after ${cut.about}: ${again.stderr}`);
      if (again.code === 1) assert.match(again.stderr, /already here|was already applied/, `apply again after ${cut.about}`);
      if (!clean) assert.match(again.stderr, /killed while git fast-forwarded/, `apply again after ${cut.about}`);
      assertCheckoutClean(world.repo, cut.about);
      assert.ok(assertWholeOrNothing(world.repo, before, files, cut.about), cut.about);
      assertKnown(world, branch, cut.about);
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "merge --local",
    spanMs: 700,
    async round(world, branch, signal, delay, rnd) {
      const files = doneWorker(world, branch, 2);
      const before = git(["rev-parse", "main"], world.repo);
      const about = `merge ${branch} --local`;
      const cut = await interrupt(["merge", branch, "--local"], world.repo, world.env, signal, delay, about);
      assertExit(cut);
      const clean = checkoutCleanOrRecorded(world.repo, cut);
      const merged = assertWholeOrNothing(world.repo, before, files, cut.about);
      if (cut.result.code === 0) assert.ok(merged, `exit 0 but nothing merged: ${cut.about}`);
      if (saidInterrupted(cut)) assert.not.ok(merged, `merged, yet said interrupted: ${cut.about}`);
      assertKnown(world, branch, cut.about);
      mergeAfter(world, branch, cut, clean);
      assert.ok(assertWholeOrNothing(world.repo, before, files, cut.about), cut.about);
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "sync",
    spanMs: 700,
    async round(world, branch, signal, delay, rnd) {
      const files = doneWorker(world, branch, 2);
      const wt = status(world, branch).rows.find((w) => w.branch === branch)!.worktree_path;
      commitFiles(world.repo, { [`base-${branch}.txt`]: "base\n" }, `base for ${branch}`);
      const about = `sync ${branch}`;
      const cut = await interrupt(["sync", branch], world.repo, world.env, signal, delay, about);
      assertExit(cut);
      assertCheckoutClean(world.repo, cut.about);
      // The worktree's git is never left mid-rebase after the next sync, which finishes or puts back a cut one.
      const next = orch(["sync", branch], { cwd: world.repo, env: world.env, timeout: 90_000 });
      assert.is(next.code, 0, `the next sync after ${cut.about}: ${next.stderr}`);
      const gitDir = git(["rev-parse", "--absolute-git-dir"], wt);
      const left = GIT_STATES.filter((name) => fs.existsSync(path.join(gitDir, name)));
      assert.equal(left, [], `git state left in the worktree: ${cut.about}`);
      assert.is(git(["status", "--porcelain"], wt), "", `the worktree is dirty: ${cut.about}`);
      assert.ok(gitOk(["merge-base", "--is-ancestor", "main", "HEAD"], wt), `not on the base after the next sync: ${cut.about}`);
      for (const [file, text] of Object.entries(files)) assert.is(fs.readFileSync(path.join(wt, file), "utf8"), text, cut.about);
      assertKnown(world, branch, cut.about);
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "rm",
    spanMs: 600,
    needsTmux: true,
    async round(world, branch, signal, delay, rnd) {
      doneWorker(world, branch, 1, true);
      const about = `rm ${branch} --force --delete-branch`;
      const args = ["rm", branch, "--force", "--yes", "--delete-branch"];
      const cut = await interrupt(args, world.repo, world.env, signal, delay, about);
      assertExit(cut);
      assertCheckoutClean(world.repo, cut.about);
      assertKnown(world, branch, cut.about);
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "clean",
    spanMs: 900,
    needsTmux: true,
    async round(world, branch, signal, delay, rnd) {
      const others = [`${branch}-b`, `${branch}-c`];
      for (const b of [branch, ...others]) {
        doneWorker(world, b, 1, true);
        git(["merge", "-q", "--no-edit", b], world.repo);
      }
      const about = `clean (${branch} and two more)`;
      const cut = await interrupt(["clean", "--yes"], world.repo, world.env, signal, delay, about);
      assertExit(cut);
      assertCheckoutClean(world.repo, cut.about);
      for (const b of [branch, ...others]) assertKnown(world, b, cut.about);
      for (const b of others) {
        const { rows } = status(world, cut.about);
        const row = rows.find((w) => w.branch === b);
        if (row) {
          const r = orch(["rm", row.worker_id, "--force", "--yes", "--delete-branch"], { cwd: world.repo, env: world.env });
          assert.is(r.code, 0, `rm after ${cut.about}: ${r.stderr}`);
        }
        assert.equal(windowsNamed(world.env, b), [], `window of ${b} left: ${cut.about}`);
      }
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "stop, then resume",
    spanMs: 800,
    needsTmux: true,
    async round(world, branch, signal, delay, rnd) {
      doneWorker(world, branch, 1, true);
      const workerId = branch.replaceAll("/", "-");
      const stopCut = await interrupt(["stop", workerId], world.repo, world.env, signal, delay, `stop ${branch}`);
      assertExit(stopCut);
      assertKnown(world, branch, stopCut.about);
      // A worker said stopped has no agent; whatever the cut left, the next stop stops it.
      const stopped = orch(["stop", workerId], { cwd: world.repo, env: world.env, timeout: 60_000 });
      assert.is(stopped.code, 0, `the next stop after ${stopCut.about}: ${stopped.stderr}`);
      const row = () => status(world, stopCut.about).rows.find((w) => w.branch === branch)!;
      assert.is(row().status, "stopped", stopCut.about);
      assert.equal(workerProcesses(world.id, workerId), [], `an agent of a stopped worker: ${stopCut.about}`);
      const resumeDelay = Math.floor(rnd() * 800);
      const resumeSignal = SIGNALS[Math.floor(rnd() * SIGNALS.length)]!;
      const cut = await interrupt(["resume", workerId], world.repo, world.env, resumeSignal, resumeDelay, `resume ${branch}`);
      assertExit(cut);
      assertKnown(world, branch, cut.about);
      // At most one agent; the next resume (or the cut one) leaves exactly one running.
      const again = orch(["resume", workerId], { cwd: world.repo, env: world.env, timeout: 60_000 });
      assert.ok([0, 1].includes(again.code), `the next resume after ${cut.about}: ${again.stderr}`);
      if (again.code === 1) assert.match(again.stderr, /is running|already runs|still runs|running/, `the next resume after ${cut.about}`);
      for (const deadline = Date.now() + 20_000; !(row().agent_alive);) {
        if (Date.now() > deadline) assert.unreachable(`no agent after the next resume: ${cut.about}`);
        await sleep(100);
      }
      assert.is(windowsNamed(world.env, workerId).length, 1, `one window: ${cut.about}`);
      const agents = workerProcesses(world.id, workerId).filter((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep");
        } catch {
          return false;
        }
      });
      assert.is(agents.length, 1, `agents running: ${agents.length}: ${cut.about}`);
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "notify",
    spanMs: 150,
    async round(world, branch, signal, delay, rnd) {
      const spawned = orch(["spawn", branch, "--no-window", "--json"], { cwd: world.repo, env: world.env });
      assert.is(spawned.code, 0, spawned.stderr);
      const about = `notify from ${branch}`;
      const args = ["notify", "--type", "progress", "--summary", `from ${branch}`];
      const cut = await interrupt(args, spawned.json.worktree_path, world.env, signal, delay, about);
      assertExit(cut);
      const r = orch(["poll", "--json"], { cwd: world.repo, env: world.env });
      assert.is(r.code, 0, r.stderr);
      const mine = (r.json.messages as { worker_id: string }[]).filter((m) => m.worker_id === spawned.json.worker_id);
      // Delivered once, or not at all; a notify that said it delivered did.
      assert.ok(mine.length <= 1, `${mine.length} messages: ${cut.about}`);
      if (cut.result.code === 0) assert.is(mine.length, 1, `exit 0, no message: ${cut.about}`);
      if (saidInterrupted(cut)) assert.is(mine.length, 0, `said interrupted, yet delivered: ${cut.about}`);
      await removeAndCheck(world, branch, cut.about, rnd);
    },
  },
  {
    name: "host add",
    spanMs: 2500,
    needsHosts: true,
    async round(world, branch, signal, delay, rnd) {
      void rnd;
      const alias = hosts!.hosts[0]!.alias;
      const name = `h${branch.replace(/[^a-z0-9]/g, "")}`;
      const about = `host add ${name}`;
      const cut = await interrupt(["host", "add", name, alias, "--path", `fuzz/${name}`], world.repo, world.env, signal, delay, about);
      assertExit(cut);
      assertCheckoutClean(world.repo, cut.about);
      // Listed or not; added again, it is there and works.
      const again = orch(["host", "add", name, alias, "--path", `fuzz/${name}`], { cwd: world.repo, env: world.env });
      assert.is(again.code, 0, `host add again after ${cut.about}: ${again.stderr}`);
      const listed = orch(["host", "list", "--json"], { cwd: world.repo, env: world.env });
      assert.is(listed.code, 0, `host list after ${cut.about}: ${listed.stderr}`);
      const removed = orch(["host", "rm", name, "--force"], { cwd: world.repo, env: world.env });
      assert.is(removed.code, 0, `host rm after ${cut.about}: ${removed.stderr}`);
    },
  },
];

for (const [index, fuzzCase] of CASES.entries()) {
  if (ONLY && !ONLY.some((only) => fuzzCase.name.startsWith(only))) continue;
  test(`interrupted at random: ${fuzzCase.name} (${ROUNDS} rounds, seed ${SEED})`, async () => {
    if (fuzzCase.needsHosts && hostSkip) return console.log(`SKIP: ${hostSkip}`);
    const { repo, id } = sessionRepo();
    const env: Env = { ...privateTmux() };
    const world: World = { repo, id, env };
    if (fuzzCase.needsHosts) {
      hosts ??= await startSshWorld(1);
      Object.assign(env, hosts.env);
      const added = orch(["host", "add", "alpha", hosts.hosts[0]!.alias, "--path", `fuzz/${id}`], { cwd: repo, env });
      assert.is(added.code, 0, added.stderr);
    }
    const rnd = seeded(SEED + index);
    for (let round = 0; round < ROUNDS; round++) {
      const signal = SIGNALS[Math.floor(rnd() * SIGNALS.length)]!;
      const delay = Math.floor(rnd() * fuzzCase.spanMs);
      await fuzzCase.round(world, `f${round}`, signal, delay, rnd);
    }
    if (fuzzCase.needsTmux) spawnKillServer(env);
  });
}

function spawnKillServer(env: Env): void {
  try {
    tmux(["kill-server"], env);
  } catch {
    // none was started
  }
}

test.after(async () => {
  await hosts?.close();
});

test.run();
