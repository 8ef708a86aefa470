// spawn --after with --host, against a real OpenSSH server (test/ssh-harness.ts): the worker is pending
// here with nothing on the host; once its prerequisite lands it is made and started on the host from the
// base as it is then (an await begun before follows it there); a pending remote worker is never looked
// for on its host (status, poll, rm, send), and a start that cannot reach the host is failed and reported.
// A prerequisite on the same host lands from there (its branch fetched) and the worker starts on top of it.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, orch, orchAsync, privateTmux, sessionRepo, waitUntil } from "./helpers.ts";
import { sshSkipReason, startSshWorld, type SshHost, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;

test.before(async () => {
  if (!skip) world = await startSshWorld(1);
});
test.after(() => world?.close());

const hostAgent = (host: SshHost) => `${host.home}/.local/bin/orch __demo-agent`;

interface View {
  worker_id: string;
  status: string;
  host: string | null;
  worktree_path: string;
  base_commit: string;
  after?: string[];
  waiting_for?: string;
  error?: string;
}

type Env = Record<string, string | undefined>;

function statusOf(repo: string, env: Env): { views: Map<string, View>; stderr: string } {
  const r = orch(["status", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return { views: new Map((r.json.workers as View[]).map((w) => [w.worker_id, w])), stderr: r.stderr };
}

function onHost(host: SshHost, args: string[]): string {
  const r = host.runAs(args);
  if (r.code !== 0) throw new Error(`${args.join(" ")} on ${host.alias}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The host's view of its session's workers, as its own orch reports them (in the clone). */
function workersOnHost(host: SshHost, clone: string): string[] {
  const r = host.runAs(["sh", "-c", 'cd "$1" && exec "$2" list --json', "list", clone, `${host.home}/.local/bin/orch`]);
  if (r.code !== 0) return []; // no session there yet
  return (JSON.parse(r.stdout).workers as { worker_id: string }[]).map((w) => w.worker_id);
}

test("spawn B --after A --host: pending here, nothing on the host; A lands; B is made and started there", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env, ...privateTmux() };
  const clone = `${a!.home}/after/repo`;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "after/repo"], { cwd: repo, env }).code, 0);

  const first = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo, env });
  assert.is(first.code, 0, first.stderr);
  const prompt = "Build on a.\nwrite b.txt made on alpha\ncommit Add b.txt\nsleep 600000";
  const args = ["spawn", "feat/b", "--after", "feat/a", "--host", "alpha", "--agent", hostAgent(a!), "--prompt", prompt];
  const pending = orch([...args, "--json"], { cwd: repo, env });
  assert.is(pending.code, 0, pending.stderr);
  assert.equal([pending.json.status, pending.json.host, pending.json.worktree_path, pending.json.after],
    ["pending", "alpha", null, ["feat-a"]]);

  let seen = statusOf(repo, env);
  const b = seen.views.get("feat-b")!;
  assert.equal([b.status, b.host, b.after, b.error], ["pending", "alpha", ["feat-a"], undefined]);
  assert.match(orch(["list"], { cwd: repo, env }).stdout, /feat-b\s+pending.*after feat-a\s+on host alpha\n/);
  assert.is(onHost(a!, ["git", "-C", clone, "branch", "--list", "feat/b"]), "", "no branch on the host yet");
  assert.is(onHost(a!, ["git", "-C", clone, "worktree", "list"]).split("\n").length, 1, "no worktree on the host yet");
  assert.equal(workersOnHost(a!, clone), [], "the host's orch knows no worker yet");

  // C, quick at its work, is awaited from before it starts: the await follows it to its host, where
  // its report stays until a poll (nothing of it reaches this store by itself).
  const quick = ["--prompt", "write c.txt made on alpha\ncommit Add c.txt", "--json"];
  const c = orch(["spawn", "feat/c", "--after", "feat/a", "--host", "alpha", "--agent", hostAgent(a!), ...quick], { cwd: repo, env });
  assert.is(c.code, 0, c.stderr);
  const awaiting = orchAsync(["await", "feat-c", "--timeout", "120", "--json"], { cwd: repo, env });

  // Something lands first: B starts from the base as it is when A lands, not as it was when recorded.
  commitFiles(repo, { "early.txt": "early\n" }, "lands before a");
  commitFiles(first.json.worktree_path, { "a.txt": "from a\n" }, "a's work");
  const landed = orch(["land", "feat/a", "--test", "true", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  // A's landing starts B and C, each once: by this land, or by the await above when it noticed the landing first
  // (land then says so and leaves that one to it).
  for (const id of landed.json.started as string[]) assert.ok(["feat-b", "feat-c"].includes(id), id);
  const bothStarted = () => ["feat-b", "feat-c"].every((id) => statusOf(repo, env).views.get(id)?.status !== "pending");
  await waitUntil(bothStarted, 60_000, "B and C started");
  const tip = git(["rev-parse", "main"], repo);

  seen = statusOf(repo, env);
  const started = seen.views.get("feat-b")!;
  assert.is(started.host, "alpha");
  assert.is(started.status, "running", JSON.stringify(started));
  assert.is(started.error, undefined, "the host's orch knows it");
  assert.is(started.base_commit, tip);
  assert.ok(started.worktree_path.startsWith(a!.home), started.worktree_path);
  assert.equal(started.after, ["feat-a"]);
  assert.equal(workersOnHost(a!, clone).sort(), ["feat-b", "feat-c"]);
  for (const file of ["a.txt", "early.txt"]) assert.ok(onHost(a!, ["ls", started.worktree_path]).split("\n").includes(file), file);
  // Its agent ran there with its prompt: the commit it made is on the host's branch, on top of the base.
  await waitUntil(() => a!.runAs(["git", "-C", started.worktree_path, "log", "-1", "--format=%s"]).stdout.trim() === "Add b.txt",
    60_000, "the agent's commit on alpha");
  assert.is(onHost(a!, ["git", "-C", started.worktree_path, "rev-parse", "HEAD~1"]), tip);
  assert.is(onHost(a!, ["cat", path.join(started.worktree_path, "b.txt")]), "made on alpha");
  assert.is(statusOf(repo, env).views.get("feat-b")!.status, "running", "its agent is still at work (sleep)");
  const diff = orch(["diff", "feat/b", "--json"], { cwd: repo, env });
  assert.is(diff.code, 0, diff.stderr);
  assert.equal(diff.json.files.map((f: { path: string }) => f.path), ["b.txt"]);

  const awaited = await awaiting.done;
  assert.is(awaited.code, 0, `${awaited.stderr}${awaited.stdout}`);
  assert.equal(awaited.json.workers.map((w: { worker_id: string; status: string; host?: string }) => [w.worker_id, w.status, w.host]),
    [["feat-c", "done", "alpha"]]);

  // Its prerequisite has landed already: spawn --after --host starts it on the host at once.
  const late = orch(["spawn", "feat/e", "--after", "feat/a", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(late.code, 0, late.stderr);
  assert.equal([late.json.status, late.json.host, late.json.base_commit], ["running", "alpha", tip]);
  assert.ok(late.json.worktree_path.startsWith(a!.home), late.json.worktree_path);
  assert.equal(workersOnHost(a!, clone).sort(), ["feat-b", "feat-c", "feat-e"]);
  assert.is(orch(["rm", "feat/e", "--yes"], { cwd: repo, env }).code, 0);

  // From now on they are remote workers like any other: rm goes to the host.
  assert.is(orch(["rm", "feat/c", "--yes"], { cwd: repo, env }).code, 0);
  const removed = orch(["rm", "feat/b", "--force", "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(a!.runAs(["test", "-e", started.worktree_path]).code === 0, "its worktree on alpha is gone");
  assert.equal(workersOnHost(a!, clone), []);
});

test("A on a host, B --after A on the same host: A's work lands from there and B starts on it", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env, ...privateTmux() };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "chain/repo"], { cwd: repo, env }).code, 0);
  const work = ["--host", "alpha", "--agent", hostAgent(a!), "--json"];
  const first = orch(["spawn", "feat/a", ...work, "--prompt", "write a.txt made by a on alpha\ncommit Add a.txt"], { cwd: repo, env });
  assert.is(first.code, 0, first.stderr);
  const second = orch(["spawn", "feat/b", "--after", "feat/a", ...work, "--prompt", "p"], { cwd: repo, env });
  assert.is(second.code, 0, second.stderr);
  assert.is(second.json.status, "pending");

  const awaited = orch(["await", "feat-a", "--timeout", "60", "--json"], { cwd: repo, env });
  assert.is(awaited.code, 0, awaited.stderr);
  assert.is(awaited.json.workers[0].status, "done");
  assert.is(statusOf(repo, env).views.get("feat-b")!.status, "pending", "done is not landed");
  const landed = orch(["land", "feat/a", "--test", "true", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  assert.equal(landed.json.started, ["feat-b"]);
  assert.is(fs.readFileSync(path.join(repo, "a.txt"), "utf8").trim(), "made by a on alpha", "A's work came back and landed here");

  const b = statusOf(repo, env).views.get("feat-b")!;
  assert.equal([b.host, b.base_commit, b.error], ["alpha", git(["rev-parse", "main"], repo), undefined]);
  assert.is(onHost(a!, ["cat", path.join(b.worktree_path, "a.txt")]), "made by a on alpha", "B starts from the base with A in it");
});

test("a pending remote worker: unknown host refused, never looked for on its host, rm forgets it, a failed start is reported", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo, id } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env, ...privateTmux() };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "pending/repo"], { cwd: repo, env }).code, 0);
  const first = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo, env });
  assert.is(first.code, 0, first.stderr);
  const workersDir = path.join(repo, ".orch/sessions", id, "workers");
  const before = fs.readdirSync(workersDir).sort();

  for (const bad of [
    ["spawn", "feat/x", "--after", "feat/a", "--host", "nowhere"],
    ["spawn", "feat/x", "--after", "feat/none", "--host", "alpha"],
    ["spawn", "feat/x", "--after", "feat/a", "--host", "alpha", "--from", "main"],
  ]) {
    const r = orch([...bad, "--no-window", "--json"], { cwd: repo, env });
    assert.is(r.code, 2, `${bad.join(" ")}: ${r.stderr}`);
  }
  assert.match(orch(["spawn", "feat/x", "--after", "feat/a", "--host", "nowhere"], { cwd: repo, env }).stderr, /unknown host "nowhere"/);
  assert.equal(fs.readdirSync(workersDir).sort(), before, "nothing recorded");

  for (const branch of ["feat/b", "feat/c"]) {
    const r = orch(["spawn", branch, "--after", "feat/a", "--host", "alpha", "--no-window", "--prompt", "p", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
  }
  const second = orch(["spawn", "feat/a2", "--no-window", "--json"], { cwd: repo, env });
  assert.is(second.code, 0, second.stderr);
  assert.is(orch(["spawn", "feat/d", "--after", "feat/a2", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env }).code, 0);

  // alpha is gone: nothing about its pending workers needs it.
  a!.stop();
  try {
    const seen = statusOf(repo, env);
    for (const idOf of ["feat-b", "feat-c", "feat-d"]) {
      const view = seen.views.get(idOf)!;
      assert.equal([view.status, view.host, view.error], ["pending", "alpha", undefined], JSON.stringify(view));
    }
    assert.not.match(seen.stderr, /alpha/, "status did not try to reach alpha");
    const polled = orch(["poll", "--json"], { cwd: repo, env });
    assert.is(polled.code, 0, polled.stderr);
    assert.not.match(polled.stderr, /alpha/);
    const sent = orch(["send", "feat-b", "hello", "--json"], { cwd: repo, env });
    assert.is(sent.code, 1, "a message to a worker not made yet on its host is refused");
    assert.match(sent.json.error.message, /has not started yet.*on host alpha.*nothing was sent/);

    const removed = orch(["rm", "feat/c", "--yes", "--json"], { cwd: repo, env });
    assert.is(removed.code, 0, removed.stderr);
    assert.not.match(removed.stderr, /alpha/);
    assert.not.ok(statusOf(repo, env).views.has("feat-c"));

    // A prerequisite removed: its pending worker is blocked, as a local one is.
    assert.is(orch(["rm", "feat/a2", "--force", "--yes"], { cwd: repo, env }).code, 0);
    const d = statusOf(repo, env).views.get("feat-d")!;
    assert.equal([d.status, d.waiting_for, d.host], ["blocked", "after", "alpha"]);

    // A lands while alpha is away: B's start fails, and is reported (failed, task_failed), not retried.
    commitFiles(first.json.worktree_path, { "a.txt": "from a\n" }, "a's work");
    const landed = orch(["land", "feat/a", "--test", "true", "--json"], { cwd: repo, env });
    assert.is(landed.code, 0, landed.stderr);
    assert.match(landed.stderr, /could not start feat-b after feat-a/);
    const b = statusOf(repo, env).views.get("feat-b")!;
    assert.equal([b.status, b.host], ["failed", "alpha"]);
    const messages = orch(["poll", "--json"], { cwd: repo, env });
    assert.is(messages.code, 0, messages.stderr);
    const failed = (messages.json.messages as { worker_id: string; message_type: string; content: { error: string } }[])
      .filter((m) => m.worker_id === "feat-b");
    assert.equal(failed.map((m) => m.message_type), ["task_failed"]);
    assert.match(failed[0]!.content.error, /alpha/);
    const resumed = orch(["resume", "feat-b", "--json"], { cwd: repo, env });
    assert.is(resumed.code, 1, resumed.stderr);
    assert.match(resumed.json.error.message, /has not started: its start failed .*orch rm it/);
  } finally {
    await a!.start();
  }
  // Back: the failed worker stays failed (no start behind the user's back); rm just forgets it.
  assert.is(statusOf(repo, env).views.get("feat-b")!.status, "failed");
  assert.equal(workersOnHost(a!, `${a!.home}/pending/repo`), []);
  const forgotten = orch(["rm", "feat/b", "--yes", "--json"], { cwd: repo, env });
  assert.is(forgotten.code, 0, forgotten.stderr);
  assert.not.ok(statusOf(repo, env).views.has("feat-b"));
});

test.run();
