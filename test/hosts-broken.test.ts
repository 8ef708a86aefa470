// Hosts whose connection breaks or hangs in the middle of things, against a real OpenSSH server and master
// (test/ssh-harness.ts): a master that stops answering is set aside instead of hanging every command.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { controlPath, sshOptions } from "../src/adapters/ssh.ts";
import { orch, orchAsync, sessionRepo, type Result } from "./helpers.ts";
import { sshSkipReason, startSshWorld, type SshHost, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;
let host: SshHost;
let sshEnv: NodeJS.ProcessEnv;
/** Processes a test stopped: continued and ended at the end whatever happened. */
const stopped = new Set<number>();

test.before(async () => {
  if (skip) return;
  world = await startSshWorld(1);
  host = world.hosts[0]!;
  sshEnv = { ...process.env, ...world.env };
});
/** Continues and ends what a test stopped. */
function endStopped(): void {
  for (const pid of stopped) {
    for (const signal of ["SIGCONT", "SIGTERM"] as const) {
      try {
        process.kill(pid, signal);
      } catch {
        // ended already
      }
    }
  }
  stopped.clear();
  // A set-aside master removes the socket's path when it ends (ssh does), orphaning its successor: end
  // every master of this host's socket, so that the next test starts from one connection.
  const masters = spawnSync("pgrep", ["-f", `^ssh: ${controlPath(host.alias, sshEnv)} `], { encoding: "utf8" });
  for (const pid of masters.stdout.trim().split("\n").filter(Boolean)) process.kill(Number(pid), "SIGTERM");
}

test.after(async () => {
  endStopped();
  await world?.close();
});

/** The pid of the shared connection's master, as the master itself says (ssh -O check), or undefined. */
function masterPid(): number | undefined {
  const r = spawnSync("ssh", [...sshOptions(host.alias, sshEnv), "-O", "check", host.alias], { env: sshEnv, encoding: "utf8" });
  const pid = /pid=(\d+)/.exec(r.stderr)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

function stop(pid: number): void {
  stopped.add(pid);
  process.kill(pid, "SIGSTOP");
}

/** `orch ARGS` in the background; its result, or a failure (the process killed) when it hangs past `ms`. */
async function ends(args: string[], cwd: string, ms: number): Promise<Result> {
  const run = orchAsync(args, { cwd, env: world.env });
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      run.child.kill("SIGKILL");
      reject(new Error(`orch ${args.join(" ")} did not end within ${ms / 1000} s`));
    }, ms);
  });
  return Promise.race([run.done, hang]).finally(() => clearTimeout(timer));
}

function hostWithWorker(path: string): { repo: string } {
  const { repo } = sessionRepo();
  const added = orch(["host", "add", "h", host.alias, "--path", path], { cwd: repo, env: world.env });
  assert.is(added.code, 0, added.stderr);
  const spawned = orch(["spawn", "feat/w", "--host", "h", "--no-window", "--json"], { cwd: repo, env: world.env });
  assert.is(spawned.code, 0, spawned.stderr);
  return { repo };
}

test("a master that stops answering (SIGSTOP): git and orch's own calls set it aside, a new master serves", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo } = hostWithWorker("silent/repo");
  const first = masterPid();
  assert.ok(first, "host add left a master running");
  stop(first!);
  // ssh waits for a master's hello without any limit: before, git's fetch here hung for good.
  const diff = await ends(["diff", "feat-w"], repo, 60_000);
  assert.is(diff.code, 0, diff.stderr);
  const second = masterPid();
  assert.ok(second !== undefined && second !== first, "a new master took the socket's place");
  stop(second!);
  // orch's own channel: the master's silence is noticed, and ssh, started instead, makes a new master.
  const sent = await ends(["send", "feat-w", "through a new master"], repo, 60_000);
  assert.is(sent.code, 0, sent.stderr);
  const third = masterPid();
  assert.ok(third !== undefined && third !== second, "a new master again");
  const status = await ends(["status", "--json"], repo, 60_000);
  assert.is(status.code, 0, status.stderr);
  assert.is(status.json.workers[0].status, "running");
  assert.ok(fs.existsSync(controlPath(host.alias, sshEnv)));
  endStopped();
});

test.run();
