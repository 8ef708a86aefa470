// orch completion: scripts for bash, zsh and fish made from the command table; unknown shells exit 2.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { COMMANDS } from "../src/cli/spec.ts";
import { ROOT, orch, sessionRepo, tempDir } from "./helpers.ts";

const PUBLIC = COMMANDS.filter((c) => !c.hidden).map((c) => c.usage.split(" ")[0]!);
const HIDDEN = COMMANDS.filter((c) => c.hidden).map((c) => c.usage.split(" ")[0]!);
/** The flags only the orch that drives a host passes (their help says "Internal"): never offered. */
const INTERNAL_FLAGS = [
  "--branch-tips", "--message-id", "--new-branch", "--stdin-bytes", "--text-on-stdin", "--worker-id",
];

function has(program: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$1"', "sh", program]).status === 0;
}

function script(shell: string): string {
  const r = orch(["completion", shell], { cwd: tempDir() });
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.stdout.length > 200);
  return r.stdout;
}

test("bash: passes bash -n and mentions every public command and its flags, no hidden one", () => {
  const text = script("bash");
  const check = spawnSync("bash", ["-n"], { input: text, encoding: "utf8" });
  assert.is(check.status, 0, check.stderr);
  for (const name of PUBLIC) assert.ok(new RegExp(`\\b${name}\\b`).test(text), `mentions ${name}`);
  for (const name of HIDDEN) assert.not.ok(text.includes(name), `hides ${name}`);
  for (const flag of INTERNAL_FLAGS) assert.not.ok(text.includes(flag), `hides ${flag}`);
  for (const flag of ["--prompt-file", "--no-window", "--dry-run", "--global", "--json", "--orch"]) assert.ok(text.includes(flag), flag);
});

/** Asks the generated bash function for completions of `words` (the last one being completed). */
function bashComplete(text: string, words: string[], cwd: string, extraPath: string): string[] {
  const file = path.join(tempDir(), "orch.bash");
  fs.writeFileSync(file, text);
  const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _orch; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync("bash", ["-c", program, "bash", file, ...words], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, PATH: `${extraPath}:${process.env.PATH}` },
  });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean);
}

test("bash: completes commands, flags, flag values and worker names", () => {
  const { repo } = sessionRepo();
  assert.is(orch(["spawn", "feat/a", "--no-window"], { cwd: repo }).code, 0);
  // The script calls `orch`: give it this build on PATH.
  const bin = tempDir();
  fs.symlinkSync(path.join(ROOT, "dist/orch"), path.join(bin, "orch"));
  const text = script("bash");
  assert.ok(bashComplete(text, ["orch", "sp"], repo, bin).includes("spawn"));
  assert.ok(bashComplete(text, ["orch", "spawn", "feat/x", "--pr"], repo, bin).includes("--prompt-file"));
  assert.equal(bashComplete(text, ["orch", "notify", "--type", "task_c"], repo, bin), ["task_complete"]);
  assert.equal(bashComplete(text, ["orch", "notify", "--type", "b"], repo, bin), ["blocked"], "every message type notify takes");
  assert.equal(bashComplete(text, ["orch", "land", "--on-conflict", ""], repo, bin), ["stop", "return"]);
  const hooks = ["post-tool-use", "permission-request", "pre-compact"];
  assert.equal(bashComplete(text, ["orch", "hook", "p"], repo, bin), hooks);
  assert.equal(bashComplete(text, ["orch", "hook", "u"], repo, bin), ["user-prompt-submit"]);
  assert.equal(bashComplete(text, ["orch", "completion", "z"], repo, bin), ["zsh"]);
  assert.equal(bashComplete(text, ["orch", "--orch", "x", "stop", ""], repo, bin), ["feat-a"]);
  assert.equal(bashComplete(text, ["orch", "send", "feat-a", ""], repo, bin), [], "the text is free");
  assert.equal(bashComplete(text, ["orch", "host", ""], repo, bin), ["add", "list", "rm"], "host's actions");
  assert.equal(bashComplete(text, ["orch", "spawn", "feat/b", "--after", ""], repo, bin), ["feat-a"], "--after: a worker");
});

test("bash completes the ids of workers whose branches are outside ASCII, each its own", () => {
  const { repo } = sessionRepo();
  const ids = ["feat/é", "feat/è", "功能/登录"].map((branch) => {
    const r = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    return r.json.worker_id as string;
  });
  const bin = tempDir();
  fs.symlinkSync(path.join(ROOT, "dist/orch"), path.join(bin, "orch"));
  const text = script("bash");
  assert.equal(bashComplete(text, ["orch", "stop", ""], repo, bin).sort(), [...ids].sort());
  assert.equal(bashComplete(text, ["orch", "stop", "feat"], repo, bin).sort(), ids.slice(0, 2).sort());
});

test("every shell completes orch help and its one word, a public command (orch help COMMAND is COMMAND --help)", () => {
  const cwd = tempDir();
  const bash = script("bash");
  assert.equal(bashComplete(bash, ["orch", "he"], cwd, cwd), ["help"]);
  assert.equal(bashComplete(bash, ["orch", "help", "sp"], cwd, cwd), ["spawn"]);
  assert.equal(bashComplete(bash, ["orch", "help", ""], cwd, cwd), PUBLIC, "every public command, no hidden one");
  assert.equal(bashComplete(bash, ["orch", "help", "spawn", ""], cwd, cwd), [], "one word only");
  assert.ok(script("zsh").includes(`'help:`), "zsh describes help");
  assert.ok(script("zsh").includes(`'1:command:(${PUBLIC.join(" ")})'`), "zsh: help's word");
  assert.ok(script("fish").includes("-a help "), "fish offers help");
  assert.ok(script("fish").includes(`__fish_seen_subcommand_from help' -a '${PUBLIC.join(" ")}'`), "fish: help's word");
  for (const name of PUBLIC) {
    const help = orch(["help", name], { cwd });
    assert.is(help.code, 0, `orch help ${name}: ${help.stderr}`);
    assert.is(help.stdout, orch([name, "--help"], { cwd }).stdout, `orch help ${name} is orch ${name} --help`);
  }
});

test("zsh: non-empty, every public command, and zsh -n when zsh is installed", () => {
  const text = script("zsh");
  assert.ok(text.startsWith("#compdef orch\n"));
  for (const name of PUBLIC) assert.ok(text.includes(`'${name}:`), `describes ${name}`);
  for (const name of HIDDEN) assert.not.ok(text.includes(name), `hides ${name}`);
  for (const flag of INTERNAL_FLAGS) assert.not.ok(text.includes(flag), `hides ${flag}`);
  if (has("zsh")) {
    const check = spawnSync("zsh", ["-n"], { input: text, encoding: "utf8" });
    assert.is(check.status, 0, check.stderr);
  } else {
    console.log("SKIP: zsh -n (zsh is not installed)");
  }
});

test("fish: non-empty, every public command, and fish -n when fish is installed", () => {
  const text = script("fish");
  for (const name of PUBLIC) assert.ok(text.includes(`-a ${name} `), `offers ${name}`);
  for (const name of HIDDEN) assert.not.ok(text.includes(name), `hides ${name}`);
  for (const flag of INTERNAL_FLAGS) assert.not.ok(text.includes(`-l ${flag.slice(2)}`), `hides ${flag}`);
  assert.ok(text.includes("-l prompt-file"));
  assert.ok(text.includes("-s n -l dry-run"));
  if (has("fish")) {
    const file = path.join(tempDir(), "orch.fish");
    fs.writeFileSync(file, text);
    const check = spawnSync("fish", ["--no-execute", file], { encoding: "utf8" });
    assert.is(check.status, 0, check.stderr);
  } else {
    console.log("SKIP: fish -n (fish is not installed)");
  }
});

test("an unknown or missing shell is a usage error: exit 2", () => {
  const cwd = tempDir();
  const r = orch(["completion", "powershell"], { cwd });
  assert.is(r.code, 2);
  assert.match(r.stderr, /bash, zsh, fish/);
  assert.is(r.stdout, "");
  assert.is(orch(["completion"], { cwd }).code, 2);
});

test.run();
