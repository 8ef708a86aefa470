// orch sync under races, kills and signals, with real processes: many syncs (and land --sync) of one worker
// at once, a sync killed with -9 during or after its git rebase, a sync interrupted by SIGINT or SIGTERM.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  baseEnv, commitFiles, git, gitStandIn, incompressibleMiB, orch, orchAsync, orchCommand, sessionRepo, smallDisk, startTime,
  tempDir, waitUntil, workerOnDisk, FAKETIME_LIBRARY,
} from "./helpers.ts";

interface Told {
  message_type: string;
  content: { base_commit: string; synced?: boolean };
}

const read = (dir: string, name: string) =>
  fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), "utf8") : "";

function spawnWorker(repo: string, branch: string): string {
  const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  return r.json.worktree_path as string;
}

/** What the worker was told (and marks it read), as [type, base commit, synced]. */
function toldOf(wt: string): [string, string, boolean][] {
  const r = orch(["inbox", "--json"], { cwd: wt });
  assert.is(r.code, 0, r.stderr);
  return (r.json.messages as Told[]).map((m) => [m.message_type, m.content.base_commit, m.content.synced === true]);
}

/** Workers with one commit of their own each, and main moved on by hand: each is one behind. */
function behindOne(...branches: string[]): { repo: string; wt: string; tip: string; wts: string[] } {
  const { repo } = sessionRepo();
  const wts = branches.map((branch) => {
    const wt = spawnWorker(repo, branch);
    commitFiles(wt, { [`${branch}.txt`]: "mine\n" }, `${branch} work`);
    return wt;
  });
  const tip = commitFiles(repo, { "main.txt": "moved\n" }, "main moves");
  return { repo, wt: wts[0]!, tip, wts };
}

/** The worker's branch holds `tip` and its own one commit on top, once. */
function onTipOnce(repo: string, branch: string, tip: string): void {
  assert.is(git(["merge-base", tip, branch], repo), tip, `${branch} is on ${tip}`);
  assert.is(git(["rev-list", "--count", `${tip}..${branch}`], repo), "1", "its one commit, replayed once");
}

test("six syncs of one worker at once: one rebases and tells it, the others skip it; told once", async () => {
  const { repo, wt, tip } = behindOne("busy");
  // Each rebase waits a little before git starts: every sync reaches its rebase while the others do.
  const env = gitStandIn(['case " $* " in *" rebase --quiet "*) sleep 0.4 ;; esac']);
  const runs = await Promise.all(Array.from({ length: 6 }, () => orchAsync(["sync", "busy", "--json"], { cwd: repo, env }).done));
  for (const r of runs) assert.is(r.code, 0, r.stderr);
  const synced = runs.filter((r) => r.json.synced.includes("busy"));
  assert.is(synced.length, 1, `one sync rebased it: ${runs.map((r) => r.stdout).join("")}`);
  for (const r of runs.filter((x) => !x.json.synced.includes("busy"))) {
    const why = [...r.json.skipped.map((s: { reason: string }) => s.reason), ...r.json.up_to_date];
    assert.ok(
      why.includes("it is being synced by another orch command") || why.includes("busy"),
      `skipped as being synced, or found current: ${r.stdout}`,
    );
  }
  onTipOnce(repo, "busy", tip);
  assert.is(git(["status", "--porcelain"], wt), "", "its worktree is clean, no rebase left in it");
  assert.equal(toldOf(wt), [["base_moved", tip, true]], "told once that it was synced");
});

test("a sync of a worker told of the move already: its message says it was synced, not that 0 commits moved", () => {
  const { repo, wt, tip } = behindOne("told");
  assert.is(orch(["poll"], { cwd: repo }).code, 0);
  assert.equal(toldOf(wt), [["base_moved", tip, false]], "poll told it of the move");
  const r = orch(["sync", "told", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.synced, ["told"]);
  const inbox = orch(["inbox", "--json"], { cwd: wt });
  const [message] = inbox.json.messages as { content: { summary: string; text: string; synced?: boolean } }[];
  assert.ok(message?.content.synced, inbox.stdout);
  assert.is(message!.content.summary, `your branch was synced onto main (${tip.slice(0, 12)})`);
  assert.not.match(message!.content.text, /0 commits|moved from/);
  assert.match(message!.content.text, /as you were told before/);
});

function processGroupRuns(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The worker's base commit as orch records it (status). */
function recordedBase(repo: string, id: string): string {
  const r = orch(["status", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  return (r.json.workers as { worker_id: string; base_commit: string }[]).find((w) => w.worker_id === id)!.base_commit;
}

/** The worker's record as its file has it (no command looks first: status would finish a killed sync's part). */
function recordFile(repo: string, id: string): { base_commit: string; base_tip?: string } {
  const sessions = path.join(repo, ".orch", "sessions");
  const session = fs.readdirSync(sessions).find((name) => name.startsWith("orch_"))!;
  return JSON.parse(fs.readFileSync(path.join(sessions, session, "workers", id, "worker.json"), "utf8"));
}

/** A git whose rebase runs to its end, then kills orch: dead before it records the new base or tells the worker. */
const killedAfterRebase = () =>
  gitStandIn(['case " $* " in *" rebase --quiet "*) "$real" "$@"; code=$?; kill -9 "$orch"; exit $code ;; esac']);

/**
 * Waits until the killed sync's git (the stand-in above, which outlives orch a moment) has ended, as it has
 * been reaped: until then a command takes it for a sync's git that still runs, and leaves the worker to it.
 */
async function killedSyncsGitEnded(wt: string): Promise<void> {
  const note = path.join(git(["rev-parse", "--absolute-git-dir"], wt), "orch-sync.json");
  const gitPid = JSON.parse(fs.readFileSync(note, "utf8")).git_pid as number;
  await waitUntil(() => !processGroupRuns(gitPid), 20_000, "the killed sync's git to end");
}

test("a sync killed with -9 after git rebased the worker: the next sync records the new base and tells it, once", async () => {
  const { repo, wt, tip } = behindOne("cut");
  const before = recordedBase(repo, "cut");
  assert.equal(toldOf(wt), [["base_moved", tip, false]], "status noticed the move and told it");
  const killed = orch(["sync", "cut", "--json"], { cwd: repo, env: killedAfterRebase() });
  assert.is(killed.code, -1, "killed by SIGKILL");
  onTipOnce(repo, "cut", tip);
  assert.is(recordFile(repo, "cut").base_commit, before, "not recorded before it died");
  assert.equal(toldOf(wt), [], "not told before it died");
  await killedSyncsGitEnded(wt);
  const again = orch(["sync", "cut", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.equal(again.json.synced, ["cut"], again.stdout);
  assert.is(recordedBase(repo, "cut"), tip, "its base is the tip it was rebased onto");
  assert.equal(toldOf(wt), [["base_moved", tip, true]], "told once that it was synced");
  const third = orch(["sync", "cut", "--json"], { cwd: repo });
  assert.equal([third.json.synced, third.json.up_to_date], [[], ["cut"]], third.stdout);
  assert.equal(toldOf(wt), [], "not told again");
});

/**
 * Two idle workers with no commits of their own, main moved on, and `later` waiting for `cut` to land:
 * `whole` synced by a sync that finished, `cut` fast-forwarded by one killed after its git, before it
 * recorded the new base. Each command below is the first to look after that kill.
 */
async function syncedTwoWays(): Promise<{ repo: string; tip: string; wtCut: string }> {
  const { repo } = sessionRepo();
  spawnWorker(repo, "whole");
  const wtCut = spawnWorker(repo, "cut");
  const later = orch(["spawn", "later", "--after", "cut", "--no-window", "--json"], { cwd: repo });
  assert.is(later.code, 0, later.stderr);
  const tip = commitFiles(repo, { "main.txt": "moved\n" }, "main moves");
  const synced = orch(["sync", "whole", "--json"], { cwd: repo });
  assert.equal(synced.json.synced, ["whole"], synced.stdout);
  const killed = orch(["sync", "cut", "--json"], { cwd: repo, env: killedAfterRebase() });
  assert.is(killed.code, -1, "killed by SIGKILL");
  assert.is(git(["rev-parse", "cut"], repo), tip, "git fast-forwarded it");
  assert.is.not(recordFile(repo, "cut").base_commit, tip, "killed before it recorded the new base");
  await killedSyncsGitEnded(wtCut);
  return { repo, tip, wtCut };
}

/** The killed sync's part is done: its new base recorded, the worker told once; the next sync finds it current. */
function finishedAfterKill(repo: string, wtCut: string, tip: string): void {
  assert.equal([recordFile(repo, "cut").base_commit, recordFile(repo, "cut").base_tip], [tip, tip]);
  // The first sync's check told it of the move (it was not that sync's to sync); then that it was synced.
  assert.equal(toldOf(wtCut), [["base_moved", tip, false], ["base_moved", tip, true]]);
  const again = orch(["sync", "cut", "--json"], { cwd: repo });
  assert.equal([again.json.synced, again.json.up_to_date], [[], ["cut"]], again.stdout);
  assert.equal(toldOf(wtCut), [], "not told again");
}

/** `later` (spawn --after cut) has not started: cut, synced onto main with no commits, has not landed. */
function laterStillWaits(repo: string): void {
  const r = orch(["status", "--json"], { cwd: repo });
  const later = (r.json.workers as { worker_id: string; status: string }[]).find((w) => w.worker_id === "later");
  assert.is(later?.status, "pending", r.stdout);
}

test("a sync killed -9 after git, before its record: diff counts from the new base, not main's commits", async () => {
  const { repo, tip, wtCut } = await syncedTwoWays();
  const [whole, cut] = ["whole", "cut"].map((id) => orch(["diff", id, "--json"], { cwd: repo }));
  assert.is(cut.code, 0, cut.stderr);
  const shown = (r: { json: Record<string, unknown> }) => {
    const { base_commit: base, commits, files, diff } = r.json;
    return [base, commits, files, diff];
  };
  assert.equal(shown(cut), [tip, [], [], ""], "main's commit is not shown as the worker's");
  assert.equal(shown(cut), shown(whole), "as after a sync that finished");
  finishedAfterKill(repo, wtCut, tip);
});

test("a sync killed -9 after git, before its record: apply finds nothing of the worker's to apply", async () => {
  const { repo, tip, wtCut } = await syncedTwoWays();
  const [whole, cut] = ["whole", "cut"].map((id) => orch(["apply", id, "--dry-run", "--json"], { cwd: repo }));
  assert.is(cut.json.error?.code, "refused", cut.stdout);
  const nothing = `worker cut has no commits since its base ${tip.slice(0, 12)}: nothing to apply`;
  assert.equal(cut.json.error.message, nothing);
  assert.equal([whole.code, whole.json.error.message.replace("whole", "cut")], [cut.code, cut.json.error.message]);
  finishedAfterKill(repo, wtCut, tip);
});

test("a sync killed -9 after git, before its record: status shows the new base, not landed; later waits", async () => {
  const { repo, tip, wtCut } = await syncedTwoWays();
  const r = orch(["status", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  const workers = r.json.workers as Record<string, unknown>[];
  const fields = (id: string) => {
    const w = workers.find((x) => x.worker_id === id)!;
    return [w.base_commit, w.ahead, w.behind, w.merges_cleanly, w.landed ?? false];
  };
  assert.equal(fields("cut"), [tip, 0, 0, true, false], r.stdout);
  assert.equal(fields("cut"), fields("whole"), "as after a sync that finished");
  laterStillWaits(repo);
  finishedAfterKill(repo, wtCut, tip);
});

test("a sync killed -9 after git, then main moves: poll's check does not take the worker for landed", async () => {
  const { repo, tip, wtCut } = await syncedTwoWays();
  const next = commitFiles(repo, { "next.txt": "on\n" }, "main moves on");
  const r = orch(["poll", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(recordFile(repo, "cut").base_commit, tip, "poll's check finished the killed sync's part first");
  laterStillWaits(repo);
  const told = [["base_moved", tip, false], ["base_moved", tip, true], ["base_moved", next, false]];
  assert.equal(toldOf(wtCut), told, "told it was synced, then that main moved on");
});

test("a worker with commits, its sync killed -9 after git: status counts it from the new base, +1 -0", async () => {
  const { repo, wt, tip } = behindOne("cut");
  const killed = orch(["sync", "cut", "--json"], { cwd: repo, env: killedAfterRebase() });
  assert.is(killed.code, -1, "killed by SIGKILL");
  await killedSyncsGitEnded(wt);
  const r = orch(["status", "--json"], { cwd: repo });
  const cut = (r.json.workers as Record<string, unknown>[]).find((w) => w.worker_id === "cut")!;
  assert.equal([cut.base_commit, cut.ahead, cut.behind, cut.landed ?? false], [tip, 1, 0, false], r.stdout);
  assert.match(r.stderr, `cut: a sync killed after its git rebase onto ${tip.slice(0, 12)} is finished`);
  assert.equal(toldOf(wt), [["base_moved", tip, true]], "told once that it was synced");
  const marker = path.join(git(["rev-parse", "--absolute-git-dir"], wt), "orch-worker.json");
  assert.is(JSON.parse(fs.readFileSync(marker, "utf8")).base_commit, tip, "its worktree's marker too");
  const again = orch(["sync", "cut", "--json"], { cwd: repo });
  assert.equal([again.json.synced, again.json.up_to_date], [[], ["cut"]], again.stdout);
});

test("a sync killed with -9 in the middle of its git rebase: the next sync puts the rebase back and syncs the worker", async () => {
  const { repo, wt, tip } = behindOne("mid");
  assert.equal(toldOf(wt), []);
  // git stops its rebase after replaying the worker's commit (an --exec step that fails), and orch dies then.
  const stopMidway = 'shift; exec "$real" rebase --exec "kill -9 $orch; exit 1" "$@"';
  const env = gitStandIn([`case " $* " in " rebase --quiet "*) ${stopMidway} ;; esac`]);
  const killed = orch(["sync", "mid", "--json"], { cwd: repo, env });
  assert.is(killed.code, -1, "killed by SIGKILL");
  const gitDir = git(["rev-parse", "--git-dir"], wt);
  // git ends its rebase a moment after orch died: a sync meanwhile would find it running and leave it.
  const gitPid = JSON.parse(fs.readFileSync(path.join(gitDir, "orch-sync.json"), "utf8")).git_pid as number;
  await waitUntil(() => !processGroupRuns(gitPid), 10_000, "the killed sync's git to end");
  assert.ok(fs.existsSync(path.join(gitDir, "rebase-merge")), "a rebase is left in progress");
  const again = orch(["sync", "mid", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, "mid: the git rebase of a sync that was killed was left in progress: undone (git rebase --abort)");
  assert.equal(again.json.synced, ["mid"], again.stdout);
  onTipOnce(repo, "mid", tip);
  assert.is(git(["rev-parse", "--abbrev-ref", "HEAD"], wt), "mid", "its branch is checked out again");
  assert.is(git(["status", "--porcelain"], wt), "", "nothing left in progress or uncommitted");
  assert.equal(toldOf(wt), [["base_moved", tip, true]], "told once that it was synced");
});

test("a killed sync's git left a zombie (nothing reaps it): the next sync does not take it for a running git", async () => {
  if (!fs.existsSync("/proc/self/stat")) return console.log("SKIP: no /proc to tell a zombie by");
  const { repo, wt, tip } = behindOne("reaped");
  // A group of its own whose one process has ended, never reaped: its parent (sleep) waits for no child. It
  // ends once its parent is sleep: one that ended before was reaped by sh now and then (no zombie to read).
  const script = "setsid sh -c 'until [ \"$(cat /proc/$PPID/comm)\" = sleep ]; do :; done' & echo $!; exec sleep 60";
  const parent = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "ignore"] });
  try {
    const zombie = await new Promise<number>((resolve) => parent.stdout!.once("data", (d) => resolve(Number(`${d}`))));
    const state = () => fs.readFileSync(`/proc/${zombie}/stat`, "utf8").split(") ")[1]![0];
    await waitUntil(() => state() === "Z", 10_000, "a zombie");
    const note = { pid: 2 ** 22 + 1, start_time: null, tip, method: "rebase", git_pid: zombie };
    const gitDir = git(["rev-parse", "--absolute-git-dir"], wt);
    fs.writeFileSync(path.join(gitDir, "orch-sync.json"), JSON.stringify(note));
    const r = orch(["sync", "reaped", "--json"], { cwd: repo });
    assert.equal(r.json.synced, ["reaped"], r.stdout);
    onTipOnce(repo, "reaped", tip);
  } finally {
    parent.kill("SIGKILL");
  }
});

test("a rebase in progress that no sync left (the agent's own) is not touched: skipped, said why", () => {
  const { repo, wt, tip } = behindOne("own");
  commitFiles(wt, { "main.txt": "the worker's own\n" }, "conflicts with main");
  assert.equal(spawnSync("git", ["rebase", "main"], { cwd: wt, env: baseEnv() }).status, 1, "the agent's rebase stops");
  const head = git(["rev-parse", "HEAD"], wt);
  const r = orch(["sync", "own", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.skipped.map((x: { reason: string }) => x.reason), ["a rebase is in progress in its worktree"]);
  assert.is(git(["rev-parse", "HEAD"], wt), head, "its rebase is where the agent left it");
  assert.ok(fs.existsSync(path.join(git(["rev-parse", "--git-dir"], wt), "rebase-merge")));
  assert.is.not(git(["merge-base", tip, "own"], repo), tip, "not synced");
});

test("an orch-sync.json naming no rebase or merge (damaged, or not orch's) runs nothing: the agent's rebase stays", () => {
  const { repo, wt } = behindOne("noted");
  commitFiles(wt, { "main.txt": "the worker's own\n" }, "conflicts with main");
  assert.equal(spawnSync("git", ["rebase", "main"], { cwd: wt, env: baseEnv() }).status, 1, "the agent's rebase stops");
  const gitDir = git(["rev-parse", "--absolute-git-dir"], wt);
  const onto = fs.readFileSync(path.join(gitDir, "rebase-merge", "onto"), "utf8").trim();
  // A dead sync's note, but of a method no sync uses: nothing of it is run as git <method> --abort.
  const note = { pid: 2 ** 22 + 1, start_time: null, tip: onto, method: "am" };
  fs.writeFileSync(path.join(gitDir, "orch-sync.json"), JSON.stringify(note));
  // What a merge onto that tip would leave: before the check, enough for sync to run `git am --abort` here.
  fs.writeFileSync(path.join(gitDir, "MERGE_HEAD"), `${onto}\n`);
  const r = orch(["sync", "noted", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /undone/);
  assert.is(r.json.skipped.length, 1, "skipped, as any worktree in the middle of a git operation");
  assert.match(r.json.skipped[0].reason, /^a (merge|rebase) is in progress in its worktree$/);
  assert.ok(fs.existsSync(path.join(gitDir, "rebase-merge")), "the agent's rebase is where it left it");
  assert.not.ok(fs.existsSync(path.join(gitDir, "orch-sync.json")), "the note is gone");
});

/** A git whose first rebase waits for a signal to reach orch (it says so in `started`) before it runs. */
function slowFirstRebase(): { env: Record<string, string>; started: string } {
  const started = path.join(tempDir("orch-started-"), "started");
  const waitFirst = `mkdir ${JSON.stringify(started)} 2>/dev/null && sleep 1`;
  return { env: gitStandIn([`case " $* " in " rebase --quiet "*) ${waitFirst} ;; esac`]), started };
}

test("a worker landed while a sync rebases another: the sync keeps the landing noted, so clean removes it later", async () => {
  const { repo, wt, tip } = behindOne("slow");
  const current = spawnWorker(repo, "current"); // from main as it is now: up to date for the sync
  commitFiles(current, { "shared.txt": "the worker's line\n" }, "current's work");
  const go = path.join(tempDir("orch-go-"), "go");
  const started = path.join(path.dirname(go), "started");
  const held = `mkdir ${JSON.stringify(started)} 2>/dev/null; while [ ! -e ${JSON.stringify(go)} ]; do sleep 0.05; done`;
  const env = gitStandIn([`case " $* " in " rebase --quiet "*) ${held} ;; esac`]);
  const sync = orchAsync(["sync", "slow", "current", "--json"], { cwd: repo, env });
  await waitUntil(() => fs.existsSync(started), 20_000, "the sync's rebase of the first worker");
  const landed = orch(["land", "current", "--test", "true", "--json"], { cwd: repo });
  assert.is(landed.code, 0, landed.stderr);
  fs.writeFileSync(go, "");
  const r = await sync.done;
  assert.is(r.code, 0, r.stderr);
  onTipOnce(repo, "slow", tip);
  // Later work on main rewrites the landed line: only orch's note of the landing says current is in.
  commitFiles(repo, { "shared.txt": "main's line now\n" }, "main rewrites it");
  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(cleaned.code, 0, cleaned.stdout);
  assert.ok(cleaned.json.removed.some((w: { worker_id: string }) => w.worker_id === "current"), cleaned.stdout);
  assert.ok(fs.existsSync(wt), "the synced worker, not landed, is kept");
});

test("Ctrl-C of a sync while git rebases a worker: that rebase ends and its worker is told, the next is left; exit 130", async () => {
  const { repo, wt, tip, wts } = behindOne("first", "second");
  const second = wts[1]!;
  const { env, started } = slowFirstRebase();
  const sync = orchAsync(["sync", "first", "second"], { cwd: repo, env, ownGroup: true });
  await waitUntil(() => fs.existsSync(started), 20_000, "the first rebase to start");
  process.kill(-sync.child.pid!, "SIGINT"); // as a terminal's Ctrl-C: to orch and every process of its group
  const r = await sync.done;
  assert.is(r.code, 130, r.stderr);
  const said = "orch: interrupted by SIGINT: synced first; the other workers were left as they were";
  assert.is(r.stderr.trim().split("\n").pop(), said);
  onTipOnce(repo, "first", tip);
  assert.is(git(["rev-parse", "HEAD"], wt), git(["rev-parse", "first"], repo), "its rebase finished: on its branch");
  assert.equal(toldOf(wt), [["base_moved", tip, true]], "told once that it was synced");
  assert.is.not(git(["merge-base", tip, "second"], repo), tip, "the second was left as it was");
  assert.is(git(["status", "--porcelain"], second), "");
  const again = orch(["sync", "--json"], { cwd: repo });
  assert.equal([again.json.synced, again.json.up_to_date], [["second"], ["first"]], again.stdout);
});

test("SIGTERM to a sync at its last worker: the worker is synced and told, and sync exits 143, not 0", async () => {
  const { repo, wt, tip } = behindOne("last");
  const { env, started } = slowFirstRebase();
  const sync = orchAsync(["sync", "last", "--json"], { cwd: repo, env, ownGroup: true });
  await waitUntil(() => fs.existsSync(started), 20_000, "the rebase to start");
  process.kill(sync.child.pid!, "SIGTERM");
  const r = await sync.done;
  assert.is(r.code, 143, r.stderr);
  assert.equal([r.json.success, r.json.error.code], [false, "interrupted"], r.stdout);
  onTipOnce(repo, "last", tip);
  assert.equal(toldOf(wt), [["base_moved", tip, true]], "told once that it was synced");
  const again = orch(["sync", "--json"], { cwd: repo });
  assert.equal([again.json.synced, again.json.up_to_date], [[], ["last"]], again.stdout);
});

test("land --sync and four syncs of the next worker at once: each lands as tested, nobody is told a move twice", async () => {
  const { repo, wts } = behindOne("one", "two");
  for (const wt of wts) assert.is(orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: wt }).code, 0);
  for (const wt of wts) toldOf(wt);
  const tested = path.join(tempDir("orch-tested-"), "tested");
  const test = `git rev-parse HEAD >> ${JSON.stringify(tested)}`;
  const env = gitStandIn(['case " $* " in *" rebase --quiet "*) sleep 0.2 ;; esac']);
  const land = orchAsync(["land", "--sync", "--test", test, "--json"], { cwd: repo, env }).done;
  const syncs = Array.from({ length: 4 }, () => orchAsync(["sync", "two", "--json"], { cwd: repo, env }).done);
  const [landed, ...synced] = await Promise.all([land, ...syncs]);
  assert.is(landed.code, 0, landed.stderr);
  for (const r of synced) assert.is(r.code, 0, r.stderr);
  const results = landed.json.results as { worker_id: string; status: string; commit: string }[];
  assert.equal(results.map((x) => x.status), ["landed", "landed"], landed.stdout);
  const testedCommits = fs.readFileSync(tested, "utf8").trim().split("\n");
  for (const x of results) assert.ok(testedCommits.includes(x.commit), `${x.worker_id} landed as tested`);
  assert.is(git(["rev-parse", "main"], repo), results[1]!.commit, "main is the last tested commit");
  const told = toldOf(wts[1]!);
  const moves = told.map(([, base, synced]) => `${base} ${synced}`);
  assert.equal(moves, [...new Set(moves)], `no move told twice the same way: ${JSON.stringify(told)}`);
  const syncedOnto = told.filter(([, , synced]) => synced).map(([, base]) => base);
  assert.equal(syncedOnto, [...new Set(syncedOnto)], "told once per base it was synced onto");
});

test("an rm of another worker while sync tells it of the move: the sync goes on, and no folder of it is made again", () => {
  const { repo, tip } = behindOne("stays", "goes");
  // The rm runs as the sync's coherence check weighs the workers' standings (after it listed them, before it
  // tells them), once: the rm's own git calls pass through.
  const once = path.join(tempDir("orch-once-"), "done");
  const rm = `(cd '${repo}' && ${orchCommand()[0]} rm goes --force) >&2`;
  const env = gitStandIn([`[ "$1" = merge-tree ] && [ ! -e ${once} ] && touch ${once} && ${rm}`]);
  const r = orch(["sync", "stays", "--json"], { cwd: repo, env });
  assert.ok(fs.existsSync(once), "the rm ran");
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.synced, ["stays"], r.stdout);
  onTipOnce(repo, "stays", tip);
  const workers = path.join(repo, ".orch", "sessions", r.json.orchestrator_id, "workers");
  assert.equal(fs.readdirSync(workers), ["stays"], "nothing of the removed worker was made again (its told/)");
  const again = orch(["spawn", "goes", "--no-window", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
});

test("rm of a worker that sync is rebasing waits for the sync; a sync after an rm's claim skips the worker", async () => {
  const { repo, tip } = behindOne("busy");
  // As the sync starts its rebase, an rm of the worker starts and is given up to 3 s to end before the rebase
  // runs (one that did not wait for the sync removed the worktree under it).
  const out = tempDir("orch-rm-");
  const rm = `${orchCommand()[0]} rm busy --force --json > ${out}/rm.json 2> ${out}/rm.err`;
  const env = gitStandIn([`case " $* " in *" rebase --quiet "*) if [ ! -e ${out}/started ]; then touch ${out}/started`,
    `  (cd '${repo}' && ${rm}; touch ${out}/done) < /dev/null > /dev/null 2>&1 &`,
    `  i=0; while [ ! -e ${out}/done ] && [ $i -lt 150 ]; do sleep 0.02; i=$((i+1)); done; fi ;; esac`]);
  const r = orch(["sync", "busy", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.synced, ["busy"], r.stdout);
  onTipOnce(repo, "busy", tip);
  await waitUntil(() => fs.existsSync(path.join(out, "done")), 60_000, "the rm to end");
  assert.is(JSON.parse(fs.readFileSync(path.join(out, "rm.json"), "utf8")).removed, true, read(out, "rm.err"));
  const workers = path.join(repo, ".orch", "sessions", r.json.orchestrator_id, "workers");
  assert.equal(fs.readdirSync(workers), [], "removed once the sync was done, nothing made again");
  assert.not.match(git(["worktree", "list"], repo), /busy/);

  // An rm that holds its claim (here: this test) first: the sync leaves the worker to it.
  const wt = spawnWorker(repo, "held");
  commitFiles(wt, { "held.txt": "mine\n" }, "held work");
  commitFiles(repo, { "main.txt": "moved again\n" }, "main moves again");
  const claim = path.join(workers, "held", "removing");
  fs.writeFileSync(claim, JSON.stringify({ pid: process.pid, start_time: startTime(process.pid) }));
  const skipped = orch(["sync", "held", "--json"], { cwd: repo });
  assert.is(skipped.code, 0, skipped.stderr);
  assert.equal(skipped.json.skipped, [{ worker_id: "held", reason: "it is being removed by another orch command" }]);
  assert.equal(skipped.json.synced, []);
});

test("an rm that gave up waiting for a sync leaves the sync its claim: a second sync still waits its turn", () => {
  const { repo } = behindOne("long");
  const [session] = fs.readdirSync(path.join(repo, ".orch", "sessions"));
  const workers = path.join(repo, ".orch", "sessions", session!, "workers");
  // A sync that runs on (here: this test holds its claim) past the minute rm waits for it.
  const claim = path.join(workers, "long", "syncing");
  const held = JSON.stringify({ pid: process.pid, start_time: startTime(process.pid) });
  fs.writeFileSync(claim, held);
  // Its clock sixty times as fast where libfaketime is installed: the minute rm waits takes a second.
  const fast = FAKETIME_LIBRARY ? { LD_PRELOAD: FAKETIME_LIBRARY, FAKETIME: "+0 x60" } : {};
  const r = orch(["rm", "long", "--force", "--json"], { cwd: repo, env: fast });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.error.message, "worker long is being synced by another orch command");
  assert.is(read(path.join(workers, "long"), "syncing"), held, "the sync's claim is still the sync's");
  assert.not.ok(fs.existsSync(path.join(workers, "long", "removing")), "the rm's own claim was given back");
  const second = orch(["sync", "long", "--json"], { cwd: repo });
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.json.skipped, [{ worker_id: "long", reason: "it is being synced by another orch command" }]);
});

test("a sync on a disk that fills while git checks the new base out: the worker's worktree is left as it was", () => {
  const disk = smallDisk("4m");
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  try {
    const { repo, env, wt } = workerOnDisk(disk, "feat/w");
    commitFiles(wt, { "w.txt": "the worker's\n" }, "worker");
    // The new base brings a file too big for the room left: git runs out while it checks it out.
    const big = incompressibleMiB();
    commitFiles(repo, { "big.bin": big }, "main moves");
    const filler = disk.fill(256);
    const r = orch(["sync", "feat/w", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.json.synced, []);
    assert.match(r.json.skipped[0].reason, /git rebase failed: .*big\.bin/);
    assert.not.match(r.json.skipped[0].reason, /could not put back/);
    fs.rmSync(filler);
    assert.is(git(["status", "--porcelain"], wt), "", "the worker's files as it committed them, nothing of the base");
    assert.is(fs.readFileSync(path.join(wt, "w.txt"), "utf8"), "the worker's\n");
    const again = orch(["sync", "feat/w", "--json"], { cwd: repo, env });
    assert.is(again.code, 0, again.stderr);
    assert.equal(again.json.synced, ["feat-w"]);
    assert.equal(fs.readFileSync(path.join(wt, "big.bin")), big);
  } finally {
    disk.unmount();
  }
});

test("a disk with room for sync's record of its rebase but not for the record of git's pid: the worker is skipped " +
  "with git's reason, its worktree as it was, instead of sync failing with ENOSPC and leaving git unwatched; with " +
  "no room for the first record, skipped with a line that says so", () => {
  const disk = smallDisk("4m");
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  try {
    const { repo, env, wt } = workerOnDisk(disk, "feat/w");
    commitFiles(wt, { "w.txt": "the worker's\n" }, "worker");
    commitFiles(repo, { "m.txt": "main's\n" }, "main moves");
    // One page: sync's first record of its rebase (orch-sync.json) takes it; the one that adds git's pid, written
    // beside it before the rename, finds none, as when git's checkout of a large file fills the disk first.
    const filler = disk.fill(8);
    const r = orch(["sync", "feat/w", "--json"], { cwd: repo, env });
    fs.rmSync(filler);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stderr, /ENOSPC/);
    assert.is(git(["status", "--porcelain"], wt), "", "the worker's worktree as it was, or synced");
    assert.not.ok(fs.existsSync(path.join(repo, ".git", "worktrees", "feat-w", "orch-sync.json")), "no record left");
    // Where the kernel's tmpfs counts its pages as Linux 6 on x86-64 does, git runs out too (checked: skipped here).
    if (r.json.synced.length === 0) {
      assert.match(r.json.skipped[0].reason, /git rebase failed/);
      const again = orch(["sync", "feat/w", "--json"], { cwd: repo, env });
      assert.is(again.code, 0, again.stderr);
      assert.equal(again.json.synced, ["feat-w"]);
    }
    assert.is(fs.readFileSync(path.join(wt, "m.txt"), "utf8"), "main's\n", "on the new base once there is room");

    // No room even for that record (one tmpfs page left, which git's merge-tree before it still fits in): nothing runs,
    // the worker is skipped with a line that says why.
    commitFiles(repo, { "n.txt": "main's again\n" }, "main moves again");
    const full = disk.fill(4);
    const none = orch(["sync", "feat/w", "--json"], { cwd: repo, env });
    fs.rmSync(full);
    assert.is(none.code, 0, none.stderr);
    assert.equal(none.json.synced, []);
    assert.match(none.json.skipped[0].reason, /^cannot record the sync in .*orch-sync\.json: no space left on device$/);
    assert.is(git(["status", "--porcelain"], wt), "");
    assert.not.ok(fs.existsSync(path.join(wt, "n.txt")), "nothing of the new base");
  } finally {
    disk.unmount();
  }
});

test("an agent that edits its file after sync looked (git refuses to check out over it): its edit stays", () => {
  const { repo, wt } = behindOne("feat/busy");
  // git runs pre-rebase after sync found the worktree clean and before it checks the new base out: the
  // agent's write lands there, as it may at any time while the agent works.
  const hooks = path.join(repo, ".git", "hooks");
  const edit = `#!/bin/sh\necho "the agent's edit" >> feat/busy.txt\n`;
  fs.writeFileSync(path.join(hooks, "pre-rebase"), edit, { mode: 0o755 });
  const r = orch(["sync", "feat/busy", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.synced, []);
  assert.match(r.json.skipped[0].reason, /would be overwritten/);
  assert.is(fs.readFileSync(path.join(wt, "feat/busy.txt"), "utf8"), "mine\nthe agent's edit\n");
});

test("sync's rebase keeps the worker's git notes on its replayed commits; a user's own notes.rewriteRef decides", () => {
  const { repo, wt, tip } = behindOne("feat/noted");
  git(["notes", "add", "-m", "why this commit"], wt);
  git(["notes", "--ref", "review", "add", "-m", "looked at"], wt);
  const r = orch(["sync", "--json"], { cwd: repo });
  assert.equal([r.code, r.json.synced], [0, ["feat-noted"]], r.stderr);
  onTipOnce(repo, "feat/noted", tip);
  assert.is(git(["notes", "show", "feat/noted"], wt), "why this commit");
  assert.is(git(["notes", "--ref", "review", "show", "feat/noted"], wt), "looked at");
  git(["config", "notes.rewriteRef", "refs/notes/commits"], repo);
  commitFiles(repo, { "main.txt": "moved again\n" }, "main moves again");
  assert.equal(orch(["sync", "--json"], { cwd: repo }).json.synced, ["feat-noted"]);
  assert.is(git(["notes", "show", "feat/noted"], wt), "why this commit");
  assert.is(spawnSync("git", ["notes", "--ref", "review", "show", "feat/noted"], { cwd: wt }).status, 1);
});

test.run();
