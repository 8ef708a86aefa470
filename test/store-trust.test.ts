// The store is never content a repository ships: committed sessions are not picked, a committed .orch
// link or tracked store is refused, and nothing under the store is followed through a symbolic link.

import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  baseEnv, commitFiles, git, gitOk, orch, orchCommand, scratchRepo, sessionRepo, tempDir, writeFiles,
} from "./helpers.ts";

/** A session as a hostile repository would commit it: dated in the future, its new/ a link outside. */
function shipSession(repo: string, outside: string, id = "orch_evil0001"): void {
  const session = path.join(repo, ".orch", "sessions", id);
  const sessionRecord = { orchestrator_id: id, project_dir: repo, created_at: "2099-01-01T00:00:00.000Z" };
  writeFiles(session, { "session.json": JSON.stringify(sessionRecord) });
  for (const sub of ["tmp", "cur", "claims", "quarantine"]) fs.mkdirSync(path.join(session, "mail", sub), { recursive: true });
  fs.symlinkSync(outside, path.join(session, "mail", "new"));
  fs.mkdirSync(path.join(session, "workers"));
}

function outsideWithFiles(): string {
  const outside = tempDir("orch-outside-");
  fs.writeFileSync(path.join(outside, "msg_000000000000000000000.json"), "{}");
  fs.writeFileSync(path.join(outside, "precious.txt"), "keep me\n");
  return outside;
}

test("a session committed under .orch/ is never picked, even dated in the future; nothing moves out of its linked new/", () => {
  const { repo, id } = sessionRepo();
  const outside = outsideWithFiles();
  shipSession(repo, outside);
  for (const args of [["status", "--json"], ["poll", "--json"]]) {
    const r = orch(args, { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.json.orchestrator_id, id, `${args[0]} picks the session orch made`);
  }
  assert.equal(fs.readdirSync(outside).sort(), ["msg_000000000000000000000.json", "precious.txt"]);
});

test("in a fresh clone of a repository that ships a store, no command uses it", () => {
  const origin = scratchRepo("origin");
  const outside = outsideWithFiles();
  shipSession(origin, outside);
  git(["add", "-f", ".orch"], origin);
  git(["commit", "-q", "-m", "ship a store"], origin);
  const clone = path.join(tempDir(), "clone");
  git(["clone", "-q", origin, clone], path.dirname(clone));
  const polled = orch(["poll", "--json"], { cwd: clone });
  assert.is(polled.code, 1);
  assert.match(polled.json.error.message, /no orchestrator session/);
  const init = orch(["init", "--json"], { cwd: clone });
  assert.is(init.code, 1, "init refuses a store the repository tracks");
  assert.match(init.stderr, /tracks files under \.orch\//);
  // Named explicitly, its mailbox (git kept no empty folders, only the linked new/) is refused, not read through.
  const named = orch(["poll", "--orch", "orch_evil0001", "--json"], { cwd: clone });
  assert.is(named.code, 1, named.stderr);
  assert.is(named.stderr.trim().split("\n").length, 1, named.stderr);
  assert.equal(fs.readdirSync(outside).sort(), ["msg_000000000000000000000.json", "precious.txt"]);
});

test(".orch as a symbolic link is refused by init, status and notify", () => {
  const repo = scratchRepo();
  const elsewhere = tempDir("orch-elsewhere-");
  fs.symlinkSync(elsewhere, path.join(repo, ".orch"));
  for (const args of [["init"], ["status"], ["notify", "--type", "progress", "--summary", "x"]]) {
    const r = orch([...args, "--json"], { cwd: repo });
    assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /symbolic link/);
    assert.not.match(r.stderr, /at .*\.js:\d+/, "no stack trace");
  }
  assert.equal(fs.readdirSync(elsewhere), []);
});

test("a worker folder that is a link is skipped by status and refused by stop", () => {
  const { repo, id } = sessionRepo();
  const elsewhere = tempDir("orch-elsewhere-");
  const fakeWorker = {
    worker_id: "fake",
    branch: "fake",
    orchestrator_id: id,
    worktree_path: "/",
    created_at: "x",
    agent_argv: [],
  };
  writeFiles(elsewhere, { "worker.json": JSON.stringify(fakeWorker) });
  fs.symlinkSync(elsewhere, path.join(repo, ".orch", "sessions", id, "workers", "fake"));
  const status = orch(["status", "--json"], { cwd: repo });
  assert.is(status.code, 0, status.stderr);
  assert.equal(status.json.workers, []);
  assert.match(status.stderr, /skipping worker fake/);
  const stop = orch(["stop", "fake", "--json"], { cwd: repo });
  assert.is(stop.code, 1);
  assert.match(stop.stderr, /symbolic link/);
});

test("a worker record its user may not read: status skips it, commands on it say how to mend it, rm --force forgets it", () => {
  if (process.getuid?.() !== 0) return console.log("SKIP: needs root to run orch as another user");
  const { repo, id } = sessionRepo();
  const dir = handMadeWorker(repo, id, "locked", {});
  handMadeWorker(repo, id, "open", {});
  const nobody = Number(spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout);
  for (let d = repo; d !== path.dirname(d) && d !== "/tmp"; d = path.dirname(d)) fs.chmodSync(d, 0o755);
  spawnSync("chown", ["-R", `${nobody}:${nobody}`, repo]);
  fs.chmodSync(path.join(dir, "worker.json"), 0);
  const [binary, ...rest] = orchCommand();
  const asNobody = (args: string[]) => {
    const r = spawnSync("runuser", ["-u", "nobody", "--", binary!, ...rest, ...args], {
      cwd: repo, env: { ...baseEnv(), HOME: repo }, encoding: "utf8",
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const status = asNobody(["status", "--json"]);
  assert.is(status.code, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).workers.map((w: { worker_id: string }) => w.worker_id), ["open"]);
  assert.match(status.stderr, /skipping worker locked: .*worker\.json is not readable by you \(permission denied\)/);
  for (const args of [["send", "locked", "hi"], ["stop", "locked"], ["diff", "locked"], ["rm", "locked"]]) {
    const r = asNobody(args);
    assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /record of worker locked .* is not readable by you \(permission denied\): give it back to your user \(chown, chmod u\+rw\), or orch rm locked --force forgets the worker/);
    assert.not.match(r.stderr, /EACCES|\n\s+at /);
  }
  assert.ok(fs.existsSync(path.join(dir, "worker.json")), "nothing was removed by the refusals");
  assert.equal(fs.readdirSync(path.join(dir, "inbox", "new")), [], "send left nothing in its inbox");
  const rm = asNobody(["rm", "locked", "--force", "--json"]);
  assert.is(rm.code, 0, rm.stderr);
  assert.is(JSON.parse(rm.stdout).record_unreadable, true);
  assert.not.ok(fs.existsSync(dir), "the unreadable worker is forgotten");
});

/** A worker folder as orch makes it (record, event log, inbox), with the record's fields as given. */
function handMadeWorker(repo: string, id: string, name: string, record: Record<string, unknown>): string {
  const dir = path.join(repo, ".orch", "sessions", id, "workers", name);
  for (const sub of ["events", "inbox/tmp", "inbox/new", "inbox/cur", "inbox/claims", "inbox/quarantine"]) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  }
  const fields = { worker_id: name, branch: name, orchestrator_id: id, worktree_path: repo, created_at: "2026-01-01T00:00:00.000Z" };
  fs.writeFileSync(path.join(dir, "worker.json"), JSON.stringify({ ...fields, agent_argv: ["true"], ...record }));
  return dir;
}

test("a worker record naming ../ ids, or whose event log is a link (outside, /etc/passwd, a FIFO, itself): " +
  "skipped with a warning, never written through", () => {
  const { repo, id } = sessionRepo();
  const outside = tempDir("orch-outside-");
  fs.mkdirSync(path.join(outside, "events"));
  const fifo = path.join(outside, "fifo");
  execFileSync("mkfifo", [fifo]);
  handMadeWorker(repo, id, "escape", { worker_id: `../../../../../../../..${outside}` });
  const targets: Record<string, string> = { outside: path.join(outside, "events"), passwd: "/etc/passwd", fifo, self: "events" };
  for (const [name, target] of Object.entries(targets)) {
    const dir = handMadeWorker(repo, id, `link-${name}`, {});
    fs.rmdirSync(path.join(dir, "events"));
    fs.symlinkSync(target, path.join(dir, "events"));
  }
  handMadeWorker(repo, id, "good", {});
  assert.is(orch(["notify", "--type", "progress", "--summary", "still here"], { cwd: repo, env: { ORCH_WORKER: "good" } }).code, 0);

  const status = orch(["status", "--json"], { cwd: repo, timeout: 60_000 });
  assert.is(status.code, 0, status.stderr);
  assert.equal(status.json.workers.map((w: { worker_id: string }) => w.worker_id), ["good"]);
  for (const name of ["escape", ...Object.keys(targets).map((n) => `link-${n}`)]) {
    assert.is(status.stderr.split(`skipping worker ${name}:`).length, 2, `one warning for ${name}: ${status.stderr}`);
  }
  assert.not.match(status.stderr, /at .*\.js:\d+/, "no stack trace");
  for (const name of ["escape", "link-outside", "link-fifo", "link-self"]) {
    const stop = orch(["stop", name], { cwd: repo, timeout: 60_000 });
    assert.is(stop.code, 1, `stop ${name}: ${stop.stderr}`);
    assert.match(stop.stderr, /orch rm .* --force removes the worker/);
  }
  assert.equal(fs.readdirSync(path.join(outside, "events")), [], "nothing was written outside the store");
  const poll = orch(["poll", "--json"], { cwd: repo, timeout: 60_000 });
  assert.is(poll.code, 0, poll.stderr);
  assert.equal(poll.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["still here"]);
  const rm = orch(["rm", "link-outside", "--force", "--yes"], { cwd: repo, timeout: 60_000 });
  assert.is(rm.code, 0, rm.stderr);
  assert.ok(fs.existsSync(path.join(outside, "events")), "rm removed the link, not what it points at");
});

test("a lock that is a symbolic link (to an old folder outside) is removed with a warning, not waited on or followed", () => {
  const { repo } = sessionRepo();
  const spawned = orch(["spawn", "feat/locked", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  commitFiles(spawned.json.worktree_path, { "a.txt": "a\n" }, "add a");
  const outside = tempDir("orch-outside-");
  writeFiles(outside, { "precious.txt": "keep me\n" });
  fs.utimesSync(outside, new Date("2020-01-01"), new Date("2020-01-01"));
  fs.symlinkSync(outside, path.join(repo, ".orch", "checkout.lock"));
  const started = Date.now();
  const apply = orch(["apply", "feat/locked", "--json"], { cwd: repo, timeout: 120_000 });
  assert.is(apply.code, 0, apply.stderr);
  assert.ok(Date.now() - started < 30_000, "not held up by proper-lockfile's retries");
  assert.match(apply.stderr, /removed .*checkout\.lock: a symbolic link in place of a lock/);
  assert.is(fs.readFileSync(path.join(outside, "precious.txt"), "utf8"), "keep me\n");
  assert.ok(fs.existsSync(path.join(repo, "a.txt")), "applied");
});

test("a damaged newest session is passed over with a warning naming it; one still being made is passed over unsaid", () => {
  const { repo, id: older } = sessionRepo();
  const newer = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id as string;
  const record = path.join(repo, ".orch", "sessions", newer, "session.json");
  for (const damage of ["{broken", "{}", ""]) {
    fs.writeFileSync(record, damage);
    const r = orch(["status", "--json"], { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.json.orchestrator_id, older);
    const lines = r.stderr.trim().split("\n");
    assert.is(lines.length, 1, r.stderr);
    assert.ok(lines[0]!.startsWith(`orch: ignoring session ${newer}: ${record} cannot be read (`), r.stderr);
  }
  // A registered session whose record is not there yet (init between its registration and its rename).
  fs.rmSync(record);
  const quiet = orch(["poll", "--json"], { cwd: repo });
  assert.is(quiet.code, 0, quiet.stderr);
  assert.is(quiet.json.orchestrator_id, older);
  assert.is(quiet.stderr, "");
});

test("the only session damaged: status and poll say it once and that it is the one, not just \"run orch init\"", () => {
  const { repo, id } = sessionRepo();
  const record = path.join(repo, ".orch", "sessions", id, "session.json");
  fs.writeFileSync(record, "{broken");
  const unusable = /^(orch: )?no usable orchestrator session in .*: the one above cannot be read \(fix or remove/;
  for (const command of [["status"], ["poll"], ["poll", "--json"]]) {
    const r = orch(command, { cwd: repo });
    assert.is(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.ok(lines[0]!.startsWith(`orch: ignoring session ${id}: ${record} cannot be read (`), r.stderr);
    assert.is(lines.length, 2, `the session's line once, then the error: ${r.stderr}`);
    assert.match(lines[1]!, unusable);
    if (command.includes("--json")) {
      assert.is(r.json.error.code, "not_found");
      assert.match(r.json.error.message, unusable);
    } else {
      assert.is(r.stdout, "");
    }
  }
  assert.is(fs.readFileSync(record, "utf8"), "{broken", "left as it was");
});

/** Rewrites fields of a worker's record in place, as a hand edit would. */
function editRecord(repo: string, id: string, workerId: string, fields: Record<string, unknown>): void {
  const file = path.join(repo, ".orch", "sessions", id, "workers", workerId, "worker.json");
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), ...fields }));
}

test("a worktree_path edited to another folder (outside, another worker's worktree, relative, .., /): " +
  "rm and clean remove nothing there", () => {
  const { repo, id } = sessionRepo();
  const spawn = (branch: string) => {
    const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    return r.json.worktree_path as string;
  };
  const keptWorktree = spawn("feat/kept");
  spawn("feat/outside");
  spawn("feat/other");
  const merged = spawn("feat/merged");
  commitFiles(merged, { "m.txt": "m\n" }, "merged work");
  git(["merge", "-q", "--no-edit", "feat/merged"], repo);
  for (const branch of ["feat/rel", "feat/dots", "feat/root"]) spawn(branch);
  const outside = tempDir("orch-outside-");
  writeFiles(outside, { "precious.txt": "keep me\n" });
  editRecord(repo, id, "feat-outside", { worktree_path: outside });
  editRecord(repo, id, "feat-other", { worktree_path: keptWorktree });
  editRecord(repo, id, "feat-merged", { worktree_path: outside });
  editRecord(repo, id, "feat-rel", { worktree_path: "relative/wt" });
  editRecord(repo, id, "feat-dots", { worktree_path: `${keptWorktree}/../../${path.basename(outside)}` });
  editRecord(repo, id, "feat-root", { worktree_path: "/" });

  const status = orch(["status", "--json"], { cwd: repo });
  assert.is(status.code, 0, status.stderr);
  for (const name of ["feat-rel", "feat-dots", "feat-root"]) {
    assert.match(status.stderr, new RegExp(`skipping worker ${name}: .*worktree_path orch never records`));
  }
  const refused = orch(["rm", "feat-outside", "--json"], { cwd: repo });
  assert.is(refused.code, 1, refused.stderr);
  assert.match(refused.json.error.message, /is not a linked worktree of .*: nothing was removed/);
  assert.is(refused.stderr.trim().split("\n").length, 1, refused.stderr);
  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(cleaned.code, 1, "it could not remove a merged worker");
  assert.not.match(cleaned.stderr, /at .*\.js:\d+/, "no stack trace");
  assert.equal(cleaned.json.removed, [], cleaned.stdout);
  const keptMerged = cleaned.json.skipped.find((s: { worker_id: string }) => s.worker_id === "feat-merged");
  assert.match(keptMerged?.reason, /merged into main locally, but its record's .* is not a linked worktree/, cleaned.stdout);

  const forced = orch(["rm", "feat-other", "--force", "--json"], { cwd: repo });
  assert.is(forced.code, 0, forced.stderr);
  assert.equal([forced.json.worktree_path, forced.json.forgotten_only], [null, true]);
  assert.match(forced.stderr, /feat-other's record names .*feat-kept, which is not this worker's worktree/);
  for (const name of ["feat-outside", "feat-merged", "feat-rel", "feat-dots", "feat-root"]) {
    const r = orch(["rm", name, "--force", "--delete-branch", "--yes", "--json"], { cwd: repo });
    assert.is(r.code, 0, `${name}: ${r.stderr}`);
  }
  assert.is(fs.readFileSync(path.join(outside, "precious.txt"), "utf8"), "keep me\n");
  assert.ok(fs.existsSync(path.join(keptWorktree, "README.md")), "another worker's worktree is left");
  const worktrees = git(["worktree", "list", "--porcelain"], repo).split("\n").filter((l) => l.startsWith("worktree "));
  assert.is(worktrees.length, 8, "no worktree removed: the records did not name them");
  assert.ok(gitOk(["rev-parse", "--verify", "refs/heads/feat/other"], repo), "its branch kept: nothing was said of it");
  const left = orch(["status", "--json"], { cwd: repo });
  assert.equal(left.json.workers.map((w: { worker_id: string }) => w.worker_id), ["feat-kept"]);
});

test.run();
