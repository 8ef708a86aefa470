// The real Codex as a worker on a host, driven only through orch here over real OpenSSH: the host's account
// has Codex set up as a user who has used it once (its own HOME, ~/.codex/config.toml naming the scripted
// Responses server and its key, the native binary on the PATH of ssh commands through ~/.bashrc), and
// nothing of this test's environment crosses ssh. Reports from inside Codex's sandbox there, idle, waking
// it with send, an escalated command approved from here, done, resume of its conversation there, and
// nothing of the account left running at the end.

import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { agentBinary } from "./agents/harness.ts";
import { codexConfigToml, responsesServer, type RecordedRequest, type Step } from "./codex-harness.ts";
import { followWorkers, orch, sessionRepo, waitUntil } from "./helpers.ts";
import { accountCommands, installOnHost, putLocalBinOnPath, sshSkipReason, startSshWorld } from "./ssh-harness.ts";
import { writeAsUser } from "./ssh-harness.ts";
import type { SshHost, SshWorld } from "./ssh-harness.ts";

/** Codex starts in seconds on a quiet machine; on a loaded 2-core one, give it minutes. */
const AGENT_WAIT = 120_000;
/** The key the host's config.toml holds: every model request from there carries it. */
const HOST_KEY = "sk-host-scripted";
/** The same text as src/commands/messages.ts WAKE_LINE: what orch types into an idle agent's window. */
const WAKE_LINE = "orch: you have a new message from your orchestrator. Read it with: orch inbox";

const skip = sshSkipReason();
// The worker's script; its second step is replaced once the first turn is over (see the test).
const hostx: Step[] = [
  {
    exec: "touch \"$HOME/outside\" 2>/dev/null && echo HOME-WRITABLE || echo HOME-READONLY; "
      + "orch notify --type progress --summary 'halfway on the host'",
  },
  { say: "Waiting for directions." },
];
const server = await responsesServer({ hostx });
let world: SshWorld | undefined;

test.after(async () => {
  await world?.close();
  await server.close();
});

/**
 * Codex on the host as a user who has used it once: the native binary as ~/.local/bin/codex, that folder
 * on the PATH of ssh commands (top of ~/.bashrc), and ~/.codex/config.toml with the scripted provider,
 * its key in the file (no environment variable crosses ssh), update checks and analytics off.
 */
function setUpCodexOnHost(host: SshHost): void {
  installOnHost(host, agentBinary("codex"), "codex");
  putLocalBinOnPath(host);
  writeAsUser(host, ".codex/config.toml", codexConfigToml(server, { bearerToken: HOST_KEY }), 0o600);
}


interface WorkerView {
  worker_id: string;
  status: string;
  host?: string;
}

/** The model requests of the worker's conversation (Codex's side requests, a title, left out). */
const conversation = (): RecordedRequest[] =>
  server.requests.filter((r) => r.threadSource === "user" && r.script === "hostx");

function describeRequests(): string {
  const line = (r: RecordedRequest) => `step ${r.step}: ${server.lastToolOutput(r)?.slice(0, 300) ?? "(none)"}`;
  return conversation().map(line).join("\n");
}

test("a real Codex worker on a host: reports from its sandbox, idle, woken, approved, done, resumed", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  // Not under /tmp: with no TMPDIR over ssh, Codex puts no sandbox helper into a CODEX_HOME under /tmp,
  // and every sandboxed command there fails ("bwrap: execvp codex-linux-sandbox").
  world = await startSshWorld(1, { parent: process.env.ORCH_TEST_SCRATCH ?? "/var/tmp" });
  const host = world.hosts[0]!;
  setUpCodexOnHost(host);
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  // Only what reaches the hosts: nothing of the model server, HOME or PATH of this test goes with it.
  const env = { ...world.env };
  const run = (args: string[]) => orch(args, { cwd: repo, env });
  const sshArgs = ["-F", world.env.ORCH_SSH_CONFIG, "-o", "BatchMode=yes", host.alias];
  const sshCommand = (command: string) => spawnSync("ssh", [...sshArgs, command], { encoding: "utf8" }).stdout.trim();
  assert.is(sshCommand("command -v codex"), path.join(host.home, ".local/bin/codex"));

  const added = run(["host", "add", "alpha", host.alias, "--path", "shop", "--json"]);
  assert.is(added.code, 0, added.stderr);
  assert.equal(added.json.agents, ["codex"], "host add finds codex on that PATH");

  const { polled, pollFor, status } = followWorkers<WorkerView>(repo, env, AGENT_WAIT, () => `requests:\n${describeRequests()}`);

  const seen = new Set<string>();
  const sampler = setInterval(() => accountCommands(host.uid).forEach((c) => seen.add(c)), 200);
  sampler.unref();
  const prompt = "Build x. SCRIPT:hostx";
  const spawned = run(["spawn", "feat/x", "--host", "alpha", "--agent", "codex", "--prompt", prompt, "--json"]);
  assert.is(spawned.code, 0, spawned.stderr);
  assert.is(spawned.json.host, "alpha");
  assert.ok(spawned.json.window_id, "a tmux window on the host");
  const fromX = () => polled.filter((m) => m.worker_id === "feat-x");

  await pollFor("feat-x", "idle");
  assert.equal(fromX().map((m) => m.message_type), ["progress", "idle"], describeRequests());
  assert.is(fromX()[0]!.content.summary, "halfway on the host");
  const afterProgress = conversation().find((r) => r.step === 1)!;
  const progressOutput = server.lastToolOutput(afterProgress) ?? "";
  assert.match(progressOutput, "HOME-READONLY", "the report was made in Codex's sandbox, which keeps HOME read-only");
  assert.not.ok(fs.existsSync(path.join(host.home, "outside")));
  assert.match(progressOutput, "exited with code 0");
  assert.ok(conversation().every((r) => r.authorization === `Bearer ${HOST_KEY}`), "Codex used the host's config.toml");
  const idle = status("feat-x");
  assert.is(idle.host, "alpha");
  assert.is(idle.status, "idle", "the Stop hook ran on the host");

  // The woken turn asks for step 1 again (steps count tool calls): from now on it writes outside its
  // sandbox, which Codex asks a person about first, and then reports completion.
  const approvedFile = path.join(host.home, "approved-on-host");
  hostx.splice(1, 1,
    { exec: `touch ${approvedFile}`, escalate: "a marker outside the worktree" },
    { exec: "orch notify --type task_complete --summary 'feature x done on the host'" },
    { say: "Done." });
  const sent = run(["send", "feat-x", "-use the blue palette", "--json"]);
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, true, "the host's orch typed its wake-up line");
  const isWakeTurn = (r: RecordedRequest) => server.userTexts(r).some((t) => t.includes(WAKE_LINE));
  await waitUntil(() => conversation().some(isWakeTurn), AGENT_WAIT, "the turn the wake-up line starts on the host");
  const wakeTurn = JSON.stringify(conversation().find(isWakeTurn)!.body);
  assert.match(wakeTurn, "-use the blue palette", "the message reached the model");

  const blocked = await pollFor("feat-x", "blocked");
  assert.is(blocked.content.waiting_for, `Bash: touch ${approvedFile}`);
  assert.is(blocked.content.details, "a marker outside the worktree", "the model's justification");
  assert.is(status("feat-x").status, "blocked", "Codex's PermissionRequest hook ran on the host");
  const always = run(["approve", "feat-x", "--always"]);
  assert.is(always.code, 2, "Codex takes no lasting rule from a hook, on a host as here");
  const approved = run(["approve", "feat-x", "--json"]);
  assert.is(approved.code, 0, approved.stderr);
  assert.is(approved.json.request_id, blocked.content.request_id);

  await pollFor("feat-x", "task_complete");
  assert.equal(fromX().slice(0, 4).map((m) => m.message_type), ["progress", "idle", "blocked", "task_complete"]);
  assert.is(new Set(polled.map((m) => m.id)).size, polled.length, "each message once");
  assert.is(fromX()[3]!.content.summary, "feature x done on the host");
  assert.ok(fs.existsSync(approvedFile), "the approved command ran there, outside the sandbox as asked");
  await waitUntil(() => status("feat-x").status === "done", AGENT_WAIT, "done");
  assert.is(status("feat-x").host, "alpha");

  const stopped = run(["stop", "feat-x", "--json"]);
  assert.is(stopped.code, 0, stopped.stderr);
  const codexRuns = () => accountCommands(host.uid).some((c) => /codex/.test(c));
  await waitUntil(() => !codexRuns(), AGENT_WAIT, "stop to end codex there");
  // The host's orch found Codex's session id there: resume continues the conversation on the host.
  const before = conversation().length;
  const resumed = run(["resume", "feat-x", "--json", "--prompt", "-one more thing"]);
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.conversation_continued, true);
  // By the prompt, not by position: a request Codex sent before stop may be taken in only now (this
  // process's synchronous orch calls hold its model server meanwhile).
  const isResumed = (r: RecordedRequest) => server.userTexts(r).includes("-one more thing");
  await waitUntil(() => conversation().slice(before).some(isResumed), AGENT_WAIT, "the resumed conversation's request")
    .catch((e: Error) => assert.unreachable(`${e.message}; requests:\n${describeRequests()}`));
  const next = conversation().slice(before).find(isResumed)!;
  assert.ok(server.userTexts(next).some((t) => t.startsWith("Build x.")), "with the first prompt in the history");
  assert.is(run(["stop", "feat-x"]).code, 0);
  await waitUntil(() => !codexRuns(), AGENT_WAIT, "stop to end the resumed codex there");
  clearInterval(sampler);
  assert.ok([...seen].some((c) => c.startsWith("codex --no-daemon")), [...seen].join("\n"));
  assert.not.ok([...seen].some((c) => /\bnpm\b|codex (update|install)/.test(c)), "no updater ran on the host");
  const config = fs.readFileSync(path.join(host.home, ".codex/config.toml"), "utf8");
  // Codex itself keeps its TUI's state there; orch's trust, hooks and writable roots were per invocation.
  assert.ok(config.startsWith(codexConfigToml(server, { bearerToken: HOST_KEY })), config);
  assert.not.match(config, /projects|trust|hooks|orch/, "orch wrote nothing into the host's Codex config");

  await world.close();
  world = undefined;
  assert.equal(accountCommands(host.uid), [], "nothing of the account runs any more");
  assert.not.ok(fs.existsSync(`/tmp/tmux-${host.uid}`), "nor is its tmux server's socket folder left");
});

test.run();
