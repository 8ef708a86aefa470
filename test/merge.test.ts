// orch merge: local squash, rebase and merge; conflicts; gh pr merge when a PR and a GitHub remote exist.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { gitHubHosts, remoteUrlHost, remoteUrlRepository } from "../src/adapters/git.ts";
import {
  commitFiles, ghStandIn, git, gitOk, incompressibleMiB, noGitIdentity, orch, sessionRepo, smallDisk, tempDir, workerOnDisk,
} from "./helpers.ts";

/**
 * A session repository whose origin is github.com/acme/shop to orch and gh, fetched from and pushed to a bare
 * repository here (url.insteadOf): GitHub cannot be reached.
 */
/** A session repository whose origin is `url` (GitHub's, as configured), served from a local bare one. */
function githubSessionRepo(url = "https://github.com/acme/shop.git"): { repo: string; bare: string } {
  const { repo } = sessionRepo();
  const bare = path.join(tempDir(), "origin.git");
  git(["init", "-q", "--bare", bare], repo);
  git(["remote", "add", "origin", url], repo);
  git(["config", `url.${bare}.insteadOf`, url], repo);
  git(["push", "-q", "origin", "main"], repo);
  return { repo, bare };
}

function workerWithCommits(repo: string, branch: string, commits: Record<string, string>[]): string {
  const wt = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commits.forEach((files, i) => commitFiles(wt, files, `${branch} commit ${i + 1}`));
  return wt;
}

test("local squash: one commit with the worker's summary, the branch's tree", () => {
  const { repo } = sessionRepo();
  const wt = workerWithCommits(repo, "feat/sq", [{ "a.txt": "a\n" }, { "b.txt": "b\n" }]);
  orch(["notify", "--type", "task_complete", "--summary", "Add a and b", "--details", "Both files."], { cwd: wt });
  const r = orch(["merge", "feat/sq", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.method, "squash");
  assert.is(r.json.via, "local");
  assert.is(git(["rev-list", "--count", "HEAD"], repo), "2");
  assert.is(git(["log", "-1", "--format=%s"], repo), "Add a and b");
  assert.match(git(["log", "-1", "--format=%b"], repo), /Both files\.[\s\S]*\* feat\/sq commit 1[\s\S]*Worker: feat-sq/);
  assert.is(git(["rev-parse", "HEAD^{tree}"], repo), git(["rev-parse", "HEAD^{tree}"], wt));
});

test("a squash left staged by a merge killed before its commit: merge names it and both ways out; git commit finishes", () => {
  const { repo } = sessionRepo();
  workerWithCommits(repo, "feat/half", [{ "h.txt": "h\n" }]);
  // What orch merge leaves when it is killed between git merge --squash and its git commit.
  git(["merge", "--squash", "--ff", "feat/half"], repo);
  const head = git(["rev-parse", "HEAD"], repo);
  const again = orch(["merge", "feat/half"], { cwd: repo });
  assert.is(again.code, 1, again.stdout);
  assert.match(again.stderr, /staged changes \(h\.txt\): they are what a git merge --squash left/);
  assert.match(again.stderr, /git commit finishes that merge, git reset --merge drops it/);
  assert.is(git(["rev-parse", "HEAD"], repo), head, "nothing was committed");
  git(["commit", "-q", "--no-edit"], repo);
  const done = orch(["merge", "feat/half"], { cwd: repo });
  assert.is(done.code, 1);
  assert.match(done.stderr, /already merged/, "the merge it finished is the worker's");
});

test("a worker with no commits, its work left uncommitted: refused as having none, the files named", () => {
  const { repo } = sessionRepo();
  const wt = workerWithCommits(repo, "feat/none", []);
  fs.writeFileSync(path.join(wt, "left.txt"), "uncommitted\n");
  const r = orch(["merge", "feat/none", "--json"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.error.code, "refused");
  assert.match(r.json.error.message, /^feat-none has no commits since its base [0-9a-f]{12}: nothing to do$/);
  assert.match(r.stderr, "uncommitted changes that are not included: left.txt");
  assert.is(git(["rev-list", "--count", "HEAD"], repo), "1", "nothing merged");
});

test("local rebase replays each commit; local merge makes a merge commit", () => {
  const { repo } = sessionRepo();
  workerWithCommits(repo, "feat/rb", [{ "r1.txt": "1\n" }, { "r2.txt": "2\n" }]);
  commitFiles(repo, { "main.txt": "m\n" }, "main moves on");
  const rb = orch(["merge", "feat/rb", "--rebase", "--json"], { cwd: repo });
  assert.is(rb.code, 0, rb.stderr);
  assert.equal(git(["log", "--format=%s", "-3"], repo).split("\n"), ["feat/rb commit 2", "feat/rb commit 1", "main moves on"]);
  assert.is(git(["rev-list", "--merges", "--count", "HEAD"], repo), "0", "linear");
  workerWithCommits(repo, "feat/mg", [{ "m1.txt": "1\n" }]);
  const mg = orch(["merge", "feat/mg", "--merge", "--json"], { cwd: repo });
  assert.is(mg.code, 0, mg.stderr);
  assert.is(git(["rev-list", "--parents", "-1", "HEAD"], repo).split(" ").length, 3, "a merge commit has two parents");
});

test("a conflict exits 1, names the paths, and leaves the base as it was", () => {
  const { repo } = sessionRepo({ "f.txt": "a\nb\nc\n" });
  workerWithCommits(repo, "feat/cf", [{ "f.txt": "a\nW\nc\n" }]);
  commitFiles(repo, { "f.txt": "a\nM\nc\n" }, "main edits f");
  const head = git(["rev-parse", "HEAD"], repo);
  for (const method of ["--squash", "--merge", "--rebase"]) {
    const r = orch(["merge", "feat/cf", method, "--json"], { cwd: repo });
    assert.is(r.code, 1, `${method}: ${r.stderr}`);
    assert.is(r.json.error.code, "conflict");
    assert.equal(r.json.conflict_paths, ["f.txt"]);
    assert.is(git(["rev-parse", "HEAD"], repo), head);
    assert.is(git(["status", "--porcelain"], repo), "", `${method} left the checkout clean`);
  }
});

test("commit.gpgsign with no key is no conflict: exit 1, code failed, git's cause named, nothing changed", () => {
  const { repo } = sessionRepo();
  workerWithCommits(repo, "feat/signed", [{ "s.txt": "s\n" }]);
  git(["config", "gpg.program", "false"], repo); // signing with no key to sign with, whether gpg is installed or not
  git(["config", "commit.gpgsign", "true"], repo);
  const head = git(["rev-parse", "HEAD"], repo);
  for (const method of ["--squash", "--merge", "--rebase"]) {
    const r = orch(["merge", "feat/signed", method, "--json"], { cwd: repo });
    assert.is(r.code, 1, `${method}: ${r.stderr}`);
    assert.is(r.json.error.code, "failed", `${method}: not a conflict`);
    assert.match(r.json.error.message, /gpg failed to sign the data; nothing was merged$/, method);
    assert.not.match(r.json.error.message, /does not merge cleanly/, method);
    assert.is(git(["rev-parse", "HEAD"], repo), head);
    assert.is(git(["status", "--porcelain"], repo), "", `${method} left the checkout clean`);
  }
});

test("refusals: two methods (exit 2), the main worktree on another branch (exit 1)", () => {
  const { repo } = sessionRepo();
  workerWithCommits(repo, "feat/rf", [{ "x.txt": "x\n" }]);
  assert.is(orch(["merge", "feat/rf", "--squash", "--rebase"], { cwd: repo }).code, 2);
  git(["checkout", "-q", "-b", "elsewhere"], repo);
  const r = orch(["merge", "feat/rf", "--json"], { cwd: repo });
  assert.is(r.code, 1);
  assert.match(r.json.error.message, /check out main/);
});

test("with a PR and a GitHub remote: gh pr merge <url> --squash|--rebase|--merge exactly, if its head is the branch's tip", () => {
  const { repo, bare } = githubSessionRepo();
  const wt = workerWithCommits(repo, "feat/gh", [{ "g.txt": "g\n" }]);
  orch(["notify", "--type", "task_complete", "--summary", "PR ready", "--pr-url", "https://github.com/acme/shop/pull/9"], { cwd: wt });
  // The stand-in "merges" on the remote the way GitHub would: the squashed change lands on origin/main.
  const gh = ghStandIn([`git -C ${JSON.stringify(wt)} push -q ${JSON.stringify(bare)} HEAD:main`]);
  const env = gh.env;
  const r = orch(["merge", "feat/gh", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.via, "github");
  assert.is(r.json.base_updated, true);
  assert.is(git(["rev-parse", "HEAD"], repo), git(["rev-parse", "HEAD"], wt), "main fast-forwarded to what GitHub merged");
  orch(["merge", "feat/gh", "--rebase"], { cwd: repo, env });
  orch(["merge", "feat/gh", "--merge"], { cwd: repo, env });
  const state = "pr view https://github.com/acme/shop/pull/9 --json state,baseRefName";
  // GitHub merges only if the PR's head is the branch's tip here: a commit not pushed is never left out.
  const tip = `--match-head-commit ${git(["rev-parse", "feat/gh"], repo)}`;
  assert.equal(gh.calls(), [
    `pr merge https://github.com/acme/shop/pull/9 --squash ${tip}`, state,
    `pr merge https://github.com/acme/shop/pull/9 --rebase ${tip}`, state,
    `pr merge https://github.com/acme/shop/pull/9 --merge ${tip}`, state,
  ]);
  const local = orch(["merge", "feat/gh", "--local", "--json"], { cwd: repo, env });
  assert.is(local.code, 1);
  assert.match(local.json.error.message, /already merged/, "--local merges here, and here it is already in");
  assert.is(gh.calls().length, 6, "--local never calls gh");
});

test("a PR the worker never reported: merge finds it with gh and merges it; one behind the branch, or gh unable to look", () => {
  const { repo, bare } = githubSessionRepo();
  const wt = workerWithCommits(repo, "feat/hand", [{ "h.txt": "h\n" }]);
  const head = path.join(tempDir(), "pr-head");
  fs.writeFileSync(head, git(["rev-parse", "HEAD"], wt));
  const pr = "https://github.com/acme/shop/pull/7";
  const gh = ghStandIn([
    'case "$1 $2" in',
    `"pr list") printf '[{"number":7,"url":"${pr}","headRefOid":"%s"}]' "$(cat ${JSON.stringify(head)})" ;;`,
    `"pr merge") git -C ${JSON.stringify(wt)} push -q ${JSON.stringify(bare)} HEAD:main ;;`,
    "esac",
  ]);
  const list = "pr list --head feat/hand --state open --json number,url,headRefOid --limit 100";
  // The worker committed again after the PR was opened: merging the PR would leave that commit out.
  commitFiles(wt, { "h2.txt": "later\n" }, "not pushed");
  const base = git(["rev-parse", "main"], repo);
  const behind = orch(["merge", "feat/hand", "--json"], { cwd: repo, env: gh.env });
  assert.is(behind.code, 1, behind.stderr);
  assert.is(behind.json.error.code, "refused");
  assert.match(behind.json.error.message, `feat/hand has an open PR on GitHub, ${pr} (head `);
  assert.match(behind.json.error.message, /push the branch and merge again, or merge it here with --local/);
  assert.is(git(["rev-parse", "main"], repo), base, "nothing merged");
  assert.equal(gh.calls(), [list]);
  // Pushed: the PR's head is the branch's tip, and the PR is what merges.
  fs.writeFileSync(head, git(["rev-parse", "HEAD"], wt));
  const merged = orch(["merge", "feat/hand", "--json"], { cwd: repo, env: gh.env });
  assert.is(merged.code, 0, merged.stderr);
  assert.is(merged.json.via, "github");
  assert.is(merged.json.pr_url, pr);
  const tip = `--match-head-commit ${git(["rev-parse", "feat/hand"], repo)}`;
  assert.equal(gh.calls().slice(1), [list, `pr merge ${pr} --squash ${tip}`, `pr view ${pr} --json state,baseRefName`]);
  assert.is(git(["rev-parse", "HEAD"], repo), git(["rev-parse", "HEAD"], wt), "main fast-forwarded to what merged");

  // gh cannot look (not logged in): the branch merges here, and the warning says why it was not the PR.
  const other = workerWithCommits(repo, "feat/other", [{ "o.txt": "o\n" }]);
  const loggedOut = ghStandIn(["echo 'To get started with GitHub CLI, please run:  gh auth login' >&2", "exit 4"]);
  const local = orch(["merge", "feat/other", "--json"], { cwd: repo, env: loggedOut.env });
  assert.is(local.code, 0, local.stderr);
  assert.is(local.json.via, "local");
  assert.match(local.stderr, /feat-other reported no PR, and gh could not look for one \(gh is not logged in/);
  assert.match(local.stderr, /merging locally/);
  assert.is(fs.readFileSync(path.join(repo, "o.txt"), "utf8"), "o\n");
  // No open PR: a local merge, without a word about gh.
  const third = workerWithCommits(repo, "feat/third", [{ "t.txt": "t\n" }]);
  const none = ghStandIn(["echo '[]'"]);
  const plain = orch(["merge", "feat/third", "--json"], { cwd: repo, env: none.env });
  assert.is(plain.code, 0, plain.stderr);
  assert.is(plain.json.via, "local");
  assert.is(plain.stderr, "");
  assert.is(fs.existsSync(path.join(other, "o.txt")) && fs.existsSync(path.join(third, "t.txt")), true);
});

test("a remote's host, as git reads its URL; GitHub's hosts: github.com, GH_HOST, the reported PRs' servers", () => {
  const hosts: [string, string | undefined][] = [
    ["https://github.com/acme/shop.git", "github.com"], ["git@github.com:acme/shop.git", "github.com"],
    ["ssh://git@github.acme.com:2222/a/b", "github.acme.com"], ["https://user:pw@GitHub.com/x", "github.com"],
    ["github.com:acme/x", "github.com"], ["https://evil.example/github.com/x", "evil.example"],
    ["git@evilgithub.com:x", "evilgithub.com"], ["/srv/git/github.com:x", undefined], ["file:///srv/x", undefined],
    ["../x", undefined],
  ];
  for (const [url, host] of hosts) assert.is(remoteUrlHost(url), host, url);
  assert.equal(gitHubHosts({}, [null, "https://github.acme.com/o/r/pull/1", "not a url"]), ["github.com", "github.acme.com"]);
  const gitLab = "https://gitlab.com/acme/shop/-/merge_requests/3";
  assert.equal(gitHubHosts({}, [gitLab]), ["github.com"], "a GitLab merge request is no GitHub PR");
  assert.equal(gitHubHosts({ GH_HOST: "GHE.example" }), ["github.com", "ghe.example"]);
});

test("a PR on GitHub Enterprise (the remote on the PR's server): gh pr merge <url>, not a local merge", () => {
  const { repo, bare } = githubSessionRepo("ssh://git@github.acme.com:2222/acme/shop.git");
  const wt = workerWithCommits(repo, "feat/ghe", [{ "e.txt": "e\n" }]);
  const prUrl = "https://github.acme.com/acme/shop/pull/12";
  orch(["notify", "--type", "task_complete", "--summary", "PR ready", "--pr-url", prUrl], { cwd: wt });
  const gh = ghStandIn([`git -C ${JSON.stringify(wt)} push -q ${JSON.stringify(bare)} HEAD:main`]);
  const r = orch(["merge", "feat/ghe", "--json"], { cwd: repo, env: gh.env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.via, "github");
  const tip = git(["rev-parse", "feat/ghe"], repo);
  assert.equal(gh.calls(), [`pr merge ${prUrl} --squash --match-head-commit ${tip}`, `pr view ${prUrl} --json state,baseRefName`]);
  assert.is(git(["rev-parse", "HEAD"], repo), git(["rev-parse", "HEAD"], wt), "main fast-forwarded to what GitHub merged");
});

test("origin a fork, upstream the PR's repository: the base fast-forwards from upstream, where the PR merged", () => {
  const repositories: [string, string | undefined][] = [
    ["git@github.com:Acme/Shop.git", "acme/shop"], ["https://github.com/acme/shop/", "acme/shop"],
    ["ssh://git@github.acme.com:2222/acme/shop.git", "acme/shop"], ["/srv/git/shop.git", undefined],
  ];
  for (const [url, repository] of repositories) assert.is(remoteUrlRepository(url), repository, url);
  const { repo } = sessionRepo();
  const fork = path.join(tempDir(), "fork.git");
  const upstream = path.join(tempDir(), "upstream.git");
  const remotes: [string, string, string][] = [
    ["origin", fork, "git@github.com:me/shop.git"], ["upstream", upstream, "https://github.com/Acme/Shop.git"],
  ];
  for (const [name, bare, url] of remotes) {
    git(["init", "-q", "--bare", bare], repo);
    git(["remote", "add", name, url], repo);
    git(["config", `url.${bare}.insteadOf`, url], repo);
    git(["push", "-q", name, "main"], repo);
  }
  const url = "https://github.com/acme/shop/pull/9";
  const wt = workerWithCommits(repo, "feat/fork", [{ "f.txt": "f\n" }]);
  orch(["notify", "--type", "task_complete", "--summary", "PR ready", "--pr-url", url], { cwd: wt });
  // GitHub merges into acme/shop, the upstream; the fork's main stays where it was.
  const gh = ghStandIn([
    'case "$1 $2" in',
    `  "pr merge") git -C ${JSON.stringify(wt)} push -q ${JSON.stringify(upstream)} HEAD:main ;;`,
    `  "pr view") echo '{"state":"MERGED"}' ;;`,
    "esac",
  ]);
  const r = orch(["merge", "feat/fork", "--json"], { cwd: repo, env: gh.env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.base_updated, true);
  assert.is(git(["rev-parse", "HEAD"], repo), git(["rev-parse", "HEAD"], wt), "main took what merged upstream");
  // Only the fork as a remote: the merge happened, but nothing here can bring it; base_updated says so.
  git(["remote", "remove", "upstream"], repo);
  const other = workerWithCommits(repo, "feat/other", [{ "o.txt": "o\n" }]);
  orch(["notify", "--type", "task_complete", "--summary", "PR ready", "--pr-url", url], { cwd: other });
  const head = git(["rev-parse", "HEAD"], repo);
  const forkOnly = orch(["merge", "feat/other", "--json"], { cwd: repo, env: gh.env });
  assert.is(forkOnly.code, 0, forkOnly.stderr);
  assert.is(forkOnly.json.base_updated, false);
  assert.match(forkOnly.stderr, /the PR is merged, but no remote of this repository is github\.com\/acme\/shop/);
  assert.is(git(["rev-parse", "HEAD"], repo), head);
});

test("a GitLab origin and a merge request's URL reported: merge merges locally and never runs gh", () => {
  const { repo } = githubSessionRepo("git@gitlab.com:acme/shop.git");
  const wt = workerWithCommits(repo, "feat/gl", [{ "l.txt": "l\n" }]);
  const mergeRequest = "https://gitlab.com/acme/shop/-/merge_requests/3";
  orch(["notify", "--type", "task_complete", "--summary", "MR ready", "--pr-url", mergeRequest], { cwd: wt });
  const noGitHub = "none of the git remotes configured for this repository point to a known GitHub host";
  const gh = ghStandIn([`echo '${noGitHub}' >&2`, "exit 1"]);
  const r = orch(["merge", "feat/gl", "--json"], { cwd: repo, env: gh.env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.via, "local");
  assert.equal(gh.calls(), [], "gh was never run");
});

test("a pr_url that is no http(s) URL never reaches gh as a flag: notify refuses it, merge and pr refuse a stored one", () => {
  const { repo } = githubSessionRepo();
  const wt = workerWithCommits(repo, "feat/flag", [{ "f.txt": "f\n" }]);
  for (const bad of ["--admin", "javascript:alert(1)", "12"]) {
    const refused = orch(["notify", "--type", "task_complete", "--summary", "PR", "--pr-url", bad, "--json"], { cwd: wt });
    assert.is(refused.code, 2, `${bad}: ${refused.stderr}`);
    assert.match(refused.json.error.message, /--pr-url must be the pull request's http\(s\) URL/);
  }
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 0, "nothing was sent");
  // A message that did not come through orch notify (an older orch, a file written by hand).
  const prUrl = "https://github.com/acme/shop/pull/3";
  const sent = orch(["notify", "--type", "task_complete", "--summary", "PR", "--pr-url", prUrl, "--json"], { cwd: wt });
  assert.is(sent.code, 0, sent.stderr);
  const message = path.join(repo, ".orch/sessions", sent.json.orchestrator_id, "mail/new", `${sent.json.message_id}.json`);
  fs.writeFileSync(message, fs.readFileSync(message, "utf8").replace("https://github.com/acme/shop/pull/3", "--admin"));
  const gh = ghStandIn(["exit 0"]);
  const merged = orch(["merge", "feat/flag", "--json"], { cwd: repo, env: gh.env });
  assert.is(merged.code, 1, merged.stderr);
  assert.match(merged.json.error.message, /pr_url must be the pull request's http\(s\) URL, not "--admin"/);
  const pr = orch(["pr", "feat/flag", "--json"], { cwd: repo, env: gh.env });
  assert.is(pr.code, 1, pr.stderr);
  assert.equal(gh.calls(), [], "gh was never run");
});

test("the user is in the middle of a merge in the main checkout: merge, land and apply refuse and leave it under way", () => {
  const { repo } = sessionRepo();
  workerWithCommits(repo, "feat/wait", [{ "w.txt": "w\n" }]);
  orch(["notify", "--type", "task_complete", "--summary", "w"], { cwd: path.join(path.dirname(repo), "repo-worktrees", "feat-wait") });
  git(["checkout", "-q", "-b", "side"], repo);
  commitFiles(repo, { "s.txt": "s\n" }, "side");
  git(["checkout", "-q", "main"], repo);
  git(["merge", "-q", "-s", "ours", "--no-commit", "side"], repo); // under way, nothing staged
  const head = git(["rev-parse", "HEAD"], repo);
  for (const args of [["merge", "feat/wait", "--local"], ["land"], ["apply", "feat/wait"]]) {
    const r = orch([...args, "--json"], { cwd: repo });
    assert.is(r.code, 1, `${args[0]}: ${r.stdout}`);
    assert.match(r.stdout, /in the middle of a merge: finish or abort it first/, args[0]);
    assert.ok(gitOk(["rev-parse", "--verify", "--quiet", "MERGE_HEAD"], repo), `${args[0]} left the user's merge under way`);
  }
  assert.is(git(["rev-parse", "HEAD"], repo), head);
  git(["commit", "-q", "--no-edit"], repo);
  assert.is(orch(["merge", "feat/wait", "--local", "--json"], { cwd: repo }).code, 0);
});

test("gh pr merge: merged though --delete-branch then failed at the worktree's branch; a queued PR has not landed", () => {
  const { repo, bare } = githubSessionRepo();
  const url = "https://github.com/acme/shop/pull/9";
  const queued = workerWithCommits(repo, "feat/queued", [{ "q.txt": "q\n" }]);
  orch(["notify", "--type", "task_complete", "--summary", "PR ready", "--pr-url", url], { cwd: queued });
  // A repository with a merge queue: gh exits 0 (it says so only on a terminal), the PR stays open.
  const queue = ghStandIn(['case "$1 $2" in "pr view") echo \'{"state":"OPEN"}\' ;; esac']);
  const head = git(["rev-parse", "HEAD"], repo);
  const r = orch(["merge", "feat/queued", "--json"], { cwd: repo, env: queue.env });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.json.error.message, /the PR is open, not merged/);
  assert.is(git(["rev-parse", "HEAD"], repo), head);
  orch(["rm", "feat/queued", "--force"], { cwd: repo });
  const wt = workerWithCommits(repo, "feat/gh", [{ "g.txt": "g\n" }]);
  orch(["notify", "--type", "task_complete", "--summary", "PR ready", "--pr-url", url], { cwd: wt });
  // gh merges, then its git branch -D meets the branch the worker's worktree has checked out, and exits 1.
  const gh = ghStandIn([
    'case "$1 $2" in',
    `  "pr merge") git -C ${JSON.stringify(wt)} push -q ${JSON.stringify(bare)} HEAD:main`,
    `    echo "failed to delete local branch feat/gh: used by worktree at ${wt}" >&2; exit 1 ;;`,
    `  "pr view") echo '{"state":"MERGED"}' ;;`,
    "esac",
  ]);
  const tip = git(["rev-parse", "feat/gh"], repo);
  const merged = orch(["merge", "feat/gh", "--delete-branch", "--json"], { cwd: repo, env: gh.env });
  assert.is(merged.code, 0, merged.stderr);
  assert.is(merged.json.base_updated, true);
  assert.is(git(["rev-parse", "HEAD"], repo), tip, "the base took what GitHub merged");
  assert.match(merged.stderr, /the PR is merged, but gh pr merge then failed: failed to delete local branch/);
  assert.is(merged.json.worker_removed, true, "--delete-branch done here: worktree and branch");
  assert.not.ok(fs.existsSync(wt));
});

test("a PR whose base was changed on GitHub: merge says where it merged and leaves the worker's base here alone", () => {
  const { repo, bare } = githubSessionRepo();
  const wt = workerWithCommits(repo, "feat/rebased", [{ "r.txt": "r\n" }]);
  const url = "https://github.com/acme/shop/pull/11";
  orch(["notify", "--type", "task_complete", "--summary", "PR ready", "--pr-url", url], { cwd: wt });
  // The PR was retargeted to develop on GitHub, where it merged; origin's main moved meanwhile by someone else.
  git(["push", "-q", "origin", "main:develop"], repo);
  const other = path.join(tempDir(), "other");
  git(["clone", "-q", "-b", "main", bare, other], repo);
  commitFiles(other, { "elsewhere.txt": "x\n" }, "someone else's commit on main");
  git(["push", "-q", "origin", "HEAD:main"], other);
  const gh = ghStandIn([
    'case "$1 $2" in',
    `  "pr merge") git -C ${JSON.stringify(wt)} push -q ${JSON.stringify(bare)} HEAD:develop ;;`,
    `  "pr view") echo '{"state":"MERGED","baseRefName":"develop"}' ;;`,
    "esac",
  ]);
  const head = git(["rev-parse", "HEAD"], repo);
  const merged = orch(["merge", "feat/rebased", "--json"], { cwd: repo, env: gh.env });
  assert.is(merged.code, 0, merged.stderr);
  assert.is(merged.json.base_branch, "develop", "where the PR merged");
  assert.is(merged.json.base_updated, false, "main here did not take the PR, and is not said to");
  assert.is(git(["rev-parse", "HEAD"], repo), head, "main was not fast-forwarded to origin's unrelated commit");
  assert.match(merged.stderr, /the PR merged into develop, not main \(feat-rebased's base\): main here is left as it is/);
});

/** gh's lines for `gh pr merge` that fails as the real gh 2.x does (stderr, exit code); pr view answers `state`. */
function ghMergeFails(stderr: string, code: number, state = "OPEN"): string[] {
  return [
    'case "$1 $2" in',
    `  "pr merge") cat >&2 <<'EOF'\n${stderr}EOF\n    exit ${code} ;;`,
    `  "pr view") echo '{"state":"${state}"}' ;;`,
    "esac",
  ];
}

test("gh pr merge refused (branch protection, a conflict, not logged in): gh's cause in one line, not its hint", () => {
  const { repo } = githubSessionRepo();
  const url = "https://github.com/acme/shop/pull/9";
  const wt = workerWithCommits(repo, "feat/held", [{ "h.txt": "h\n" }]);
  orch(["notify", "--type", "task_complete", "--summary", "PR ready", "--pr-url", url], { cwd: wt });
  const head = git(["rev-parse", "HEAD"], repo);
  const cases: [string, number, RegExp][] = [
    [
      "X Pull request acme/shop#9 is not mergeable: the base branch policy prohibits the merge.\n" +
        "To have the pull request merged after all the requirements have been met, add the `--auto` flag.\n" +
        "To use administrator privileges to immediately merge the pull request, add the `--admin` flag.\n",
      1, /failed: X Pull request acme\/shop#9 is not mergeable: the base branch policy prohibits the merge\.$/,
    ],
    [
      "X Pull request acme/shop#9 is not mergeable: the merge commit cannot be cleanly created.\n" +
        "To have the pull request merged after all the requirements have been met, add the `--auto` flag.\n" +
        "Run the following to resolve the merge conflicts locally:\n" +
        "  gh pr checkout 9 && git fetch origin main && git merge origin/main\n",
      1, /failed: X Pull request acme\/shop#9 is not mergeable: the merge commit cannot be cleanly created\.$/,
    ],
    [
      "To get started with GitHub CLI, please run:  gh auth login\n" +
        "Alternatively, populate the GH_TOKEN environment variable with a GitHub API authentication token.\n",
      4, /failed: gh is not logged in \(run gh auth login, or set GH_TOKEN\): To get started with GitHub CLI/,
    ],
  ];
  for (const [stderr, code, said] of cases) {
    const gh = ghStandIn(ghMergeFails(stderr, code));
    const r = orch(["merge", "feat/held", "--json"], { cwd: repo, env: gh.env });
    assert.is(r.code, 1, r.stderr);
    assert.is(r.json.error.code, "failed");
    assert.match(r.json.error.message, new RegExp(`^gh pr merge ${url} ${said.source}`));
    assert.is(r.stderr.split("\n").filter(Boolean).length, 1, "one line");
    assert.is(git(["rev-parse", "HEAD"], repo), head, "nothing landed");
  }
  // Merged on GitHub already: gh warns (a "!" line), then fails at the branch the worker's worktree has out.
  const already = ghStandIn(ghMergeFails(
    "! Pull request acme/shop#9 was already merged\nfailed to delete local branch feat/held: used by worktree\n",
    1, "MERGED",
  ));
  const merged = orch(["merge", "feat/held", "--delete-branch", "--json"], { cwd: repo, env: already.env });
  assert.is(merged.code, 0, merged.stderr);
  const warned = /the PR is merged, but gh pr merge then failed: failed to delete local branch feat\/held/;
  assert.match(merged.stderr, warned);
});

test("merge --local on a disk that fills while git writes the merge: nothing merged, no worker file left here", () => {
  const disk = smallDisk("4m");
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  try {
    const { repo, env, wt } = workerOnDisk(disk, "feat/big");
    const big = incompressibleMiB();
    commitFiles(wt, { "a.txt": "changed\n", "big.bin": big, "new.txt": "n\n" }, "big");
    commitFiles(repo, { "main.txt": "m\n" }, "main moves");
    const filler = disk.fill(256);
    const r = orch(["merge", "feat/big", "--local", "--json"], { cwd: repo, env });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.json.error.message, /could not merge feat-big into main: .*; nothing was merged$/);
    assert.is(git(["log", "--format=%s", "-1"], repo), "main moves");
    fs.rmSync(filler);
    assert.is(git(["status", "--porcelain"], repo), "", "no file of the worker left written in the checkout");
    const again = orch(["merge", "feat/big", "--local", "--json"], { cwd: repo, env });
    assert.is(again.code, 0, again.stderr);
    assert.equal(fs.readFileSync(path.join(repo, "big.bin")), big);
  } finally {
    disk.unmount();
  }
});

test("merge --local for a user whom git finds no identity for: committed by orch's, as land commits", () => {
  const { repo } = sessionRepo();
  workerWithCommits(repo, "feat/anon", [{ "anon.txt": "a\n" }]);
  const env = noGitIdentity(repo);
  const r = orch(["merge", "feat/anon", "--local", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.is(git(["log", "-1", "--format=%an <%ae> / %cn <%ce>"], repo), "orch <orch@localhost> / orch <orch@localhost>");
  assert.is(git(["show", "HEAD:anon.txt"], repo), "a");
});

test.run();
