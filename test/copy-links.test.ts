// Copying ignored files into worktrees (gtr.copy.include, .worktreeinclude) never writes through a
// symbolic link a branch committed, at the file or any folder above it: not on spawn, not on land.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, orch, sessionRepo, tempDir } from "./helpers.ts";

/** A repository whose main checkout holds ignored secrets, and a branch `evil` that commits links where they go. */
function hostileBranch(): { repo: string; outside: string } {
  const { repo } = sessionRepo({ ".gitignore": "secret.env\nconf/\n", "README.md": "r\n" });
  const outside = tempDir("orch-outside-");
  fs.writeFileSync(path.join(repo, "secret.env"), "TOKEN=main-checkout-secret\n");
  fs.mkdirSync(path.join(repo, "conf"));
  fs.writeFileSync(path.join(repo, "conf", "key"), "private key\n");
  git(["config", "--add", "gtr.copy.include", "secret.env"], repo);
  fs.writeFileSync(path.join(repo, ".worktreeinclude"), "conf/key\n");
  git(["checkout", "-q", "-b", "evil"], repo);
  git(["rm", "-q", "--cached", ".gitignore"], repo);
  fs.rmSync(path.join(repo, ".gitignore"));
  fs.renameSync(path.join(repo, "secret.env"), path.join(repo, "secret.env.keep"));
  fs.renameSync(path.join(repo, "conf"), path.join(repo, "conf.keep"));
  fs.symlinkSync(path.join(outside, "stolen.env"), path.join(repo, "secret.env"));
  fs.symlinkSync(outside, path.join(repo, "conf"));
  git(["add", "secret.env", "conf"], repo);
  git(["commit", "-q", "-m", "links where the copies go"], repo);
  git(["checkout", "-q", "main"], repo);
  fs.rmSync(path.join(repo, "secret.env"), { force: true });
  fs.rmSync(path.join(repo, "conf"), { force: true, recursive: true });
  fs.renameSync(path.join(repo, "secret.env.keep"), path.join(repo, "secret.env"));
  fs.renameSync(path.join(repo, "conf.keep"), path.join(repo, "conf"));
  return { repo, outside };
}

test("spawn of a branch with committed links at the copy destinations writes nothing through them", () => {
  const { repo, outside } = hostileBranch();
  const r = orch(["spawn", "evil", "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(fs.readdirSync(outside), [], "nothing was written outside the worktree");
  assert.match(r.stderr, /not copying secret\.env .*symbolic link/);
  assert.match(r.stderr, /not copying conf\/key .*symbolic link/);
  assert.ok(fs.lstatSync(path.join(r.json.worktree_path, "secret.env")).isSymbolicLink(), "the branch's link is left as committed");
});

test("a normal branch still gets the copies", () => {
  const { repo, outside } = hostileBranch();
  const r = orch(["spawn", "feat/plain", "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(fs.readFileSync(path.join(r.json.worktree_path, "secret.env"), "utf8"), "TOKEN=main-checkout-secret\n");
  assert.is(fs.readFileSync(path.join(r.json.worktree_path, "conf", "key"), "utf8"), "private key\n");
  assert.equal(fs.readdirSync(outside), []);
});

test("land copies into its throw-away worktree without following the worker's committed links", () => {
  const { repo, outside } = hostileBranch();
  const wt = orch(["spawn", "feat/linker", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  fs.rmSync(path.join(wt, "secret.env"));
  fs.symlinkSync(path.join(outside, "landed.env"), path.join(wt, "secret.env"));
  git(["add", "-f", "secret.env"], wt);
  commitFiles(wt, { "work.txt": "w\n" }, "work plus a link");
  orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: wt });
  const landed = orch(["land", "--test", "true", "--json"], { cwd: repo });
  // The test ran in the throw-away worktree, whose copies left the link alone.
  assert.match(landed.stderr, /not copying secret\.env into .*symbolic link/);
  assert.match(landed.stderr, /testing feat-linker/);
  assert.equal(fs.readdirSync(outside), [], "the main checkout's secret was not written through the link");
  // Landing it would then replace the user's ignored secret.env here with the worker's link: it stops there.
  assert.is(landed.code, 1, landed.stderr);
  assert.match(landed.stderr, /stopped at feat-linker: local changes .*ignored\) touch secret\.env/);
  assert.is(fs.readFileSync(path.join(repo, "secret.env"), "utf8"), "TOKEN=main-checkout-secret\n");
});

test("a source that is a link in the main checkout is not copied (it could point at anything)", () => {
  const { repo } = sessionRepo({ ".gitignore": "*.env\n" });
  const outside = tempDir("orch-outside-");
  fs.writeFileSync(path.join(outside, "id_rsa"), "ssh key\n");
  fs.symlinkSync(path.join(outside, "id_rsa"), path.join(repo, "linked.env"));
  git(["config", "--add", "gtr.copy.include", "*.env"], repo);
  const r = orch(["spawn", "feat/src", "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(fs.existsSync(path.join(r.json.worktree_path, "linked.env")));
});

test.run();
