// Codex workers under configuration that is not orch's, with the real Codex 0.169 in its tmux window, offline against
// a scripted Responses API: a question Codex asks at its start (hooks to review, a newer model, a sign-in) makes the
// worker blocked instead of leaving it shown running.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cachedCodex, scratchOutsideTmp } from "./codex-harness.ts";
import type { Step } from "./codex-harness.ts";
import { pollUntil, requestFor, requestsOf, setup as setupFor, spawnCodex, workerRecord } from "./codex-workers.ts";
import type { Polled, Setup } from "./codex-workers.ts";
import { commitFiles, orch, tmux } from "./helpers.ts";

const codexEntry = cachedCodex();
const scratch = scratchOutsideTmp();
const setup = (scripts: Record<string, Step[]>): Promise<Setup> => setupFor(scripts, scratch.users, codexEntry!);

interface StatusRow {
  worker_id: string;
  status: string;
  waiting_for?: string | null;
}

function statusOf(s: Setup, worker: string): StatusRow {
  const r = orch(["status", "--json"], { cwd: s.repo, env: s.env });
  assert.is(r.code, 0, r.stderr);
  return (r.json.workers as StatusRow[]).find((w) => w.worker_id === worker)!;
}

/** Replaces a line of the user's config.toml (the harness writes `model = "scripted-model"` first). */
function editUserConfig(s: Setup, from: string, to: string): string {
  const config = path.join(s.env.CODEX_HOME!, "config.toml");
  const text = fs.readFileSync(config, "utf8");
  assert.ok(text.includes(from), `${config} holds ${from}`);
  fs.writeFileSync(config, text.replace(from, to));
  return config;
}

if (!codexEntry) {
  test("Codex", () => console.log("SKIP: Codex 0.169 is not in the agent cache (run .ci/install-agents)"));
} else {
  test("a repository's hooks Codex has not run: the worker is blocked at Codex's question, not shown running; " +
    "answered in its window it works on, and the next worker, the hooks trusted, is not asked", async () => {
    // Codex runs hooks outside the sandbox: the repository's Stop hook writes here.
    const ran = path.join(scratch.users, `repo-hook-ran-${process.pid}`);
    const s = await setup({
      one: [{ exec: "orch notify --type progress --summary one-at-work" }, { say: "one done" }],
      two: [{ say: "two done" }],
    });
    try {
      const hooks = { hooks: { Stop: [{ hooks: [{ type: "command", command: `echo stop >> ${ran}` }] }] } };
      commitFiles(s.repo, { ".codex/hooks.json": JSON.stringify(hooks) }, "the repository's Codex hooks");
      const one = spawnCodex(s, "one", "Work on one. SCRIPT:one");
      const seen: Polled[] = [];
      const blocked = await pollUntil(s, seen, (m) => m.message_type === "blocked", "the blocked of Codex's question");
      assert.is(blocked.worker_id, one);
      assert.is(blocked.content.waiting_for, 'Codex: "Hooks need review"');
      assert.match(blocked.content.summary ?? "", "Trust all and continue");
      assert.match(blocked.content.details ?? "", "Continue without trusting (hooks won't run)");
      assert.is(statusOf(s, one).status, "blocked");
      assert.is(statusOf(s, one).waiting_for, 'Codex: "Hooks need review"');
      assert.equal(requestsOf(s.server, "one"), [], "Codex asks before its first request");

      // A person answers in its window: Trust all and continue.
      tmux(["send-keys", "-t", workerRecord(s, one).window_id, "Down", "Enter"], s.env);
      await pollUntil(s, seen, (m) => m.worker_id === one && m.message_type === "idle", "one's idle");
      assert.ok(seen.some((m) => m.worker_id === one && m.content.summary === "one-at-work"), "it worked on");
      assert.is(fs.readFileSync(ran, "utf8"), "stop\n", "the repository's Stop hook ran once");
      // Codex records the trust under the main checkout's path, which every worktree of it shares.
      const config = fs.readFileSync(path.join(s.env.CODEX_HOME!, "config.toml"), "utf8");
      assert.ok(config.includes(`[hooks.state."${s.repo}/.codex/hooks.json:stop:0:0"]`), config);

      const two = spawnCodex(s, "two", "Work on two. SCRIPT:two");
      await pollUntil(s, seen, (m) => m.worker_id === two && m.message_type === "idle", "two's idle");
      assert.not.ok(seen.some((m) => m.worker_id === two && m.message_type === "blocked"), "two was not asked");
      assert.is(fs.readFileSync(ran, "utf8"), "stop\nstop\n");
      for (const worker of [one, two]) assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      await s.server.close();
    }
  });

  test("Codex's other questions at its start: a newer model than the configured one, and a sign-in for a user " +
    "with no credentials; each worker is blocked with the question and the way on", async () => {
    const s = await setup({ newer: [{ say: "newer done" }], signin: [{ say: "never asked" }] });
    try {
      // A model Codex 0.169's catalog has an upgrade for; nobody answered its question in this CODEX_HOME yet.
      editUserConfig(s, 'model = "scripted-model"', 'model = "gpt-5.5"');
      const newer = spawnCodex(s, "newer", "Work on newer. SCRIPT:newer");
      const seen: Polled[] = [];
      const blockedOf = (worker: string) => (m: Polled) => m.worker_id === worker && m.message_type === "blocked";
      const offer = await pollUntil(s, seen, blockedOf(newer), "its blocked");
      assert.is(offer.content.waiting_for, 'Codex: "Meet GPT-6 Sol"');
      assert.match(offer.content.summary ?? "", '"Use existing model" keeps yours');
      assert.match(offer.content.details ?? "", "2. Use existing model");
      assert.is(statusOf(s, newer).status, "blocked");
      tmux(["send-keys", "-t", workerRecord(s, newer).window_id, "Down", "Enter"], s.env);
      const idle = await pollUntil(s, seen, (m) => m.worker_id === newer && m.message_type === "idle", "its idle");
      assert.is(idle.content.details, "newer done");
      const first = await requestFor(s.server, "newer", 0, "its request");
      assert.is((first.body as { model?: string }).model, "gpt-5.5", "the configured model was kept");

      // A Codex home with no key and no login (its own, given to this spawn): OpenAI's provider asks to sign in.
      const home = path.join(path.dirname(s.env.CODEX_HOME!), ".codex-signed-out");
      fs.mkdirSync(home);
      fs.writeFileSync(path.join(home, "config.toml"), "check_for_update_on_startup = false\n");
      const env = { ...s.env, CODEX_HOME: home, OPENAI_API_KEY: undefined, CODEX_API_KEY: undefined };
      const args = ["spawn", "signin", "--agent", "codex", "--json", "--prompt", "SCRIPT:signin"];
      const r = orch(args, { cwd: s.repo, env });
      assert.is(r.code, 0, r.stderr);
      const signIn = await pollUntil(s, seen, blockedOf("signin"), "its blocked");
      assert.is(signIn.content.waiting_for, `Codex: "Welcome to Codex, OpenAI's command-line coding agent"`);
      assert.match(signIn.content.summary ?? "", "codex login");
      assert.is(statusOf(s, "signin").status, "blocked");
      for (const worker of [newer, "signin"]) assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      await s.server.close();
    }
  });

}

test.run();
