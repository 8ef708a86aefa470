// orch host add|list|rm and workers on hosts, against real OpenSSH servers (test/ssh-harness.ts): each
// host its own sshd and user account, reached only over ssh and git. The agent is orch's scripted one.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import { sshOptions } from "../src/adapters/ssh.ts";
import * as assert from "uvu/assert";
import {
  git, orch, orchAsync, orchCommand, privateTmux, sessionRepo, sleep, snapshot, tempDir, waitUntil,
} from "./helpers.ts";
import {
  accountCommands, orchOnHost, sshSkipReason, startSshWorld, writeAsUser, type SshHost, type SshWorld,
} from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;

test.before(async () => {
  if (!skip) world = await startSshWorld(2);
});
test.after(() => world?.close());

/** The scripted agent: here the binary under test, on a host the orch that host add installed. */
const localAgent = () => `${orchCommand("binary")[0]} __demo-agent`;
const hostAgent = (host: SshHost) => `${host.home}/.local/bin/orch __demo-agent`;

interface Msg {
  id: string;
  worker_id: string;
  message_type: string;
  content: { summary?: string };
}

/** poll --wait until `count` messages came; every message id must come once. */
async function pollUntil(repo: string, env: Record<string, string | undefined>, count: number): Promise<Msg[]> {
  const got: Msg[] = [];
  const deadline = Date.now() + 120_000;
  while (got.length < count && Date.now() < deadline) {
    const r = await orchAsync(["poll", "--wait", "--timeout", "60", "--json"], { cwd: repo, env }).done;
    assert.ok(r.code === 0 || r.code === 124, r.stderr);
    if (r.code === 0) got.push(...(r.json.messages as Msg[]));
  }
  assert.is(new Set(got.map((m) => m.id)).size, got.length, "no message twice");
  return got;
}

test("host add installs orch and makes the clone; added again it upgrades orch and mends the clone; " +
  "bad input is refused; rm forgets it", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  const added = orch(["host", "add", "alpha", a!.alias, "--path", "~/clones/repo", "--json"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  assert.is(added.json.installed, true);
  assert.is(added.json.path, "clones/repo");
  assert.is(a!.runAs([".local/bin/orch", "--version"]).stdout.trim(), orch(["--version"], { cwd: repo }).stdout.trim());
  assert.is(a!.runAs(["git", "-C", "clones/repo", "rev-parse", "HEAD"]).stdout.trim(), git(["rev-parse", "HEAD"], repo));
  // Added again as it was: checked anew, nothing to do.
  const again = orch(["host", "add", "alpha", a!.alias, "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.equal([again.json.again, again.json.installed, again.json.path, again.json.added_at],
    [true, false, "clones/repo", added.json.added_at]);
  // Another destination or clone under the same name is another host: refused, nothing changed.
  for (const other of [["ssh://nobody@127.0.0.1:1"], [a!.alias, "--path", "elsewhere"]]) {
    const r = orch(["host", "add", "alpha", ...other, "--json"], { cwd: repo, env });
    assert.is(r.code, 1, r.stderr);
    assert.is(r.json.error.code, "exists");
  }
  assert.equal(JSON.parse(fs.readFileSync(`${repo}/.orch/hosts/alpha.json`, "utf8")).path, "clones/repo");
  // An older orch there, and a clone removed there: added again, orch is upgraded and the clone made anew.
  a!.runAs(["sh", "-c", 'printf "%s\\n" "#!/bin/sh" "echo orch 0.0.1" > .local/bin/orch && rm -rf clones/repo']);
  assert.is(a!.runAs([".local/bin/orch", "--version"]).stdout.trim(), "orch 0.0.1");
  const upgraded = orch(["host", "add", "alpha", a!.alias, "--json"], { cwd: repo, env });
  assert.is(upgraded.code, 0, upgraded.stderr);
  assert.equal([upgraded.json.again, upgraded.json.installed], [true, true]);
  assert.is(a!.runAs([".local/bin/orch", "--version"]).stdout.trim(), orch(["--version"], { cwd: repo }).stdout.trim());
  assert.is(a!.runAs(["git", "-C", "clones/repo", "rev-parse", "HEAD"]).stdout.trim(), git(["rev-parse", "HEAD"], repo));
  const list = orch(["host", "list", "--json"], { cwd: repo, env });
  assert.is(list.code, 0, list.stderr);
  const listed = list.json.hosts.map(
    (h: { name: string; reachable: boolean; orch_version: string }) => [h.name, h.reachable, h.orch_version],
  );
  assert.equal(listed, [["alpha", true, added.json.orch_version]]);

  const hostsBefore = fs.readFileSync(`${repo}/.orch/hosts/alpha.json`, "utf8");
  const misplaced = [
    ["host", "list", "--path", "x"],
    ["host", "rm", "alpha", "--path", "x"],
    ["host", "add", "alpha", a!.alias, "--force"],
  ];
  const refused = [
    ["host", "add", "-x", a!.alias],
    ["host", "add", "x", "-oProxyCommand=touch /tmp/pwned"],
    ["host", "add", "x", "a b"],
    ["host", "frob"],
    ...misplaced,
  ];
  for (const bad of refused) {
    const r = orch([...bad, "--json"], { cwd: repo, env });
    assert.is(r.code, 2, `${bad.join(" ")}: ${r.stderr}`);
    if (misplaced.includes(bad)) assert.match(r.json.error.message, /is an option of host (add|rm), not of host (list|rm|add)/);
  }
  assert.is(fs.readFileSync(`${repo}/.orch/hosts/alpha.json`, "utf8"), hostsBefore, "the host was not removed");
  const unknown = orch(["spawn", "feat/x", "--host", "nowhere", "--no-window", "--json"], { cwd: repo, env });
  assert.is(unknown.code, 2, unknown.stderr);
  assert.match(unknown.json.error.message, /unknown host/);
  const unreachable = orch(["host", "add", "gamma", "ssh://nobody@127.0.0.1:1", "--json"], { cwd: repo, env });
  assert.is(unreachable.code, 1);
  assert.match(unreachable.json.error.message, /unreachable/);
  const removed = orch(["host", "rm", "alpha", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.equal(orch(["host", "list", "--json"], { cwd: repo, env }).json.hosts, []);
});

test("two hosts and a local worker: spawn, poll --wait across hosts, await, status, diff, land --test, clean", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a, b] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env, ...privateTmux() };
  for (const [name, host] of [["alpha", a!], ["beta", b!]] as const) {
    const r = orch(["host", "add", name, host.alias, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
  }
  const work = (file: string, text: string) => `Do the work.\nsleep 800\nwrite ${file} ${text}\ncommit Add ${file}`;
  const spawned = [
    orch(["spawn", "feat/here", "--agent", localAgent(), "--prompt", work("here.txt", "made here"), "--json"], { cwd: repo, env }),
    orch(["spawn", "feat/alpha", "--host", "alpha", "--agent", hostAgent(a!),
      "--prompt", work("alpha.txt", "made on alpha"), "--json"], { cwd: repo, env }),
    orch(["spawn", "feat/beta", "--host", "beta", "--agent", hostAgent(b!),
      "--prompt", work("beta.txt", "made on beta"), "--json"], { cwd: repo, env }),
  ];
  for (const r of spawned) assert.is(r.code, 0, r.stderr);
  assert.equal(spawned.map((r) => r.json.host), [null, "alpha", "beta"]);
  assert.ok(spawned[1]!.json.worktree_path.startsWith(a!.home), spawned[1]!.json.worktree_path);

  const messages = await pollUntil(repo, env, 3);
  assert.equal(messages.map((m) => `${m.worker_id} ${m.message_type}`).sort(), [
    "feat-alpha task_complete",
    "feat-beta task_complete",
    "feat-here task_complete",
  ]);

  const awaited = orch(["await", "--timeout", "60", "--json"], { cwd: repo, env });
  assert.is(awaited.code, 0, awaited.stderr);
  const awaitedWorkers = awaited.json.workers.map(
    (w: { worker_id: string; status: string }) => `${w.worker_id} ${w.status}`,
  );
  assert.equal(awaitedWorkers.sort(), ["feat-alpha done", "feat-beta done", "feat-here done"]);

  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  const byId = Object.fromEntries(status.json.workers.map((w: { worker_id: string }) => [w.worker_id, w]));
  assert.is(byId["feat-alpha"].host, "alpha");
  assert.is(byId["feat-beta"].status, "done");
  assert.is(byId["feat-here"].host, null);

  const diff = orch(["diff", "feat/alpha", "--json"], { cwd: repo, env });
  assert.is(diff.code, 0, diff.stderr);
  assert.equal(diff.json.files.map((f: { path: string }) => f.path), ["alpha.txt"]);
  assert.match(diff.json.diff, /\+made on alpha/);

  const dry = orch(["apply", "feat/beta", "--dry-run", "--json"], { cwd: repo, env });
  assert.is(dry.code, 0, dry.stderr);
  assert.is(dry.json.applies_cleanly, true);
  const landed = orch(["land", "--test", "test -f README.md", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  assert.equal(landed.json.results.map((r: { status: string }) => r.status), ["landed", "landed", "landed"]);
  for (const file of ["here.txt", "alpha.txt", "beta.txt"]) assert.ok(fs.existsSync(path.join(repo, file)), file);

  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo, env });
  assert.is(cleaned.code, 0, cleaned.stderr);
  assert.equal(cleaned.json.removed.map((r: { worker_id: string }) => r.worker_id).sort(), ["feat-alpha", "feat-beta", "feat-here"]);
  assert.equal(orch(["list", "--json"], { cwd: repo, env }).json.workers, []);
  assert.not.ok(fs.existsSync(spawned[1]!.json.worktree_path), "the worktree on alpha is gone");
  assert.is(a!.runAs(["git", "-C", "orch/repo", "branch", "--list", "feat/alpha"]).stdout.trim(), "");
});

test("a host that goes away during poll --wait: the other keeps delivering; back again, its messages arrive, each once", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a, b] = world.hosts;
  const { repo } = sessionRepo();
  const env = { ...world.env };
  for (const [name, host] of [["alpha", a!], ["beta", b!]] as const) {
    const added = orch(["host", "add", name, host.alias, "--path", "faults/repo"], { cwd: repo, env });
    assert.is(added.code, 0, added.stderr);
  }
  const onA = orch(["spawn", "feat/fa", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  const onB = orch(["spawn", "feat/fb", "--host", "beta", "--no-window", "--json"], { cwd: repo, env });
  assert.is(onA.code, 0, onA.stderr);
  assert.is(onB.code, 0, onB.stderr);
  const worktreeA = onA.json.worktree_path as string;
  const worktreeB = onB.json.worktree_path as string;

  // One listener, as an orchestrator keeps it: poll --wait again and again.
  const got: Msg[] = [];
  const warnings: string[] = [];
  let listening = true;
  const listener = (async () => {
    while (listening) {
      const r = await orchAsync(["poll", "--wait", "--timeout", "2", "--json"], { cwd: repo, env }).done;
      warnings.push(r.stderr);
      if (r.code === 0) got.push(...(r.json.messages as Msg[]));
      else assert.is(r.code, 124, r.stderr);
    }
  })();
  const waitFor = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 90_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${got.map((m) => m.content.summary).join(", ")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const summaries = () => got.map((m) => m.content.summary!);
  const report = (host: SshHost, worktree: string, summary: string) =>
    orchOnHost(host, worktree, ["notify", "--type", "progress", "--summary", summary]);

  for (let i = 0; i < 5; i++) {
    report(a!, worktreeA, `a${i}`);
    report(b!, worktreeB, `b${i}`);
  }
  await waitFor("the first ten", () => got.length >= 10);

  b!.stop();
  for (let i = 5; i < 10; i++) {
    report(a!, worktreeA, `a${i}`);
    report(b!, worktreeB, `b${i}`); // written on beta, which nobody can reach now
  }
  await waitFor("alpha's five while beta is away", () => summaries().filter((s) => s.startsWith("a")).length === 10);
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  const statusOf = Object.fromEntries(status.json.workers.map((w: { worker_id: string; status: string }) => [w.worker_id, w]));
  assert.is(statusOf["feat-fb"].status, "unreachable");
  assert.ok(statusOf["feat-fb"].error, "the ssh error is given");
  assert.is(statusOf["feat-fa"].status, "running");
  assert.match(status.stderr, /beta/);
  assert.is(summaries().filter((s) => s.startsWith("b")).length, 5, "beta's later messages wait on beta");

  await b!.start();
  await waitFor("beta's five after it came back", () => got.length >= 20);
  await new Promise((r) => setTimeout(r, 1500)); // a doubled message would show up now
  listening = false;
  await listener;
  const expected = [...Array(10).keys()].flatMap((i) => [`a${i}`, `b${i}`]).sort();
  assert.equal(summaries().sort(), expected, "every message once");
  assert.ok(warnings.some((w) => /beta/.test(w)), "poll warned about beta");
  for (const who of ["feat-fa", "feat-fb"]) {
    const mine = got.filter((m) => m.worker_id === who).map((m) => m.content.summary);
    assert.equal(mine, [...mine].sort((x, y) => Number(x!.slice(1)) - Number(y!.slice(1))), `${who}'s messages in order`);
  }
});

test("a branch name and a prompt full of shell syntax spawn on a host and run nothing; send crosses as data", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  // The C locale here, so on the host too (orch sends LC_ALL, its sshd accepts LC_*): text outside ASCII stays bytes.
  const env = { ...world.env, ...privateTmux(), LC_ALL: "C", LANG: undefined };
  const added = orch(["host", "add", "alpha", a!.alias, "--path", "hostile/repo"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  const recorder = path.join(a!.home, "record-agent");
  // got-prompt appears whole (written aside, then renamed) and last: once it exists, both can be read.
  const script = 'printf %s "$PWD" > "$HOME/got-cwd"\n' +
    'printf %s "$1" > "$HOME/got-prompt.tmp"\nmv "$HOME/got-prompt.tmp" "$HOME/got-prompt"\n';
  fs.writeFileSync(recorder, `#!/bin/sh\n${script}exec sleep 60\n`, { mode: 0o755 });
  const branch = "x`touch${IFS}pwned1`;$(touch${IFS}pwned2)&|\"q'<>!";
  const wide = "日本 👩\u200d👩\u200d👧 🇯🇵 e\u0301 עברית \u202eevil\u202c \u200b\ufeff\u{E0041}";
  const prompt = `-n '$(touch pwned3)' "\`touch pwned4\`" ; touch pwned5 && $HOME\nline two\n\tünïcödé ✓ ${wide}\n`;
  const r = orch(["spawn", branch, "--host", "alpha", "--agent", recorder, `--prompt=${prompt}`, "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  const gotPrompt = path.join(a!.home, "got-prompt");
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(gotPrompt) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  assert.ok(fs.readFileSync(gotPrompt, "utf8").startsWith(prompt), "the prompt reached the agent on the host byte for byte");
  assert.is(fs.readFileSync(path.join(a!.home, "got-cwd"), "utf8"), r.json.worktree_path);
  assert.is(a!.runAs(["git", "-C", "hostile/repo", "for-each-ref", "--format=%(refname:short)", "refs/heads/x*"]).stdout.trim(), branch);
  const sent = orch(["send", r.json.worker_id, "$(touch pwned6) `touch pwned7`", "--json"], { cwd: repo, env });
  assert.is(sent.code, 0, sent.stderr);
  const found = a!.runAs(["find", a!.home, "/tmp", "-name", "pwned*"]).stdout.trim();
  assert.is(found, "", "nothing ran on the host");
  assert.not.ok(fs.readdirSync(repo).some((n) => n.startsWith("pwned")), "nothing ran here");
  const stopped = orch(["stop", r.json.worker_id, "--json"], { cwd: repo, env });
  assert.is(stopped.code, 0, stopped.stderr);
  assert.is(stopped.json.window_closed, true);
  const removed = orch(["rm", branch, "--force", "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(fs.existsSync(r.json.worktree_path));
});

test("await while its worker's host is away: 124 past its timeout; a drop mid-wait is waited out, and the report comes", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = { ...world.env };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "awaits/repo"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "feat/aw", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const id = spawned.json.worker_id as string;

  a!.stop();
  try {
    const away = orch(["await", id, "--timeout", "3", "--json"], { cwd: repo, env, timeout: 60_000 });
    assert.is(away.code, 124, `${away.stderr}${away.stdout}`);
    assert.is(away.json.workers[0].status, "unreachable");
    assert.match(away.stderr, /^orch: workers still running after 3s: feat-aw unreachable$/m);
    assert.match(away.stderr, /host alpha: .*trying again/);
  } finally {
    await a!.start();
  }

  const awaiting = orchAsync(["await", id, "--timeout", "120", "--json"], { cwd: repo, env });
  let ended = false;
  void awaiting.done.then(() => (ended = true));
  await new Promise((r) => setTimeout(r, 1000));
  a!.stop();
  await new Promise((r) => setTimeout(r, 3000));
  await a!.start();
  assert.not.ok(ended, "the wait went on while alpha was away");
  orchOnHost(a!, spawned.json.worktree_path, ["notify", "--type", "task_complete", "--summary", "done on alpha"]);
  const r = await awaiting.done;
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.workers.map((w: { status: string; host: string }) => [w.status, w.host]), [["done", "alpha"]]);
  assert.is(r.json.workers[0].final_message.content.summary, "done on alpha");
});

test("two sessions sharing a host's clone: a spawn of a branch the other's worker has there is refused, its work kept", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo, id: first } = sessionRepo();
  const second = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id as string;
  const env = world.env;
  const added = orch(["host", "add", "alpha", a!.alias, "--path", "shared/repo"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  const spawn = (orchId: string) =>
    orch(["spawn", "feat/shared", "--host", "alpha", "--orch", orchId, "--no-window", "--json"], { cwd: repo, env });
  const mine = spawn(first);
  assert.is(mine.code, 0, mine.stderr);
  const worktree = mine.json.worktree_path as string;
  // The first session's worker commits its work there.
  const onHost = (args: string[]) => a!.runAs(["git", "-C", worktree, ...args]);
  fs.writeFileSync(path.join(worktree, "work.txt"), "the first session's work\n");
  fs.chownSync(path.join(worktree, "work.txt"), a!.uid, fs.statSync(worktree).gid);
  assert.is(onHost(["add", "work.txt"]).code, 0);
  assert.is(onHost(["commit", "-q", "-m", "Work"]).code, 0);
  const tip = onHost(["rev-parse", "HEAD"]).stdout.trim();

  // The second session spawns the same branch there: with the branch here (pushed as it is here), and
  // without it from a base the host lacks (pushed as the branch). Neither moves the worker's branch.
  const workKept = (what: string) => {
    assert.is(onHost(["rev-parse", "HEAD"]).stdout.trim(), tip, `${what}: the worker's branch is where its commit left it`);
    assert.ok(fs.existsSync(path.join(worktree, "work.txt")), `${what}: its worktree keeps the work`);
    assert.equal(onHost(["status", "--porcelain"]).stdout, "", `${what}: its worktree untouched`);
  };
  git(["branch", "feat/shared", "HEAD"], repo);
  const withBranch = spawn(second);
  workKept("the branch pushed from here");
  assert.is(withBranch.code, 1, withBranch.stderr);
  assert.is(withBranch.json.error.code, "exists");
  git(["branch", "-D", "feat/shared"], repo);
  git(["commit", "-q", "--allow-empty", "-m", "A base the host lacks"], repo);
  const fromNewBase = spawn(second);
  workKept("the base pushed as the branch");
  assert.is(fromNewBase.code, 1, fromNewBase.stderr);
  assert.is(fromNewBase.json.error.code, "exists");
  assert.match(fromNewBase.json.error.message, /feat\/shared is on host alpha but is no branch here/);
  const listed = (orchId: string) =>
    orch(["list", "--orch", orchId, "--json"], { cwd: repo, env }).json.workers.map((w: { worker_id: string }) => w.worker_id);
  assert.equal([listed(first), listed(second)], [["feat-shared"], []]);
});

test("two repositories sharing a host's clone: a branch one's worker left there is not the other's to start on", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo: first } = sessionRepo();
  const second = `${tempDir()}/repo`;
  git(["clone", "--quiet", first, second], tempDir());
  assert.is(orch(["init", "--json"], { cwd: second }).code, 0);
  const env = world.env;
  for (const repo of [first, second]) {
    const added = orch(["host", "add", "alpha", a!.alias, "--path", "left/repo"], { cwd: repo, env });
    assert.is(added.code, 0, added.stderr);
  }
  const spawn = (repo: string) =>
    orch(["spawn", "feat/left", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  // The first repository's worker commits there and is removed, its branch kept (no --delete-branch).
  const mine = spawn(first);
  assert.is(mine.code, 0, mine.stderr);
  const worktree = mine.json.worktree_path as string;
  fs.writeFileSync(path.join(worktree, "work.txt"), "the first repository's work\n");
  fs.chownSync(path.join(worktree, "work.txt"), a!.uid, fs.statSync(worktree).gid);
  assert.is(a!.runAs(["git", "-C", worktree, "add", "work.txt"]).code, 0);
  assert.is(a!.runAs(["git", "-C", worktree, "commit", "-q", "-m", "Work"]).code, 0);
  const tip = a!.runAs(["git", "-C", worktree, "rev-parse", "HEAD"]).stdout.trim();
  const removed = orch(["rm", "feat-left", "--yes", "--json"], { cwd: first, env });
  assert.is(removed.code, 0, removed.stderr);
  const onHost = () => a!.runAs(["git", "-C", "left/repo", "rev-parse", "refs/heads/feat/left"]).stdout.trim();
  assert.is(onHost(), tip, "the branch is kept on the host");

  // The second repository has no such branch: its worker would start on the first one's commits. Refused,
  // from a base the host has and from one it lacks (which would be pushed as the branch), nothing made.
  const refused = (what: string) => {
    const r = spawn(second);
    assert.is(r.code, 1, `${what}: ${r.stderr}`);
    assert.is(r.json.error.code, "exists", what);
    assert.match(r.json.error.message, /branch feat\/left is on host alpha but is no branch here/, what);
    assert.is(onHost(), tip, `${what}: the first repository's branch is where its work left it`);
    assert.equal(orch(["list", "--json"], { cwd: second, env }).json.workers, [], `${what}: nothing recorded`);
  };
  refused("a base the host has");
  git(["commit", "-q", "--allow-empty", "-m", "A base the host lacks"], second);
  refused("a base the host lacks");
  assert.is(git(["branch", "--list", "feat/left"], second), "", "no branch made here either");

  // The first repository has it, as the host had it when its worker was removed: spawned again, it is pushed from
  // here and the worker starts on its work.
  assert.is(git(["rev-parse", "refs/heads/feat/left"], first), tip, "kept here too by rm, as the host has it");
  const again = spawn(first);
  assert.is(again.code, 0, again.stderr);
  assert.is(a!.runAs(["git", "-C", again.json.worktree_path, "rev-parse", "HEAD"]).stdout.trim(), tip);

  // Each repository's status, poll and rm see and touch only its own worker in the shared clone.
  const other = orch(["spawn", "feat/other", "--host", "alpha", "--no-window", "--json"], { cwd: second, env });
  assert.is(other.code, 0, other.stderr);
  orchOnHost(a!, other.json.worktree_path, ["notify", "--type", "progress", "--summary", "second's"]);
  orchOnHost(a!, again.json.worktree_path, ["notify", "--type", "progress", "--summary", "first's"]);
  const ids = (repo: string) =>
    orch(["status", "--json"], { cwd: repo, env }).json.workers.map((w: Msg) => w.worker_id);
  assert.equal([ids(first), ids(second)], [["feat-left"], ["feat-other"]]);
  const polled = (repo: string) =>
    orch(["poll", "--json"], { cwd: repo, env }).json.messages.map((m: Msg) => [m.worker_id, m.content.summary]);
  assert.equal(polled(first), [["feat-left", "first's"]]);
  assert.equal(polled(second), [["feat-other", "second's"]]);
  const removed2 = orch(["rm", "feat-left", "--yes", "--force", "--delete-branch"], { cwd: first, env });
  assert.is(removed2.code, 0, removed2.stderr);
  assert.equal(ids(second), ["feat-other"]);
  assert.ok(fs.existsSync(other.json.worktree_path), "the second repository's worktree stays");
});

test("host rm in one repository leaves another's commands on that host (one shared connection) running", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo: first } = sessionRepo();
  const { repo: second } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "rm-one/repo"], { cwd: first, env }).code, 0);
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "rm-two/repo"], { cwd: second, env }).code, 0);
  const spawned = orch(["spawn", "feat/waits", "--host", "alpha", "--no-window", "--json"], { cwd: second, env });
  assert.is(spawned.code, 0, spawned.stderr);
  // The second repository's poll --wait holds its channel on the host through the shared connection.
  const waiting = orchAsync(["poll", "--wait", "--timeout", "60", "--json"], { cwd: second, env });
  await waitUntil(() => accountCommands(a!.uid).some((c) => c.includes("__lifeline")), 30_000, "the poll on the host");
  // The shared connection's master, as the master listening on its socket says.
  const sshEnv = { ...process.env, ...env };
  const checked = spawnSync("ssh", [...sshOptions(a!.alias, sshEnv), "-O", "check", a!.alias], {
    env: sshEnv, encoding: "utf8",
  });
  const master = Number(/pid=(\d+)/.exec(checked.stderr)?.[1]);
  assert.ok(master > 0, checked.stderr);
  const removed = orch(["host", "rm", "alpha"], { cwd: first, env });
  assert.is(removed.code, 0, removed.stderr);
  orchOnHost(a!, spawned.json.worktree_path, ["notify", "--type", "progress", "--summary", "still here"]);
  const polled = await waiting.done;
  assert.is(polled.code, 0, polled.stderr);
  assert.equal(polled.json.messages.map((m: Msg) => m.content.summary), ["still here"]);
  assert.is(polled.stderr, "", "its connection was not ended under it");
  // The master ends once the poll's channel has: host rm leaves no connection behind.
  const alive = (pid: number) => spawnSync("kill", ["-0", String(pid)]).status === 0;
  await waitUntil(() => !alive(master), 30_000, "the shared connection's end");
});

test("a --path with spaces, quotes and % is the clone's folder for git as for ssh: %2e%2e is a name, not ..", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  const clone = "odd path/%2e%2e/it's 100%41";
  const added = orch(["host", "add", "alpha", a!.alias, "--path", clone, "--json"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  assert.is(added.json.path, clone);
  const headOf = (dir: string) => a!.runAs(["git", "-C", dir, "rev-parse", "HEAD"]).stdout.trim();
  assert.is(headOf(clone), git(["rev-parse", "HEAD"], repo), "pushed into the clone host add made");
  for (const decoded of ["it's 100A", "odd path/../it's 100A", "it's 100%41"]) {
    assert.not.ok(fs.existsSync(path.join(a!.home, decoded)), `nothing at ${decoded}`);
  }
  // Its workers' branches go there and come back by the same URL.
  git(["commit", "-q", "--allow-empty", "-m", "A base the host lacks"], repo);
  const spawned = orch(["spawn", "feat/odd", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  assert.ok(spawned.json.worktree_path.startsWith(path.join(a!.home, "odd path/%2e%2e/")), spawned.json.worktree_path);
  assert.is(headOf(spawned.json.worktree_path), git(["rev-parse", "HEAD"], repo));
  const diff = orch(["diff", "feat-odd", "--json"], { cwd: repo, env });
  assert.is(diff.code, 0, diff.stderr);
  const removed = orch(["rm", "feat-odd", "--delete-branch", "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.branch_deleted, true);
});

test("host rm of a host the session used: later poll, watch and land say nothing of it; with a worker left, they do", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "forgotten/repo"], { cwd: repo, env }).code, 0);
  const spawn = (branch: string) => orch(["spawn", branch, "--host", "alpha", "--no-window"], { cwd: repo, env });
  assert.is(spawn("feat/once").code, 0);
  assert.is(orch(["rm", "feat-once", "--yes"], { cwd: repo, env }).code, 0);
  const removed = orch(["host", "rm", "alpha"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  const quiet = (args: string[], code = 0) => {
    const r = orch(args, { cwd: repo, env });
    assert.is(r.code, code, r.stderr);
    return r.stderr.split("\n").filter((line) => line.includes("alpha"));
  };
  for (const args of [["poll"], ["land"], ["status"]]) assert.equal(quiet(args), [], args.join(" "));
  assert.equal(quiet(["watch", "--timeout", "1"], 124), []);

  // A worker of it still recorded here (host rm --force): its messages wait there, and poll says so.
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "forgotten/repo"], { cwd: repo, env }).code, 0);
  assert.is(spawn("feat/left").code, 0);
  assert.is(orch(["host", "rm", "alpha", "--force"], { cwd: repo, env }).code, 0);
  assert.match(quiet(["poll"]).join("\n"), /host alpha is no longer known .*its messages stay there/);
  assert.is(orch(["rm", "feat-left", "--yes"], { cwd: repo, env }).code, 0);
  assert.equal(quiet(["poll"]), [], "nothing of it is left here");
});

test("host add whose push is refused says git's reason (a clone of another history there); a repository without " +
  "commits is refused before the host is touched", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const env = world.env;
  const first = sessionRepo({ "README.md": "# first\n" }).repo;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "taken/repo"], { cwd: first, env }).code, 0);
  const other = sessionRepo({ "README.md": "# another history\n" }).repo;
  const refused = orch(["host", "add", "alpha", a!.alias, "--path", "taken/repo", "--json"], { cwd: other, env });
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.json.error.message, /: ! \[rejected\] .* \(taken\/repo there holds another history: choose another --path\)$/);
  const empty = path.join(path.dirname(first), "empty");
  fs.mkdirSync(empty);
  git(["init", "-q", "-b", "main"], empty);
  assert.is(orch(["init"], { cwd: empty }).code, 0);
  const unborn = orch(["host", "add", "alpha", a!.alias, "--path", "unborn/repo", "--json"], { cwd: empty, env });
  assert.is(unborn.code, 1, unborn.stderr);
  assert.equal(unborn.json.error, { code: "not_found",
    message: `${empty} has no commit yet to make host alpha's clone from: commit first` });
  assert.not.ok(fs.existsSync(path.join(a!.home, "unborn")), "no clone was made there");
});

test("host add --path of a repository orch did not make there (the user's own checkout) is refused, left untouched", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const env = world.env;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  // The host's user has a checkout of their own there.
  const mine = path.join(a!.home, "src", "shop");
  const as = (args: string[]) => {
    const r = a!.runAs(args);
    assert.is(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  as(["mkdir", "-p", mine]);
  as(["git", "-C", mine, "init", "-q", "-b", "main"]);
  as(["git", "-C", mine, "-c", "user.name=me", "-c", "user.email=me@host", "commit", "-q", "--allow-empty", "-m", "mine"]);
  const first = as(["git", "-C", mine, "rev-parse", "HEAD"]);
  const refused = orch(["host", "add", "alpha", a!.alias, "--path", "src/shop", "--json"], { cwd: repo, env });
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.json.error.message, /src\/shop on host alpha holds a repository orch did not make: .*choose another --path/);
  // Its config, branch and worktree as they were; no host recorded here.
  assert.is(a!.runAs(["git", "-C", mine, "config", "receive.denyCurrentBranch"]).code, 1);
  assert.is(as(["git", "-C", mine, "rev-parse", "HEAD"]), first);
  assert.is(orch(["host", "list", "--json"], { cwd: repo, env }).json.hosts.length, 0);
  // A folder orch made (and added again after host rm) is used as before.
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "orch-made/shop"], { cwd: repo, env }).code, 0);
  assert.is(orch(["host", "rm", "alpha"], { cwd: repo, env }).code, 0);
  const again = orch(["host", "add", "alpha", a!.alias, "--path", "orch-made/shop", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
});

test("stop and rm of a worker on a host say what they ended, as for a worker here: processes_ended, not_ended", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = { ...world.env, ...privateTmux() };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "ended/repo"], { cwd: repo, env }).code, 0);
  // An agent that leaves a tool running beside it: stop ends both.
  const script = "#!/bin/sh\nsleep 300 &\nexec sleep 300\n";
  const agents = { here: path.join(path.dirname(repo), "busy-agent"), there: path.join(a!.home, "busy-agent") };
  for (const file of Object.values(agents)) fs.writeFileSync(file, script, { mode: 0o755 });
  const started = (branch: string, args: string[]) => {
    const r = orch(["spawn", branch, ...args, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    return r.json.worker_id as string;
  };
  const here = started("feat/busy-here", ["--agent", agents.here]);
  const there = started("feat/busy-there", ["--host", "alpha", "--agent", agents.there]);
  const sleepsThere = () => a!.runAs(["pgrep", "-u", String(a!.uid), "-fx", "sleep 300"]).stdout.trim().split("\n").filter(Boolean);
  await waitUntil(() => sleepsThere().length === 2, 30_000, "the agent and its tool on the host");

  const stopHere = orch(["stop", here, "--json"], { cwd: repo, env });
  const stopThere = orch(["stop", there, "--json"], { cwd: repo, env });
  assert.is(stopThere.code, 0, stopThere.stderr);
  assert.equal(Object.keys(stopThere.json).sort(), Object.keys(stopHere.json).sort(), "the same shape as here");
  assert.ok(stopThere.json.processes_ended >= 2, `the agent and its tool: ${stopThere.stdout}`);
  assert.equal(stopThere.json.not_ended, []);
  assert.equal(sleepsThere(), []);
  const rmHere = orch(["rm", here, "--yes", "--json"], { cwd: repo, env });
  const rmThere = orch(["rm", there, "--yes", "--json"], { cwd: repo, env });
  assert.is(rmThere.code, 0, rmThere.stderr);
  assert.equal(Object.keys(rmThere.json).sort(), Object.keys(rmHere.json).sort(), "the same shape as here");
});

test("host add again replaces another build of the same version on the host (an orch from before a rebuild here)", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "rebuilt/repo"], { cwd: repo, env }).code, 0);
  // What an earlier build of this version leaves there: it says the same version, and is not this file.
  const version = orch(["--version"], { cwd: repo }).stdout.trim();
  writeAsUser(a!, ".local/bin/orch", `#!/bin/sh\necho '${version}'\n`, 0o755);
  const again = orch(["host", "add", "alpha", a!.alias, "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.equal([again.json.again, again.json.installed], [true, true]);
  const installed = fs.readFileSync(path.join(a!.home, ".local/bin/orch"));
  assert.ok(installed.equals(fs.readFileSync(orchCommand("binary")[0]!)), "this orch's file is there now");
  const once = orch(["host", "add", "alpha", a!.alias, "--json"], { cwd: repo, env });
  assert.equal([once.code, once.json.installed], [0, false], "the same build is left as it is");
});

test("host add leaves a newer build of this version on the host, saying so; an older one it replaces", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "builds/repo"], { cwd: repo, env }).code, 0);
  const ours = orch(["--version", "--json"], { cwd: repo }).json;
  assert.type(ours.build?.built_at, "string", "the binary knows when it was built");
  assert.type(ours.build?.committed_at, "string", "and its commit's date");
  const shifted = (hours: number) => {
    const by = (iso: string) => new Date(Date.parse(iso) + hours * 3_600_000).toISOString();
    return { built_at: by(ours.build.built_at), committed_at: by(ours.build.committed_at) };
  };
  /** An orch build of this version there, stamped `hours` from this one, as --version and --version --json say. */
  const buildThere = (hours: number) => {
    const json = JSON.stringify({ success: true, version: ours.version, build: shifted(hours) }, null, 2);
    const script = `#!/bin/sh\ncase " $* " in *" --json "*) cat <<'EOF'\n${json}\nEOF\n;; ` +
      `*) echo 'orch ${ours.version}' ;; esac\n`;
    writeAsUser(a!, ".local/bin/orch", script, 0o755);
    return script;
  };
  const installedThere = () => fs.readFileSync(path.join(a!.home, ".local/bin/orch"));
  const newer = buildThere(1);
  const kept = orch(["host", "add", "alpha", a!.alias, "--json"], { cwd: repo, env });
  assert.is(kept.code, 0, kept.stderr);
  // Before, any other file of the same version was taken for an older build and replaced.
  assert.equal([kept.json.again, kept.json.installed], [true, false]);
  assert.is(installedThere().toString(), newer, "the newer build is left there");
  const said = new RegExp(`^orch: host alpha has a newer build of orch ${ours.version} \\(built ` +
    `${shifted(1).built_at} from a commit of ${shifted(1).committed_at}\\) than this one \\(built ` +
    `${ours.build.built_at} from a commit of ${ours.build.committed_at}\\): left as it is$`);
  const lines = kept.stderr.split("\n").filter((line) => line.includes("newer"));
  assert.is(lines.length, 1, kept.stderr);
  assert.match(lines[0]!, said, kept.stderr);
  assert.ok(kept.json.warnings.some((w: string) => said.test(`orch: ${w}`)), kept.stdout);
  buildThere(-1);
  const replaced = orch(["host", "add", "alpha", a!.alias, "--json"], { cwd: repo, env });
  assert.is(replaced.code, 0, replaced.stderr);
  assert.is(replaced.json.installed, true);
  assert.not.match(replaced.stderr, /newer/);
  assert.ok(installedThere().equals(fs.readFileSync(orchCommand("binary")[0]!)), "the older build is replaced");
});

test("spawns to a host at once, its first use by the session: one session there, every worker's report arrives", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo, id } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "together/repo"], { cwd: repo, env }).code, 0);
  const branches = ["feat/t1", "feat/t2", "feat/t3", "feat/t4"];
  const spawns = branches.map((b) => orchAsync(["spawn", b, "--host", "alpha", "--no-window", "--json"], { cwd: repo, env }).done);
  const spawned = await Promise.all(spawns);
  for (const r of spawned) assert.is(r.code, 0, r.stderr);
  const sessions = a!.runAs(["ls", "together/repo/.orch/sessions"]).stdout.split("\n").filter((n) => n.startsWith("orch_"));
  assert.is(sessions.length, 1, `one session on the host for ${id}: ${sessions.join(", ")}`);
  for (const r of spawned) orchOnHost(a!, r.json.worktree_path, ["notify", "--type", "task_complete", "--summary", r.json.worker_id]);
  const polled = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(polled.code, 0, polled.stderr);
  assert.equal(polled.json.messages.map((m: Msg) => m.content.summary).sort(), ["feat-t1", "feat-t2", "feat-t3", "feat-t4"]);
});

test("spawns of one branch to a host at once: the worker one records is kept on the host, the other refused", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "twice/repo"], { cwd: repo, env }).code, 0);
  assert.is(orch(["spawn", "feat/first", "--host", "alpha", "--no-window"], { cwd: repo, env }).code, 0);
  // The host's orch answers a spawn 2 s after it has made the worker: the second spawn, started then, finds
  // the worker there and records it here before the first has had its answer.
  const installed = path.join(a!.home, ".local/bin/orch");
  fs.renameSync(installed, `${installed}.real`);
  writeAsUser(a!, ".local/bin/orch", '#!/bin/sh\n"$0.real" "$@"; code=$?\n[ "$1" = spawn ] && sleep 2\nexit $code\n', 0o755);
  try {
    const spawn = () => orchAsync(["spawn", "feat/twice", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env }).done;
    const first = spawn();
    const made = path.join(a!.home, "twice/repo-worktrees/feat-twice");
    await waitUntil(() => fs.existsSync(made), 30_000, "the first spawn's worker on the host");
    await sleep(500);
    const second = await spawn();
    const results = [await first, second];
    assert.equal(results.map((r) => r.code).sort(), [0, 1], results.map((r) => r.stderr).join(" | "));
    assert.match(results.find((r) => r.code === 1)!.stderr, /was created by another spawn at the same time/);
  } finally {
    fs.renameSync(`${installed}.real`, installed);
  }
  const status = orch(["status", "--json"], { cwd: repo, env });
  const twice = status.json.workers.find((w: { worker_id: string }) => w.worker_id === "feat-twice");
  assert.equal([twice.status, twice.error], ["running", undefined], "the worker recorded here is still on the host");
  assert.ok(fs.existsSync(twice.worktree_path));
});

test("spawn --host of the branch checked out here is refused, as a spawn here is: its fetches back would be", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "mine/repo"], { cwd: repo, env }).code, 0);
  git(["checkout", "-q", "-b", "feat/mine"], repo);
  const before = snapshot(path.join(repo, ".orch"));
  const spawned = orch(["spawn", "feat/mine", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 1, spawned.stderr);
  assert.match(spawned.json.error.message, /^branch feat\/mine is checked out at .*: a worker's commits come back/);
  assert.equal(snapshot(path.join(repo, ".orch")), before, "nothing recorded here");
  assert.is(a!.runAs(["git", "-C", "mine/repo", "branch", "--list", "feat/mine"]).stdout.trim(), "", "nothing pushed there");
  // Another branch from it goes, and its commits come back.
  const other = orch(["spawn", "feat/mine-too", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(other.code, 0, other.stderr);
  assert.is(orch(["diff", "feat-mine-too"], { cwd: repo, env }).code, 0);
});

test("feat/é and feat/è on a host: the contract id and the digest id, the same there as here", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "intl/repo"], { cwd: repo, env }).code, 0);
  // A local worker of 功能/登录 has _____: 功能/注册 on the host gets its digest id, as this session decides.
  assert.is(orch(["spawn", "功能/登录", "--no-window", "--json"], { cwd: repo, env }).json.worker_id, "_____");
  const branches = ["feat/é", "feat/è", "功能/注册"];
  const ids = ["feat--", "feat---mmyj8wzk", "_____-42kk36nk"];
  const spawned = branches.map((branch) => {
    const r = orch(["spawn", branch, "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, `${branch}: ${r.stderr}`);
    return r.json as { worker_id: string; worktree_path: string };
  });
  assert.equal(spawned.map((w) => w.worker_id), ids);
  const there = JSON.parse(orchOnHost(a!, "intl/repo", ["status", "--json"])).workers as { worker_id: string; branch: string }[];
  const here = orch(["status", "--json"], { cwd: repo, env }).json.workers as { worker_id: string; branch: string }[];
  const expected = branches.map((b, i) => `${ids[i]} ${b}`);
  assert.equal(there.map((w) => `${w.worker_id} ${w.branch}`).sort(), [...expected].sort(), "on the host");
  const local = [...expected, "_____ 功能/登录"].sort();
  assert.equal(here.map((w) => `${w.worker_id} ${w.branch}`).sort(), local, "here");
  for (const [i, w] of spawned.entries()) {
    orchOnHost(a!, w.worktree_path, ["notify", "--type", "progress", "--summary", `from ${branches[i]}`]);
  }
  const messages = await pollUntil(repo, env, 3);
  const mail = messages.map((m) => `${m.worker_id} ${m.content.summary}`).sort();
  assert.equal(mail, branches.map((b, i) => `${ids[i]} from ${b}`).sort());
  // By branch, each hits its own worker; one whose id is another's finds none.
  const stray = orch(["rm", "feat/ê", "--force", "--yes", "--json"], { cwd: repo, env });
  assert.is(stray.json.error.code, "not_found", stray.stderr);
  for (const [i, branch] of branches.entries()) {
    const removed = orch(["rm", branch, "--yes", "--json"], { cwd: repo, env });
    assert.is(removed.code, 0, removed.stderr);
    assert.is(removed.json.worker_id, ids[i]);
  }
  assert.equal(JSON.parse(orchOnHost(a!, "intl/repo", ["status", "--json"])).workers, [], "gone from the host");
});

test.run();
