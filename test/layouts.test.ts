// The git layouts users work in besides one clone with .git/: a bare repository with linked worktrees (as
// proj.git, as proj/.bare named by proj/.git, as proj/.git itself). One store and one worktrees folder per
// repository, whichever worktree orch is run in; land and apply act on the worktree you stand in.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { agentScript, commitFiles, git, orch, privateTmux, scratchRepo, tempDir, waitUntil } from "./helpers.ts";

/** `git clone --bare` of a scratch repository to `bareName` in a fresh folder, with worktrees main and dev. */
function bareClone(bareName: string, worktrees = ["main", "dev"]): { top: string; bare: string; main: string } {
  const origin = scratchRepo("origin", { "README.md": "# bare\n" });
  const top = path.join(tempDir(), "proj");
  fs.mkdirSync(top);
  const bare = path.join(top, bareName);
  git(["clone", "-q", "--bare", origin, bare], top);
  for (const name of worktrees) {
    const branch = name === "main" ? ["main"] : ["-b", name, "main"];
    git(["worktree", "add", "-q", path.join(top, name), ...branch], bare);
  }
  return { top, bare, main: path.join(top, "main") };
}

function statusOf(cwd: string, env: Record<string, string | undefined> = {}) {
  const r = orch(["status", "--json"], { cwd, env });
  assert.is(r.code, 0, r.stderr);
  return r.json as { orchestrator_id: string; workers: { worker_id: string; status: string; base_branch: string;
    ahead: number; worktree_path: string }[] };
}

test("a bare repository (proj.git): one store in it and one worktrees folder beside it, from every worktree", async () => {
  const { top, bare, main } = bareClone("proj.git");
  const dev = path.join(top, "dev");
  const env = privateTmux();
  const init = orch(["init", "--json"], { cwd: main, env });
  assert.is(init.code, 0, init.stderr);
  const agent = agentScript([
    "echo one > one.txt && git add one.txt && git commit -q -m one",
    'orch notify --type task_complete --summary "one done"',
  ]);
  const one = orch(["spawn", "feat/one", "--agent", agent, "--json"], { cwd: main, env });
  assert.is(one.code, 0, one.stderr);
  // The second worker is spawned from the other worktree: same session, same folder for worktrees.
  const two = orch(["spawn", "feat/two", "--no-window", "--json"], { cwd: dev, env });
  assert.is(two.code, 0, two.stderr);
  assert.is(one.json.worktree_path, path.join(top, "proj.git-worktrees", "feat-one"));
  assert.is(two.json.worktree_path, path.join(top, "proj.git-worktrees", "feat-two"));
  commitFiles(two.json.worktree_path, { "two.txt": "two\n" }, "two");
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "two done"], { cwd: two.json.worktree_path }).code, 0);
  await waitUntil(() => statusOf(main, env).workers.every((w) => w.status === "done"), 20_000, "both workers done");

  assert.ok(fs.existsSync(path.join(bare, ".orch")), "the store is in the bare repository");
  for (const wt of [main, dev]) assert.not.ok(fs.existsSync(path.join(wt, ".orch")), `no store in ${wt}`);
  const fromDev = statusOf(dev, env);
  assert.is(fromDev.orchestrator_id, init.json.orchestrator_id, "dev sees the session made in main");
  const standing = fromDev.workers.map((w) => [w.worker_id, w.base_branch, w.ahead]);
  assert.equal(standing, [["feat-one", "main", 1], ["feat-two", "dev", 1]], "each based on the worktree it came from");

  const polled = orch(["poll", "--json"], { cwd: dev, env });
  assert.equal(polled.json.messages.map((m: { worker_id: string }) => m.worker_id).sort(), ["feat-one", "feat-two"]);
  assert.match(orch(["diff", "feat/one"], { cwd: main, env }).stdout, "+one");
  // land brings work into the worktree you stand in, where its base is checked out; elsewhere it says which.
  const elsewhere = orch(["land", "feat/two", "--test", "true", "--json"], { cwd: main, env });
  assert.is(elsewhere.code, 1, elsewhere.stdout);
  assert.match(JSON.stringify(elsewhere.json), `${main} has main checked out, but feat-two started from dev: ` +
    `dev is checked out at ${dev}: run it there`);
  const landed = orch(["land", "feat/one", "--test", "test -f one.txt", "--json"], { cwd: main, env });
  assert.is(landed.code, 0, landed.stdout + landed.stderr);
  assert.is(fs.readFileSync(path.join(main, "one.txt"), "utf8"), "one\n");
  const applied = orch(["apply", "feat/two"], { cwd: dev, env });
  assert.is(applied.code, 0, applied.stderr);
  assert.is(git(["log", "-1", "--format=%s"], dev), "two");
  assert.is(orch(["sync", "--json"], { cwd: dev, env }).code, 0);
  assert.is(orch(["rm", "feat/two"], { cwd: dev, env }).code, 0);
  const cleaned = orch(["clean", "--yes", "--json"], { cwd: main, env });
  assert.is(cleaned.code, 0, cleaned.stderr);
  assert.equal(statusOf(dev, env).workers, []);
  assert.is(git(["worktree", "list", "--porcelain"], bare).split("\n\n").length, 3, "bare, main and dev are left");
});

test("a bare repository (proj.git): a worktree a killed rm left without its .git is removed by rm --force", () => {
  const { bare, main } = bareClone("proj.git", ["main"]);
  assert.is(orch(["init"], { cwd: main }).code, 0);
  const spawned = orch(["spawn", "cut", "--no-window", "--json"], { cwd: main });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  // As git worktree remove, killed half-way, leaves it: the .git among the files it deleted.
  fs.rmSync(path.join(worktree, ".git"));
  // git's record of it is in the bare repository, not in main/.git (a file there): before, rm looked there,
  // took the folder for not the worker's, forgot the worker and left the folder and git's record.
  const removed = orch(["rm", "cut", "--yes", "--force"], { cwd: main });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.match(removed.stdout, /forgotten only/);
  assert.not.ok(fs.existsSync(worktree), "the half-removed folder is gone");
  assert.not.match(git(["worktree", "list", "--porcelain"], bare), worktree, "git's record of it is gone");
});

test("a bare repository that its folder's .git names (proj/.bare): the store is in that folder", () => {
  const { top, main } = bareClone(".bare", ["main"]);
  fs.writeFileSync(path.join(top, ".git"), "gitdir: ./.bare\n");
  assert.is(orch(["init"], { cwd: main }).code, 0);
  const spawned = orch(["spawn", "feat/x", "--no-window", "--json"], { cwd: main });
  assert.is(spawned.code, 0, spawned.stderr);
  assert.ok(fs.existsSync(path.join(top, ".orch")));
  assert.not.ok(fs.existsSync(path.join(main, ".orch")));
  assert.is(spawned.json.worktree_path, path.join(path.dirname(top), "proj-worktrees", "feat-x"));
});

test("a bare repository named .git (proj/.git): land brings work into the worktree you stand in", () => {
  const { top, main } = bareClone(".git", ["main"]);
  assert.is(orch(["init"], { cwd: main }).code, 0);
  const wt = orch(["spawn", "feat/x", "--no-window", "--json"], { cwd: main }).json.worktree_path;
  commitFiles(wt, { "x.txt": "x\n" }, "x");
  const landed = orch(["land", "feat/x", "--json"], { cwd: main });
  assert.is(landed.code, 0, landed.stdout + landed.stderr);
  assert.is(fs.readFileSync(path.join(main, "x.txt"), "utf8"), "x\n");
  assert.ok(fs.existsSync(path.join(top, ".orch")), "the store stays where it was: in proj/");
});

test("a --separate-git-dir clone: the store is in the checkout, workers land into it", () => {
  const origin = scratchRepo("origin");
  const parent = tempDir();
  const checkout = path.join(parent, "work");
  git(["clone", "-q", `--separate-git-dir=${path.join(parent, "gitdir")}`, origin, checkout], parent);
  assert.is(orch(["init"], { cwd: checkout }).code, 0);
  const wt = orch(["spawn", "feat/x", "--no-window", "--json"], { cwd: checkout }).json.worktree_path;
  assert.is(wt, path.join(parent, "work-worktrees", "feat-x"));
  commitFiles(wt, { "x.txt": "x\n" }, "x");
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "x"], { cwd: wt }).code, 0);
  const landed = orch(["land", "--json"], { cwd: checkout });
  assert.is(landed.code, 0, landed.stdout + landed.stderr);
  assert.ok(fs.existsSync(path.join(checkout, ".orch")) && fs.existsSync(path.join(checkout, "x.txt")));
});

test.run();
