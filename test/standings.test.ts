// The session's standings cache (ahead, behind, merges_cleanly) on real repositories: status runs no git
// while nothing moved, and the cache gives way when a worker's branch moves, a base moves, a worker's
// base commit changes (sync) or the file is damaged; messages that arrive show in the next status.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, orch, regExpOf, sessionRepo, tempDir } from "./helpers.ts";

interface View {
  worker_id: string;
  status: string;
  ahead: number | null;
  behind: number | null;
  merges_cleanly: boolean | null;
  conflict_paths?: string[];
}

/** A git on PATH that logs each call's arguments, then runs the real one. */
function recordingGit(): { env: Record<string, string>; calls: () => string[] } {
  const bin = tempDir("orch-git-");
  const log = path.join(bin, "calls.log");
  const gitPath = (process.env.PATH ?? "").split(":").map((dir) => path.join(dir, "git")).find((p) => fs.existsSync(p));
  if (!gitPath) throw new Error("no git on PATH");
  fs.writeFileSync(path.join(bin, "git"), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${gitPath}' "$@"\n`, { mode: 0o755 });
  return {
    env: { PATH: `${bin}:${process.env.PATH}` },
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : []),
  };
}

function spawnWorker(repo: string, branch: string): string {
  const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  return r.json.worktree_path as string;
}

function status(repo: string, env?: Record<string, string>): Record<string, View> {
  const r = orch(["status", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return Object.fromEntries((r.json.workers as View[]).map((w) => [w.worker_id, w]));
}

const standingOf = (w: View) => [w.ahead, w.behind, w.merges_cleanly, w.conflict_paths ?? []];

function standingsFile(repo: string, id: string): string {
  return path.join(repo, ".orch", "sessions", id, "standings.json");
}

/** Two workers on a base that moved: one merges cleanly, one conflicts in shared.txt. */
function twoWorkers(): { repo: string; id: string; clean: string; conflicting: string } {
  const { repo, id } = sessionRepo({ "shared.txt": "one\n" });
  const clean = spawnWorker(repo, "feat/clean");
  commitFiles(clean, { "clean.txt": "c\n" }, "clean work");
  const conflicting = spawnWorker(repo, "feat/conflict");
  commitFiles(conflicting, { "shared.txt": "mine\n" }, "conflicting work");
  commitFiles(repo, { "shared.txt": "theirs\n" }, "the base moves");
  return { repo, id, clean, conflicting };
}

test("with nothing moved, status takes the standings from the session's cache and runs no git", () => {
  const { repo, id } = twoWorkers();
  const first = status(repo);
  assert.equal(standingOf(first["feat-clean"]!), [1, 1, true, []]);
  assert.equal(standingOf(first["feat-conflict"]!), [1, 1, false, ["shared.txt"]]);
  const cached = JSON.parse(fs.readFileSync(standingsFile(repo, id), "utf8")) as Record<string, { branch_tip: string }>;
  assert.equal(Object.keys(cached).sort(), ["feat-clean", "feat-conflict"]);
  assert.is(cached["feat-clean"]!.branch_tip, git(["rev-parse", "refs/heads/feat/clean"], repo));

  const recorder = recordingGit();
  const again = status(repo, recorder.env);
  assert.equal(recorder.calls(), [], "no git while nothing moved");
  assert.equal(again, first);
});

test("a worker's branch that moves is computed again; the other worker stays cached", () => {
  const { repo, clean, conflicting } = twoWorkers();
  status(repo);
  commitFiles(clean, { "more.txt": "m\n" }, "more clean work");
  // The conflict resolved in the worker: shared.txt as the base has it.
  commitFiles(conflicting, { "shared.txt": "theirs\n" }, "take theirs");
  const recorder = recordingGit();
  const after = status(repo, recorder.env);
  assert.ok(recorder.calls().some((c) => c.startsWith("rev-list")), recorder.calls().join("\n"));
  assert.equal(standingOf(after["feat-clean"]!), [2, 1, true, []]);
  assert.equal(standingOf(after["feat-conflict"]!), [2, 1, true, []]);
  const quiet = recordingGit();
  assert.equal(status(repo, quiet.env), after);
  assert.equal(quiet.calls(), []);
});

test("a base that moves is noticed by status: the workers are told once and their standings computed again", () => {
  const { repo, clean } = twoWorkers();
  status(repo);
  orch(["inbox"], { cwd: clean }); // the first move's base_moved, read
  const moved = commitFiles(repo, { "base.txt": "b\n" }, "the base moves again");
  const recorder = recordingGit();
  const after = status(repo, recorder.env);
  assert.ok(recorder.calls().length > 0);
  assert.equal(standingOf(after["feat-clean"]!), [1, 2, true, []]);
  assert.equal(standingOf(after["feat-conflict"]!), [1, 2, false, ["shared.txt"]]);
  status(repo);
  const told = orch(["inbox", "--json"], { cwd: clean });
  assert.is(told.code, 0, told.stderr);
  const messages = told.json.messages as { message_type: string; content: { base_commit: string } }[];
  assert.equal(messages.map((m) => [m.message_type, m.content.base_commit]), [["base_moved", moved]]);
});

test("messages that arrive show in the next status while the standings stay cached", () => {
  const { repo, clean, conflicting } = twoWorkers();
  assert.is(status(repo)["feat-clean"]!.status, "running");
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: clean }).code, 0);
  const asked = orch(["notify", "--type", "question", "--summary", "which one?", "--question", "which one?"], { cwd: conflicting });
  assert.is(asked.code, 0, asked.stderr);
  const recorder = recordingGit();
  const after = status(repo, recorder.env);
  assert.equal([after["feat-clean"]!.status, after["feat-conflict"]!.status], ["done", "waiting"]);
  assert.equal(standingOf(after["feat-conflict"]!), [1, 1, false, ["shared.txt"]]);
  assert.equal(recorder.calls(), []);
});

test("after sync (a new branch tip and base commit) the standing is computed again, not taken from the cache", () => {
  const { repo } = sessionRepo({ "shared.txt": "one\n" });
  const wt = spawnWorker(repo, "feat/sync");
  commitFiles(wt, { "mine.txt": "m\n" }, "my work");
  commitFiles(repo, { "base.txt": "b\n" }, "the base moves");
  assert.equal(standingOf(status(repo)["feat-sync"]!), [1, 1, true, []]);
  const synced = orch(["sync", "--json"], { cwd: repo });
  assert.equal(synced.json.synced, ["feat-sync"], synced.stderr);
  assert.equal(standingOf(status(repo)["feat-sync"]!), [1, 0, true, []]);
});

test("a damaged cache is computed again, and a removed worker's entry leaves it", () => {
  const { repo, id, clean } = twoWorkers();
  const first = status(repo);
  fs.writeFileSync(standingsFile(repo, id), "{ not json");
  const recorder = recordingGit();
  assert.equal(status(repo, recorder.env), first);
  assert.ok(recorder.calls().length > 0, "computed again");
  const kept = Object.keys(JSON.parse(fs.readFileSync(standingsFile(repo, id), "utf8"))).sort();
  assert.equal(kept, ["feat-clean", "feat-conflict"]);

  const removed = orch(["rm", "feat-conflict", "--force"], { cwd: repo });
  assert.is(removed.code, 0, removed.stderr);
  commitFiles(clean, { "more.txt": "m\n" }, "more clean work");
  assert.equal(standingOf(status(repo)["feat-clean"]!), [2, 1, true, []]);
  assert.equal(Object.keys(JSON.parse(fs.readFileSync(standingsFile(repo, id), "utf8"))), ["feat-clean"]);
});

test("a base branch renamed after spawn: status, sync and land say so in one line; all as before once it is back", () => {
  const { repo } = sessionRepo();
  const worktree = spawnWorker(repo, "feat/renamed");
  commitFiles(worktree, { "r.txt": "r\n" }, "work");
  assert.equal(status(repo)["feat-renamed"]!.ahead, 1);
  git(["branch", "-m", "main", "trunk"], repo);
  const seen = orch(["status", "--json"], { cwd: repo });
  assert.is(seen.code, 0, seen.stderr);
  assert.is(seen.json.workers[0].ahead, null);
  const warning = /^orch: base branch main of feat-renamed does not exist here \(renamed or deleted\?\): ahead, behind/m;
  assert.match(seen.stderr, warning);
  assert.is(seen.stderr.split("base branch main").length, 2, "one line for it");
  const synced = orch(["sync", "--json"], { cwd: repo });
  const reasons = synced.json.skipped.map((s: { reason: string }) => s.reason);
  assert.equal(reasons, ["its base branch main does not exist here (renamed or deleted?)"]);
  const landed = orch(["land", "feat/renamed", "--json"], { cwd: repo });
  assert.is(landed.code, 1, landed.stderr);
  const refusal = regExpOf(
    /^feat-renamed started from main, which does not exist here \(renamed or deleted\?\): /,
    /bring it back \(git branch -m trunk main/,
  );
  assert.match(landed.json.error.message, refusal);
  git(["branch", "-m", "trunk", "main"], repo);
  const back = orch(["status", "--json"], { cwd: repo });
  assert.equal([back.code, back.stderr, back.json.workers[0].ahead], [0, "", 1]);
});

test.run();
