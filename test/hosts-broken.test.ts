// Hosts whose connection breaks or hangs in the middle of things, against a real OpenSSH server and master
// (test/ssh-harness.ts): a master that stops answering is set aside instead of hanging every command, an orch
// ended by a signal mid-command leaves the shared master up for the other commands, a spawn whose
// connection broke after the host made the worker is recorded by the next spawn of it, and a control socket
// folder that no connection can use ($ORCH_SSH_CONTROL_DIR) is refused by every command that would connect.
// A host add that reaches a host after a silent spell ends its pause.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { controlPath, MAX_CONTROL_DIR_BYTES, sshOptions } from "../src/adapters/ssh.ts";
import {
  commitFiles, orch, orchAsync, regExpOf, sessionRepo, sleep, snapshot, tempDir, waitUntil, type Result,
} from "./helpers.ts";
import {
  accountCommands, orchOnHost, putLocalBinOnPath, sshSkipReason, startSshWorld, writeAsUser,
  type SshHost, type SshWorld,
} from "./ssh-harness.ts";

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
function masterPid(env = sshEnv): number | undefined {
  const check = [...sshOptions(host.alias, env), "-O", "check", host.alias];
  const r = spawnSync("ssh", check, { env, encoding: "utf8" });
  const pid = /pid=(\d+)/.exec(r.stderr)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** The host's sshd process serving the shared connection (the one that runs as the account). */
async function sshdSessionPid(): Promise<number> {
  let pids: number[] = [];
  await waitUntil(() => {
    const r = spawnSync("pgrep", ["-u", String(host.uid), "-f", `^sshd: ${host.user}@notty`], { encoding: "utf8" });
    pids = r.stdout.trim().split("\n").filter(Boolean).map(Number);
    return pids.length === 1;
  }, 30_000, "one sshd session process: the shared connection's");
  return pids[0]!;
}

function stop(pid: number): void {
  stopped.add(pid);
  process.kill(pid, "SIGSTOP");
}

function resume(pid: number): void {
  process.kill(pid, "SIGCONT");
  stopped.delete(pid);
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

function hostWithWorker(path: string): { repo: string; worktree: string } {
  const { repo } = sessionRepo();
  const added = orch(["host", "add", "h", host.alias, "--path", path], { cwd: repo, env: world.env });
  assert.is(added.code, 0, added.stderr);
  const spawned = orch(["spawn", "feat/w", "--host", "h", "--no-window", "--json"], { cwd: repo, env: world.env });
  assert.is(spawned.code, 0, spawned.stderr);
  return { repo, worktree: spawned.json.worktree_path as string };
}

test("empty polls take their answer before their channel has closed, and end once it has", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo, worktree } = hostWithWorker("polled/repo");
  const record = JSON.parse(fs.readFileSync(path.join(repo, ".orch/hosts/h.json"), "utf8"));
  assert.is(record.posix_shell, true, "bash, the account's login shell, runs orch's check itself");
  const master = masterPid();
  assert.ok(master, "a master is up");
  // Leaving the master mid-channel is what brought OpenSSH's master down: 64 polls, 8 at a time.
  for (let round = 0; round < 8; round++) {
    const polls = await Promise.all(Array.from({ length: 8 }, () => ends(["poll", "--json"], repo, 30_000)));
    for (const polled of polls) {
      assert.is(polled.code, 0, polled.stderr);
      assert.equal([polled.json.message_count, polled.stderr], [0, ""]);
    }
  }
  assert.is(masterPid(), master, "the same master serves after 64 empty polls");
  // And a message waiting there still comes through it, once.
  orchOnHost(host, worktree, ["notify", "--type", "task_complete", "--summary", "made it"]);
  const taken = orch(["poll", "--json"], { cwd: repo, env: world.env });
  assert.equal(taken.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["made it"]);
  assert.equal(orch(["poll", "--json"], { cwd: repo, env: world.env }).json.messages, []);
  assert.is(masterPid(), master);
});

test("a poll --wait longer than the host's look for a reader: the host's side keeps waiting, nothing said", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo } = hostWithWorker("quiet/repo");
  // The host's orch looks every 5 s whether its stdout still has a reader: there that is sshd's, which
  // nobody may look into. Taken for gone, the host's wait ended with an error, warned about here.
  const waited = orch(["poll", "--wait", "--timeout", "7"], { cwd: repo, env: world.env });
  assert.is(waited.code, 124, waited.stderr);
  assert.is(waited.stderr, "orch: no message within 7s\n");
});

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

test("a host that stops answering: one status waits it out; status, list and poll then pass it over; " +
  "poll --wait is not held up", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo } = hostWithWorker("frozen/repo");
  const config = path.join(path.dirname(world.env.ORCH_SSH_CONFIG!), `sshd-${host.alias}`, "sshd_config");
  const listener = spawnSync("pgrep", ["-f", `sshd -D -e -f ${config}`], { encoding: "utf8" }).stdout.trim().split("\n").map(Number);
  assert.is(listener.length, 1, "the host's sshd");
  // Its sshd and the shared connection's session stopped: connections are accepted and never answered.
  const frozen = [listener[0]!, await sshdSessionPid()];
  for (const pid of frozen) stop(pid);
  const failureFile = path.join(repo, ".orch", "hosts-unreachable", "h.json");
  try {
    // git through the shared connection, whose master holds git's pipes: ended at the start limit, with the
    // command, not when the master gives the host up (ServerAlive, half a minute later).
    const slow = { ...world.env, ORCH_SSH_START_TIMEOUT: "3" };
    const diff = orch(["diff", "feat-w", "--json"], { cwd: repo, env: slow, timeout: 20_000 });
    assert.is(diff.code, 1, diff.stderr);
    assert.match(diff.json.error.message, /did not start git-upload-pack within 3 s: the host does not answer/);
    const first = await ends(["status", "--json"], repo, 60_000);
    assert.is(first.code, 0, first.stderr);
    assert.is(first.json.workers[0].status, "unreachable");
    assert.is(JSON.parse(fs.readFileSync(failureFile, "utf8")).silent, true, "remembered as a host that let it wait");
    for (const args of [["status", "--json"], ["list", "--json"], ["poll", "--json"]]) {
      const r = await ends(args, repo, 60_000);
      assert.is(r.code, 0, r.stderr);
      const passedOver = regExpOf(
        /^orch: host h did not answer at .*: /,
        /(its workers count as unreachable|its messages wait there)/,
        / until the next try in \d+ s\n$/,
      );
      assert.match(r.stderr, passedOver);
    }
    // What its worker's window and agent do is not known here: the table does not say they are gone.
    const table = await ends(["status"], repo, 60_000);
    assert.match(table.stdout, /feat-w\s+unreachable\s+-\s+agent unknown/);
    // A listener holds a connection to every host, a silent one included: a message here, or its time
    // limit, ends it without waiting for that host (ssh's limits are 5 s; these end well before).
    assert.is(orch(["notify", "--type", "progress", "--summary", "from here"], { cwd: repo, env: world.env }).code, 0);
    const got = await ends(["poll", "--wait", "--timeout", "30", "--json"], repo, 4000);
    assert.equal(got.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["from here"]);
    const none = await ends(["poll", "--wait", "--timeout", "1", "--json"], repo, 4000);
    assert.is(none.code, 124, none.stderr);
  } finally {
    for (const pid of frozen) resume(pid);
  }
  // Back: the listener reaches it, which ends the pause at once for status and poll.
  const back = await ends(["poll", "--wait", "--timeout", "3", "--json"], repo, 60_000);
  assert.is(back.code, 124, back.stderr);
  assert.not.ok(fs.existsSync(failureFile), "the pause ended when the listener reached the host");
  const status = await ends(["status", "--json"], repo, 60_000);
  assert.is(status.json.workers[0].status, "running", status.stderr);
});

test("orch ended by a signal mid-command leaves the shared master up; an opening on its way is closed unused", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo } = hostWithWorker("signalled/repo");
  const master = masterPid();
  assert.ok(master, "a master is up");
  // The host holds the channel's opening (its sshd stopped) while orch is ended: before, the master then
  // exited at once ("chan_send_close2: channel N: no remote_id"), taking every session on it along.
  const sshd = await sshdSessionPid();
  stop(sshd);
  const send = orchAsync(["send", "feat-w", "never sent"], { cwd: repo, env: world.env });
  await sleep(1500);
  send.child.kill("SIGTERM");
  await sleep(300);
  resume(sshd);
  const ended = await send.done;
  assert.is(masterPid(), master, "the same master serves");
  assert.is(ended.code, 143, ended.stderr);
  const catInboxes = 'cat "$1"/.orch/sessions/*/workers/feat-w/inbox/*/* 2>/dev/null';
  const inboxes = host.runAs(["sh", "-c", catInboxes, "sh", `${host.home}/signalled/repo`]);
  assert.not.match(inboxes.stdout, "never sent", "the command never ran on the host");

  // Ended at any moment of a command, many times in a row.
  for (let round = 0; round < 30; round++) {
    const run = orchAsync(["send", "feat-w", `round ${round}`], { cwd: repo, env: world.env });
    await sleep(Math.random() * 60);
    run.child.kill(round % 2 === 0 ? "SIGTERM" : "SIGINT");
    // Done (0), ended as the signal would end it (128 + its number), or killed before it reached the master.
    const r = await run.done;
    assert.ok([0, 130, 143, -1].includes(r.code), `send ended with ${r.code}: ${r.stderr}`);
  }
  assert.is(masterPid(), master, "the same master serves after 30 commands ended by signals");
  const status = orch(["status", "--json"], { cwd: repo, env: world.env });
  assert.is(status.code, 0, status.stderr);
  assert.is(status.json.workers[0].status, "running");
});

test("a bad ORCH_SSH_CONTROL_DIR: every command that would reach the host refuses it, exit 2, changing nothing", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo } = hostWithWorker("badcontrol/repo");
  assert.is(orch(["diff", "feat-w"], { cwd: repo, env: world.env }).code, 0, "its branch fetched here");
  const commands = [
    ["status"], ["list"], ["poll"], ["poll", "--wait", "--timeout", "1"], ["watch"], ["await", "feat-w", "--timeout", "1"],
    ["send", "feat-w", "hello"], ["stop", "feat-w"], ["resume", "feat-w"], ["approve", "feat-w"],
    ["deny", "feat-w", "--message", "no"], ["diff", "feat-w"], ["apply", "feat-w"], ["merge", "feat-w"],
    ["land", "feat-w"], ["land"], ["sync"], ["clean"], ["rm", "feat-w", "--yes"], ["rm", "feat-w", "--delete-branch"], ["host", "list"],
    ["host", "add", "h", host.alias, "--path", "badcontrol/repo"], ["spawn", "feat/x", "--host", "h", "--no-window"],
  ];
  // status keeps a cache of what it read here (store/status-cache.ts) before it asks the hosts: made now.
  assert.is(orch(["status"], { cwd: repo, env: world.env }).code, 0);
  const before = snapshot(path.join(repo, ".orch"));
  for (const dir of ["ctl-relative", `/tmp/${"x".repeat(MAX_CONTROL_DIR_BYTES)}`]) {
    const env = { ...world.env, ORCH_SSH_CONTROL_DIR: dir };
    for (const args of commands) {
      const r = orch([...args, "--json"], { cwd: repo, env, timeout: 30_000 });
      const what = `${args.join(" ")} with ${dir}: ${r.stderr}`;
      assert.is(r.code, 2, what);
      assert.equal([r.json?.error?.code, r.stderr.trim().split("\n").length], ["invalid", 1], what);
      assert.match(r.json.error.message, /^ORCH_SSH_CONTROL_DIR /, what);
    }
    assert.not.ok(fs.existsSync(path.resolve(repo, dir)), "no folder made for it");
  }
  assert.equal(snapshot(path.join(repo, ".orch")), before, "nothing changed in the store");
  const status = orch(["status", "--json"], { cwd: repo, env: world.env });
  assert.equal([status.code, status.stderr, status.json.workers[0].status], [0, "", "running"]);
});

test("a bad ORCH_SSH_CONTROL_DIR of any kind: commands that take claims refuse it before they take one", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo, id } = sessionRepo();
  const added = orch(["host", "add", "h", host.alias, "--path", "claims/repo"], { cwd: repo, env: world.env });
  assert.is(added.code, 0, added.stderr);
  for (const args of [["feat/w", "--host", "h"], ["feat/p", "--host", "h", "--after", "feat-w"], ["feat/here"]]) {
    const spawned = orch(["spawn", ...args, "--no-window"], { cwd: repo, env: world.env });
    assert.is(spawned.code, 0, spawned.stderr);
  }
  assert.is(orch(["diff", "feat-w"], { cwd: repo, env: world.env }).code, 0, "its branch fetched here");
  // Each claim as a command killed while it held it leaves it: the next command that takes that claim
  // takes it over (and gives it back), so a claim taken before the refusal changes its file, or removes it.
  const killed = JSON.stringify({ pid: process.pid, start_time: "a process long gone" });
  const workers = path.join(repo, ".orch/sessions", id, "workers");
  const leaveClaims = () => {
    for (const claim of ["removing", "resuming", "syncing"]) {
      for (const worker of ["feat-w", "feat-here"]) fs.writeFileSync(path.join(workers, worker, claim), killed);
    }
    fs.writeFileSync(path.join(workers, "feat-p", "starting"), killed);
  };
  leaveClaims();
  assert.is(orch(["status"], { cwd: repo, env: world.env }).code, 0, "status's cache made");
  // The base moved since: a command's coherence check would tell the workers (and claim that telling).
  commitFiles(repo, { "moved.txt": "the base moved\n" }, "base moves");
  // And a worker reported since: status's cache of what it read no longer holds (status would read it again).
  const here = orch(["status", "--json"], { cwd: repo, env: world.env }).json.workers
    .find((w: { worker_id: string }) => w.worker_id === "feat-here").worktree_path as string;
  const progress = orch(["notify", "--type", "progress", "--summary", "halfway"], { cwd: here, env: world.env });
  assert.is(progress.code, 0, progress.stderr);

  const file = path.join(tempDir("orch-ctl-"), "a-file");
  fs.writeFileSync(file, "");
  const open = tempDir("orch-ctl-");
  fs.chmodSync(open, 0o755);
  const othersOwn = tempDir("orch-ctl-");
  fs.chmodSync(othersOwn, 0o700);
  // Someone else's folder needs root to make; as anyone else, the open one covers the same check.
  if (process.getuid?.() === 0) fs.chownSync(othersOwn, 65534, 65534);
  // Bad input (exit 2), or a folder that cannot be made or trusted (exit 1, as other refusals of safety).
  const notOurs = /^ssh's control socket folder .* must be a folder of yours with mode 0700/;
  const refusals: [string, number, RegExp][] = [
    ["ctl-relative", 2, /^ORCH_SSH_CONTROL_DIR ctl-relative is not an absolute path/],
    [`/tmp/${"x".repeat(MAX_CONTROL_DIR_BYTES)}`, 2, /^ORCH_SSH_CONTROL_DIR \/tmp\/x+ is over \d+ bytes/],
    [file, 1, /^cannot create ssh's control socket folder /],
    [path.join(file, "under"), 1, /^cannot create ssh's control socket folder /],
    [open, 1, notOurs],
    [othersOwn, 1, notOurs],
  ];
  const commands = [
    ["status"], ["list"], ["poll"], ["await", "feat-w", "--timeout", "1"], ["watch"],
    ["sync"], ["sync", "feat-w"], ["sync", "feat-here", "feat-w"], ["rm", "feat-w", "--yes"], ["clean"],
    ["land", "feat-w"], ["land"], ["land", "--sync"], ["merge", "feat-w"], ["resume", "feat-w"], ["stop", "feat-w"],
    ["approve", "feat-w"], ["deny", "feat-w", "--message", "no"], ["spawn", "feat/x", "--host", "h", "--no-window"],
  ];
  const store = path.join(repo, ".orch");
  const before = snapshot(store);
  const hostStore = path.join(host.home, "claims/repo/.orch");
  const hostBefore = snapshot(hostStore);
  assert.ok(hostBefore.some((line) => line.endsWith("/feat-w/")), "the host's store holds its worker");
  const changed: string[] = [];
  for (const [dir, code, says] of refusals) {
    const env = { ...world.env, ORCH_SSH_CONTROL_DIR: dir };
    for (const args of commands) {
      const r = orch([...args, "--json"], { cwd: repo, env, timeout: 30_000 });
      const what = `${args.join(" ")} with ${dir}: ${r.stderr}`;
      assert.is(r.code, code, what);
      assert.equal([r.json?.success, r.stderr.trim().split("\n").length], [false, 1], what);
      assert.match(r.json.error.message, says, what);
      const after = snapshot(store);
      const differ = [...before.filter((x) => !after.includes(x)), ...after.filter((x) => !before.includes(x))];
      if (differ.length === 0) continue;
      // Said all at once, each command's change with the claims put back for the next one.
      changed.push(`${args.join(" ")} with ${dir} changed ${differ.join(", ")}`);
      leaveClaims();
    }
  }
  assert.equal(changed, [], "the store as it was after every refusal");
  assert.equal(snapshot(hostStore), hostBefore, "and the host's, which nothing reached");
  // What they would have changed: a sync takes over the killed one's claims, and feat-here hears of its base.
  // A removal killed half-way is left for orch rm to finish: sync skips those workers, and says so.
  const halfRemoved = orch(["sync", "--json"], { cwd: repo, env: world.env });
  assert.is(halfRemoved.code, 0, halfRemoved.stderr);
  assert.equal(halfRemoved.json.synced, []);
  const halfWay = halfRemoved.json.skipped.filter((skip: { reason: string }) => /rm or clean of it was killed half-way/
    .test(skip.reason)).map((skip: { worker_id: string }) => skip.worker_id);
  assert.equal(halfWay.sort(), ["feat-here", "feat-w"], halfRemoved.stdout);
  for (const worker of ["feat-w", "feat-here"]) fs.rmSync(path.join(workers, worker, "removing"));
  const synced = orch(["sync", "--json"], { cwd: repo, env: world.env });
  assert.is(synced.code, 0, synced.stderr);
  assert.equal(synced.json.synced.sort(), ["feat-here", "feat-w"], synced.stderr);
  assert.not.ok(fs.existsSync(path.join(workers, "feat-w", "syncing")), "its claim taken over and given back");
  assert.not.ok(fs.existsSync(path.join(repo, "ctl-relative")), "no folder made for the relative one");
  assert.not.ok(fs.existsSync(path.join(file, "under")), "nor under the file");
  assert.equal([fs.statSync(open).mode & 0o777, fs.readdirSync(open)], [0o755, []], "the open folder left alone");
});

test("a worker a broken spawn left on the host is recorded by the next spawn of it, then rm works", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo, id } = sessionRepo();
  const added = orch(["host", "add", "h", host.alias, "--path", "orphan/repo"], { cwd: repo, env: world.env });
  assert.is(added.code, 0, added.stderr);
  const first = orch(["spawn", "feat/first", "--host", "h", "--no-window"], { cwd: repo, env: world.env });
  assert.is(first.code, 0, first.stderr);
  // What the host holds when the connection broke between its spawn and the answer: its session has the
  // worker, this one has no record of it (and rm here did not know it).
  const link = JSON.parse(fs.readFileSync(path.join(repo, ".orch/sessions", id, "hosts/h.json"), "utf8"));
  const remoteSpawn = ["spawn", "feat/cut", "--orch", link.remote_orchestrator_id, "--no-window", "--json"];
  orchOnHost(host, `${host.home}/orphan/repo`, remoteSpawn);
  assert.is(orch(["rm", "feat-cut", "--yes"], { cwd: repo, env: world.env }).code, 1, "not known here");
  // It finished meanwhile: the spawn that records it says so.
  orchOnHost(host, `${host.home}/orphan/repo-worktrees/feat-cut`, ["notify", "--type", "task_complete", "--summary", "done before"]);

  const again = orch(["spawn", "feat/cut", "--host", "h", "--no-window", "--json"], { cwd: repo, env: world.env });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, /feat-cut was made on host h by an earlier spawn/);
  assert.is(again.json.worktree_path, `${host.home}/orphan/repo-worktrees/feat-cut`);
  assert.is(again.json.status, "done", "its status on the host, not a fresh spawn's");
  const status = orch(["status", "--json"], { cwd: repo, env: world.env });
  assert.equal(status.json.workers.map((w: { worker_id: string }) => w.worker_id).sort(), ["feat-cut", "feat-first"]);
  const removed = orch(["rm", "feat-cut", "--yes"], { cwd: repo, env: world.env });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(fs.existsSync(`${host.home}/orphan/repo-worktrees/feat-cut`), "removed on the host");
  // Any other refusal of the host stays one: a branch spawned twice here is refused as before.
  const twice = orch(["spawn", "feat/first", "--host", "h", "--no-window"], { cwd: repo, env: world.env });
  assert.is(twice.code, 1);
  assert.match(twice.stderr, /already exists/);
});

test("a host back after a silent spell: host add again, which reaches it, ends its pause for status at once", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo } = hostWithWorker("mended/repo");
  const config = path.join(path.dirname(world.env.ORCH_SSH_CONFIG!), `sshd-${host.alias}`, "sshd_config");
  const listener = spawnSync("pgrep", ["-f", `sshd -D -e -f ${config}`], { encoding: "utf8" }).stdout.trim().split("\n").map(Number);
  const frozen = [listener[0]!, await sshdSessionPid()];
  for (const pid of frozen) stop(pid);
  const failureFile = path.join(repo, ".orch", "hosts-unreachable", "h.json");
  try {
    const waited = await ends(["status", "--json"], repo, 60_000);
    assert.is(waited.json.workers[0].status, "unreachable", waited.stderr);
    assert.is(JSON.parse(fs.readFileSync(failureFile, "utf8")).silent, true);
  } finally {
    for (const pid of frozen) resume(pid);
  }
  const again = orch(["host", "add", "h", host.alias, "--json"], { cwd: repo, env: world.env });
  assert.is(again.code, 0, again.stderr);
  assert.not.ok(fs.existsSync(failureFile), "the pause ended when host add reached the host");
  const status = await ends(["status", "--json"], repo, 60_000);
  assert.equal([status.json.workers[0].status, status.stderr], ["running", ""]);
});

/**
 * The host's orch as a wrapper that, while the file `hold` exists, holds back the answer of a send after
 * delivering it (and says so with the file `delivered`): the connection can be broken with the answer lost.
 */
function holdSendAnswers(hold: string, delivered: string): () => void {
  const installed = path.join(host.home, ".local/bin/orch");
  const real = `${installed}.real`;
  fs.renameSync(installed, real);
  const script = [
    "#!/bin/sh",
    `[ "$1" = send ] && [ -e ${hold} ] || exec ${real} "$@"`,
    `out=$(${real} "$@"); code=$?; : > ${delivered}`,
    `while [ -e ${hold} ]; do sleep 0.1; done; printf '%s\\n' "$out"; exit $code`,
  ].join("\n");
  writeAsUser(host, ".local/bin/orch", `${script}\n`, 0o755);
  return () => fs.renameSync(real, installed);
}

test("send whose connection breaks after the host delivered: the message arrives once, sent again or not", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo, worktree } = hostWithWorker("unsure/repo");
  const hold = path.join(host.home, "hold-sends");
  const delivered = path.join(host.home, "send-delivered");
  const restore = holdSendAnswers(hold, delivered);
  // A client config of its own, so that the host can be made unreachable for new connections only.
  const config = path.join(repo, ".orch", "ssh_config");
  fs.copyFileSync(world.env.ORCH_SSH_CONFIG!, config);
  const env = { ...world.env, ORCH_SSH_CONFIG: config };
  const inbox = () => JSON.parse(orchOnHost(host, worktree, ["inbox", "--json"]))
    .messages.map((m: { content: { text: string } }) => m.content.text);
  /** Sends `text`, killing the shared connection's master once the host's orch has delivered it. */
  const sendBroken = async (text: string, thenUnreachable: boolean): Promise<Result> => {
    fs.writeFileSync(hold, "");
    const run = orchAsync(["send", "feat-w", text], { cwd: repo, env });
    await waitUntil(() => fs.existsSync(delivered), 60_000, "the host's send to deliver");
    if (thenUnreachable) fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace(/^(\s*Port) \d+$/m, "$1 1"));
    process.kill(masterPid({ ...sshEnv, ...env })!, "SIGKILL");
    fs.rmSync(hold);
    fs.rmSync(delivered);
    return run.done;
  };
  try {
    // The master killed: sent again at once over a new connection, delivered once.
    const first = await sendBroken("first", false);
    assert.is(first.code, 0, first.stderr);
    assert.equal(inbox(), ["first"]);
    // The host unreachable for the second try: orch says it may have arrived; sent again, it is not doubled.
    const second = await sendBroken("second", true);
    assert.is(second.code, 1, second.stderr);
    assert.match(second.stderr, /unreachable.*may have arrived there \(.*\): orch send with the same text again delivers it once/);
    assert.is(second.stderr.trim().split("\n").length, 1, second.stderr);
    fs.copyFileSync(world.env.ORCH_SSH_CONFIG!, config);
    const sentAgain = orch(["send", "feat-w", "second"], { cwd: repo, env });
    assert.is(sentAgain.code, 0, sentAgain.stderr);
    assert.equal(inbox(), ["second"], "the second message once");
  } finally {
    restore();
    const master = masterPid({ ...sshEnv, ...env });
    if (master !== undefined) process.kill(master, "SIGTERM");
  }
});

/**
 * The host's orch as a wrapper that, while the file `hold` exists, has the first send or spawn wait for the
 * file `cut` before it runs, reading nothing meanwhile (its input waits in the pipe, and the connection is
 * killed under it); the others wait until that first one has ended (it then removes `hold`).
 */
function cutFirstInput(hold: string, cut: string): () => void {
  const installed = path.join(host.home, ".local/bin/orch");
  const real = `${installed}.real`;
  fs.renameSync(installed, real);
  const script = [
    "#!/bin/sh",
    `case $1 in send|spawn) [ -e ${hold} ] || exec ${real} "$@" ;; *) exec ${real} "$@" ;; esac`,
    `if mkdir ${hold}.first 2>/dev/null; then : > ${hold}.waiting`,
    `  while [ ! -e ${cut} ]; do sleep 0.1; done; ${real} "$@"; code=$?; rm -rf ${hold} ${hold}.first; exit $code; fi`,
    `while [ -e ${hold} ]; do sleep 0.1; done; exec ${real} "$@"`,
  ].join("\n");
  writeAsUser(host, ".local/bin/orch", `${script}\n`, 0o755);
  return () => fs.renameSync(real, installed);
}

test("a send and a spawn whose connection ends mid-text: the host takes no part of it; sent again whole, once; " +
  "an older orch there takes it without its length", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo, worktree } = hostWithWorker("cut/repo");
  const hold = path.join(host.home, "hold-input");
  const cut = path.join(host.home, "cut-input");
  const restore = cutFirstInput(hold, cut);
  // Larger than the pipe the host's orch reads from (64 KiB): what the connection had carried past it is lost.
  const text = (n: string) => `${n}:${"0123456789abcdef".repeat(32 * 1024)}:end`;
  /** `args` with `input`, the shared connection's master killed while the host's orch waits to read it. */
  const cutMidText = async (args: string[], input: string): Promise<Result> => {
    fs.writeFileSync(hold, "");
    const run = orchAsync(args, { cwd: repo, env: world.env, input });
    await waitUntil(() => fs.existsSync(`${hold}.waiting`), 60_000, "the host's orch to wait");
    process.kill(masterPid()!, "SIGKILL");
    fs.writeFileSync(cut, "");
    const result = await run.done;
    await waitUntil(() => !fs.existsSync(hold), 60_000, "the cut command's end on the host");
    fs.rmSync(cut);
    fs.rmSync(`${hold}.waiting`);
    return result;
  };
  try {
    // Sent again at once over a new connection (the same message id): the text arrives whole, once.
    const sent = await cutMidText(["send", "feat-w", "-"], text("send"));
    assert.is(sent.code, 0, sent.stderr);
    const inbox = JSON.parse(orchOnHost(host, worktree, ["inbox", "--json"])).messages;
    assert.equal(inbox.map((m: { content: { text: string } }) => m.content.text), [text("send")], "whole, once");
    // A spawn is not sent again: it fails as unreachable, and the host made nothing of half a prompt.
    const spawned = await cutMidText(["spawn", "feat/cut", "--host", "h", "--no-window", "-"], text("spawn"));
    assert.is(spawned.code, 1, spawned.stderr);
    assert.match(spawned.stderr, /unreachable/);
    assert.not.ok(fs.existsSync(`${host.home}/cut/repo-worktrees/feat-cut`), "no worker made on the host");
    const again = orch(["spawn", "feat/cut", "--host", "h", "--no-window", "-", "--json"],
      { cwd: repo, env: world.env, input: text("spawn") });
    assert.is(again.code, 0, again.stderr);
    assert.not.match(again.stderr, /earlier spawn/, "a new worker, not one made of the cut spawn");
  } finally {
    restore();
  }
  // An orch on the host older than --stdin-bytes refuses it, as cac does: sent without it, as before.
  const installed = path.join(host.home, ".local/bin/orch");
  fs.renameSync(installed, `${installed}.real`);
  const refused = path.join(host.home, "refused-stdin-bytes");
  const older = [
    "#!/bin/sh",
    `for a; do [ "$a" = --stdin-bytes ] || continue; : > ${refused}`,
    `  echo '{"success":false,"error":{"code":"usage","message":"unknown option \`--stdinBytes\`"}}'; exit 2; done`,
    `exec ${installed}.real "$@"`,
  ].join("\n");
  writeAsUser(host, ".local/bin/orch", `${older}\n`, 0o755);
  try {
    const sent = orch(["send", "feat-w", "-"], { cwd: repo, env: world.env, input: "to an older orch" });
    assert.is(sent.code, 0, sent.stderr);
    assert.ok(fs.existsSync(refused), "asked with --stdin-bytes first");
    const inbox = JSON.parse(orchOnHost(host, worktree, ["inbox", "--json"])).messages;
    assert.equal(inbox.map((m: { content: { text: string } }) => m.content.text), ["to an older orch"]);
  } finally {
    fs.renameSync(`${installed}.real`, installed);
  }
});

/** The git fetches running in `dir` (from /proc). */
function gitFetchesIn(dir: string): string[] {
  return fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name)).flatMap((pid) => {
    try {
      const command = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      return command.startsWith("git fetch") && fs.readlinkSync(`/proc/${pid}/cwd`) === dir ? [command] : [];
    } catch {
      return []; // ended meanwhile
    }
  });
}

test("diff, apply and land whose connection ends mid-fetch: one line saying so, exit 1, nothing left", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", host.alias, "--path", "midfetch/repo"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "feat/far", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  host.runAs(["sh", "-c", 'cd "$1" && echo far > far.txt && git add far.txt && git commit -qm Far', "w", worktree]);
  if (!fs.readFileSync(path.join(host.home, ".bashrc"), "utf8").includes(".local/bin")) putLocalBinOnPath(host);
  // While ~/hold-fetch is there, the host's upload-pack holds the first fetch (it made ~/held) and refuses
  // the others once that one is held (~/.local/bin first on its PATH).
  const hold = [
    "#!/bin/sh",
    'if [ -e "$HOME/hold-fetch" ] && ! mkdir "$HOME/held" 2>/dev/null; then echo "refused for the test" >&2; exit 1; fi',
    'while [ -e "$HOME/hold-fetch" ]; do sleep 0.1; done',
    'exec git upload-pack "$@"',
  ].join("\n");
  writeAsUser(host, ".local/bin/git-upload-pack", hold, 0o755);
  const gitState = () => ["for-each-ref", "status --porcelain --ignored=no"]
    .map((args) => spawnSync("git", args.split(" "), { cwd: repo, encoding: "utf8" }).stdout);
  const before = gitState();
  const held = () => accountCommands(host.uid).some((c) => c.includes("git-upload-pack"));
  // The host's sshd, then only orch's shared connection here (its master).
  const ends = [
    ["diff", () => host.stop(), () => host.start()],
    ["apply", () => process.kill(masterPid()!, "SIGTERM"), async () => undefined],
  ] as const;
  try {
    for (const [command, end, restore] of ends) {
      fs.rmSync(path.join(host.home, "held"), { recursive: true, force: true });
      writeAsUser(host, "hold-fetch", "");
      const run = orchAsync([command, "feat/far", "--json"], { cwd: repo, env: world.env });
      await waitUntil(held, 90_000, `${command}'s fetch on the host`);
      end();
      const r = await run.done;
      fs.rmSync(path.join(host.home, "hold-fetch"), { force: true });
      await restore();
      assert.is(r.code, 1, r.stderr);
      assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.json.error.message, /could not fetch feat\/far from host alpha: the connection to the host ended/);
      assert.equal(gitState(), before, `${command} changed nothing`);
    }
    // land of two workers whose fetches run at once: the host refuses one while it holds the other (see hold):
    // land fails once that fetch has ended, never leaving its git fetch to write here after it.
    const near = orch(["spawn", "feat/near", "--host", "alpha", "--no-window"], { cwd: repo, env });
    assert.is(near.code, 0, near.stderr);
    const headOf = () => spawnSync("git", ["rev-parse", "HEAD"], { cwd: repo, encoding: "utf8" }).stdout;
    const head = headOf();
    writeAsUser(host, "hold-fetch", "");
    fs.rmSync(path.join(host.home, "held"), { recursive: true, force: true });
    const land = orchAsync(["land", "feat/far", "feat/near", "--json"], { cwd: repo, env });
    let fetchesLeft: string[] | undefined;
    const landed = land.done.then((r) => {
      fetchesLeft = gitFetchesIn(repo);
      return r;
    });
    await waitUntil(() => held() || fetchesLeft !== undefined, 90_000, "land's fetch on the host");
    await Promise.race([landed, sleep(3000)]);
    fs.rmSync(path.join(host.home, "hold-fetch"), { force: true });
    const r = await landed;
    assert.is(r.code, 1, r.stderr);
    assert.match(r.json.error.message, /could not fetch feat\/(far|near) from host alpha: refused for the test/);
    assert.equal(fetchesLeft, [], "no git fetch outlives land");
    assert.is(headOf(), head, "the base did not move");
  } finally {
    fs.rmSync(path.join(host.home, "hold-fetch"), { force: true });
    fs.rmSync(path.join(host.home, ".local/bin/git-upload-pack"), { force: true });
  }
  const diff = orch(["diff", "feat/far", "--json"], { cwd: repo, env: world.env });
  assert.is(diff.code, 0, diff.stderr);
  assert.match(JSON.stringify(diff.json), /far\.txt/);
});

/**
 * The host's orch replaced by one that first runs ~/hostile.sh (which may answer and exit), else the real one;
 * `body(answer)` sets that script's case for $1 (the command). The real orch is put back after.
 */
async function withHostileOrch(body: (answer: (script: string) => void) => Promise<void> | void): Promise<void> {
  const bin = `${host.home}/.local/bin`;
  host.runAs(["cp", `${bin}/orch`, `${bin}/orch.real`]);
  writeAsUser(host, ".local/bin/orch", '#!/bin/sh\n[ -f "$HOME/hostile.sh" ] && . "$HOME/hostile.sh"\n' +
    'exec "$HOME/.local/bin/orch.real" "$@"\n', 0o755);
  try {
    // Only in the clone "target": another host name's clone on the same account gets the real orch.
    const only = (script: string) => `[ "\${PWD##*/}" = target ] && case "$1" in ${script};; esac\n`;
    await body((script) => writeAsUser(host, "hostile.sh", only(script)));
  } finally {
    host.runAs(["rm", "-f", `${host.home}/hostile.sh`]);
    host.runAs(["mv", "-f", `${bin}/orch.real`, `${bin}/orch`]);
  }
}

/** A line the hostile orch prints: `doc` as JSON, quoted for sh. */
const printed = (doc: unknown) => `printf '%s\\n' '${JSON.stringify(doc)}'`;

test("a host's orch that answers anything: no escape reaches the terminal, nothing is taken for another " +
  "worker's or written outside the store, no crash", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const { repo, id } = sessionRepo();
  const run = (args: string[]) => orch(args, { cwd: repo, env: world.env });
  assert.is(run(["host", "add", "h", host.alias, "--path", "hostile/target"]).code, 0);
  assert.is(run(["spawn", "feat/w", "--host", "h", "--no-window"]).code, 0);
  assert.is(run(["spawn", "feat/local", "--no-window", "--agent", "none"]).code, 0);
  assert.is(run(["host", "add", "h2", host.alias, "--path", "hostile/other"]).code, 0);
  assert.is(run(["spawn", "feat/b", "--host", "h2", "--no-window"]).code, 0);
  const session = JSON.parse(fs.readFileSync(path.join(repo, ".orch/sessions", id, "hosts/h.json"), "utf8"));
  // Something in the mailbox there, so that a poll runs orch there at all.
  const bait = `hostile/target/.orch/sessions/${session.remote_orchestrator_id}/mail/new/bait.json`;
  writeAsUser(host, bait, "{}");
  const message = (id: string, worker: string, at: string) =>
    ({ id, worker_id: worker, message_type: "task_complete", content: { summary: id }, created_at: at });
  await withHostileOrch(async (answer) => {
    const error = { code: "failed", message: "\u001b]0;retitled\u0007\u001b[2J" };
    answer(`status) ${printed({ success: false, error })}; exit 1`);
    const status = run(["status"]);
    assert.not.ok(status.stderr.includes("\u001b"), status.stderr);
    assert.match(status.stderr, /orch status: \\x1b\]0;retitled\\x07/);
    // Fields of the wrong type are the view here.
    const view = { worker_id: "feat-w", branch: { a: 1 }, status: null, alive: "yes", ahead: "x", waiting_for: 5 };
    answer(`status) ${printed({ success: true, unread_count: "lots", workers: [view] })}; exit 0`);
    for (const command of ["status", "list"]) {
      const shown = run([command]);
      assert.is(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /feat-w +running/);
    }
    // A spawn there answering with an id that is a path: nothing recorded, nothing written outside.
    const made = { success: true, worker_id: "../../../../../escaped", worktree_path: "/x", base_commit: "abc" };
    answer(`spawn) "$HOME/.local/bin/orch.real" "$@" >/dev/null; ${printed(made)}; exit 0`);
    const spawned = run(["spawn", "feat/x", "--host", "h", "--no-window"]);
    assert.is(spawned.code, 1, spawned.stderr);
    assert.match(spawned.stderr, /answered worker id \.\.\/.*escaped, not feat-x/);
    assert.not.ok(fs.existsSync(path.join(path.dirname(repo), "escaped")));
    // One answering a git option for its base (which git log, in apply and land, would take): the same.
    const output = path.join(path.dirname(repo), "written");
    const optionBase = { success: true, worker_id: "feat-y", worktree_path: "/x", base_commit: `--output=${output}` };
    answer(`spawn) "$HOME/.local/bin/orch.real" "$@" >/dev/null; ${printed(optionBase)}; exit 0`);
    const optioned = run(["spawn", "feat/y", "--host", "h", "--no-window"]);
    assert.is(optioned.code, 1, optioned.stderr);
    assert.match(optioned.stderr, /answered base commit --output=.*, which is no commit id/);
    // A clock at the end of time: its worker's message is still taken.
    const poll = (doc: unknown) => {
      answer(`__lifeline) ${printed(doc)}; read ack; exit 0`);
      const polled = run(["poll", "--json"]);
      assert.is(polled.code, 0, polled.stderr);
      return polled.json.messages.map((m: { id: string }) => m.id);
    };
    const late = message("msg_aaaaaaaaaaaaaaaaaaa", "feat-w", "-271821-04-20T00:00:00.000Z");
    assert.equal(poll({ success: true, message_count: 1, now: "+275760-09-13T00:00:00.000Z", messages: [late] }),
      ["msg_aaaaaaaaaaaaaaaaaaa"]);
    // A message naming the worker here, or one of another host: not taken for theirs.
    const now = new Date().toISOString();
    const forged = ["feat-local", "feat-b"].map((w, i) => message(`msg_bbbbbbbbbbbbbbbbbb${i}`, w, now));
    assert.equal(poll({ success: true, message_count: 2, now, messages: forged }), []);
    assert.not.match(fs.readdirSync(path.join(repo, ".orch/sessions", id, "workers/feat-local/events")).join(), /bbb/);
    // A field poll prints as text that is none: left out, the rest printed.
    const oddText = { ...message("msg_ccccccccccccccccccc", "feat-w", now), content: { summary: "odd", details: 5 } };
    answer(`__lifeline) ${printed({ success: true, message_count: 1, now, messages: [oddText] })}; read ack; exit 0`);
    const shownPoll = run(["poll"]);
    assert.is(shownPoll.code, 0, shownPoll.stderr);
    assert.match(shownPoll.stdout, /task_complete feat-w: odd/);
    // Its await answering for a worker of another host (the same account, another clone) too: that one is
    // still running, as its own host says.
    const doneElsewhere = { worker_id: "feat-b", branch: "feat/b", status: "done", final_message: "forged" };
    const doneThere = { worker_id: "feat-w", branch: "feat/w", status: "done", final_message: "ok" };
    const answered = printed({ success: true, workers: [doneThere, doneElsewhere] });
    answer(`__lifeline) ${answered}; read ack; exit 0`);
    const awaited = run(["await", "feat-w", "feat-b", "--timeout", "2", "--json"]);
    assert.is(awaited.code, 124, awaited.stderr);
    const other = awaited.json.workers.find((w: { worker_id: string }) => w.worker_id === "feat-b");
    assert.is(other.status, "running");
    // An answer whose fields have the wrong type: await prints it.
    const odd = { worker_id: "feat-w", branch: "feat/w", status: "pending", after: "x", needs: "go" };
    answer(`__lifeline) ${printed({ success: true, workers: [odd] })}; read ack; exit 0`);
    const printedAwait = run(["await", "feat-w", "--timeout", "5"]);
    assert.is(printedAwait.code, 0, printedAwait.stderr);
    assert.match(printedAwait.stdout, /feat-w pending - needs: go/);
    // A sync whose host answers without saying what came of it: one line, no crash.
    commitFiles(repo, { "moved.txt": "the base moves on\n" }, "Move the base");
    answer(`__coherence) ${printed({ success: true })}; exit 0`);
    const synced = run(["sync", "feat-w"]);
    assert.is(synced.code, 0, synced.stderr);
    assert.match(synced.stdout, /skipped +feat-w +on host h: orch's sync there gave no answer orch can read/);
    // Hundreds of MB for an answer: one line, not read further (also without the shared connection).
    for (const [command, env] of [["status", {}], ["status", { ORCH_SSH_NO_MUX: "1" }], ["__lifeline", {}]] as const) {
      answer(`${command}) head -c 300000000 /dev/zero; exit 0`);
      const huge = orch(command === "status" ? ["status"] : ["poll"], { cwd: repo, env: { ...world.env, ...env } });
      assert.is(huge.code, 0, huge.stderr);
      assert.match(huge.stderr, /printed more than 256 MiB, which no answer of orch's is/);
    }
  });
  host.runAs(["rm", "-f", path.join(host.home, bait)]);
});

test.run();
