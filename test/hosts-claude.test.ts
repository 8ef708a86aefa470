// The real Claude Code as a worker on a host, driven only through orch here over real OpenSSH: the host's
// account has claude set up as a user who has used it once (its own HOME, its API settings in
// ~/.claude/settings.json, claude on the PATH of ssh commands through ~/.bashrc), and nothing of this
// test's environment crosses ssh. Reports, the Stop hook's idle, waking an idle worker with send, a
// permission prompt answered with approve, a model API error past Claude Code's retries told through the host's
// StopFailure hook, and nothing of the account left running at the end.

import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnthropicServer, step, userText } from "./agents/anthropic-server.ts";
import { agentBinary, usedOnceConfig } from "./agents/harness.ts";
import { followWorkers, orch, sessionRepo, waitUntil, type PolledMessage } from "./helpers.ts";
import { accountCommands, installOnHost, putLocalBinOnPath, sshSkipReason, startSshWorld, writeAsUser } from "./ssh-harness.ts";
import type { SshHost, SshWorld } from "./ssh-harness.ts";

/** Claude Code starts in seconds on a quiet machine; on a loaded 2-core one, give it minutes. */
const AGENT_WAIT = 120_000;
const skip = sshSkipReason();
let world: SshWorld | undefined;
const server = await new AnthropicServer().start();

test.after(async () => {
  await world?.close();
  await server.stop();
});

/**
 * Claude Code on the host as a user who has used it once: the binary in ~/.local/bin (a hard link to the
 * cached one when it is on the same file system: 373 MB), that folder put on PATH at the top of ~/.bashrc
 * (above Debian's "not interactive: return"), the onboarding done, and settings.json's `env` pointing it
 * at the model server with the updater off: how a user points a host's claude at a gateway.
 */
function setUpClaudeOnHost(host: SshHost, model: AnthropicServer): void {
  installOnHost(host, agentBinary("claude"), "claude");
  writeAsUser(host, ".claude.json", `${JSON.stringify(usedOnceConfig(), null, 2)}\n`, 0o600);
  const settings = {
    autoUpdates: false,
    // One retry of a failed model request (default 10), so that an error outlasts them in seconds.
    env: { ...model.env, DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_MAX_RETRIES: "1" },
    permissions: { defaultMode: "manual", allow: [] },
  };
  writeAsUser(host, ".claude/settings.json", `${JSON.stringify(settings, null, 2)}\n`, 0o600);
}

type Message = PolledMessage;

interface WorkerView {
  worker_id: string;
  status: string;
  host?: string;
  waiting_for?: string;
  request_id?: string;
}

/** The host, the session here, and every message polled here so far (both tests use them, in order). */
interface Setting {
  host: SshHost;
  repo: string;
  run: (args: string[]) => ReturnType<typeof orch>;
  polled: Message[];
  /** poll --wait until a message of `type` from `worker` has come; fails with what the model server saw. */
  pollFor: (worker: string, type: string) => Promise<Message>;
  status: (worker: string) => WorkerView;
  sshCommand: (command: string) => string;
}
let setting: Setting | undefined;

async function setUp(): Promise<Setting> {
  world = await startSshWorld(1);
  const host = world.hosts[0]!;
  setUpClaudeOnHost(host, server);
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  // Only what reaches the hosts: nothing of the model server, HOME or PATH of this test goes with it.
  const env = { ...world.env };
  const run = (args: string[]) => orch(args, { cwd: repo, env });
  const { polled, pollFor, status } = followWorkers<WorkerView>(repo, env, AGENT_WAIT, () => `requests:\n${server.describe()}`);
  const sshArgs = ["-F", world.env.ORCH_SSH_CONFIG, "-o", "BatchMode=yes", host.alias];
  const sshCommand = (command: string) => spawnSync("ssh", [...sshArgs, command], { encoding: "utf8" }).stdout.trim();
  return { host, repo, run, polled, pollFor, status, sshCommand };
}

test("a host whose ssh commands find no claude: host add warns, a Claude Code worker there fails saying why", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  setting = await setUp();
  const { host, run, pollFor, status, sshCommand } = setting;
  assert.is(sshCommand("command -v claude || echo none"), "none", "~/.local/bin is not on that PATH by itself");
  const added = run(["host", "add", "alpha", host.alias, "--path", "shop", "--json"]);
  assert.is(added.code, 0, added.stderr);
  assert.equal(added.json.agents, []);
  assert.match(added.stderr, "host alpha has no claude on the PATH of its ssh commands");

  const spawned = run(["spawn", "feat/nowhere", "--host", "alpha", "--agent", "claude", "--prompt", "Do it.", "--json"]);
  assert.is(spawned.code, 0, spawned.stderr);
  const failed = await pollFor("feat-nowhere", "task_failed");
  assert.match(JSON.stringify(failed.content), "claude was not found on PATH");
  assert.is(status("feat-nowhere").status, "failed");
});

test("a model API error past Claude Code's retries on a host: failed, told once here; send wakes it", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { host, run, polled, pollFor, status } = setting!;
  putLocalBinOnPath(host);
  const added = run(["host", "add", "alpha", host.alias, "--path", "shop", "--json"]);
  assert.is(added.code, 0, added.stderr);
  const limit = "Number of request tokens has exceeded your per-minute rate limit";
  const limited = step.fail(429, "rate_limit_error", limit);
  server.script("feat-limit", [limited, limited, step.say("Back at it.")]);
  const spawned = run(["spawn", "feat/limit", "--host", "alpha", "--agent", "claude", "--prompt", "Go.", "--json"]);
  assert.is(spawned.code, 0, spawned.stderr);

  // The host's orch ran the StopFailure hook there; the failure came here through the host's mailbox.
  const failed = await pollFor("feat-limit", "task_failed");
  assert.match(failed.content.error!, limit, "the agent's own error text");
  assert.match(failed.content.summary!, "rate_limit");
  assert.is(status("feat-limit").status, "failed");
  const resumed = run(["resume", "feat-limit"]);
  assert.is(resumed.code, 1, resumed.stderr);
  assert.match(resumed.stderr, "orch send feat-limit", "the host's orch says to use send");

  const sent = run(["send", "feat-limit", "The limit has passed: go on.", "--json"]);
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, true, "the host's orch typed its wake-up line");
  await pollFor("feat-limit", "idle");
  assert.is(server.used("feat-limit"), 3, "the failed request and its retry, then the next turn's");
  assert.is(status("feat-limit").status, "idle", "running again, then idle");
  const types = polled.filter((m) => m.worker_id === "feat-limit").map((m) => m.message_type);
  assert.equal(types, ["task_failed", "idle"], "told once");
  const stopped = run(["stop", "feat-limit", "--json"]);
  assert.is(stopped.code, 0, stopped.stderr);
});

test("a real Claude Code worker on a host: reports, idle, woken by send, blocked and approved, done", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { host, run, polled, pollFor, status, sshCommand } = setting!;
  // Debian's bash reads ~/.bashrc for a command sshd runs: with ~/.local/bin put on PATH at its top,
  // above the line that returns when not interactive, claude is on the PATH of the host's ssh commands.
  putLocalBinOnPath(host);
  assert.is(sshCommand("command -v claude"), path.join(host.home, ".local/bin/claude"));
  const again = run(["host", "add", "alpha", host.alias, "--path", "shop", "--json"]);
  assert.is(again.code, 0, again.stderr);
  assert.equal([again.json.agents, again.json.warnings], [["claude"], []]);

  const seen = new Set<string>();
  const sampler = setInterval(() => accountCommands(host.uid).forEach((c) => seen.add(c)), 200);
  sampler.unref();
  server.script("feat-x", [
    step.bash("orch notify --type progress --summary 'halfway on the host'", "Report progress"),
    step.say("Waiting for directions."),
    step.bash("touch approved-on-host", "Create a marker file"),
    step.bash("orch notify --type task_complete --summary 'feature x done on the host'", "Report completion"),
    step.say("Done."),
  ]);
  const spawned = run(["spawn", "feat/x", "--host", "alpha", "--agent", "claude", "--prompt", "Build x.", "--json"]);
  assert.is(spawned.code, 0, spawned.stderr);
  assert.is(spawned.json.host, "alpha");
  assert.ok(spawned.json.window_id, "a tmux window on the host");
  const fromX = () => polled.filter((m) => m.worker_id === "feat-x");

  await pollFor("feat-x", "idle");
  assert.equal(fromX().map((m) => m.message_type), ["progress", "idle"]);
  assert.is(fromX()[0]!.content.summary, "halfway on the host");
  const idle = status("feat-x");
  assert.is(idle.host, "alpha");
  assert.is(idle.status, "idle", "the Stop hook ran on the host");

  const sent = run(["send", "feat-x", "-use the blue palette", "--json"]);
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, true, "the host's orch typed its wake-up line");
  await server.waitFor(() => server.used("feat-x") >= 3, AGENT_WAIT, "the woken turn");
  const woken = userText(server.turns("feat-x")[2]!.body);
  assert.ok(woken.includes("-use the blue palette"), "the message reached the model on the host");
  assert.ok(woken.includes("you have a new message from your orchestrator"));

  await waitUntil(() => status("feat-x").status === "blocked", AGENT_WAIT, "the permission prompt on the host");
  const blocked = status("feat-x");
  assert.is(blocked.waiting_for, "Bash: touch approved-on-host");
  const approved = run(["approve", "feat-x", "--json"]);
  assert.is(approved.code, 0, approved.stderr);
  assert.is(approved.json.request_id, blocked.request_id);

  await pollFor("feat-x", "task_complete");
  assert.equal(fromX().map((m) => m.message_type), ["progress", "idle", "blocked", "task_complete"]);
  assert.is(new Set(polled.map((m) => m.id)).size, polled.length, "each message once");
  assert.is(fromX()[3]!.content.summary, "feature x done on the host");
  await waitUntil(() => status("feat-x").status === "done", AGENT_WAIT, "done");
  assert.ok(fs.existsSync(path.join(spawned.json.worktree_path, "approved-on-host")), "the approved command ran there");

  const stopped = run(["stop", "feat-x", "--json"]);
  assert.is(stopped.code, 0, stopped.stderr);
  const claudeRuns = () => accountCommands(host.uid).some((c) => /claude/.test(c));
  await waitUntil(() => !claudeRuns(), AGENT_WAIT, "stop to end claude there");
  clearInterval(sampler);
  assert.ok([...seen].some((c) => c.startsWith("claude --session-id")), [...seen].join("\n"));
  assert.not.ok([...seen].some((c) => /\bnpm\b|claude (update|install)/.test(c)), "no updater ran on the host");

  await world!.close();
  world = undefined;
  assert.equal(accountCommands(host.uid), [], "nothing of the account runs any more");
  assert.not.ok(fs.existsSync(`/tmp/tmux-${host.uid}`), "nor is its tmux server's socket folder left");
});

test.run();
