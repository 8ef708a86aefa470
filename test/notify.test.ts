// orch notify: messages land whole in the session's mailbox; bad input is refused with exit 2 and changes nothing.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, orch, sessionRepo, snapshot } from "./helpers.ts";

test("notify writes a readable JSON message with every content field", () => {
  const { repo, id } = sessionRepo();
  const r = orch([
    "notify",
    "--type", "task_complete",
    "--summary", "done it",
    "--details", "line1\nline2",
    "--pr-url", "https://github.com/o/r/pull/7",
    "--branch", "feat/x",
    "--error", "e",
    "--question", "q?",
    "--json",
  ], { cwd: repo, env: { ORCH_WORKER: "feat-x" } });
  assert.is(r.code, 0, r.stderr);
  const fields = ["created_at", "message_id", "message_type", "orchestrator_id", "status", "success", "worker_id"];
  assert.equal(Object.keys(r.json).sort(), fields);
  assert.is(r.json.orchestrator_id, id);
  assert.is(r.json.status, "unread");
  const file = path.join(repo, ".orch/sessions", id, "mail/new", `${r.json.message_id}.json`);
  const message = JSON.parse(fs.readFileSync(file, "utf8"));
  assert.equal(message.content, {
    summary: "done it",
    details: "line1\nline2",
    pr_url: "https://github.com/o/r/pull/7",
    branch: "feat/x",
    error: "e",
    question: "q?",
  });
  assert.is(message.worker_id, "feat-x");
  assert.is(message.message_type, "task_complete");
});

test("the orchestrator is found by --orch, then $ORCH_ID, then the newest session", () => {
  const { repo, id: first } = sessionRepo();
  const second = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id;
  const progress = ["notify", "--type", "progress", "--summary", "a"];
  assert.is(orch([...progress, "--json"], { cwd: repo }).json.orchestrator_id, second);
  const withOrchId = { cwd: repo, env: { ORCH_ID: first } };
  assert.is(orch([...progress, "--json"], withOrchId).json.orchestrator_id, first);
  assert.is(orch([...progress, "--orch", second, "--json"], withOrchId).json.orchestrator_id, second);
});

test("in a worker's worktree the marker decides who speaks; a disagreeing environment is a warning", () => {
  const { repo, id } = sessionRepo();
  const other = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id as string;
  for (const branch of ["feat/a", "feat/b"]) assert.is(orch(["spawn", branch, "--no-window", "--orch", id], { cwd: repo }).code, 0);
  const worktreeB = path.join(path.dirname(repo), "repo-worktrees", "feat-b");
  const elsewhere = path.join(path.dirname(repo), "elsewhere-store");
  const env = { ORCH_WORKER: "feat-a", ORCH_ID: other, ORCH_HOME: elsewhere };
  const r = orch(["notify", "--type", "progress", "--summary", "from b", "--json"], { cwd: worktreeB, env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.worker_id, "feat-b");
  assert.is(r.json.orchestrator_id, id);
  assert.match(r.stderr, "$ORCH_WORKER is feat-a but this worktree belongs to worker feat-b");
  assert.match(r.stderr, `$ORCH_ID is ${other}`);
  assert.match(r.stderr, "$ORCH_HOME is");
  assert.is(r.stderr.split("\n").filter((line) => line.startsWith("orch: $ORCH_")).length, 3, `one prefix each: ${r.stderr}`);
  assert.not.ok(fs.existsSync(elsewhere), "nothing was written to the store the environment named");
  const polled = orch(["poll", "--json", "--orch", id], { cwd: repo });
  assert.equal(polled.json.messages.map((m: { worker_id: string }) => m.worker_id), ["feat-b"]);
  const inbox = orch(["inbox", "--json"], { cwd: worktreeB, env: { ORCH_WORKER: "feat-a" } });
  assert.is(inbox.json.worker_id, "feat-b");
  // Outside any worktree, $ORCH_WORKER is who speaks, and nobody warns.
  const plain = orch(["notify", "--type", "progress", "--summary", "x", "--json", "--orch", id], {
    cwd: repo,
    env: { ORCH_WORKER: "feat-a" },
  });
  assert.is(plain.json.worker_id, "feat-a");
  assert.is(plain.stderr, "");
});

test("the repository moved: the worker's notify and diff name git worktree repair; once repaired, notify reaches " +
  "the moved store", () => {
  const { repo, id } = sessionRepo();
  const spawned = orch(["spawn", "feat/m", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  // What the agent's environment says, from before the move.
  const env = { ORCH_ID: id, ORCH_WORKER: "feat-m", ORCH_HOME: path.join(repo, ".orch") };
  const moved = `${repo}-moved`;
  fs.renameSync(repo, moved);
  const send = () => orch(["notify", "--type", "progress", "--summary", "after the move", "--json"], { cwd: worktree, env });
  const cut = send();
  assert.is(cut.code, 1, cut.stderr);
  const mend = `Run git worktree repair ${worktree} in the repository where it is now`;
  assert.ok(cut.json.error.message.endsWith(mend), cut.json.error.message);
  const diff = orch(["diff", "feat-m", "--json"], { cwd: moved });
  assert.is(diff.code, 1, diff.stderr);
  assert.ok(diff.json.error.message.endsWith(mend), diff.json.error.message);

  git(["worktree", "repair", worktree], moved);
  const sent = send();
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.stderr, "", "the store moved with the repository: nothing to warn of");
  const polled = orch(["poll", "--json"], { cwd: moved });
  assert.equal(polled.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["after the move"]);
  assert.not.ok(fs.existsSync(repo), "no store made again where the repository was");
});

test("task_complete from a worktree with uncommitted work is sent, and the agent is told what it left out", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/left", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  fs.mkdirSync(path.join(wt, "src"));
  fs.writeFileSync(path.join(wt, "src", "new.txt"), "never added\n");
  const r = orch(["notify", "--type", "task_complete", "--summary", "done", "--json"], { cwd: path.join(wt, "src") });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.message_type, "task_complete");
  assert.is(r.stderr, "orch: this worktree has uncommitted changes, which land, merge and apply leave out: " +
    "src/new.txt (commit them, then report task_complete again)\n");
  // Progress says nothing of it; a commit quiets it.
  assert.is(orch(["notify", "--type", "progress", "--summary", "half"], { cwd: wt }).stderr, "");
  commitFiles(wt, { "src/new.txt": "never added\n" }, "the work");
  const again = orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: wt });
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stderr, "");
  const inbox = orch(["poll", "--json"], { cwd: repo });
  assert.is(inbox.json.messages.filter((m: { message_type: string }) => m.message_type === "task_complete").length, 2);
});

test("bad input exits 2 with one line and leaves the store as it was", () => {
  const { repo } = sessionRepo();
  const store = path.join(repo, ".orch");
  const before = snapshot(store);
  const ok = ["--type", "progress", "--summary", "s"];
  const cases: [string[], Record<string, string>?][] = [
    [[...ok, "--orch", "../x"]],
    [[...ok, "--orch", "orch_ABC"]],
    [[...ok, "--orch", ""]],
    [[...ok, "--orch", "orch_abc/../../x"]],
    [ok, { ORCH_ID: "../x" }],
    [ok, { ORCH_ID: "orch_ABCDEFGH" }],
    [ok, { ORCH_WORKER: "../evil" }],
    [["--type", "bogus", "--summary", "s"]],
    [["--type", "progress", "--summary", ""]],
    [["--type", "progress", "--summary"]],
    [["--type", "--summary", "s"]],
    [["--type", "progress"]],
    [["--summary", "s"]],
    [["--type", "progress", "--type", "question", "--summary", "s"]],
    // A branch name git check-ref-format --branch rejects, as spawn refuses it.
    [[...ok, "--branch", "a..b"]],
    [[...ok, "--branch", "-x"]],
    [[...ok, "--branch", "feat/x.lock"]],
  ];
  for (const [args, env] of cases) {
    const r = orch(["notify", ...args], { cwd: repo, env });
    assert.is(r.code, 2, `${args.join(" ")} ${JSON.stringify(env ?? {})}: ${r.stderr}`);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  assert.match(orch(["notify", "--type", "progress"], { cwd: repo }).stderr, /--summary/);
  assert.equal(snapshot(store), before);
});

test("notify for a session that does not exist is not found: exit 1", () => {
  const { repo } = sessionRepo();
  const r = orch(["notify", "--type", "progress", "--summary", "x", "--orch", "orch_zzzzzzzz", "--json"], { cwd: repo });
  assert.is(r.code, 1);
  assert.is(r.json.error.code, "not_found");
});

test("notify outside any repository without ORCH_HOME says where to run it: exit 1", () => {
  const r = orch(["notify", "--type", "progress", "--summary", "x"], { cwd: "/" });
  assert.is(r.code, 1);
  assert.match(r.stderr, /orch init|ORCH_HOME/);
});

test.run();
