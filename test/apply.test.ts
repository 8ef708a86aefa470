// orch apply: a worker's commits as a patch series with git am — clean, dry run, conflicts, refusals.

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  commitFiles, git, gitOk, orch, orchCommand, racing, scratchRepo, sessionRepo, smallDisk, snapshot,
  noGitIdentity, tempDir, waitUntil, writeFiles,
} from "./helpers.ts";

function worker(repo: string, branch: string): string {
  const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
  if (r.code !== 0) throw new Error(r.stderr);
  return r.json.worktree_path;
}

/** Everything that a dry run must leave as it was. */
function trace(repo: string): Record<string, string> {
  return {
    head: git(["rev-parse", "HEAD"], repo),
    worktrees: git(["worktree", "list", "--porcelain"], repo),
    status: git(["status", "--porcelain", "--untracked-files=all", "--ignored", "--", ".", ":!.orch"], repo),
    refs: git(["for-each-ref"], repo),
    rebaseApply: String(fs.existsSync(path.join(repo, ".git/rebase-apply"))),
  };
}

test("an rm of the worker while apply runs git am waits for the apply: it applies and records it, then rm removes",
  async () => {
  const { repo } = sessionRepo();
  for (const dryRun of [false, true]) {
    const branch = dryRun ? "feat/gone-dry" : "feat/gone";
    const id = branch.replace("/", "-");
    commitFiles(worker(repo, branch), { [`${id}.txt`]: "mine\n" }, `${id} work`);
    // The user's rm (another terminal) as git am starts, given up to 3 s to end before git am runs: one that
    // did not wait removed the series under git am, or the worker's folder between apply's check and its write.
    const out = tempDir("orch-race-");
    const env = { ...racing("git", '"$1" in am'), RACE: `rm ${id} --force`, RACE_OUT: out };
    const r = orch(["apply", id, "--json", ...(dryRun ? ["--dry-run"] : [])], { cwd: repo, env });
    assert.ok(fs.existsSync(path.join(out, "race.started")), "the rm ran");
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stderr, "");
    if (dryRun) assert.is(r.json.applies_cleanly, true, r.stdout);
    else assert.is(git(["show", `HEAD:${id}.txt`], repo), "mine", "applied");
    await waitUntil(() => fs.existsSync(path.join(out, "race.done")), 70_000, "the rm to end");
    const rm = JSON.parse(fs.readFileSync(path.join(out, "race.json"), "utf8"));
    assert.is(rm.removed, true, fs.readFileSync(path.join(out, "race.err"), "utf8"));
    const sessions = path.join(repo, ".orch", "sessions");
    const workers = path.join(sessions, fs.readdirSync(sessions)[0]!, "workers");
    assert.equal(fs.readdirSync(workers), [], "removed after the apply, nothing of it made again");
  }
});

test("a sync of the worker while apply's git am commits its patches one by one: skipped, said why", () => {
  const { repo } = sessionRepo();
  const wt = worker(repo, "feat/three");
  for (const n of [1, 2, 3]) commitFiles(wt, { [`f${n}.txt`]: `${n}\n` }, `commit ${n}`);
  const mainTip = commitFiles(repo, { "main.txt": "moved\n" }, "main moves");
  const before = git(["rev-parse", "feat/three"], repo);
  // After git am's first commit (its post-applypatch hook), the user's sync of the worker: one that ran then
  // rebased the worker onto a base holding one of its own three commits, and told it so.
  const out = tempDir("orch-sync-");
  const hooks = tempDir("orch-hooks-");
  const sync = `${orchCommand()[0]} sync feat-three --json > ${out}/sync.json 2> ${out}/sync.err`;
  const hook = ["#!/bin/sh", `[ -e ${out}/ran ] && exit 0`, `touch ${out}/ran`,
    "unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE GIT_PREFIX", `cd '${repo}' && ${sync}`, ""];
  fs.writeFileSync(path.join(hooks, "post-applypatch"), hook.join("\n"), { mode: 0o755 });
  git(["config", "core.hooksPath", hooks], repo);
  const r = orch(["apply", "feat-three", "--json"], { cwd: repo });
  git(["config", "--unset", "core.hooksPath"], repo);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.commits, 3, r.stdout);
  const synced = JSON.parse(fs.readFileSync(path.join(out, "sync.json"), "utf8"));
  assert.equal(synced.synced, [], fs.readFileSync(path.join(out, "sync.err"), "utf8"));
  assert.equal(synced.skipped, [{ worker_id: "feat-three", reason: "it is being applied by another orch command" }]);
  assert.is(git(["rev-parse", "feat/three"], repo), before, "its branch was left as it was");
  assert.is(git(["rev-list", "--count", `${mainTip}..HEAD`], repo), "3", "its three commits applied, once");
});

test("a series of several commits with a binary file and a rename applies here, commit by commit", () => {
  const { repo } = sessionRepo({ "README.md": "r\n", "old-name.txt": "keep me\n".repeat(20) });
  const wt = worker(repo, "feat/series");
  commitFiles(wt, { "a.txt": "a\n" }, "add a");
  commitFiles(wt, { "img.bin": Buffer.concat([Buffer.from([0, 0, 255]), crypto.randomBytes(4096)]) }, "add a binary");
  git(["mv", "old-name.txt", "new-name.txt"], wt);
  git(["commit", "-qm", "rename"], wt);
  commitFiles(wt, { "a.txt": "a\nmore\n" }, "edit a");
  const r = orch(["apply", "feat/series", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.commits, 4);
  assert.is(git(["rev-parse", "HEAD^{tree}"], repo), git(["rev-parse", "HEAD^{tree}"], wt), "the same tree as the worker's branch");
  assert.equal(git(["log", "--format=%s", "-4", "--reverse"], repo).split("\n"), ["add a", "add a binary", "rename", "edit a"]);
  assert.ok(fs.readFileSync(path.join(repo, "img.bin")).equals(fs.readFileSync(path.join(wt, "img.bin"))), "binary bytes intact");
  assert.ok(fs.existsSync(r.json.patch_file), "the series is kept in the store");
  assert.match(fs.readFileSync(r.json.patch_file, "utf8"), /GIT binary patch/);
});

test("--dry-run applies in a throw-away worktree and leaves no trace, clean or conflicting", () => {
  const { repo } = sessionRepo({ "f.txt": "a\nb\nc\n" });
  const wt = worker(repo, "feat/dry");
  commitFiles(wt, { "f.txt": "a\nB\nc\n" }, "change b");
  const before = trace(repo);
  const ok = orch(["apply", "feat/dry", "--dry-run", "--json"], { cwd: repo });
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.json.applies_cleanly, true);
  assert.equal(trace(repo), before);
  commitFiles(repo, { "f.txt": "a\nX\nc\n" }, "conflicting change");
  const before2 = trace(repo);
  const bad = orch(["apply", "feat/dry", "--dry-run", "--json"], { cwd: repo });
  assert.is(bad.code, 1);
  assert.is(bad.json.error.code, "conflict");
  assert.equal(bad.json.conflict_paths, ["f.txt"]);
  assert.is(bad.json.failed_commit, "change b");
  assert.equal(trace(repo), before2);
  assert.equal(fs.readdirSync(path.join(repo, ".git/worktrees")).sort(), ["feat-dry"], "no scratch worktree left registered");
});

test("a conflict exits 1 with the paths and the failed commit, and restores the checkout", () => {
  const { repo } = sessionRepo({ "f.txt": "a\nb\nc\n", "g.txt": "g\n" });
  const wt = worker(repo, "feat/conflict");
  commitFiles(wt, { "g.txt": "g2\n" }, "first is fine");
  commitFiles(wt, { "f.txt": "a\nWORKER\nc\n" }, "second conflicts");
  commitFiles(repo, { "f.txt": "a\nMAIN\nc\n" }, "main moves on");
  const before = trace(repo);
  const r = orch(["apply", "feat-conflict", "--json"], { cwd: repo });
  assert.is(r.code, 1);
  assert.is(r.json.error.code, "conflict");
  assert.equal(r.json.conflict_paths, ["f.txt"]);
  assert.is(r.json.failed_commit, "second conflicts");
  assert.equal(trace(repo), before, "git am --abort restored everything");
  const left = orch(["apply", "feat-conflict", "--leave-conflict", "--json"], { cwd: repo });
  assert.is(left.code, 1);
  assert.is(left.json.left_in_progress, true);
  assert.ok(fs.existsSync(path.join(repo, ".git/rebase-apply")), "the git am session is left for the user");
  assert.match(left.stderr, /git am --continue/);
  git(["am", "--abort"], repo);
});

test("refusals change nothing: staged index, overlapping dirty file, moved HEAD; an unrelated dirty file is fine", () => {
  const { repo } = sessionRepo({ "f.txt": "f\n", "other.txt": "o\n" });
  const wt = worker(repo, "feat/refuse");
  commitFiles(wt, { "f.txt": "f2\n" }, "edit f");
  fs.writeFileSync(path.join(repo, "other.txt"), "staged\n");
  git(["add", "other.txt"], repo);
  const staged = orch(["apply", "feat/refuse", "--json"], { cwd: repo });
  assert.is(staged.code, 1);
  assert.is(staged.json.error.code, "refused");
  assert.match(staged.json.error.message, /staged/);
  git(["reset", "-q"], repo);
  fs.writeFileSync(path.join(repo, "f.txt"), "dirty\n");
  const before = trace(repo);
  const overlap = orch(["apply", "feat/refuse", "--json"], { cwd: repo });
  assert.is(overlap.code, 1);
  assert.match(overlap.json.error.message, /f\.txt/);
  assert.equal(trace(repo), before);
  git(["checkout", "-q", "f.txt"], repo);
  const movedBefore = trace(repo);
  const moved = orch(["apply", "feat/refuse", "--expected-head", git(["rev-parse", "feat/refuse"], repo), "--json"], { cwd: repo });
  assert.is(moved.code, 1);
  assert.match(moved.json.error.message, /^HEAD is \w+, not the expected \w+: nothing was applied$/);
  assert.equal(trace(repo), movedBefore);
  const unknownBefore = trace(repo);
  const unknown = orch(["apply", "feat/refuse", "--expected-head", "no-such-ref", "--json"], { cwd: repo });
  assert.is(unknown.code, 2, "a head that names no commit is bad input");
  assert.is(unknown.json.error.message, "--expected-head no-such-ref names no commit: nothing was applied");
  assert.equal(trace(repo), unknownBefore);
  const ok = orch(["apply", "feat/refuse", "--expected-head", git(["rev-parse", "HEAD"], repo), "--json"], { cwd: repo });
  assert.is(ok.code, 0, ok.stderr);
  assert.is(fs.readFileSync(path.join(repo, "other.txt"), "utf8"), "staged\n", "the unrelated dirty file is untouched");
});

test("an --expected-head that names no commit is refused before anything is written, the store too", () => {
  const { repo } = sessionRepo();
  const wt = worker(repo, "feat/named");
  commitFiles(wt, { "n.txt": "n\n" }, "n");
  const before = snapshot(path.join(repo, ".orch"));
  for (const dryRun of [[], ["--dry-run"]]) {
    const r = orch(["apply", "feat/named", ...dryRun, "--expected-head", "no-such-ref", "--json"], { cwd: repo });
    assert.is(r.code, 2, r.stderr);
    assert.is(r.json.error.message, "--expected-head no-such-ref names no commit: nothing was applied");
  }
  assert.equal(snapshot(path.join(repo, ".orch")), before, "no patch series written into the store");
});

test("the same series twice is refused; --force applies it again; uncommitted worker changes are warned about", () => {
  const { repo } = sessionRepo();
  const wt = worker(repo, "feat/twice");
  commitFiles(wt, { "t.txt": "t\n" }, "add t");
  fs.writeFileSync(path.join(wt, "not-committed.txt"), "x");
  const first = orch(["apply", "feat/twice", "--json"], { cwd: repo });
  assert.is(first.code, 0, first.stderr);
  assert.match(first.json.warnings[0], /not-committed\.txt/);
  git(["reset", "-q", "--hard", "HEAD~1"], repo);
  const again = orch(["apply", "feat/twice", "--json"], { cwd: repo });
  assert.is(again.code, 1);
  assert.is(again.json.error.code, "refused");
  assert.is(git(["log", "--format=%s", "-1"], repo), "initial");
  const forced = orch(["apply", "feat/twice", "--force", "--json"], { cwd: repo });
  assert.is(forced.code, 0, forced.stderr);
  assert.is(git(["log", "--format=%s", "-1"], repo), "add t");
  assert.is(orch(["apply", "feat/twice"], { cwd: wt }).code, 1, "not into the worker's own worktree");
});

test("apply's look at the worker's worktree leaves its index alone: an agent's git add then takes index.lock", () => {
  const { repo } = sessionRepo();
  const wt = worker(repo, "feat/index");
  commitFiles(wt, { "i.txt": "i\n" }, "add i");
  // The same content with a new time: git status refreshes the entry and, when it may, writes the index back
  // (index.lock held meanwhile, a new file after); the agent's git commit at that moment failed on the lock.
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(path.join(wt, "i.txt"), later, later);
  const index = git(["rev-parse", "--git-path", "index"], wt);
  const before = fs.statSync(path.resolve(wt, index));
  const r = orch(["apply", "feat/index", "--dry-run", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  const after = fs.statSync(path.resolve(wt, index));
  assert.equal([after.ino, after.mtimeMs], [before.ino, before.mtimeMs], "the worker's index was not written");
});

test("a series whose changes are already here (landed another way): refused, not reported as applied", () => {
  const { repo } = sessionRepo();
  const wt = worker(repo, "feat/landed");
  commitFiles(wt, { "l.txt": "l\n" }, "add l");
  assert.is(orch(["merge", "feat/landed", "--local", "--json"], { cwd: repo }).code, 0);
  const head = git(["rev-parse", "HEAD"], repo);
  const r = orch(["apply", "feat/landed", "--json"], { cwd: repo });
  assert.is(r.code, 1, r.stdout);
  assert.is(r.json.error.code, "refused");
  assert.is(r.json.error.message, "feat-landed's changes are already here (HEAD has them): nothing was applied");
  assert.is(git(["rev-parse", "HEAD"], repo), head);
  assert.is(git(["status", "--porcelain"], repo), "");
});

test("an apply killed after its git am, before it recorded the series: the next apply says they are here", () => {
  const { repo } = sessionRepo();
  const start = git(["rev-parse", "HEAD"], repo);
  // git am's commits are the worker's own (same parent, tree and dates: the same ids) when it runs in the second
  // the worker committed in, new ones a second later, and the first two the worker's when a second boundary falls
  // before the third: each forced, so that no run depends on where the clock's second falls.
  const worked = "2026-01-01T00:00:00Z";
  const later = "2026-01-01T00:00:01Z";
  const cases: [string, string[]][] = [
    ["same", [worked, worked, worked]], ["later", [later, later, later]], ["boundary", [worked, worked, later]],
  ];
  for (const [name, amDates] of cases) {
    git(["reset", "-q", "--hard", start], repo);
    const wt = worker(repo, `feat/cut-${name}`);
    for (const n of [1, 2, 3]) {
      writeFiles(wt, { "c.txt": "x\n".repeat(n) });
      git(["add", "-A"], wt);
      git(["commit", "-q", "-m", `step ${n}`], wt, { GIT_AUTHOR_DATE: worked, GIT_COMMITTER_DATE: worked });
    }
    const commits = git(["rev-list", "--reverse", `main..feat/cut-${name}`], repo).split("\n");
    // What the killed apply's git am did (it finishes when orch is killed -9): the series is on HEAD, unrecorded.
    commits.forEach((commit, i) => git(["cherry-pick", commit], repo, { GIT_COMMITTER_DATE: amDates[i] }));
    const same = commits.filter((commit, i) => git(["rev-parse", `HEAD~${2 - i}`], repo) === commit).length;
    assert.is(same, amDates.filter((date) => date === worked).length, `${name}: the worker's own commits on HEAD`);
    const before = trace(repo);
    const r = orch(["apply", `feat/cut-${name}`, "--json"], { cwd: repo });
    assert.is(r.code, 1, `${name}: ${r.stdout}`);
    assert.is(r.json.error.code, "refused", name);
    const message = `feat-cut-${name}'s changes are already here (HEAD has them): nothing was applied`;
    assert.is(r.json.error.message, message, name);
    assert.equal(trace(repo), before, `${name}: no git am left in progress, nothing changed`);
  }
});

test("the user's diff, format-patch and am settings change neither the bytes applied nor the messages; nor does a " +
  "file that is not UTF-8", () => {
  const { repo } = sessionRepo({ "f.txt": "a\nb\nc\n" });
  for (const [key, value] of [["diff.noprefix", "true"], ["diff.context", "0"], ["format.coverLetter", "true"],
    ["apply.whitespace", "fix"], ["mailinfo.scissors", "true"], ["am.threeWay", "true"]]) {
    git(["config", key!, value!], repo);
  }
  const wt = worker(repo, "feat/settings");
  commitFiles(wt, { "f.txt": "a\nB   \nc\n" }, "[WIP] trailing blanks stay");
  git(["commit", "-q", "--allow-empty", "-m", "an empty commit is kept"], wt);
  // Latin-1 text: the series must keep its bytes (read as UTF-8 text, each became U+FFFD in the file applied).
  const latin1 = Buffer.from("caf\xe9 na\xefve\n", "latin1");
  const quotesAMail = "body quotes a mail\n\nFrom nobody Mon Sep 17 00:00:00 2001\n-- >8 --\nstill here";
  commitFiles(wt, { "g.txt": "g\n", "latin1.txt": latin1 }, quotesAMail);
  const r = orch(["apply", "feat/settings", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.commits, 3);
  assert.is(git(["rev-parse", "HEAD^{tree}"], repo), git(["rev-parse", "HEAD^{tree}"], wt), "the same bytes as the worker's");
  const messages = (ref: string) => git(["log", "--format=%B%x00", "-3", ref], repo);
  assert.is(messages("HEAD"), messages("feat/settings"));
});

test("a branch with merge commits is applied as one commit of its whole change, the merges' own changes included", () => {
  const { repo } = sessionRepo({ "f.txt": "a\nb\nc\n" });
  const wt = worker(repo, "feat/merges");
  git(["checkout", "-q", "-b", "side"], wt);
  commitFiles(wt, { "f.txt": "a\nSIDE\nc\n", "s.txt": "s\n" }, "side");
  git(["checkout", "-q", "feat/merges"], wt);
  commitFiles(wt, { "f.txt": "a\nMINE\nc\n", "latin1.txt": Buffer.from("d\xe9j\xe0 vu\n", "latin1") }, "mine");
  assert.not.ok(gitOk(["merge", "-q", "side"], wt), "the merge conflicts");
  commitFiles(wt, { "f.txt": "a\nRESOLVED\nc\n", "fixed-in-merge.txt": "x\n" }, "merge side, resolved");
  const r = orch(["apply", "feat/merges", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.commits, 1);
  assert.match(r.json.warnings.join("\n"), /merge commits/);
  assert.is(git(["rev-parse", "HEAD^{tree}"], repo), git(["rev-parse", "HEAD^{tree}"], wt), "the worker's tree exactly");
  assert.is(git(["rev-list", "--count", "HEAD"], repo), "2");
});

test("--no-3way names every path of the patch that does not apply, non-ASCII and renamed ones too", () => {
  const nfd = "e\u0301.txt";
  const lines = "1\n2\n3\n4\n5\n";
  const { repo } = sessionRepo({ "é ü.txt": lines, [nfd]: lines, "old name.txt": lines, "plain.txt": lines });
  const wt = worker(repo, "feat/names");
  git(["mv", "old name.txt", "new name.txt"], wt);
  const edited = (line: string) => `1\n${line}\n3\n4\n5\n`;
  commitFiles(wt, { "é ü.txt": edited("W"), [nfd]: edited("W"), "new name.txt": edited("W") }, "edits");
  commitFiles(repo, { "é ü.txt": edited("B"), [nfd]: edited("B"), "old name.txt": edited("B") }, "base");
  const r = orch(["apply", "feat/names", "--no-3way", "--json"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.error.code, "conflict");
  assert.equal([...r.json.conflict_paths].sort(), ["new name.txt", "old name.txt", "é ü.txt", nfd].sort());
});

test("a refusing applypatch-msg or pre-applypatch hook, or signing with no key, is no conflict; nothing changed", () => {
  const { repo } = sessionRepo({ "f.txt": "f\n" });
  const wt = worker(repo, "feat/hooked");
  commitFiles(wt, { "a.txt": "a\n" }, "add a");
  const hooks = path.join(repo, ".git", "hooks");
  git(["config", "gpg.program", "false"], repo);
  const refusingHook = (hook: string) => () =>
    fs.writeFileSync(path.join(hooks, hook), `#!/bin/sh\necho ${hook} says no >&2\nexit 1\n`, { mode: 0o755 });
  const refusals: [string, () => void, RegExp][] = [
    ["applypatch-msg", refusingHook("applypatch-msg"), /applypatch-msg says no/],
    ["pre-applypatch", refusingHook("pre-applypatch"), /pre-applypatch says no/],
    // gpg.program that fails: signing with no key to sign with, whether gpg is installed or not.
    ["commit.gpgsign", () => git(["config", "commit.gpgsign", "true"], repo), /: error: gpg failed to sign the data;/],
  ];
  for (const [name, refuse, said] of refusals) {
    fs.rmSync(hooks, { recursive: true, force: true });
    fs.mkdirSync(hooks);
    gitOk(["config", "--unset-all", "commit.gpgsign"], repo);
    refuse();
    for (const how of ["--leave-conflict", "--dry-run"]) {
      const before = trace(repo);
      const r = orch(["apply", "feat/hooked", how, "--json"], { cwd: repo });
      assert.is(r.code, 1, `${name} ${how}: ${r.stderr}`);
      assert.is(r.json.error.code, "failed", `${name} ${how}: not a conflict`);
      assert.match(r.json.error.message, said, name);
      assert.equal(r.json.conflict_paths, [], name);
      assert.equal(trace(repo), before, `${name} ${how}: nothing changed, no git am left in progress`);
    }
  }
});

test("a full disk: the series write names its file and leaves no part; a git am it stops says what is left", () => {
  const disks = [smallDisk("4m"), smallDisk("1m")];
  try {
    const [repoDisk, storeDisk] = disks;
    if (typeof repoDisk === "string" || typeof storeDisk === "string") {
      return console.log(`SKIP: ${String(disks.find((disk) => typeof disk === "string"))}`);
    }
    const repo = scratchRepo("repo", { "a.txt": "a\n" }, repoDisk.dir);
    const env = { ORCH_HOME: path.join(storeDisk.dir, "store") };
    assert.is(orch(["init"], { cwd: repo, env }).code, 0);
    const wt = orch(["spawn", "feat/big", "--no-window", "--json"], { cwd: repo, env }).json.worktree_path as string;
    commitFiles(wt, { "big.txt": `${"z".repeat(400_000)}\n`, "a.txt": "b\n" }, "big");
    const storeFiller = storeDisk.fill(64);
    const series = orch(["apply", "feat-big"], { cwd: repo, env });
    assert.is(series.code, 1, series.stderr);
    assert.match(series.stderr.trim(), /^orch: cannot write the patch series \/.+\.mboxrd: no space left on device$/);
    const session = fs.readdirSync(path.join(storeDisk.dir, "store", "sessions"))[0]!;
    const patches = path.join(storeDisk.dir, "store", "sessions", session, "workers", "feat-big", "patches");
    assert.equal(fs.existsSync(patches) ? fs.readdirSync(patches) : [], [], "no half series in the store");
    fs.rmSync(storeFiller);
    // Room for git am to split the series and start, not to finish. Made in a throw-away worktree, the series
    // cannot be checked out here: nothing is applied, nothing of it is left written, no session in progress.
    const repoFiller = repoDisk.fill(600);
    const whole = orch(["apply", "feat-big"], { cwd: repo, env });
    assert.is(whole.code, 1, whole.stderr);
    assert.match(whole.stderr, /^orch: [^\n]*; nothing was applied\n$/);
    assert.is(git(["log", "--format=%s", "-1"], repo), "initial");
    assert.is(git(["status", "--porcelain"], repo), "");
    assert.not.ok(fs.existsSync(path.join(repo, ".git", "rebase-apply")));
    // With --leave-conflict git am runs here: it stops, and cannot end its session.
    const am = orch(["apply", "feat-big", "--leave-conflict"], { cwd: repo, env });
    assert.is(am.code, 1, am.stderr);
    assert.is(git(["log", "--format=%s", "-1"], repo), "initial");
    assert.ok(fs.existsSync(path.join(repo, ".git", "rebase-apply")), "git am could not end its session");
    assert.match(am.stderr, /nothing was applied, but git am --abort failed too .*: its session is left in progress/);
    assert.is(am.stderr.trim().split("\n").length, 1, am.stderr);
    fs.rmSync(repoFiller);
    if (fs.existsSync(path.join(repo, ".git", "rebase-apply"))) git(["am", "--abort"], repo);
    const again = orch(["apply", "feat-big"], { cwd: repo, env });
    assert.is(again.code, 0, again.stderr);
    assert.is(git(["log", "--format=%s", "-1"], repo), "big");
  } finally {
    for (const disk of disks) if (typeof disk !== "string") disk.unmount();
  }
});

test("apply for a user whom git finds no identity for: applied as its dry run said, the worker's author kept", () => {
  const { repo } = sessionRepo();
  const wt = worker(repo, "feat/anon");
  commitFiles(wt, { "anon.txt": "a\n" }, "anon work");
  const env = noGitIdentity(repo);
  const dry = orch(["apply", "feat/anon", "--dry-run", "--json"], { cwd: repo, env });
  assert.is(dry.code, 0, dry.stderr);
  const r = orch(["apply", "feat/anon", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  const who = git(["log", "-1", "--format=%an <%ae> / %cn <%ce> %s"], repo);
  assert.is(who, "orch test <test@orch.invalid> / orch <orch@localhost> anon work");
});

test.run();
