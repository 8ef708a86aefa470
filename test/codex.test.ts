// Codex workers, with the real Codex 0.169 in its tmux window through `orch spawn --agent codex`, offline
// against a scripted Responses API: unattended, reporting from inside its default sandbox, attributed
// to the right worker, and stopped for good by orch stop.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cachedCodex, scratchOutsideTmp, startSharedCodexServer } from "./codex-harness.ts";
import type { Step } from "./codex-harness.ts";
import { gate, LONG, paneText, pollUntil, requestFor, requestsOf, setup as setupFor, spawnCodex, workerRecord } from "./codex-workers.ts";
import type { Polled, Setup } from "./codex-workers.ts";
import { git, orch, orchCommand, tmux, waitUntil } from "./helpers.ts";

const codexEntry = cachedCodex();
const scratch = scratchOutsideTmp();
const setup = (scripts: Record<string, Step[]>): Promise<Setup> => setupFor(scripts, scratch.users, codexEntry!);

function processesMatching(text: string): string[] {
  const ps = spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).stdout;
  return ps.split("\n").filter((line) => line.includes(text) && !line.includes("ps -eo"));
}

function ancestors(pid: number): number[] {
  const chain: number[] = [];
  for (let p = pid; p > 1 && chain.length < 50; ) {
    const parent = Number(spawnSync("ps", ["-o", "ppid=", "-p", String(p)], { encoding: "utf8" }).stdout.trim());
    if (!parent) break;
    chain.push(parent);
    p = parent;
  }
  return chain;
}

if (!codexEntry) {
  test("Codex", () => console.log("SKIP: Codex 0.169 is not in the agent cache (run .ci/install-agents)"));
} else {
  test("a Codex worker starts unattended, reads a send, commits and reports from its sandbox", async () => {
    const sent = gate();
    const probe = `orch-codex-probe-${process.pid}`;
    const s = await setup({
      one: [
        { exec: `touch /tmp/${probe} 2>/dev/null && echo TMP-WRITABLE || echo TMP-READONLY; orch inbox`, after: sent.opened },
        {
          exec: 'echo work > work.txt && git add work.txt && git commit -qm "codex work" && ' +
            "orch notify --type task_complete --summary committed",
        },
        { say: "all done" },
      ],
    });
    try {
      const prompt = "-fix it, whole: $(not run) `nor this` SCRIPT:one";
      const worker = spawnCodex(s, "feat/one", prompt);
      // The first request reaches the model only past every dialog (trust, onboarding, login).
      const first = await requestFor(s.server, "one", 0, "the first model request");
      const promptText = s.server.userTexts(first).find((t) => t.includes("SCRIPT:one"));
      assert.ok(promptText?.startsWith(prompt), `the prompt arrived whole: ${promptText?.slice(0, 200)}`);
      assert.ok(promptText?.includes("orch notify --type task_complete"), "orch's instructions follow the prompt");

      const send = orch(["send", worker, "hello from the orchestrator"], { cwd: s.repo, env: s.env });
      assert.is(send.code, 0, send.stderr);
      sent.open();
      const afterInbox = await requestFor(s.server, "one", 1, "the request after orch inbox");
      const inboxOutput = s.server.lastToolOutput(afterInbox) ?? "";
      assert.match(inboxOutput, "hello from the orchestrator");
      assert.match(inboxOutput, "TMP-READONLY", "the test's premise: /tmp is not writable to Codex's commands");

      const seen: Polled[] = [];
      const done = await pollUntil(s, seen, (m) => m.message_type === "task_complete", "task_complete from the worker");
      assert.is(done.worker_id, worker);
      assert.is(done.content.branch, "feat/one");
      assert.is(git(["log", "-1", "--format=%s", "feat/one"], s.repo), "codex work");
      const afterCommit = await requestFor(s.server, "one", 2, "the request after the commit");
      assert.match(s.server.lastToolOutput(afterCommit) ?? "", "exited with code 0");

      const record = workerRecord(s, worker);
      assert.not.match(paneText(s, record.window_id), "Trust this folder");
      await waitUntil(() => typeof workerRecord(s, worker).agent_session_id === "string", LONG, "the Codex session id");
      const sessionId = workerRecord(s, worker).agent_session_id as string;
      const sessions = path.join(s.env.CODEX_HOME!, "sessions");
      const rollouts = spawnSync("find", [sessions, "-name", `*${sessionId}.jsonl`], { encoding: "utf8" }).stdout.trim();
      assert.ok(rollouts !== "", `Codex knows session ${sessionId}`);
      assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      await s.server.close();
    }
  });

  test("two Codex workers report as themselves; stop ends one's turn while the other keeps working", async () => {
    const stopped = gate();
    let stopServer = () => {};
    const marker = `${4 + (process.pid % 1000) / 1000}`;
    const s = await setup({
      alpha: [
        { exec: `orch notify --type progress --summary from-alpha && sleep ${marker}; echo slept`, yieldMs: 30_000 },
        { say: "alpha went on after stop" },
      ],
      beta: [
        { exec: "orch notify --type progress --summary from-beta" },
        { exec: "orch notify --type task_complete --summary beta-after-stop", after: stopped.opened },
        { say: "beta done" },
      ],
    });
    try {
      // A server left running by the user's own codex would run both workers' turns with one
      // environment, and go on with alpha's after its window closed.
      stopServer = startSharedCodexServer(s.env as Record<string, string>);
      const serverPid = Number(JSON.parse(fs.readFileSync(path.join(s.env.CODEX_HOME!, "app-server-daemon/daemon.pid"), "utf8")).pid);
      const alpha = spawnCodex(s, "alpha", "Work on alpha. SCRIPT:alpha");
      const beta = spawnCodex(s, "beta", "Work on beta. SCRIPT:beta");
      const seen: Polled[] = [];
      const fromAlpha = await pollUntil(s, seen, (m) => m.content.summary === "from-alpha", "alpha's progress");
      const fromBeta = await pollUntil(s, seen, (m) => m.content.summary === "from-beta", "beta's progress");
      assert.is(fromAlpha.worker_id, alpha);
      assert.is(fromBeta.worker_id, beta);

      await waitUntil(() => processesMatching(`sleep ${marker}`).length > 0, LONG, "alpha's command running");
      const sleeper = Number(processesMatching(`sleep ${marker}`)[0]!.trim().split(/\s+/)[0]);
      assert.not.ok(ancestors(sleeper).includes(serverPid), "alpha's command does not run in the shared server");
      const stop = orch(["stop", alpha, "--json"], { cwd: s.repo, env: s.env });
      assert.is(stop.code, 0, stop.stderr);
      assert.ok(stop.json.agent_stopped, "the agent process was ended");
      const stoppedAt = Date.now();
      await waitUntil(() => processesMatching(`sleep ${marker}`).length === 0, 10_000, "alpha's command ended with it");

      stopped.open();
      const last = await pollUntil(s, seen, (m) => m.content.summary === "beta-after-stop", "beta's report after alpha stopped");
      assert.is(last.worker_id, beta);
      // Had alpha's turn gone on somewhere, its command would end and the model hear from it.
      await waitUntil(() => Date.now() > stoppedAt + Number(marker) * 1000 + 2500, 20_000, "time for alpha's command to have ended");
      const afterStop = requestsOf(s.server, "alpha").filter((r) => r.at > stoppedAt);
      assert.equal(afterStop.map((r) => r.step), [], "no model request from alpha after stop");
      assert.is(orch(["stop", beta], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      stopServer();
      await s.server.close();
    }
  });

  test("a read-only sandbox in the user's config.toml or --agent's options: the worker starts (Codex refuses " +
    "--add-dir there), spawn says what it cannot do, its hooks still report, the config is left as it was",
  async () => {
    const s = await setup({
      ro: [{ exec: "orch notify --type progress --summary from-ro" }, { say: "read-only done" }],
      flag: [{ say: "flag read-only done" }],
    });
    try {
      const config = path.join(s.env.CODEX_HOME!, "config.toml");
      const text = `sandbox_mode = "read-only"\n${fs.readFileSync(config, "utf8")}`;
      fs.writeFileSync(config, text);
      const r = orch(["spawn", "ro", "--agent", "codex", "--json", "--prompt", "SCRIPT:ro"], { cwd: s.repo, env: s.env });
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stderr, `orch: ${config} sets sandbox_mode = "read-only": the Codex worker's commands cannot write`);
      const seen: Polled[] = [];
      const idle = await pollUntil(s, seen, (m) => m.message_type === "idle", "the idle of the Stop hook");
      assert.is(idle.content.details, "read-only done");
      const afterNotify = s.server.lastToolOutput(requestsOf(s.server, "ro", 1)[0]!) ?? "";
      assert.match(afterNotify, "read-only file system", `orch notify could not write the store: ${afterNotify}`);
      assert.not.ok(seen.some((m) => m.message_type === "progress"));
      // Codex itself appends its [tui] notes; what the user wrote stays.
      assert.ok(fs.readFileSync(config, "utf8").startsWith(text), "the user's config is left as it was");
      assert.is(orch(["stop", "ro"], { cwd: s.repo, env: s.env }).code, 0);

      // The same sandbox asked for on the command line, over a config that leaves it workspace-write.
      fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace('sandbox_mode = "read-only"\n', ""));
      const agent = "codex --sandbox=read-only";
      const flag = orch(["spawn", "flag", "--agent", agent, "--prompt", "SCRIPT:flag"], { cwd: s.repo, env: s.env });
      assert.is(flag.code, 0, flag.stderr);
      assert.match(flag.stderr, "--sandbox=read-only asks for a read-only sandbox");
      const flagIdle = await pollUntil(s, seen, (m) => m.worker_id === "flag" && m.message_type === "idle", "its idle");
      assert.is(flagIdle.content.details, "flag read-only done");
      assert.is(orch(["stop", "flag"], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      await s.server.close();
    }
  });

  test("orch inbox in a sandbox that cannot write the store fails with one line", async () => {
    const s = await setup({});
    try {
      const worker = orch(["spawn", "ro", "--no-window", "--json"], { cwd: s.repo, env: s.env }).json.worker_id as string;
      const worktree = path.join(path.dirname(s.repo), "repo-worktrees", worker);
      orch(["send", worker, "you have mail"], { cwd: s.repo, env: s.env });
      // Codex's own sandbox with its defaults: the worktree is writable, the store is not.
      const codex = path.join(s.env.PATH!.split(path.delimiter)[0]!, "codex");
      const [self, ...pre] = orchCommand();
      const r = spawnSync(codex, ["sandbox", "-P", ":workspace", "-C", worktree, "--", self!, ...pre, "inbox"], {
        // Its profile lets commands write $TMPDIR, where this test's store is: point it elsewhere.
        cwd: worktree,
        encoding: "utf8",
        env: { ...process.env, ...s.env, TMUX: "", TMPDIR: fs.mkdtempSync(path.join(scratch.users, "tmp-")) },
      });
      assert.is(r.status, 1, r.stderr);
      assert.match(r.stderr, "read-only file system", r.stderr);
      assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.not.match(r.stderr, "    at ");
    } finally {
      await s.server.close();
    }
  });

  test("a tmux server started without the caller's CODEX_HOME: the worker's codex reads the caller's config " +
    "and key (its provider's env_key) and reaches its endpoint; the session keeps neither", async () => {
    const s = await setup({ home: [{ say: "home done" }] });
    try {
      // The user's Codex configuration in a folder of its own, chosen in the shell that runs orch.
      const work = path.join(path.dirname(path.dirname(s.env.CODEX_HOME!)), "codex-work");
      fs.renameSync(s.env.CODEX_HOME!, work);
      // Its provider's key under a name of the user's (ORCH_* names are orch's own, never passed).
      const config = path.join(work, "config.toml");
      fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace("ORCH_TEST_OPENAI_KEY", "SCRIPTED_KEY"));
      const caller = { ...s.env, CODEX_HOME: work, ORCH_TEST_OPENAI_KEY: undefined, SCRIPTED_KEY: "sk-scripted" };
      // The server's global environment, from before: no CODEX_HOME (an empty ~/.codex), no key.
      tmux(["new-session", "-d", "-s", "before"], { ...caller, CODEX_HOME: undefined, SCRIPTED_KEY: undefined });
      const args = ["spawn", "home", "--agent", "codex", "--json", "--prompt", "SCRIPT:home"];
      const r = orch(args, { cwd: s.repo, env: caller });
      assert.is(r.code, 0, r.stderr);
      const window = r.json.window_id as string;
      const first = await requestFor(s.server, "home", 0, "the first model request at the caller's provider")
        .catch((error: Error) => Promise.reject(new Error(`${error.message}:\n${paneText(s, window)}`)));
      assert.is(first.authorization, "Bearer sk-scripted", "with the key the caller's config names");
      const sessionEnv = tmux(["show-environment", "-t", r.json.tmux_session as string], caller);
      assert.not.ok(/CODEX_HOME|SCRIPTED_KEY/.test(sessionEnv), `the session keeps none of them:\n${sessionEnv}`);
      assert.is(orch(["stop", "home"], { cwd: s.repo, env: caller }).code, 0);
    } finally {
      await s.server.close();
    }
  });
}

test.run();
