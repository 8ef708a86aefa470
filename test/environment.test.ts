// The user's environment: folders orch relies on that are too deep, missing or not writable are said in one
// line (or another place is chosen), never as a raw errno or tmux's own words.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, orch, privateTmux, sessionRepo, smallDisk, tempDir, waitUntil } from "./helpers.ts";
import type { Check } from "../src/commands/doctor.ts";
import { shimHome, shimNeedsWriting } from "../src/runtime.ts";
import { run } from "../src/adapters/exec.ts";

/** A folder deep enough that tmux's socket in it (<dir>/tmux-<uid>/default) passes the 107 bytes a socket takes. */
function deepFolder(): string {
  const dir = path.join(tempDir("orch-deep-"), "d".repeat(60), "e".repeat(40));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

test("a TMUX_TMPDIR too deep for tmux's socket: spawn says so in one line, exit 2, nothing made; doctor fails", () => {
  const { repo } = sessionRepo();
  const env = { ...privateTmux(), TMUX_TMPDIR: deepFolder() };
  const r = orch(["spawn", "feat/deep", "--agent", "sleep 60", "--prompt", "hi"], { cwd: repo, env });
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /tmux's socket \/\S+\/tmux-\d+\/default is \d+ bytes, over the 107 /);
  assert.match(r.stderr, /set TMUX_TMPDIR to a shorter folder/);
  assert.not.match(r.stderr, /error connecting|File name too long/);
  assert.is(git(["worktree", "list", "--porcelain"], repo).match(/^worktree /gm)?.length, 1, "no worktree left");
  assert.is(git(["branch", "--list", "feat/deep"], repo), "", "no branch left");
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.equal(status.json.workers, [], status.stdout);

  const doctor = orch(["doctor", "--json", "--agent", "sh"], { cwd: repo, env });
  const tmux = doctor.json.checks.find((c: Check) => c.name === "tmux");
  assert.is(tmux.ok, false, JSON.stringify(tmux));
  assert.match(tmux.detail, /tmux's socket .* bytes, over the 107 /);
  assert.match(tmux.fix, /TMUX_TMPDIR/);
  assert.is(doctor.code, 1);
});

test("TMPDIR naming a missing folder: land, apply --dry-run and demo say so in one line, exit 2", () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const spawned = orch(["spawn", "feat/tmp", "--no-window", "--agent", "sh", "--prompt", "hi", "--json"], {
    cwd: repo, env,
  });
  assert.is(spawned.code, 0, spawned.stderr);
  const wt = spawned.json.worktree_path as string;
  fs.writeFileSync(path.join(wt, "b.txt"), "b\n");
  git(["add", "b.txt"], wt);
  git(["commit", "-q", "-m", "b"], wt);
  const head = git(["rev-parse", "main"], repo);
  const missing = { ...env, TMPDIR: path.join(tempDir(), "gone") };
  for (const args of [["land", "feat/tmp", "--test", "true"], ["apply", "feat/tmp", "--dry-run"]]) {
    const r = orch(args, { cwd: repo, env: missing });
    assert.is(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /the temp folder TMPDIR \/\S+\/gone does not exist .*: create it, or unset TMPDIR/);
    assert.not.match(r.stderr, /ENOENT|lstat/);
  }
  assert.is(git(["rev-parse", "main"], repo), head, "nothing landed");
  const demo = orch(["demo"], { cwd: tempDir(), env: missing });
  assert.is(demo.code, 2, demo.stderr);
  assert.match(demo.stderr, /^orch: the temp folder TMPDIR \/\S+\/gone does not exist \(the demo's scratch/);
});

test("a full TMPDIR: land and apply --dry-run say so in one line, naming it; nothing lands or is left there", () => {
  const disk = smallDisk("64k");
  if (typeof disk === "string") return console.log(`SKIP: ${disk}`);
  try {
    const { repo } = sessionRepo();
    const wt = orch(["spawn", "feat/full", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
    commitFiles(wt, { "b.txt": "b\n" }, "b");
    assert.is(orch(["notify", "--type", "task_complete", "--summary", "b"], { cwd: wt }).code, 0);
    const head = git(["rev-parse", "main"], repo);
    disk.fill(0);
    for (const args of [["land", "--test", "true"], ["apply", "feat/full", "--dry-run"]]) {
      const r = orch(args, { cwd: repo, env: { TMPDIR: disk.dir } });
      assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /cannot make a throw-away worktree in the temp folder TMPDIR \/\S+: no space left on /);
      assert.match(r.stderr, /\(make room there, or set TMPDIR to another folder\)$/m);
      assert.not.match(r.stderr, /ENOSPC/);
    }
    assert.is(git(["rev-parse", "main"], repo), head, "nothing landed");
    assert.equal(fs.readdirSync(disk.dir), ["filler"], "no folder left in the temp folder");
  } finally {
    disk.unmount();
  }
});

test("a HOME orch cannot write to: the shim goes in the temp folder and the agent runs orch", async () => {
  const { repo } = sessionRepo();
  const tmp = tempDir("orch-tmp-");
  const file = path.join(tempDir(), "file");
  fs.writeFileSync(file, "");
  const out = path.join(tempDir(), "agent.out");
  const agent = path.join(tempDir(), "agent.sh");
  fs.writeFileSync(agent, `#!/bin/sh\n{ command -v orch; orch --version; } > ${out}.tmp 2>&1\nmv ${out}.tmp ${out}\n`);
  fs.chmodSync(agent, 0o755);
  const env = { ...privateTmux(), HOME: path.join(file, "home"), XDG_STATE_HOME: undefined, TMPDIR: tmp };
  const r = orch(["spawn", "feat/home", "--agent", agent, "--prompt", "hi"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  await waitUntil(() => fs.existsSync(out), 15_000, "the agent to run");
  const [shim = "", version = ""] = fs.readFileSync(out, "utf8").trim().split("\n");
  assert.ok(shim.startsWith(path.join(tmp, `orch-${process.getuid!()}`, "bin") + path.sep), shim);
  assert.match(version, /^orch \d/);
});

test("asking where the shim goes (spawn's check inside Codex, before it makes anything) makes no folder", () => {
  const home = tempDir("orch-home-");
  const tmp = tempDir("orch-tmp-");
  const env = { HOME: home, TMPDIR: tmp };
  assert.is(shimHome(env), path.join(home, ".local", "state", "orch"));
  assert.ok(shimNeedsWriting(env));
  assert.equal([fs.readdirSync(home), fs.readdirSync(tmp)], [[], []]);
});

test("a program run in a folder removed meanwhile (a worktree an rm took) is not said to be missing from PATH", async () => {
  const gone = path.join(tempDir("orch-gone-"), "wt");
  const inGone = await run(["git", "status"], { cwd: gone }).then(() => "ran", (error: Error) => error.message);
  assert.is(inGone, `${gone} does not exist (removed meanwhile?), so git status cannot run there`);
  const missing = await run(["orch-no-such-program"]).then(() => "ran", (error: Error) => error.message);
  assert.is(missing, "orch-no-such-program is not installed or not on PATH (needed for: orch-no-such-program)");
});

test("a ready line is found across stderr chunks, after much else, and taken out; a missing one kills the program", async () => {
  // The line's bytes in two writes, after 4 MiB of other lines (each chunk is looked at once).
  const script = 'head -c 4194304 /dev/zero | tr "\\0" "x" | fold -w 1000 >&2; printf "REA" >&2; sleep 0.1; ' +
    'printf "DY\\nafter\\n" >&2; sleep 0.2; echo done';
  const ready = await run(["sh", "-c", script], { readyLine: { text: "READY", withinMs: 20_000 } });
  assert.is(ready.code, 0, ready.stderr.slice(-200));
  assert.is(ready.notReady, undefined);
  assert.is(ready.stdout, "done\n", "not killed: the line came in time");
  assert.ok(ready.stderr.endsWith("xafter\n"), "the line is taken out, the rest kept");
  assert.not.match(ready.stderr, /READY/);
  const silent = await run(["sh", "-c", "echo READ >&2; echo Y >&2; sleep 5; echo done"], {
    allowFailure: true, readyLine: { text: "READY", withinMs: 500 },
  });
  assert.is(silent.notReady, true, "READ and Y on two lines are not the line");
  assert.is(silent.stdout, "", "killed before it went on");
});

test.run();
