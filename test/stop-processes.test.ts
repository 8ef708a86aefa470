// orch stop signals only what it can prove is the worker's: never a process that got a recorded pid
// later; and it ends the daemons the agent left behind with setsid, found by the worker's environment.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { processesWorkingIn } from "../src/adapters/processes.ts";
import { hasProcFs } from "../src/proc.ts";
import { orch, privateTmux, sessionRepo, tempDir, tmux, waitUntil } from "./helpers.ts";

function running(pid: number): boolean {
  try {
    return !fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/** An unrelated process (not orch's, not the worker's): what a reused pid would belong to. */
function bystander(): number {
  const started = spawnSync("sh", ["-c", "sleep 300 >/dev/null 2>&1 & echo $!"], { encoding: "utf8" });
  return Number(started.stdout.trim());
}

test("a recorded pid that now names another process is never signalled (wrong start time, or none recorded)", () => {
  const { repo, id } = sessionRepo();
  assert.is(orch(["spawn", "feat/stale", "--no-window"], { cwd: repo }).code, 0);
  const pidFile = path.join(repo, ".orch", "sessions", id, "workers", "feat-stale", "agent.pid");
  for (const make of [(pid: number) => `${pid} 1\n`, (pid: number) => `${pid}\n`]) {
    const victim = bystander();
    fs.writeFileSync(pidFile, make(victim));
    const r = orch(["stop", "feat/stale", "--json"], { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.json.agent_stopped, false);
    assert.ok(running(victim), "the unrelated process still runs");
    process.kill(victim, "SIGKILL");
  }
});

test("stop ends the agent, its children and a daemon that left with setsid; status shows it not alive", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const dir = tempDir("orch-agent-");
  const daemonPidFile = path.join(dir, "daemon.pid");
  const childPidFile = path.join(dir, "child.pid");
  const agent = path.join(dir, "agent.sh");
  fs.writeFileSync(agent, [
    "#!/bin/sh",
    // A daemon: double fork into a new session, so it is neither in the agent's tree nor its group.
    `sh -c 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > ${daemonPidFile}'`,
    `sleep 1000 & echo $! > ${childPidFile}`,
    "exec sleep 1000",
    "",
  ].join("\n"), { mode: 0o755 });
  const spawned = orch(["spawn", "feat/daemon", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const written = (file: string) => fs.existsSync(file) && fs.readFileSync(file, "utf8").trim() !== "";
  await waitUntil(() => written(daemonPidFile) && written(childPidFile), 20_000, "the agent's processes");
  const daemon = Number(fs.readFileSync(daemonPidFile, "utf8"));
  const child = Number(fs.readFileSync(childPidFile, "utf8"));
  assert.ok(running(daemon) && running(child));
  const sessionOf = (pid: number) => fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[3];
  // $! is setsid's pid from its fork on: its new session begins a moment later.
  await waitUntil(() => sessionOf(daemon) !== sessionOf(child), 20_000, "the daemon in a session of its own");
  const stopped = orch(["stop", "feat/daemon", "--json"], { cwd: repo, env });
  assert.is(stopped.code, 0, stopped.stderr);
  assert.equal(stopped.json.not_ended, []);
  await waitUntil(() => !running(daemon) && !running(child), 10_000, "the daemon and the child to end");
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.json.workers[0].alive, false);
});

test("a window a person opens in the workers' tmux session is no worker's: stop of the first one leaves it", () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const spawned = orch(["spawn", "feat/first", "--agent", "sleep 1000", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const session = spawned.json.tmux_session;
  // As Ctrl-b c would: a window of the session, with the session's environment.
  const opened = tmux(["new-window", "-d", "-t", `=${session}:`, "-P", "-F", "#{pane_pid}", "exec sleep 1000"], env);
  const pid = Number(opened);
  const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  assert.not.ok(environ.some((v) => /^ORCH_(ID|WORKER|HOME|PROMPT_FILE)=/.test(v)), environ.join(" "));
  assert.not.match(tmux(["show-environment", "-t", `=${session}`], env), /ORCH_/);
  const stopped = orch(["stop", "feat/first", "--json"], { cwd: repo, env });
  assert.is(stopped.code, 0, stopped.stderr);
  assert.ok(running(pid), "the person's window still runs after stop");
});

test("processesWorkingIn: the processes whose folder is in a folder or below it, also reached through a link", async () => {
  if (!hasProcFs()) return console.log("  skipped: no /proc");
  const dir = tempDir("orch-working-in-");
  fs.mkdirSync(path.join(dir, "deep"));
  const sibling = `${dir}-sibling`; // same prefix, another folder
  fs.mkdirSync(sibling);
  const link = `${dir}-link`;
  fs.symlinkSync(dir, link);
  const sleeper = (cwd: string) => spawn("sleep", ["30"], { cwd, stdio: "ignore" });
  const children = [sleeper(dir), sleeper(path.join(dir, "deep")), sleeper(sibling)];
  try {
    const pids = (where: string) => processesWorkingIn(where).map((t) => t.pid).sort();
    const inside = children.slice(0, 2).map((c) => c.pid!).sort();
    assert.equal(pids(dir), inside);
    assert.equal(pids(link), inside, "a folder named through a link");
    assert.equal(pids(sibling), [children[2]!.pid]);
    assert.equal(pids(path.join(dir, "missing")), []);
  } finally {
    for (const child of children) child.kill("SIGKILL");
    fs.rmSync(sibling, { recursive: true, force: true });
    fs.rmSync(link, { force: true });
  }
});

test.run();
