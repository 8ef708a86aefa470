// The orchestrator's side with the real Claude Code (pinned, offline, scripted model): a session in its
// own tmux window runs /orchestrator-mode from `orch install claude`, keeps its listener as the slash
// command says (orch watch under the Monitor tool; orch poll --wait as a background Bash task), and is
// woken by a worker's message. Counts the model calls per message, and proves that a listener left
// behind — the session moved to the background at /exit, or killed — takes nothing.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  AnthropicServer,
  contentText,
  step,
  userText,
  type MessagesBody,
  type RecordedRequest,
  type Step,
} from "./agents/anthropic-server.ts";
import { claudeUser, endUserProcesses, type ClaudeUser } from "./agents/harness.ts";
import { orch, orchCommand, privateTmux, sessionRepo, sleep, tempDir, tmux, waitUntil } from "./helpers.ts";

const AGENT_WAIT = 120_000;
/** How long the model server must stay quiet before a wake-up counts as finished. */
const QUIET_MS = 2_000;

const server = await new AnthropicServer().start();
const users: ClaudeUser[] = [];
test.after(async () => {
  for (const user of users) endUserProcesses(user);
  await server.stop();
});

/** A folder with an `orch` that runs the orch under test, for the PATH of the orchestrator's Claude Code. */
function orchOnPath(): string {
  const dir = tempDir("orch-bin-");
  const quote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;
  fs.writeFileSync(path.join(dir, "orch"), `#!/bin/sh\nexec ${orchCommand().map(quote).join(" ")} "$@"\n`, { mode: 0o755 });
  return dir;
}
const ORCH_BIN = orchOnPath();

interface Orchestrator {
  repo: string;
  id: string;
  key: string;
  user: ClaudeUser;
  env: Record<string, string | undefined>;
  /** The worktree of a worker (no agent): the test speaks for it with orch notify. */
  workerPath: string;
  window: string;
  run: (args: string[]) => ReturnType<typeof orch>;
  notify: (summary: string) => string;
  pane: () => string;
}

/** The listener as the slash command tells the model to start it, with the session id it was given. */
const watchStep = (id: string): Step[] => [
  step.tool("ToolSearch", { query: "select:Monitor", max_results: 1 }),
  step.tool("Monitor", { command: `orch watch --orch ${id}`, description: "orch messages", timeout_ms: 1_800_000 }),
];
const pollStep = (id: string): Step => step.tool("Bash", {
  command: `orch poll --wait --orch ${id}`,
  description: "Wait for orch messages",
  run_in_background: true,
});

/** The output file of the background task whose completion the request reports. */
function completedOutputFile(body: MessagesBody): string {
  const file = /<output-file>([^<]+)<\/output-file>/.exec(contentText(body.messages?.at(-1)?.content))?.[1];
  if (!file) throw new Error("the request reports no completed background task");
  return file;
}

/**
 * An orchestrator session: a repository with orch installed for Claude Code and one worker, and Claude
 * Code started in a tmux window on `/orchestrator-mode <key>`, answered by `script(id)`.
 */
function startOrchestrator(key: string, script: (id: string) => Array<Step | ((body: MessagesBody) => Step)>): Orchestrator {
  const { repo, id } = sessionRepo();
  const user = claudeUser({ config: { projects: { [repo]: { hasTrustDialogAccepted: true } } } });
  users.push(user);
  const env = { ...privateTmux(), ...user.env, ...server.env, PATH: `${ORCH_BIN}:${user.env.PATH}` };
  const run = (args: string[]) => orch(args, { cwd: repo, env });
  assert.is(run(["install", "claude"]).code, 0);
  const worker = run(["spawn", `feat/${key}`, "--no-window", "--json"]);
  assert.is(worker.code, 0, worker.stderr);
  server.script(key, script(id));
  const window = tmux(["new-session", "-d", "-P", "-F", "#{window_id}", "-s", "orchestrator", "-x", "200", "-y", "50", "-c", repo,
    "claude", "--", `/orchestrator-mode ${key}: coordinate the work`], env);
  const workerPath = worker.json.worktree_path as string;
  return {
    repo, id, key, user, env, workerPath, window, run,
    notify: (summary) => {
      const r = orch(["notify", "--type", "progress", "--summary", summary, "--json"], { cwd: workerPath, env });
      assert.is(r.code, 0, r.stderr);
      return r.json.message_id as string;
    },
    pane: () => {
      try {
        return tmux(["capture-pane", "-p", "-t", window], env);
      } catch {
        return "(no pane)";
      }
    },
  };
}

async function waitFor(o: Orchestrator, check: () => boolean, what: string): Promise<void> {
  try {
    await waitUntil(check, AGENT_WAIT, what);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nrequests:\n${server.describe()}\npane:\n${o.pane()}`);
  }
}

/** The turns of this orchestrator that arrived after `since`, once the server has been quiet for a while. */
async function turnsAfterQuiet(o: Orchestrator, since: number): Promise<RecordedRequest[]> {
  await waitUntil(() => {
    const last = server.turns(o.key).at(-1)?.at ?? 0;
    return Date.now() - Math.max(last, since) > QUIET_MS;
  }, AGENT_WAIT, "the orchestrator to settle");
  return server.turns(o.key).filter((r) => r.at > since);
}

interface Proc {
  pid: number;
  ppid: number;
  cmdline: string;
}

/** The processes started with this user's HOME (Claude Code, its shells, the listeners). */
function processesOf(user: ClaudeUser): Proc[] {
  const procs: Proc[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`HOME=${user.home}`)) continue;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      procs.push({ pid: Number(pid), ppid, cmdline: fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim() });
    } catch {
      // ended meanwhile
    }
  }
  return procs;
}

/** The orch process itself, not the shell Claude Code runs it in (whose command line holds it too). */
const isListener = (p: Proc, what: "poll --wait" | "watch") => new RegExp(`(^|/)(orch|main\\.js) ${what}\\b`).test(p.cmdline);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
};

test("orch watch under the Monitor tool wakes the orchestrator with the message itself: one model call per message", async () => {
  const o = startOrchestrator("orch-monitor", (id) => [...watchStep(id), step.say("Listening."),
    step.say("Acting on the first."), step.say("Acting on the second."), step.say("Acting on the third.")]);
  await waitFor(o, () => server.used(o.key) === 3, "the watch to start");
  await waitFor(o, () => processesOf(o.user).some((p) => isListener(p, "watch")), "the orch watch process");
  const calls: number[] = [];
  for (const word of ["first", "second", "third"]) {
    const since = Date.now();
    const id = o.notify(`the ${word} message`);
    await waitFor(o, () => server.turns(o.key).some((r) => r.at >= since && r.raw.includes(id)), `the ${word} wake-up`);
    const turns = await turnsAfterQuiet(o, since);
    calls.push(turns.length);
    const notice = contentText(turns[0]!.body?.messages?.at(-1)?.content);
    assert.ok(notice.includes(`"summary":"the ${word} message"`), `the notification holds the message: ${notice}`);
    assert.ok(notice.includes(`"worker_id":"feat-orch-monitor"`));
  }
  assert.equal(calls, [1, 1, 1], "one model call per message: the notification is the message");
  assert.equal(o.run(["poll", "--json"]).json.messages, [], "the watch took each message, once");
});

test("the background poll: the completion notice plus one read and restart, two model calls per message", async () => {
  const o = startOrchestrator("orch-bgpoll", (id) => [pollStep(id), step.say("Listening."),
    (body) => ({ tools: [{ name: "Read", input: { file_path: completedOutputFile(body) } }, pollStep(id).tools![0]!] }),
    step.say("Acting on it.")]);
  await waitFor(o, () => server.used(o.key) === 2, "the poll to start");
  await waitFor(o, () => processesOf(o.user).some((p) => isListener(p, "poll --wait")), "the orch poll process");
  const since = Date.now();
  const id = o.notify("the background message");
  const turns = await (async () => {
    await waitFor(o, () => server.used(o.key) === 4, "the read and the action");
    return turnsAfterQuiet(o, since);
  })();
  assert.is(turns.length, 2, "the completion notice, then the read output: two model calls");
  assert.match(contentText(turns[0]!.body?.messages?.at(-1)?.content), /completed \(exit code 0\)/);
  const read = contentText(turns[1]!.body?.messages?.at(-1)?.content);
  assert.ok(read.includes(id) && read.includes("the background message"), `one read gives the whole message: ${read}`);
  await waitFor(o, () => processesOf(o.user).filter((p) => isListener(p, "poll --wait")).length === 1, "the poll started again");
});

test("/exit asks while a listener runs; Move to background and exit leaves the next message for the next poll", async () => {
  // The session carried on in Claude Code's background daemon is told its poll ended and, as the slash
  // command says, starts it again: orch refuses there.
  const o = startOrchestrator("orch-exit", (id) => [pollStep(id), step.say("Listening."), pollStep(id), step.say("Listening again.")]);
  await waitFor(o, () => server.used(o.key) === 2, "the poll to start");
  tmux(["send-keys", "-t", o.window, "/exit", "Enter"], o.env);
  await waitFor(o, () => o.pane().includes("Move to background and exit"), "Claude Code's exit question");
  assert.match(o.pane(), /Background work is running/);
  tmux(["send-keys", "-t", o.window, "2"], o.env);
  await waitFor(o, () => server.used(o.key) === 4, "the backgrounded session to start its poll again");
  const rearmed = server.turns(o.key)[3]!;
  const output = [...userText(rearmed.body).matchAll(/Output is being written to: (\S+\.output)/g)].at(-1)?.[1];
  assert.ok(output, "the background session started its poll again");
  // The model hears of the background command as soon as it is launched: its output comes after.
  const said = () => (fs.existsSync(output!) ? fs.readFileSync(output!, "utf8") : "");
  const refused = () => /runs in the background with nobody attached/.test(said());
  await waitFor(o, refused, "orch to refuse the background session's poll").catch((error: Error) => {
    throw new Error(`${error.message}\nits output: ${JSON.stringify(said())}`);
  });
  await waitFor(o, () => !processesOf(o.user).some((p) => isListener(p, "poll --wait")), "the poll in the background session to end");
  const id = o.notify("after the exit");
  await sleep(QUIET_MS);
  const polled = o.run(["poll", "--json"]);
  assert.equal(polled.json.messages.map((m: { id: string }) => m.id), [id], "the message waited for the next poll");
  assert.not.ok(server.turns(o.key).some((r) => r.raw.includes(id)), "no session was handed the message");
});

test("a listener whose session or parent is SIGKILLed takes nothing afterwards", async () => {
  const sessions = [
    startOrchestrator("orch-kill-session", (id) => [pollStep(id), step.say("Listening.")]),
    startOrchestrator("orch-kill-parent", (id) => [pollStep(id), step.say("Listening."), step.say("The listener ended.")]),
  ];
  for (const o of sessions) await waitFor(o, () => server.used(o.key) === 2, "the poll to start");
  const listenerOf = (o: Orchestrator) => processesOf(o.user).find((p) => isListener(p, "poll --wait"));
  for (const o of sessions) await waitFor(o, () => listenerOf(o) !== undefined, "the orch poll process");
  const [sessionGone] = sessions as [Orchestrator, Orchestrator];
  const claude = Number(tmux(["display-message", "-p", "-t", sessionGone.window, "#{pane_pid}"], sessionGone.env));
  const listeners = sessions.map(listenerOf) as Proc[];
  process.kill(claude, "SIGKILL");
  process.kill(listeners[1]!.ppid, "SIGKILL");
  await sleep(500);
  const ids = sessions.map((o) => o.notify("after the kill"));
  for (const [i, o] of sessions.entries()) {
    await waitUntil(() => !alive(listeners[i]!.pid), AGENT_WAIT, "the orphaned listener to end");
    const polled = o.run(["poll", "--json"]);
    assert.equal(polled.json.messages.map((m: { id: string }) => m.id), [ids[i]], `${o.key}: the message is still there`);
  }
});

test("poll, poll --wait and watch take nothing in a Claude Code background session; one line says why", () => {
  const { repo } = sessionRepo();
  const worktree = orch(["spawn", "feat/bg", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  assert.is(orch(["notify", "--type", "progress", "--summary", "kept"], { cwd: worktree }).code, 0);
  const background = { CLAUDE_CODE_SESSION_ATTENDED: "0", CLAUDE_JOB_DIR: tempDir() };
  for (const args of [["poll"], ["poll", "--wait", "--timeout", "5"], ["watch", "--timeout", "5"]]) {
    const r = orch([...args, "--json"], { cwd: repo, env: background });
    assert.is(r.code, 1, `${args.join(" ")}: ${r.stdout}`);
    assert.is(r.json.error.code, "refused");
    assert.match(r.json.error.message, /runs in the background with nobody attached.*nothing was taken/);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  assert.is(orch(["poll", "--json"], { cwd: repo, env: { ...background, CLAUDE_CODE_SESSION_ATTENDED: "1" } }).json.message_count, 1,
    "an attended session takes them");
  assert.is(orch(["notify", "--type", "progress", "--summary", "again"], { cwd: worktree }).code, 0);
  assert.is(orch(["poll", "--json"], { cwd: repo, env: { ...background, ORCH_LISTEN_UNATTENDED: "1" } }).json.message_count, 1,
    "ORCH_LISTEN_UNATTENDED=1 takes them anyway");
});

test.run();
