// The caller's git environment (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE… as inside a git hook) never
// redirects orch: a red test lands nothing, a dry run changes nothing, hooks and tests see none of it.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, orch, scratchRepo, sessionRepo, snapshot, tempDir, writeFiles } from "./helpers.ts";

function finishedWorker(repo: string, branch: string, files: Record<string, string>): string {
  const wt = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  commitFiles(wt, files, `${branch} work`);
  assert.is(orch(["notify", "--type", "task_complete", "--summary", `${branch} done`], { cwd: wt }).code, 0);
  return wt;
}

/** The variables a git hook or an editor's terminal would have set, pointing at `repo`. */
function hookEnv(repo: string, extra: Record<string, string> = {}): Record<string, string> {
  return { GIT_DIR: path.join(repo, ".git"), GIT_WORK_TREE: repo, GIT_INDEX_FILE: path.join(repo, ".git", "index"), ...extra };
}

for (const target of ["the main repository", "another repository"]) {
  test(`land --test false with GIT_DIR/GIT_WORK_TREE/GIT_INDEX_FILE at ${target}: nothing lands, nothing changes there`, () => {
    const { repo } = sessionRepo();
    const other = target === "another repository" ? scratchRepo("other") : repo;
    finishedWorker(repo, "feat/red", { "red.txt": "red\n" });
    const head = git(["rev-parse", "HEAD"], repo);
    const otherHead = git(["rev-parse", "HEAD"], other);
    const otherFiles = snapshot(other).filter((line) => !line.startsWith(".git/") && !line.startsWith(".orch/"));
    const r = orch(["land", "--test", "false", "--json"], { cwd: repo, env: hookEnv(other) });
    assert.is(r.code, 1, r.stderr);
    assert.is(r.json.results[0].status, "test_failed");
    assert.is(git(["rev-parse", "HEAD"], repo), head, "the base did not move");
    assert.is(git(["rev-parse", "HEAD"], other), otherHead);
    assert.is(git(["status", "--porcelain"], repo), "", "the main checkout is untouched");
    assert.not.ok(fs.existsSync(path.join(repo, "red.txt")));
    assert.equal(snapshot(other).filter((line) => !line.startsWith(".git/") && !line.startsWith(".orch/")), otherFiles);
    assert.is(git(["worktree", "list"], repo).split("\n").length, 2, "the throw-away worktree is gone");
  });

  test(`apply --dry-run with the hook variables at ${target} changes nothing`, () => {
    const { repo } = sessionRepo();
    const other = target === "another repository" ? scratchRepo("other") : repo;
    finishedWorker(repo, "feat/dry", { "dry.txt": "dry\n" });
    const heads = [git(["rev-parse", "HEAD"], repo), git(["rev-parse", "HEAD"], other)];
    const r = orch(["apply", "feat/dry", "--dry-run", "--json"], { cwd: repo, env: hookEnv(other) });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.json.dry_run, true);
    assert.equal([git(["rev-parse", "HEAD"], repo), git(["rev-parse", "HEAD"], other)], heads);
    assert.is(git(["status", "--porcelain"], repo), "");
    assert.is(git(["status", "--porcelain"], other), "");
    assert.not.ok(fs.existsSync(path.join(repo, "dry.txt")));
    assert.not.ok(fs.existsSync(path.join(other, "dry.txt")));
  });
}

test("the land test command and gtr hooks run without the caller's repository variables, in their own checkout", () => {
  const { repo } = sessionRepo();
  const other = scratchRepo("other");
  const seen = path.join(path.dirname(repo), "seen.txt");
  const recordGitVariables =
    `printf '%s|%s|%s\\n' "\${GIT_DIR-unset}" "\${GIT_WORK_TREE-unset}" "$(git rev-parse --show-toplevel)" >> ${seen}`;
  git(["config", "gtr.hook.postCreate", recordGitVariables], repo);
  const env = hookEnv(other, { GIT_OBJECT_DIRECTORY: path.join(other, ".git", "objects"), GIT_NAMESPACE: "evil" });
  const spawned = orch(["spawn", "feat/hooked", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  assert.is(fs.readFileSync(seen, "utf8"), `unset|unset|${spawned.json.worktree_path}\n`);
  commitFiles(spawned.json.worktree_path, { "h.txt": "h\n" }, "h");
  orch(["notify", "--type", "task_complete", "--summary", "h"], { cwd: spawned.json.worktree_path });
  const testCommand = `test "\${GIT_DIR-unset}" = unset && test -f h.txt && ` +
    `test "$(git rev-parse --show-toplevel)" = "$PWD"`;
  const landed = orch(["land", "--test", testCommand, "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  assert.is(landed.json.results[0].status, "landed");
  assert.ok(fs.existsSync(path.join(repo, "h.txt")));
  assert.not.ok(fs.existsSync(path.join(other, "h.txt")));
  assert.is(git(["for-each-ref", "--format=%(refname)", "refs/namespaces"], other), "");
});

test("status and spawn find the repository from the folder, not from GIT_DIR", () => {
  const { repo, id } = sessionRepo();
  const other = scratchRepo("other");
  const r = orch(["status", "--json"], { cwd: repo, env: hookEnv(other) });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.orchestrator_id, id);
  assert.not.ok(fs.existsSync(path.join(other, ".orch")));
});

test("doctor's claude start check asks git of the repository's own files, not of GIT_DIR's: an approval in its " +
  "untracked local settings counts", () => {
  const { repo } = sessionRepo();
  commitFiles(repo, { ".mcp.json": JSON.stringify({ mcpServers: { x: { command: "true" } } }) }, "an MCP server");
  writeFiles(repo, { ".claude/settings.local.json": JSON.stringify({ enabledMcpjsonServers: ["x"] }) });
  // Another repository that does track a .claude/settings.local.json (Claude Code takes no approval from such a file).
  const other = scratchRepo("other", { ".claude/settings.local.json": "{}\n" });
  const home = tempDir("orch-home-");
  const check = (env: Record<string, string>) => {
    const r = orch(["doctor", "--agent", "claude", "--json"], { cwd: repo, env: { HOME: home, ...env } });
    return (r.json.checks as { name: string; ok: boolean; detail: string }[]).find((c) => c.name === "claude start");
  };
  assert.equal(check({})?.ok, true, "approved in the untracked local settings");
  const redirected = check(hookEnv(other));
  assert.is(redirected?.ok, true, redirected?.detail);
});

test.run();
