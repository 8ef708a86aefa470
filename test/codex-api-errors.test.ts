// A Codex worker whose model API fails, with the real Codex 0.169 against the scripted Responses API (its
// retries off, as the harness configures it): a turn the error ends makes the worker failed, told once with
// Codex's error text; orch send starts its next turn and the worker is running, then idle.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { codexFailedTurns } from "../src/agents/codex.ts";
import { cachedCodex, scratchOutsideTmp } from "./codex-harness.ts";
import { paneText, pollUntil, requestsOf, setup, spawnCodex, workerRecord } from "./codex-workers.ts";
import type { Polled } from "./codex-workers.ts";
import { orch, tempDir } from "./helpers.ts";

const codexEntry = cachedCodex();
const scratch = scratchOutsideTmp();

test("a rollout read while Codex writes a line, cut inside a character: the error text comes whole", () => {
  const home = tempDir("orch-codex-home-");
  const now = new Date();
  const two = (n: number) => String(n).padStart(2, "0");
  const day = path.join(home, "sessions", String(now.getFullYear()), two(now.getMonth() + 1), two(now.getDate()));
  fs.mkdirSync(day, { recursive: true });
  const id = "0199a8f2-1111-7222-8333-944455556666";
  const file = path.join(day, `rollout-2026-01-01T00-00-00-${id}.jsonl`);
  const error = { message: "上游服务不可用 😞", codex_error_info: "internal_server_error" };
  const event = { timestamp: now.toISOString(), type: "event_msg", payload: { type: "task_complete", error } };
  const line = Buffer.from(`${JSON.stringify(event)}\n`);
  const inside = line.indexOf(Buffer.from("😞")) + 2;
  fs.writeFileSync(file, line.subarray(0, inside));
  const read = codexFailedTurns({ worktreePath: home, env: { CODEX_HOME: home }, startedAtMs: now.getTime() - 500 }, id);
  assert.equal(read(), [], "half a line is no turn yet");
  fs.appendFileSync(file, line.subarray(inside));
  assert.equal(read(), [{ kind: "internal_server_error", text: error.message }]);
});

if (!codexEntry) {
  test("Codex", () => console.log("SKIP: Codex 0.169 is not in the agent cache (run .ci/install-agents)"));
} else {
  test("a turn a model API error ends (429, 401): failed, told once; send starts the next", async () => {
    const s = await setup({
      limit: [{ fail: 429, code: "rate_limit_exceeded", message: "Rate limit reached for requests", times: 1 }],
      key: [{ fail: 401, code: "invalid_api_key", message: "Incorrect API key provided" }],
    }, scratch.users, codexEntry);
    try {
      const limited = spawnCodex(s, "feat/limit", "Work through the rate limit. SCRIPT:limit");
      // Text outside ASCII in the prompt, with no LANG (the C locale): CJK, emoji joined by ZWJs, an accent that
      // combines, right-to-left script, and invisible format characters.
      const wide = "日本語 👩\u200d👩\u200d👧 e\u0301 עברית العربية [\u200b\u200c\u202e\u2066\u00ad\ufeff\u2060\u{E0041}]";
      const keyless = spawnCodex(s, "feat/key", `Work with a bad key: ${wide}. SCRIPT:key`);
      const seen: Polled[] = [];
      const failed = (worker: string) => seen.filter((m) => m.worker_id === worker && m.message_type === "task_failed");
      await pollUntil(s, seen, () => failed(limited).length > 0 && failed(keyless).length > 0, "both failures");
      const error = (m: Polled | undefined) => (m?.content as { error?: string } | undefined)?.error ?? "";
      assert.match(error(failed(limited)[0]), "429", "Codex's error text");
      assert.match(error(failed(keyless)[0]), "401");
      const asked = s.server.userTexts(requestsOf(s.server, "key")[0]!).join("\n");
      const at = asked.indexOf("Work with a bad key");
      const shown = [...asked.slice(at, at + 90)].map((c) => c.codePointAt(0)!.toString(16)).join(" ");
      assert.ok(asked.includes(`Work with a bad key: ${wide}. SCRIPT:key\n`), `the prompt reaches the model whole: ${shown}`);
      const status = (worker: string) => {
        const r = orch(["status", "--json"], { cwd: s.repo, env: s.env });
        return (r.json.workers as { worker_id: string; status: string }[]).find((w) => w.worker_id === worker)!.status;
      };
      assert.is(status(limited), "failed");
      assert.is(status(keyless), "failed");

      const sent = orch(["send", limited, "The limit has passed: go on.", "--json"], { cwd: s.repo, env: s.env });
      assert.is(sent.code, 0, sent.stderr);
      assert.is(sent.json.woken, true, "orch typed its wake-up line");
      const recovered = (m: Polled) => m.worker_id === limited && m.message_type === "idle";
      await pollUntil(s, seen, recovered, "the recovered turn's idle");
      assert.is(requestsOf(s.server, "limit").length, 2, "the failed request, then the next turn's");
      assert.is(status(limited), "idle");
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await pollUntil(s, seen, () => true, "one more poll");
      assert.is(failed(limited).length, 1, "told once");
      assert.is(failed(keyless).length, 1, "told once");
    } catch (error) {
      const panes = [workerRecord(s, "feat-limit"), workerRecord(s, "feat-key")].map((r) => paneText(s, r.window_id));
      throw new Error(`${(error as Error).message}\n${panes.join("\n---\n")}`);
    } finally {
      await s.server.close();
    }
  });
}

test.run();
