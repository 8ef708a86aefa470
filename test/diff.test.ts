// orch diff and orch pr: reviewing a worker's change, locally and through gh (a recording stand-in).

import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { baseEnv, commitFiles, ghStandIn, git, orch, orchCommand, sessionRepo } from "./helpers.ts";

test("diff shows the worker's commits since its base: files with counts, renames, binaries, the patch", () => {
  const { repo } = sessionRepo({ "README.md": "r\n", "old.txt": "keep\n".repeat(10) });
  const wt = orch(["spawn", "feat/review", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(repo, { "main-only.txt": "main moved on\n" }, "main moves on");
  commitFiles(wt, { "new.txt": "one\ntwo\n" }, "add new");
  commitFiles(wt, { "logo.bin": Buffer.concat([Buffer.from([0, 159, 146, 150]), crypto.randomBytes(64)]) }, "add a binary");
  git(["mv", "old.txt", "renamed.txt"], wt);
  git(["commit", "-qm", "rename"], wt);
  fs.writeFileSync(path.join(wt, "wip.txt"), "not committed");
  const r = orch(["diff", "feat/review", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.commits.map((c: { subject: string }) => c.subject), ["add new", "add a binary", "rename"]);
  type FileStat = { path: string; additions: number | null; deletions: number | null; from?: string };
  const files = Object.fromEntries(r.json.files.map((f: FileStat) => [f.path, f]));
  assert.equal(Object.keys(files).sort(), ["logo.bin", "new.txt", "renamed.txt"], "main's own commit is not the worker's change");
  assert.is(files["new.txt"].additions, 2);
  assert.is(files["logo.bin"].additions, null, "binary: no line counts");
  assert.is(files["renamed.txt"].from, "old.txt");
  assert.match(r.json.diff, /GIT binary patch/);
  assert.match(r.json.uncommitted_warning, /wip\.txt/);
  const stat = orch(["diff", "feat-review", "--stat"], { cwd: repo });
  assert.match(stat.stdout, /add new/);
  assert.match(stat.stdout, /3 files changed/);
  assert.is(orch(["diff", "nobody"], { cwd: repo }).code, 1);
});

test("pr shows the PR through gh pr view and gh pr diff, with exactly these arguments", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/pr", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  const gh = ghStandIn([
    'case "$1 $2" in',
    `  "pr view") echo '{"number":12,"url":"https://github.com/o/r/pull/12","title":"Add login","state":"OPEN","body":"Body."}' ;;`,
    `  "pr diff") echo 'diff --git a/x b/x' ;;`,
    "esac",
  ]);
  const env = gh.env;
  orch(["notify", "--type", "task_complete", "--summary", "done", "--pr-url", "https://github.com/o/r/pull/12"], { cwd: wt });
  const r = orch(["pr", "feat/pr", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.pr.title, "Add login");
  assert.match(r.json.diff, /diff --git/);
  assert.equal(gh.calls(), [
    "pr view https://github.com/o/r/pull/12 --json " +
      "number,url,title,state,body,headRefName,baseRefName,mergeable,reviewDecision,additions,deletions",
    "pr diff https://github.com/o/r/pull/12",
  ]);
  const noPullRequest = ghStandIn(["echo 'no pull requests found for branch' >&2", "exit 1"]);
  const none = orch(["pr", "feat/pr", "--json"], { cwd: repo, env: noPullRequest.env });
  assert.is(none.code, 1);
  assert.is(none.json.error.code, "not_found");
});

test("pr: a gh that answers pr view with something that is not JSON is one line and exit 1, never a stack", () => {
  const { repo } = sessionRepo();
  orch(["spawn", "feat/pr", "--no-window"], { cwd: repo });
  const env = ghStandIn(["echo 'A new release of gh is available'"]).env;
  const r = orch(["pr", "feat/pr", "--json"], { cwd: repo, env });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.error.code, "failed");
  assert.match(r.stderr, /^orch: gh pr view printed something that is not a JSON object: A new release of gh is available\n$/);
  const nothing = orch(["pr", "feat/pr"], { cwd: repo, env: ghStandIn(["echo null"]).env });
  assert.is(nothing.code, 1, nothing.stderr);
  assert.match(nothing.stderr, /^orch: gh pr view printed something that is not a JSON object: null\n$/);
});

test("pr: a gh that could not look (not logged in, no GitHub remote) fails with its cause, never 'no pull request'", () => {
  const { repo } = sessionRepo();
  orch(["spawn", "feat/pr", "--no-window"], { cwd: repo });
  const cases: [string, number, RegExp][] = [
    [
      "To get started with GitHub CLI, please run:  gh auth login\n" +
        "Alternatively, populate the GH_TOKEN environment variable with a GitHub API authentication token.\n",
      4, /^gh pr view feat\/pr failed: gh is not logged in \(run gh auth login, or set GH_TOKEN\): To get started/,
    ],
    [
      "none of the git remotes configured for this repository point to a known GitHub host. " +
        "To tell gh about a new GitHub host, please use `gh auth login`\n",
      1, /^gh pr view feat\/pr failed: none of the git remotes configured for this repository point to a known GitHub/,
    ],
  ];
  for (const [stderr, code, said] of cases) {
    const gh = ghStandIn([`cat >&2 <<'EOF'\n${stderr}EOF`, `exit ${code}`]);
    const r = orch(["pr", "feat/pr", "--json"], { cwd: repo, env: gh.env });
    assert.is(r.code, 1, r.stderr);
    assert.is(r.json.error.code, "failed", r.json.error.message);
    assert.match(r.json.error.message, said);
  }
  // gh found no such PR: that is not_found, for a branch and for a reported URL.
  const wt = path.join(path.dirname(repo), "repo-worktrees", "feat-pr");
  const url = "https://github.com/o/r/pull/12";
  orch(["notify", "--type", "task_complete", "--summary", "done", "--pr-url", url], { cwd: wt });
  const gone = ghStandIn([
    "echo 'GraphQL: Could not resolve to a PullRequest with the number of 12. (repository.pullRequest)' >&2", "exit 1",
  ]);
  const r = orch(["pr", "feat/pr", "--json"], { cwd: repo, env: gone.env });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.error.code, "not_found");
  assert.match(r.json.error.message, /^no pull request for feat-pr \(https:\/\/github\.com\/o\/r\/pull\/12\): GraphQL/);
});

test("diff's patch is one git apply takes, whatever the user's diff.external, color.ui and diff.noprefix", () => {
  const { repo } = sessionRepo({ "f.txt": "a\nb\nc\n" });
  for (const [key, value] of [["diff.external", "echo EXTERNAL"], ["color.ui", "always"], ["diff.noprefix", "true"]]) {
    git(["config", key!, value!], repo);
  }
  const wt = orch(["spawn", "feat/plain", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(wt, { "f.txt": "a\nB\nc\n", "dir/new.txt": "n\n" }, "change");
  const r = orch(["diff", "feat/plain", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.json.diff, /EXTERNAL|\u001b/);
  const patch = path.join(path.dirname(repo), "change.patch");
  fs.writeFileSync(patch, r.json.diff);
  git(["apply", "--index", patch], repo);
  assert.is(git(["write-tree"], repo), git(["rev-parse", "feat/plain^{tree}"], repo));
  const stat = orch(["diff", "feat/plain", "--stat"], { cwd: repo, env: { NO_COLOR: undefined } });
  assert.not.match(stat.stdout, /\u001b/);
});

test("diff prints a patch of files that are not UTF-8 (Latin-1) byte for byte: it applies", () => {
  const { repo } = sessionRepo({ "latin1.txt": "start\n" });
  const wt = orch(["spawn", "feat/latin1", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(wt, { "latin1.txt": Buffer.from("start\ncaf\xe9 na\xefve\n", "latin1"), "utf8.txt": "日本 ✓\n" }, "encodings");
  const [command, ...pre] = orchCommand();
  const printed = spawnSync(command!, [...pre, "diff", "feat/latin1"], { cwd: repo, env: baseEnv() });
  assert.is(printed.status, 0, String(printed.stderr));
  assert.ok(printed.stdout.includes(Buffer.from("+caf\xe9 na\xefve\n", "latin1")), "the Latin-1 bytes as they are");
  const patch = path.join(path.dirname(repo), "encodings.patch");
  fs.writeFileSync(patch, printed.stdout);
  git(["apply", "--index", patch], repo);
  assert.is(git(["write-tree"], repo), git(["rev-parse", "feat/latin1^{tree}"], repo));
});

test("pr of a branch gh would read as a PR number (\"42\") finds the PR whose head it is, never PR #42", () => {
  const { repo } = sessionRepo();
  orch(["spawn", "42", "--no-window"], { cwd: repo });
  const gh = ghStandIn([
    'case "$1 $2" in',
    `  "pr list") echo '[{"url":"https://github.com/o/r/pull/7"}]' ;;`,
    `  "pr view") echo '{"number":7,"url":"https://github.com/o/r/pull/7","title":"Branch 42","state":"OPEN"}' ;;`,
    "esac",
  ]);
  const r = orch(["pr", "42", "--json"], { cwd: repo, env: gh.env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.pr.number, 7);
  const fields = "number,url,title,state,body,headRefName,baseRefName,mergeable,reviewDecision,additions,deletions";
  assert.equal(gh.calls(), [
    "pr list --head 42 --state all --json url --limit 1",
    `pr view https://github.com/o/r/pull/7 --json ${fields}`,
    "pr diff https://github.com/o/r/pull/7",
  ]);
  const none = orch(["pr", "42", "--json"], { cwd: repo, env: ghStandIn(["echo '[]'"]).env });
  assert.is(none.code, 1, none.stderr);
  assert.is(none.json.error.code, "not_found");
});

test.run();
