// A host broken on its side, against a real OpenSSH server (test/ssh-harness.ts): its clone moved away,
// its store removed, a worker record truncated there, a login shell that reads its input, a read-only home;
// a host forgotten here (host rm --force) while a worker of it is recorded; a host record edited by hand.
// Each command says so in one line that names the host once and what to do, changes nothing it should not,
// and the next command works once the host is mended.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, orchAsync, orchCommand, regExpOf, sessionRepo, waitUntil } from "./helpers.ts";
import { orchOnHost, sshSkipReason, startSshWorld, writeAsUser, type SshHost, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;

test.before(async () => {
  if (!skip) world = await startSshWorld(1);
});
test.after(() => world?.close());

/** A repository with a session and host alpha (its clone at `clone`), and one --no-window worker there. */
function repoWithWorker(host: SshHost, clone: string, branch: string) {
  const { repo } = sessionRepo({ "README.md": "# broken\n" });
  const env = { ...world.env };
  const added = orch(["host", "add", "alpha", host.alias, "--path", clone], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  const spawned = orch(["spawn", branch, "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  return { repo, env, worker: spawned.json.worker_id as string };
}

/** The warning lines of a command: each one line, naming the host once. */
function namesHostOnce(stderr: string): void {
  for (const line of stderr.trim().split("\n").filter(Boolean)) {
    assert.is(line.split("host alpha").length, 2, `names the host once: ${line}`);
  }
}

test("a clone moved away, then its store removed: one line each naming the host once; spawn and rm recover", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/clone", "feat/lost");
  const clone = path.join(a.home, "broken/clone");
  fs.renameSync(clone, `${clone}.moved`);
  const listed = orch(["host", "list", "--json"], { cwd: repo, env });
  assert.is(listed.code, 0, listed.stderr);
  assert.match(listed.json.hosts[0].error, /^the clone broken\/clone is missing \(orch host add alpha .* makes it again\)$/);
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  namesHostOnce(status.stderr);
  assert.match(status.stderr, /the clone broken\/clone is missing \(orch host add alpha \S+ --path broken\/clone makes it again\)/);
  const diff = orch(["diff", worker, "--json"], { cwd: repo, env });
  assert.is(diff.code, 1, diff.stderr);
  // The host answered (its git said why): not "unreachable", and git's own words, not its generic advice.
  assert.match(diff.json.error.message, /^could not fetch feat\/lost from host alpha: .*does not appear to be a git repository/);
  assert.not.match(diff.json.error.message, /unreachable|repository exists/);
  assert.not.ok(fs.existsSync(path.join(repo, ".orch/hosts-unreachable/alpha.json")), "no pause for a host that answers");
  // Its agent may still run there: rm does not forget it before the clone is back (or made anew).
  const refused = orch(["rm", worker, "--yes", "--json"], { cwd: repo, env });
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.json.error.message, /the clone broken\/clone is missing/);
  fs.renameSync(`${clone}.moved`, clone);

  // Its store removed there: this session's workers are gone with it. A spawn starts a new session there,
  // and rm forgets the lost worker here (its host has nothing to remove).
  fs.rmSync(path.join(clone, ".orch"), { recursive: true });
  const polled = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(polled.code, 0, polled.stderr);
  namesHostOnce(polled.stderr);
  assert.match(polled.stderr, /no longer has this session/);
  const spawned = orch(["spawn", "feat/after", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const removed = orch(["rm", worker, "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.forgotten_only, true);
  assert.match(removed.stderr, /feat-lost is only forgotten here: .*; its worktree there is left as it is \(/);
  const after = orch(["status", "--json"], { cwd: repo, env });
  assert.equal(after.json.workers.map((w: { worker_id: string; status: string }) => [w.worker_id, w.status]), [["feat-after", "running"]]);
  assert.is(after.stderr, "");
});

test("a clone made anew by hand (the user's own checkout): spawn makes no session, worktree or branch in it", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/byhand", "feat/before");
  const clone = path.join(a.home, "broken/byhand");
  fs.renameSync(clone, `${clone}.moved`);
  // The user's own clone at that path: git clone gives it none of orch's settings.
  const cloned = a.runAs(["git", "clone", "-q", `${clone}.moved`, clone]);
  assert.is(cloned.code, 0, cloned.stderr);
  fs.rmSync(path.join(clone, ".orch"), { recursive: true, force: true });
  const branches = () => a.runAs(["git", "-C", clone, "for-each-ref", "--format=%(refname)", "refs/heads"]).stdout;
  const before = branches();
  git(["branch", "feat/pushed", "HEAD"], repo);
  for (const branch of ["feat/new", "feat/pushed"]) {
    const spawned = orch(["spawn", branch, "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
    assert.is(spawned.code, 1, spawned.stderr);
    assert.is(spawned.json.error.code, "refused", spawned.stderr);
    assert.match(spawned.json.error.message, /broken\/byhand on host alpha is not orch's clone/);
    namesHostOnce(spawned.stderr);
    assert.not.ok(fs.existsSync(path.join(clone, ".orch")), `${branch}: no store made in the user's checkout`);
    assert.is(branches(), before, `${branch}: no branch pushed or made there`);
    assert.equal(a.runAs(["git", "-C", clone, "worktree", "list", "--porcelain"]).stdout.split("\n")
      .filter((l) => l.startsWith("worktree ")).length, 1, `${branch}: no worktree added there`);
  }
  const removed = orch(["rm", worker, "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(fs.existsSync(path.join(clone, ".orch")), "rm made no store there either");
});

test("rm again after an rm the host carried out but whose answer was lost: says the worktree there is gone", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/half-rm", "feat/half");
  const clone = path.join(a.home, "broken/half-rm");
  const sessions = fs.readdirSync(path.join(clone, ".orch/sessions"));
  assert.is(sessions.length, 1);
  const worktree = orch(["status", "--json"], { cwd: repo, env }).json.workers[0].worktree_path as string;
  assert.ok(fs.existsSync(worktree), worktree);
  // What an rm whose connection broke after the host's orch removed the worker leaves: gone there, recorded here.
  orchOnHost(a, clone, ["rm", worker, "--orch", sessions[0]!, "--yes", "--json"]);
  assert.not.ok(fs.existsSync(worktree), "the host removed its worktree");
  const removed = orch(["rm", worker, "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.forgotten_only, true);
  assert.is(removed.stderr.trim().split("\n").length, 1, removed.stderr);
  namesHostOnce(removed.stderr);
  assert.match(removed.stderr, /feat-half is only forgotten here: .*; its worktree there is gone/);
  assert.not.match(removed.stderr, /is left/);
  assert.equal(orch(["status", "--json"], { cwd: repo, env }).json.workers, []);
});

test("a clone made anew by host add: rm --delete-branch forgets its worker here and deletes the branch here", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/anew", "feat/anew");
  assert.is(orch(["diff", worker], { cwd: repo, env }).code, 0, "its branch fetched here");
  const clone = path.join(a.home, "broken/anew");
  fs.renameSync(clone, `${clone}.moved`);
  const added = orch(["host", "add", "alpha", a.alias, "--path", "broken/anew"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  // The new clone has neither the branch nor the session: there is nothing there to remove or to fetch.
  const removed = orch(["rm", worker, "--yes", "--delete-branch", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.equal([removed.json.forgotten_only, removed.json.branch_deleted], [true, true]);
  assert.is(removed.stderr.trim().split("\n").length, 1, removed.stderr);
  namesHostOnce(removed.stderr);
  assert.match(removed.stderr, /feat-anew is only forgotten here: .*no longer has this session/);
  assert.not.ok(spawnSync("git", ["rev-parse", "--verify", "-q", "refs/heads/feat/anew"], { cwd: repo }).status === 0);
  assert.equal(orch(["status", "--json"], { cwd: repo, env }).json.workers, []);
});

test("rm --delete-branch and clean of a worker whose branch a worktree of the host's own has: refused, nothing removed", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/elsewhere", "feat/co");
  const clone = path.join(a.home, "broken/elsewhere");
  const gitThere = (dir: string, args: string[]) => {
    const r = a.runAs(["git", "-C", dir, "-c", "user.name=w", "-c", "user.email=w@w", ...args]);
    assert.is(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const own = orch(["status", "--json"], { cwd: repo, env }).json.workers[0].worktree_path as string;
  writeAsUser(a, path.relative(a.home, path.join(own, "co.txt")), "co\n");
  gitThere(own, ["add", "co.txt"]);
  gitThere(own, ["commit", "-q", "-m", "co"]);
  const landed = orch(["land", worker, "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  // Someone on the host works on the branch in a worktree of their own.
  const elsewhere = path.join(a.home, "co-by-hand");
  gitThere(own, ["checkout", "-q", "--detach"]);
  gitThere(clone, ["worktree", "add", "-q", elsewhere, "feat/co"]);
  const branchThere = () => a.runAs(["git", "-C", clone, "rev-parse", "--verify", "-q", "refs/heads/feat/co"]).code === 0;

  const removed = orch(["rm", worker, "--delete-branch", "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 1, removed.stderr);
  assert.is(removed.json.error.message, `branch feat/co is checked out at ${elsewhere} on host alpha, so it cannot ` +
    "be deleted: nothing was removed (switch that worktree to another branch first)");
  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo, env });
  // As git branch -d of a branch checked out: clean could not do what it set out to, and says so by its exit code.
  assert.is(cleaned.code, 1, cleaned.stderr);
  assert.equal([cleaned.json.success, cleaned.json.error.code, cleaned.json.removed], [false, "failed", []]);
  assert.match(cleaned.json.skipped[0].reason, /removing failed: branch feat\/co is checked out at .* on host alpha/);
  assert.is(cleaned.json.skipped[0].failed, true);
  assert.ok(fs.existsSync(own), "its worktree there is kept");
  assert.ok(branchThere(), "its branch there is kept");
  assert.equal(orch(["status", "--json"], { cwd: repo, env }).json.workers.map((w: { worker_id: string }) => w.worker_id), [worker]);

  gitThere(clone, ["worktree", "remove", elsewhere]);
  const again = orch(["rm", worker, "--delete-branch", "--yes", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json.branch_deleted, true);
  assert.not.ok(branchThere());
  assert.not.ok(fs.existsSync(own));
});

test("a worker record truncated on the host: rm --force removes it there and here, as its error says", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/truncated", "feat/cut");
  const records = a.runAs(["sh", "-c", 'ls "$1"/sessions/*/workers/*/worker.json', "ls", "broken/truncated/.orch"]);
  const record = records.stdout.trim(); // relative to the home folder, as writeAsUser takes it
  assert.ok(record.endsWith(`/workers/${worker}/worker.json`), records.stderr);
  writeAsUser(a, record, '{"worker_id": "feat-cut", "bra', 0o600);
  const refused = orch(["rm", worker, "--yes", "--json"], { cwd: repo, env });
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.json.error.message, /^on host alpha: orch rm: the record of worker feat-cut .* orch rm feat-cut --force removes/);
  const removed = orch(["rm", worker, "--force", "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.forgotten_only, true);
  assert.is(a.runAs(["test", "-e", path.dirname(record)]).code, 1, "its record is gone on the host");
  assert.equal(orch(["status", "--json"], { cwd: repo, env }).json.workers, []);
  // Its host forgotten here (host rm --force) leaves a worker that rm still forgets.
  const other = orch(["spawn", "feat/orphan", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(other.code, 0, other.stderr);
  assert.is(orch(["host", "rm", "alpha", "--force"], { cwd: repo, env }).code, 0);
  const orphan = orch(["rm", "feat-orphan", "--yes", "--json"], { cwd: repo, env });
  assert.is(orphan.code, 0, orphan.stderr);
  assert.match(orphan.stderr, /host alpha is no longer known/);
  assert.equal(orch(["status", "--json"], { cwd: repo, env }).json.workers, []);
});

test("a login shell that reads its input: send and spawn fail in one line instead of losing the text; mended, it works", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env: hostEnv, worker } = repoWithWorker(a, "broken/reading", "feat/read");
  const env = { ...hostEnv, ORCH_SSH_START_TIMEOUT: "2" };
  const bashrc = fs.readFileSync(path.join(a.home, ".bashrc"), "utf8");
  const catInbox = 'cat "$1"/sessions/*/workers/*/inbox/new/*.json 2>/dev/null';
  const inbox = () => a.runAs(["sh", "-c", catInbox, "cat", "broken/reading/.orch"]).stdout;
  // A commit on the host: status fetches the branch that moved, diff fetches it anyway (git over ssh).
  const worktree = orch(["status", "--json"], { cwd: repo, env }).json.workers[0].worktree_path as string;
  const commit = 'echo made-there > there.txt && git add there.txt && git -c user.name=w -c user.email=w@h commit -qm there';
  assert.is(a.runAs(["sh", "-c", `cd "$1" && ${commit}`, "commit", worktree]).code, 0);
  try {
    writeAsUser(a, ".bashrc", `read -r answer\n${bashrc}`);
    const sent = orch(["send", worker, "the first line\nthe second", "--json"], { cwd: repo, env });
    assert.is(sent.code, 1, sent.stderr);
    assert.match(sent.json.error.message, /^host alpha is unreachable: its login shell did not start orch's command within 2 s: .*input/);
    assert.is(sent.stderr.trim().split("\n").length, 1, sent.stderr);
    assert.is(inbox(), "", "nothing delivered, not even an empty message");
    const spawned = orch(["spawn", "feat/read2", "--host", "alpha", "--no-window", "--prompt", "do it", "--json"], { cwd: repo, env });
    assert.is(spawned.code, 1, spawned.stderr);
    const added = orch(["host", "add", "alpha", a.alias, "--path", "broken/reading", "--json"], { cwd: repo, env });
    assert.is(added.code, 1, added.stderr);
    assert.match(added.json.error.message, /did not start orch's command/);
    // git over ssh waits for the same announcement: without it, git and the rc file's read wait on each other.
    const status = orch(["status", "--json"], { cwd: repo, env, timeout: 30_000 });
    assert.is(status.code, 0, status.stderr);
    assert.match(status.stderr, /host alpha is unreachable: its login shell did not start git-upload-pack within 2 s/);
    assert.is(status.json.workers[0].ahead, null, "no standing from a branch that could not be fetched");
    const diff = orch(["diff", worker, "--json"], { cwd: repo, env, timeout: 30_000 });
    assert.is(diff.code, 1, diff.stderr);
    assert.match(diff.json.error.message, /^host alpha is unreachable: its login shell did not start git-upload-pack within 2 s/);
    const polled = orch(["poll", "--json"], { cwd: repo, env });
    assert.is(polled.code, 0, polled.stderr);
    namesHostOnce(polled.stderr);
  } finally {
    writeAsUser(a, ".bashrc", bashrc);
  }
  const diff = orch(["diff", worker], { cwd: repo, env });
  assert.is(diff.code, 0, diff.stderr);
  assert.match(diff.stdout, /\+made-there/);
  assert.is(orch(["status", "--json"], { cwd: repo, env }).json.workers[0].ahead, 1);
  const sent = orch(["send", worker, "the first line\nthe second", "--json"], { cwd: repo, env });
  assert.is(sent.code, 0, sent.stderr);
  assert.match(inbox(), /"text": "the first line\\nthe second"/);
});

test("a read-only home on the host: host add says what failed there, not that the host is unreachable", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env } = repoWithWorker(a, "broken/readonly", "feat/ro");
  const mount = (args: string[]) => assert.is(spawnSync("mount", args, { encoding: "utf8" }).status, 0, args.join(" "));
  mount(["--bind", a.home, a.home]);
  try {
    mount(["-o", "remount,bind,ro", a.home]);
    const added = orch(["host", "add", "alpha", a.alias, "--path", "broken/readonly", "--json"], { cwd: repo, env });
    assert.is(added.code, 1, added.stderr);
    assert.match(added.json.error.message, /^could not make the clone broken\/readonly on host alpha: .*Read-only file system/);
  } finally {
    spawnSync("umount", [a.home]);
  }
  const again = orch(["host", "add", "alpha", a.alias, "--path", "broken/readonly", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
});

test("a full disk on the host: host add says so and leaves no half-made clone or binary; with room, it works", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo } = sessionRepo({ "README.md": "# full\n" });
  const mount = (dir: string, options: string) => {
    writeAsUser(a, `${dir}/.keep`, "");
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `${options},uid=${a.uid},mode=755`, "tmpfs", `${a.home}/${dir}`]);
    assert.is(mounted.status, 0, `mount ${dir}`);
  };
  const fill = (dir: string) => a.runAs(["sh", "-c", `dd if=/dev/zero of=${dir}/fill bs=64k 2>/dev/null; :`]);
  const addFull = () => orch(["host", "add", "alpha", a.alias, "--path", "full/repo", "--json"], { cwd: repo, env: world.env });
  // The binary first: a copy that fails half-way leaves no partial file to hold the space.
  mount(".local/bin", "size=1m");
  try {
    const added = addFull();
    assert.is(added.code, 1, added.stderr);
    assert.match(added.json.error.message, /^could not install orch on host alpha: .*No space left on device$/);
    assert.equal(fs.readdirSync(`${a.home}/.local/bin`), [], "no temporary file left there");
  } finally {
    spawnSync("umount", [`${a.home}/.local/bin`]);
  }
  // Then the clone: git init that runs out of room half-way leaves no .git that the next host add would
  // take for a repository of someone else's.
  mount("full", "size=256k");
  try {
    fill(`${a.home}/full`);
    const added = addFull();
    assert.is(added.code, 1, added.stderr);
    assert.match(added.json.error.message, /^could not make the clone full\/repo on host alpha: .*No space left on device/);
    assert.not.ok(fs.existsSync(`${a.home}/full/repo/.git`), "no half-made clone left");
    fs.rmSync(`${a.home}/full/fill`);
    const again = addFull();
    assert.is(again.code, 0, again.stderr);
    assert.is(a.runAs(["git", "-C", "full/repo", "log", "--format=%s"]).stdout.trim(), "initial");
  } finally {
    spawnSync("umount", [`${a.home}/full`]);
  }
});

test("a ~/.local/bin on a noexec mount: host add says its file system does not let orch run", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo } = sessionRepo();
  writeAsUser(a, ".local/bin/.keep", "");
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `noexec,uid=${a.uid},mode=755`, "tmpfs", `${a.home}/.local/bin`]);
  assert.is(mounted.status, 0);
  try {
    const added = orch(["host", "add", "alpha", a.alias, "--path", "noexec/repo", "--json"], { cwd: repo, env: world.env });
    assert.is(added.code, 1, added.stderr);
    assert.match(added.json.error.message, regExpOf(/^orch on host alpha cannot run: ~\/\.local\/bin\/orch is executable /,
      /but was refused \(Permission denied\), so its file system does not let programs run \(mounted noexec\?\)/));
    assert.is(added.stderr.trim().split("\n").length, 1, added.stderr);
  } finally {
    spawnSync("umount", [`${a.home}/.local/bin`]);
  }
});

test("a host forgotten with host rm --force: await counts its worker as settled; commands on it exit 1 saying why", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/forgotten", "feat/gone");
  const here = orch(["spawn", "feat/here", "--no-window", "--json"], { cwd: repo, env });
  assert.is(here.code, 0, here.stderr);
  const done = ["notify", "--type", "task_complete", "--summary", "done here"];
  assert.is(orch(done, { cwd: here.json.worktree_path, env }).code, 0);
  assert.is(orch(["host", "rm", "alpha"], { cwd: repo, env }).code, 1, "refused while it has a worker");
  const removed = orch(["host", "rm", "alpha", "--force"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);

  for (const args of [[], [worker]]) {
    const awaited = orch(["await", ...args, "--timeout", "30", "--json"], { cwd: repo, env, timeout: 60_000 });
    assert.is(awaited.code, 0, awaited.stderr);
    const byId = Object.fromEntries(awaited.json.workers.map((w: { worker_id: string }) => [w.worker_id, w]));
    assert.is(byId[worker].status, "unreachable");
    assert.match(byId[worker].error, /host alpha is no longer known/);
    if (args.length === 0) assert.is(byId["feat-here"].status, "done");
    namesHostOnce(awaited.stderr);
  }
  // Nothing of it was bad input: each command on it says what is missing and what to do (exit 1, not 2).
  for (const args of [["send", worker, "hello"], ["stop", worker], ["resume", worker], ["diff", worker]]) {
    const r = orch([...args, "--json"], { cwd: repo, env });
    assert.equal([r.code, r.json.error.code], [1, "not_found"], `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.json.error.message, /^host alpha is no longer known \(orch host rm --force\?\): orch rm forgets/);
    namesHostOnce(r.stderr);
  }
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  namesHostOnce(status.stderr);
  const rm = orch(["rm", worker, "--yes"], { cwd: repo, env });
  assert.is(rm.code, 0, rm.stderr);
});

test("host rm --force of a host paused as silent: the pause goes with it; status says the host is forgotten", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/paused", "feat/paused");
  // What a status that waited the host out leaves: a silent pause with minutes still to run.
  const failureFile = path.join(repo, ".orch", "hosts-unreachable", "alpha.json");
  fs.mkdirSync(path.dirname(failureFile), { recursive: true });
  const at = new Date().toISOString();
  const retryAfter = new Date(Date.now() + 240_000).toISOString();
  fs.writeFileSync(failureFile, JSON.stringify({
    host: "alpha", failures: 1, first_failed_at: at, last_failed_at: at, retry_after: retryAfter,
    error: "Connection timed out during banner exchange", silent: true,
  }));
  const removed = orch(["host", "rm", "alpha", "--force"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(fs.existsSync(failureFile), "the forgotten host's pause is forgotten with it");
  // Before, status read the old pause and showed the worker waiting for a host that "did not answer".
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  const row = status.json.workers.find((w: { worker_id: string }) => w.worker_id === worker);
  assert.is(row.status, "unreachable");
  assert.match(row.error, /^host alpha is no longer known/);
  assert.not.match(status.stderr, /did not answer/);
  assert.is(orch(["rm", worker, "--yes"], { cwd: repo, env }).code, 0);
});

test("a host's store of a newer format: the empty poll there refuses it as the host's orch does, not as empty", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env } = repoWithWorker(a, "broken/newer-store", "feat/newer");
  const first = orch(["poll", "--json"], { cwd: repo, env });
  assert.equal([first.code, first.json.message_count, first.stderr], [0, 0, ""], first.stderr);
  // What a newer orch there leaves: a store-version file saying a format this orch does not read.
  writeAsUser(a, "broken/newer-store/.orch/store-version", "2\n");
  const polled = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(polled.code, 0, polled.stderr);
  // Before, the shell's shortcut found no message files and answered an empty poll, saying nothing.
  const refused = /^orch: on host alpha: orch poll: the store \S+ is of format 2, made by a newer orch; /;
  assert.match(polled.stderr, refused, polled.stderr);
  assert.is(polled.stderr.trim().split("\n").length, 1, polled.stderr);
  namesHostOnce(polled.stderr);
});

test("host rm --force, then host add of the name elsewhere: its old workers never reach the new clone", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/before", "feat/before");
  const worktree = orch(["status", "--json"], { cwd: repo, env }).json.workers[0].worktree_path as string;
  assert.is(orch(["host", "rm", "alpha", "--force"], { cwd: repo, env }).code, 0);
  const readded = orch(["host", "add", "alpha", a.alias, "--path", "broken/after"], { cwd: repo, env });
  assert.is(readded.code, 0, readded.stderr);
  const now = orch(["spawn", "feat/after", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(now.code, 0, now.stderr);
  // Before, each went to the clone at broken/after, the host's session there, as if it were the worker's.
  for (const args of [["send", worker, "hello"], ["stop", worker], ["diff", worker]]) {
    const r = orch([...args, "--json"], { cwd: repo, env });
    assert.equal([r.code, r.json.error?.code], [1, "not_found"], `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.json.error.message, /^host alpha is another host now \(removed and added again with another DEST/);
  }
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  const byId = Object.fromEntries(status.json.workers.map((w: { worker_id: string }) => [w.worker_id, w]));
  assert.match(byId[worker].error, /^host alpha is another host now/);
  assert.is(byId[now.json.worker_id].error, undefined, "the new host's worker is its own");
  namesHostOnce(status.stderr);
  const list = orch(["host", "list", "--json"], { cwd: repo, env });
  assert.equal(list.json.hosts[0].workers, [now.json.worker_id], "only the new host's worker counts as its");
  const rm = orch(["rm", worker, "--yes", "--json"], { cwd: repo, env });
  assert.is(rm.code, 0, rm.stderr);
  assert.is(rm.json.forgotten_only, true, "only forgotten here");
  assert.match(rm.stderr, /is only forgotten here: host alpha is another host now/);
  assert.ok(fs.existsSync(worktree), "its worktree stays on the host it was made on");
  const sent = orch(["send", now.json.worker_id, "hello"], { cwd: repo, env });
  assert.is(sent.code, 0, `the new host's worker is reached: ${sent.stderr}`);
});

test("host add again as it was, of a host an older orch recorded with another spelling of --path: its workers stay",
  () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo } = sessionRepo({ "README.md": "# spelt\n" });
  const env = { ...world.env };
  assert.is(orch(["host", "add", "alpha", a.alias, "--path", "broken/spelt"], { cwd: repo, env }).code, 0);
  // An orch before --path had one spelling per folder kept it as given: ./broken/spelt.
  const file = path.join(repo, ".orch", "hosts", "alpha.json");
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), path: "./broken/spelt" }));
  const spawned = orch(["spawn", "feat/spelt", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  // The upgrade the README gives: added again as it was. Before, the record took the new spelling, and the
  // worker made under the old one was "another host now": its commands refused, rm only forgot it.
  const again = orch(["host", "add", "alpha", a.alias, "--path", "broken/spelt", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json.again, true, again.stdout);
  const sent = orch(["send", spawned.json.worker_id, "hello", "--json"], { cwd: repo, env });
  assert.is(sent.code, 0, sent.stdout + sent.stderr);
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.json.workers[0].error, undefined, status.stdout);
});

test("host rm --force, then host add under another name: its warning's host add and rm remove the worker there", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/renamed", "feat/renamed");
  const worktree = orch(["status", "--json"], { cwd: repo, env }).json.workers[0].worktree_path as string;
  const forgotten = orch(["host", "rm", "alpha", "--force", "--json"], { cwd: repo, env });
  assert.is(forgotten.code, 0, forgotten.stderr);
  assert.equal(forgotten.json.workers_left, [worker]);
  const again = ["host", "add", "alpha", a.alias, "--path", "broken/renamed"];
  assert.is(forgotten.stderr.trim().split("\n").length, 1, forgotten.stderr);
  assert.ok(forgotten.stderr.includes(`feat-renamed stay on host alpha: orch ${again.join(" ")} (as it was`), forgotten.stderr);
  const beta = orch(["host", "add", "beta", a.alias, "--path", "broken/renamed"], { cwd: repo, env });
  assert.is(beta.code, 0, beta.stderr);
  const other = orch(["spawn", "feat/beta", "--host", "beta", "--no-window", "--json"], { cwd: repo, env });
  assert.is(other.code, 0, other.stderr);
  const sent = orch(["send", worker, "hello", "--json"], { cwd: repo, env });
  assert.is(sent.code, 1, sent.stderr);
  assert.match(sent.json.error.message, /orch host add alpha again, as it was, then orch rm, removes them there too/);

  // What the warning says, beside beta: the worker's worktree and record there go, beta's worker stays.
  assert.is(orch(again, { cwd: repo, env }).code, 0);
  const removed = orch(["rm", worker, "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.is(removed.json.forgotten_only, undefined, "removed on the host, not only forgotten here");
  assert.not.ok(fs.existsSync(worktree), "its worktree on the host is gone");
  const records = a.runAs(["sh", "-c", 'ls "$1"/sessions/*/workers/', "ls", "broken/renamed/.orch"]).stdout;
  assert.match(records, /feat-beta/);
  assert.not.match(records, /feat-renamed/);
  assert.is(orch(["host", "rm", "alpha"], { cwd: repo, env }).code, 0);
  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.equal(status.json.workers.map((w: { worker_id: string; host: string }) => [w.worker_id, w.host]), [["feat-beta", "beta"]]);
  assert.is(status.stderr, "");
});

/** Runs `body` with the host's orch replaced by `script`, and puts the real one back whatever happens. */
function withHostOrch(host: SshHost, script: string, body: () => void): void {
  const bin = path.join(host.home, ".local/bin/orch");
  const good = fs.readFileSync(bin);
  try {
    writeAsUser(host, ".local/bin/orch", script, 0o755);
    body();
  } finally {
    fs.rmSync(bin, { force: true });
    fs.writeFileSync(bin, good, { mode: 0o755 });
    fs.chownSync(bin, host.uid, fs.statSync(host.home).gid);
  }
}

test("an orch on the host that hangs (its child holding the pipes): host list says so within its limit; host add repairs", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env } = repoWithWorker(a, "broken/hangs", "feat/hangs");
  withHostOrch(a, "#!/bin/sh\nsleep 3600\n", () => {
    // poll and status give it up after $ORCH_SSH_ANSWER_TIMEOUT (the host then counts as silent for a while).
    const limited = { ...env, ORCH_SSH_ANSWER_TIMEOUT: "2" };
    // A file in the host's mailbox, so that its empty-poll check starts orch there.
    const sessions = path.join(a.home, "broken/hangs/.orch/sessions");
    const remoteSession = fs.readdirSync(sessions).find((name) => name.startsWith("orch_"))!;
    writeAsUser(a, `broken/hangs/.orch/sessions/${remoteSession}/mail/new/msg_waiting.json`, "{}\n");
    const polled = orch(["poll", "--json"], { cwd: repo, env: limited, timeout: 60_000 });
    assert.is(polled.code, 0, polled.stderr);
    assert.is(polled.json.message_count, 0);
    assert.match(polled.stderr, /orch there did not answer within 2 s/);
    // The poll's failure pauses the host for status too: forgotten, so that status asks it.
    fs.rmSync(path.join(repo, ".orch", "hosts-unreachable"), { recursive: true, force: true });
    const status = orch(["status", "--json"], { cwd: repo, env: limited, timeout: 60_000 });
    assert.is(status.code, 0, status.stderr);
    assert.is(status.json.workers[0].status, "unreachable");
    assert.match(status.json.workers[0].error, /orch there did not answer within 2 s/);
    const listed = orch(["host", "list", "--json"], { cwd: repo, env, timeout: 120_000 });
    assert.is(listed.code, 0, listed.stderr);
    assert.is(listed.json.hosts[0].orch_version, null);
    const hangs = regExpOf(
      /^orch does not run there \(it did not answer --version within 10 s\): /,
      /orch host add alpha \S+ --path broken\/hangs installs it$/,
    );
    assert.match(listed.json.hosts[0].error, hangs);
    const added = orch(["host", "add", "alpha", a.alias, "--path", "broken/hangs", "--json"], { cwd: repo, env, timeout: 120_000 });
    assert.is(added.code, 0, added.stderr);
    assert.is(added.json.installed, true);
    const again = orch(["host", "list", "--json"], { cwd: repo, env, timeout: 120_000 });
    assert.type(again.json.hosts[0].orch_version, "string");
    assert.is(again.json.hosts[0].error, undefined);
  });
});

test("an orch on the host that exits 1 silently or prints junk: status says it gave no answer and how to reinstall it", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env } = repoWithWorker(a, "broken/junk", "feat/junk");
  for (const [script, said] of [["exit 1", "exit 1, no output"], ["echo 'Segmentation fault?'", "exit 0: Segmentation fault?"]]) {
    withHostOrch(a, `#!/bin/sh\n${script}\n`, () => {
      fs.rmSync(path.join(repo, ".orch", "hosts-unreachable"), { recursive: true, force: true });
      const status = orch(["status", "--json"], { cwd: repo, env });
      assert.is(status.code, 0, status.stderr);
      const error = status.json.workers[0].error as string;
      assert.ok(error.startsWith(`on host alpha: orch status gave no answer orch can read (${said}); `), error);
      assert.match(error, /if it is not this orch's build, orch host add alpha \S+ --path broken\/junk installs it again$/);
      assert.is(status.stderr.trim().split("\n").length, 1, status.stderr);
    });
  }
});

test("a host record edited so that it lacks its path: each command names the file in one line, no stack trace", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/edited", "feat/edited");
  const file = path.join(repo, ".orch/hosts/alpha.json");
  const { path: _dropped, ...edited } = JSON.parse(fs.readFileSync(file, "utf8"));
  fs.writeFileSync(file, JSON.stringify(edited));
  const commands = [["send", worker, "hello"], ["stop", worker], ["status"], ["poll"], ["host", "list"], ["rm", worker, "--yes"]];
  for (const args of commands) {
    const r = orch(args, { cwd: repo, env });
    assert.not.match(r.stderr, /\n\s+at /, `${args.join(" ")}: no stack trace: ${r.stderr}`);
    assert.match(r.stderr, /alpha\.json: not a host record/, args.join(" "));
  }
  // host rm takes such a record away (--force: its worker is still recorded here), saying what it was.
  const removed = orch(["host", "rm", "alpha", "--force"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.match(removed.stderr, /removed the unusable record of host alpha \(.*alpha\.json: not a host record/);
  assert.not.ok(fs.existsSync(file));
});

test("a session's link to a host edited to {}: poll, status and stop name the file in one line", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo, env, worker } = repoWithWorker(a, "broken/link", "feat/link");
  const sessions = path.join(repo, ".orch/sessions");
  const [session] = fs.readdirSync(sessions).filter((name) => name.startsWith("orch_"));
  fs.writeFileSync(path.join(sessions, session!, "hosts", "alpha.json"), "{}");
  // status shows the rest and warns, as for a host it cannot reach; the others fail.
  for (const [args, code] of [[["poll"], 1], [["status"], 0], [["stop", worker], 1]] as const) {
    const r = orch([...args], { cwd: repo, env });
    assert.is(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.not.match(r.stderr, /undefined|\n\s+at /, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /alpha\.json: not a link to a host's session/, args.join(" "));
  }
});

test("host add whose connection ends during the copy of orch installs no partial binary there", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const a = world.hosts[0]!;
  const { repo } = sessionRepo();
  const bin = `${a.home}/.local/bin`;
  a.runAs(["rm", "-f", `${bin}/orch`]);
  // A cat that takes its time after the first megabyte: the connection ends while the copy is under way,
  // and the copy then reads the end of its input, as sshd closes it.
  const bashrc = fs.readFileSync(`${a.home}/.bashrc`, "utf8");
  writeAsUser(a, "slow/cat", "#!/bin/sh\nhead -c 1048576; sleep 2; exec /bin/cat\n", 0o755);
  writeAsUser(a, ".bashrc", `PATH="$HOME/slow:$PATH"\n${bashrc}`);
  try {
    const adding = orchAsync(["host", "add", "cut", a.alias, "--path", "cut/repo"], { cwd: repo, env: world.env });
    const copying = () => fs.readdirSync(bin).filter((name) => name.endsWith(".tmp"));
    await waitUntil(() => copying().some((name) => fs.statSync(`${bin}/${name}`).size >= 1048576), 30_000, "the copy");
    adding.child.kill("SIGKILL");
    await adding.done;
    await waitUntil(() => copying().length === 0, 15_000, "the copy's end on the host");
    assert.not.ok(fs.existsSync(`${bin}/orch`), "no partial orch installed");
  } finally {
    writeAsUser(a, ".bashrc", bashrc);
  }
  // What a copy whose shell was killed leaves (its pid ended), beside one under way (its pid runs) and names
  // not of orch's making: the next host add removes the first only.
  const ended = spawnSync("true").pid!;
  const running = spawnSync("pgrep", ["-o", "-u", String(a.uid)], { encoding: "utf8" }).stdout.trim();
  const names = [`orch.${ended}.tmp`, `orch.${running}.tmp`, "orch.12x.tmp", `orch.${ended}.tmp.mine`];
  for (const name of names) writeAsUser(a, `.local/bin/${name}`, "part");
  const again = orch(["host", "add", "cut", a.alias, "--path", "cut/repo", "--json"], { cwd: repo, env: world.env });
  assert.is(again.code, 0, again.stderr);
  assert.ok(fs.readFileSync(`${bin}/orch`).equals(fs.readFileSync(orchCommand("binary")[0]!)), "installed whole");
  assert.equal(names.filter((name) => fs.existsSync(`${bin}/${name}`)), names.slice(1), "only the ended copy removed");
  for (const name of names) fs.rmSync(`${bin}/${name}`, { force: true });
});

test.run();
