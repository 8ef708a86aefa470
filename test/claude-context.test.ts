// A Claude Code worker that fills its model's context, with the real Claude Code against the scripted Anthropic
// server: a prompt too long even after Claude Code's own compaction makes the worker failed, told once with the
// agent's words; auto-compaction (mid-turn, or before the turn a send begins) is invisible to the orchestrator;
// /compact and /clear typed in the window leave status right and orch's next message reaching the agent, and
// resume after a /clear continues the conversation the worker was in.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { contentText, step, userText, type RecordedRequest } from "./agents/anthropic-server.ts";
import { claudeWorkers } from "./claude-workers.ts";
import { tmux } from "./helpers.ts";

/** Past the window of the model Claude Code 2.1.330 asks for (claude-opus-5-5, 1M tokens): it compacts next. */
const NEAR_THE_WINDOW = 990_000;

const { server, session: claudeSession } = await claudeWorkers();

/**
 * A session with a scratch Claude Code user (one retry: the prompt-too-long error is not retried anyway, and
 * nothing else fails here), and what these tests do at a worker's window.
 */
function setup() {
  const s = claudeSession({ env: { CLAUDE_CODE_MAX_RETRIES: "1" } });
  const { run, worker, env, repo, id: orchestrator, waitFor } = s;
  /** orch send; `atPrompt`: the agent's turn is known to have ended, so orch types its wake-up line. */
  const send = (id: string, text: string, atPrompt = true) => {
    const r = run(["send", id, text, "--json"]);
    assert.is(r.code, 0, r.stderr);
    if (atPrompt) assert.is(r.json.woken, true, "orch typed its wake-up line");
  };
  const pane = (id: string) => tmux(["capture-pane", "-p", "-t", worker(id).window_id], env);
  /** Types a slash command into the worker's window, as a person at it does. */
  const type = async (id: string, command: string) => {
    tmux(["send-keys", "-t", worker(id).window_id, "-l", command], env);
    await waitFor(() => pane(id).includes(`❯ ${command}`), `${command} typed in ${id}'s window`);
    tmux(["send-keys", "-t", worker(id).window_id, "Enter"], env);
  };
  /** The session orch records for the worker: the one resume continues. */
  const session = (id: string): string => JSON.parse(fs.readFileSync(
    path.join(repo, ".orch/sessions", orchestrator, "workers", id, "worker.json"), "utf8")).agent_session_id;
  return { ...s, send, type, session };
}

/** The worker's turns that carry `text` (a message of the orchestrator, a prompt) to the model. */
const turnsWith = (text: string): RecordedRequest[] =>
  server.requests.filter((r) => r.kind === "turn" && userText(r.body).includes(text));

/** Everything the model was shown in a request, what it wrote itself included. */
const allText = (r: RecordedRequest | undefined) =>
  (r?.body?.messages ?? []).map((m) => contentText(m.content)).join("\n");

test("a prompt too long even after Claude Code compacts: failed, told once with the agent's words", async () => {
  const s = setup();
  const tooLong = step.fail(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum");
  server.script("feat-long", [step.say("Ready."), tooLong, tooLong]);
  const start = server.requests.length;
  s.spawn("feat/long", "Work until the context is full.");
  await s.waitFor(() => s.poll() && s.of("feat-long", "idle").length === 1, "the first turn's idle");
  s.send("feat-long", "Read the whole repository.");
  await s.waitFor(() => s.poll() && s.of("feat-long", "task_failed").length === 1, "the task_failed");
  // Its reactive compaction sends only part of the conversation (not the prompt naming the worker): any counts.
  const compacted = server.requests.slice(start).some((r) => r.kind === "compact");
  assert.ok(compacted, `Claude Code compacted before it gave up:\n${server.describe()}`);
  const [failed] = s.of("feat-long", "task_failed");
  assert.match(failed!.content.error!, "Prompt is too long", "the agent's own words");
  assert.match(failed!.content.details!, "prompt is too long: 210000 tokens > 200000 maximum", "and the API's");
  assert.match(failed!.content.summary!, "no longer fits the model's context window", "a send would not help");
  assert.is(s.status("feat-long"), "failed");
  s.poll();
  assert.is(s.of("feat-long", "task_failed").length, 1, "told once");
  assert.is(s.of("feat-long", "idle").length, 1, "no idle for the failed turn");
});

test("auto-compaction is invisible: running throughout, a send before it heard after it, done once", async () => {
  const s = setup();
  // Mid-turn: the answer to a tool call reports a context near the window, so Claude Code compacts before going on.
  server.script("feat-mid", [
    { ...step.bash("orch notify --type progress --summary halfway"), inputTokens: NEAR_THE_WINDOW },
    step.bash("orch notify --type task_complete --summary 'widget done'"), step.say("All done."), step.say("Noted."),
  ]);
  // Between turns: the turn ends near the window, and the next one (an orch send) begins with a compaction.
  server.script("feat-next", [{ ...step.say("Ready."), inputTokens: NEAR_THE_WINDOW }, step.say("On it.")]);
  const release = server.holdCompactions();
  s.spawn("feat/mid", "Build the widget.");
  s.spawn("feat/next", "Wait for directions.");
  await s.waitFor(() => server.compactions("feat-mid").length === 1, "the mid-turn compaction");
  await s.waitFor(() => s.poll() && s.of("feat-next", "idle").length === 1, "feat-next's first idle");
  s.send("feat-next", "Rename the button to Save.");
  await s.waitFor(() => server.compactions("feat-next").length === 1, "the compaction before the next turn");
  // Both agents wait for their summaries now.
  assert.is(s.status("feat-mid"), "running", "compacting mid-turn is running");
  assert.is(s.status("feat-next"), "running", "compacting before the sent turn is running");
  s.poll();
  assert.equal(s.of("feat-mid", "idle"), [], "no idle for the summarising request");
  assert.is(s.of("feat-next", "idle").length, 1);
  release();

  await s.waitFor(() => s.status("feat-mid") === "done" && s.status("feat-next") === "idle", "done and idle");
  const [heard] = turnsWith("Rename the button to Save.");
  assert.ok(heard, "the message sent before the compaction reached the model after it");
  assert.match(allText(heard), "Primary Request: the task", "in the compacted conversation, after its summary");
  // Done comes before the turn ends: the message reaches the agent by its wake-up line or at the end of the turn.
  s.send("feat-mid", "Also add a tooltip.", false);
  await s.waitFor(() => turnsWith("Also add a tooltip.").length === 1, "the turn the send after the compaction began");
  await s.waitFor(() => s.poll() && server.used("feat-mid") === 4, "that turn's answer");
  await s.waitFor(() => s.status("feat-mid") === "done", "the turn to end");
  s.poll();
  assert.is(s.of("feat-mid", "task_complete").length, 1, "done arrives once");
  assert.is(s.of("feat-mid", "progress").length, 1);
  assert.equal([...s.of("feat-mid", "task_failed"), ...s.of("feat-next", "task_failed")], [], "no failure");
  assert.is(s.of("feat-next", "idle").length, 2, "one idle per turn");
});

test("/compact and /clear typed in the window: the next message reaches it; resume follows /clear", async () => {
  const s = setup();
  server.script("feat-compact", [step.say("Ready."), step.say("Saving it.")]);
  server.script("feat-clear", [step.say("Noted: the secret word is PELICAN.")]);
  s.spawn("feat/compact", "Wait for directions.");
  s.spawn("feat/clear", "Remember a secret word.");
  const firstIdles = () => s.of("feat-compact", "idle").length === 1 && s.of("feat-clear", "idle").length === 1;
  await s.waitFor(() => s.poll() && firstIdles(), "both first idles");

  const release = server.holdCompactions();
  await s.type("feat-compact", "/compact");
  await s.waitFor(() => server.compactions("feat-compact").length === 1, "the /compact's summarising request");
  // A send while the agent compacts: Claude Code queues the wake-up line and submits it after.
  s.send("feat-compact", "Rename the button to Save.");
  assert.is(s.status("feat-compact"), "idle", "a /compact at the prompt starts no turn");
  release();
  await s.waitFor(() => s.poll() && s.of("feat-compact", "idle").length === 2, "the sent turn's idle");
  assert.ok(turnsWith("Rename the button to Save.").length > 0, "the message reached the model");
  assert.is(s.of("feat-compact", "idle")[1]!.content.details, "Saving it.");

  await s.type("feat-clear", "/clear");
  s.send("feat-clear", "New task: write the changelog.");
  await s.waitFor(() => s.poll() && s.of("feat-clear", "idle").length === 2, "the idle after /clear");
  const [cleared] = turnsWith("New task: write the changelog.");
  assert.ok(cleared, "the message reached the model after /clear");
  assert.not.match(allText(cleared), "PELICAN", "in the new conversation");
  assert.is(s.status("feat-clear"), "idle");

  assert.is(s.run(["stop", "feat-clear"]).code, 0);
  await s.waitFor(() => s.worker("feat-clear").agent_alive === false, "the agent to end");
  const resumed = s.run(["resume", "feat-clear", "--prompt", "Where were we?", "--json"]);
  assert.is(resumed.code, 0, resumed.stderr);
  await s.waitFor(() => turnsWith("Where were we?").length === 1, "the resumed turn");
  const [after] = turnsWith("Where were we?");
  assert.match(allText(after), "New task: write the changelog.", "resume continues the conversation after /clear");
  assert.not.match(allText(after), "PELICAN", "not the one the user cleared");
  await s.waitFor(() => s.status("feat-clear") === "idle", "the resumed turn to end");
  s.poll();
  assert.equal([...s.of("feat-compact", "task_failed"), ...s.of("feat-clear", "task_failed")], [], "no failure");
});

/**
 * Claude Code's saved record of session `id` cut to what it holds before the session's first message is saved
 * (its "mode" line; seen right as the SessionStart hook runs after a /clear): what a stop at that moment leaves.
 */
function cutToUnsaved(home: string, id: string) {
  const file = transcript(home, id);
  assert.ok(file, `Claude Code saved session ${id}`);
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((line) => line.includes('"type":"mode"'));
  fs.writeFileSync(file, lines.map((line) => `${line}\n`).join(""));
}

/** Claude Code's saved record of session `id` (projects/<folder of the working directory>/<id>.jsonl). */
function transcript(home: string, id: string): string | undefined {
  const projects = path.join(home, ".claude", "projects");
  return fs.readdirSync(projects).map((folder) => path.join(projects, folder, `${id}.jsonl`)).find(fs.existsSync);
}

/** Whether Claude Code saved a message of session `id` (the /clear it began with is one). */
const savedMessage = (home: string, id: string) => {
  const file = transcript(home, id);
  return file !== undefined && fs.readFileSync(file, "utf8").includes('"type":"user"');
};

for (const saved of [true, false]) {
  const when = saved ? "after Claude Code saved it" : "before Claude Code saved a message of it";
  test(`/clear with no turn after it, stopped ${when}: resume continues the new session`, async () => {
    const s = setup();
    server.script("feat-fresh", [step.say("Noted: the secret word is OSPREY.")]);
    s.spawn("feat/fresh", "Remember a secret word.");
    await s.waitFor(() => s.poll() && s.of("feat-fresh", "idle").length === 1, "the first idle");
    const spawned = s.session("feat-fresh");
    await s.type("feat-fresh", "/clear");
    // Claude Code's SessionStart (source "clear") is the only hook that runs in the new session before a turn.
    await s.waitFor(() => s.session("feat-fresh") !== spawned, "the session /clear began to be recorded");
    assert.is(s.status("feat-fresh"), "idle", "a /clear starts no turn");
    const cleared = s.session("feat-fresh");
    if (saved) await s.waitFor(() => savedMessage(s.env.HOME!, cleared), "Claude Code to save the /clear");

    assert.is(s.run(["stop", "feat-fresh"]).code, 0);
    await s.waitFor(() => s.worker("feat-fresh").agent_alive === false, "the agent to end");
    // Unsaved, Claude Code answers --resume with "No conversation found" and --session-id with "already in use".
    if (!saved) cutToUnsaved(s.env.HOME!, cleared);
    const resumed = s.run(["resume", "feat-fresh", "--prompt", "What is the secret word?", "--json"]);
    assert.is(resumed.code, 0, resumed.stderr);
    assert.is(resumed.json.conversation_continued, true, "the cleared conversation goes on (empty)");
    await s.waitFor(() => turnsWith("What is the secret word?").length === 1, "the resumed turn");
    const [after] = turnsWith("What is the secret word?");
    assert.not.match(allText(after), "OSPREY", "resume continues the conversation /clear began, not the cleared one");
    assert.not.match(allText(after), "Remember a secret word.", "nor its prompt");
    await s.waitFor(() => s.status("feat-fresh") === "idle", "the resumed turn to end");
    if (saved) assert.is(s.session("feat-fresh"), cleared, "the session /clear began");
    else assert.not.ok([spawned, cleared].includes(s.session("feat-fresh")), "a new session, recorded");
    s.poll();
    assert.equal(s.of("feat-fresh", "task_failed"), [], "no failure");
  });
}

test("stopped before Claude Code saved its task: resume starts the task over, then continues it", async () => {
  const s = setup();
  server.script("feat-early", [step.say("Noted: the secret word is HERON."), step.say("Halfway."), step.say("HERON.")]);
  s.spawn("feat/early", "Remember a secret word.");
  await s.waitFor(() => s.poll() && s.of("feat-early", "idle").length === 1, "the first idle");
  const spawned = s.session("feat-early");
  assert.is(s.run(["stop", "feat-early"]).code, 0);
  await s.waitFor(() => s.worker("feat-early").agent_alive === false, "the agent to end");
  cutToUnsaved(s.env.HOME!, spawned);

  const over = s.run(["resume", "feat-early", "--prompt", "Then halve it.", "--json"]);
  assert.is(over.code, 0, over.stderr);
  assert.is(over.json.conversation_continued, false, "nothing was saved to continue");
  await s.waitFor(() => turnsWith("Then halve it.").length === 1, "the started-over turn");
  const [first] = turnsWith("Then halve it.");
  assert.match(userText(first!.body), "Remember a secret word.", "the task, with the new message after it");
  await s.waitFor(() => s.poll() && s.of("feat-early", "idle").length === 2, "its idle");
  const started = s.session("feat-early");
  assert.is.not(started, spawned, "in a new session, recorded");

  // That session was saved: the next resume continues it.
  assert.is(s.run(["stop", "feat-early"]).code, 0);
  await s.waitFor(() => s.worker("feat-early").agent_alive === false, "the agent to end again");
  const again = s.run(["resume", "feat-early", "--prompt", "What was the word?", "--json"]);
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json.conversation_continued, true);
  await s.waitFor(() => turnsWith("What was the word?").length === 1, "the continued turn");
  assert.match(allText(turnsWith("What was the word?")[0]), "Then halve it.", "the conversation resume began");
  await s.waitFor(() => s.poll() && s.of("feat-early", "idle").length === 3, "its idle");
  assert.is(s.session("feat-early"), started);
  assert.equal(s.of("feat-early", "task_failed"), [], "no failure");
});

test.run();
