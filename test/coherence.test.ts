// Keeping parallel work coherent, on real repositories and worktrees: base_moved told once per move,
// orch sync (rebase, merge, a conflict left untouched), land --on-conflict return and --sync, a base
// moved by a plain git commit noticed by the next orch command, and ahead/behind/merges_cleanly.

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  commitFiles, git, gitOk, gitStandIn, orch, orchAsync, privateTmux, sessionRepo, sleep, tempDir, waitUntil, writeFiles,
} from "./helpers.ts";

interface Inboxed {
  message_type: string;
  content: {
    summary: string;
    text: string;
    base_branch: string;
    base_commit: string;
    previous_base: string;
    commits: { sha: string; subject: string }[];
    files: string[];
    merges_cleanly: boolean;
    conflict_paths: string[];
    synced?: boolean;
    returned?: boolean;
  };
}

function spawnWorker(repo: string, branch: string): string {
  const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  return r.json.worktree_path as string;
}

async function finished(repo: string, branch: string, files: Record<string, string>): Promise<string> {
  const wt = spawnWorker(repo, branch);
  commitFiles(wt, files, `${branch} work`);
  assert.is(orch(["notify", "--type", "task_complete", "--summary", `${branch} done`], { cwd: wt }).code, 0);
  await sleep(5); // distinct finishing times: the queue goes in the order they finished
  return wt;
}

/** What the worker's agent would read with orch inbox (and marks it read). */
function inbox(wt: string): Inboxed[] {
  const r = orch(["inbox", "--json"], { cwd: wt });
  assert.is(r.code, 0, r.stderr);
  return r.json.messages as Inboxed[];
}

/** Every file of a worktree (not .git) with a hash of its bytes, plus HEAD and the branch tip. */
function fingerprint(wt: string, branch: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      if (name === ".git") continue;
      const p = path.join(dir, name);
      if (fs.statSync(p).isDirectory()) walk(p);
      else out.push(`${path.relative(wt, p)} ${crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`);
    }
  };
  walk(wt);
  out.push(
    `HEAD ${git(["rev-parse", "HEAD"], wt)}`,
    `branch ${git(["rev-parse", `refs/heads/${branch}`], wt)}`,
    `status ${git(["status", "--porcelain"], wt)}`,
  );
  return out;
}

function statusOf(repo: string, id: string, env?: Record<string, string | undefined>): Record<string, unknown> {
  const r = orch(["status", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return (r.json.workers as { worker_id: string }[]).find((w) => w.worker_id === id) as Record<string, unknown>;
}

test("land one of three: the clean one and the conflicting one are told exactly once, with the right paths; then sync", async () => {
  const { repo } = sessionRepo({ "shared.txt": "one\ntwo\nthree\n" });
  const a = await finished(repo, "feat/a", { "a.txt": "a\n", "shared.txt": "ONE\ntwo\nthree\n" });
  const b = spawnWorker(repo, "feat/b");
  commitFiles(b, { "b.txt": "b\n" }, "b work");
  const c = spawnWorker(repo, "feat/c");
  commitFiles(c, { "shared.txt": "uno\ntwo\nthree\n" }, "c work");

  const landed = orch(["land", "feat/a", "--json"], { cwd: repo });
  assert.is(landed.code, 0, landed.stderr);
  assert.equal(landed.json.told.sort(), ["feat-b", "feat-c"]);
  const tip = git(["rev-parse", "main"], repo);
  // More orch commands afterwards: nobody is told twice about the same move.
  for (const args of [["status"], ["list"], ["poll"], ["land", "feat/a"], ["send", "feat-a", "hello"]]) orch(args, { cwd: repo });

  const toB = inbox(b);
  assert.equal(toB.map((m) => m.message_type), ["base_moved"]);
  assert.is(toB[0]!.content.merges_cleanly, true);
  assert.equal(toB[0]!.content.conflict_paths, []);
  assert.is(toB[0]!.content.base_branch, "main");
  assert.is(toB[0]!.content.base_commit, tip);
  assert.equal(toB[0]!.content.files.sort(), ["a.txt", "shared.txt"]);
  assert.equal(toB[0]!.content.commits.map((x) => x.sha), [tip]);
  assert.match(toB[0]!.content.text, /still merges cleanly/);
  const toC = inbox(c);
  assert.equal(toC.map((m) => m.message_type), ["base_moved"]);
  assert.is(toC[0]!.content.merges_cleanly, false);
  assert.equal(toC[0]!.content.conflict_paths, ["shared.txt"]);
  assert.match(toC[0]!.content.text, /conflict with it in: shared\.txt/);
  assert.equal(inbox(a).map((m) => m.message_type), ["message"], "the landed worker is not told about its own landing");

  // Status: where each stands against main.
  const cStatus = statusOf(repo, "feat-c");
  assert.equal([cStatus.ahead, cStatus.behind, cStatus.merges_cleanly, cStatus.conflict_paths], [1, 1, false, ["shared.txt"]]);
  const bStatus = statusOf(repo, "feat-b");
  assert.equal([bStatus.ahead, bStatus.behind, bStatus.merges_cleanly], [1, 1, true]);
  assert.is(statusOf(repo, "feat-a").landed, true);

  // sync: the clean one is rebased, the conflicting one stays byte for byte as it was.
  const before = fingerprint(c, "feat/c");
  const synced = orch(["sync", "--json"], { cwd: repo });
  assert.is(synced.code, 0, synced.stderr);
  assert.equal(synced.json.synced, ["feat-b"]);
  assert.equal(synced.json.conflicted, [{ worker_id: "feat-c", conflict_paths: ["shared.txt"] }]);
  assert.equal(fingerprint(c, "feat/c"), before);
  assert.ok(gitOk(["merge-base", "--is-ancestor", tip, "refs/heads/feat/b"], repo), "feat/b now contains main");
  assert.equal(git(["log", "--format=%s", "-2", "refs/heads/feat/b"], repo).split("\n"), ["b work", "feat/a done"]);
  assert.is(git(["status", "--porcelain"], b), "");
  const after = statusOf(repo, "feat-b");
  assert.equal([after.ahead, after.behind, after.base_commit], [1, 0, tip]);
  const syncedNote = inbox(b);
  assert.equal(syncedNote.map((m) => [m.message_type, m.content.synced]), [["base_moved", true]]);
  assert.equal(inbox(c), [], "the conflicting one was already told about this move");
  // diff counts from the new base: only b's own commit.
  assert.match(orch(["diff", "feat/b", "--stat"], { cwd: repo }).stdout, /b\.txt/);
  assert.not.match(orch(["diff", "feat/b", "--stat"], { cwd: repo }).stdout, /a\.txt/);
});

test("sync leaves a rebase that stops midway undone, skips dirty worktrees, and --merge merges the base in", () => {
  const { repo } = sessionRepo({ "shared.txt": "one\ntwo\n" });
  const mid = spawnWorker(repo, "feat/mid");
  commitFiles(mid, { "shared.txt": "uno\ntwo\n" }, "try uno");
  commitFiles(mid, { "shared.txt": "one\ntwo\n", "mid.txt": "m\n" }, "back to one");
  const dirty = spawnWorker(repo, "feat/dirty");
  commitFiles(dirty, { "d.txt": "d\n" }, "d work");
  fs.writeFileSync(path.join(dirty, "d.txt"), "changed, not committed\n");
  const merged = spawnWorker(repo, "feat/merged");
  commitFiles(merged, { "m.txt": "m\n" }, "m work");
  commitFiles(repo, { "shared.txt": "ONE\ntwo\n" }, "main changes line one");

  const midBefore = fingerprint(mid, "feat/mid");
  const dirtyBefore = fingerprint(dirty, "feat/dirty");
  const skipped = orch(["sync", "feat-dirty", "--json"], { cwd: repo });
  assert.equal(skipped.json.skipped.map((s: { worker_id: string }) => s.worker_id), ["feat-dirty"], skipped.stderr);
  assert.match(skipped.json.skipped[0].reason, /uncommitted changes in d\.txt/);
  // Naming one worker still tells every worker whose base moved.
  assert.equal([...skipped.json.told].sort(), ["feat-dirty", "feat-merged", "feat-mid"]);
  assert.equal(fingerprint(dirty, "feat/dirty"), dirtyBefore);
  // merge-tree says the end result merges; the rebase still stops on the first commit.
  assert.is(statusOf(repo, "feat-mid").merges_cleanly, true);
  const rebased = orch(["sync", "feat/mid", "--json"], { cwd: repo });
  assert.is(rebased.code, 0, rebased.stderr);
  assert.equal(rebased.json.conflicted, [{ worker_id: "feat-mid", conflict_paths: ["shared.txt"] }]);
  assert.equal(fingerprint(mid, "feat/mid"), midBefore);
  assert.not.ok(fs.existsSync(path.join(git(["rev-parse", "--git-dir"], mid), "rebase-merge")));
  const told = inbox(mid);
  assert.equal(told.map((m) => m.content.merges_cleanly), [true, false], "told again: the rebase found a conflict");
  assert.match(told[1]!.content.text, /left your branch as it was: rebase stopped on conflicts/);
  assert.equal(told[1]!.content.conflict_paths, ["shared.txt"]);
  assert.match(inbox(dirty)[0]!.content.text, /uncommitted changes/);

  const viaMerge = orch(["sync", "feat/merged", "--merge", "--json"], { cwd: repo });
  assert.equal(viaMerge.json.synced, ["feat-merged"], viaMerge.stderr);
  assert.equal(git(["rev-list", "--parents", "-1", "refs/heads/feat/merged"], repo).split(" ").length, 3, "a merge commit");
  assert.is(orch(["sync", "--rebase", "--merge"], { cwd: repo }).code, 2);
  assert.is(orch(["sync", "nope"], { cwd: repo }).code, 1);
});

test("land --on-conflict return hands the conflict back, lands the rest, and the worker can land after fixing it", async () => {
  const { repo } = sessionRepo({ "shared.txt": "one\ntwo\n" });
  await finished(repo, "feat/first", { "shared.txt": "ONE\ntwo\n" });
  const second = await finished(repo, "feat/second", { "shared.txt": "uno\ntwo\n" });
  await finished(repo, "feat/third", { "third.txt": "3\n" });
  const r = orch(["land", "--on-conflict", "return", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.results.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]), [
    ["feat-first", "landed"],
    ["feat-second", "returned"],
    ["feat-third", "landed"],
  ]);
  assert.equal(r.json.returned, ["feat-second"]);
  assert.ok(fs.existsSync(path.join(repo, "third.txt")));
  assert.is(statusOf(repo, "feat-second").status, "running");
  const handedBack = inbox(second);
  const conflict = handedBack.find((m) => m.content.returned);
  assert.ok(conflict, JSON.stringify(handedBack));
  assert.equal(conflict!.content.conflict_paths, ["shared.txt"]);
  assert.is(conflict!.content.base_commit, r.json.results[0].commit);
  assert.match(conflict!.content.text, /git rebase main/);
  assert.match(conflict!.content.text, /orch notify --type task_complete/);

  // The worker fixes it the way the message says, reports again, and lands.
  assert.not.ok(gitOk(["rebase", "main"], second));
  fs.writeFileSync(path.join(second, "shared.txt"), "UNO\ntwo\n");
  git(["add", "shared.txt"], second);
  git(["-c", "core.editor=true", "rebase", "--continue"], second);
  orch(["notify", "--type", "task_complete", "--summary", "second fixed"], { cwd: second });
  const again = orch(["land", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  const landedAgain = again.json.results.filter((x: { status: string }) => x.status === "landed");
  assert.equal(landedAgain.map((x: { worker_id: string }) => x.worker_id), ["feat-second"]);
  assert.is(fs.readFileSync(path.join(repo, "shared.txt"), "utf8"), "UNO\ntwo\n");

  // The default stays stop.
  assert.is(orch(["land", "--on-conflict", "later"], { cwd: repo }).code, 2);
});

test("two lands at once with --on-conflict return hand a conflict back once; a named land again does not repeat it", async () => {
  const { repo } = sessionRepo({ "shared.txt": "one\ntwo\n" });
  await finished(repo, "feat/first", { "shared.txt": "ONE\ntwo\n" });
  const second = await finished(repo, "feat/second", { "shared.txt": "uno\ntwo\n" });
  // The second land starts while the first holds the lock (its test runs), and takes the lock after it.
  const args = ["land", "--on-conflict", "return", "--test", "sleep 1", "--json"];
  const first = orchAsync(args, { cwd: repo });
  await waitUntil(() => fs.existsSync(path.join(repo, ".orch", "checkout.lock")), 30_000, "the first land's lock");
  const [r1, r2] = await Promise.all([first.done, orchAsync(args, { cwd: repo }).done]);
  assert.equal([r1.code, r2.code], [0, 0], r1.stderr + r2.stderr);
  const outcome = (r: { json: { results: { worker_id: string; status: string }[] } }) => r.json.results.map((x) => x.status);
  assert.equal(outcome(r1), ["landed", "returned"]);
  // The second land read the queue while the first ran its test; on a machine slow enough to start it after the
  // first land ended, the second worker was handed back (running) before it read the queue. Either way it
  // lands nothing and hands nothing back.
  type Result = { worker_id: string; status: string; reason: string };
  const seen = (r2.json.results as Result[]).map((x) => [x.worker_id, x.status, x.reason]);
  const late = [["feat-first", "skipped", "already in main"]];
  const during = [...late, ["feat-second", "skipped", "it is running now"]];
  assert.ok([during, late].some((expected) => JSON.stringify(seen) === JSON.stringify(expected)), r2.stdout);
  assert.equal(inbox(second).filter((m) => m.content.returned).length, 1);
  // Named, the same conflict (same base tip, same branch tip) is not handed back a second time.
  const named = orch(["land", "feat-second", "--on-conflict", "return", "--json"], { cwd: repo });
  assert.is(named.json.results[0].status, "returned", named.stderr);
  assert.match(named.json.results[0].reason, /handed back to the worker already/);
  assert.equal(inbox(second), []);
});

test("land --sync rebases the rest of the queue onto each new base before landing it", async () => {
  const { repo } = sessionRepo();
  await finished(repo, "feat/one", { "one.txt": "1\n" });
  await finished(repo, "feat/two", { "two.txt": "2\n" });
  const r = orch(["land", "--sync", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.results.map((x: { status: string }) => x.status), ["landed", "landed"]);
  assert.equal(r.json.synced, ["feat-two"]);
  const rebased = gitOk(["merge-base", "--is-ancestor", r.json.results[0].commit, "refs/heads/feat/two"], repo);
  assert.ok(rebased, "feat/two was rebased onto the first landing");
});

test("a base moved by a plain git commit is noticed by the next orch command (poll), and told once", () => {
  const { repo } = sessionRepo({ "notes.txt": "n\n" });
  const wt = spawnWorker(repo, "feat/watch");
  commitFiles(wt, { "notes.txt": "mine\n" }, "edit notes");
  const moved = commitFiles(repo, { "notes.txt": "theirs\n" }, "a commit by hand");
  const polled = orch(["poll", "--json"], { cwd: repo });
  assert.is(polled.code, 0, polled.stderr);
  orch(["status"], { cwd: repo });
  orch(["poll"], { cwd: repo });
  const told = inbox(wt);
  assert.equal(told.map((m) => [m.message_type, m.content.base_commit, m.content.merges_cleanly]), [["base_moved", moved, false]]);
  assert.equal(told[0]!.content.commits.map((x) => x.subject), ["a commit by hand"]);
  assert.equal(told[0]!.content.conflict_paths, ["notes.txt"]);
  // The next move is told again, with only what is new.
  const next = commitFiles(repo, { "other.txt": "o\n" }, "second commit by hand");
  orch(["list"], { cwd: repo });
  const second = inbox(wt);
  assert.equal(second.map((m) => [m.content.previous_base, m.content.base_commit]), [[moved, next]]);
});

test("a sync killed before it told its worker leaves the move for the next orch command, which tells it once", () => {
  const { repo } = sessionRepo({ "notes.txt": "n\n" });
  const wt = spawnWorker(repo, "feat/killed");
  commitFiles(wt, { "mine.txt": "m\n" }, "my work");
  const moved = commitFiles(repo, { "theirs.txt": "t\n" }, "a commit by hand");
  // A git that takes orch down with it (SIGKILL: no cleanup runs) when sync starts the rebase.
  const env = gitStandIn(['for a in "$@"; do [ "$a" = rebase ] && kill -9 "$orch" && exit 1; done']);
  const killed = orch(["sync", "feat/killed", "--json"], { cwd: repo, env });
  assert.is.not(killed.code, 0, "sync was killed");
  assert.is(git(["rev-parse", "HEAD"], wt), git(["rev-parse", "feat/killed"], wt));
  assert.equal(inbox(wt), [], "not told before it died");
  assert.is(orch(["poll", "--json"], { cwd: repo }).code, 0);
  orch(["status"], { cwd: repo });
  const told = inbox(wt);
  assert.equal(told.map((m) => [m.message_type, m.content.base_commit, m.content.merges_cleanly]), [["base_moved", moved, true]]);
});

test("sync leaves a worker whose agent is in a turn alone, and syncs it once the agent is done", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = path.join(tempDir("orch-agent-"), "agent.sh");
  fs.writeFileSync(agent, ["#!/bin/sh", "exec sleep 300", ""].join("\n"), { mode: 0o755 });
  const spawned = orch(["spawn", "feat/busy", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const wt = spawned.json.worktree_path as string;
  commitFiles(wt, { "busy.txt": "b\n" }, "busy work");
  commitFiles(repo, { "main.txt": "m\n" }, "main moves");
  await waitUntil(() => statusOf(repo, "feat-busy", env).alive === true, 20_000, "the agent to run");
  const busy = orch(["sync", "--json"], { cwd: repo, env });
  const inATurn = { worker_id: "feat-busy", reason: "its agent is in a turn (sync it when it is idle or done)" };
  assert.equal(busy.json.skipped, [inATurn], busy.stderr);
  assert.is(git(["rev-list", "--count", "main..refs/heads/feat/busy"], repo), "1", "left as it was");
  orch(["notify", "--type", "task_complete", "--summary", "busy done"], { cwd: wt, env });
  const done = orch(["sync", "--json"], { cwd: repo, env });
  assert.equal(done.json.synced, ["feat-busy"], done.stderr);
  assert.ok(gitOk(["merge-base", "--is-ancestor", "main", "refs/heads/feat/busy"], repo));
});

test("sync leaves alone a worker with ignored files where the base brings tracked ones, or another branch checked out", () => {
  const { repo } = sessionRepo();
  const ignoring = spawnWorker(repo, "feat/ignoring");
  commitFiles(ignoring, { ".gitignore": ".env\nbuild/\n", "w.txt": "w\n" }, "ignore .env and build/");
  writeFiles(ignoring, { ".env": "SECRET=worker\n", "build/out.bin": "worker build\n" });
  const elsewhere = spawnWorker(repo, "feat/elsewhere");
  commitFiles(elsewhere, { "e.txt": "e\n" }, "e work");
  git(["checkout", "-q", "-b", "experiment"], elsewhere);
  writeFiles(repo, { ".env": "SECRET=base\n", "build/out.bin": "base build\n" });
  git(["add", "-f", ".env", "build/out.bin"], repo);
  git(["commit", "-q", "-m", "main tracks .env and build/out.bin"], repo);

  const before = { ignoring: fingerprint(ignoring, "feat/ignoring"), elsewhere: fingerprint(elsewhere, "feat/elsewhere") };
  for (const method of ["--rebase", "--merge"]) {
    const r = orch(["sync", method, "--json"], { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.json.synced, [], `${method}: nothing synced`);
    const reasons = Object.fromEntries(r.json.skipped.map((x: { worker_id: string; reason: string }) => [x.worker_id, x.reason]));
    assert.match(reasons["feat-ignoring"], /untracked or ignored files where main brings tracked ones: \.env, build\/out\.bin/);
    assert.match(reasons["feat-elsewhere"], /its worktree has branch experiment checked out, not feat\/elsewhere/);
  }
  assert.is(fs.readFileSync(path.join(ignoring, ".env"), "utf8"), "SECRET=worker\n");
  assert.is(fs.readFileSync(path.join(ignoring, "build/out.bin"), "utf8"), "worker build\n");
  assert.equal(fingerprint(ignoring, "feat/ignoring"), before.ignoring);
  assert.equal(fingerprint(elsewhere, "feat/elsewhere"), before.elsewhere);
  assert.is(statusOf(repo, "feat-elsewhere").behind, 1, "its branch is still behind, as status says");
  git(["checkout", "-q", "--detach"], elsewhere);
  assert.match(orch(["sync", "feat-elsewhere", "--json"], { cwd: repo }).json.skipped[0].reason, /a detached HEAD checked out/);
});

test("sync --merge with the user's merge.ff=only merges the base in instead of reporting a conflict", () => {
  const { repo } = sessionRepo();
  const wt = spawnWorker(repo, "feat/ffonly");
  commitFiles(wt, { "w.txt": "w\n" }, "w work");
  commitFiles(repo, { "b.txt": "b\n" }, "main moves");
  git(["config", "merge.ff", "only"], repo);
  const r = orch(["sync", "--merge", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.conflicted, [], r.stderr);
  assert.equal(r.json.synced, ["feat-ffonly"]);
  assert.ok(gitOk(["merge-base", "--is-ancestor", "main", "refs/heads/feat/ffonly"], repo));
  assert.is(inbox(wt).at(-1)!.content.synced, true);
});

test("sync refused by git (a failing pre-rebase hook, a held index.lock) is no conflict: skipped with git's word", () => {
  const { repo } = sessionRepo();
  const hooked = spawnWorker(repo, "feat/hooked");
  commitFiles(hooked, { "h.txt": "h\n" }, "h work");
  const locked = spawnWorker(repo, "feat/locked");
  commitFiles(locked, { "l.txt": "l\n" }, "l work");
  commitFiles(repo, { "b.txt": "b\n" }, "main moves");
  const hooks = tempDir("orch-hooks-");
  fs.writeFileSync(path.join(hooks, "pre-rebase"), "#!/bin/sh\necho no rebasing here >&2\nexit 1\n", { mode: 0o755 });
  git(["config", "core.hooksPath", hooks], repo);
  const lock = path.join(git(["rev-parse", "--absolute-git-dir"], locked), "index.lock");
  fs.writeFileSync(lock, "");
  const before = { hooked: fingerprint(hooked, "feat/hooked"), locked: fingerprint(locked, "feat/locked") };
  const r = orch(["sync", "feat/hooked", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.conflicted, []);
  assert.equal(r.json.skipped.map((x: { worker_id: string }) => x.worker_id), ["feat-hooked"]);
  assert.match(r.json.skipped[0].reason, /git rebase failed: .*pre-rebase hook refused/);
  const told = inbox(hooked);
  assert.is(told.length, 1);
  assert.is(told[0]!.content.merges_cleanly, true, "told the truth: it still merges cleanly");
  assert.match(told[0]!.content.text, /left your branch as it was: git rebase failed/);
  git(["config", "--unset", "core.hooksPath"], repo);
  const viaMerge = orch(["sync", "feat/locked", "--merge", "--json"], { cwd: repo });
  assert.equal(viaMerge.json.conflicted, [], viaMerge.stderr);
  assert.match(viaMerge.json.skipped[0].reason, /its index is locked \(index\.lock\)/);
  assert.equal(fingerprint(hooked, "feat/hooked"), before.hooked);
  fs.rmSync(lock);
  assert.equal(fingerprint(locked, "feat/locked"), before.locked);
  assert.not.ok(fs.existsSync(path.join(path.dirname(lock), "MERGE_HEAD")), "no merge left half done");
});

test("sync with commit.gpgsign and no key: skipped with git's cause (gpg), not 'could not apply'", () => {
  const { repo } = sessionRepo();
  const wt = spawnWorker(repo, "feat/signs");
  commitFiles(wt, { "s.txt": "s\n" }, "s work");
  commitFiles(repo, { "b.txt": "b\n" }, "main moves");
  git(["config", "gpg.program", "false"], repo); // signing with no key to sign with, whether gpg is installed or not
  git(["config", "commit.gpgsign", "true"], repo);
  const before = fingerprint(wt, "feat/signs");
  for (const method of ["--rebase", "--merge"]) {
    const r = orch(["sync", "feat/signs", method, "--json"], { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.json.conflicted, [], method);
    assert.match(r.json.skipped[0].reason, /^git (rebase|merge) failed: error: gpg failed to sign the data$/, method);
    assert.equal(fingerprint(wt, "feat/signs"), before, `${method}: the branch and worktree as they were`);
  }
});

test("a worker spawned while the main worktree had a detached HEAD: sync says it has no base branch, not 'gone'", () => {
  const { repo } = sessionRepo();
  git(["checkout", "-q", "--detach"], repo);
  const wt = spawnWorker(repo, "feat/headless");
  commitFiles(wt, { "h.txt": "h\n" }, "h work");
  git(["checkout", "-q", "main"], repo);
  commitFiles(repo, { "b.txt": "b\n" }, "main moves");
  const r = orch(["sync", "--all", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.skipped.map((x: { worker_id: string }) => x.worker_id), ["feat-headless"]);
  assert.match(r.json.skipped[0].reason, /no base branch \(the main worktree had a detached HEAD when it was spawned\)/);
  assert.not.match(r.json.skipped[0].reason, /does not exist/);
});

test("a file/directory conflict is named by its path in status, base_moved and land, not git's path~<commit>", async () => {
  const { repo } = sessionRepo({ "f.txt": "f\n", "g.txt": "g\n" });
  const dirHere = spawnWorker(repo, "feat/dir-here");
  const fileHere = spawnWorker(repo, "feat/file-here");
  git(["rm", "-q", "f.txt"], dirHere);
  commitFiles(dirHere, { "f.txt/in.txt": "in\n" }, "f.txt becomes a folder");
  commitFiles(fileHere, { "g.txt": "G\n" }, "g.txt edited");
  git(["rm", "-q", "g.txt"], repo);
  commitFiles(repo, { "f.txt": "F\n", "g.txt/in.txt": "in\n" }, "f.txt edited, g.txt becomes a folder");
  const r = orch(["status", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  const paths = (id: string) => r.json.workers.find((w: { worker_id: string }) => w.worker_id === id).conflict_paths;
  assert.equal([paths("feat-dir-here"), paths("feat-file-here")], [["f.txt"], ["g.txt"]]);
  assert.equal(inbox(dirHere).map((m) => m.content.conflict_paths), [["f.txt"]]);
  assert.equal(inbox(fileHere).map((m) => m.content.conflict_paths), [["g.txt"]]);
  for (const [wt, id, path] of [[dirHere, "feat-dir-here", "f.txt"], [fileHere, "feat-file-here", "g.txt"]]) {
    assert.is(orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: wt! }).code, 0);
    const land = orch(["land", id!, "--json"], { cwd: repo });
    assert.is(land.code, 1, land.stderr);
    assert.equal(land.json.results[0].conflict_paths, [path]);
  }
});

test("conflict paths: a file really named x~HEAD keeps its name; land --method rebase names the moved file's path",
  () => {
    const { repo } = sessionRepo({ "x~HEAD": "x\n", "g.txt": "g\n" });
    const wt = spawnWorker(repo, "feat/tilde");
    commitFiles(wt, { "x~HEAD": "worker\n", "g.txt": "G\n" }, "both edited");
    git(["rm", "-q", "g.txt"], repo);
    commitFiles(repo, { "x~HEAD": "main\n", "g.txt/in.txt": "in\n" }, "x~HEAD edited, g.txt becomes a folder");
    assert.is(orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: wt }).code, 0);
    for (const method of ["squash", "rebase"]) {
      const land = orch(["land", "feat-tilde", "--method", method, "--json"], { cwd: repo });
      assert.is(land.code, 1, land.stderr);
      assert.equal(land.json.results[0].conflict_paths.sort(), ["g.txt", "x~HEAD"], method);
    }
  });

test.run();
