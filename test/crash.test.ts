// Crashes and restarts: a tmux server killed under running workers, whose window ids the next server hands
// out again; a reporter killed between claiming a dead agent's report and sending it. Real processes in a
// private tmux server, scripted agents (shell scripts); a worker's branch deleted by hand.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  baseEnv, commitFiles, git, gitOk, orch, orchAsync, orchCommand, privateTmux, sessionRepo, smallDisk, snapshot,
  polledReport, sleepingAgent, slowWorker, startTime, tempDir, tmux, waitUntil,
} from "./helpers.ts";

interface StatusRow {
  worker_id: string;
  status: string;
  window_id: string | null;
  window_alive: boolean;
  agent_alive: boolean;
}

function statusRows(repo: string, env: Record<string, string | undefined>): Map<string, StatusRow> {
  const r = orch(["status", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return new Map((r.json.workers as StatusRow[]).map((w) => [w.worker_id, w]));
}

test("after tmux restarts, a dead worker's window id is another's: stop, resume and rm leave that one alone", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = sleepingAgent();
  const old = orch(["spawn", "old", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(old.code, 0, old.stderr);
  await waitUntil(() => statusRows(repo, env).get("old")?.agent_alive === true, 20_000, "the first agent to start");
  tmux(["kill-server"], env);
  await waitUntil(() => statusRows(repo, env).get("old")?.status === "failed", 20_000, "the first worker to fail");

  const fresh = orch(["spawn", "fresh", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(fresh.code, 0, fresh.stderr);
  assert.is(fresh.json.window_id, old.json.window_id, "the new server hands the same window id out again");
  await waitUntil(() => statusRows(repo, env).get("fresh")?.agent_alive === true, 20_000, "the second agent to start");
  const oldRow = statusRows(repo, env).get("old");
  assert.is(oldRow?.window_alive, false, "the old worker's window is gone, whatever its id names now");

  const stopped = orch(["stop", "old", "--json"], { cwd: repo, env });
  assert.is(stopped.code, 0, stopped.stderr);
  assert.is(stopped.json.window_closed, false);
  const resumed = orch(["resume", "old", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.window_reused, false, "a new window, not the other worker's");
  assert.is.not(resumed.json.window_id, fresh.json.window_id);
  await waitUntil(() => statusRows(repo, env).get("old")?.agent_alive === true, 20_000, "the resumed agent to start");
  const removed = orch(["rm", "old", "--force", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.window_closed, true, "its own new window is closed");

  const survivor = statusRows(repo, env).get("fresh");
  assert.is(survivor?.status, "running");
  assert.is(survivor?.agent_alive, true, "the other worker's agent still runs");
  assert.is(survivor?.window_alive, true);
  tmux(["kill-server"], env);
});

function gone(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return true;
  }
}

function failures(repo: string, env: Record<string, string | undefined>): string[] {
  const r = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  return (r.json.messages as { message_type: string; worker_id: string }[])
    .filter((m) => m.message_type === "task_failed").map((m) => m.worker_id);
}

/** Once the worker's agent has started: its pid, and the runner's (the window's process, which started it). */
async function agentAndRunner(
  pidFile: string, windowId: string, env: Record<string, string | undefined>,
): Promise<{ agentPid: number; runnerPid: number }> {
  await waitUntil(() => fs.existsSync(pidFile), 20_000, "the agent's pid");
  const agentPid = Number(fs.readFileSync(pidFile, "utf8").split(" ")[0]);
  const panePid = Number(tmux(["display-message", "-p", "-t", windowId, "#{pane_pid}"], env));
  const runnerPid = Number(spawnSync("pgrep", ["-P", String(panePid)], { encoding: "utf8" }).stdout.trim().split("\n")[0]);
  assert.ok(runnerPid > 0, "the runner runs in the window");
  return { agentPid, runnerPid };
}

test("a reporter killed after claiming a dead agent's report, before sending it: the next poll sends it, once", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const spawned = orch(["spawn", "lost", "--agent", sleepingAgent(), "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const workerDir = path.join(repo, ".orch", "sessions", id, "workers", "lost");
  const pidFile = path.join(workerDir, "agent.pid");
  const { agentPid, runnerPid } = await agentAndRunner(pidFile, spawned.json.window_id, env);
  const marker = path.join(workerDir, "ended");
  const claimBy = (pid: number, start: string) => JSON.stringify({
    error: "its tmux window was closed", message_id: "msg_0hoer000000000000000",
    reporter_pid: pid, reporter_start_time: start,
  });
  const runnerClaim = claimBy(runnerPid, startTime(runnerPid));

  // A reporter that still runs (this test) is left to send its report.
  fs.writeFileSync(marker, claimBy(process.pid, startTime(process.pid)));
  for (const pid of [runnerPid, agentPid]) process.kill(pid, "SIGKILL");
  await waitUntil(() => gone(runnerPid) && gone(agentPid), 10_000, "the runner and the agent to die");
  assert.equal(failures(repo, env), [], "nothing while the claim's reporter runs");

  // The runner had claimed it, and was killed before it sent the message (as a reboot kills everything).
  fs.writeFileSync(marker, runnerClaim);
  assert.equal(failures(repo, env), ["lost"], "the abandoned report is sent");
  assert.equal(failures(repo, env), [], "and only once");
  assert.is(statusRows(repo, env).get("lost")?.status, "failed");
  assert.equal(failures(repo, env), [], "status does not send it again");
});

test("a poll between an agent's end and its runner's report leaves the report to the runner, which says more", async () => {
  const { repo, env, windowId, pidFile } = slowWorker();
  const { agentPid, runnerPid } = await agentAndRunner(pidFile, windowId, env);

  // The machine is too busy to run the runner when its agent ends: here, it is stopped until the polls are done.
  process.kill(runnerPid, "SIGSTOP");
  try {
    process.kill(agentPid, "SIGKILL");
    await waitUntil(() => gone(agentPid), 10_000, "the agent to die");
    assert.equal(failures(repo, env), [], "nothing while the runner that reports it lives");
    const row = statusRows(repo, env).get("slow");
    assert.is(row?.status, "running");
    assert.is(row?.agent_alive, false, "status shows the agent gone meanwhile");
  } finally {
    process.kill(runnerPid, "SIGCONT");
  }
  const seen = await polledReport(repo, env);
  assert.is(seen.length, 1, JSON.stringify(seen));
  assert.is(seen[0]!.message_type, "task_failed");
  assert.is(seen[0]!.content.error, "the agent exited with code 137 without reporting", "the runner's words");
  assert.match(seen[0]!.content.details ?? "", /working on it/);
  assert.equal(failures(repo, env), [], "and only once");
  tmux(["kill-server"], env);
});

test("an agent that ends while the store's disk is full: its report is sent by the next poll once there is room", async () => {
  const disk = smallDisk("512k");
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  const mount = disk.dir;
  try {
    const { repo } = sessionRepo();
    const env = { ...privateTmux(), ORCH_HOME: path.join(mount, "store") };
    assert.is(orch(["init"], { cwd: repo, env }).code, 0);
    const go = path.join(tempDir("orch-go-"), "go");
    const script = path.join(tempDir("orch-agent-"), "agent.sh");
    fs.writeFileSync(script, ["#!/bin/sh", `while [ ! -e ${go} ]; do sleep 0.1; done`, "exit 3", ""].join("\n"), { mode: 0o755 });
    const spawned = orch(["spawn", "full", "--agent", script, "--json"], { cwd: repo, env });
    assert.is(spawned.code, 0, spawned.stderr);
    const session = fs.readdirSync(path.join(mount, "store", "sessions"))[0]!;
    const pidFile = path.join(mount, "store", "sessions", session, "workers", "full", "agent.pid");
    const { runnerPid } = await agentAndRunner(pidFile, spawned.json.window_id, env);
    const filler = disk.fill(0);
    fs.writeFileSync(go, "");
    await waitUntil(() => gone(runnerPid), 20_000, "the runner to end, its report not written");
    fs.rmSync(filler);
    assert.equal(failures(repo, env), ["full"], "the report is sent");
    assert.equal(failures(repo, env), [], "once");
    assert.is(statusRows(repo, env).get("full")?.status, "failed");
  } finally {
    disk.unmount();
  }
});

test("a worker's branch deleted by hand: land, merge and apply say so in one line; rm still clears it", () => {
  const { repo } = sessionRepo();
  const spawned = orch(["spawn", "feat/gone", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  commitFiles(spawned.json.worktree_path, { "gone.txt": "work\n" }, "work");
  git(["update-ref", "-d", "refs/heads/feat/gone"], repo);
  const head = git(["rev-parse", "HEAD"], repo);
  for (const args of [["land", "feat-gone"], ["merge", "feat-gone", "--local"], ["apply", "feat-gone"]]) {
    const r = orch(args, { cwd: repo });
    assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.is(r.stderr.trim(), "orch: branch feat/gone of worker feat-gone no longer exists", args[0]);
  }
  assert.is(git(["rev-parse", "HEAD"], repo), head, "nothing moved");
  const removed = orch(["rm", "feat-gone", "--force"], { cwd: repo });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1, "no worktree left");
});

function windowNames(env: Record<string, string | undefined>): string[] {
  const ask = ["list-windows", "-a", "-F", "#{window_name}"];
  const listed = spawnSync("tmux", ask, { env: baseEnv(env), encoding: "utf8" });
  return listed.status === 0 ? listed.stdout.split("\n").filter(Boolean) : []; // no server: no window
}

test("spawn interrupted while tmux opens its window: the window is closed too, and nothing reported", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  // tmux makes the window, then SIGTERM reaches orch (the Ctrl-C of a user) before tmux has said which one.
  const bin = tempDir("orch-tmux-bin-");
  const realTmux = spawnSync("sh", ["-c", "command -v tmux"], { encoding: "utf8" }).stdout.trim();
  fs.writeFileSync(path.join(bin, "tmux"), [
    "#!/bin/sh",
    'case "$1" in new-window|new-session) ;; *) exec ' + realTmux + ' "$@" ;; esac',
    `out=$(${realTmux} "$@"); code=$?`,
    '[ "$code" = 0 ] && { kill -TERM $PPID; sleep 1; }',
    'printf "%s\\n" "$out"; exit $code',
    "",
  ].join("\n"), { mode: 0o755 });
  const spawnEnv = { ...env, PATH: `${bin}:${baseEnv().PATH}` };
  const spawned = orch(["spawn", "cut", "--agent", sleepingAgent()], { cwd: repo, env: spawnEnv });
  assert.is(spawned.code, 143, spawned.stderr);
  assert.match(spawned.stderr, /interrupted by SIGTERM/);
  await waitUntil(() => windowNames(env).length === 0, 20_000, `the window to close (left: ${windowNames(env)})`);
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1, "no worktree left");
  assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/cut"], repo), "no branch left");
  const listed = orch(["status", "--json"], { cwd: repo, env });
  assert.equal(listed.json.workers, [], "no worker");
  assert.equal(failures(repo, env), [], "no failure told for a worker that the spawn undid");
});

test("rm of one worker twice at once: one removes it, the other says why; a killed rm's claim is taken", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const agent = sleepingAgent();
  for (const name of ["r1", "r2", "r3"]) {
    assert.is(orch(["spawn", name, "--agent", agent], { cwd: repo, env }).code, 0);
    const rm = ["rm", name, "--force", "--yes", "--delete-branch"];
    const both = [0, 1].map(() => orchAsync(rm, { cwd: repo, env }).done);
    const results = await Promise.all(both);
    assert.equal(results.map((r) => r.code).sort(), [0, 1], results.map((r) => r.stderr).join(""));
    const loser = results.find((r) => r.code === 1)!;
    const why = [
      `orch: worker ${name} is being removed by another orch command`,
      `orch: no worker "${name}" in session ${id}`,
      `orch: no worker ${name}: another orch command removed it meanwhile`,
    ];
    assert.ok(why.includes(loser.stderr.trim()), loser.stderr);
    assert.not.ok(gitOk(["rev-parse", "--verify", `refs/heads/${name}`], repo), "its branch is gone");
  }
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1, "no worktree left");
  assert.equal(windowNames(env), [], "no window left");

  // The same instant made deterministic: a live command's claim refuses, changing nothing; a dead one's is taken over.
  assert.is(orch(["spawn", "held", "--agent", agent], { cwd: repo, env }).code, 0);
  const claim = path.join(repo, ".orch", "sessions", id, "workers", "held", "removing");
  fs.writeFileSync(claim, JSON.stringify({ pid: process.pid, start_time: startTime(process.pid) }));
  const refused = orch(["rm", "held", "--force"], { cwd: repo, env });
  assert.is(refused.code, 1);
  assert.is(refused.stderr.trim(), "orch: worker held is being removed by another orch command");
  assert.is(statusRows(repo, env).get("held")?.status, "running", "nothing was stopped");
  const dead = spawnSync("true");
  fs.writeFileSync(claim, JSON.stringify({ pid: dead.pid, start_time: "1" }));
  const removed = orch(["rm", "held", "--force"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(statusRows(repo, env).get("held"), undefined);
});

test("a worker removed while land tests it: land still lands the tested commit and says so, exit 0", () => {
  const { repo } = sessionRepo();
  const spawned = orch(["spawn", "going", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  commitFiles(spawned.json.worktree_path, { "going.txt": "work\n" }, "work");
  const before = git(["rev-parse", "main"], repo);
  // The user's rm lands between land's test and its record of the landing (the test command runs it).
  const removeMeanwhile = `${orchCommand()[0]} rm going --force --yes --delete-branch >&2`;
  const landed = orch(["land", "going", "--test", removeMeanwhile, "--json"], { cwd: repo });
  assert.is(landed.code, 0, landed.stderr);
  assert.is.not(git(["rev-parse", "main"], repo), before, "main moved");
  assert.is(git(["show", "main:going.txt"], repo), "work", "to the tested commit, with the worker's work");
  assert.is(git(["status", "--porcelain", "--untracked-files=no"], repo), "", "the main worktree is clean");
  assert.equal(orch(["status", "--json"], { cwd: repo }).json.workers, []);
});

/**
 * PATH with a stand-in for `program` that runs the real one and SIGKILLs the orch that called it at the
 * chosen point: before or after the call whose first two arguments match `call` (a sh case pattern),
 * after it only when it succeeded; `nth` of those calls (1 = the first).
 */
function killedAt(program: string, call: string, when: "before" | "after", nth = 1): Record<string, string> {
  const bin = tempDir("orch-kill-bin-");
  const real = spawnSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" }).stdout.trim();
  const count = path.join(bin, "count");
  const hit = `{ n=$(($(cat ${count} 2>/dev/null || echo 0) + 1)); echo $n > ${count}; [ $n = ${nth} ]; }`;
  fs.writeFileSync(path.join(bin, program), [
    "#!/bin/sh",
    `case "$1 $2" in ${call.replaceAll(" ", "\\ ")}) ;; *) exec ${real} "$@" ;; esac`,
    ...(when === "before" ? [`${hit} && kill -KILL $PPID`, `exec ${real} "$@"`] : [
      `${real} "$@"; code=$?`,
      `[ $code = 0 ] && ${hit} && kill -KILL $PPID`,
      "exit $code",
    ]),
    "",
  ].join("\n"), { mode: 0o755 });
  return { PATH: `${bin}:${baseEnv().PATH}` };
}

/** The process group of this shell, killed -9 (as the OOM killer or a closed terminal's SIGKILL ends a command). */
const KILL_GROUP = "/bin/kill -KILL -- -$(ps -o pgid= -p $$ | tr -d ' ')";

test("merge --local killed -9 with git before its commit: main as it was, nothing staged; the next merge merges", async () => {
  const { repo } = sessionRepo();
  const spawned = orch(["spawn", "feat/cut", "--no-window", "--json"], { cwd: repo });
  commitFiles(spawned.json.worktree_path, { "cut.txt": "cut\n" }, "cut");
  const head = git(["rev-parse", "HEAD"], repo);
  const bin = tempDir("orch-kill-bin-");
  const real = spawnSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).stdout.trim();
  // git merge --squash has staged the change; the commit that would record it never runs.
  fs.writeFileSync(path.join(bin, "git"), ["#!/bin/sh", `[ "$1" = commit ] && ${KILL_GROUP}`, `exec ${real} "$@"`, ""]
    .join("\n"), { mode: 0o755 });
  const killed = await orchAsync(["merge", "feat-cut", "--local"], {
    cwd: repo, env: { PATH: `${bin}:${baseEnv().PATH}` }, ownGroup: true,
  }).done;
  assert.is(killed.code, 137, killed.stderr);
  assert.is(git(["rev-parse", "HEAD"], repo), head, "nothing merged");
  assert.is(git(["status", "--porcelain"], repo), "", "nothing staged or written in the checkout");
  assert.not.ok(fs.existsSync(path.join(repo, ".git", "SQUASH_MSG")), "no squash left to finish");
  const again = orch(["merge", "feat-cut", "--local"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.is(git(["show", "HEAD:cut.txt"], repo), "cut");
});

test("apply killed -9 after git am committed one patch of three: main as it was; the next apply applies all", async () => {
  const { repo } = sessionRepo();
  const spawned = orch(["spawn", "feat/cut", "--no-window", "--json"], { cwd: repo });
  for (const n of [1, 2, 3]) commitFiles(spawned.json.worktree_path, { [`p${n}.txt`]: `${n}\n` }, `p${n}`);
  const head = git(["rev-parse", "HEAD"], repo);
  // git am runs this hook after each patch it commits: after the first, the whole command is killed.
  const hook = path.join(repo, ".git", "hooks", "post-applypatch");
  fs.writeFileSync(hook, ["#!/bin/sh", KILL_GROUP, ""].join("\n"), { mode: 0o755 });
  const killed = await orchAsync(["apply", "feat-cut"], { cwd: repo, ownGroup: true }).done;
  assert.is(killed.code, 137, killed.stderr);
  fs.rmSync(hook);
  assert.is(git(["rev-parse", "HEAD"], repo), head, "no part of the series here");
  assert.is(git(["status", "--porcelain"], repo), "", "nothing written in the checkout");
  assert.not.ok(fs.existsSync(path.join(repo, ".git", "rebase-apply")), "no git am session left here");
  const again = orch(["apply", "feat-cut"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, /removed the throw-away worktree \S+ left by an orch \(pid \d+\) that was killed/);
  assert.equal(git(["log", "--format=%s", "-3"], repo).split("\n"), ["p3", "p2", "p1"]);
});

test("merge --local killed -9 while git fast-forwards main: the next merge removes git's index.lock and puts back " +
  "what git wrote, not what the user changed since", async () => {
  const { repo } = sessionRepo();
  const cut = orch(["spawn", "feat/cut", "--no-window", "--json"], { cwd: repo });
  commitFiles(cut.json.worktree_path, { "a.txt": "cut a\n", "b.txt": "cut b\n", "c.txt": "cut c\n" }, "cut");
  const other = orch(["spawn", "feat/other", "--no-window", "--json"], { cwd: repo });
  commitFiles(other.json.worktree_path, { "other.txt": "other\n" }, "other");
  const head = git(["rev-parse", "HEAD"], repo);
  const bin = tempDir("orch-kill-bin-");
  const real = spawnSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).stdout.trim();
  // As git is killed half-way through its checkout: its lock taken, two of the files written, HEAD not moved.
  fs.writeFileSync(path.join(bin, "git"), [
    "#!/bin/sh",
    'if [ "$1 $2" = "merge --ff-only" ]; then',
    "  : > .git/index.lock; echo 'cut a' > a.txt; echo 'cut b' > b.txt",
    `  ${KILL_GROUP}`,
    "fi",
    `exec ${real} "$@"`,
    "",
  ].join("\n"), { mode: 0o755 });
  const killed = await orchAsync(["merge", "feat-cut", "--local"], {
    cwd: repo, env: { PATH: `${bin}:${baseEnv().PATH}` }, ownGroup: true,
  }).done;
  assert.is(killed.code, 137, killed.stderr);
  assert.is(git(["rev-parse", "HEAD"], repo), head);
  fs.writeFileSync(path.join(repo, "b.txt"), "the user's b\n");
  const next = orch(["merge", "feat-other", "--local"], { cwd: repo });
  assert.is(next.code, 0, next.stderr);
  assert.match(next.stderr, /removed \S+index\.lock, left by an orch \(pid \d+\) killed while git fast-forwarded/);
  assert.match(next.stderr, /put back a\.txt as HEAD has them/);
  assert.not.ok(fs.existsSync(path.join(repo, "a.txt")), "what git wrote of the cut merge is gone");
  assert.is(fs.readFileSync(path.join(repo, "b.txt"), "utf8"), "the user's b\n", "what the user wrote stays");
  assert.is(git(["status", "--porcelain"], repo), "?? b.txt");
  assert.is(git(["show", "HEAD:other.txt"], repo), "other");
});

test("spawn killed -9 after tmux made its window, before it recorded it: status finds the window; rm closes it", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const killed = await orchAsync(["spawn", "cut", "--agent", sleepingAgent()], {
    cwd: repo, env: { ...env, ...killedAt("tmux", "new-window*|new-session*", "after") },
  }).done;
  assert.is(killed.code, 137, `killed by its SIGKILL: ${killed.stderr}`);
  const file = path.join(repo, ".orch", "sessions", id, "workers", "cut", "worker.json");
  const record = () => JSON.parse(fs.readFileSync(file, "utf8"));
  assert.is(record().window_id, null, "killed before it recorded its window");
  const made = tmux(["list-windows", "-a", "-F", "#{window_id} #{window_name}"], env).split("\n")
    .find((line) => line.endsWith(" cut"))?.split(" ")[0];
  assert.ok(made, "tmux made the window");
  await waitUntil(() => statusRows(repo, env).get("cut")?.agent_alive === true, 20_000, "the agent to start");
  const row = statusRows(repo, env).get("cut")!;
  assert.is(row.window_id, made, "status names the window");
  assert.is(row.window_alive, true);
  assert.is(row.status, "running");
  assert.is(record().window_id, made, "and records it");
  assert.is(record().opening_window, undefined);
  const list = orch(["list"], { cwd: repo, env });
  assert.match(list.stdout, new RegExp(`^cut +running +${made} `, "m"));
  const removed = orch(["rm", "cut", "--force", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.window_closed, true, "rm closes it by its id");
  assert.equal(windowNames(env), [], "no window of the worker left");
  assert.equal(failures(repo, env), [], "nothing reported failed");
});

test("spawn killed -9 after tmux made its window, its agent ended: resume starts it in that window, not a second", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const runs = path.join(tempDir("orch-runs-"), "runs");
  const agent = path.join(tempDir("orch-agent-"), "agent.sh");
  fs.writeFileSync(agent, ["#!/bin/sh", `echo run >> ${runs}`, "exit 3", ""].join("\n"), { mode: 0o755 });
  const killed = await orchAsync(["spawn", "cut", "--agent", agent], {
    cwd: repo, env: { ...env, ...killedAt("tmux", "new-window*|new-session*", "after") },
  }).done;
  assert.is(killed.code, 137, `killed by its SIGKILL: ${killed.stderr}`);
  const workerDir = path.join(repo, ".orch", "sessions", id, "workers", "cut");
  assert.ok(JSON.parse(fs.readFileSync(path.join(workerDir, "worker.json"), "utf8")).opening_window);
  // Its runner reports the agent's end; no status, list or await has run to adopt the window.
  await waitUntil(() => fs.existsSync(path.join(workerDir, "ended")), 20_000, "the agent's end to be reported");
  const made = tmux(["list-windows", "-a", "-F", "#{window_id} #{window_name}"], env).split("\n")
    .filter((line) => line.endsWith(" cut")).map((line) => line.split(" ")[0]);
  assert.is(made.length, 1, "tmux made the window, which stays (its shell)");
  // While the spawn that opens the window still runs (here: a record naming this test), resume waits for it.
  const file = path.join(workerDir, "worker.json");
  const left = fs.readFileSync(file, "utf8");
  const live = { ...JSON.parse(left), opening_window: { pid: process.pid, start_time: startTime(process.pid) } };
  fs.writeFileSync(file, JSON.stringify(live));
  const early = orch(["resume", "cut"], { cwd: repo, env });
  assert.is(early.code, 1, early.stderr);
  const opening = `orch: worker cut has not started yet: its orch spawn (pid ${process.pid}) is still opening its window`;
  assert.is(early.stderr.trim(), opening);
  fs.writeFileSync(file, left);
  const resumed = orch(["resume", "cut", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.window_id, made[0], "the window spawn made");
  assert.is(resumed.json.window_reused, true);
  await waitUntil(() => fs.readFileSync(runs, "utf8").split("\n").length > 2, 20_000, "the agent to run again");
  assert.equal(windowNames(env), ["cut"], "one window for the worker");
  assert.is(orch(["rm", "cut", "--force"], { cwd: repo, env }).code, 0);
  assert.equal(windowNames(env), []);
});

test("spawn killed -9 before tmux made its window: status reports it failed once; resume starts it", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = sleepingAgent();
  const killed = orch(["spawn", "cut", "--agent", agent], {
    cwd: repo, env: { ...env, ...killedAt("tmux", "new-window*|new-session*", "before") },
  });
  assert.is(killed.code, -1, `killed by its SIGKILL: ${killed.stderr}`);
  assert.is(statusRows(repo, env).get("cut")?.status, "failed", "not running: nothing runs");
  assert.equal(failures(repo, env), ["cut"], "reported");
  assert.equal(failures(repo, env), [], "once");
  const resumed = orch(["resume", "cut", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  await waitUntil(() => statusRows(repo, env).get("cut")?.agent_alive === true, 20_000, "the resumed agent");
  assert.is(statusRows(repo, env).get("cut")?.status, "running");
  assert.is(orch(["rm", "cut", "--force"], { cwd: repo, env }).code, 0);
  assert.equal(windowNames(env), []);
});

test("spawn --from killed -9 after git made its worktree: status says what is left; the next spawn clears it", () => {
  const { repo } = sessionRepo();
  const from = git(["rev-parse", "HEAD"], repo);
  commitFiles(repo, { "later.txt": "later\n" }, "later");
  const killed = orch(["spawn", "cut", "--from", from, "--no-window"], {
    cwd: repo, env: killedAt("git", "worktree add", "after"),
  });
  assert.is(killed.code, -1, `killed by its SIGKILL: ${killed.stderr}`);
  assert.ok(gitOk(["rev-parse", "--verify", "refs/heads/cut"], repo), "the branch was made");
  const status = orch(["status", "--json"], { cwd: repo });
  assert.equal(status.json.workers, [], "no worker was recorded");
  assert.match(status.stderr, /a spawn of cut killed before it recorded the worker may have left its worktree .*cut/);
  assert.match(status.stderr, /orch rm cut, orch clean or the next spawn of it removes them/);
  const again = orch(["spawn", "cut", "--no-window", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, /deleted the branch cut that an interrupted spawn created/);
  assert.is(again.json.base_commit, git(["rev-parse", "HEAD"], repo), "made anew from the base as it is now");
  assert.not.match(orch(["status"], { cwd: repo }).stderr, /killed before/);
});

test("rm killed -9 after it deleted the branch: the next rm finishes and says the branch was gone already", () => {
  const { repo } = sessionRepo();
  assert.is(orch(["spawn", "cut", "--no-window"], { cwd: repo }).code, 0);
  const rm = ["rm", "cut", "--force", "--delete-branch", "--yes"];
  const killed = orch(rm, { cwd: repo, env: killedAt("git", "branch -D", "after") });
  assert.is(killed.code, -1, `killed by its SIGKILL: ${killed.stderr}`);
  assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/cut"], repo), "the branch is gone");
  assert.ok(statusRows(repo, {}).has("cut"), "the worker is still listed");
  const again = orch(rm, { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /^removed cut: worktree .*cut \(branch cut was gone already\)$/m);
  const json = orch(["spawn", "kept", "--no-window"], { cwd: repo });
  assert.is(json.code, 0);
  const keeps = orch(["rm", "kept", "--json"], { cwd: repo });
  assert.is(keeps.json.branch_kept, true);
  assert.match(orch(["rm", "nobody"], { cwd: repo }).stderr, /no worker/);
  assert.equal(orch(["status", "--json"], { cwd: repo }).json.workers, []);
});

test("a worktree git was removing when its rm or clean was killed (its .git gone, files left): rm says so; " +
  "rm --force removes the rest", () => {
  const { repo } = sessionRepo();
  const spawned = orch(["spawn", "cut", "--no-window", "--json"], { cwd: repo });
  const wt = spawned.json.worktree_path as string;
  commitFiles(wt, { "left.txt": "left\n" }, "left");
  // git worktree remove deletes the worktree's files, .git among them, then the folder: killed half-way.
  fs.rmSync(path.join(wt, ".git"));
  const refused = orch(["rm", "cut", "--yes"], { cwd: repo });
  // Before: "orch: ENOENT: no such file or directory, open '…/cut/.git'", for rm and rm --force alike.
  assert.is(refused.code, 1, refused.stderr);
  assert.is(refused.stderr, `orch: worker cut's worktree ${wt} was partly removed (its .git is gone: an rm or ` +
    "clean killed half-way?): nothing was removed; orch rm cut --force removes the rest\n");
  assert.ok(fs.existsSync(path.join(wt, "left.txt")));
  const removed = orch(["rm", "cut", "--yes", "--force", "--delete-branch"], { cwd: repo });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(fs.existsSync(wt), "the rest of the folder is gone");
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1, "git knows no worktree of it");
  assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/cut"], repo), "its branch is gone");
  assert.equal(orch(["status", "--json"], { cwd: repo }).json.workers, []);
});

test("a git killed in a ref update left packed-refs.lock: rm --delete-branch removes it once no git works there", () => {
  const { repo } = sessionRepo();
  assert.is(orch(["spawn", "cut", "--no-window"], { cwd: repo }).code, 0);
  // As a Ctrl-C (or kill -9) of a command leaves it when it reaches git in its ref update, now and then.
  const lock = path.join(repo, ".git", "packed-refs.lock");
  fs.writeFileSync(lock, "");
  const removed = orch(["rm", "cut", "--yes", "--force", "--delete-branch"], { cwd: repo });
  // Before: "git branch -d cut refused: remove the file manually to continue", and so every rm after.
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.stderr, `orch: removed ${lock}, left by a git that was killed in a ref update (no git works in ` +
    "this repository now)\n");
  assert.not.ok(fs.existsSync(lock));
  assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/cut"], repo), "its branch is gone");
});

test("a ref lock a git holds now fails rm --force --delete-branch with git's reason, not 'use --force'", () => {
  const { repo } = sessionRepo();
  assert.is(orch(["spawn", "held", "--no-window"], { cwd: repo }).code, 0);
  // A git at work in the repository holds it (orch leaves such a lock to its git).
  const lock = path.join(repo, ".git", "packed-refs.lock");
  fs.writeFileSync(lock, "");
  const atWork = spawn("git", ["cat-file", "--batch"], { cwd: repo, stdio: ["pipe", "ignore", "ignore"] });
  let removed: ReturnType<typeof orch>;
  try {
    removed = orch(["rm", "held", "--yes", "--force", "--delete-branch"], { cwd: repo });
  } finally {
    atWork.kill("SIGKILL");
  }
  assert.ok(fs.existsSync(lock), "the lock of a git at work is left to it");
  assert.is(removed.code, 1, removed.stderr);
  assert.match(removed.stderr, /^orch: git branch -D held failed: .*packed-refs\.lock.*\n$/);
  assert.not.match(removed.stderr, "use --force", "it was given: the line must not send the user round in a circle");
  // Run again as it says, once that git has ended: the rest goes (the lock, now a dead git's, with it).
  const again = orch(["rm", "held", "--yes", "--force", "--delete-branch"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/held"], repo), "its branch is gone");
});

test("the worktrees' folder renamed while their agents run: clean and rm keep them and say where they run; " +
  "rm --force of one leaves the other for git worktree repair", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  mergedWorkers(repo, env, ["a", "b"]);
  await waitUntil(() => [...statusRows(repo, env).values()].every((w) => w.agent_alive), 20_000, "both agents to start");
  const moved = `${repo}-moved`;
  fs.renameSync(`${repo}-worktrees`, moved);
  // Before, clean took the folders for gone: it ended both agents and had git forget both worktrees.
  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo, env });
  assert.is(cleaned.code, 1, cleaned.stderr);
  assert.equal(cleaned.json.removed, []);
  for (const kept of cleaned.json.skipped as { worker_id: string; reason: string }[]) {
    const here = path.join(moved, kept.worker_id);
    assert.ok(kept.reason.includes(`still runs in ${here}: was the folder moved? Move it back to `), kept.reason);
  }
  const refused = orch(["rm", "a", "--yes"], { cwd: repo, env });
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /^orch: worker a: its worktree \S+ is gone but its agent \(pid \d+\) still runs in .*; nothing was removed\n$/);
  assert.ok([...statusRows(repo, env).values()].every((w) => w.agent_alive), "both agents still run");
  const forced = orch(["rm", "a", "--yes", "--force"], { cwd: repo, env });
  assert.is(forced.code, 0, forced.stderr);
  assert.ok(fs.existsSync(path.join(moved, "a")), "the moved folder is left as it is");
  // git forgot a's entry only: b's moved worktree can still be mended.
  git(["worktree", "repair", path.join(moved, "b")], repo);
  const listed = git(["worktree", "list", "--porcelain"], repo);
  assert.ok(listed.includes(`worktree ${path.join(moved, "b")}\n`), listed);
  assert.not.ok(listed.includes(`worktree ${path.join(moved, "a")}\n`), listed);
  tmux(["kill-server"], env);
});

/** `names` spawned with a sleeping agent, each with one commit merged into main. */
function mergedWorkers(repo: string, env: Record<string, string | undefined>, names: string[]): void {
  const agent = sleepingAgent();
  for (const name of names) {
    const spawned = orch(["spawn", name, "--agent", agent, "--json"], { cwd: repo, env });
    assert.is(spawned.code, 0, spawned.stderr);
    commitFiles(spawned.json.worktree_path, { [`${name}.txt`]: `${name}\n` }, name);
    git(["merge", "-q", "--no-edit", name], repo);
  }
}

test("two cleans at once remove each worker once, the other says so; a clean killed half-way is finished", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const first = ["a", "b", "c", "d", "e"];
  mergedWorkers(repo, env, first);
  const both = await Promise.all([0, 1].map(() => orchAsync(["clean", "--yes", "--json"], { cwd: repo, env }).done));
  for (const r of both) assert.is(r.code, 0, r.stderr);
  const removed = both.flatMap((r) => (r.json.removed as { worker_id: string }[]).map((w) => w.worker_id));
  assert.equal(removed.sort(), first, "each removed by one of them");
  for (const r of both) {
    for (const kept of r.json.skipped as { worker_id: string; reason: string; failed?: boolean }[]) {
      assert.match(kept.reason, /another orch command removes it$/);
      assert.is(kept.failed, undefined, "not a failure");
    }
  }
  const second = ["f", "g", "h"];
  mergedWorkers(repo, env, second);
  // Killed after the second worktree is removed, before that worker's branch and record go.
  const killed = orch(["clean", "--yes"], { cwd: repo, env: { ...env, ...killedAt("git", "worktree remove", "after", 2) } });
  assert.is(killed.code, -1, `killed by its SIGKILL: ${killed.stderr}`);
  assert.is(statusRows(repo, env).size, 2, "one removed, one half removed, one left");
  const finished = orch(["clean", "--yes", "--json"], { cwd: repo, env });
  assert.is(finished.code, 0, finished.stderr);
  assert.is((finished.json.removed as unknown[]).length, 2);
  assert.equal(finished.json.skipped, []);
  assert.is(statusRows(repo, env).size, 0, "no worker left");
  assert.is(git(["branch", "--format=%(refname:short)"], repo), "main", "no branch left");
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1, "no worktree left");
  assert.equal(windowNames(env), [], "no window left");
});

test("what a killed spawn left under a digest id or the contract id: only its branch's rm or spawn clears it", () => {
  const { repo, id } = sessionRepo();
  const spawning = path.join(repo, ".orch", "sessions", id, "spawning");
  /** A spawn of `branch` killed -9 after git made its worktree: its journal is left. */
  const killedSpawn = (branch: string): void => {
    const killed = orch(["spawn", branch, "--no-window"], { cwd: repo, env: killedAt("git", "worktree add", "after") });
    assert.is(killed.code, -1, `killed by its SIGKILL: ${killed.stderr}`);
  };
  assert.is(orch(["spawn", "feat/é", "--no-window", "--json"], { cwd: repo }).json.worker_id, "feat--");
  killedSpawn("feat/è");
  assert.equal(fs.readdirSync(spawning), ["feat---mmyj8wzk.json"], "journaled under its digest id");
  // Another branch whose ids come near: its rm finds nothing and leaves the journal.
  const other = orch(["rm", "feat/ê", "--yes", "--json"], { cwd: repo });
  assert.is(other.code, 1, other.stderr);
  assert.is(other.json.error.code, "not_found");
  assert.equal(fs.readdirSync(spawning), ["feat---mmyj8wzk.json"]);
  const removed = orch(["rm", "feat/è", "--yes", "--json"], { cwd: repo });
  assert.is(removed.code, 0, removed.stderr);
  assert.match(removed.json.repaired.join("\n"), /deleted the branch feat\/è that an interrupted spawn created/);
  assert.not.ok(gitOk(["rev-parse", "--verify", "refs/heads/feat/è"], repo), "the branch is gone");
  assert.is(git(["worktree", "list"], repo).split("\n").length, 2, "and its worktree; feat/é's stays");

  killedSpawn("功能/登录");
  assert.equal(fs.readdirSync(spawning), ["_____.json"], "journaled under the contract id");
  // A spawn of another branch with that id does not repair it, and changes nothing.
  const before = [snapshot(path.join(repo, ".orch")), git(["worktree", "list"], repo), git(["branch"], repo)];
  const refused = orch(["spawn", "功能/注册", "--no-window", "--json"], { cwd: repo });
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.json.error.message, /a spawn of 功能\/登录 as _____ was interrupted: orch rm _____/);
  assert.equal([snapshot(path.join(repo, ".orch")), git(["worktree", "list"], repo), git(["branch"], repo)], before);
  const again = orch(["spawn", "功能/登录", "--no-window", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json.worker_id, "_____");
  assert.match(again.stderr, /deleted the branch 功能\/登录 that an interrupted spawn created/);
  assert.not.ok(fs.existsSync(spawning) && fs.readdirSync(spawning).length > 0, "no journal left");
});

test.run();
