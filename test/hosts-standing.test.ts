// Remote workers' standing and unreachable hosts, against a real OpenSSH server (test/ssh-harness.ts):
// status computes ahead/behind/merges_cleanly here against the base as it is here (fetching a branch
// only when the host reports a tip this repository lacks); a host whose sshd is killed costs one
// connection attempt per pause and gets the new base once it is back; an empty poll's check on the host
// misses nothing (a message, a claim left by a dead reader, a dead agent) and runs the host's orch only then.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, sessionRepo, tempDir } from "./helpers.ts";
import { commitOnHost, gitOnHost, orchOnHost, sshSkipReason, startSshWorld, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;

test.before(async () => {
  if (!skip) world = await startSshWorld(1);
});
test.after(() => world?.close());

/** An `ssh` first on PATH that writes each call's arguments to a log, then runs the real ssh. */
function loggingSsh(): { path: string; calls: () => string[] } {
  const dir = tempDir("orch-ssh-log-");
  const log = path.join(dir, "calls.log");
  const real = ["/usr/bin/ssh", "/bin/ssh"].find((p) => fs.existsSync(p))!;
  fs.writeFileSync(path.join(dir, "ssh"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  return { path: `${dir}:${process.env.PATH}`, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []) };
}

interface View {
  worker_id: string;
  ahead: number | null;
  behind: number | null;
  merges_cleanly: boolean | null;
  conflict_paths?: string[];
  status: string;
}

test("status: a remote worker's standing is against the base here, fetched only when its tip is new here", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n", "prices.txt": "apple 1\npear 2\n" });
  const ssh = loggingSsh();
  const env = { ...world.env, PATH: ssh.path };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "standing/repo"], { cwd: repo, env }).code, 0);
  const spawnThere = (branch: string) => {
    const r = orch(["spawn", branch, "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    return r.json.worktree_path as string;
  };
  const fine = spawnThere("feat/fine");
  const clash = spawnThere("feat/clash");
  commitOnHost(a!, fine, "notes.txt", "remember the pears\n");
  commitOnHost(a!, clash, "prices.txt", "apple 3\npear 2\n");
  const fetches = () => ssh.calls().filter((line) => line.includes("git-upload-pack")).length;
  const views = () => {
    const r = orch(["status", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    return new Map((r.json.workers as View[]).map((w) => [w.worker_id, w]));
  };

  // New commits on the host: their tips are not here yet, so status fetches them once.
  let before = fetches();
  let now = views();
  assert.is(fetches() - before, 2, "one fetch per worker whose tip is new here");
  const fineFirst = now.get("feat-fine")!;
  assert.equal([fineFirst.ahead, fineFirst.behind, fineFirst.merges_cleanly], [1, 0, true]);
  assert.equal([now.get("feat-clash")!.ahead, now.get("feat-clash")!.behind], [1, 0]);
  before = fetches();
  views();
  assert.is(fetches(), before, "tips already here: no fetch");

  // main moves here (a landing); the host's copy of main does not. No sync, no new commits on the host.
  const here = orch(["spawn", "feat/here", "--no-window", "--json"], { cwd: repo, env });
  fs.writeFileSync(`${here.json.worktree_path}/prices.txt`, "apple 5\npear 2\n");
  git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "Dearer apples"], here.json.worktree_path);
  assert.is(orch(["land", "feat/here", "--json"], { cwd: repo, env }).code, 0);
  assert.is.not(gitOnHost(a!, "standing/repo", ["rev-parse", "main"]), git(["rev-parse", "main"], repo));
  before = fetches();
  now = views();
  assert.is(fetches(), before, "the standing comes from the branches already here");
  const fineView = now.get("feat-fine")!;
  const clashView = now.get("feat-clash")!;
  assert.equal([fineView.ahead, fineView.behind, fineView.merges_cleanly], [1, 1, true]);
  assert.is(fineView.conflict_paths, undefined);
  assert.equal([clashView.ahead, clashView.behind, clashView.merges_cleanly], [1, 1, false]);
  assert.equal(clashView.conflict_paths, ["prices.txt"]);
  // The host's own view (against its stale main) says otherwise: what status shows is not the host's.
  const hostSide = JSON.parse(orchOnHost(a!, clash, ["status", "--json"])) as { workers: View[] };
  assert.is(hostSide.workers.find((w) => w.worker_id === "feat-clash")!.behind, 0);

  // The worker resolves it on the host (takes main's prices): its new tip is fetched, and it merges cleanly.
  a!.runAs(["sh", "-c", 'printf "apple 5\\npear 2\\n" > "$1/prices.txt"', "w", clash]);
  gitOnHost(a!, clash, ["commit", "--quiet", "-am", "Take main's prices"]);
  now = views();
  assert.equal([now.get("feat-clash")!.ahead, now.get("feat-clash")!.merges_cleanly], [2, true]);
});

test("a host whose sshd is gone: one connection attempt per pause for the new base, told once it is back", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const ssh = loggingSsh();
  const env = { ...world.env, PATH: ssh.path };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "away/repo"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "feat/away", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  commitOnHost(a!, worktree, "todo.txt", "buy pears\n");
  const too = orch(["spawn", "feat/away-too", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(too.code, 0, too.stderr);
  commitOnHost(a!, too.json.worktree_path, "list.txt", "buy plums\n");
  const gitCalls = () => ssh.calls().filter((line) => /git-(upload|receive)-pack/.test(line)).length;
  // Done, and its report home: land's queue has it.
  orchOnHost(a!, worktree, ["notify", "--type", "task_complete", "--summary", "pears"]);
  assert.is(orch(["poll", "--json"], { cwd: repo, env }).json.messages.length, 1);

  a!.stop();
  fs.writeFileSync(`${repo}/README.md`, "# shop\n\nOpen on Sundays.\n");
  git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "Sunday hours"], repo);
  const before = gitCalls();
  const first = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(first.code, 0, first.stderr);
  // Both workers are behind, but the host costs one attempt and one line, which gives ssh's own error.
  assert.is(gitCalls() - before, 1, "one fetch attempt for the host, not one per worker");
  const about = first.stderr.split("\n").filter((line) => /could not fetch|branch(es)? (is|are) left out/.test(line));
  assert.equal(about.length, 1, first.stderr);
  const leftOut =
    /^orch: host alpha is unreachable: ssh: connect to host .*Connection refused: its workers' branches are left out$/;
  assert.match(about[0]!, leftOut);
  const failure = JSON.parse(fs.readFileSync(`${repo}/.orch/hosts-unreachable/alpha.json`, "utf8"));
  assert.is(failure.failures, 1);
  assert.match(failure.error, /Connection refused/);
  assert.ok(Date.parse(failure.retry_after) > Date.now());

  // land without names while the host is away: the local worker lands, the host's are left out.
  const local = orch(["spawn", "feat/here", "--no-window", "--json"], { cwd: repo, env });
  const here = local.json.worktree_path as string;
  fs.writeFileSync(`${here}/hours.txt`, "9 to 5\n");
  git(["add", "-A"], here);
  git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "Hours"], here);
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "hours"], { cwd: here, env }).code, 0);
  const landed = orch(["land", "--test", "true", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  assert.equal(landed.json.results.map((r: { worker_id: string; status: string }) => [r.worker_id, r.status]), [["feat-here", "landed"]]);
  assert.match(landed.stderr, /host alpha/);
  assert.equal(landed.json.left_out, [{ worker_id: "feat-away", branch: "feat/away", host: "alpha" }]);
  // Within the host's pause, land does not try it: it is still named as left out.
  const paused = orch(["land", "--test", "true"], { cwd: repo, env });
  assert.is(paused.code, 0, paused.stderr);
  assert.match(paused.stdout, /^left out +feat-away  its host alpha could not be reached; the next land takes it$/m);

  // Within the pause: status and poll say why and try no git over ssh (poll still asks for messages).
  const attempts = gitCalls();
  for (const command of ["poll", "status", "poll"]) {
    const r = orch([command, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /host alpha was unreachable at .*next try in \d+ s/);
  }
  assert.is(gitCalls(), attempts, "no fetch or push within the pause");

  // The pause runs out while the host is still away: one more attempt, and a longer pause.
  const expired = { ...failure, retry_after: new Date(Date.now() - 1000).toISOString() };
  fs.writeFileSync(`${repo}/.orch/hosts-unreachable/alpha.json`, JSON.stringify(expired));
  const again = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.ok(gitCalls() > attempts, "tried again");
  const second = JSON.parse(fs.readFileSync(`${repo}/.orch/hosts-unreachable/alpha.json`, "utf8"));
  assert.is(second.failures, 2);
  const pause = (f: { retry_after: string; last_failed_at: string }) => Date.parse(f.retry_after) - Date.parse(f.last_failed_at);
  assert.ok(pause(second) > pause(failure), "a longer pause");

  // Back within the pause: the host answering (its messages, its status) is enough to bring it the base.
  await a!.start();
  const back = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(back.code, 0, back.stderr);
  assert.not.ok(fs.existsSync(`${repo}/.orch/hosts-unreachable/alpha.json`));
  const sunday = git(["rev-parse", "HEAD"], repo);
  type Inbox = { messages: { message_type: string; content: { base_commit: string; rebase_onto: string } }[] };
  const inbox = JSON.parse(orchOnHost(a!, worktree, ["inbox", "--json"])) as Inbox;
  assert.equal(inbox.messages.map((m) => [m.message_type, m.content.base_commit]), [["base_moved", sunday]]);
  assert.is(gitOnHost(a!, worktree, ["rev-parse", inbox.messages[0]!.content.rebase_onto]), sunday);
  const later = orch(["status", "--json"], { cwd: repo, env });
  assert.is(later.code, 0, later.stderr);
  assert.equal(JSON.parse(orchOnHost(a!, worktree, ["inbox", "--json"])).messages, [], "told once");
});

test("poll: the host's orch runs only when there may be something to take, and nothing is missed", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "empty/repo"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "feat/quiet", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  const store = `${a!.home}/empty/repo/.orch`;
  const session = fs.readdirSync(`${repo}/.orch/sessions`)[0]!;
  const remoteId = JSON.parse(fs.readFileSync(`${repo}/.orch/sessions/${session}/hosts/alpha.json`, "utf8")).remote_orchestrator_id;
  const mail = `${store}/sessions/${remoteId}/mail`;
  // The host's orch behind a wrapper that counts the polls it runs.
  const runsLog = `${a!.home}/orch-polls.log`;
  a!.runAs(["sh", "-c", 'mv "$1" "$1.real" && printf "%s\n" "#!/bin/sh" "$2" > "$1" && chmod 755 "$1"', "w",
    `${a!.home}/.local/bin/orch`, `case "$1" in __lifeline) echo run >> '${runsLog}' ;; esac; exec "$0.real" "$@"`]);
  const hostRuns = () => a!.runAs(["sh", "-c", '[ -e "$1" ] && wc -l < "$1" || echo 0', "c", runsLog]).stdout.trim();
  const poll = (runs: string) => {
    const r = orch(["poll", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    assert.is(hostRuns(), runs, "the polls the host's orch ran");
    return r.json.messages as { worker_id: string; message_type: string; content: { summary: string; error?: string } }[];
  };
  assert.equal(poll("0"), []);

  // A message: taken once.
  orchOnHost(a!, worktree, ["notify", "--type", "progress", "--summary", "half way"]);
  assert.equal(poll("1").map((m) => m.content.summary), ["half way"]);
  assert.equal(poll("1"), []);

  // A claim left by a reader that died (pid 1 is never a poll of orch): the host's orch gives it back.
  orchOnHost(a!, worktree, ["notify", "--type", "progress", "--summary", "claimed by the dead"]);
  const [name] = a!.runAs(["ls", `${mail}/new`]).stdout.trim().split("\n");
  a!.runAs(["sh", "-c", 'mkdir "$1/claims/1.1.x" && mv "$1/new/$2" "$1/claims/1.1.x/"', "m", mail, name!]);
  assert.equal(a!.runAs(["ls", `${mail}/new`]).stdout, "");
  assert.equal(poll("2").map((m) => m.content.summary), ["claimed by the dead"]);

  // An agent whose recorded process is gone without a report: the host's watchdog reports it.
  const pidFile = `${store}/sessions/${remoteId}/workers/feat-quiet/agent.pid`;
  a!.runAs(["sh", "-c", 'sh -c "exit 0" & wait; printf "%s 1" "$!" > "$1"', "p", pidFile]);
  const failed = poll("3");
  assert.equal(failed.map((m) => [m.worker_id, m.message_type]), [["feat-quiet", "task_failed"]]);
  assert.match(failed[0]!.content.error ?? "", /ended without reporting/);
  assert.equal(poll("3"), [], "reported once");

  // A finished worker whose runner was killed, leaving its agent.pid: the host's orch runs once, removes
  // it, and the next empty poll runs nothing there again.
  const done = orch(["spawn", "feat/done", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(done.code, 0, done.stderr);
  orchOnHost(a!, done.json.worktree_path as string, ["notify", "--type", "task_complete", "--summary", "finished"]);
  assert.equal(poll("4").map((m) => m.message_type), ["task_complete"]);
  const donePid = `${store}/sessions/${remoteId}/workers/feat-done/agent.pid`;
  a!.runAs(["sh", "-c", 'sh -c "exit 0" & wait; printf "%s 1" "$!" > "$1"', "p", donePid]);
  assert.equal(poll("5"), [], "not a failure: the worker had finished");
  assert.is(a!.runAs(["test", "-e", donePid]).code, 1, "its agent.pid is gone");
  assert.equal(poll("5"), []);

  // A local worker's agent gone the same way, in a session with a host: the local watchdog runs while the
  // host answers, and its report comes with the host's messages in one poll.
  const here = orch(["spawn", "feat/here", "--no-window", "--json"], { cwd: repo, env });
  assert.is(here.code, 0, here.stderr);
  const localPidFile = `${repo}/.orch/sessions/${session}/workers/feat-here/agent.pid`;
  execFileSync("sh", ["-c", 'sh -c "exit 0" & wait; printf "%s 1" "$!" > "$1"', "p", localPidFile]);
  orchOnHost(a!, worktree, ["notify", "--type", "progress", "--summary", "still here"]);
  const both = poll("6");
  assert.equal(both.map((m) => [m.worker_id, m.message_type]).sort(), [["feat-here", "task_failed"], ["feat-quiet", "progress"]]);
  assert.equal(poll("6"), [], "each once");
});

test.run();
