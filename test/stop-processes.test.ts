// orch stop signals only what it can prove is the worker's: never a process that got a recorded pid
// later; and it ends the daemons the agent left behind with setsid, found by the worker's environment.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, privateTmux, sessionRepo, tempDir, waitUntil } from "./helpers.ts";

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

test.run();
