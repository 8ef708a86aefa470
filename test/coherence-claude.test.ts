// base_moved with the real Claude Code (the agents' harness): a move of the base noticed by orch status
// while the worker is in a turn reaches the model mid-turn, through the PostToolUse hook, once.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnthropicServer, step, userText } from "./agents/anthropic-server.ts";
import { claudeUser } from "./agents/harness.ts";
import { commitFiles, git, orch, privateTmux, scratchRepo, tempDir } from "./helpers.ts";

/** Real agents start in seconds on a quiet machine; on a loaded 2-core one, give them a minute. */
const AGENT_WAIT = 90_000;

const server = await new AnthropicServer().start();
test.after(() => server.stop());

test("a base moved during the worker's turn reaches the model after its next Bash call, with the conflicting path", async () => {
  const repo = scratchRepo("repo", { "notes.txt": "one\ntwo\n" });
  assert.is(orch(["init"], { cwd: repo }).code, 0);
  const go = path.join(tempDir(), "go");
  const user = claudeUser({
    allow: ["Bash(wait-for:*)", "Bash(git:*)"],
    scripts: { "wait-for": '#!/bin/sh\nuntil [ -e "$1" ]; do sleep 0.1; done\necho "$1 is there"\n' },
  });
  const env = { ...privateTmux(), ...user.env, ...server.env };
  server.script("feat-notes", [
    step.bash("git commit -qam 'worker edits notes'"),
    step.bash(`wait-for ${go}`),
    step.say("Noted."),
  ]);
  const spawned = orch(["spawn", "feat/notes", "--prompt", "Edit the notes.", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const wt = spawned.json.worktree_path as string;
  // The worker's change, in place before its first step commits it.
  fs.writeFileSync(path.join(wt, "notes.txt"), "ONE\ntwo\n");
  await server.waitFor(() => server.used("feat-notes") >= 2, AGENT_WAIT, "the worker to be waiting in its second step");

  // The base moves by hand, touching the same line; the next orch command notices and tells the worker.
  const moved = commitFiles(repo, { "notes.txt": "uno\ntwo\n" }, "main edits notes");
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  const worker = (status.json.workers as { worker_id: string; merges_cleanly: boolean; conflict_paths: string[] }[])[0]!;
  assert.equal([worker.merges_cleanly, worker.conflict_paths], [false, ["notes.txt"]]);
  fs.writeFileSync(go, "");

  await server.waitFor(() => server.used("feat-notes") >= 3, AGENT_WAIT, "the request after the wait-for call");
  const third = server.turns("feat-notes")[2]!;
  const text = userText(third.body);
  assert.is(text.split("Your base branch moved").length - 1, 1, `the base_moved message reached the model once:\n${text.slice(-3000)}`);
  assert.match(text, new RegExp(`main moved from ${git(["rev-parse", "--short=12", `${moved}~1`], repo)} to ${moved.slice(0, 12)}`));
  assert.match(text, /would conflict with it in: notes\.txt/);
  assert.match(text, /main edits notes/);
  // Handed out: orch inbox has nothing left for it.
  assert.is(orch(["inbox", "--json"], { cwd: wt, env }).json.message_count, 0);
});

test.run();
