// The real agents run by an ordinary user, not root, as people run them: Claude Code refuses some options as root
// and asks other questions as a user, and Codex's Linux sandbox is made with user namespaces, which root never
// lacks. Each test makes a throw-away account (named per process, so suites running side by side never collide),
// runs orch and the agent as it with runuser, and removes it with everything it left. The model servers run here,
// on 127.0.0.1, where that user's agents reach them. Needs root (useradd, runuser): SKIP otherwise.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { endProcessesOf, removeFilesOf } from "../src/adapters/local-hosts.ts";
import { AnthropicServer, step } from "./agents/anthropic-server.ts";
import { sshSkipReason, startSshWorld } from "./ssh-harness.ts";
import { agentBinary, usedOnceConfig } from "./agents/harness.ts";
import { orchCommand, sleepSync, waitUntil } from "./helpers.ts";

const isRoot = process.getuid?.() === 0;

/** Real agents start in seconds on a quiet machine; on a loaded 2-core one, give them minutes. */
const AGENT_WAIT = 120_000;

/** `file` in `dir` under `name`: a hard link where it can be (no copy of a 400 MB agent), else a copy. */
function place(file: string, dir: string, name = path.basename(file)): string {
  const to = path.join(dir, name);
  spawnSync("cp", ["-al", file, to]);
  if (!fs.existsSync(to)) spawnSync("cp", ["-a", file, to]);
  return to;
}

interface OrdinaryUser {
  name: string;
  uid: number;
  home: string;
  /** A shell command line run as the user, with its environment (HOME, PATH with orch and the agents, …). */
  sh(line: string, env?: Record<string, string>): { code: number; stdout: string; stderr: string };
  remove(): void;
}

/**
 * A new account with a HOME of its own (0755 path down to it), a bin folder on its PATH holding orch and the
 * pinned agents (readable to it: root's agent cache is not), updaters off, its own tmux server.
 */
function ordinaryUser(): OrdinaryUser {
  const name = `orchnr${process.pid}`;
  // Not under /tmp: Codex puts no helpers in a HOME there, and then cannot run a command in its sandbox.
  const base = fs.realpathSync(fs.mkdtempSync(path.join(process.env.ORCH_TEST_SCRATCH ?? "/var/tmp", "orch-nonroot-")));
  fs.chmodSync(base, 0o755);
  const home = path.join(base, "home");
  const bin = path.join(base, "bin");
  fs.mkdirSync(bin, { mode: 0o755 });
  place(orchCommand("binary")[0]!, bin, "orch");
  place(agentBinary("claude"), bin, "claude");
  // Codex finds its bwrap and rg beside its binary: its whole folder goes.
  const codexDir = place(path.dirname(path.dirname(agentBinary("codex"))), base, "codex");
  fs.symlinkSync(path.join(codexDir, "bin", "codex"), path.join(bin, "codex"));
  const added = spawnSync("useradd", ["-M", "-d", home, "-s", "/bin/bash", name], { encoding: "utf8" });
  if (added.status !== 0) throw new Error(`useradd ${name}: ${added.stderr}`);
  const uid = Number(spawnSync("id", ["-u", name], { encoding: "utf8" }).stdout);
  const remove = () => {
    spawnSync("runuser", ["-u", name, "--", "env", `TMUX_TMPDIR=${home}`, "tmux", "kill-server"], { stdio: "ignore" });
    for (let attempt = 0; attempt < 40; attempt++) {
      endProcessesOf(uid);
      removeFilesOf(uid);
      if (spawnSync("userdel", [name], { stdio: "ignore" }).status === 0) break;
      sleepSync(50);
    }
    fs.rmSync(base, { recursive: true, force: true });
  };
  process.on("exit", remove);
  fs.mkdirSync(path.join(home, ".claude"), { recursive: true });
  fs.mkdirSync(path.join(home, "tmp"));
  fs.writeFileSync(path.join(home, ".claude.json"), JSON.stringify(usedOnceConfig()), { mode: 0o600 });
  const settings = { autoUpdates: false, env: { DISABLE_AUTOUPDATER: "1" }, permissions: { defaultMode: "manual" } };
  fs.writeFileSync(path.join(home, ".claude", "settings.json"), JSON.stringify(settings));
  spawnSync("chown", ["-R", `${uid}:${uid}`, home]);
  const baseEnv = {
    HOME: home, USER: name, LOGNAME: name, SHELL: "/bin/bash", LANG: "C.UTF-8", TERM: "xterm-256color",
    PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, TMUX_TMPDIR: home, NO_COLOR: "1",
    DISABLE_AUTOUPDATER: "1", DISABLE_UPDATES: "1", CLAUDE_CODE_TMPDIR: path.join(home, "tmp"),
    GIT_AUTHOR_NAME: "u", GIT_COMMITTER_NAME: "u",
    GIT_AUTHOR_EMAIL: "u@orch.invalid", GIT_COMMITTER_EMAIL: "u@orch.invalid",
  };
  const sh = (line: string, env: Record<string, string> = {}) => {
    const vars = Object.entries({ ...baseEnv, ...env }).map(([k, v]) => `${k}=${v}`);
    const r = spawnSync("runuser", ["-u", name, "--", "env", "-i", ...vars, "sh", "-c", line], {
      cwd: home, encoding: "utf8",
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    name, uid, home, sh, remove: () => {
      process.off("exit", remove);
      remove();
    },
  };
}

/** A repository of the user's own, with one commit, in their HOME. */
function userRepo(user: OrdinaryUser): string {
  const made = user.sh("git init -q -b main repo && cd repo && git commit -q --allow-empty -m first && " +
    "orch init >/dev/null");
  assert.is(made.code, 0, made.stderr);
  return path.join(user.home, "repo");
}

test("Bypass Permissions mode the user chose starts at work, as a user; a repository cannot choose it", async () => {
  if (!isRoot) return console.log("SKIP: needs root to make an ordinary user");
  const user = ordinaryUser();
  const server = await new AnthropicServer().start();
  try {
    for (const key of ["feat-bypass", "feat-mode", "feat-settings", "feat-repo"]) {
      const report = `touch ${key} && orch notify --type task_complete --summary ${key}`;
      server.script(key, [step.bash(report), step.say("Done.")]);
    }
    const repo = userRepo(user);
    const inRepo = (line: string) => user.sh(`cd repo && ${line}`, server.env);
    const spawn = (branch: string, agent: string) => {
      const spawned = inRepo(`orch spawn ${branch} --agent '${agent}' --prompt 'Make a marker file.'`);
      assert.is(spawned.code, 0, spawned.stderr);
    };
    const status = (worker: string) => {
      const r = inRepo("orch status --json");
      return (JSON.parse(r.stdout).workers as { worker_id: string; status: string }[])
        .find((w) => w.worker_id === worker)?.status;
    };
    const pane = (worker: string) => inRepo(`tmux capture-pane -p -t ${worker}`).stdout;
    // Claude Code's question waits for good: each wait ends on it as on the report.
    const asked = (worker: string) => {
      const text = pane(worker);
      return /Bypass Permissions mode/.test(text) && /Yes, I accept/.test(text);
    };
    const settled = (worker: string) => waitUntil(() => status(worker) === "done" || asked(worker), AGENT_WAIT,
      `${worker} done or asking`);
    spawn("feat/bypass", "claude --dangerously-skip-permissions");
    spawn("feat/mode", "claude --permission-mode bypassPermissions");
    // The default mode of the user's own settings.json, for a plain claude worker.
    const userSettings = path.join(user.home, ".claude", "settings.json");
    const manual = fs.readFileSync(userSettings, "utf8");
    const bypassing = { ...JSON.parse(manual), permissions: { defaultMode: "bypassPermissions" } };
    fs.writeFileSync(userSettings, JSON.stringify(bypassing));
    spawn("feat/settings", "claude");
    await settled("feat-settings");
    fs.writeFileSync(userSettings, manual);
    for (const worker of ["feat-bypass", "feat-mode", "feat-settings"]) {
      await settled(worker);
      assert.not.ok(asked(worker), `${worker} waits at Claude Code's question:\n${pane(worker)}`);
      assert.is(status(worker), "done");
      assert.ok(fs.existsSync(path.join(repo, "..", "repo-worktrees", worker, worker)), "its command ran");
    }
    assert.is(fs.readFileSync(userSettings, "utf8"), manual, "the user's settings are not written");
    // A repository that asks for the mode in its own settings is no choice of the user's: orch adds nothing, and
    // Claude Code runs the worker in the user's mode (manual: it asks before the command).
    fs.mkdirSync(path.join(repo, ".claude"));
    fs.writeFileSync(path.join(repo, ".claude", "settings.json"), JSON.stringify(bypassing));
    spawnSync("chown", ["-R", `${user.uid}:${user.uid}`, path.join(repo, ".claude")]);
    const committed = user.sh("cd repo && git add .claude && git commit -qm 'bypass please'");
    assert.is(committed.code, 0, committed.stderr);
    spawn("feat/repo", "claude");
    await waitUntil(() => ["blocked", "done"].includes(status("feat-repo")!) || asked("feat-repo"), AGENT_WAIT,
      "feat-repo blocked, done or asking");
    assert.is(status("feat-repo"), "blocked", `no Bypass Permissions mode from the repository:\n${pane("feat-repo")}`);
  } finally {
    user.remove();
    await server.stop();
  }
});

test("doctor --agent codex says when Codex cannot make its sandbox for the user (no user namespaces)", () => {
  if (!isRoot) return console.log("SKIP: needs root to make an ordinary user");
  if (spawnSync("bwrap", ["--version"]).status !== 0) return console.log("SKIP: needs bubblewrap (bwrap)");
  const user = ordinaryUser();
  try {
    userRepo(user);
    const sandboxCheck = (line: string) => {
      const r = user.sh(`cd repo && ${line}`);
      assert.is(r.code, 0, `${line}: warnings only\n${r.stdout}${r.stderr}`);
      return (JSON.parse(r.stdout).checks as { name: string; ok: boolean; detail: string; fix?: string }[])
        .find((c) => c.name === "codex sandbox");
    };
    const here = sandboxCheck("orch doctor --agent codex --json");
    assert.is(here?.ok, true, JSON.stringify(here));
    // What a machine that keeps users from making user namespaces gives its users (bwrap's --disable-userns
    // sets user.max_user_namespaces to what is in use inside): the sandbox cannot be made.
    const noNamespaces = (line: string) =>
      `bwrap --dev-bind / / --unshare-user --disable-userns --uid ${user.uid} --gid ${user.uid} sh -c '${line}'`;
    const without = sandboxCheck(noNamespaces("orch doctor --agent codex --json"));
    assert.is(without?.ok, false, JSON.stringify(without));
    assert.match(without!.detail, /cannot run a command in its Linux sandbox for this user \(bwrap: .*namespace/);
    assert.match(without!.fix!, /user namespaces.*codex -s danger-full-access/);
    const chosen = sandboxCheck(noNamespaces(`orch doctor --agent "codex -s danger-full-access" --json`));
    assert.is(chosen, undefined, "no sandbox chosen: nothing to check");
  } finally {
    user.remove();
  }
});

test("another user's orch-ssh-<uid> in /tmp (no XDG_RUNTIME_DIR): host add says how to go on, one line, exit 1", () => {
  if (!isRoot) return console.log("SKIP: needs root to make an ordinary user");
  const user = ordinaryUser();
  // Made first by someone else (root here): /tmp is sticky, so the user can neither use nor remove it.
  const squatted = `/tmp/orch-ssh-${user.uid}`;
  fs.mkdirSync(squatted, { mode: 0o755 });
  try {
    userRepo(user);
    const r = user.sh("cd repo && orch host add big me@127.0.0.1");
    assert.is(r.code, 1, r.stderr);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /control socket folder \/tmp\/orch-ssh-\d+ must be a folder of yours/);
    assert.match(r.stderr, /set ORCH_SSH_CONTROL_DIR to another folder/);
    assert.not.ok(fs.existsSync(path.join(user.home, "repo", ".orch", "hosts")), "no host recorded");
    // The way it names: the folder is the user's own, and host add goes on to the host (here one that is not).
    const moved = user.sh(`cd repo && ORCH_SSH_CONTROL_DIR=${user.home}/ssh orch host add big me@127.0.0.1:1`);
    assert.not.match(moved.stderr, /control socket folder/, moved.stderr);
    assert.is(fs.statSync(path.join(user.home, "ssh")).uid, user.uid, "orch made the folder given");
  } finally {
    fs.rmSync(squatted, { recursive: true, force: true });
    user.remove();
  }
});

test("a key of the user's ssh will not load (0644): one line that says so, without ssh's carriage return", async () => {
  if (!isRoot) return console.log("SKIP: needs root to make an ordinary user");
  const skip = sshSkipReason();
  if (skip) return console.log(`SKIP: ${skip}`);
  const user = ordinaryUser();
  const world = await startSshWorld(1, { parent: "/var/tmp" });
  try {
    userRepo(user);
    // The tests' client config, its key and known hosts, copied to a folder of the user's as ~/.ssh would be.
    const ssh = path.join(user.home, "ssh");
    fs.mkdirSync(ssh, { mode: 0o700 });
    let config = fs.readFileSync(world.env.ORCH_SSH_CONFIG, "utf8");
    for (const [, , file] of config.matchAll(/(IdentityFile|UserKnownHostsFile) (\S+)/g)) {
      fs.copyFileSync(file!, path.join(ssh, path.basename(file!)));
      config = config.replaceAll(file!, path.join(ssh, path.basename(file!)));
    }
    fs.writeFileSync(path.join(ssh, "config"), config);
    spawnSync("chown", ["-R", `${user.uid}:${user.uid}`, ssh]);
    const key = /IdentityFile (\S+)/.exec(config)![1]!;
    fs.chmodSync(key, 0o644);
    const env = { ORCH_SSH_CONFIG: path.join(ssh, "config") };
    const r = user.sh("cd repo && orch host add hosta hosta", env);
    assert.is(r.code, 1, r.stderr);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /bad permissions/);
    assert.not.match(r.stderr, /\\x0d|\r/, "no carriage return, raw or shown");
    assert.not.ok(fs.existsSync(path.join(user.home, "repo", ".orch", "hosts", "hosta.json")), "no host recorded");
    fs.chmodSync(key, 0o600);
    const added = user.sh("cd repo && orch host add hosta hosta", env);
    assert.is(added.code, 0, added.stderr);
    // Its shared connection ends first: the key loads on a new connection only.
    spawnSync("chmod", ["0644", key]);
    const sockets = `/tmp/orch-ssh-${user.uid}/*`;
    const ended = user.sh(`for s in ${sockets}; do ssh -F "$ORCH_SSH_CONFIG" -S "$s" -O exit x; done`, env);
    assert.is(ended.code, 0, ended.stderr);
    const status = user.sh("cd repo && orch host list", env);
    assert.match(status.stdout, /unreachable .*bad permissions/);
    assert.not.match(status.stdout, /\\x0d|\r/, "no carriage return in host list either");
  } finally {
    user.remove();
    await world.close();
  }
});

test("HOME not writable and another user's orch-<uid> in /tmp: spawn names both folders and the way out", () => {
  if (!isRoot) return console.log("SKIP: needs root to make an ordinary user");
  const user = ordinaryUser();
  const squatted = `/tmp/orch-${user.uid}`;
  fs.mkdirSync(squatted, { mode: 0o755 });
  try {
    const repo = userRepo(user);
    // A service account's HOME: there is no such folder.
    const asService = { HOME: "/nonexistent" };
    const spawn = `cd ${repo} && orch spawn feat/x --agent 'sleep 1' --prompt x --no-window`;
    const r = user.sh(spawn, asService);
    assert.is(r.code, 1, r.stderr);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /no folder for orch's shim: \/nonexistent\/\.local\/state\/orch cannot be made /);
    assert.match(r.stderr, /\/tmp\/orch-\d+ is another user's/);
    assert.match(r.stderr, /set XDG_STATE_HOME to a folder of yours/);
    assert.is(user.sh(`cd ${repo} && git branch --list feat/x`).stdout, "", "no branch made");
    assert.not.ok(fs.existsSync(path.join(repo, "..", "repo-worktrees", "feat-x")), "no worktree made");
    const moved = user.sh(spawn, { ...asService, XDG_STATE_HOME: path.join(user.home, "state") });
    assert.is(moved.code, 0, moved.stderr);
  } finally {
    fs.rmSync(squatted, { recursive: true, force: true });
    user.remove();
  }
});

test.run();
