// Codex as the orchestrator: the real Codex 0.169 TUI, started in the repository as a user starts `codex`
// (its default workspace-write sandbox and approvals), runs orch through its shell tool for the scripted
// model. With the set-up the README gives, the whole loop works; with none, orch says in one line what the
// sandbox blocks and which setting allows it, and changes nothing.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cachedCodex, codexConfigToml, responsesServer, scratchOutsideTmp } from "./codex-harness.ts";
import { stopSharedCodexServer } from "./codex-harness.ts";
import type { ResponsesServer } from "./codex-harness.ts";
import { git, orch, orchCommand, privateTmux, scratchRepo, tmux, waitUntil } from "./helpers.ts";

const codexEntry = cachedCodex();
const scratch = codexEntry ? scratchOutsideTmp() : undefined;
const LONG = 90_000;

interface Orchestrator {
  repo: string;
  home: string;
  env: Record<string, string | undefined>;
  /** The output of each command the model ran, in order, once all have run. */
  outputs: () => Promise<string[]>;
  server: ResponsesServer;
  /** Ends the shared background server a plain `codex` starts (it outlives the TUI), and the model server. */
  close: () => Promise<void>;
}

/**
 * A repository and a Codex user who trusted it (config.toml as the harness's, /tmp writable as by default),
 * with orch in ~/.local/bin (on PATH through ~/.profile, as Debian's skeleton has it) and a worker agent
 * script there; Codex started in the repository in a tmux window with `args`, the model running `commands`.
 */
type Env = Record<string, string | undefined>;

async function startCodex(
  commands: string[],
  args: (repo: string, home: string, env: Env) => string[],
): Promise<Orchestrator> {
  const steps = [...commands.map((exec) => ({ exec, yieldMs: 30_000 })), { say: "done" }];
  const server = await responsesServer({ orch: steps });
  const repo = scratchRepo("repo");
  const user = fs.mkdtempSync(path.join(scratch!.users, "user-"));
  const home = path.join(user, "home");
  const localBin = path.join(home, ".local/bin");
  fs.mkdirSync(path.join(home, ".codex"), { recursive: true });
  fs.mkdirSync(localBin, { recursive: true });
  fs.writeFileSync(path.join(home, ".profile"), 'PATH="$HOME/.local/bin:$PATH"\n');
  const quote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;
  const orchShim = `#!/bin/sh\nexec ${orchCommand().map(quote).join(" ")} "$@"\n`;
  fs.writeFileSync(path.join(localBin, "orch"), orchShim, { mode: 0o755 });
  fs.writeFileSync(path.join(localBin, "worker.sh"), "#!/bin/sh\necho work > work.txt && git add work.txt && " +
    'git commit -qm "worker work" && orch notify --type task_complete --summary committed\n', { mode: 0o755 });
  fs.symlinkSync(codexEntry!, path.join(localBin, "codex"));
  const defaults = codexConfigToml(server, { envKey: "ORCH_TEST_OPENAI_KEY" })
    .replace("exclude_slash_tmp = true", "exclude_slash_tmp = false")
    .replace("exclude_tmpdir_env_var = true", "exclude_tmpdir_env_var = false");
  const trusted = `[projects.${JSON.stringify(repo)}]\ntrust_level = "trusted"\n`;
  fs.writeFileSync(path.join(home, ".codex/config.toml"), `${defaults}\n${trusted}`);
  const env = {
    ...privateTmux(),
    HOME: home,
    CODEX_HOME: path.join(home, ".codex"),
    ORCH_TEST_OPENAI_KEY: "sk-scripted",
    PATH: `${localBin}${path.delimiter}${process.env.PATH ?? ""}`,
  };
  tmux(["new-session", "-d", "-s", "codex", "-x", "200", "-y", "50", "-c", repo, "codex", ...args(repo, home, env),
    "SCRIPT:orch run the loop"], env);
  const requests = () => server.requests.filter((r) => r.threadSource === "user" && r.script === "orch");
  const outputs = async () => {
    try {
      await waitUntil(() => requests().some((r) => r.step === commands.length), LONG, "every command run");
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${tmux(["capture-pane", "-p", "-t", "codex"], env)}`);
    }
    return commands.map((_, i) => server.lastToolOutput(requests().find((r) => r.step === i + 1)!) ?? "");
  };
  const close = async () => {
    // The TUI first: it would start the shared server again when it lost it.
    try {
      tmux(["kill-server"], env);
    } catch {
      // gone already
    }
    stopSharedCodexServer({ PATH: env.PATH, CODEX_HOME: env.CODEX_HOME, HOME: home });
    await server.close();
  };
  return { repo, home, env, outputs, server, close };
}

/** Waits (busily: only for the few milliseconds a runner takes) before Codex starts. */
function waitUntilSync(check: () => boolean): void {
  const deadline = Date.now() + 10_000;
  while (!check()) if (Date.now() > deadline) throw new Error("timed out waiting for the agent's pid file");
}

/**
 * What a command printed, without Codex's header (chunk id, wall time, exit code). Codex reads a command's stdout
 * and stderr apart and may put what came on stderr after later stdout: the commands send both through one (2>&1).
 */
const printed = (output: string) => output.slice(output.indexOf("Output:\n") + "Output:\n".length).trim();

if (!codexEntry) {
  test("Codex as the orchestrator", () => {
    console.log("SKIP: Codex 0.169 is not in the agent cache (run .ci/install-agents)");
  });
} else {
  test("with the README's set-up, Codex runs the loop: init, spawn, await, land, clean", async () => {
    const o = await startCodex([
      "orch init 2>&1; echo rc=$?",
      "orch spawn feat/a --agent ~/.local/bin/worker.sh --prompt 'add work.txt' 2>&1; echo rc=$?",
      "orch await feat/a --timeout 60 2>&1; echo rc=$?",
      "orch land feat/a 2>&1; echo rc=$?",
      "orch clean --yes 2>&1; echo rc=$?",
    ], (repo, home) => {
      // The folders it writes outside the workspace exist before Codex starts (it leaves out missing ones).
      fs.mkdirSync(`${repo}-worktrees`);
      fs.mkdirSync(path.join(home, ".local/state/orch"), { recursive: true });
      return ["--add-dir", path.join(repo, ".git"), "--add-dir", `${repo}-worktrees`,
        "--add-dir", path.join(home, ".local/state/orch"), "-c", "sandbox_workspace_write.network_access=true"];
    });
    try {
      const [init, spawn, awaited, land, clean] = (await o.outputs()).map(printed);
      assert.match(init!, /rc=0$/, init);
      assert.match(spawn!, /spawned feat-a[\s\S]*rc=0$/, spawn);
      assert.match(awaited!, /feat-a done: committed[\s\S]*rc=0$/, awaited);
      assert.match(land!, /landed\s+feat-a[\s\S]*rc=0$/, land);
      assert.match(clean!, /removed feat-a[\s\S]*rc=0$/, clean);
      assert.is(git(["show", "main:work.txt"], o.repo), "work", "the worker's commit landed on main");
      assert.not.ok(fs.existsSync(`${o.repo}-worktrees/feat-a`), "clean removed the worktree");
      assert.is(git(["branch", "--list", "feat/a"], o.repo), "", "and the branch");
    } finally {
      await o.close();
    }
  });

  test("with Codex's defaults: init says in one line that .git is read-only and how to allow it, " +
    "and a status there does not take a running worker for dead", async () => {
    let before: string[] = [];
    // A repository inside the workspace has a writable git dir: there spawn gets as far as tmux.
    const inner = "git init -q inner && cd inner && git commit -q --allow-empty -m initial && " +
      "orch init >/dev/null 2>&1 && orch spawn feat/b --agent ~/.local/bin/worker.sh 2>&1; echo rc=$?; " +
      "git worktree list | wc -l; git branch --list feat/b";
    const commands =
      ["orch init 2>&1; echo rc=$?", "orch status 2>&1; echo rc=$?", inner, "orch stop feat/long 2>&1; echo rc=$?"];
    const o = await startCodex(commands, (repo, _home, env) => {
      // A worker started from the user's terminal, running: Codex's commands see other processes' pids as no one's.
      assert.is(orch(["init"], { cwd: repo, env }).code, 0);
      const spawned = orch(["spawn", "feat/long", "--agent", "sh -c 'sleep 120' x"], { cwd: repo, env });
      assert.is(spawned.code, 0, spawned.stderr);
      // One whose agent.pid is not there (as before its runner writes it): only tmux could tell it is gone.
      const spawnArgs = ["spawn", "feat/unrecorded", "--agent", "sh -c 'sleep 120' x", "--json"];
      const unrecorded = orch(spawnArgs, { cwd: repo, env });
      assert.is(unrecorded.code, 0, unrecorded.stderr);
      const session = unrecorded.json.orchestrator_id as string;
      const workerDir = path.join(repo, ".orch/sessions", session, "workers", "feat-unrecorded");
      waitUntilSync(() => fs.existsSync(path.join(workerDir, "agent.pid")));
      fs.rmSync(path.join(workerDir, "agent.pid"));
      before = fs.readdirSync(path.join(repo, ".git")).sort();
      return [];
    });
    try {
      const [init, status, spawn, stop] = (await o.outputs()).map(printed);
      const gitDir = path.join(o.repo, ".git");
      const lines = init!.split("\n");
      assert.is(lines.length, 2, init);
      assert.is(lines[0], `orch: ${gitDir} is read-only here (orch records the sessions it made in the git dir): ` +
        `start codex with --add-dir ${gitDir} (or add it to sandbox_workspace_write.writable_roots in ` +
        "~/.codex/config.toml), or -s danger-full-access; nothing was changed");
      assert.is(lines[1], "rc=1");
      assert.equal(fs.readdirSync(path.join(o.repo, ".orch/sessions")).length, 1, "no session was added");
      assert.equal(fs.readdirSync(gitDir).sort(), before);
      assert.match(status!, /feat-long\s+running/, status);
      assert.match(status!, /feat-unrecorded\s+running/, status);
      assert.match(status!, /rc=0$/, status);
      const outside = orch(["status", "--json"], { cwd: o.repo, env: o.env });
      const tmuxLine = spawn!.split("\n")[0];
      const stopSays = `stop cannot end the agent from there: it says so (spawn said: ${spawn})`;
      assert.equal(stop!.split("\n"), [tmuxLine, "rc=1"], stopSays);
      const statuses = outside.json.workers.map((w: { status: string }) => w.status);
      assert.equal(statuses, ["running", "running"], "none reported failed");
      assert.is(orch(["poll", "--json"], { cwd: o.repo, env: o.env }).json.message_count, 0);
      const socket = path.join(o.env.TMUX_TMPDIR!, `tmux-${process.getuid!()}`, "default");
      assert.equal(spawn!.split("\n"), [
        `orch: tmux cannot connect to its server at ${socket} (Operation not permitted): Codex's sandbox blocks it ` +
        "unless commands have network access: start codex with -c sandbox_workspace_write.network_access=true (or " +
        "set it in ~/.codex/config.toml), or -s danger-full-access; nothing was changed",
        "rc=1",
        "1",
      ], "one line, exit 1, no worktree and no branch made");
      orch(["stop", "feat/long"], { cwd: o.repo, env: o.env });
      orch(["stop", "feat/unrecorded"], { cwd: o.repo, env: o.env });
    } finally {
      await o.close();
    }
  });
}

test.run();
