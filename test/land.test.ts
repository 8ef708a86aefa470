// orch land: the merge queue — what lands is what was tested; it stops at the first conflict or red test.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  commitFiles, git, gitOk, gitStandIn, incompressibleMiB, orch, orchAsync, orchCommand, privateTmux, scratchRepo,
  noGitIdentity, sessionRepo, sleep, smallDisk, snapshot, startTime, tempDir, waitUntil, writeFiles,
} from "./helpers.ts";

async function finishedWorker(repo: string, branch: string, files: Record<string, string | Buffer>): Promise<string> {
  const wt = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(wt, files, `${branch} work`);
  orch(["notify", "--type", "task_complete", "--summary", `${branch} done`], { cwd: wt });
  await sleep(5); // distinct finishing times: the queue goes in the order they finished
  return wt;
}

test("three workers, the second conflicts: first landed, second conflict, third skipped", async () => {
  const { repo } = sessionRepo({ "shared.txt": "one\ntwo\nthree\n" });
  await finishedWorker(repo, "feat/first", { "first.txt": "1\n", "shared.txt": "ONE\ntwo\nthree\n" });
  await finishedWorker(repo, "feat/second", { "shared.txt": "uno\ntwo\nthree\n" });
  await finishedWorker(repo, "feat/third", { "third.txt": "3\n" });
  const r = orch(["land", "--json"], { cwd: repo });
  assert.is(r.code, 1);
  assert.is(r.json.success, false);
  assert.is(r.json.error.code, "conflict");
  const results = r.json.results.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]);
  assert.equal(results, [["feat-first", "landed"], ["feat-second", "conflict"], ["feat-third", "skipped"]]);
  assert.equal(r.json.results[1].conflict_paths, ["shared.txt"]);
  assert.match(r.json.results[2].reason, /stopped at feat-second/);
  assert.is(git(["rev-parse", "HEAD"], repo), r.json.results[0].commit);
  assert.ok(fs.existsSync(path.join(repo, "first.txt")));
  assert.not.ok(fs.existsSync(path.join(repo, "third.txt")));
  assert.is(git(["status", "--porcelain"], repo), "");
  assert.is(git(["worktree", "list"], repo).split("\n").length, 4, "no throw-away worktree left behind");
});

test("a worker that reported done with its work uncommitted is skipped as such; one with commits lands, warned", () => {
  const { repo } = sessionRepo();
  const forgot = orch(["spawn", "feat/forgot", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  fs.writeFileSync(path.join(forgot, "work.txt"), "never committed\n");
  orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: forgot });
  const r = orch(["land", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.results.map((x: { status: string; reason: string }) => [x.status, x.reason]),
    [["skipped", "no commits of its own: its changes are uncommitted in its worktree (work.txt)"]]);
  commitFiles(forgot, { "work.txt": "committed\n" }, "the work");
  fs.writeFileSync(path.join(forgot, "notes.txt"), "left out\n");
  const landed = orch(["land", "feat-forgot", "--json"], { cwd: repo });
  assert.is(landed.json.results[0].status, "landed", landed.stdout);
  assert.is(landed.stderr.trim(), "orch: worker feat-forgot has uncommitted changes that are not included: notes.txt");
  assert.not.ok(fs.existsSync(path.join(repo, "notes.txt")));
});

test("a red --test stops the queue with test_failed; the test ran with the change applied", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/good", { "good.txt": "ok\n" });
  await finishedWorker(repo, "feat/bad", { "bad.txt": "breaks the build\n" });
  await finishedWorker(repo, "feat/later", { "later.txt": "l\n" });
  const head = git(["rev-parse", "HEAD"], repo);
  const r = orch(["land", "--test", "test -f good.txt && test ! -f bad.txt", "--json"], { cwd: repo });
  assert.is(r.code, 1);
  assert.is(r.json.error.code, "test_failed");
  assert.equal(r.json.results.map((x: { status: string }) => x.status), ["landed", "test_failed", "skipped"]);
  assert.is(r.json.results[1].test_exit_code, 1);
  assert.is(git(["rev-parse", "HEAD~1"], repo), head, "only the good one landed");
  assert.not.ok(fs.existsSync(path.join(repo, "bad.txt")));
});

test("a --test command line that starts with - is run as the command, not read by sh as its options", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/dashed", { "d.txt": "d\n" });
  const bin = tempDir("orch-bin-");
  fs.writeFileSync(path.join(bin, "-check"), "#!/bin/sh\ntest -f d.txt\n", { mode: 0o755 });
  const env = { PATH: `${bin}:${process.env.PATH}` };
  const r = orch(["land", "--test", "-check", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.results.map((x: { status: string }) => x.status), ["landed"]);
});

test("an empty or blank --test (an unset variable) is refused with exit 2: nothing lands untested", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/untested", { "u.txt": "u\n" });
  const head = git(["rev-parse", "HEAD"], repo);
  const before = snapshot(path.join(repo, ".orch"));
  for (const blank of ["", "  "]) {
    const r = orch(["land", "--test", blank, "--json"], { cwd: repo });
    assert.is(r.code, 2, r.stdout);
    assert.is(r.json.error.code, "usage");
    assert.match(r.json.error.message, /--test is empty/);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  assert.is(git(["rev-parse", "HEAD"], repo), head, "nothing landed");
  assert.equal(snapshot(path.join(repo, ".orch")), before);
});

test("all green: everything lands in order, as exactly the commits that were tested; named workers only", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/x", { "x.txt": "x\n" });
  await finishedWorker(repo, "feat/y", { "y.txt": "y\n" });
  await finishedWorker(repo, "feat/z", { "z.txt": "z\n" });
  const only = orch(["land", "feat/y", "--json"], { cwd: repo });
  assert.is(only.code, 0, only.stderr);
  assert.equal(only.json.results.map((x: { worker_id: string }) => x.worker_id), ["feat-y"]);
  const r = orch(["land", "--test", "true", "--method", "rebase", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  const results = r.json.results.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]);
  assert.equal(results, [["feat-x", "landed"], ["feat-y", "skipped"], ["feat-z", "landed"]]);
  assert.is(git(["rev-parse", "HEAD"], repo), r.json.results[2].commit);
  assert.equal(git(["log", "--format=%s", "-3"], repo).split("\n"), ["feat/z work", "feat/x work", "feat/y done"]);
  assert.is(orch(["land", "--method", "octopus"], { cwd: repo }).code, 2);
});

test("a worker that commits while its landing is tested: that commit did not land, and clean keeps the worker", async () => {
  const { repo } = sessionRepo();
  const wt = await finishedWorker(repo, "feat/a", { "a.txt": "a\n" });
  commitFiles(repo, { "m.txt": "m\n" }, "the base moves: a squash, not a fast-forward");
  // The test command is where the worker's commit lands in time: after the merge, before the fast-forward.
  const late = `cd '${wt}' && echo late > late.txt && git add late.txt && git commit -qm 'late work'`;
  const r = orch(["land", "--test", late, "--json"], { cwd: repo });
  assert.equal(r.json.results.map((x: { status: string }) => x.status), ["landed"], r.stderr);
  assert.not.ok(fs.existsSync(path.join(repo, "late.txt")));
  const lateCommit = git(["rev-parse", "refs/heads/feat/a"], repo);
  const clean = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(clean.code, 0, clean.stderr);
  assert.equal(clean.json.removed, [], "the worker's late commit is in no base");
  assert.is(git(["rev-parse", "refs/heads/feat/a"], wt), lateCommit);
  assert.ok(fs.existsSync(path.join(wt, "late.txt")));
});

test("the user switches branches or moves the base during --test: nothing lands, nothing else moves", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/a", { "a.txt": "a\n" });
  const head = git(["rev-parse", "HEAD"], repo);
  // The test command plays the user, who works in the main checkout while a long test runs.
  const switched = orch(["land", "--test", `git -C '${repo}' checkout -q -b experiment`, "--json"], { cwd: repo });
  assert.is(switched.code, 1, switched.stderr);
  assert.is(switched.json.results[0].status, "failed");
  assert.match(switched.json.results[0].reason, /switched from main to experiment.*nothing landed/);
  assert.is(git(["rev-parse", "experiment"], repo), head, "the branch the user switched to was not fast-forwarded");
  assert.is(git(["rev-parse", "main"], repo), head);
  git(["checkout", "-q", "main"], repo);
  const moved = orch(["land", "--test", `git -C '${repo}' commit -q --allow-empty -m mine`, "--json"], { cwd: repo });
  assert.is(moved.code, 1, moved.stderr);
  assert.match(moved.json.results[0].reason, /main moved from .* while it was tested: nothing landed/);
  assert.is(git(["log", "-1", "--format=%s"], repo), "mine");
  const dropped = orch(["land", "--test", `git -C '${repo}' reset -q --hard HEAD~1`, "--json"], { cwd: repo });
  assert.is(dropped.code, 1, "a commit the user dropped during the test is not brought back by the fast-forward");
  assert.is(git(["rev-parse", "HEAD"], repo), head);
  assert.not.ok(fs.existsSync(path.join(repo, "a.txt")));
  const landed = orch(["land", "--json"], { cwd: repo });
  assert.is(landed.code, 0, landed.stderr);
  assert.is(git(["rev-parse", "HEAD"], repo), landed.json.results[0].commit);
});

test("the base checked out in a linked worktree, the main one on another branch: land and merge say to free it", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/a", { "a.txt": "a\n" });
  git(["switch", "-q", "-c", "other"], repo);
  const linked = path.join(path.dirname(repo), "linked");
  git(["worktree", "add", "-q", linked, "main"], repo);
  // "check out main there" alone cannot be done: git refuses a branch that another worktree has checked out.
  const said = `${repo} has other checked out, but feat-a started from main: main is checked out at ${linked}: ` +
    `switch that worktree to another branch, then check out main in ${repo}`;
  for (const command of [["land", "--json"], ["merge", "feat/a", "--local", "--json"]]) {
    const refused = orch(command, { cwd: linked });
    assert.is(refused.code, 1, refused.stderr);
    assert.match(refused.stdout, said);
  }
  assert.not.ok(fs.existsSync(path.join(linked, "a.txt")) || fs.existsSync(path.join(repo, "a.txt")));
});

test("an ignored file of the user's where the worker adds a tracked one: land, merge and apply refuse, the file stays", async () => {
  const { repo } = sessionRepo({ ".gitignore": ".env\nbuild/\n", "README.md": "r\n" });
  writeFiles(repo, { ".env": "SECRET=mine\n", "build/out.js": "mine\n" });
  await finishedWorker(repo, "feat/env", { ".gitignore": "", ".env": "SECRET=worker\n", "build/out.js": "theirs\n" });
  const head = git(["rev-parse", "HEAD"], repo);
  const land = orch(["land", "--json"], { cwd: repo });
  assert.is(land.code, 1, land.stderr);
  assert.equal(land.json.results[0].conflict_paths, [".env", "build/out.js"]);
  const merge = orch(["merge", "feat/env", "--local", "--json"], { cwd: repo });
  assert.is(merge.code, 1, merge.stderr);
  assert.match(merge.json.error.message, /\.env, build\/out\.js; nothing was merged/);
  assert.is(orch(["apply", "feat/env", "--json"], { cwd: repo }).code, 1);
  assert.is(git(["rev-parse", "HEAD"], repo), head);
  assert.is(fs.readFileSync(path.join(repo, ".env"), "utf8"), "SECRET=mine\n");
  assert.is(fs.readFileSync(path.join(repo, "build/out.js"), "utf8"), "mine\n");
  // Once the user's files are out of the way, it lands.
  fs.rmSync(path.join(repo, ".env"));
  fs.rmSync(path.join(repo, "build"), { recursive: true });
  assert.is(orch(["land", "--json"], { cwd: repo }).code, 0);
  assert.is(fs.readFileSync(path.join(repo, ".env"), "utf8"), "SECRET=worker\n");
});

test("a pre-commit hook that refuses the second squash: the first is reported landed, the second stopped", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/fine", { "fine.txt": "f\n" });
  await finishedWorker(repo, "feat/linted", { "bad.txt": "b\n" });
  const hook = "#!/bin/sh\ngit diff --cached --name-only | grep -q bad.txt && { echo 'lint: bad.txt' >&2; exit 1; }\nexit 0\n";
  fs.writeFileSync(path.join(repo, ".git/hooks/pre-commit"), hook, { mode: 0o755 });
  const r = orch(["land", "--json"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.landed, 1);
  assert.equal(r.json.results.map((x: { status: string }) => x.status), ["landed", "failed"]);
  assert.match(r.json.results[1].reason, /git commit of the squash merge failed: lint: bad\.txt/);
  assert.is(r.json.error.code, "failed");
  assert.is(git(["rev-parse", "HEAD"], repo), r.json.results[0].commit);
  // Not a conflict: rebasing would not help, so it is not handed back to the worker, and the queue stops.
  const returned = orch(["land", "feat/linted", "--on-conflict", "return", "--json"], { cwd: repo });
  assert.is(returned.code, 1, returned.stderr);
  assert.equal(returned.json.results.map((x: { status: string }) => x.status), ["failed"]);
  assert.equal(returned.json.returned, []);
  const workers = orch(["status", "--json"], { cwd: repo }).json.workers;
  assert.is(workers.find((w: { worker_id: string }) => w.worker_id === "feat-linted").status, "done");
  const merge = orch(["merge", "feat/linted", "--local", "--json"], { cwd: repo });
  assert.is(merge.code, 1);
  assert.match(merge.json.error.message, /lint: bad\.txt; nothing was merged/);
  assert.is(git(["rev-parse", "HEAD"], repo), r.json.results[0].commit);
  assert.is(git(["status", "--porcelain"], repo), "");
});

test("a refusing pre-merge-commit hook: land --method merge and sync --merge say its words", async () => {
  const { repo } = sessionRepo();
  const wt = await finishedWorker(repo, "feat/merged", { "m.txt": "m\n" });
  commitFiles(repo, { "base.txt": "the base moved\n" }, "base moves");
  const hook = "#!/bin/sh\necho 'lint: no merge commits here' >&2\nexit 1\n";
  fs.writeFileSync(path.join(repo, ".git/hooks/pre-merge-commit"), hook, { mode: 0o755 });
  const head = git(["rev-parse", "HEAD"], repo);
  const tip = git(["rev-parse", "HEAD"], wt);
  const landed = orch(["land", "--method", "merge", "--json"], { cwd: repo });
  assert.is(landed.code, 1, landed.stderr);
  assert.match(landed.json.results[0].reason, /could not be merged onto main at \w+: lint: no merge commits here$/);
  const synced = orch(["sync", "feat/merged", "--merge", "--json"], { cwd: repo });
  assert.is(synced.code, 0, synced.stderr);
  const reason = "git merge failed: lint: no merge commits here";
  assert.equal(synced.json.skipped, [{ worker_id: "feat-merged", reason }]);
  assert.equal([git(["rev-parse", "HEAD"], repo), git(["rev-parse", "HEAD"], wt)], [head, tip]);
  assert.is(git(["status", "--porcelain"], wt), "");
});

test("commit.gpgsign with no key: land stops the worker as failed with git's cause (gpg), nothing landed", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/unsigned", { "u.txt": "u\n" });
  git(["config", "gpg.program", "false"], repo); // signing with no key to sign with, whether gpg is installed or not
  git(["config", "commit.gpgsign", "true"], repo);
  const head = git(["rev-parse", "HEAD"], repo);
  const r = orch(["land", "--test", "true", "--json"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.error.code, "failed");
  assert.match(r.json.results[0].reason, /squash merge failed: error: gpg failed to sign the data$/);
  assert.is(git(["rev-parse", "HEAD"], repo), head);
});

test("a failing post-checkout hook only warns in land's and apply --dry-run's throw-away worktree", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/first", { "first.txt": "1\n" });
  await finishedWorker(repo, "feat/second", { "second.txt": "2\n" });
  const hooks = tempDir("orch-hooks-");
  fs.writeFileSync(path.join(hooks, "post-checkout"), "#!/bin/sh\necho hook broke >&2\nexit 1\n", { mode: 0o755 });
  git(["config", "core.hooksPath", hooks], repo);
  const warned = "orch: your post-checkout hook failed in the throw-away worktree (git's checkout is whole): " +
    "hook broke";
  const dry = orch(["apply", "feat/second", "--dry-run", "--json"], { cwd: repo });
  assert.is(dry.code, 0, dry.stderr);
  assert.is(dry.json.applies_cleanly, true);
  assert.ok(dry.stderr.split("\n").includes(warned), dry.stderr);
  const r = orch(["land", "feat/first", "--test", "test -f first.txt", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.results.map((x: { status: string }) => x.status), ["landed"]);
  assert.ok(r.stderr.split("\n").includes(warned), r.stderr);
  assert.is(git(["rev-parse", "HEAD"], repo), r.json.results[0].commit);
});

test("in a sparse checkout, land's test sees every file of what it lands, the worker's change outside it too", () => {
  const { repo } = sessionRepo({ "a.txt": "a\n", "lib/util.txt": "old\n" });
  git(["sparse-checkout", "set", "--no-cone", "/*", "!/lib/"], repo);
  const config = fs.readFileSync(path.join(repo, ".git/config"), "utf8");
  const wt = orch(["spawn", "feat/lib", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  writeFiles(wt, { "lib/util.txt": "new\n" }); // the worktree is sparse too (git copies the patterns)
  git(["add", "--sparse", "-A"], wt);
  git(["commit", "-q", "-m", "lib work"], wt);
  orch(["notify", "--type", "task_complete", "--summary", "lib done"], { cwd: wt });
  const r = orch(["land", "--test", "grep -qx new lib/util.txt && test -f a.txt", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.results[0].status, "landed", JSON.stringify(r.json.results));
  assert.is(git(["show", "HEAD:lib/util.txt"], repo), "new");
  // The user's checkout, patterns and config stay as sparse as they made them.
  assert.not.ok(fs.existsSync(path.join(repo, "lib")));
  assert.is(git(["sparse-checkout", "list"], repo), "/*\n!/lib/");
  assert.is(fs.readFileSync(path.join(repo, ".git/config"), "utf8"), config);
  assert.is(git(["status", "--porcelain"], repo), "");
});

test("a worker that rebased onto the moved base by itself: diff, apply and land --rebase take only its own commits", async () => {
  const { repo } = sessionRepo();
  const wt = await finishedWorker(repo, "feat/rebased", { "mine.txt": "mine\n" });
  commitFiles(repo, { "base.txt": "the base moved\n" }, "base moves");
  git(["rebase", "-q", "main"], wt); // the agent's own rebase: orch's record still names the old base
  const diff = orch(["diff", "feat/rebased", "--json"], { cwd: repo });
  assert.is(diff.code, 0, diff.stderr);
  assert.equal(diff.json.files.map((f: { path: string }) => f.path), ["mine.txt"]);
  assert.equal(diff.json.commits.map((c: { subject: string }) => c.subject), ["feat/rebased work"]);
  const head = git(["rev-parse", "HEAD"], repo);
  const dry = orch(["apply", "feat/rebased", "--dry-run", "--json"], { cwd: repo });
  assert.is(dry.json.commits, 1, dry.stderr);
  const r = orch(["land", "--method", "rebase", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(git(["log", "--format=%s", `${head}..HEAD`], repo).split("\n"), ["feat/rebased work"]);
  assert.equal(git(["log", "--format=%s"], repo).split("\n").filter((s) => s === "base moves").length, 1);
});

test("the user's merge.ff=only: land squashes and merges a diverged worker instead of calling it a conflict", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/squashed", { "s.txt": "s\n" });
  await finishedWorker(repo, "feat/merged", { "m.txt": "m\n" });
  commitFiles(repo, { "b.txt": "b\n" }, "main moves");
  git(["config", "merge.ff", "only"], repo);
  const squashed = orch(["land", "feat/squashed", "--json"], { cwd: repo });
  assert.is(squashed.code, 0, squashed.stderr);
  assert.equal(squashed.json.results.map((x: { status: string }) => x.status), ["landed"]);
  assert.is(git(["show", "HEAD:s.txt"], repo), "s");
  const merged = orch(["land", "feat/merged", "--method", "merge", "--json"], { cwd: repo });
  assert.is(merged.code, 0, merged.stderr);
  assert.is(git(["show", "HEAD:m.txt"], repo), "m");
});

test("a held refs/heads/main.lock: nothing lands and the user's checkout is left as it was, local changes kept", async () => {
  const { repo } = sessionRepo({ "README.md": "# scratch\n", "notes.txt": "n\n" });
  await finishedWorker(repo, "feat/locked", { "w.txt": "w\n", "README.md": "# changed by the worker\n" });
  fs.writeFileSync(path.join(repo, "notes.txt"), "the user's own edit\n");
  const lock = path.join(repo, ".git", "refs", "heads", "main.lock");
  fs.writeFileSync(lock, "");
  const head = git(["rev-parse", "HEAD"], repo);
  const r = orch(["land", "--json"], { cwd: repo });
  assert.is(r.code, 1);
  assert.equal(r.json.results.map((x: { status: string }) => x.status), ["failed"]);
  assert.match(r.json.results[0].reason, /could not fast-forward main: .*main\.lock/);
  assert.is(git(["rev-parse", "HEAD"], repo), head);
  assert.is(git(["status", "--porcelain"], repo), "M notes.txt", "only the user's edit: no worker file staged");
  assert.not.ok(fs.existsSync(path.join(repo, "w.txt")));
  assert.is(fs.readFileSync(path.join(repo, "README.md"), "utf8"), "# scratch\n");
  fs.rmSync(lock);
  const again = orch(["land", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.is(fs.readFileSync(path.join(repo, "notes.txt"), "utf8"), "the user's own edit\n");
});

test("a disk that fills during the fast-forward: nothing lands, the checkout is put back, land works with room", async () => {
  const disk = smallDisk("4m");
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  try {
    const repo = scratchRepo("repo", { "a.txt": "a\n", "gone.txt": "g\n" }, disk.dir);
    assert.is(orch(["init"], { cwd: repo }).code, 0);
    // The checkout writes a.txt, removes gone.txt, then runs out of room in big.bin.
    const big = incompressibleMiB();
    const wt = await finishedWorker(repo, "feat/big", { "a.txt": "changed\n", "big.bin": big });
    git(["rm", "-q", "gone.txt"], wt);
    git(["commit", "-q", "--amend", "--no-edit"], wt);
    const filler = disk.fill(256);
    const head = git(["rev-parse", "HEAD"], repo);
    const r = orch(["land", "--json"], { cwd: repo });
    assert.is(r.code, 1, r.stderr);
    assert.equal(r.json.results.map((x: { status: string }) => x.status), ["failed"]);
    assert.match(r.json.results[0].reason, /could not fast-forward main: .*big\.bin/);
    assert.not.match(r.json.results[0].reason, /could not put back/);
    assert.is(git(["rev-parse", "HEAD"], repo), head);
    assert.is(git(["status", "--porcelain"], repo), "", "no file of the worker left written in the checkout");
    assert.is(fs.readFileSync(path.join(repo, "a.txt"), "utf8"), "a\n");
    assert.ok(fs.existsSync(path.join(repo, "gone.txt")));
    fs.rmSync(filler);
    const again = orch(["land", "--json"], { cwd: repo });
    assert.is(again.code, 0, again.stderr);
    assert.equal(fs.readFileSync(path.join(repo, "big.bin")), big);
    assert.not.ok(fs.existsSync(path.join(repo, "gone.txt")));
  } finally {
    disk.unmount();
  }
});

test("--method rebase replays a merge commit of the worker's branch as one commit, its own changes included", async () => {
  const { repo } = sessionRepo({ "f.txt": "a\nb\nc\n" });
  const wt = await finishedWorker(repo, "feat/merged", { "mine.txt": "mine\n" });
  git(["checkout", "-q", "-b", "side"], wt);
  commitFiles(wt, { "side.txt": "s\n" }, "side");
  git(["checkout", "-q", "feat/merged"], wt);
  git(["merge", "-q", "--no-ff", "--no-commit", "side"], wt);
  commitFiles(wt, { "f.txt": "changed in the merge\n" }, "merge side");
  commitFiles(repo, { "main.txt": "m\n" }, "main moves");
  const r = orch(["land", "feat/merged", "--method", "rebase", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(git(["log", "--format=%s", "-3"], repo).split("\n"), ["merge side", "feat/merged work", "main moves"]);
  assert.is(git(["rev-list", "--merges", "--count", "HEAD"], repo), "0", "replayed in a line");
  assert.is(git(["diff", "HEAD", "feat/merged", "--name-only"], repo), "main.txt", "all of the branch's content landed");
});

test("what land commits is by the user's configured identity, and by orch's only where git finds none", async () => {
  const { repo } = sessionRepo();
  const noIdentityInEnv = {
    GIT_AUTHOR_NAME: undefined, GIT_AUTHOR_EMAIL: undefined, GIT_COMMITTER_NAME: undefined, GIT_COMMITTER_EMAIL: undefined,
  };
  const wt = await finishedWorker(repo, "feat/who", { "who.txt": "w\n" });
  git(["commit", "-q", "--amend", "--no-edit", "--author", "Worker Bot <bot@worker.invalid>"], wt);
  git(["config", "user.name", "Real User"], repo);
  git(["config", "user.email", "real@user.invalid"], repo);
  const who = (ref: string) => git(["log", "-1", "--format=%an <%ae> / %cn <%ce>", ref], repo);
  const start = git(["rev-parse", "HEAD"], repo);
  const expected: [string, string, string][] = [
    ["squash", "HEAD", "Real User <real@user.invalid> / Real User <real@user.invalid>"],
    ["merge", "HEAD", "Real User <real@user.invalid> / Real User <real@user.invalid>"],
    ["rebase", "HEAD", "Worker Bot <bot@worker.invalid> / Real User <real@user.invalid>"],
  ];
  for (const [method, ref, identity] of expected) {
    const r = orch(["land", "feat/who", "--method", method, "--json"], { cwd: repo, env: noIdentityInEnv });
    assert.is(r.code, 0, r.stderr);
    assert.is(who(ref), identity, method);
    git(["reset", "-q", "--hard", start], repo);
  }
  // No identity anywhere (user.useConfigOnly: no guess from the host name): orch's, so the landing still happens.
  git(["config", "--unset", "user.name"], repo);
  git(["config", "--unset", "user.email"], repo);
  const r = orch(["land", "feat/who", "--json"], { cwd: repo, env: noGitIdentity(repo) });
  assert.is(r.code, 0, r.stderr);
  assert.is(who("HEAD"), "orch <orch@localhost> / orch <orch@localhost>");
});

test("--on-conflict return to a worker whose agent has ended: its agent is started again, told of the conflict", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const runs = path.join(tempDir("orch-runs-"), "runs.log");
  const agent = path.join(tempDir("orch-agent-"), "agent.sh");
  fs.writeFileSync(agent, [
    "#!/bin/sh",
    // Its arguments written aside, then renamed: the test reads the file as soon as it is there.
    `n=$(($(cat ${runs}.count 2>/dev/null || echo 0) + 1)); echo $n > ${runs}.count; ` +
      `printf '%s' "$*" > ${runs}.tmp; mv ${runs}.tmp ${runs}.$n`,
    '[ $n = 1 ] && { echo worker > README.md; git commit -qam work; }',
    'orch notify --type task_complete --summary "run $n"',
    "",
  ].join("\n"), { mode: 0o755 });
  assert.is(orch(["spawn", "ended", "--agent", agent], { cwd: repo, env }).code, 0);
  const status = () => orch(["status", "--json"], { cwd: repo, env }).json.workers[0];
  await waitUntil(() => status().status === "done" && status().agent_alive === false, 20_000, "the agent to end");
  commitFiles(repo, { "README.md": "base\n" }, "base");
  const landed = orch(["land", "ended", "--on-conflict", "return", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  assert.is(landed.json.results[0].status, "returned");
  assert.is(landed.json.results[0].restarted, true);
  assert.match(landed.json.results[0].reason, /its agent had ended and was started again$/);
  await waitUntil(() => fs.existsSync(`${runs}.2`), 20_000, "a second run");
  assert.match(fs.readFileSync(`${runs}.2`, "utf8"), /orch inbox has the conflicting paths/);
  await waitUntil(() => status().status === "done", 20_000, "its second report");
});

test("queued workers that rm and clean remove while land runs: skipped with the reason, the others land", async () => {
  const { repo, id } = sessionRepo();
  await finishedWorker(repo, "feat/a", { "a.txt": "a\n" });
  await finishedWorker(repo, "feat/b", { "b.txt": "b\n" });
  await finishedWorker(repo, "feat/c", { "c.txt": "c\n" });
  await finishedWorker(repo, "feat/d", { "d.txt": "d\n" });
  // c's work reached main another way (a squash merge): clean removes it as merged.
  git(["merge", "-q", "--squash", "feat/c"], repo);
  git(["commit", "-q", "-m", "c by hand"], repo);
  // While a is tested (the queue read), the user removes b and cleans c away, as another terminal would.
  const bin = orchCommand()[0];
  const meanwhile = `[ "$ORCH_LAND_WORKER" != feat-a ] || { ${bin} rm feat-b --force --yes --delete-branch && ` +
    `${bin} clean --yes; } >&2`;
  const r = orch(["land", "--test", meanwhile, "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /\n\s+at /, "no stack trace");
  const results = r.json.results.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]);
  assert.equal(results, [["feat-a", "landed"], ["feat-b", "skipped"], ["feat-c", "skipped"], ["feat-d", "landed"]]);
  for (const gone of [r.json.results[1], r.json.results[2]]) {
    assert.match(gone.reason, /^it was removed meanwhile \(orch rm or clean\)$/);
  }
  assert.is(git(["show", "main:d.txt"], repo), "d");
  assert.not.ok(fs.existsSync(path.join(repo, "b.txt")), "nothing of b landed");
  assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/feat/b"], repo), "b's branch stays deleted");
  const workers = path.join(repo, ".orch", "sessions", id, "workers");
  assert.equal(fs.readdirSync(workers).sort(), ["feat-a", "feat-d"], "nothing of b or c was made again");

  // One that an rm removes at this moment (its claim held by a live process, here this test): left to it.
  await finishedWorker(repo, "feat/e", { "e.txt": "e\n" });
  const claim = path.join(workers, "feat-e", "removing");
  fs.writeFileSync(claim, JSON.stringify({ pid: process.pid, start_time: startTime(process.pid) }));
  const head = git(["rev-parse", "main"], repo);
  const held = orch(["land"], { cwd: repo });
  assert.is(held.code, 0, held.stderr);
  assert.match(held.stdout, /^skipped +feat-e +another orch command \(rm or clean\) is removing it$/m);
  assert.is(git(["rev-parse", "main"], repo), head, "nothing landed");
});

test("a worker removed while land merges it, which conflicts: skipped, not handed back, the queue goes on", async () => {
  const { repo, id } = sessionRepo({ "shared.txt": "one\n" });
  await finishedWorker(repo, "feat/clash", { "shared.txt": "worker\n" });
  await finishedWorker(repo, "feat/after", { "after.txt": "after\n" });
  commitFiles(repo, { "shared.txt": "base\n" }, "the base changes the same line");
  // The user's rm runs as git starts merging the first worker (once: the rm's own git calls pass through).
  const rm = `${orchCommand()[0]} rm feat-clash --force --yes --delete-branch >&2`;
  const once = path.join(tempDir("orch-once-"), "done");
  const env = gitStandIn([`[ "$1 $2" = "merge --squash" ] && [ ! -e ${once} ] && touch ${once} && ${rm}`]);
  const r = orch(["land", "--on-conflict", "return", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  const results = r.json.results.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]);
  assert.equal(results, [["feat-clash", "skipped"], ["feat-after", "landed"]]);
  assert.is(r.json.results[0].reason, "it was removed meanwhile (orch rm or clean)");
  assert.equal(r.json.returned, []);
  const workers = path.join(repo, ".orch", "sessions", id, "workers");
  assert.equal(fs.readdirSync(workers), ["feat-after"], "nothing of the removed worker was written again");
});

test("a land stopped (Ctrl-Z) as it tests keeps its lock: a merge waits, saying so, and merges after it", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/slow", { "slow.txt": "s\n" });
  await finishedWorker(repo, "feat/other", { "other.txt": "o\n" });
  const scratch = tempDir("orch-stopped-land-");
  const [started, release] = [path.join(scratch, "started"), path.join(scratch, "release")];
  const testCommand = `touch ${started}; while [ ! -e ${release} ]; do sleep 0.05; done`;
  const land = orchAsync(["land", "feat-slow", "--test", testCommand, "--json"], { cwd: repo });
  await waitUntil(() => fs.existsSync(started), 30_000, "the land's test to start");
  const pid = land.child.pid!;
  process.kill(pid, "SIGSTOP");
  try {
    // As if it had been stopped a minute: proper-lockfile's touch of the lock every 2.5 s has not come since.
    const lock = path.join(repo, ".orch", "checkout.lock");
    const aMinuteAgo = new Date(Date.now() - 60_000);
    fs.utimesSync(lock, aMinuteAgo, aMinuteAgo);
    const merge = orchAsync(["merge", "feat-other", "--local", "--json"], { cwd: repo });
    let stderr = "";
    let ended = false;
    merge.child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    void merge.done.then(() => (ended = true));
    await waitUntil(() => ended || /waiting for pid/.test(stderr), 30_000, "the merge to wait or end");
    assert.not.ok(ended, `the merge went ahead under the stopped land's lock: ${stderr}`);
    const waiting = `waiting for pid ${pid} \\(land\\), which holds \\S+checkout\\.lock but has not run`;
    assert.match(stderr, new RegExp(waiting));
    process.kill(pid, "SIGCONT");
    fs.writeFileSync(release, "");
    const [landed, merged] = await Promise.all([land.done, merge.done]);
    assert.is(landed.code, 0, landed.stderr);
    assert.is(landed.json.results[0].status, "landed");
    assert.is(merged.code, 0, merged.stderr);
    assert.is(git(["show", "main:slow.txt"], repo), "s");
    assert.is(git(["show", "main:other.txt"], repo), "o");
    assert.not.ok(fs.existsSync(lock), "no lock is left");
  } finally {
    if (land.child.exitCode === null) land.child.kill("SIGCONT");
    fs.writeFileSync(release, "");
  }
});

test("a land at work keeps its lock's time fresh, so no waiter takes it for stopped, nor an older orch's for stale", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/slow", { "slow.txt": "s\n" });
  const scratch = tempDir("orch-fresh-lock-");
  const [started, release] = [path.join(scratch, "started"), path.join(scratch, "release")];
  const testCommand = `touch ${started}; while [ ! -e ${release} ]; do sleep 0.05; done`;
  const land = orchAsync(["land", "feat-slow", "--test", testCommand, "--json"], { cwd: repo });
  try {
    await waitUntil(() => fs.existsSync(started), 30_000, "the land's test to start");
    const lock = path.join(repo, ".orch", "checkout.lock");
    assert.ok(fs.existsSync(path.join(lock, "holder.json")), "the lock names its holder");
    // proper-lockfile touches a lock it holds every 2.5 s: the time a waiter judges a holder by moves on.
    const first = fs.statSync(lock).mtimeMs;
    await waitUntil(() => fs.statSync(lock).mtimeMs > first, 20_000, "the holder to touch its lock");
  } finally {
    fs.writeFileSync(release, "");
  }
  const landed = await land.done;
  assert.is(landed.code, 0, landed.stderr);
  assert.is(landed.json.results[0].status, "landed");
});

test("an older orch's lock whose time is old as the machine wakes: this orch waits for its holder's next touch", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/other", { "other.txt": "o\n" });
  // An older orch's lock (a folder naming no holder), held across a minute of sleep: its time is a minute old,
  // and its holder touches it (proper-lockfile, every 2.5 s) only a second after the machine wakes.
  const lock = path.join(repo, ".orch", "checkout.lock");
  fs.mkdirSync(lock);
  const aMinuteAgo = new Date(Date.now() - 60_000);
  fs.utimesSync(lock, aMinuteAgo, aMinuteAgo);
  const touch = () => {
    try {
      fs.utimesSync(lock, new Date(), new Date());
    } catch {
      // taken over meanwhile (what this test fails on)
    }
  };
  let touches: NodeJS.Timeout | undefined;
  const woke = setTimeout(() => {
    touch();
    touches = setInterval(touch, 2_500);
  }, 1_000);
  const merge = orchAsync(["merge", "feat-other", "--local", "--json"], { cwd: repo });
  let ended = false;
  void merge.done.then(() => (ended = true));
  try {
    await sleep(8_000);
    assert.not.ok(ended, "the merge took the live holder's lock over");
    assert.not.ok(fs.existsSync(path.join(repo, "other.txt")), "nothing merged under the older orch's lock");
  } finally {
    clearTimeout(woke);
    clearInterval(touches);
  }
  fs.rmdirSync(lock); // the older orch's command ends
  const merged = await merge.done;
  assert.is(merged.code, 0, merged.stderr);
  assert.is(git(["show", "main:other.txt"], repo), "o");
});

test("an older orch's waiter (round 26: no holder named, 10 s stale) never takes over this orch's lock", async () => {
  const { repo } = sessionRepo();
  await finishedWorker(repo, "feat/slow", { "slow.txt": "s\n" });
  const scratch = tempDir("orch-older-waiter-");
  const [started, release] = [path.join(scratch, "started"), path.join(scratch, "release")];
  const testCommand = `touch ${started}; while [ ! -e ${release} ]; do sleep 0.05; done`;
  const land = orchAsync(["land", "feat-slow", "--test", testCommand], { cwd: repo });
  await waitUntil(() => fs.existsSync(started), 30_000, "the land's test to start");
  const target = path.join(repo, ".orch", "checkout");
  const lock = `${target}.lock`;
  const aMinuteAgo = new Date(Date.now() - 60_000);
  // What an older orch's apply, merge or land asks of proper-lockfile: a lock untouched for 10 s is removed
  // (rmdir) and taken. The holder's file inside the folder is what keeps that rmdir from removing this one's.
  const { lock: olderLock } = await import("proper-lockfile");
  const olderTake = () => olderLock(target, { realpath: false, stale: 10_000, retries: 0 })
    .then(() => "taken", (error: NodeJS.ErrnoException) => error.code);
  try {
    process.kill(land.child.pid!, "SIGSTOP");
    fs.utimesSync(lock, aMinuteAgo, aMinuteAgo);
    assert.is(await olderTake(), "ENOTEMPTY", "a stopped holder's lock stands");
    process.kill(land.child.pid!, "SIGKILL");
    fs.writeFileSync(release, ""); // its test command, which holds the land's output open, ends too
    await land.done;
    fs.utimesSync(lock, aMinuteAgo, aMinuteAgo);
    assert.is(await olderTake(), "ENOTEMPTY", "a killed holder's too: the older orch cannot tell");
    assert.ok(fs.existsSync(path.join(lock, "holder.json")));
    // This orch takes the killed holder's lock over at once.
    const again = orch(["land", "feat-slow", "--json"], { cwd: repo });
    assert.is(again.code, 0, again.stderr);
    assert.is(again.json.results[0].status, "landed");
    assert.not.ok(fs.existsSync(lock), "no lock is left");
  } finally {
    if (land.child.exitCode === null && land.child.signalCode === null) land.child.kill("SIGKILL");
    fs.writeFileSync(release, "");
  }
});

test.run();
