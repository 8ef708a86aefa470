// orch init: a session whole or not at all, .orch/ excluded, the same store from every worktree.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, scratchRepo, snapshot, tempDir } from "./helpers.ts";

test("init creates a session with the seed's JSON shape and prints the bare id otherwise", () => {
  const repo = scratchRepo();
  const r = orch(["init", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(Object.keys(r.json).sort(), ["created_at", "message", "orchestrator_id", "project_dir", "success"]);
  assert.is(r.json.success, true);
  assert.match(r.json.orchestrator_id, /^orch_[a-z0-9]{8}$/);
  assert.is(r.json.project_dir, repo);
  const session = JSON.parse(fs.readFileSync(path.join(repo, ".orch/sessions", r.json.orchestrator_id, "session.json"), "utf8"));
  assert.is(session.orchestrator_id, r.json.orchestrator_id);
  const human = orch(["init"], { cwd: repo });
  assert.match(human.stdout, /^orch_[a-z0-9]{8}\n$/);
});

test("the store is private: folders 0700, files 0600", () => {
  const repo = scratchRepo();
  const id = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id;
  orch(["notify", "--type", "progress", "--summary", "x"], { cwd: repo });
  assert.is(fs.statSync(path.join(repo, ".orch")).mode & 0o777, 0o700);
  assert.is(fs.statSync(path.join(repo, ".orch/sessions", id, "mail/new")).mode & 0o777, 0o700);
  assert.is(fs.statSync(path.join(repo, ".orch/sessions", id, "session.json")).mode & 0o777, 0o600);
  const message = fs.readdirSync(path.join(repo, ".orch/sessions", id, "mail/new"))[0]!;
  assert.is(fs.statSync(path.join(repo, ".orch/sessions", id, "mail/new", message)).mode & 0o777, 0o600);
});

test("init adds .orch/ to .git/info/exclude once and never touches tracked files", () => {
  const repo = scratchRepo();
  orch(["init"], { cwd: repo });
  orch(["init"], { cwd: repo });
  const exclude = fs.readFileSync(path.join(repo, ".git/info/exclude"), "utf8");
  assert.is(exclude.split("\n").filter((l) => l === ".orch/").length, 1);
  assert.is(git(["status", "--porcelain"], repo), "", "the store is not seen by git");
  assert.not.ok(fs.existsSync(path.join(repo, ".gitignore")));
});

test("an exclude that already keeps the store out in another spelling, or without a final newline, is kept as it is", () => {
  for (const spelling of [".orch", "/.orch", "/.orch/", ".orch/*", ".orch/\r"]) {
    const repo = scratchRepo();
    const file = path.join(repo, ".git/info/exclude");
    const before = `# mine\n${spelling}`;
    fs.writeFileSync(file, before);
    assert.is(orch(["init"], { cwd: repo }).code, 0);
    assert.is(fs.readFileSync(file, "utf8"), before, JSON.stringify(spelling));
    assert.is(git(["status", "--porcelain"], repo), "", `${JSON.stringify(spelling)}: the store is not seen by git`);
  }
  const repo = scratchRepo();
  const file = path.join(repo, ".git/info/exclude");
  fs.writeFileSync(file, "# mine\n*.log");
  assert.is(orch(["init"], { cwd: repo }).code, 0);
  assert.is(fs.readFileSync(file, "utf8"), "# mine\n*.log\n.orch/\n", "appended on a line of its own");
});

test("every linked worktree finds the same store, through git's files alone", () => {
  const repo = scratchRepo();
  const id = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id;
  const wt = path.join(path.dirname(repo), "linked");
  git(["worktree", "add", "-q", "-b", "side", wt], repo);
  fs.mkdirSync(path.join(wt, "deep/er"), { recursive: true });
  const r = orch(["notify", "--type", "progress", "--summary", "from linked", "--json"], { cwd: path.join(wt, "deep/er") });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.orchestrator_id, id);
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.messages[0].content.summary, "from linked");
  assert.not.ok(fs.existsSync(path.join(wt, ".orch")));
});

test("ORCH_HOME pointing at a regular file fails with exit 1 and writes nothing", () => {
  const repo = scratchRepo();
  const file = path.join(tempDir(), "not-a-dir");
  fs.writeFileSync(file, "x");
  const before = snapshot(path.dirname(file));
  for (const args of [["init"], ["notify", "--type", "progress", "--summary", "x"], ["poll"], ["status"]]) {
    const r = orch([...args, "--json"], { cwd: repo, env: { ORCH_HOME: file } });
    assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.is(r.json.success, false);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  assert.equal(snapshot(path.dirname(file)), before);
  assert.not.ok(fs.existsSync(path.join(repo, ".orch")));
});

test("a project's .env and bunfig.toml do not reach orch's environment", () => {
  const repo = scratchRepo();
  const id = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id;
  fs.writeFileSync(path.join(repo, ".env"), "ORCH_ID=orch_zzzzzzzz\nORCH_HOME=/nonexistent\n");
  fs.writeFileSync(path.join(repo, "bunfig.toml"), "[run]\nsilent = true\n");
  const r = orch(["status", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.orchestrator_id, id);
});

test("init outside a repository uses the project folder; --project-dir must exist", () => {
  const dir = tempDir();
  const r = orch(["init", "--json"], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(dir, ".orch/sessions", r.json.orchestrator_id)));
  const missing = orch(["init", "--project-dir", path.join(dir, "nope")], { cwd: dir });
  assert.is(missing.code, 2);
  fs.writeFileSync(path.join(dir, "a-file"), "x\n");
  const file = orch(["init", "--project-dir", path.join(dir, "a-file")], { cwd: dir });
  assert.is(file.code, 2, "a file is no project folder: bad input");
  assert.match(file.stderr, /is not a folder/);
  fs.symlinkSync(path.join(dir, "missing"), path.join(dir, "dangling"));
  const dangling = orch(["init"], { cwd: dir, env: { ORCH_HOME: path.join(dir, "dangling") } });
  assert.is(dangling.code, 1);
  assert.match(dangling.stderr, /symbolic link to something missing/);
  assert.not.match(dangling.stderr, /EEXIST/);
});

test("a repository owned by another user (git's dubious ownership): refused as git refuses it, nothing written", () => {
  if (process.geteuid?.() !== 0) {
    console.log("SKIP: not root, so no repository of another user could be made here");
    return;
  }
  const repo = scratchRepo();
  const exclude = path.join(repo, ".git", "info", "exclude");
  const before = fs.readFileSync(exclude, "utf8");
  fs.chmodSync(path.dirname(repo), 0o755);
  spawnSync("chown", ["-R", "nobody", repo]);
  // Only the global config of this test, which trusts nothing (a machine's own could hold safe.directory=*).
  const globalConfig = path.join(tempDir(), "gitconfig");
  fs.writeFileSync(globalConfig, "");
  const env = { GIT_CONFIG_GLOBAL: globalConfig, GIT_CONFIG_NOSYSTEM: "1" };
  for (const args of [["init"], ["status"], ["spawn", "feat/a", "--no-window"]]) {
    const r = orch([...args, "--json"], { cwd: repo, env });
    assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.is(r.json.error.code, "refused");
    const fix = `git config --global --add safe.directory ${repo}`;
    assert.is(r.json.error.message, `git refuses ${repo}: it is owned by another user (dubious ownership); ` +
      `if you trust it: ${fix}`);
  }
  assert.not.ok(fs.existsSync(path.join(repo, ".orch")), "no store made");
  assert.is(fs.readFileSync(exclude, "utf8"), before, "exclude untouched");
  fs.writeFileSync(globalConfig, `[safe]\n\tdirectory = ${repo}\n`);
  const trusted = orch(["init", "--json"], { cwd: repo, env });
  assert.is(trusted.code, 0, trusted.stderr);
});

test.run();
