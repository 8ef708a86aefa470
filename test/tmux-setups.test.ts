// orch under users' tmux configurations: the options, hooks and habits of a person's tmux.conf reach the
// server orch opens its windows on. Private tmux servers started with a configuration file; scripted agents.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, privateTmux, sessionRepo, tempDir, tmux, waitUntil } from "./helpers.ts";

function agentScript(body: string[]): { script: string; dir: string } {
  const dir = tempDir("orch-agent-");
  const script = path.join(dir, "agent.sh");
  fs.writeFileSync(script, ["#!/bin/sh", `out=${JSON.stringify(dir)}`, ...body, ""].join("\n"), { mode: 0o755 });
  return { script, dir };
}

function tmuxConf(lines: string[]): string {
  const file = path.join(tempDir("orch-tmux-conf-"), "tmux.conf");
  fs.writeFileSync(file, [...lines, ""].join("\n"));
  return file;
}

function statusOf(repo: string, env: Record<string, string | undefined>) {
  return orch(["status", "--json"], { cwd: repo, env }).json.workers[0];
}

const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");

test("a hook that splits every new window: send types into the agent's pane, resume leaves the other pane", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const conf = tmuxConf(["set -g base-index 1", "setw -g pane-base-index 1", "set-hook -g after-new-window 'split-window'"]);
  // orch's session exists already, so the worker's window is a new-window and the hook splits it: the
  // split-off pane (a shell) is the window's active one.
  tmux(["-f", conf, "new-session", "-d", "-s", "orch-repo"], env);
  const { script, dir } = agentScript([
    'orch notify --type idle --summary "at my prompt"',
    'IFS= read -r line; printf "%s\\n" "$line" >> "$out/typed"',
    'orch notify --type task_complete --summary "read it"',
  ]);
  const spawned = orch(["spawn", "feat/split", "--agent", script, "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const window = spawned.json.window_id as string;
  const panes = () => tmux(["list-panes", "-t", window, "-F", "#{pane_id} #{pane_pid} #{pane_active}"], env).split("\n");
  await waitUntil(() => panes().length === 2, 10_000, "the hook to split the worker's window");
  const userPane = panes().find((line) => line.endsWith(" 1"))!;

  await waitUntil(() => statusOf(repo, env).status === "idle", 20_000, "the agent to be idle");
  const sent = orch(["send", "feat/split", "hello", "--json"], { cwd: repo, env });
  assert.is(sent.json.woken, true, sent.stderr);
  await waitUntil(() => read(path.join(dir, "typed")).includes("orch inbox"), 20_000, "the agent to read the wake line");
  const userScreen = tmux(["capture-pane", "-p", "-t", userPane.split(" ")[0]!], env);
  assert.not.match(userScreen, /orch inbox/, "nothing was typed into the user's pane");

  await waitUntil(() => statusOf(repo, env).status === "done", 20_000, "the report");
  const resumed = orch(["resume", "feat/split", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  assert.is(resumed.json.window_reused, true);
  assert.ok(panes().includes(userPane), `the user's pane is untouched: ${panes().join(", ")}`);
  await waitUntil(() => read(path.join(dir, "typed")) !== "" && statusOf(repo, env).status === "idle", 20_000,
    "the resumed agent to be at its prompt");
  orch(["rm", "feat/split", "--force"], { cwd: repo, env });
});

test("destroy-unattached on: orch's detached session is kept for it, and the worker runs", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const conf = tmuxConf(["set -g exit-empty off", "set -g destroy-unattached on"]);
  tmux(["-f", conf, "start-server"], env);
  const { script } = agentScript(["exec sleep 300"]);
  const spawned = orch(["spawn", "feat/kept", "--agent", script, "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  assert.ok(statusOf(repo, env).window_alive, `the window lives on: ${JSON.stringify(statusOf(repo, env))}`);
  await waitUntil(() => statusOf(repo, env).agent_alive, 10_000, "the agent to run");
  assert.is(tmux(["show-options", "-gv", "destroy-unattached"], env), "on", "the user's setting stays for the rest");
  orch(["rm", "feat/kept", "--force"], { cwd: repo, env });
});

test("exit-unattached on and no client attached: spawn is refused in one line; nothing is left", () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  // No server runs: orch's tmux starts one, and it reads the user's configuration.
  const config = tempDir("orch-xdg-");
  fs.mkdirSync(path.join(config, "tmux"));
  fs.writeFileSync(path.join(config, "tmux", "tmux.conf"), "set -g exit-unattached on\n");
  const { script } = agentScript(["exec sleep 300"]);
  const spawned = orch(["spawn", "feat/gone", "--agent", script], { cwd: repo, env: { ...env, XDG_CONFIG_HOME: config } });
  assert.is(spawned.code, 1, spawned.stdout);
  assert.match(spawned.stderr, /^orch: tmux's exit-unattached is on and no client is attached.*\n$/);
  assert.is(orch(["status", "--json"], { cwd: repo, env }).json.workers.length, 0);
  assert.is(git(["branch", "--list", "feat/gone"], repo), "");
  assert.not.ok(fs.existsSync(path.join(path.dirname(repo), "repo-worktrees", "feat-gone")));
});

test("a branch, folder or repository name ending in ';' (tmux's command separator) is a name to tmux too", async () => {
  // A repository whose folder ends in ';' names the worktrees' folder; feat; is a branch git
  // takes. With no server yet (new-session) and with one (new-window), then resume (respawn-pane).
  const parent = tempDir("orch-semi-");
  const repo = path.join(parent, "shop;");
  fs.mkdirSync(repo);
  git(["init", "-q", "-b", "main"], repo);
  git(["commit", "-q", "--allow-empty", "-m", "initial"], repo);
  const env = privateTmux();
  assert.is(orch(["init"], { cwd: repo, env }).code, 0);
  const { script, dir } = agentScript(['pwd > "$out/cwd-$ORCH_WORKER"', "sleep 60"]);
  for (const branch of ["feat;", "fix;"]) {
    const r = orch(["spawn", branch, "--agent", script, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.json.worktree_path, path.join(`${repo}-worktrees`, branch));
    const cwd = path.join(dir, `cwd-${r.json.worker_id}`);
    await waitUntil(() => read(cwd) !== "", 10_000, `${branch}'s agent`);
    assert.is(read(cwd), `${r.json.worktree_path}\n`, "the agent runs in its worktree");
  }
  const sessions = tmux(["list-windows", "-a", "-F", "#{session_name}"], env).split("\n");
  assert.equal(sessions, ["orch-shop-", "orch-shop-"], "both in one session, named as any orch session is");
  assert.is(orch(["stop", "feat;"], { cwd: repo, env }).code, 0);
  fs.rmSync(path.join(dir, "cwd-feat-"));
  const resumed = orch(["resume", "feat;", "--json"], { cwd: repo, env });
  assert.is(resumed.code, 0, resumed.stderr);
  await waitUntil(() => read(path.join(dir, "cwd-feat-")) !== "", 10_000, "the resumed agent");
  assert.is(statusOf(repo, env).status, "running");
});

test("a repository in a folder with # in its name (F#Project, #(command)): the agent starts in its worktree, runs nothing", async () => {
  // tmux reads a window's start directory as a format: #P is the pane's index, #(…) runs a command.
  const parent = tempDir("orch-hash-");
  const marker = path.join(parent, "ran");
  // A folder name holds no /: the command's file comes from the environment tmux's server inherits.
  for (const name of ["F#Project", "x#(touch${IFS}$ORCH_TEST_MARKER)"]) {
    const repo = path.join(parent, name);
    fs.mkdirSync(repo);
    git(["init", "-q", "-b", "main"], repo);
    git(["commit", "-q", "--allow-empty", "-m", "initial"], repo);
    const env = { ...privateTmux(), ORCH_TEST_MARKER: marker };
    assert.is(orch(["init"], { cwd: repo, env }).code, 0);
    const { script, dir } = agentScript(['pwd > "$out/cwd"', "sleep 60"]);
    const r = orch(["spawn", "feat/a", "--agent", script, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    await waitUntil(() => read(path.join(dir, "cwd")) !== "", 10_000, `the agent of ${name}`);
    assert.is(read(path.join(dir, "cwd")), `${r.json.worktree_path}\n`, `the agent runs in its worktree (${name})`);
    assert.is(orch(["stop", "feat/a"], { cwd: repo, env }).code, 0);
    fs.rmSync(path.join(dir, "cwd"));
    assert.is(orch(["resume", "feat/a"], { cwd: repo, env }).code, 0);
    await waitUntil(() => read(path.join(dir, "cwd")) !== "", 10_000, `the resumed agent of ${name}`);
    assert.is(read(path.join(dir, "cwd")), `${r.json.worktree_path}\n`, `resumed in its worktree (${name})`);
  }
  assert.not.ok(fs.existsSync(marker), "tmux ran no command of the folder's name");
});

test("a tmux server started from inside an orchestrator's Claude Code session: its session variables reach no " +
  "agent, the server's other variables still do", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  // As when orch itself started the server from Claude Code's Bash tool: the server's global environment has them.
  const orchestrators = { CLAUDECODE: "1", CLAUDE_CODE_ENTRYPOINT: "cli", CLAUDE_CODE_SSE_PORT: "40123" };
  tmux(["new-session", "-d", "-s", "before"], { ...env, ...orchestrators, TEST_SERVER_ONLY: "kept" });
  const { script, dir } = agentScript(['env > "$out/env.part"', 'mv "$out/env.part" "$out/env"', "sleep 60"]);
  const r = orch(["spawn", "feat/session-env", "--agent", script, "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  await waitUntil(() => read(path.join(dir, "env")) !== "", 10_000, "the agent's environment");
  const names = read(path.join(dir, "env")).split("\n").map((line) => line.split("=")[0]);
  for (const name of Object.keys(orchestrators)) assert.not.ok(names.includes(name), `${name} did not reach the agent`);
  assert.ok(names.includes("TEST_SERVER_ONLY"), "the server's own variables still reach it");
  assert.is(orch(["stop", "feat/session-env"], { cwd: repo, env }).code, 0);
});

test("the caller's agent variables reach the agent, never tmux's command line; update-environment keeps its own",
  async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  // The user's tmux copies HTTPS_PROXY from each client into a new session, as update-environment says.
  const conf = tmuxConf(['set -g update-environment "HTTPS_PROXY"']);
  tmux(["-f", conf, "new-session", "-d", "-s", "before"], env);
  // Every tmux command orch runs, as the process list shows it to any user of the machine.
  const bin = tempDir("orch-tmux-argv-");
  const seen = path.join(bin, "argv.log");
  const realTmux = spawnSync("sh", ["-c", "command -v tmux"], { encoding: "utf8" }).stdout.trim();
  fs.writeFileSync(path.join(bin, "tmux"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${seen}'\nexec ${realTmux} "$@"\n`,
    { mode: 0o755 });
  const caller = {
    ...env, PATH: `${bin}:${process.env.PATH}`,
    HTTPS_PROXY: "http://me:proxy-secret@proxy:3128", NODE_EXTRA_CA_CERTS: "/etc/ssl/ca-secret.pem",
  };
  const { script, dir } = agentScript(['env > "$out/env.part"', 'mv "$out/env.part" "$out/env"', "sleep 60"]);
  const r = orch(["spawn", "feat/keys", "--agent", script, "--json"], { cwd: repo, env: caller });
  assert.is(r.code, 0, r.stderr);
  await waitUntil(() => read(path.join(dir, "env")) !== "", 10_000, "the agent's environment");
  const agentEnv = read(path.join(dir, "env")).split("\n");
  assert.ok(agentEnv.includes("HTTPS_PROXY=http://me:proxy-secret@proxy:3128"), "the caller's proxy reached the agent");
  assert.ok(agentEnv.includes("NODE_EXTRA_CA_CERTS=/etc/ssl/ca-secret.pem"), "and its CA file, which the server lacks");
  const argv = read(seen);
  assert.match(argv, "new-session", "orch's tmux commands went through the wrapper");
  assert.not.ok(/secret/.test(argv), `no value of the caller's on tmux's command line:\n${argv}`);
  const workerDir = path.join(repo, ".orch/sessions", id, "workers", "feat-keys");
  assert.not.ok(fs.existsSync(path.join(workerDir, "agent-env.json")), "the runner removed the values it took");
  const session = r.json.tmux_session as string;
  const kept = tmux(["show-environment", "-t", session, "HTTPS_PROXY"], env);
  assert.is(kept, "HTTPS_PROXY=http://me:proxy-secret@proxy:3128", "the session keeps what update-environment copied");
  assert.not.ok(/NODE_EXTRA_CA_CERTS|ORCH_/.test(tmux(["show-environment", "-t", session], env)), "and nothing else");

  // resume passes them the same way, from the shell that resumes.
  assert.is(orch(["stop", "feat/keys"], { cwd: repo, env: caller }).code, 0);
  fs.rmSync(path.join(dir, "env"));
  const resumed = { ...caller, NODE_EXTRA_CA_CERTS: "/etc/ssl/ca-secret-2.pem" };
  const again = orch(["resume", "feat/keys"], { cwd: repo, env: resumed });
  assert.is(again.code, 0, again.stderr);
  await waitUntil(() => read(path.join(dir, "env")) !== "", 10_000, "the resumed agent's environment");
  assert.ok(read(path.join(dir, "env")).split("\n").includes("NODE_EXTRA_CA_CERTS=/etc/ssl/ca-secret-2.pem"),
    "the resumed agent has the resuming shell's value");
  assert.not.ok(/secret/.test(read(seen)), "nor is any on resume's tmux command line");
  assert.not.ok(fs.existsSync(path.join(workerDir, "agent-env.json")), "nor left in the store");
  assert.is(orch(["stop", "feat/keys"], { cwd: repo, env: caller }).code, 0);
});

test.run();
