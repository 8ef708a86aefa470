// spawn --after: a worker recorded pending (no worktree) until its prerequisites land, then started from
// the base as it is then; a chain A → B → C; blocked when a prerequisite fails or is removed; await.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, gitOk, orch, orchAsync, privateTmux, sessionRepo, snapshot, tempDir } from "./helpers.ts";

interface View {
  worker_id: string;
  status: string;
  worktree_path: string;
  base_commit: string;
  after?: string[];
  waiting_for?: string;
  alive: boolean;
}

function workers(repo: string, env?: Record<string, string | undefined>): Map<string, View> {
  const r = orch(["status", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return new Map((r.json.workers as View[]).map((w) => [w.worker_id, w]));
}

function finish(wt: string, files: Record<string, string>, summary: string): void {
  commitFiles(wt, files, summary);
  assert.is(orch(["notify", "--type", "task_complete", "--summary", summary], { cwd: wt }).code, 0);
}

test("a chain A → B → C: each starts when its prerequisite has landed, from the base that includes it", () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = path.join(tempDir("orch-agent-"), "agent.sh");
  // A real agent in a real window: it records what it was started with and where.
  const script = [
    "#!/bin/sh",
    'printf "%s" "$1" > "$ORCH_PROMPT_FILE.argv"',
    // Last, and whole at once (written aside, then renamed): the test waits for it, then reads both.
    'git rev-parse HEAD > "$ORCH_PROMPT_FILE.started.tmp" && mv "$ORCH_PROMPT_FILE.started.tmp" "$ORCH_PROMPT_FILE.started"',
    "exec sleep 300",
    "",
  ].join("\n");
  fs.writeFileSync(agent, script, { mode: 0o755 });
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo, env });
  assert.is(a.code, 0, a.stderr);
  const b = orch(["spawn", "feat/b", "--after", "feat/a", "--agent", agent, "--prompt", "build on a", "--json"], { cwd: repo, env });
  assert.is(b.code, 0, b.stderr);
  assert.equal([b.json.status, b.json.worktree_path, b.json.window_id, b.json.after], ["pending", null, null, ["feat-a"]]);
  // The same fields as a started spawn's answer: no base and no tmux session yet are null, not absent.
  assert.equal([b.json.base_commit, b.json.tmux_session], [null, null]);
  const c = orch(["spawn", "feat/c", "--after", "feat-b", "--no-window", "--json"], { cwd: repo, env });
  assert.is(c.json.status, "pending", c.stderr);
  assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/feat/b"], repo), "no branch or worktree while pending");
  let view = workers(repo, env);
  assert.equal([view.get("feat-b")!.status, view.get("feat-b")!.after], ["pending", ["feat-a"]]);
  assert.equal([view.get("feat-c")!.status, view.get("feat-c")!.after], ["pending", ["feat-b"]]);
  // No worktree and no base yet: null, as spawn answered, in status, list and (below) rm.
  assert.equal([view.get("feat-c")!.worktree_path, view.get("feat-c")!.base_commit], [null, null]);
  const listed = orch(["list", "--json"], { cwd: repo, env }).json.workers.find((w: { worker_id: string }) => w.worker_id === "feat-c");
  assert.equal([listed.worktree_path, listed.base_commit], [null, null]);
  assert.match(orch(["list"], { cwd: repo, env }).stdout, /feat-c\s+pending.*after feat-b/);

  // Something else lands first: B must start from the base as it is when A lands, not as it was.
  commitFiles(repo, { "early.txt": "e\n" }, "lands before a");
  finish(a.json.worktree_path, { "a.txt": "a\n" }, "a done");
  const landedA = orch(["land", "--json"], { cwd: repo, env });
  assert.is(landedA.code, 0, landedA.stderr);
  assert.equal(landedA.json.started, ["feat-b"]);
  const tipA = git(["rev-parse", "main"], repo);
  view = workers(repo, env);
  const startedB = view.get("feat-b")!;
  assert.is(startedB.base_commit, tipA);
  assert.is(git(["rev-parse", "HEAD"], startedB.worktree_path), tipA);
  assert.ok(fs.existsSync(path.join(startedB.worktree_path, "a.txt")));
  assert.ok(fs.existsSync(path.join(startedB.worktree_path, "early.txt")));
  assert.is(view.get("feat-c")!.status, "pending");
  // B's agent was started in its window with its prompt, on that commit.
  const promptFile = path.join(repo, ".orch/sessions", landedA.json.orchestrator_id, "workers/feat-b/prompt.txt");
  const deadline = Date.now() + 20_000;
  while (!fs.existsSync(`${promptFile}.started`) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  assert.is(fs.readFileSync(`${promptFile}.started`, "utf8").trim(), tipA);
  assert.match(fs.readFileSync(`${promptFile}.argv`, "utf8"), /^build on a\n/);
  // Its agent starts in the window after land returns (its runner records its pid as it starts it).
  const aliveBy = Date.now() + 20_000;
  while (!workers(repo, env).get("feat-b")!.alive && Date.now() < aliveBy) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  assert.is(workers(repo, env).get("feat-b")!.alive, true);

  // B lands by a plain git merge (as if merged elsewhere): the next orch command starts C.
  commitFiles(startedB.worktree_path, { "b.txt": "b\n" }, "b work");
  git(["merge", "--no-ff", "-q", "-m", "merge b by hand", "feat/b"], repo);
  const tipB = git(["rev-parse", "main"], repo);
  view = workers(repo, env);
  const startedC = view.get("feat-c")!;
  assert.is(startedC.status, "running");
  assert.is(startedC.base_commit, tipB);
  assert.ok(fs.existsSync(path.join(startedC.worktree_path, "b.txt")));
  assert.ok(fs.existsSync(path.join(startedC.worktree_path, "a.txt")));
});

test("--after A,B and repeated --after wait for both; a failed or removed prerequisite leaves it blocked", () => {
  const { repo } = sessionRepo();
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  orch(["spawn", "feat/b", "--no-window"], { cwd: repo });
  const both = orch(["spawn", "feat/both", "--after", "feat-a,feat/b", "--no-window", "--json"], { cwd: repo });
  assert.equal(both.json.after, ["feat-a", "feat-b"], both.stderr);
  const repeated = orch(["spawn", "feat/rep", "--after", "feat-a", "--after", "feat-b", "--no-window", "--json"], { cwd: repo });
  assert.equal(repeated.json.after, ["feat-a", "feat-b"], repeated.stderr);
  const byIdAndBranch = ["--after", "feat-a", "--after", "feat/a,feat-b", "--no-window", "--json"];
  const once = orch(["spawn", "feat/once", ...byIdAndBranch], { cwd: repo });
  assert.equal(once.json.after, ["feat-a", "feat-b"], "a worker named by id and by branch is waited for once");
  const chained = orch(["spawn", "feat/chained", "--after", "feat-rep", "--no-window", "--json"], { cwd: repo });
  assert.is(chained.code, 0, chained.stderr);

  orch(["notify", "--type", "task_failed", "--summary", "gave up", "--error", "cannot"], { cwd: a });
  let view = workers(repo);
  assert.equal([view.get("feat-both")!.status, view.get("feat-both")!.waiting_for], ["blocked", "after"]);
  assert.equal([view.get("feat-rep")!.status, view.get("feat-rep")!.waiting_for], ["blocked", "after"]);
  assert.is(view.get("feat-chained")!.status, "blocked", "blocked behind a blocked worker");
  // Spawned --after a worker that failed already: blocked from the start, as status says, not pending.
  const late = orch(["spawn", "feat/late", "--after", "feat-a", "--no-window", "--json"], { cwd: repo });
  assert.is(late.code, 0, late.stderr);
  assert.equal([late.json.status, late.json.waiting_for], ["blocked", "after"]);
  const lateView = workers(repo).get("feat-late")!;
  assert.equal([lateView.status, lateView.waiting_for], ["blocked", "after"]);
  const lateSaid = orch(["spawn", "feat/later", "--after", "feat-late", "--no-window"], { cwd: repo });
  assert.match(lateSaid.stdout, /^blocked feat-later \(feat\/later\): cannot start: of feat-late, one failed/);
  const awaited = orch(["await", "feat-both", "--timeout", "30", "--json"], { cwd: repo });
  assert.is(awaited.code, 0, awaited.stderr);
  assert.is(awaited.json.workers[0].status, "blocked");

  // Removed: the pending one is blocked too; a pending worker is removed without a worktree.
  orch(["spawn", "feat/d", "--no-window"], { cwd: repo });
  orch(["spawn", "feat/e", "--after", "feat-d", "--no-window"], { cwd: repo });
  assert.is(workers(repo).get("feat-e")!.status, "pending");
  assert.is(orch(["rm", "feat-d", "--yes"], { cwd: repo }).code, 0);
  view = workers(repo);
  assert.equal([view.get("feat-e")!.status, view.get("feat-e")!.waiting_for], ["blocked", "after"]);
  assert.is(orch(["stop", "feat-e"], { cwd: repo }).code, 1);
  orch(["spawn", "feat/f", "--after", "feat-e", "--no-window"], { cwd: repo });
  const removed = orch(["rm", "feat-e", "--yes", "--json"], { cwd: repo });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.worktree_path, null);
  assert.not.ok(workers(repo).has("feat-e"));
  // Said as it is: no "worktree " with an empty path, no branch "kept" that never existed.
  const said = orch(["rm", "feat-f"], { cwd: repo });
  assert.is(said.code, 0, said.stderr);
  assert.is(said.stdout, "removed feat-f: forgotten (pending: it had no worktree or branch yet)\n");
});

test("a pending worker that can no longer start is told to the orchestrator once, as blocked on after", () => {
  const { repo } = sessionRepo();
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  assert.is(orch(["spawn", "feat/next", "--after", "feat-a", "--no-window"], { cwd: repo }).code, 0);
  orch(["spawn", "feat/d", "--no-window"], { cwd: repo });
  assert.is(orch(["spawn", "feat/e", "--after", "feat-d", "--no-window"], { cwd: repo }).code, 0);
  const taken = () => {
    const polled = orch(["poll", "--json"], { cwd: repo });
    assert.is(polled.code, 0, polled.stderr);
    return polled.json.messages.map((m: { worker_id: string; message_type: string; content: Record<string, string> }) =>
      [m.worker_id, m.message_type, m.content.waiting_for ?? null]);
  };
  assert.equal(taken(), [], "pending ones that may still start say nothing");
  // A listener (poll --wait, watch) that only takes messages hears that feat-next will never start by itself.
  orch(["notify", "--type", "task_failed", "--summary", "gave up", "--error", "cannot"], { cwd: a });
  assert.equal(taken(), [["feat-a", "task_failed", null], ["feat-next", "blocked", "after"]]);
  assert.equal(taken(), [], "told once");
  assert.is(orch(["status"], { cwd: repo }).code, 0);
  assert.equal(taken(), [], "status told no one again");
  // A removed prerequisite: status, which sees it first here, tells it.
  assert.is(orch(["rm", "feat-d", "--yes"], { cwd: repo }).code, 0);
  assert.is(orch(["status"], { cwd: repo }).code, 0);
  assert.equal(taken(), [["feat-e", "blocked", "after"]]);
});

test("a started --after worker blocked on a request: list shows the request and its standing", () => {
  const { repo } = sessionRepo();
  const a = orch(["spawn", "feat/first", "--no-window", "--json"], { cwd: repo });
  const b = orch(["spawn", "feat/then", "--after", "feat/first", "--no-window", "--json"], { cwd: repo });
  assert.is(b.json.status, "pending", b.stderr);
  finish(a.json.worktree_path, { "first.txt": "1\n" }, "first done");
  assert.equal(orch(["land", "--json"], { cwd: repo }).json.started, ["feat-then"]);
  const started = workers(repo).get("feat-then")!;
  const blocked = ["notify", "--type", "blocked", "--summary", "needs a yes", "--waiting-for", "Bash: rm x"];
  assert.is(orch(blocked, { cwd: started.worktree_path }).code, 0);
  const line = orch(["list"], { cwd: repo }).stdout.split("\n").find((l) => l.startsWith("feat-then"))!;
  assert.match(line, /blocked \(Bash: rm x\)/);
  assert.match(line, /\+0 -0 main/);
  assert.not.match(line, /cannot start/);
});

test("--after a worker that does not exist: exit 2 and nothing changed; --after with --from is a usage error", () => {
  const { repo } = sessionRepo();
  orch(["spawn", "feat/a", "--no-window"], { cwd: repo });
  const before = snapshot(path.join(repo, ".orch"));
  const branches = git(["branch", "--list"], repo);
  const refused = [
    ["--after", "nope"],
    ["--after", "feat-a,nope"],
    ["--after", "feat-a", "--after", "../x"],
    ["--after", "feat-a", "--from", "main"],
    ["--after", ""],
  ];
  for (const args of refused) {
    const r = orch(["spawn", "feat/x", ...args, "--no-window", "--json"], { cwd: repo });
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.is(r.json.success, false);
  }
  assert.equal(snapshot(path.join(repo, ".orch")), before);
  assert.is(git(["branch", "--list"], repo), branches);
  assert.not.ok(fs.existsSync(path.join(path.dirname(repo), "repo-worktrees", "feat-x")));
});

test("a pending worker has no commits yet: diff, pr, apply, merge and land say it waits, whatever the checkout", () => {
  const { repo } = sessionRepo();
  orch(["spawn", "feat/a", "--no-window"], { cwd: repo });
  orch(["spawn", "feat/later", "--after", "feat-a", "--no-window"], { cwd: repo });
  const before = snapshot(path.join(repo, ".orch"));
  const head = git(["rev-parse", "HEAD"], repo);
  for (const args of [["diff"], ["pr"], ["apply"], ["apply", "--dry-run"], ["merge", "--local"], ["merge"], ["land"]]) {
    const r = orch([args[0]!, "feat-later", ...args.slice(1), "--json"], { cwd: repo });
    assert.is(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.is(r.json.error.code, "refused", args.join(" "));
    assert.match(r.stderr, /^orch: worker feat-later has not started yet: it waits for feat-a to land\n$/, args.join(" "));
  }
  assert.equal(snapshot(path.join(repo, ".orch")), before);
  assert.is(git(["rev-parse", "HEAD"], repo), head);
});

test("await counts pending workers: it waits while the prerequisite works, and returns when only landing can help", () => {
  const { repo } = sessionRepo();
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  orch(["spawn", "feat/b", "--after", "feat-a", "--no-window"], { cwd: repo });
  const waiting = orch(["await", "--timeout", "1", "--json"], { cwd: repo });
  assert.is(waiting.code, 124, `${waiting.stderr} ${waiting.stdout}`);
  assert.equal(waiting.json.workers.map((w: { status: string }) => w.status), ["running", "pending"]);
  assert.match(waiting.stderr, /workers still running after 1s: feat-a running, feat-b pending/);
  finish(a, { "a.txt": "a\n" }, "a done");
  const settled = orch(["await", "--timeout", "30", "--json"], { cwd: repo });
  assert.is(settled.code, 0, settled.stderr);
  assert.equal(settled.json.workers.map((w: { status: string }) => w.status), ["done", "pending"]);
  assert.match(settled.json.workers[1].needs, /land/);
  const said = orch(["await", "--timeout", "30"], { cwd: repo }).stdout;
  assert.match(said, /^feat-b pending \(after feat-a\) - needs: its prerequisites have finished: land them/m, said);
  // In the middle of a land: orch has recorded A as landed and has yet to start B. B is about to start, so a
  // wait does not end on it.
  const session = orch(["status", "--json"], { cwd: repo }).json.orchestrator_id as string;
  const coherence = path.join(repo, ".orch", "sessions", session, "workers", "feat-a", "coherence.json");
  const before = fs.existsSync(coherence) ? fs.readFileSync(coherence, "utf8") : undefined;
  const tip = git(["rev-parse", "feat/a"], repo);
  const landed = { commit: tip, at: new Date().toISOString(), branch_tip: tip };
  fs.writeFileSync(coherence, JSON.stringify({ ...JSON.parse(before ?? "{}"), landed }));
  const landing = orch(["await", "feat-b", "--timeout", "1", "--json"], { cwd: repo });
  assert.is(landing.code, 124, `${landing.stderr} ${landing.stdout}`);
  assert.is(landing.json.workers[0].needs, undefined);
  if (before === undefined) fs.rmSync(coherence);
  else fs.writeFileSync(coherence, before);
  // A prerequisite that already landed: spawn --after starts at once.
  assert.is(orch(["land"], { cwd: repo }).code, 0);
  const late = orch(["spawn", "feat/late", "--after", "feat-a", "--no-window", "--json"], { cwd: repo });
  assert.is(late.json.status, "running", late.stderr);
  assert.ok(fs.existsSync(late.json.worktree_path));
});

test("a prerequisite whose branch was reset to before its base has not landed: the pending worker keeps waiting", () => {
  const { repo } = sessionRepo();
  commitFiles(repo, { "second.txt": "2\n" }, "second");
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo });
  assert.is(a.code, 0, a.stderr);
  const wt = a.json.worktree_path as string;
  finish(wt, { "a.txt": "a\n" }, "a work");
  assert.is(orch(["spawn", "feat/b", "--after", "feat/a", "--no-window", "--json"], { cwd: repo }).code, 0);
  // The agent drops its work and goes back further than where it started.
  git(["reset", "-q", "--hard", "HEAD~2"], wt);
  commitFiles(repo, { "third.txt": "3\n" }, "third");
  const seen = workers(repo);
  assert.is(seen.get("feat-b")!.status, "pending", "feat/a's work is nowhere in main");
  assert.not.ok(seen.get("feat-b")!.worktree_path && fs.existsSync(seen.get("feat-b")!.worktree_path));
  const r = orch(["sync", "feat/a", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.skipped, [], "not skipped as already landed");
  assert.equal(r.json.synced, ["feat-a"]);
});

test("four commands that notice a landing at once start each pending worker once, and none is left pending", async () => {
  const { repo } = sessionRepo();
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  commitFiles(a, { "a.txt": "a\n" }, "a work");
  const waiting = ["feat-b", "feat-c", "feat-d", "feat-e"];
  for (const id of waiting) {
    const r = orch(["spawn", id.replace("-", "/"), "--after", "feat-a", "--no-window", "--json"], { cwd: repo });
    assert.is(r.json.status, "pending", r.stderr);
  }
  // Landed by the user's own merge: noticed by whichever command looks first, all of them at once here.
  git(["merge", "--no-edit", "feat/a"], repo);
  const noticing = ["status", "list", "poll", "status"].map((command) => orchAsync([command, "--json"], { cwd: repo }).done);
  const noticed = await Promise.all(noticing);
  for (const r of noticed) assert.is(r.code, 0, r.stderr);
  const view = workers(repo);
  const tip = git(["rev-parse", "main"], repo);
  for (const id of waiting) {
    // A command that read it pending must not write that back over the record of the one that started it.
    assert.equal([view.get(id)!.status, view.get(id)!.base_commit], ["running", tip], id);
    assert.ok(fs.existsSync(view.get(id)!.worktree_path), id);
  }
  assert.is(git(["worktree", "list", "--porcelain"], repo).split("\n").filter((l) => l.startsWith("worktree ")).length, 6);
  // One started each, the others had nothing to say (no "being started by another orch command").
  assert.equal(noticed.map((r) => r.stderr), ["", "", "", ""]);
});

test("a command killed while it started a pending worker leaves its claim: the next command starts it", () => {
  const { repo, id } = sessionRepo();
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  commitFiles(a, { "a.txt": "a\n" }, "a work");
  assert.is(orch(["spawn", "feat/b", "--after", "feat-a", "--no-window", "--json"], { cwd: repo }).json.status, "pending");
  // What an orch killed (-9) right after claiming the start leaves: its claim, its process gone.
  const gone = spawnSync("true");
  const claim = path.join(repo, ".orch", "sessions", id, "workers", "feat-b", "starting");
  assert.ok(fs.existsSync(path.dirname(claim)), path.dirname(claim));
  fs.writeFileSync(claim, JSON.stringify({ pid: gone.pid, start_time: "1" }));
  git(["merge", "--no-edit", "feat/a"], repo);
  const view = workers(repo).get("feat-b")!;
  assert.equal([view.status, view.base_commit], ["running", git(["rev-parse", "main"], repo)]);
  assert.ok(fs.existsSync(view.worktree_path));
});

test("a worker removed and spawned again --after one that waits for it: refused as a circle, nothing made", () => {
  const { repo } = sessionRepo();
  orch(["spawn", "feat/a", "--no-window"], { cwd: repo });
  orch(["spawn", "feat/b", "--after", "feat-a", "--no-window"], { cwd: repo });
  orch(["spawn", "feat/c", "--after", "feat-b", "--no-window"], { cwd: repo });
  assert.is(orch(["rm", "feat-a", "--force"], { cwd: repo }).code, 0);
  const before = snapshot(path.join(repo, ".orch"));
  const branches = git(["branch", "--list"], repo);
  for (const prerequisite of ["feat-b", "feat-c"]) {
    const r = orch(["spawn", "feat/a", "--after", prerequisite, "--no-window", "--json"], { cwd: repo });
    assert.is(r.code, 2, r.stderr);
    assert.is(r.json.error.code, "invalid");
    const circle = prerequisite === "feat-b" ? "feat-a → feat-b → feat-a" : "feat-a → feat-c → feat-b → feat-a";
    assert.match(r.stderr, `orch: --after ${prerequisite}: ${prerequisite} waits for feat-a already (${circle})`);
  }
  assert.equal(snapshot(path.join(repo, ".orch")), before);
  assert.is(git(["branch", "--list"], repo), branches);
  // Without the wait on it, the same worker is made again.
  const again = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
});

test("a pending worker recorded under its digest id starts under it, though the contract id is free by then", () => {
  const { repo, id } = sessionRepo();
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  commitFiles(a, { "a.txt": "a\n" }, "a work");
  assert.is(orch(["spawn", "feat/é", "--no-window", "--json"], { cwd: repo }).json.worker_id, "feat--");
  const pending = orch(["spawn", "feat/è", "--after", "feat-a", "--no-window", "--json"], { cwd: repo });
  assert.is(pending.json.status, "pending", pending.stderr);
  assert.is(pending.json.worker_id, "feat---mmyj8wzk", "feat-- is feat/é's");
  assert.is(orch(["rm", "feat/é", "--yes"], { cwd: repo }).code, 0);
  git(["merge", "--no-edit", "feat/a"], repo);
  const view = workers(repo);
  assert.equal([...view.keys()].sort(), ["feat---mmyj8wzk", "feat-a"]);
  const started = view.get("feat---mmyj8wzk")!;
  assert.is(started.status, "running", JSON.stringify(started));
  assert.is(git(["rev-parse", "--abbrev-ref", "HEAD"], started.worktree_path), "feat/è");
  assert.not.ok(fs.existsSync(path.join(repo, ".orch", "sessions", id, "workers", "feat--")), "no second folder");
  const marker = path.join(git(["rev-parse", "--absolute-git-dir"], started.worktree_path), "orch-worker.json");
  assert.is(JSON.parse(fs.readFileSync(marker, "utf8")).worker_id, "feat---mmyj8wzk", "its worktree says the same id");
});

test.run();
