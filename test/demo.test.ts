// orch demo: the README's main job runs end to end: the queue hands the conflict back, the worker fixes it
// and lands, and everything is cleaned up.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { orch, orchAsync, orchCommand, tempDir, waitUntil } from "./helpers.ts";
import { sshSkipReason } from "./ssh-harness.ts";

test("orch demo: three workers, one approved while blocked, the conflicting one handed back, fixed, landed", () => {
  const tmp = tempDir("orch-demo-home-");
  const r = orch(["demo", "--json"], { cwd: tmp });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.workers.map((w: { status: string }) => w.status), ["done", "done", "done"]);
  assert.equal(r.json.approved, ["feat-usage-doc"], "the blocked worker was answered with orch approve");
  assert.equal(r.json.land.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]), [
    ["feat-usage-doc", "landed"],
    ["feat-greeting-en", "landed"],
    ["feat-greeting-fr", "returned"],
  ]);
  assert.equal(r.json.land[2].conflict_paths, ["greeting.txt"]);
  const relanded = r.json.relanded.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]);
  assert.equal(relanded, [["feat-greeting-fr", "landed"]]);
  assert.equal([...r.json.cleaned].sort(), ["feat-greeting-en", "feat-greeting-fr", "feat-usage-doc"]);
  assert.not.ok(fs.existsSync(r.json.repository), "the scratch repository is removed");
  // Its own scratch folder (other demos may run on the machine at the same time).
  assert.not.ok(fs.existsSync(path.dirname(r.json.repository)), "the scratch folder is removed");
  const human = orch(["demo"], { cwd: tmp });
  assert.is(human.code, 0, human.stderr);
  assert.match(human.stdout, /returned\s+feat-greeting-fr\s+does not merge onto main .*conflicts in greeting\.txt; handed back/);
  assert.match(human.stdout, /feat-greeting-fr\s+done\s+Rebased onto main and resolved the conflict/);
  assert.match(human.stdout, /landed\s+feat-greeting-fr/);
  assert.match(human.stdout, /Friendlier English greeting/);
  assert.match(human.stdout, /feat-usage-doc is blocked: it waits for approval of Bash: make docs/);
  assert.match(human.stdout, /orch approve feat-usage-doc/);
});

test("orch demo under a tmux configuration with exit-unattached on: its private server stays for the loop", () => {
  const config = tempDir("orch-xdg-");
  fs.mkdirSync(path.join(config, "tmux"));
  fs.writeFileSync(path.join(config, "tmux", "tmux.conf"), "set -g exit-unattached on\n");
  const r = orch(["demo", "--json"], { cwd: tempDir("orch-demo-home-"), env: { XDG_CONFIG_HOME: config } });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.workers.map((w: { status: string }) => w.status), ["done", "done", "done"]);
});

test("orch demo --keep keeps its repository and its tmux server: a shell in the repository to attach to", () => {
  const tmp = tempDir("orch-demo-home-");
  const r = orch(["demo", "--keep", "--json"], { cwd: tmp });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.kept, true);
  const env = { ...process.env, TMUX_TMPDIR: r.json.tmux_tmpdir, TMUX: "" };
  try {
    assert.ok(fs.existsSync(path.join(r.json.repository, ".git")), "the repository is kept");
    const format = "#{session_name} #{window_name} #{pane_current_path}";
    const windows = spawnSync("tmux", ["list-windows", "-a", "-F", format], { env, encoding: "utf8" });
    assert.is(windows.status, 0, `the tmux server runs after the demo: ${windows.stderr}`);
    assert.is(windows.stdout, `orch-shop shop ${r.json.repository}\n`, "a shell in the repository");
  } finally {
    spawnSync("tmux", ["kill-server"], { env });
    fs.rmSync(path.dirname(r.json.repository), { recursive: true, force: true });
  }
});

test("orch demo --keep: its last line is the command that attaches to its private tmux server", () => {
  const tmp = tempDir("orch-demo-home-");
  const r = orch(["demo", "--keep"], { cwd: tmp });
  assert.is(r.code, 0, r.stderr);
  const attach = /(TMUX_TMPDIR=(\S+) tmux attach -t orch-shop)/.exec(r.stdout.trim().split("\n").pop() ?? "");
  assert.ok(attach, r.stdout);
  const env = { ...process.env, TMUX_TMPDIR: attach![2], TMUX: "" };
  try {
    // What the line says to run finds the kept session (has-session: attach needs a terminal).
    assert.is(spawnSync("tmux", ["has-session", "-t", "orch-shop"], { env }).status, 0, attach![1]);
  } finally {
    spawnSync("tmux", ["kill-server"], { env });
    fs.rmSync(path.dirname(attach![2]!), { recursive: true, force: true });
  }
});

test("orch demo --hosts: the loop with workers on two local ssh hosts, which are gone again afterwards", () => {
  const skip = sshSkipReason();
  if (skip) return console.log(`SKIP: ${skip}`);
  const tmp = tempDir("orch-demo-home-");
  const r = orch(["demo", "--hosts", "--json"], { cwd: tmp });
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /no claude/, "its hosts run the scripted agent: no warning that they lack claude");
  assert.equal(r.json.hosts.map((h: { name: string }) => h.name), ["north", "south"]);
  const workers = r.json.workers.map(
    (w: { worker_id: string; status: string; host?: string }) => `${w.worker_id} ${w.status} ${w.host ?? "here"}`,
  );
  assert.equal(workers, [
    "feat-usage-doc done north",
    "feat-greeting-en done here",
    "feat-greeting-fr done south",
  ]);
  assert.equal(r.json.approved, ["feat-usage-doc"], "the worker blocked on north was approved through its host");
  assert.equal(r.json.land.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]), [
    ["feat-usage-doc", "landed"],
    ["feat-greeting-en", "landed"],
    ["feat-greeting-fr", "returned"],
  ]);
  const relanded = r.json.relanded.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]);
  assert.equal(relanded, [["feat-greeting-fr", "landed"]]);
  assert.equal([...r.json.cleaned].sort(), ["feat-greeting-en", "feat-greeting-fr", "feat-usage-doc"]);
  for (const host of r.json.hosts as { user: string }[]) {
    assert.is.not(spawnSync("id", ["-u", host.user]).status, 0, `the account ${host.user} is deleted`);
  }
  assert.not.ok(fs.existsSync(path.dirname(r.json.repository)), "the scratch folder is removed");
});

/** Processes whose command line or working folder is under `dir` (sshds, tmux servers, agents, shells). */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      let cwd = "";
      try {
        cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // another user's process, or gone
      }
      if (cmdline.includes(dir) || cwd.startsWith(dir)) found.push(`${pid} ${cmdline}`);
    } catch {
      // ended meanwhile
    }
  }
  return found;
}

/**
 * A folder for the demo's TMPDIR that the hosts' accounts can traverse (their homes live under it), with a
 * name as long as macOS gives: tmux's and ssh's sockets would not fit under it (104 bytes), so the demo
 * must put them elsewhere, and remove them too.
 */
function demoTemp(): string {
  const dir = fs.mkdtempSync(`/tmp/od-${"long-temporary-folder-".repeat(3)}`);
  fs.chmodSync(dir, 0o755);
  return dir;
}

test("orch demo: SIGTERM while workers run ends them, removes its tmux server and scratch folder, exits 143", async () => {
  const tmp = demoTemp();
  const run = orchAsync(["demo", "--json"], { cwd: tempDir("orch-demo-home-"), env: { TMPDIR: tmp } });
  let stderr = "";
  run.child.stderr!.on("data", (chunk: string) => (stderr += chunk));
  let exited = false;
  void run.done.then(() => (exited = true));
  await waitUntil(() => exited || /orch spawn feat\/greeting-fr/.test(stderr), 60_000, "the demo to spawn its workers");
  // Held still while it is looked at: the whole demo takes seconds.
  run.child.kill("SIGSTOP");
  assert.not.ok(exited, `the demo ended by itself: ${stderr}`);
  const [scratch] = fs.readdirSync(tmp);
  assert.ok(scratch?.startsWith("orch-demo-"), "the demo made its scratch folder under TMPDIR");
  assert.ok(processesUnder(path.join(tmp, scratch!)).length > 0, "its workers run in it");
  run.child.kill("SIGTERM");
  run.child.kill("SIGCONT");
  const result = await run.done;
  assert.is(result.code, 143, result.stderr);
  assert.is(result.json.error.code, "interrupted");
  assert.match(result.stderr, /interrupted by SIGTERM/);
  assert.equal(fs.readdirSync(tmp), [], "no scratch folder left");
  assert.equal(processesUnder(tmp), [], "no tmux server, agent or shell left");
  fs.rmdirSync(tmp);
});

test("orch demo --hosts: Ctrl-C once the hosts and workers are up takes down accounts, sshds and folders, exits 130", async () => {
  const skip = sshSkipReason();
  if (skip) return console.log(`SKIP: ${skip}`);
  const tmp = demoTemp();
  const run = orchAsync(["demo", "--hosts"], { cwd: tempDir("orch-demo-home-"), env: { TMPDIR: tmp } });
  let stdout = "";
  run.child.stdout!.on("data", (chunk: string) => (stdout += chunk));
  let exited = false;
  void run.done.then(() => (exited = true));
  await waitUntil(() => exited || /orch spawn feat\/greeting-fr --host south/.test(stdout), 120_000, "the demo to spawn on the hosts");
  // Held still while it is looked at: the whole demo takes seconds.
  run.child.kill("SIGSTOP");
  assert.not.ok(exited, `the demo ended by itself: ${stdout}`);
  const users = [...stdout.matchAll(/serving a new user (\S+)/g)].map((m) => m[1]!);
  assert.is(users.length, 2, stdout);
  const passwd = () => fs.readFileSync("/etc/passwd", "utf8");
  for (const user of users) assert.ok(passwd().includes(`${user}:`), `the account ${user} exists while the demo runs`);
  assert.ok(processesUnder(tmp).some((p) => p.includes("sshd")), "the hosts' sshds run");
  run.child.kill("SIGINT");
  run.child.kill("SIGCONT");
  const result = await run.done;
  assert.is(result.code, 130, result.stderr);
  assert.match(result.stderr, /interrupted by SIGINT/);
  for (const user of users) {
    assert.not.ok(passwd().includes(`${user}:`), `the account ${user} is deleted`);
    assert.is.not(spawnSync("id", ["-u", user]).status, 0, `id ${user} knows no such user`);
  }
  assert.equal(processesUnder(tmp), [], "no sshd, tmux server, agent or shell left");
  assert.equal(fs.readdirSync(tmp), [], "no scratch folder left");
  fs.rmdirSync(tmp);
});

test("orch demo --hosts without root: one line, exit 1, nothing made", () => {
  if (process.getuid?.() !== 0) return console.log("SKIP: needs root to run orch as another user");
  const tmp = tempDir("orch-demo-nobody-");
  fs.chmodSync(tmp, 0o777);
  const [binary] = orchCommand("binary");
  const demoAsNobody = ["-u", "nobody", "--", "env", `TMPDIR=${tmp}`, binary!, "demo", "--hosts"];
  const r = spawnSync("runuser", demoAsNobody, { cwd: "/", encoding: "utf8" });
  assert.is(r.status, 1, r.stderr);
  assert.is(r.stdout, "");
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /demo --hosts: .*needs root/);
  assert.equal(fs.readdirSync(tmp), [], "nothing made");
});

test.run();
