// Waking an idle worker (send types one fixed line into its window, never the message) and orch
// resume of failed, stopped and dead workers; scripted agents in a private tmux server.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  baseEnv, commitFiles, orch, orchAsync, privateTmux, sessionRepo, sleep, startTime, tempDir, tmux,
  tmuxRacing, waitUntil, workerProcesses, type Result,
} from "./helpers.ts";

function agentScript(body: string[]): { script: string; dir: string } {
  const dir = tempDir("orch-agent-");
  const script = path.join(dir, "agent.sh");
  fs.writeFileSync(script, ["#!/bin/sh", `out=${JSON.stringify(dir)}`, ...body, ""].join("\n"), { mode: 0o755 });
  return { script, dir };
}

function statusOf(repo: string, env: Record<string, string | undefined>) {
  return orch(["status", "--json"], { cwd: repo, env }).json.workers[0];
}

const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");

test("send to a worker idle at its prompt types one fixed line into its window; the message stays in the mailbox", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  // An agent with a prompt: it says it is idle, then reads what is typed at it.
  const { script, dir } = agentScript([
    'orch notify --type idle --summary "at my prompt"',
    'IFS= read -r line; printf "%s\\n" "$line" > "$out/typed"',
    'orch inbox > "$out/inbox"',
    'orch notify --type task_complete --summary "read it"',
    "exec sleep 300",
  ]);
  orch(["spawn", "feat/idle", "--agent", script], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).status === "idle" && statusOf(repo, env).agent_alive, 20_000, "the agent to be idle");
  const secret = "the secret text $(touch pwned) stays in the mailbox";
  const sent = orch(["send", "feat/idle", secret, "--json"], { cwd: repo, env });
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, true);
  await waitUntil(() => read(path.join(dir, "typed")) !== "", 20_000, "the line to be typed");
  const typed = read(path.join(dir, "typed")).trim();
  assert.match(typed, /orch inbox/);
  assert.not.match(typed, /secret/, "the message itself is never typed");
  await waitUntil(() => statusOf(repo, env).status === "done", 20_000, "the agent to finish");
  assert.match(read(path.join(dir, "inbox")), "the secret text $(touch pwned) stays in the mailbox");
  const second = orch(["send", "feat/idle", "after done", "--json"], { cwd: repo, env });
  assert.is(second.json.woken, false, "a worker that is not at its prompt is not typed at");
});

test("sends that find a worker at its prompt at once type the wake-up line once between them; each message is read once", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const { script, dir } = agentScript([
    'orch notify --type idle --summary "at my prompt"',
    // Everything typed at it for a while (Enter at an empty line included), then its inbox.
    'timeout --foreground 8 cat > "$out/typed"',
    'orch inbox --json > "$out/inbox"',
    "exec sleep 300",
  ]);
  orch(["spawn", "feat/idle", "--agent", script], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).status === "idle" && statusOf(repo, env).agent_alive, 20_000, "the agent to be idle");
  // Within send's settling pause after the idle report: all four wait for the same moment to type.
  const texts = ["first", "second", "third", "fourth"].map((word) => `the ${word} message`);
  const sends = await Promise.all(texts.map((text) => orchAsync(["send", "feat/idle", text, "--json"], { cwd: repo, env }).done));
  for (const sent of sends) assert.is(sent.code, 0, sent.stderr);
  assert.is(sends.filter((sent) => sent.json.woken === true).length, 1, "one of them typed the line");
  await waitUntil(() => read(path.join(dir, "inbox")) !== "", 30_000, "the agent to read its inbox");
  const typed = read(path.join(dir, "typed"));
  assert.is(typed.split("orch inbox").length - 1, 1, `the wake-up line once, not once per send: ${JSON.stringify(typed)}`);
  const inbox = JSON.parse(read(path.join(dir, "inbox"))) as { messages: { content: { text?: string } }[] };
  assert.equal(inbox.messages.map((m) => m.content.text).sort(), [...texts].sort());
});

test("a send that comes while another orch links its wake-up into the log waits for it, and does not type again", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const { script, dir } = agentScript(['orch notify --type idle --summary "at my prompt"', 'cat > "$out/typed"']);
  orch(["spawn", "feat/idle", "--agent", script], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).status === "idle" && statusOf(repo, env).agent_alive, 20_000, "the agent to be idle");
  // Another send, between the two links of its wake-up event: the number is taken, the named link not yet made.
  const events = path.join(repo, ".orch", "sessions", id, "workers", "feat-idle", "events");
  const names = fs.readdirSync(events).filter((name) => /^\d{12}\./.test(name)).sort();
  const last = JSON.parse(fs.readFileSync(path.join(events, names[names.length - 1]!), "utf8"));
  const woken = { ...last, id: "msg_0wokenbyanother0", message_type: "woken", content: { summary: "typed" } };
  const staged = path.join(events, ".woken.tmp");
  fs.writeFileSync(staged, JSON.stringify(woken));
  const number = String(Number(names[names.length - 1]!.slice(0, 12)) + 1).padStart(12, "0");
  fs.linkSync(staged, path.join(events, number));
  const send = orchAsync(["send", "feat/idle", "a message", "--json"], { cwd: repo, env });
  await new Promise((r) => setTimeout(r, 800));
  fs.linkSync(staged, path.join(events, `${number}.woken.${woken.id}.json`));
  fs.rmSync(staged);
  const sent = await send.done;
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, false, "the other send woke it: this one finds it woken and types nothing");
  await new Promise((r) => setTimeout(r, 500));
  assert.is(read(path.join(dir, "typed")), "", "nothing was typed");
});

test("send does not make a worker running: only a turn that starts does", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/asleep", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  orch(["notify", "--type", "idle", "--summary", "at my prompt"], { cwd: wt });
  const sent = orch(["send", "feat/asleep", "wake up", "--json"], { cwd: repo });
  assert.is(sent.json.woken, false, "no window, no agent: nothing to type into");
  assert.is(orch(["status", "--json"], { cwd: repo }).json.workers[0].status, "idle");
  assert.is(orch(["inbox", "--json"], { cwd: wt }).json.message_count, 1);
  assert.is(orch(["status", "--json"], { cwd: repo }).json.workers[0].status, "running", "reading its inbox is taking up the work");
});

test("send to a working agent types nothing", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const { script, dir } = agentScript([
    'orch notify --type progress --summary "working"',
    'IFS= read -r line; printf "%s\\n" "$line" > "$out/typed"',
    "exec sleep 300",
  ]);
  const spawned = orch(["spawn", "feat/busy", "--agent", script, "--json"], { cwd: repo, env });
  await waitUntil(
    () =>
      statusOf(repo, env).agent_alive &&
      statusOf(repo, env).status === "running" &&
      orch(["poll"], { cwd: repo, env }).stdout.includes("working"),
    20_000,
    "the agent to work",
  );
  const sent = orch(["send", "feat/busy", "new directions", "--json"], { cwd: repo, env });
  assert.is(sent.json.woken, false);
  tmux(["send-keys", "-t", spawned.json.window_id, "-l", "marker typed by the test"], env);
  tmux(["send-keys", "-t", spawned.json.window_id, "Enter"], env);
  await waitUntil(() => read(path.join(dir, "typed")) !== "", 20_000, "the test's line");
  assert.is(read(path.join(dir, "typed")).trim(), "marker typed by the test", "orch typed nothing before it");
});

test("resume: a failed worker starts again in its window with the new message; refused while the agent runs", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  // First life: fails without a report. Second life: records its last argument and reports.
  const { script, dir } = agentScript([
    'n=$(cat "$out/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$out/runs"',
    'if [ "$n" = 1 ]; then exit 3; fi',
    'for last; do :; done; printf "%s" "$last" > "$out/prompt-$n"',
    'orch notify --type task_complete --summary "second life"',
    "exec sleep 300",
  ]);
  const spawned = orch(["spawn", "feat/again", "--agent", script, "--prompt", "the task", "--json"], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).status === "failed", 20_000, "the first life to fail");
  assert.match(orch(["poll", "--json"], { cwd: repo, env }).json.messages[0].content.error, /code 3/);
  const twice = orch(["resume", "feat/again", "--prompt", "a", "--prompt", "b", "--json"], { cwd: repo, env });
  assert.is(twice.code, 2, "a --prompt given twice is refused, never taken as no prompt");
  assert.match(twice.json.error.message, /--prompt was given more than once/);
  assert.is(statusOf(repo, env).status, "failed", "nothing was started");
  const resumed = orch(["resume", "feat/again", "--prompt", "try once more", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.previous_status, "failed");
  assert.is(resumed.json.window_id, spawned.json.window_id, "the same window");
  assert.is(resumed.json.window_reused, true);
  assert.is(resumed.json.conversation_continued, false, "a command template has no conversation to continue");
  await waitUntil(() => statusOf(repo, env).status === "done", 20_000, "the second life to report");
  const prompt = read(path.join(dir, "prompt-2"));
  assert.ok(prompt.startsWith("the task\n"), "a template starts its task over");
  assert.ok(prompt.endsWith("\n\ntry once more"), "with the new message after it");
  const busy = orch(["resume", "feat/again", "--json"], { cwd: repo, env });
  assert.is(busy.code, 1, "the agent runs: resume is refused");
  assert.is(busy.json.error.code, "refused");
});

test("await && resume of an agent that exits a moment after its report: resumed, not refused in between", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  // A one-shot command: it reports, tidies up for half a second, and exits.
  const { script, dir } = agentScript([
    'n=$(cat "$out/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$out/runs"',
    'for last; do :; done; printf "%s" "$last" > "$out/prompt-$n"',
    'orch notify --type task_complete --summary "life $n"',
    "sleep 0.5",
  ]);
  const spawned = orch(["spawn", "feat/once", "--agent", script, "--prompt", "the task", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const awaited = orch(["await", "feat/once", "--json"], { cwd: repo, env });
  assert.is(awaited.code, 0, awaited.stderr);
  const resumed = orch(["resume", "feat/once", "--prompt", "and the next", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.previous_status, "done");
  await waitUntil(() => read(path.join(dir, "prompt-2")) !== "", 20_000, "the second life");
  assert.ok(read(path.join(dir, "prompt-2")).endsWith("and the next"), "it got the new message");
});

test("resume after stop opens a new window; the stopped worker runs again", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const { script } = agentScript(['orch notify --type progress --summary "up"', "exec sleep 300"]);
  const spawned = orch(["spawn", "feat/paused", "--agent", script, "--json"], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).agent_alive, 20_000, "the agent to start");
  assert.is(orch(["stop", "feat/paused"], { cwd: repo, env }).code, 0);
  assert.is(statusOf(repo, env).status, "stopped");
  // Its agent uninstalled meanwhile: one line, and nothing started (before: "resumed", then failed at once).
  fs.renameSync(script, `${script}.gone`);
  const windows = () => spawnSync("tmux", ["list-windows", "-a"], { env: baseEnv(env), encoding: "utf8" }).stdout;
  const before = windows();
  const missing = orch(["resume", "feat/paused", "--json"], { cwd: repo, env });
  assert.is(missing.code, 1, missing.stderr);
  assert.is(missing.stderr.trim(),
    `orch: cannot resume worker feat-paused: ${script} was not found (uninstalled since its spawn?); ` +
      "nothing was started");
  assert.is(statusOf(repo, env).status, "stopped", "still stopped");
  assert.is(windows(), before, "no window opened");
  fs.renameSync(`${script}.gone`, script);
  const resumed = orch(["resume", "feat/paused", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.previous_status, "stopped");
  assert.is(resumed.json.window_reused, false);
  assert.ok(spawned.json.window_id);
  await waitUntil(() => statusOf(repo, env).agent_alive, 20_000, "the agent to run again");
  assert.is(statusOf(repo, env).status, "running");
  assert.is(statusOf(repo, env).window_id, resumed.json.window_id);
  assert.is(orch(["resume", "nobody"], { cwd: repo, env }).code, 1);
  assert.is(orch(["resume", "../x"], { cwd: repo, env }).code, 2);
});

test("resume --prompt too large for an argument: the agent is pointed to a file of that text alone", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const { script, dir } = agentScript(['printf %s "$1" > "$out/arg"', "exec sleep 300"]);
  orch(["spawn", "feat/big", "--agent", script, "--prompt", "Small task."], { cwd: repo, env });
  await waitUntil(() => read(path.join(dir, "arg")).length > 0, 20_000, "the agent to start");
  assert.is(orch(["stop", "feat-big"], { cwd: repo, env }).code, 0);
  fs.rmSync(path.join(dir, "arg"));
  const text = `Next:\n${"line of the new message\n".repeat(5000)}`;
  const resumed = orch(["resume", "feat-big", "--prompt", text], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  await waitUntil(() => read(path.join(dir, "arg")).length > 0, 20_000, "the agent to start again");
  const pointer = read(path.join(dir, "arg"));
  const file = /is in the file (\S+) \(/.exec(pointer)?.[1];
  assert.ok(file, pointer);
  // Before: the plan's JSON (resume.json), said to be $ORCH_PROMPT_FILE, which holds the task as spawned.
  assert.not.match(pointer, "ORCH_PROMPT_FILE");
  const message = fs.readFileSync(file!, "utf8");
  assert.ok(message.startsWith("Small task."), "an agent with no resume of its own: its task again");
  assert.ok(message.endsWith(`\n\n${text}`), "then the message, as given");
});

test("two resumes at once of a stopped worker: one starts its agent, the other is refused; one agent runs", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const { script, dir } = agentScript(['echo started >> "$out/starts"', "exec sleep 300"]);
  orch(["spawn", "feat/twice", "--agent", script], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).agent_alive, 20_000, "the agent to start");
  assert.is(orch(["stop", "feat/twice"], { cwd: repo, env }).code, 0);
  const both = await Promise.all([0, 1].map(() => orchAsync(["resume", "feat/twice"], { cwd: repo, env }).done));
  const codes = both.map((r) => r.code).sort();
  assert.equal(codes, [0, 1], both.map((r) => r.stderr).join(" | "));
  const refused = both.find((r) => r.code === 1)!;
  assert.match(refused.stderr, /being resumed by another orch command|is still running/);
  await waitUntil(() => statusOf(repo, env).agent_alive, 20_000, "the resumed agent to run");
  await new Promise((r) => setTimeout(r, 500)); // a second agent, had one been started, has written by now
  assert.is(read(path.join(dir, "starts")), "started\nstarted\n", "the first life and one resumed life");
  const windows = tmux(["list-windows", "-a", "-F", "#{window_name}"], env).split("\n");
  assert.is(windows.filter((name) => name === "feat-twice").length, 1);
});

test("a resume that finds the claim held, then released before it reads who held it, takes the claim and resumes", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const { script, dir } = agentScript(['echo started >> "$out/starts"', "exec sleep 300"]);
  orch(["spawn", "feat/freed", "--agent", script], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).agent_alive, 20_000, "the agent to start");
  assert.is(orch(["stop", "feat/freed"], { cwd: repo, env }).code, 0);
  // A claim file made and not yet written, released a moment later: what a stop finishing as resume comes leaves.
  const claim = path.join(repo, ".orch", "sessions", id, "workers", "feat-freed", "resuming");
  fs.writeFileSync(claim, "");
  const release = spawnSync("sh", ["-c", `(sleep 0.3; rm -f "$0") >/dev/null 2>&1 &`, claim]);
  assert.is(release.status, 0);
  const resumed = orch(["resume", "feat/freed", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, `${resumed.stderr} (before, "is being resumed by another orch command")`);
  await waitUntil(() => read(path.join(dir, "starts")) === "started\nstarted\n", 20_000, "the resumed agent to run");
  assert.is(statusOf(repo, env).status, "running");
});

test("stop and rm at once with resume, many times: a stopped or removed worker runs nothing; resume says why", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const { script } = agentScript(["exec sleep 300"]);
  const worker = (name: string) => orch(["status", "--json"], { cwd: repo, env }).json.workers
    .find((w: { worker_id: string }) => w.worker_id === name);
  const windows = (name: string) => {
    const ask = ["list-windows", "-a", "-F", "#{window_name}"];
    const listed = spawnSync("tmux", ask, { env: baseEnv(env), encoding: "utf8" });
    return listed.status === 0 ? listed.stdout.split("\n").filter((n) => n === name).length : 0; // no server: none
  };
  const why = [/worker \S+ is being (?:stopped|removed) by another orch command/, /no worker .*/,
    /worker \S+ was removed meanwhile/, /the worktree of \S+ is gone .*/];
  const loserSays = new RegExp(`^orch: (?:${why.map((w) => w.source).join("|")})$`);
  const atOnce = (a: string[], b: string[]) => Promise.all([orchAsync(a, { cwd: repo, env }).done,
    orchAsync(b, { cwd: repo, env }).done]);
  const resumeOutcome = (r: Result) => {
    if (r.code !== 0) assert.match(r.stderr.trim(), loserSays, r.stderr);
    assert.is(r.stderr.trim().split("\n").length <= 1, true, r.stderr);
  };
  for (let round = 0; round < 6; round++) {
    const name = `w${round}`;
    assert.is(orch(["spawn", name, "--agent", script], { cwd: repo, env }).code, 0);
    await waitUntil(() => worker(name).agent_alive, 20_000, "the agent to start");
    assert.is(orch(["stop", name], { cwd: repo, env }).code, 0);
    // stop racing resume: whichever comes last decides, and a stopped worker has nothing running.
    const [resumed, stopped] = await atOnce(["resume", name], ["stop", name]);
    assert.is(stopped.code, 0, stopped.stderr);
    resumeOutcome(resumed);
    const status = worker(name).status;
    if (status === "stopped") {
      const what = `no process of stopped ${name} (round ${round})`;
      await waitUntil(() => workerProcesses(id, name).length === 0, 10_000, what);
      assert.is(windows(name), 0, "no window of the stopped worker");
    } else {
      assert.is(status, "running");
      assert.is(resumed.code, 0, "only a resume makes it run");
    }
    // rm racing resume: the worker is removed, and nothing of it runs or is left in tmux.
    if (status === "running") assert.is(orch(["stop", name], { cwd: repo, env }).code, 0);
    const [again, removed] = await atOnce(["resume", name], ["rm", name, "--force"]);
    assert.is(removed.code, 0, removed.stderr);
    resumeOutcome(again);
    assert.is(worker(name), undefined, "removed");
    await waitUntil(() => workerProcesses(id, name).length === 0, 10_000, `no process of removed ${name} (round ${round})`);
    assert.is(windows(name), 0, "no window of the removed worker");
  }
});

test("stop and rm while spawn opens the worker's window: they wait for it, close it and end the agent", async () => {
  const { repo, id } = sessionRepo();
  const env = { ...privateTmux(), ...tmuxRacing() };
  const { script } = agentScript(["exec sleep 300"]);
  const windows = (name: string) => {
    const ask = ["list-windows", "-a", "-F", "#{window_name}"];
    const listed = spawnSync("tmux", ask, { env: baseEnv(env), encoding: "utf8" });
    return listed.status === 0 ? listed.stdout.split("\n").filter((n) => n === name).length : 0; // no server: none
  };
  for (const [name, race] of [["w-stop", "stop w-stop"], ["w-rm", "rm w-rm --force"]] as const) {
    const out = tempDir("orch-race-");
    const racing = { ...env, RACE: race, RACE_OUT: out };
    const spawned = orch(["spawn", name, "--agent", script, "--json"], { cwd: repo, env: racing });
    assert.is(spawned.code, 0, spawned.stderr);
    await waitUntil(() => fs.existsSync(path.join(out, "race.done")), 60_000, `orch ${race} to end`);
    const raced = JSON.parse(fs.readFileSync(path.join(out, "race.json"), "utf8"));
    assert.is(raced.success, true, fs.readFileSync(path.join(out, "race.err"), "utf8"));
    // It read the record before the window was there: a stop or rm that did not wait for spawn closed nothing.
    assert.is(raced.window_closed, true, `orch ${race} closed the window spawn opened`);
    const worker = orch(["status", "--json"], { cwd: repo, env }).json.workers.find(
      (w: { worker_id: string }) => w.worker_id === name);
    if (race.startsWith("stop")) assert.is(worker.status, "stopped");
    else assert.is(worker, undefined, "removed");
    await waitUntil(() => workerProcesses(id, name).length === 0, 10_000, `no process of ${name}`);
    assert.is(windows(name), 0, `no window of ${name}`);
  }
  assert.not.match(spawnSync("git", ["worktree", "list"], { cwd: repo, encoding: "utf8" }).stdout, /w-rm/);
});

test("stop while a worker spawned --after opens its window: it waits for it, closes it, ends the agent", async () => {
  const { repo, id } = sessionRepo();
  const env = { ...privateTmux(), ...tmuxRacing() };
  const { script } = agentScript(["exec sleep 300"]);
  const first = orch(["spawn", "w-first", "--no-window", "--json"], { cwd: repo, env });
  assert.is(first.code, 0, first.stderr);
  commitFiles(first.json.worktree_path, { "first.txt": "first\n" }, "first's work");
  const after = orch(["spawn", "w-next", "--after", "w-first", "--agent", script, "--json"], { cwd: repo, env });
  assert.is(after.code, 0, after.stderr);
  // The merge of w-first starts w-next; as its window is asked for, a stop of it runs (see tmuxRacing).
  const out = tempDir("orch-race-");
  const racing = { ...env, RACE: "stop w-next", RACE_OUT: out };
  const merged = orch(["merge", "w-first", "--local", "--json"], { cwd: repo, env: racing });
  assert.is(merged.code, 0, merged.stderr);
  assert.ok(fs.existsSync(path.join(out, "race.started")), `w-next was started: ${merged.stderr}`);
  await waitUntil(() => fs.existsSync(path.join(out, "race.done")), 60_000, "orch stop to end");
  const raced = JSON.parse(fs.readFileSync(path.join(out, "race.json"), "utf8"));
  assert.is(raced.success, true, fs.readFileSync(path.join(out, "race.err"), "utf8"));
  assert.is(raced.window_closed, true, "the stop closed the window the start opened");
  const worker = orch(["status", "--json"], { cwd: repo, env }).json.workers.find(
    (w: { worker_id: string }) => w.worker_id === "w-next");
  assert.is(worker.status, "stopped");
  await waitUntil(() => workerProcesses(id, "w-next").length === 0, 10_000, "no process of w-next");
});

test("resume of a worker an rm is removing (or a killed rm left half removed) is refused in one line; nothing starts", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const { script, dir } = agentScript(['echo started >> "$out/starts"', "exec sleep 300"]);
  orch(["spawn", "held", "--agent", script], { cwd: repo, env });
  await waitUntil(() => statusOf(repo, env).agent_alive, 20_000, "the agent to start");
  assert.is(orch(["stop", "held"], { cwd: repo, env }).code, 0);
  const claim = path.join(repo, ".orch", "sessions", id, "workers", "held", "removing");
  fs.writeFileSync(claim, JSON.stringify({ pid: process.pid, start_time: startTime(process.pid) }));
  const refused = orch(["resume", "held", "--json"], { cwd: repo, env });
  assert.is(refused.code, 1, refused.stderr);
  assert.is(refused.stderr.trim(), "orch: worker held is being removed by another orch command");
  assert.is(refused.json.error.code, "refused");
  const dead = spawnSync("true");
  fs.writeFileSync(claim, JSON.stringify({ pid: dead.pid, start_time: "1" }));
  const killed = orch(["resume", "held"], { cwd: repo, env });
  assert.is(killed.code, 1, killed.stderr);
  assert.is(killed.stderr.trim(),
    "orch: an orch rm or clean of worker held was killed half-way: orch rm held finishes the removal");
  assert.is(statusOf(repo, env).status, "stopped", "nothing was started");
  assert.is(read(path.join(dir, "starts")), "started\n", "the first life only");
  // A stop ending the agent holds the resume claim: a resume meanwhile says so.
  fs.rmSync(claim);
  const stopping = path.join(repo, ".orch", "sessions", id, "workers", "held", "resuming");
  fs.writeFileSync(stopping, JSON.stringify({ pid: process.pid, start_time: startTime(process.pid), by: "stop" }));
  const meanwhile = orch(["resume", "held"], { cwd: repo, env });
  assert.is(meanwhile.stderr.trim(), "orch: worker held is being stopped by another orch command");
  // A claim is made, then written: a resume that reads it in between waits for what it says.
  fs.writeFileSync(stopping, "");
  const early = orchAsync(["resume", "held"], { cwd: repo, env });
  await sleep(300);
  fs.writeFileSync(stopping, JSON.stringify({ pid: process.pid, start_time: startTime(process.pid), by: "stop" }));
  assert.is((await early.done).stderr.trim(), "orch: worker held is being stopped by another orch command");
  // A resume killed -9 while it held the claim: stop and rm take it over at once.
  fs.writeFileSync(stopping, JSON.stringify({ pid: dead.pid, start_time: "1" }));
  const stopped = orch(["stop", "held"], { cwd: repo, env });
  assert.is(stopped.code, 0, stopped.stderr);
  assert.not.ok(fs.existsSync(stopping), "stop gave the claim back");
  fs.writeFileSync(stopping, JSON.stringify({ pid: dead.pid, start_time: "1" }));
  assert.is(orch(["rm", "held", "--force"], { cwd: repo, env }).code, 0, "rm finishes the removal");
});

test.run();
