// orch doctor: names what is missing (exit 1 for git, tmux or the agent), well-formed checks otherwise.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, scratchRepo, sessionRepo, tempDir } from "./helpers.ts";
import type { Check } from "../src/commands/doctor.ts";

/** A PATH folder holding links to only the named programs (as found on the real PATH). */
function pathWith(programs: string[]): string {
  const dir = tempDir("orch-path-");
  for (const program of programs) {
    const found = spawnSync("sh", ["-c", 'command -v "$1"', "sh", program], { encoding: "utf8" }).stdout.trim();
    if (!found) throw new Error(`${program} is not installed here`);
    fs.symlinkSync(found, path.join(dir, program));
  }
  return dir;
}

function assertWellFormed(checks: Check[]): void {
  assert.ok(Array.isArray(checks) && checks.length >= 6);
  for (const check of checks) {
    assert.type(check.name, "string");
    assert.type(check.ok, "boolean");
    assert.type(check.required, "boolean");
    assert.type(check.detail, "string");
    assert.ok(check.detail.length > 0);
    if (check.version !== undefined) assert.match(check.version, /^\d+\.\d+/);
    if (!check.ok) assert.type(check.fix, "string", `${check.name} says what to fix`);
  }
  const names = checks.map((c) => c.name);
  for (const needed of ["git", "tmux", "gh", "git gtr", "store"]) {
    assert.ok(names.includes(needed), `checks ${needed}: ${names.join(", ")}`);
  }
  assert.ok(names.some((n) => n.startsWith("agent")), "checks the agent");
}

test("a PATH without tmux: doctor names tmux and exits 1", () => {
  const repo = scratchRepo();
  const bin = pathWith(["git", "sh"]);
  const r = orch(["doctor", "--json", "--agent", "sh"], { cwd: repo, env: { PATH: bin } });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.success, false);
  assertWellFormed(r.json.checks);
  const tmux = r.json.checks.find((c: Check) => c.name === "tmux");
  assert.is(tmux.ok, false);
  assert.is(tmux.required, true);
  assert.match(tmux.fix, /tmux/);
  assert.match(r.json.error.message, /tmux/);
  const human = orch(["doctor", "--agent", "sh"], { cwd: repo, env: { PATH: bin } });
  assert.is(human.code, 1);
  assert.match(human.stdout, /FAIL tmux/);
  assert.match(human.stdout, /fix: /);
});

test("a missing agent is required too: exit 1 naming it", () => {
  const repo = scratchRepo();
  const bin = pathWith(["git", "sh", "tmux"]);
  const r = orch(["doctor", "--json", "--agent", "no-such-agent-xyz --flag"], { cwd: repo, env: { PATH: bin } });
  assert.is(r.code, 1);
  const agent = r.json.checks.find((c: Check) => c.name.startsWith("agent"));
  assert.is(agent.ok, false);
  assert.match(agent.detail, /no-such-agent-xyz/);
});

test("a relative --agent path is looked up as spawn runs it: from the repository's root (a worker's worktree " +
  "holds the same files), not from the folder doctor runs in; one that leaves the repository finds nothing", () => {
  const repo = scratchRepo();
  fs.mkdirSync(path.join(repo, "sub"));
  fs.writeFileSync(path.join(repo, "agent.sh"), "#!/bin/sh\n", { mode: 0o755 });
  fs.writeFileSync(path.join(path.dirname(repo), "outside.sh"), "#!/bin/sh\n", { mode: 0o755 });
  const agentCheck = (agent: string, cwd: string) => {
    const r = orch(["doctor", "--json", "--agent", agent], { cwd });
    return { code: r.code, check: r.json.checks.find((c: Check) => c.name.startsWith("agent")) as Check };
  };
  const fromRoot = agentCheck("./agent.sh", path.join(repo, "sub"));
  assert.is(fromRoot.check.ok, true, fromRoot.check.detail);
  assert.is(fromRoot.check.detail, path.join(repo, "agent.sh"));
  const inSub = agentCheck("../agent.sh", path.join(repo, "sub"));
  assert.is(inSub.check.ok, false, "../agent.sh from sub/ leaves a worktree's root");
  assert.is(inSub.code, 1);
  const outside = agentCheck("../outside.sh", repo);
  assert.is(outside.check.ok, false, outside.check.detail);
  assert.match(outside.check.detail, /leaves the repository, but a relative path is taken from each worker's worktree/);
  assert.match(outside.check.fix!, /absolute path/);
  const missing = agentCheck("./nothere.sh", repo);
  assert.is(missing.check.ok, false);
  assert.match(missing.check.detail, /is not in .* \(a relative path is taken from each worker's worktree\)/);
});

test("with git, tmux and the agent present: exit 0 and well-formed checks", () => {
  const { repo } = sessionRepo();
  const r = orch(["doctor", "--json", "--agent", "sh -c"], { cwd: repo });
  assertWellFormed(r.json.checks);
  const byName = Object.fromEntries(r.json.checks.map((c: Check) => [c.name, c]));
  assert.is(byName.git.ok, true, byName.git.detail);
  assert.match(byName.git.version, /^2\./);
  assert.is(byName.tmux.ok, true);
  assert.is(byName.store.ok, true, byName.store.detail);
  assert.is(byName["store permissions"].detail, "0700");
  assert.is(r.code, 0, r.stdout);
  assert.is(r.json.success, true);
});

test("a store that is open to others is reported with the chmod to fix it", () => {
  const { repo } = sessionRepo();
  fs.chmodSync(path.join(repo, ".orch"), 0o755);
  const r = orch(["doctor", "--json", "--agent", "sh"], { cwd: repo });
  const perms = r.json.checks.find((c: Check) => c.name === "store permissions");
  assert.is(perms.ok, false);
  assert.match(perms.fix, /chmod 700/);
  assert.is(r.code, 0, "a warning, not a failure");
});

test("the claude install check follows orch install claude, and its advice, followed, makes it ok", () => {
  const repo = scratchRepo();
  const home = tempDir();
  const check = () => orch(["doctor", "--json"], { cwd: repo, env: { HOME: home } })
    .json.checks.find((c: Check) => c.name === "claude install");
  const before = orch(["doctor", "--json", "--agent", "sh"], { cwd: repo, env: { HOME: home } });
  assert.not.ok(before.json.checks.some((c: Check) => c.name === "claude install"), "only checked for claude");
  const missing = check();
  assert.is(missing.ok, false);
  // Workers carry orch's hooks on their command line: the install is for the orchestrator's own session.
  assert.match(missing.detail, /\/orchestrator-mode/);
  assert.not.match(missing.detail, /workers report .* only/);
  assert.is(missing.fix, "orch install claude");
  assert.is(orch(missing.fix.split(" ").slice(1), { cwd: repo, env: { HOME: home } }).code, 0);
  assert.is(check().ok, true);
  // A slash command of another orch (an upgrade) is out of date until install runs again.
  const command = path.join(repo, ".claude", "commands", "orchestrator-mode.md");
  fs.writeFileSync(command, "# an older orchestrator-mode\n");
  const stale = check();
  assert.is(stale.ok, false);
  assert.ok(stale.detail.includes(command), stale.detail);
  assert.is(orch(stale.fix.split(" ").slice(1), { cwd: repo, env: { HOME: home } }).code, 0);
  assert.is(check().ok, true);
  // --global counts too.
  fs.rmSync(path.join(repo, ".claude"), { recursive: true });
  assert.is(orch(["install", "claude", "--global"], { cwd: repo, env: { HOME: home } }).code, 0);
  assert.is(check().ok, true);
});

test("claude or codex older than the tested version is a warning that names the version to install; " +
  "one whose --version fails cannot start a worker", () => {
  const repo = scratchRepo();
  const bin = tempDir("orch-agents-");
  const script = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  script("claude", 'echo "2.0.5 (Claude Code)"');
  script("codex", 'echo "codex-cli 0.120.0"');
  const env = { PATH: `${bin}:${process.env.PATH}` };
  for (const [agent, old, tested] of [["claude", "2.0.5", "2.1.328"], ["codex", "0.120.0", "0.169.0"]] as const) {
    const r = orch(["doctor", "--json", "--agent", agent], { cwd: repo, env });
    const byName = Object.fromEntries(r.json.checks.map((c: Check) => [c.name, c]));
    assert.is(byName[`agent (${agent})`].ok, true, agent);
    const version = byName[`${agent} version`];
    assert.is(version.ok, false, agent);
    assert.is(version.required, false);
    assert.is(version.version, old);
    assert.match(version.detail, new RegExp(`older than ${tested.replace(/\./g, "\\.")}`));
    assert.match(version.fix, new RegExp(`@${tested.replace(/\./g, "\\.")}\\)`));
  }
  script("codex", 'echo "codex-cli 0.169.0"');
  const current = orch(["doctor", "--json", "--agent", "codex"], { cwd: repo, env });
  assert.not.ok(current.json.checks.some((c: Check) => c.name === "codex version"), "the tested version is not warned about");
  script("claude", 'echo "error: claude native binary not installed" >&2; exit 1');
  const broken = orch(["doctor", "--json"], { cwd: repo, env });
  assert.is(broken.code, 1);
  const agent = broken.json.checks.find((c: Check) => c.name === "agent (claude)");
  assert.is(agent.ok, false);
  assert.match(agent.detail, /--version failed \(exit 1\): error: claude native binary not installed/);
  assert.match(agent.fix, /npm install -g @anthropic-ai\/claude-code/);
});

test("settings that orch install claude would refuse are named in the claude install finding, not sent back to install", () => {
  const states: [string, (file: string) => void, RegExp][] = [
    ["invalid JSON", (file) => fs.writeFileSync(file, '{ "model": "opus", }'), /not valid JSON/],
    ["a byte order mark", (file) => fs.writeFileSync(file, "\uFEFF{}"), /byte order mark/],
    ["an array", (file) => fs.writeFileSync(file, "[]"), /not an object/],
    ["a folder", (file) => fs.mkdirSync(file), /cannot read .*settings\.local\.json: EISDIR/],
    ["hooks of the wrong shape", (file) => fs.writeFileSync(file, '{"hooks": []}'), /"hooks" is not an object/],
  ];
  for (const [what, make, reason] of states) {
    const repo = scratchRepo();
    const home = tempDir();
    const file = path.join(repo, ".claude", "settings.local.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    make(file);
    const r = orch(["doctor", "--json"], { cwd: repo, env: { HOME: home } });
    assert.not.match(r.stderr, /\n\s+at /, `${what}: no stack trace`);
    const check = r.json.checks.find((c: Check) => c.name === "claude install");
    assert.is(check.ok, false, what);
    assert.match(check.detail, reason, what);
    assert.ok(check.detail.includes(file), `${what}: ${check.detail}`);
    assert.match(check.fix, /repair or move .*settings\.local\.json/, what);
    assert.is(orch(["install", "claude"], { cwd: repo, env: { HOME: home } }).code, 1, `${what}: install refuses it`);
  }
});

test("an empty or unparsable --agent is bad input: exit 2, one line, as for spawn", () => {
  const repo = scratchRepo();
  for (const [agent, said] of [["", "--agent is empty"], ["   ", "--agent is empty"], ['claude "x', "unterminated"]]) {
    const r = orch(["doctor", "--json", "--agent", agent!], { cwd: repo });
    assert.is(r.code, 2, `${JSON.stringify(agent)}: ${r.stderr}`);
    assert.is(r.json.error.code, "usage");
    assert.ok(r.stderr.startsWith(`orch: ${said}`), r.stderr);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("git identity: who git commits as; a new account's none is a warning that says how to set it", () => {
  const { repo } = sessionRepo();
  const byName = (r: { json: { checks: Check[] } }) => Object.fromEntries(r.json.checks.map((c) => [c.name, c]));
  const known = orch(["doctor", "--json", "--agent", "sh -c"], { cwd: repo });
  assert.equal(byName(known)["git identity"], {
    name: "git identity", ok: true, required: false, detail: "orch test <test@orch.invalid>",
  });
  // No identity anywhere (user.useConfigOnly: no guess from the host name), as for a new account.
  const home = tempDir("orch-home-");
  const env = {
    GIT_AUTHOR_NAME: undefined, GIT_AUTHOR_EMAIL: undefined, GIT_COMMITTER_NAME: undefined, GIT_COMMITTER_EMAIL: undefined,
    HOME: home, XDG_CONFIG_HOME: home, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "user.useConfigOnly", GIT_CONFIG_VALUE_0: "true",
  };
  const none = orch(["doctor", "--json", "--agent", "sh -c"], { cwd: repo, env });
  const check = byName(none)["git identity"];
  assert.is(check.ok, false);
  assert.is(check.required, false, "orch itself works without one");
  assert.match(check.detail, /cannot commit/);
  assert.match(check.fix ?? "", /git config --global user\.name .* git config --global user\.email/);
  assert.is(none.code, 0, "a warning: exit 0");
});

test.run();
