// The newer commands on remote workers, against real OpenSSH servers (test/ssh-harness.ts): watch across
// hosts (each line once, across a dropped connection, a host first used during the watch and one added again
// elsewhere under its name), approve, deny and resume through the host's orch, land without names before any
// poll, and await across hosts watching the local workers' agents meanwhile.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  FAKETIME_LIBRARY, git, orch, orchAsync, privateTmux, sessionRepo, sleep, tmux, waitUntil,
} from "./helpers.ts";
import { orchOnHost, sshSkipReason, startSshWorld, writeAsUser, type SshHost, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;

test.before(async () => {
  if (!skip) world = await startSshWorld(2);
});
test.after(() => world?.close());

const hostAgent = (host: SshHost) => `${host.home}/.local/bin/orch __demo-agent`;

interface Line {
  id: string;
  worker_id: string;
  message_type: string;
  orchestrator_id: string;
  content: { summary?: string; details?: string };
}

test("watch across hosts: every remote message once as a line, across a dropped connection and a host used later", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a, b] = world.hosts;
  const { repo, id } = sessionRepo();
  const env = { ...world.env };
  for (const [name, host] of [["alpha", a!], ["beta", b!]] as const) {
    const added = orch(["host", "add", name, host.alias, "--path", "watch/repo"], { cwd: repo, env });
    assert.is(added.code, 0, added.stderr);
  }
  const onA = orch(["spawn", "feat/wa", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(onA.code, 0, onA.stderr);
  const here = orch(["spawn", "feat/wl", "--no-window", "--json"], { cwd: repo, env });
  assert.is(here.code, 0, here.stderr);
  const notifyHere = (summary: string) => {
    const r = orch(["notify", "--type", "progress", "--summary", summary], { cwd: here.json.worktree_path, env });
    assert.is(r.code, 0, r.stderr);
  };
  const report = (host: SshHost, worktree: string, summary: string) =>
    orchOnHost(host, worktree, ["notify", "--type", "progress", "--summary", summary]);

  const watch = orchAsync(["watch"], { cwd: repo, env });
  let out = "";
  watch.child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const summaries = () => out.split("\n").filter(Boolean).map((line) => (JSON.parse(line) as Line).content.summary!);
  const arrived = (...wanted: string[]) => waitUntil(() => wanted.every((w) => summaries().includes(w)), 90_000, wanted.join(", "));

  for (const n of [0, 1, 2]) report(a!, onA.json.worktree_path, `a${n}`);
  notifyHere("l0");
  await arrived("a0", "a1", "a2", "l0");

  a!.stop();
  for (const n of [3, 4, 5]) report(a!, onA.json.worktree_path, `a${n}`); // written on alpha, which nobody can reach
  notifyHere("l1");
  await arrived("l1");
  await sleep(1000);
  assert.not.ok(summaries().includes("a3"), "alpha's messages wait on alpha while it is away");
  await a!.start();
  await arrived("a3", "a4", "a5");

  // beta is used for the first time while the watch runs: it is followed from then on.
  const onB = orch(["spawn", "feat/wb", "--host", "beta", "--no-window", "--json"], { cwd: repo, env });
  assert.is(onB.code, 0, onB.stderr);
  for (const n of [0, 1]) report(b!, onB.json.worktree_path, `b${n}`);
  await arrived("b0", "b1");
  await sleep(1500); // a doubled line would show up now
  // By now messages were stored here under a lock: proper-lockfile's signal-exit listens for SIGTERM too.
  watch.child.kill("SIGTERM");
  const late = sleep(20_000).then(() => "still running 20 s after SIGTERM");
  const ended = await Promise.race([watch.done, late]);
  if (typeof ended === "string") {
    watch.child.kill("SIGKILL");
    assert.unreachable(ended);
    return;
  }
  assert.is(ended.code, 143, ended.stderr);
  assert.match(ended.stderr, /alpha/, "watch warned that alpha was unreachable");

  const lines = out.trim().split("\n").map((line) => JSON.parse(line) as Line);
  assert.equal(lines.map((l) => l.content.summary).sort(), ["a0", "a1", "a2", "a3", "a4", "a5", "b0", "b1", "l0", "l1"]);
  assert.is(new Set(lines.map((l) => l.id)).size, lines.length, "no message twice");
  for (const line of lines) assert.is(line.orchestrator_id, id);
  const fromA = lines.filter((l) => l.worker_id === "feat-wa").map((l) => l.content.summary);
  assert.equal(fromA, ["a0", "a1", "a2", "a3", "a4", "a5"], "one worker's messages in order");
  const left = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(left.code, 0, left.stderr);
  assert.is(left.json.message_count, 0, "every printed message is read, here and on the hosts");
});

test("approve, deny and resume on a host's workers; land without names takes them before any poll", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env, ...privateTmux() };
  const added = orch(["host", "add", "alpha", a!.alias, "--path", "answers/repo"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  // A tmux server here whose only window is @0, while alpha's workers have @0 and @1 there: a remote
  // worker's window is the host's to watch, never judged against this server.
  tmux(["new-session", "-d", "-s", "here"], env);
  const spawn = (branch: string, prompt: string) => {
    const r = orch(["spawn", branch, "--host", "alpha", "--agent", hostAgent(a!), "--prompt", prompt, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    return r.json;
  };
  spawn("feat/yes", "Build it.\nask Bash make site\nwrite yes.txt allowed\ncommit Allowed");
  const no = spawn("feat/no", "Clean up.\nask Bash rm -rf build\nwrite no.txt refused\ncommit Refused");
  assert.is(no.window_id, "@1");

  const statusOf = () => {
    const s = orch(["status", "--json"], { cwd: repo, env });
    assert.is(s.code, 0, s.stderr);
    return Object.fromEntries(s.json.workers.map((w: { worker_id: string }) => [w.worker_id, w])) as Record<string, Record<string, string>>;
  };
  await waitUntil(() => Object.values(statusOf()).every((w) => w.status === "blocked"), 60_000, "both workers blocked on alpha");
  const blocked = statusOf();
  assert.is(blocked["feat-yes"]!.waiting_for, "Bash: make site");

  const approved = orch(["approve", "feat/yes", "--json"], { cwd: repo, env });
  assert.is(approved.code, 0, approved.stderr);
  assert.is(approved.json.host, "alpha");
  assert.is(approved.json.decision, "allow");
  assert.is(approved.json.request_id, blocked["feat-yes"]!.request_id);
  const denyBare = orch(["deny", "feat-no", "--json"], { cwd: repo, env });
  assert.is(denyBare.code, 2, "deny without --message is refused here, before ssh");
  const denial = `not that; $(touch pwned) ${"'".repeat(40_000)}`;
  const denied = orch(["deny", "feat-no", blocked["feat-no"]!.request_id!, "--message", denial, "--json"], { cwd: repo, env });
  assert.is(denied.code, 0, denied.stderr);
  assert.is(denied.json.decision, "deny");
  assert.is(denied.json.message, denial, "the whole text, through the host's standard input");
  const again = orch(["approve", "feat-no", "--json"], { cwd: repo, env });
  assert.is(again.code, 1, "nothing is pending any more");
  assert.match(again.json.error.message, /request req_\w+ of worker feat-no was already answered \(deny\)/);

  const awaited = orch(["await", "--timeout", "60", "--json"], { cwd: repo, env });
  assert.is(awaited.code, 0, awaited.stderr);
  assert.equal(awaited.json.workers.map((w: { status: string }) => w.status), ["done", "done"]);

  // No poll has brought their task_complete here: land asks the hosts.
  const landed = orch(["land", "--test", "test -f README.md", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  assert.equal(landed.json.results.map((r: { worker_id: string; status: string }) => r.status), ["landed", "landed"]);
  assert.ok(fs.existsSync(`${repo}/yes.txt`) && fs.existsSync(`${repo}/no.txt`));
  const polled = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(polled.code, 0, polled.stderr);
  const messages = polled.json.messages as Line[];
  assert.equal(messages.map((m) => `${m.worker_id} ${m.message_type}`).sort(),
    ["feat-no blocked", "feat-no task_complete", "feat-yes blocked", "feat-yes task_complete"],
    "landing took nothing from the mailbox; no task_failed");
  const detailsOfCompletion = (worker: string) =>
    messages.find((m) => m.worker_id === worker && m.message_type === "task_complete")!.content.details!;
  assert.match(detailsOfCompletion("feat-no"), /denied: not that; \$\(touch pwned\)/);
  assert.match(detailsOfCompletion("feat-yes"), /make site approved/);
  assert.is(a!.runAs(["find", a!.home, "-name", "pwned"]).stdout.trim(), "");

  // resume: the host's orch starts the agent again; the scripted agent has no resume of its own, so it
  // does its task over with the new message after it.
  spawn("feat/later", "Wait for the others.\nsleep 100");
  const first = orch(["await", "feat/later", "--timeout", "60", "--json"], { cwd: repo, env });
  assert.is(first.json.workers[0].status, "done", first.stderr);
  // The scripted agent exits just after its task_complete: until it has, resume says it still runs.
  await waitUntil(() => String(statusOf()["feat-later"]!.agent_alive) === "false", 30_000,
    "feat-later's agent to exit after its report");
  // A text of quotes quadruples when quoted for the host's shell: it goes on standard input instead, whole.
  const quotes = "'".repeat(60_000);
  const resumed = orch(
    ["resume", "feat/later", "--prompt", `write again.txt resumed\ncommit Again\n${quotes}`, "--json"],
    { cwd: repo, env },
  );
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.host, "alpha");
  assert.is(resumed.json.previous_status, "done");
  assert.is(resumed.json.conversation_continued, false);
  const done = orch(["await", "feat/later", "--timeout", "60", "--json"], { cwd: repo, env });
  assert.is(done.code, 0, done.stderr);
  assert.is(done.json.workers[0].status, "done", JSON.stringify(done.json.workers[0]));
  const diff = orch(["diff", "feat/later", "--json"], { cwd: repo, env });
  assert.is(diff.code, 0, diff.stderr);
  assert.equal(diff.json.files.map((f: { path: string }) => f.path), ["again.txt"]);

  // Named, before any poll brought its second task_complete here: land asks its host for it, and the
  // squash is titled with its summary, not "Merge feat/later".
  const summary = done.json.workers[0].final_message.content.summary as string;
  const named = orch(["land", "feat/later", "--test", "test -f again.txt", "--json"], { cwd: repo, env });
  assert.is(named.code, 0, named.stderr);
  assert.is(git(["log", "-1", "--format=%s", "main"], repo), summary.split("\n")[0]);
});

test("await across hosts: a local worker's agent that dies meanwhile is reported, and ends the wait", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo, id } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env, ...privateTmux() };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "await/repo"], { cwd: repo, env }).code, 0);
  assert.is(orch(["spawn", "feat/there", "--host", "alpha", "--no-window"], { cwd: repo, env }).code, 0);
  assert.is(orch(["spawn", "feat/here", "--no-window"], { cwd: repo, env }).code, 0);
  const awaiting = orchAsync(["await", "feat-there", "feat-here", "--any", "--timeout", "60", "--json"], { cwd: repo, env });
  await sleep(1000); // the wait is under way, its connection to alpha open
  const pidFile = `${repo}/.orch/sessions/${id}/workers/feat-here/agent.pid`;
  execFileSync("sh", ["-c", 'sh -c "exit 0" & wait; printf "%s 1" "$!" > "$1"', "p", pidFile]);
  const done = await awaiting.done;
  assert.is(done.code, 0, `${done.stderr}${done.stdout}`);
  const byId = new Map((done.json.workers as { worker_id: string; status: string }[]).map((w) => [w.worker_id, w.status]));
  assert.equal([byId.get("feat-here"), byId.get("feat-there")], ["failed", "running"]);
  const polled = orch(["poll", "--json"], { cwd: repo, env });
  assert.equal(polled.json.messages.map((m: { worker_id: string; message_type: string }) => [m.worker_id, m.message_type]),
    [["feat-here", "task_failed"]], "reported once");
});

test("rc files: their cd, echo, read and kill leave orch's scripts alone; set -f sends them to sh", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const b = world.hosts[1]!;
  const { repo } = sessionRepo();
  const env = world.env;
  const bashrc = fs.readFileSync(`${b.home}/.bashrc`, "utf8");
  const noisy = ["cd", "echo", "read", "kill"]
    .map((name) => `${name}() { builtin ${name} "$@"; builtin echo "my ${name}"; }`);
  type Polled = { json: { messages: { content: { summary: string } }[] } };
  const summaries = (r: Polled) => r.json.messages.map((m) => m.content.summary);
  const record = () => JSON.parse(fs.readFileSync(path.join(repo, ".orch/hosts/delta.json"), "utf8"));
  const notifyThere = (worktree: string, summary: string) => {
    const r = b.runAs(["sh", "-c", 'cd "$1" && shift && exec "$@"', "t", worktree, `${b.home}/.local/bin/orch`,
      "notify", "--type", "progress", "--summary", summary]);
    assert.is(r.code, 0, r.stderr);
  };
  try {
    // Before Debian's "not interactive: return", as rc files without that guard have them.
    writeAsUser(b, ".bashrc", `${noisy.join("\n")}\n${bashrc}`);
    const added = orch(["host", "add", "delta", b.alias, "--path", "rc/repo", "--json"], { cwd: repo, env });
    assert.is(added.code, 0, added.stderr);
    assert.is(record().posix_shell, true, "functions do not make the shell other than POSIX");
    const spawned = orch(["spawn", "feat/rc", "--host", "delta", "--no-window", "--json"], { cwd: repo, env });
    assert.is(spawned.code, 0, spawned.stderr);
    const empty = orch(["poll", "--json"], { cwd: repo, env });
    assert.equal([empty.code, empty.json.message_count, empty.stderr], [0, 0, ""]);
    notifyThere(spawned.json.worktree_path, "through their functions");
    const taken = orch(["poll", "--json"], { cwd: repo, env });
    assert.equal(summaries(taken), ["through their functions"]);
    const status = orch(["status", "--json"], { cwd: repo, env });
    assert.equal([status.code, status.json.workers[0].host, status.stderr], [0, "delta", ""]);

    // No globs in the login shell: the poll's look would find nothing, so orch's scripts go through sh -c.
    writeAsUser(b, ".bashrc", `set -f\n${bashrc}`);
    assert.is(orch(["host", "add", "delta", b.alias, "--path", "rc/repo"], { cwd: repo, env }).code, 0);
    assert.is(record().posix_shell, false, "set -f in the rc files");
    notifyThere(spawned.json.worktree_path, "seen through sh");
    const seen = orch(["poll", "--json"], { cwd: repo, env });
    assert.equal(summaries(seen), ["seen through sh"]);
  } finally {
    writeAsUser(b, ".bashrc", bashrc);
  }
});

test("a login shell that prints text for ssh commands, or exits: host add, list and poll say so in one line", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const b = world.hosts[1]!;
  const { repo } = sessionRepo();
  const env = world.env;
  assert.is(orch(["host", "add", "beta", b.alias, "--path", "noise/repo"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "feat/noise", "--host", "beta", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const bashrc = fs.readFileSync(`${b.home}/.bashrc`, "utf8");
  try {
    writeAsUser(b, ".bashrc", `echo "Welcome to beta"\n${bashrc}`);
    const noise = /on host gamma: the login shell prints "Welcome to beta" for commands run over ssh/;
    const added = orch(["host", "add", "gamma", b.alias, "--path", "noise/other", "--json"], { cwd: repo, env });
    assert.is(added.code, 1, added.stderr);
    assert.match(added.json.error.message, noise);
    assert.is(added.stderr.trim().split("\n").length, 1, added.stderr);
    const listed = orch(["host", "list", "--json"], { cwd: repo, env });
    assert.is(listed.code, 0, listed.stderr);
    const [listedB] = listed.json.hosts;
    assert.equal([listedB.orch_version, listedB.error.includes('prints "Welcome to beta"')], [null, true]);
    const polled = orch(["poll", "--json"], { cwd: repo, env });
    assert.is(polled.code, 0, polled.stderr);
    assert.match(polled.stderr, /on host beta: the login shell prints "Welcome to beta"/);
    writeAsUser(b, ".bashrc", `exit 0\n${bashrc}`);
    const silent = orch(["host", "add", "gamma", b.alias, "--path", "noise/other", "--json"], { cwd: repo, env });
    assert.is(silent.code, 1, silent.stderr);
    assert.match(silent.json.error.message, /host gamma: its login shell did not run orch's probe \(exit 0: no output\)/);
  } finally {
    writeAsUser(b, ".bashrc", bashrc);
  }
  const clean = orch(["host", "list", "--json"], { cwd: repo, env });
  assert.is(clean.json.hosts[0].error, undefined);
});

test("watch follows a host added again elsewhere under its name while it runs; a forgotten host's messages stay there", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a, b] = world.hosts;
  const { repo } = sessionRepo();
  const env = { ...world.env };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "moved/repo"], { cwd: repo, env }).code, 0);
  const old = orch(["spawn", "feat/old", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(old.code, 0, old.stderr);
  const watch = orchAsync(["watch"], { cwd: repo, env });
  let out = "";
  watch.child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const summaries = () => out.split("\n").filter(Boolean).map((line) => (JSON.parse(line) as Line).content.summary!);
  try {
    orchOnHost(a!, old.json.worktree_path, ["notify", "--type", "progress", "--summary", "before"]);
    await waitUntil(() => summaries().includes("before"), 30_000, "the first host's message");

    // The host moved: forgotten here, and added again under its name, at another destination.
    assert.is(orch(["host", "rm", "alpha", "--force"], { cwd: repo, env }).code, 0);
    assert.is(orch(["host", "add", "alpha", b!.alias, "--path", "moved/repo"], { cwd: repo, env }).code, 0);
    const moved = orch(["spawn", "feat/moved", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
    assert.is(moved.code, 0, moved.stderr);
    orchOnHost(b!, moved.json.worktree_path, ["notify", "--type", "progress", "--summary", "after"]);
    orchOnHost(a!, old.json.worktree_path, ["notify", "--type", "progress", "--summary", "forgotten"]);
    await waitUntil(() => summaries().includes("after"), 30_000, "the message of the host added again");
    await sleep(1500);
  } finally {
    watch.child.kill("SIGTERM");
  }
  const ended = await watch.done;
  assert.is(ended.code, 143, ended.stderr);
  assert.equal(summaries(), ["before", "after"], `the forgotten host's message stays there: ${ended.stderr}`);
});

test("a user's ssh config with RemoteCommand, RequestTTY, forwards and a LocalCommand: the loop works as without", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo } = sessionRepo();
  // The popular "land in tmux" set-up, a forward whose port is taken (fatal under ExitOnForwardFailure) and a
  // LocalCommand that prints: none of it may reach orch's commands, git's fetches or their output.
  const taken = net.createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => taken.once("listening", resolve));
  const port = (taken.address() as net.AddressInfo).port;
  const userConfig = path.join(path.dirname(world.env.ORCH_SSH_CONFIG!), "user_ssh_config");
  fs.writeFileSync(userConfig, [
    "Host *",
    "  RemoteCommand tmux new-session -A -s main",
    "  RequestTTY force",
    `  LocalForward 127.0.0.1:${port} 127.0.0.1:22`,
    "  ExitOnForwardFailure yes",
    "  PermitLocalCommand yes",
    "  LocalCommand echo hello from LocalCommand",
    fs.readFileSync(world.env.ORCH_SSH_CONFIG!, "utf8"),
  ].join("\n"));
  const env = { ...world.env, ORCH_SSH_CONFIG: userConfig };
  try {
    const added = orch(["host", "add", "alpha", a.alias, "--path", "userconf/repo", "--json"], { cwd: repo, env });
    assert.is(added.code, 0, added.stderr);
    const spawned = orch(["spawn", "feat/conf", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
    assert.is(spawned.code, 0, spawned.stderr);
    const worktree = spawned.json.worktree_path as string;
    a.runAs(["sh", "-c", `cd "$1" && echo work > conf.txt && git add conf.txt && git commit -qm conf`, "-", worktree]);
    orchOnHost(a, worktree, ["notify", "--type", "task_complete", "--summary", "conf done"]);
    const polled = orch(["poll", "--json"], { cwd: repo, env });
    assert.is(polled.code, 0, polled.stderr);
    assert.equal(polled.json.messages.map((m: Line) => m.content.summary), ["conf done"]);
    const landed = orch(["land", "feat-conf", "--json"], { cwd: repo, env });
    assert.is(landed.code, 0, landed.stderr);
    assert.is(fs.readFileSync(path.join(repo, "conf.txt"), "utf8"), "work\n");
    const removed = orch(["rm", "feat-conf", "--json"], { cwd: repo, env });
    assert.is(removed.code, 0, removed.stderr);
  } finally {
    taken.close();
  }
});

const FAKETIME = FAKETIME_LIBRARY ?? "libfaketime.so.1";

test("a host whose clock is an hour ahead: land takes its worker that finished first first, as by this clock", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  if (!fs.existsSync(FAKETIME)) return console.log("SKIP: no libfaketime (apt-get install faketime)");
  const a = world.hosts[0]!;
  const { repo } = sessionRepo();
  const env = { ...world.env };
  // Every program of the account's ssh commands, and its reports, an hour ahead.
  const ahead = `export LD_PRELOAD=${FAKETIME} FAKETIME=+1h FAKETIME_DONT_RESET=1`;
  const bashrc = fs.readFileSync(path.join(a.home, ".bashrc"), "utf8");
  writeAsUser(a, ".bashrc", `${ahead}\n${bashrc}`);
  try {
    assert.is(orch(["host", "add", "alpha", a.alias, "--path", "ahead/repo"], { cwd: repo, env }).code, 0);
    const there = orch(["spawn", "feat/there", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
    const here = orch(["spawn", "feat/here", "--no-window", "--json"], { cwd: repo, env });
    assert.is(there.code + here.code, 0, there.stderr + here.stderr);
    const wt = there.json.worktree_path as string;
    a.runAs(["sh", "-c", `cd "$1" && echo there > there.txt && git add . && git -c user.name=w -c user.email=w@w ` +
      `commit -qm there && ${ahead} && exec "$2" notify --type task_complete --summary there`,
    "w", wt, `${a.home}/.local/bin/orch`]);
    fs.writeFileSync(path.join(here.json.worktree_path, "here.txt"), "here\n");
    git(["add", "."], here.json.worktree_path);
    git(["commit", "-qm", "here"], here.json.worktree_path);
    const notified = orch(["notify", "--type", "task_complete", "--summary", "here"], { cwd: here.json.worktree_path, env });
    assert.is(notified.code, 0, notified.stderr);
    const landed = orch(["land", "--json"], { cwd: repo, env });
    assert.is(landed.code, 0, landed.stderr);
    assert.equal(landed.json.results.map((r: { worker_id: string }) => r.worker_id), ["feat-there", "feat-here"]);
  } finally {
    writeAsUser(a, ".bashrc", bashrc);
  }
});

test.run();
