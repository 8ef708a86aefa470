// Upgrading orch under a live session: a store made by a newer orch (its store-version file says a format
// this orch does not read) is refused by every command in one line, with nothing in it changed.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, sessionRepo, snapshot } from "./helpers.ts";

/** A session with a worker (no window) and one unread message from it; the worker's worktree. */
function sessionWithWorker(): { repo: string; id: string; worktree: string } {
  const { repo, id } = sessionRepo();
  const spawned = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  const sent = orch(["notify", "--type", "progress", "--summary", "half way"], { cwd: worktree });
  assert.is(sent.code, 0, sent.stderr);
  return { repo, id, worktree };
}

const NEWER =
  /^orch: the store \S+ is of format 2, made by a newer orch; this orch reads format 1: .*nothing was changed\n$/;

test("a store of a newer format: every command refuses it in one line (exit 1) and changes nothing", () => {
  const { repo, worktree } = sessionWithWorker();
  const store = path.join(repo, ".orch");
  fs.writeFileSync(path.join(store, "store-version"), "2\n");
  const before = snapshot(store);
  const branches = git(["branch", "--list"], repo);
  const here = [
    ["status"], ["list"], ["poll"], ["poll", "--wait", "--timeout", "0"], ["watch", "--timeout", "0"],
    ["await", "--timeout", "0"], ["send", "feat/a", "hello"], ["stop", "feat/a"], ["resume", "feat/a"],
    ["rm", "feat/a", "--force", "--yes"], ["clean", "--yes"], ["land", "feat/a"], ["sync", "--all"],
    ["spawn", "feat/b", "--no-window"], ["init"],
  ];
  const inWorker = [["notify", "--type", "progress", "--summary", "more"], ["inbox"]];
  const runs = [
    ...here.map((args) => ({ args, cwd: repo })),
    ...inWorker.map((args) => ({ args, cwd: worktree })),
  ];
  for (const { args, cwd } of runs) {
    const r = orch(args, { cwd });
    assert.is(r.code, 1, `orch ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, NEWER, `orch ${args.join(" ")}`);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    const json = orch([...args, "--json"], { cwd });
    assert.is(json.json?.error?.code, "store", `orch ${args.join(" ")} --json: ${json.stdout}`);
  }
  // A hook never fails the agent it serves: it exits 0, says why on stderr (Claude Code's debug log), writes nothing.
  const payload = JSON.stringify({ hook_event_name: "Stop", stop_hook_active: false, session_id: "s", cwd: worktree });
  const hook = orch(["hook", "stop"], { cwd: worktree, input: payload });
  assert.is(hook.code, 0, hook.stderr);
  assert.match(hook.stderr, /made by a newer orch/);
  assert.equal(snapshot(store), before, "nothing in the store changed");
  assert.is(git(["branch", "--list"], repo), branches, "no branch made or deleted");
  assert.ok(fs.existsSync(worktree), "the worktree is still there");

  const doctor = orch(["doctor"], { cwd: repo });
  const failed = /FAIL store +the store \S+ is of format 2, made by a newer orch; this orch reads format 1/;
  assert.match(doctor.stdout, failed);
  assert.equal(snapshot(store), before, "doctor changed nothing either");

  // The newer orch's own format number back to this one's: the same store is read again, the message still unread.
  fs.writeFileSync(path.join(store, "store-version"), "1\n");
  const polled = orch(["poll", "--json"], { cwd: repo });
  assert.is(polled.code, 0, polled.stderr);
  assert.equal(polled.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["half way"]);
});

test("a store-version that is not a number is refused in one line, as a store orch cannot tell it can read", () => {
  const { repo } = sessionWithWorker();
  const store = path.join(repo, ".orch");
  fs.writeFileSync(path.join(store, "store-version"), "two\n");
  const before = snapshot(store);
  const r = orch(["poll"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /^orch: \S+store-version holds "two\\n", not a store format number: .*changed nothing\n$/);
  assert.equal(snapshot(store), before);
});

test.run();
