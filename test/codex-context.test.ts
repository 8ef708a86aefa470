// A Codex worker that fills its model's context, with the real Codex 0.169 against the scripted Responses API: the
// context_length_exceeded error (an HTTP 400, or the stream's response.failed) and a compaction that fails so make
// the worker failed, told once with Codex's words; its auto-compaction (mid-turn, or before the turn a send
// begins) is invisible to the orchestrator.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { cachedCodex, COMPACTION_SUMMARY, CONTEXT_TOO_LONG, scratchOutsideTmp } from "./codex-harness.ts";
import type { RecordedRequest, ResponsesServer } from "./codex-harness.ts";
import { gate, paneText, pollUntil, setup, spawnCodex, workerRecord } from "./codex-workers.ts";
import type { Polled, Setup } from "./codex-workers.ts";
import { orch, tmux, waitUntil } from "./helpers.ts";

const codexEntry = cachedCodex();
const scratch = scratchOutsideTmp();

/** A model window Codex compacts within (it knows none for the scripted model): auto-compaction past 100k tokens. */
const WINDOW = ["model_context_window = 200000", "model_auto_compact_token_limit = 100000"];
/** What an answer reports to be past that limit. */
const PAST_THE_LIMIT = 150_000;

const LONG = 90_000;

const tooLong = { fail: 400, code: "context_length_exceeded", message: CONTEXT_TOO_LONG };

function status(s: Setup, worker: string): string {
  const r = orch(["status", "--json"], { cwd: s.repo, env: s.env });
  assert.is(r.code, 0, r.stderr);
  return (r.json.workers as { worker_id: string; status: string }[]).find((w) => w.worker_id === worker)!.status;
}

function alive(s: Setup, worker: string): boolean {
  const r = orch(["status", "--json"], { cwd: s.repo, env: s.env });
  assert.is(r.code, 0, r.stderr);
  return (r.json.workers as { worker_id: string; agent_alive?: boolean }[]).find((w) => w.worker_id === worker)!
    .agent_alive !== false;
}

function send(s: Setup, worker: string, text: string): void {
  const r = orch(["send", worker, text, "--json"], { cwd: s.repo, env: s.env });
  assert.is(r.code, 0, r.stderr);
}

const compactions = (server: ResponsesServer, script: string) =>
  server.requests.filter((r) => r.compaction && r.script === script);

/** The conversation's requests (not compactions) that carry `text`: a message of the orchestrator. */
const requestsWith = (server: ResponsesServer, text: string): RecordedRequest[] =>
  server.requests.filter((r) => !r.compaction && r.threadSource === "user" && JSON.stringify(r.body).includes(text));

/** Runs `body`; a failure says what the workers' windows show. */
async function explained(s: Setup, workers: string[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const panes = workers.map((w) => `--- ${w}\n${paneText(s, workerRecord(s, w).window_id)}`);
    throw new Error(`${(error as Error).message}\n${panes.join("\n")}`);
  } finally {
    await s.server.close();
  }
}

if (!codexEntry) {
  test("Codex", () => console.log("SKIP: Codex 0.169 is not in the agent cache (run .ci/install-agents)"));
} else {
  test("context_length_exceeded (HTTP 400, response.failed) and a failed compaction: failed, told once", async () => {
    const s = await setup({
      http: [tooLong],
      stream: [{ streamFail: "context_length_exceeded", message: CONTEXT_TOO_LONG }],
      compact: [{ exec: "orch notify --type progress --summary halfway", tokens: PAST_THE_LIMIT }, tooLong],
    }, scratch.users, codexEntry, WINDOW, { compaction: tooLong });
    const workers = [
      spawnCodex(s, "feat/http", "Read everything. SCRIPT:http"),
      spawnCodex(s, "feat/stream", "Read everything. SCRIPT:stream"),
      spawnCodex(s, "feat/compact", "Read everything. SCRIPT:compact"),
    ];
    await explained(s, workers, async () => {
      const seen: Polled[] = [];
      const failed = (worker: string) => seen.filter((m) => m.worker_id === worker && m.message_type === "task_failed");
      await pollUntil(s, seen, () => workers.every((w) => failed(w).length > 0), "a task_failed from each");
      assert.ok(compactions(s.server, "compact").length > 0, "Codex tried to compact first");
      for (const worker of workers) {
        const [message] = failed(worker);
        const error = (message?.content as { error?: string }).error ?? "";
        assert.match(error, "ran out of room in the model's context window", `${worker}: Codex's words`);
        assert.match(message!.content.summary!, "context_window_exceeded");
        assert.match(message!.content.summary!, "no longer fits the model's context window", "a send would not help");
        assert.is(status(s, worker), "failed", worker);
      }
      await pollUntil(s, seen, () => true, "one more poll");
      for (const worker of workers) assert.is(failed(worker).length, 1, `${worker} is told once`);
      assert.equal(seen.filter((m) => m.message_type === "idle"), [], "no idle for a failed turn");
    });
  });

  test("auto-compaction is invisible: running throughout, a send before it heard after it, done once", async () => {
    const held = gate();
    const s = await setup({
      // Mid-turn: the answer to a tool call reports a context past the limit; Codex compacts before going on.
      mid: [
        { exec: "orch notify --type progress --summary halfway", tokens: PAST_THE_LIMIT },
        { exec: "orch notify --type task_complete --summary 'widget done'" },
        { say: "All done." },
      ],
      // Between turns: the turn ends past the limit, and the next one (an orch send) begins with a compaction.
      next: [{ say: "Ready.", tokens: PAST_THE_LIMIT }],
    }, scratch.users, codexEntry, WINDOW, { held: held.opened });
    const mid = spawnCodex(s, "feat/mid", "Build the widget. SCRIPT:mid");
    const next = spawnCodex(s, "feat/next", "Wait for directions. SCRIPT:next");
    await explained(s, [mid, next], async () => {
      const seen: Polled[] = [];
      const of = (worker: string, type: string) =>
        seen.filter((m) => m.worker_id === worker && m.message_type === type);
      await waitUntil(() => compactions(s.server, "mid").length === 1, LONG, "the mid-turn compaction");
      await pollUntil(s, seen, (m) => m.worker_id === next && m.message_type === "idle", "feat-next's first idle");
      send(s, next, "Rename the button to Save.");
      await waitUntil(() => compactions(s.server, "next").length === 1, LONG, "the compaction before the next turn");
      // Both agents wait for their summaries now.
      assert.is(status(s, mid), "running", "compacting mid-turn is running");
      assert.is(status(s, next), "running", "compacting before the sent turn is running");
      await pollUntil(s, seen, () => true, "a poll");
      assert.equal(of(mid, "idle"), [], "no idle for the summarising request");
      assert.is(of(next, "idle").length, 1);
      held.open();

      await pollUntil(s, seen, () => of(mid, "task_complete").length === 1 && of(next, "idle").length === 2,
        "done and the sent turn's idle");
      const [heard] = requestsWith(s.server, "Rename the button to Save.");
      assert.ok(heard, "the message sent before the compaction reached the model after it");
      assert.ok(JSON.stringify(heard!.body).includes(COMPACTION_SUMMARY), "in the compacted conversation");
      await waitUntil(() => status(s, mid) === "done", LONG, "feat-mid done");
      send(s, mid, "Also add a tooltip.");
      const tooltip = () => requestsWith(s.server, "Also add a tooltip.").length > 0;
      await waitUntil(tooltip, LONG, "the send after compaction");
      await pollUntil(s, seen, () => true, "a poll");
      await waitUntil(() => status(s, mid) === "done", LONG, "the turn to end");
      await pollUntil(s, seen, () => true, "one more poll");
      assert.is(of(mid, "task_complete").length, 1, "done arrives once");
      assert.is(of(mid, "progress").length, 1);
      assert.equal(seen.filter((m) => m.message_type === "task_failed"), [], "no failure");
    });
  });

  test("/new in the window: the new thread's failed turn is told, and resume continues that thread", async () => {
    const s = await setup({
      old: [{ say: "Noted: the secret word is OSPREY." }],
      fresh: [{ fail: 500, code: "server_error", message: "The server had an error", times: 1 }],
    }, scratch.users, codexEntry);
    const worker = spawnCodex(s, "feat/new", "Remember a secret word. SCRIPT:old");
    await explained(s, [worker], async () => {
      const seen: Polled[] = [];
      const of = (type: string) => seen.filter((m) => m.worker_id === worker && m.message_type === type);
      await pollUntil(s, seen, () => of("idle").length === 1, "the first idle");
      // The runner finds the thread in Codex's own record, which may come after the first turn's idle.
      await waitUntil(() => workerRecord(s, worker).agent_session_id !== undefined, LONG, "the session found at spawn");
      const spawned = workerRecord(s, worker).agent_session_id;
      const window = workerRecord(s, worker).window_id;
      /** Types a line into the worker's window, as a person at it does. */
      const type = async (line: string, shown: string) => {
        tmux(["send-keys", "-t", window, "-l", line], s.env);
        await waitUntil(() => paneText(s, window).includes(line), LONG, `${line} typed`);
        tmux(["send-keys", "-t", window, "Enter"], s.env);
        await waitUntil(() => paneText(s, window).includes(shown), LONG, shown);
      };
      // Codex asks where the new conversation runs: in the current worktree (its first choice). Typed just as the
      // turn's Stop hook ran, Codex may still say "'/new' is disabled while a task is in progress": then again.
      const asked = "Where should the new conversation run?";
      const refusals = () => paneText(s, window).split("'/new' is disabled").length;
      for (let tries = 0; !paneText(s, window).includes(asked); tries++) {
        if (tries === 5) throw new Error(`Codex never asked where /new runs:\n${paneText(s, window)}`);
        const before = refusals();
        const typed = paneText(s, window).split("/new").length;
        tmux(["send-keys", "-t", window, "-l", "/new"], s.env);
        // Its command list opens as "/new" is typed: an Enter before that is taken by nothing.
        await waitUntil(() => paneText(s, window).split("/new").length > typed, LONG, "/new typed");
        await new Promise((resolve) => setTimeout(resolve, 200));
        tmux(["send-keys", "-t", window, "Enter"], s.env);
        await waitUntil(() => paneText(s, window).includes(asked) || refusals() > before, LONG, "/new answered");
      }
      tmux(["send-keys", "-t", window, "Enter"], s.env);
      await type("Start over. SCRIPT:fresh", "Start over. SCRIPT:fresh");
      // Codex runs no hook for a model API error: orch reads it from the record of the thread the worker is in,
      // which its hooks named (Codex runs SessionStart and UserPromptSubmit as the new thread's first turn begins).
      await pollUntil(s, seen, () => of("task_failed").length === 1, "the new thread's failed turn told");
      assert.is.not(workerRecord(s, worker).agent_session_id, spawned, "the new thread recorded");
      assert.match(of("task_failed")[0]!.content.summary!, "server_error");
      assert.is(status(s, worker), "failed");

      assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
      await waitUntil(() => !alive(s, worker), LONG, "the agent to end");
      const resumed = orch(["resume", worker, "--prompt", "Where were we?", "--json"], { cwd: s.repo, env: s.env });
      assert.is(resumed.code, 0, resumed.stderr);
      await waitUntil(() => requestsWith(s.server, "Where were we?").length > 0, LONG, "the resumed turn");
      const body = JSON.stringify(requestsWith(s.server, "Where were we?")[0]!.body);
      assert.ok(body.includes("Start over. SCRIPT:fresh"), "resume continues the thread /new began");
      assert.not.ok(body.includes("OSPREY"), "not the one the person left");
    });
  });
}

test.run();
