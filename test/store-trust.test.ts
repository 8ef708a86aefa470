// The store is never content a repository ships: committed sessions are not picked, a committed .orch
// link or tracked store is refused, and nothing under the store is followed through a symbolic link.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, scratchRepo, sessionRepo, tempDir, writeFiles } from "./helpers.ts";

/** A session as a hostile repository would commit it: dated in the future, its new/ a link outside. */
function shipSession(repo: string, outside: string, id = "orch_evil0001"): void {
  const session = path.join(repo, ".orch", "sessions", id);
  writeFiles(session, { "session.json": JSON.stringify({ orchestrator_id: id, project_dir: repo, created_at: "2099-01-01T00:00:00.000Z" }) });
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
  writeFiles(elsewhere, { "worker.json": JSON.stringify({ worker_id: "fake", branch: "fake", orchestrator_id: id, worktree_path: "/", created_at: "x", agent_argv: [] }) });
  fs.symlinkSync(elsewhere, path.join(repo, ".orch", "sessions", id, "workers", "fake"));
  const status = orch(["status", "--json"], { cwd: repo });
  assert.is(status.code, 0, status.stderr);
  assert.equal(status.json.workers, []);
  assert.match(status.stderr, /skipping worker fake/);
  const stop = orch(["stop", "fake", "--json"], { cwd: repo });
  assert.is(stop.code, 1);
  assert.match(stop.stderr, /symbolic link/);
});

test.run();
