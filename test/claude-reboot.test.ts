// A real Claude Code worker (the pinned version, against the scripted Anthropic server) through a power cut: its
// tmux server, its runner, Claude Code and all it started killed at once, Claude Code's pid given to an unrelated
// process, the tmux socket folder gone. status and poll tell its end once; resume continues its conversation.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { contentText, step, type RecordedRequest } from "./agents/anthropic-server.ts";
import { claudeWorkers } from "./claude-workers.ts";
import { processWithPid, tmux, workerProcesses } from "./helpers.ts";

const { server, session } = await claudeWorkers();

/** Whether a session file of Claude Code's under `home` (projects/<folder>/<id>.jsonl) holds `text`. */
function savedAnswer(home: string, text: string): boolean {
  const projects = path.join(home, ".claude", "projects");
  if (!fs.existsSync(projects)) return false;
  return fs.readdirSync(projects, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".jsonl"))
    .some((name) => fs.readFileSync(path.join(projects, name), "utf8").includes(text));
}

test("after a power cut, resume continues the Claude Code worker's conversation in a new tmux server", async () => {
  const s = session();
  server.script("feat-cut", [step.say("Noted: the secret word is HERON."), step.say("The secret word was HERON.")]);
  s.spawn("feat/cut", "Remember a secret word.");
  await s.waitFor(() => s.worker("feat-cut").status === "idle", "the first turn");
  // What a resume can continue is what Claude Code saved of the conversation: its Stop hook (idle) may come before
  // it has written the turn's answer to its session file, and a power cut then loses that answer, for a person too.
  await s.waitFor(() => savedAnswer(String(s.env.HOME), "HERON"), "Claude Code to save the first turn");
  const pidFile = path.join(s.repo, ".orch", "sessions", s.id, "workers", "feat-cut", "agent.pid");
  const claudePid = Number(fs.readFileSync(pidFile, "utf8").split(" ")[0]);

  const victims = [Number(tmux(["display-message", "-p", "#{pid}"], s.env)), ...workerProcesses(s.id, "feat-cut")];
  for (const pid of victims) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // ended meanwhile, with its server
    }
  }
  const owner = await processWithPid(claudePid);
  fs.rmSync(s.env.TMUX_TMPDIR!, { recursive: true, force: true });
  fs.mkdirSync(s.env.TMUX_TMPDIR!, { mode: 0o700 });

  const after = s.worker("feat-cut");
  assert.is(after.status, "failed");
  assert.is(after.agent_alive, false, "the pid's new owner is not taken for Claude Code");
  assert.equal(s.poll().filter((m) => m.message_type === "task_failed").map((m) => m.worker_id), ["feat-cut"]);
  assert.equal(s.poll().filter((m) => m.message_type === "task_failed").length, 1, "told once");

  const resumed = s.run(["resume", "feat-cut", "--prompt", "What was the secret word?", "--json"]);
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.conversation_continued, true);
  await s.waitFor(() => server.used("feat-cut") === 2, "the resumed turn");
  const [first, second] = server.turns("feat-cut");
  const said = (second!.body?.messages ?? []).filter((m) => m.role === "assistant").map((m) => contentText(m.content));
  assert.ok(said.includes("Noted: the secret word is HERON."), "the turn before the cut is in the conversation");
  const sessionOf = (r: RecordedRequest | undefined) =>
    (JSON.parse(String((r?.body?.metadata as { user_id?: string }).user_id)) as { session_id?: string }).session_id;
  assert.is(sessionOf(second), sessionOf(first), "the same Claude Code session");
  await s.waitFor(() => s.worker("feat-cut").status === "idle", "the resumed turn to end");
  if (owner !== undefined) assert.ok(fs.existsSync(`/proc/${owner}`), "the pid's new owner was left alone");
  tmux(["kill-server"], s.env);
});

test.run();
