// orch at the machine's limits: a disk full where a folder needs a block (ext4, where a tmpfs gives folders room
// for free), and a process limit that stops git and tmux from starting.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { errorResult } from "../src/integrations/mcp.ts";
import {
  baseEnv, blockDisk, git, gitOk, gitStandIn, orch, orchCommand, scratchRepo, sessionRepo, smallDisk, standIn, tempDir,
} from "./helpers.ts";

/** A session whose store is on `dir`, with a --no-window worker `w`. */
function storeOn(dir: string) {
  const { repo } = sessionRepo();
  const env = { ORCH_HOME: path.join(dir, "store") };
  assert.is(orch(["init"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "w", "--no-window", "--agent", "true", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const session = path.join(dir, "store", "sessions", fs.readdirSync(path.join(dir, "store", "sessions"))[0]!);
  return { repo, env, wt: spawned.json.worktree_path as string, mail: path.join(session, "mail"), session };
}

function statusOf(repo: string, env: Record<string, string>, worker: string): string {
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  return (status.json.workers as { worker_id: string; status: string }[]).find((w) => w.worker_id === worker)!.status;
}

test("notify when the mailbox's new/ cannot grow: exit 1, one line, and the worker's log does not say it was sent", () => {
  const disk = blockDisk();
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  try {
    const { repo, env, wt, mail, session } = storeOn(disk.dir);
    const filler = disk.fillAll();
    disk.fillFolder(path.join(mail, "new"), filler);
    // Room for the message's file, and none for a block more of new/: its rename there is what fails.
    disk.free(filler, 1);
    const r = orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: wt, env });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /no space left on device/);
    assert.is(r.stderr.trim().split("\n").length, 1, "one line, no stack trace");
    assert.equal(fs.readdirSync(path.join(mail, "tmp")), [], "no file left in tmp/");
    const events = fs.readdirSync(path.join(session, "workers", "w", "events"));
    assert.not.ok(events.some((name) => name.includes(".task_complete.")), `no report in the event log: ${events}`);
    assert.is(statusOf(repo, env, "w"), "running", "status does not say done for a report nobody got");
    fs.rmSync(filler);
    for (const name of fs.readdirSync(path.join(mail, "new"))) fs.rmSync(path.join(mail, "new", name));
    assert.is(orch(["notify", "--type", "task_complete", "--summary", "again"], { cwd: wt, env }).code, 0);
    assert.is(statusOf(repo, env, "w"), "done");
    const polled = orch(["poll", "--json"], { cwd: repo, env });
    assert.equal(polled.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["again"]);
  } finally {
    disk.unmount();
  }
});

/** A session on a full ext4 with one message unread, cur/ full, and one block left (for the reader's claim). */
function curFull(disk: Exclude<ReturnType<typeof blockDisk>, string>) {
  const made = storeOn(disk.dir);
  assert.is(orch(["notify", "--type", "progress", "--summary", "one"], { cwd: made.wt, env: made.env }).code, 0);
  const filler = disk.fillAll();
  disk.fillFolder(path.join(made.mail, "cur"), filler);
  disk.free(filler, 1);
  const emptyCur = () => {
    fs.rmSync(filler);
    for (const name of fs.readdirSync(path.join(made.mail, "cur"))) {
      if (name.startsWith("pad_")) fs.rmSync(path.join(made.mail, "cur", name));
    }
  };
  return { ...made, emptyCur };
}

/** After the first reader: nothing is handed out again, with the disk still full or not, and the message is read. */
function readOnce(repo: string, env: Record<string, string>, mail: string, emptyCur: () => void): void {
  const again = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json.message_count, 0, "not handed out twice");
  emptyCur();
  assert.is(orch(["poll", "--json"], { cwd: repo, env }).json.message_count, 0);
  assert.equal(fs.readdirSync(path.join(mail, "claims")), [], "the next reader finished the move into cur/");
  const status = orch(["status", "--json"], { cwd: repo, env }).json;
  assert.equal([status.unread_count, status.total_messages], [0, 1]);
}

test("poll when cur/ cannot grow: the messages it printed are read, exit 0, one JSON document", () => {
  const disk = blockDisk();
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  try {
    const { repo, env, mail, emptyCur } = curFull(disk);
    const r = orch(["poll", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    // orch() parses stdout as one document: a second one (the failure's) would not parse.
    assert.equal(r.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["one"]);
    readOnce(repo, env, mail, emptyCur);
  } finally {
    disk.unmount();
  }
});

test("watch when cur/ cannot grow: the line it printed is not handed out again", () => {
  const disk = blockDisk();
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  try {
    const { repo, env, mail, emptyCur } = curFull(disk);
    const r = orch(["watch", "--timeout", "1"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").map((line) => JSON.parse(line).content.summary), ["one"]);
    readOnce(repo, env, mail, emptyCur);
  } finally {
    disk.unmount();
  }
});

test("a read-only store: every command that writes says which file and why in one line, exit 1, and changes nothing",
  () => {
    const disk = smallDisk("4m");
    if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
    try {
      const { repo, env, wt, session } = storeOn(disk.dir);
      fs.writeFileSync(path.join(wt, "a.txt"), "a\n");
      gitOk(["add", "a.txt"], wt);
      gitOk(["commit", "-qm", "a"], wt);
      const before = { base: git(["rev-parse", "HEAD"], repo), files: listed(session) };
      assert.is(spawnSync("mount", ["-o", "remount,ro", disk.dir]).status, 0, "the store's disk is read-only now");
      for (const args of [["stop", "w"], ["rm", "w"], ["resume", "w"], ["sync", "w"], ["apply", "w"],
        ["land", "w", "--test", "true"], ["spawn", "w2", "--no-window", "--agent", "true"]]) {
        const r = orch([...args, "--json"], { cwd: repo, env });
        assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
        const lines = r.stderr.trim().split("\n");
        assert.is(lines.length, 1, `${args[0]}: one line, no stack trace: ${r.stderr}`);
        assert.match(lines[0]!, /^orch: (cannot|could not) .*\/.*: read-only file system$/, args[0]);
        assert.not.match(lines[0]!, "EROFS", `${args[0]}: the system's code is not the message`);
        assert.is(r.json.error.message, lines[0]!.slice("orch: ".length), `${args[0]}: the JSON says the same`);
      }
      // orch mcp answers a tool whose write failed the same way (it said "internal error: EROFS: …").
      let refused: unknown;
      try {
        fs.writeFileSync(path.join(session, "probe"), "");
      } catch (error) {
        refused = error;
      }
      const answer = JSON.parse((errorResult(refused).content[0] as { text: string }).text);
      assert.equal(answer.error, { code: "failed", message: `cannot write ${path.join(session, "probe")}: read-only file system` });
      assert.is(spawnSync("mount", ["-o", "remount,rw", disk.dir]).status, 0);
      assert.equal({ base: git(["rev-parse", "HEAD"], repo), files: listed(session) }, before, "nothing changed");
      assert.is(git(["for-each-ref", "--format=%(refname:short)", "refs/heads/w", "refs/heads/w2"], repo), "w",
        "w's branch is kept and no w2 was made");
    } finally {
      disk.unmount();
    }
  });

/** Every path under `dir`, for a before-and-after. */
function listed(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

test("spawn when the process limit stops tmux and then git's cleanup: status names what is left, rm removes it", () => {
  if (process.getuid?.() !== 0) return console.log("SKIP: a process limit binds an ordinary user only: needs root to be one");
  const home = tempDir("orch-nproc-");
  const repo = scratchRepo("repo", { "a.txt": "a\n" }, home);
  const tmuxDir = path.join(home, "tmux");
  fs.mkdirSync(tmuxDir);
  spawnSync("chown", ["-R", "65534:65534", home]);
  // From tmux's start on, neither it nor orch may start another process: its server cannot fork, nor orch's git.
  const limited = standIn("tmux", [
    'case "$1" in new-session|new-window) prlimit --pid "$orch" --nproc=1:1; prlimit --pid $$ --nproc=1:1;; esac',
  ]);
  fs.chmodSync(limited.PATH!.split(":")[0]!, 0o755);
  const asNobody = (args: string[], extra: Record<string, string> = {}) => {
    const env = baseEnv({ HOME: home, TMUX_TMPDIR: tmuxDir, ...extra });
    const argv = ["--reuid=65534", "--regid=65534", "--clear-groups", ...orchCommand(), ...args];
    return spawnSync("setpriv", argv, { cwd: repo, env, encoding: "utf8" });
  };
  // The repository is nobody's: root's git would refuse it as of dubious ownership.
  const branchLeft = () =>
    spawnSync("git", ["-c", "safe.directory=*", "rev-parse", "--verify", "--quiet", "refs/heads/feat/x"], { cwd: repo })
      .status === 0;
  try {
    assert.is(asNobody(["init"]).status, 0);
    const r = asNobody(["spawn", "feat/x", "--agent", "sleep 100"], limited);
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /cleanup after the failed spawn: .*git/, "git could not start to undo the spawn");
    assert.match(r.stderr, /orch rm feat-x/);
    assert.match(r.stderr.trim().split("\n").at(-1)!, /the limit of processes was reached \(ulimit -u is 1\)$/);
    assert.ok(branchLeft(), "the branch is left (git could not delete it)");
    const status = asNobody(["status"]);
    assert.is(status.status, 0, status.stderr);
    assert.match(status.stderr, /a spawn of feat\/x .* orch rm feat-x/);
    const rm = asNobody(["rm", "feat-x", "--yes"]);
    assert.is(rm.status, 0, rm.stderr);
    assert.not.ok(branchLeft(), "no branch left");
    assert.not.ok(fs.existsSync(path.join(home, "repo-worktrees", "feat-x")), "no worktree left");
    const again = asNobody(["spawn", "feat/x", "--no-window", "--agent", "true"]);
    assert.is(again.status, 0, again.stderr);
  } finally {
    asNobody(["rm", "feat-x", "--yes", "--force"]);
    spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "tmux", "kill-server"], {
      env: baseEnv({ TMUX_TMPDIR: tmuxDir }), stdio: "ignore",
    });
  }
});

test("spawn out of file descriptors after git made its worktree: the error names the limit, rm removes what is left", () => {
  const { repo } = sessionRepo();
  // git makes the worktree; from then on orch has no descriptor for a pipe to the next program, nor to undo it.
  // The limit comes once orch holds its pidfd for this git (Bun opens one just after it starts a program): one
  // set before, on a busy machine, made that open fail, and git's worktree add looked as if it had never run.
  const limited = gitStandIn([
    'if [ "$1 $2" = "worktree add" ]; then "$real" "$@"; code=$?; i=0',
    '  until grep -qs "^Pid:[[:space:]]*$$$" /proc/"$orch"/fdinfo/* || [ $i -ge 100 ]; do sleep 0.02; i=$((i+1)); done',
    '  prlimit --pid "$orch" --nofile=4:4; exit $code; fi',
  ]);
  const r = orch(["spawn", "feat/y", "--no-window", "--agent", "true"], { cwd: repo, env: limited });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr.trim().split("\n").at(-1)!, /too many open files.*: the limit of open files was reached \(ulimit -n/);
  assert.match(r.stderr, /orch rm feat-y/);
  assert.ok(gitOk(["rev-parse", "--verify", "--quiet", "refs/heads/feat/y"], repo), "git could not delete the branch");
  assert.match(orch(["status"], { cwd: repo }).stderr, /a spawn of feat\/y .* orch rm feat-y/);
  const rm = orch(["rm", "feat-y", "--yes"], { cwd: repo });
  assert.is(rm.code, 0, rm.stderr);
  assert.not.ok(gitOk(["rev-parse", "--verify", "--quiet", "refs/heads/feat/y"], repo), "no branch left");
  assert.is(git(["worktree", "list"], repo).trim().split("\n").length, 1, "no worktree left");
});

test.run();
