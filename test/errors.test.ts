// Conditions a user can cause are errors with one line and the right exit code, never "internal error"
// or a stack trace; and the corners of ids, agents' exit codes and submodules.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  git, orch, pollForMessage, privateTmux, scratchRepo, sessionRepo, tempDir, tmux, type PolledMessage,
} from "./helpers.ts";

function oneLineError(r: { stderr: string }): void {
  assert.not.match(r.stderr, /internal error/);
  assert.not.match(r.stderr, /\n\s+at .*:\d+/, "no stack trace");
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
}

test("a truncated worker.json is skipped with a warning by status, list and await", () => {
  const { repo, id } = sessionRepo();
  orch(["spawn", "feat/good", "--no-window"], { cwd: repo });
  orch(["spawn", "feat/broken", "--no-window"], { cwd: repo });
  const file = path.join(repo, ".orch", "sessions", id, "workers", "feat-broken", "worker.json");
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").slice(0, 40));
  for (const command of ["status", "list"]) {
    const r = orch([command, "--json"], { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.json.workers.map((w: { worker_id: string }) => w.worker_id), ["feat-good"]);
    assert.match(r.stderr, /skipping worker feat-broken: .*not valid JSON/);
  }
  orch(["notify", "--type", "task_complete", "--summary", "ok"], { cwd: repo, env: { ORCH_WORKER: "feat-good" } });
  const awaited = orch(["await", "--timeout", "10", "--json"], { cwd: repo });
  assert.is(awaited.code, 0, awaited.stderr);
  assert.equal(awaited.json.workers.map((w: { worker_id: string }) => w.worker_id), ["feat-good"]);
  const named = orch(["stop", "feat-broken"], { cwd: repo });
  assert.is(named.code, 1);
  oneLineError(named);
});

test("a read-only store: poll, init, inbox and notify say so in one line", () => {
  if (process.getuid?.() !== 0) {
    console.log("SKIP: the read-only store needs root for a read-only bind mount");
    return;
  }
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/ro", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  orch(["notify", "--type", "progress", "--summary", "waiting"], { cwd: wt });
  orch(["send", "feat-ro", "hello"], { cwd: repo });
  const store = path.join(repo, ".orch");
  const bound = spawnSync("mount", ["--bind", store, store], { encoding: "utf8" });
  if (bound.status !== 0) {
    console.log(`SKIP: cannot bind-mount here: ${bound.stderr.trim()}`);
    return;
  }
  try {
    const ro = spawnSync("mount", ["-o", "remount,bind,ro", store], { encoding: "utf8" });
    assert.is(ro.status, 0, ro.stderr);
    const writers = [
      [["poll"], repo],
      [["init"], repo],
      [["inbox"], wt],
      [["notify", "--type", "progress", "--summary", "x"], wt],
    ] as const;
    for (const [args, cwd] of writers) {
      const r = orch([...args, "--json"], { cwd });
      assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /read-only file system/);
      if (args[0] === "init") assert.match(r.stderr, /cannot write a session into/, "the failure, not its clean-up");
      oneLineError(r);
      assert.is(r.json.success, false);
    }
  } finally {
    spawnSync("umount", ["-l", store]);
  }
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 1, "nothing was lost");
});

test("the store removed by git clean -fdx: orchestrator and worker commands say so and how to put it back; " +
  "nothing made again", () => {
  const { repo, id } = sessionRepo();
  const spawned = orch(["spawn", "feat/c", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  git(["clean", "-fdxq"], repo);
  assert.not.ok(fs.existsSync(path.join(repo, ".orch")), "git clean -x takes the store: git ignores it");
  const removed = `where orch made session ${id}, was removed (git clean -x and git stash --all remove .orch/, ` +
    "which git ignores); put it back (git stash pop, or your copy) or start anew with orch init";
  const env = { ORCH_ID: id, ORCH_WORKER: "feat-c", ORCH_HOME: path.join(repo, ".orch") };
  const worktree = spawned.json.worktree_path as string;
  for (const [args, cwd] of [[["status"], repo], [["poll"], repo], [["rm", "feat-c", "--yes"], repo],
    [["notify", "--type", "progress", "--summary", "s"], worktree]] as const) {
    const r = orch([...args], { cwd, env: cwd === worktree ? env : {} });
    assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
    oneLineError(r);
    assert.ok(r.stderr.includes(removed), `${args[0]}: ${r.stderr}`);
  }
  assert.not.ok(fs.existsSync(path.join(repo, ".orch")), "nothing made again");
  // Started anew: the old session's worker says which session is gone, and why.
  assert.is(orch(["init"], { cwd: repo }).code, 0);
  const old = orch(["notify", "--type", "progress", "--summary", "s"], { cwd: worktree, env });
  assert.is(old.code, 1, old.stderr);
  assert.ok(old.stderr.includes(`session ${id} not found in ${path.join(repo, ".orch")}: it was removed (git clean`), old.stderr);
});

test("the store put back by git stash pop, without its empty folders: poll names them and the mkdir; then all as before",
  () => {
  const { repo, id } = sessionRepo();
  assert.is(orch(["notify", "--type", "progress", "--summary", "before"], { cwd: repo, env: { ORCH_ID: id } }).code, 0);
  assert.is(orch(["poll"], { cwd: repo }).code, 0);
  git(["stash", "--all", "-q"], repo);
  git(["stash", "pop", "-q"], repo);
  const mail = path.join(repo, ".orch/sessions", id, "mail");
  assert.not.ok(fs.existsSync(path.join(mail, "new")), "git keeps no empty folder");
  const r = orch(["poll"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  oneLineError(r);
  assert.match(r.stderr, `the mailbox ${mail} has no tmp/, new/, claims/, quarantine/: was the session removed, or ` +
    "the store put back without its empty folders (git stash pop keeps none)? in that folder, mkdir tmp new claims " +
    "quarantine puts them back");
  for (const name of ["tmp", "new", "claims", "quarantine"]) fs.mkdirSync(path.join(mail, name));
  assert.is(orch(["notify", "--type", "progress", "--summary", "after"], { cwd: repo, env: { ORCH_ID: id } }).code, 0);
  const polled = orch(["poll", "--json"], { cwd: repo });
  assert.equal(polled.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["after"],
    "the message read before is not handed out again; the new one is");
});

test("a 250-character branch is refused with exit 2, nothing created", () => {
  const { repo } = sessionRepo();
  const r = orch(["spawn", `feat/${"a".repeat(245)}`, "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 2, r.stderr);
  assert.match(r.json.error.message, /too long/);
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1);
});

test("worker ids never start with -: über/x is _ber-x; feat/login stays feat-login", () => {
  const { repo } = sessionRepo();
  const umlaut = orch(["spawn", "über/x", "--no-window", "--json"], { cwd: repo });
  assert.is(umlaut.code, 0, umlaut.stderr);
  assert.is(umlaut.json.worker_id, "_ber-x");
  assert.is(orch(["spawn", "feat/login", "--no-window", "--json"], { cwd: repo }).json.worker_id, "feat-login");
  assert.is(orch(["stop", "_ber-x", "--json"], { cwd: repo }).code, 0, "its own id is accepted everywhere");
  assert.is(orch(["rm", "über/x", "--yes", "--json"], { cwd: repo }).code, 0, "so is its branch");
});

test("an agent that exits 127 is reported as exiting with 127; a missing one as not found", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const agent = path.join(tempDir("orch-agent-"), "agent.sh");
  const says = "echo starting; printf '%s\\n' 'cannot find its model: no-such-model' >&2";
  fs.writeFileSync(agent, `#!/bin/sh\n${says}\nexit 127\n`, { mode: 0o755 });
  assert.is(orch(["spawn", "feat/a127", "--agent", agent], { cwd: repo, env }).code, 0);
  assert.is(orch(["spawn", "feat/missing", "--agent", "/nonexistent/agent"], { cwd: repo, env }).code, 0);
  const polled: PolledMessage[] = [];
  const failureOf = async (worker: string) =>
    (await pollForMessage(repo, {}, polled, { worker, type: "task_failed", timeoutMs: 20_000, describe: () => "" }))
      .content.error!;
  const exited = await failureOf("feat-a127");
  assert.match(exited, /exited with code 127/, exited);
  assert.not.match(exited, /not found/);
  const said = polled.find((m) => m.worker_id === "feat-a127" && m.message_type === "task_failed")!.content.details;
  assert.match(said ?? "", /^the last lines in its window:\n(.*\n)*cannot find its model: no-such-model$/,
    "what the agent said as it failed comes with the failure");
  const missing = await failureOf("feat-missing");
  assert.match(missing, /^\/nonexistent\/agent was not found$/, "a path is not looked up on PATH");
});

test("an agent that fails in a window of 5 lines (a tmux.conf's default-size 40x5): its last 12 lines, long ones " +
  "wrapped over several, still come with the failure, read back from the window's history", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const conf = path.join(tempDir("orch-tmux-conf-"), "tmux.conf");
  fs.writeFileSync(conf, "set -g default-size 40x5\nset -g exit-empty off\n");
  tmux(["-f", conf, "start-server"], env);
  const agent = path.join(tempDir("orch-agent-"), "agent.sh");
  const error = `error: ${Array.from({ length: 12 }, (_, i) => `part${i}`).join("-")} cannot go on`;
  const after = Array.from({ length: 10 }, (_, i) => `echo 'cleaning up ${i}'`).join("\n");
  fs.writeFileSync(agent, `#!/bin/sh\necho starting\necho '${error}'\n${after}\nexit 1\n`, { mode: 0o755 });
  assert.is(orch(["spawn", "feat/short", "--agent", agent], { cwd: repo, env }).code, 0);
  const failed = await pollForMessage(repo, env, [], {
    worker: "feat-short", type: "task_failed", timeoutMs: 20_000, describe: () => "",
  });
  const lines = (failed.content.details ?? "").split("\n");
  assert.is(lines.length, 13, failed.content.details);
  assert.equal(lines.slice(0, 3), ["the last lines in its window:", "starting", error]);
  assert.is(lines.at(-1), "cleaning up 9");
});

test("an agent at a relative path missing from the worktree: its failure says it is taken from there", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  // Beside the repository, so ../agent.sh works where spawn is typed, but not from the worker's worktree.
  const script = "#!/bin/sh\norch notify --type task_complete --summary x\n";
  fs.writeFileSync(path.join(path.dirname(repo), "agent.sh"), script, { mode: 0o755 });
  assert.is(orch(["spawn", "feat/rel", "--agent", "../agent.sh"], { cwd: repo, env }).code, 0);
  const failed = await pollForMessage(repo, {}, [], {
    worker: "feat-rel", type: "task_failed", timeoutMs: 20_000, describe: () => "",
  });
  const worktree = orch(["status", "--json"], { cwd: repo }).json.workers[0].worktree_path;
  assert.is(failed.content.error,
    `../agent.sh was not found in the worker's worktree ${worktree} (a relative --agent path is taken from there)`);
});

test("spawn inside a submodule puts the worktree beside the submodule's checkout, not in .git/modules", () => {
  const lib = scratchRepo("lib");
  const app = scratchRepo("app");
  git(["-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "lib"], app);
  git(["commit", "-q", "-m", "add lib"], app);
  const sub = path.join(app, "lib");
  assert.is(orch(["init"], { cwd: sub }).code, 0);
  const r = orch(["spawn", "feat/sub", "--no-window", "--json"], { cwd: sub });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.worktree_path, path.join(app, "lib-worktrees", "feat-sub"));
  assert.not.match(r.json.worktree_path, /\.git\/modules/);
  assert.ok(fs.existsSync(path.join(r.json.worktree_path, "README.md")));
  const status = orch(["status", "--json"], { cwd: r.json.worktree_path });
  assert.is(status.json.workers[0].worker_id, "feat-sub", "the worktree finds the submodule's store");
});

test("a repository with a submodule: spawn says it is not checked out there; rm of one that is names --force", () => {
  const lib = scratchRepo("lib");
  const app = scratchRepo("app");
  git(["-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "lib"], app);
  git(["commit", "-q", "-m", "add lib"], app);
  assert.is(orch(["init"], { cwd: app }).code, 0);
  const r = orch(["spawn", "feat/uses-lib", "--no-window", "--json"], { cwd: app });
  assert.is(r.code, 0, r.stderr);
  const worktree = r.json.worktree_path as string;
  assert.is(fs.readdirSync(path.join(worktree, "lib")).length, 0, "git worktree add leaves it empty");
  const warned = /^orch: submodule\(s\) lib are not checked out in the worktree .*git submodule update --init/m;
  assert.match(r.stderr, warned);
  git(["-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init"], worktree);
  const rm = orch(["rm", "feat/uses-lib", "--json"], { cwd: app });
  assert.is(rm.code, 1, rm.stderr);
  assert.is(rm.json.error.message, `git worktree remove refuses ${worktree}: it has submodules checked out ` +
    "(orch rm feat-uses-lib --force removes it, with any commit or change made only in those submodules)");
  git(["commit", "-q", "--allow-empty", "-m", "merged by hand"], worktree);
  git(["merge", "-q", "feat/uses-lib"], app);
  const clean = orch(["clean", "--yes", "--json"], { cwd: app });
  assert.is(clean.code, 1, clean.stderr);
  assert.match(clean.stderr, /feat-uses-lib .*orch rm feat-uses-lib --force removes it/);
  assert.ok(fs.existsSync(path.join(worktree, "lib", "README.md")), "nothing removed");
  assert.is(orch(["rm", "feat/uses-lib", "--force"], { cwd: app }).code, 0);
  assert.not.ok(fs.existsSync(worktree));
});

test("the demo agent run by hand, outside a worker: a one-line usage error, no stack trace", () => {
  const { repo } = sessionRepo();
  for (const args of [["__demo-agent"], ["__demo-agent", "--json"]]) {
    const r = orch(args, { cwd: repo });
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    oneLineError(r);
    if (args.includes("--json")) assert.is(r.json.success, false);
  }
});

test.run();
