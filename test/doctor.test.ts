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
  for (const needed of ["git", "tmux", "gh", "git gtr", "store"]) assert.ok(names.includes(needed), `checks ${needed}: ${names.join(", ")}`);
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

test("the claude hooks check follows orch install claude", () => {
  const repo = scratchRepo();
  const home = tempDir();
  const before = orch(["doctor", "--json", "--agent", "sh"], { cwd: repo, env: { HOME: home } });
  assert.not.ok(before.json.checks.some((c: Check) => c.name === "claude hooks"), "only checked for claude");
  const withClaude = orch(["doctor", "--json"], { cwd: repo, env: { HOME: home } });
  assert.is(withClaude.json.checks.find((c: Check) => c.name === "claude hooks").ok, false);
  assert.is(orch(["install", "claude"], { cwd: repo, env: { HOME: home } }).code, 0);
  const after = orch(["doctor", "--json"], { cwd: repo, env: { HOME: home } });
  assert.is(after.json.checks.find((c: Check) => c.name === "claude hooks").ok, true);
});

test("settings that orch install claude would refuse are named in the claude hooks finding, not sent back to install", () => {
  const states: [string, (file: string) => void, RegExp][] = [
    ["invalid JSON", (file) => fs.writeFileSync(file, '{ "model": "opus", }'), /not valid JSON/],
    ["a byte order mark", (file) => fs.writeFileSync(file, "\uFEFF{}"), /byte order mark/],
    ["an array", (file) => fs.writeFileSync(file, "[]"), /not an object/],
    ["a folder", (file) => fs.mkdirSync(file), /cannot read it/],
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
    const check = r.json.checks.find((c: Check) => c.name === "claude hooks");
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

test.run();
