// A day's use, scaled down: many spawn → report → land/apply/merge/rm/clean cycles under a running watch leave
// only what the README says stays (the session's small files and the read messages), and trimming the read
// messages as the README says keeps every worker answerable.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  agentScript, git, orch, orchAsync, privateTmux, sessionRepo, tempDir, tmux, waitUntil, workerProcesses,
} from "./helpers.ts";

const CYCLES = 30;

function finishingAgent(): string {
  return agentScript([
    'f="f-$ORCH_WORKER.txt"; echo "$ORCH_WORKER" > "$f"; git add "$f"; git commit -qm "add $f"',
    'orch notify --type task_complete --summary "done $ORCH_WORKER"',
  ]);
}

/** Every name under `dir`, relative to it. */
function tree(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

test(`${CYCLES} cycles under a watch leave no worker, window, process, worktree, branch, temp folder, fd`, async () => {
  const { repo, id } = sessionRepo();
  const scratch = tempDir("orch-tmpdir-");
  const env = { ...privateTmux(), TMPDIR: scratch };
  const agent = finishingAgent();
  const watch = orchAsync(["watch"], { cwd: repo, env });
  const seen: string[] = [];
  const lines = () => seen.length;
  watch.child.stdout!.on("data", (chunk: Buffer) => seen.push(...chunk.toString().split("\n").filter(Boolean)));
  const fds = () => fs.readdirSync(`/proc/${watch.child.pid}/fd`).length;
  let fdsAtStart = 0;
  const finish: ((w: string) => void)[] = [
    (w) => assert.is(orch(["land", w], { cwd: repo, env }).code, 0),
    (w) => {
      assert.is(orch(["apply", w], { cwd: repo, env }).code, 0);
      assert.is(orch(["rm", w, "--force", "--delete-branch", "--yes"], { cwd: repo, env }).code, 0);
    },
    (w) => assert.is(orch(["land", w, "--test", "true"], { cwd: repo, env }).code, 0),
    (w) => assert.is(orch(["rm", w, "--force", "--delete-branch", "--yes"], { cwd: repo, env }).code, 0),
    (w) => {
      assert.is(orch(["merge", w, "--local"], { cwd: repo, env }).code, 0);
      assert.is(orch(["clean", "--merged", "--yes"], { cwd: repo, env }).code, 0);
    },
  ];
  for (let i = 0; i < CYCLES; i++) {
    const before = lines();
    const spawned = orch(["spawn", `w/${i}`, "--agent", agent, "--prompt", `task ${i}`], { cwd: repo, env });
    assert.is(spawned.code, 0, spawned.stderr);
    await waitUntil(() => lines() > before, 20_000, `the watch line of w-${i}`);
    finish[i % finish.length]!(`w-${i}`);
    if (i === 0) fdsAtStart = fds();
  }
  assert.is(seen.length, CYCLES);
  // A descriptor or two open for a moment (a message being read) is no leak; one per cycle would be 30.
  assert.ok(fds() <= fdsAtStart + 2, `the watch holds ${fds()} descriptors, ${fdsAtStart} after the first cycle`);
  watch.child.kill();
  await watch.done;

  const session = path.join(repo, ".orch/sessions", id);
  const kept = tree(session).filter((name) => !name.startsWith(`mail${path.sep}cur${path.sep}`));
  const expected = ["base-tips.json", "mail", "mail/claims", "mail/cur", "mail/new", "mail/quarantine", "mail/tmp",
    "session.json", "standings.json", "status-cache.json", "status-cache.json.probe", "workers"];
  assert.equal(kept.filter((name) => !expected.includes(name)), [], "only the session's own files are left");
  assert.equal(fs.readdirSync(path.join(session, "workers")), []);
  assert.is(fs.readdirSync(path.join(session, "mail/cur")).length, CYCLES, "the read messages stay, as documented");
  const worktrees = git(["worktree", "list", "--porcelain"], repo).split("\n").filter((l) => l.startsWith("worktree "));
  assert.is(worktrees.length, 1);
  assert.is(git(["worktree", "prune", "--dry-run", "-v"], repo), "");
  assert.is(git(["for-each-ref", "--format=%(refname)"], repo), "refs/heads/main");
  assert.is(git(["stash", "list"], repo), "");
  assert.equal(fs.readdirSync(scratch), [], "no throw-away worktree or temp file is left in TMPDIR");
  for (let i = 0; i < CYCLES; i++) assert.equal(workerProcesses(id, `w-${i}`), []);
  let windows = "";
  try {
    windows = tmux(["list-windows", "-a", "-F", "#{window_name}"], env);
  } catch {
    // no server left at all: no window either
  }
  assert.is(windows, "");
});

test("after the read messages are trimmed (rm mail/cur/*), a live worker's question can still be replied to", () => {
  const { repo, id } = sessionRepo();
  const worktree = orch(["spawn", "w/asks", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  const asked = orch(["notify", "--type", "question", "--summary", "q", "--question", "which?"], { cwd: worktree });
  assert.is(asked.code, 0);
  const question = orch(["poll", "--json"], { cwd: repo }).json.messages[0].id as string;
  const cur = path.join(repo, ".orch/sessions", id, "mail/cur");
  for (const name of fs.readdirSync(cur)) fs.rmSync(path.join(cur, name));

  const reply = orch(["reply", question, "the second"], { cwd: repo });
  assert.is(reply.code, 0, reply.stderr);
  const inbox = orch(["inbox", "--json"], { cwd: worktree });
  assert.equal(inbox.json.messages.map((m: { content: { text: string } }) => m.content.text), ["the second"]);
  assert.is(inbox.json.messages[0].content.in_reply_to, question);
  assert.is(orch(["reply", "msg_0000000000000000000", "x"], { cwd: repo }).code, 1, "an unknown id is still not found");
});

test.run();
