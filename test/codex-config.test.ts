// Codex workers under configuration that is not orch's, with the real Codex 0.169 in its tmux window, offline against
// a scripted Responses API: a question Codex asks at its start (hooks to review, a newer model, a sign-in) makes the
// worker blocked instead of leaving it shown running; an administrator's /etc/codex that allows only a read-only
// sandbox lets it start; what turns orch's hooks off or forbids its commands (the administrator's, the user's, the
// repository's) is said by spawn and doctor in one line that names the file.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cachedCodex, scratchOutsideTmp } from "./codex-harness.ts";
import type { Step } from "./codex-harness.ts";
import {
  LONG, pollUntil, requestFor, requestsOf, setup as setupFor, spawnCodex, workerRecord,
} from "./codex-workers.ts";
import type { Polled, Setup } from "./codex-workers.ts";
import { baseEnv, commitFiles, orch, orchCommand, sleep, tmux, waitUntil, type Result } from "./helpers.ts";

const codexEntry = cachedCodex();
const scratch = scratchOutsideTmp();
const setup = (scripts: Record<string, Step[]>): Promise<Setup> => setupFor(scripts, scratch.users, codexEntry!);

interface StatusRow {
  worker_id: string;
  status: string;
  waiting_for?: string | null;
}

function statusOf(s: Setup, worker: string): StatusRow {
  const r = orch(["status", "--json"], { cwd: s.repo, env: s.env });
  assert.is(r.code, 0, r.stderr);
  return (r.json.workers as StatusRow[]).find((w) => w.worker_id === worker)!;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function codexSettings(r: Result): Check {
  assert.is(r.code, 0, `warnings only:\n${r.stdout}${r.stderr}`);
  return (r.json.checks as Check[]).find((c) => c.name === "codex settings")!;
}

/** Replaces a line of the user's config.toml (the harness writes `model = "scripted-model"` first). */
function editUserConfig(s: Setup, from: string, to: string): string {
  const config = path.join(s.env.CODEX_HOME!, "config.toml");
  const text = fs.readFileSync(config, "utf8");
  assert.ok(text.includes(from), `${config} holds ${from}`);
  fs.writeFileSync(config, text.replace(from, to));
  return config;
}

/** Whether the rollout of the worker's Codex session records the end of a turn. */
function turnEnded(s: Setup, worker: string): boolean {
  const id = workerRecord(s, worker).agent_session_id;
  if (!id) return false;
  const sessions = path.join(s.env.CODEX_HOME!, "sessions");
  const found = spawnSync("find", [sessions, "-name", `*${id}.jsonl`], { encoding: "utf8" });
  const file = found.stdout.trim().split("\n")[0];
  return !!file && fs.readFileSync(file, "utf8").includes('"type":"task_complete"');
}

/**
 * A mount namespace whose /etc is the machine's with `files` added under /etc/codex (an overlay: the machine's
 * own files are untouched, and other processes never see these): what an administrator's managed machine gives
 * its users. Commands run in it through nsenter, and a tmux server started by one stays in it.
 */
interface AdminMachine {
  orch(args: string[], options: { cwd: string; env: Record<string, string | undefined> }): Result;
  end(): void;
}

/** A folder with `files` for /etc/codex, and the command that mounts /etc with them over it. */
function etcOverlay(files: Record<string, string>): string {
  const base = fs.mkdtempSync(path.join(scratch.users, "etc-"));
  for (const dir of ["up/codex", "work"]) fs.mkdirSync(path.join(base, dir), { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(base, "up/codex", name), text);
  return `mount -t overlay overlay -o lowerdir=/etc,upperdir=${base}/up,workdir=${base}/work /etc`;
}

/** Why the machine cannot make one here, or undefined when it can (root, unshare and overlayfs; no /etc/codex). */
function adminMachineMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "not root";
  if (fs.existsSync("/etc/codex")) return "this machine has its own /etc/codex";
  const probe = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", etcOverlay({})], {
    encoding: "utf8",
  });
  return probe.status === 0 ? undefined : `unshare --mount and an overlay on /etc failed: ${probe.stderr.trim()}`;
}

async function adminMachine(files: Record<string, string>): Promise<AdminMachine> {
  const holding = `${etcOverlay(files)} && echo ready && exec sleep 600`;
  const holder = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", holding], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  holder.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  await waitUntil(() => out.includes("ready") || holder.exitCode !== null, 10_000, "the namespace");
  assert.ok(out.includes("ready"), "the overlay on /etc was mounted");
  return {
    orch(args, options) {
      const [program, ...pre] = orchCommand();
      // nsenter starts in the namespace's root folder unless told otherwise.
      const inside = ["--target", String(holder.pid), "--mount", `--wd=${options.cwd}`, "--"];
      const r = spawnSync("nsenter", [...inside, program!, ...pre, ...args], {
        cwd: options.cwd, env: baseEnv(options.env), encoding: "utf8",
      });
      let json: unknown;
      try {
        json = JSON.parse(r.stdout);
      } catch {
        json = undefined;
      }
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json } as Result;
    },
    end: () => holder.kill(),
  };
}

if (!codexEntry) {
  test("Codex", () => console.log("SKIP: Codex 0.169 is not in the agent cache (run .ci/install-agents)"));
} else {
  test("a repository's hooks Codex has not run: the worker is blocked at Codex's question, not shown running; " +
    "answered in its window it works on, and the next worker, the hooks trusted, is not asked", async () => {
    // Codex runs hooks outside the sandbox: the repository's Stop hook writes here.
    const ran = path.join(scratch.users, `repo-hook-ran-${process.pid}`);
    const s = await setup({
      one: [{ exec: "orch notify --type progress --summary one-at-work" }, { say: "one done" }],
      two: [{ say: "two done" }],
    });
    try {
      const hooks = { hooks: { Stop: [{ hooks: [{ type: "command", command: `echo stop >> ${ran}` }] }] } };
      commitFiles(s.repo, { ".codex/hooks.json": JSON.stringify(hooks) }, "the repository's Codex hooks");
      const one = spawnCodex(s, "one", "Work on one. SCRIPT:one");
      const seen: Polled[] = [];
      const blocked = await pollUntil(s, seen, (m) => m.message_type === "blocked", "the blocked of Codex's question");
      assert.is(blocked.worker_id, one);
      assert.is(blocked.content.waiting_for, 'Codex: "Hooks need review"');
      assert.match(blocked.content.summary ?? "", "Trust all and continue");
      assert.match(blocked.content.details ?? "", "Continue without trusting (hooks won't run)");
      assert.is(statusOf(s, one).status, "blocked");
      assert.is(statusOf(s, one).waiting_for, 'Codex: "Hooks need review"');
      assert.equal(requestsOf(s.server, "one"), [], "Codex asks before its first request");

      // A person answers in its window: Trust all and continue.
      tmux(["send-keys", "-t", workerRecord(s, one).window_id, "Down", "Enter"], s.env);
      await pollUntil(s, seen, (m) => m.worker_id === one && m.message_type === "idle", "one's idle");
      assert.ok(seen.some((m) => m.worker_id === one && m.content.summary === "one-at-work"), "it worked on");
      assert.is(fs.readFileSync(ran, "utf8"), "stop\n", "the repository's Stop hook ran once");
      // Codex records the trust under the main checkout's path, which every worktree of it shares.
      const config = fs.readFileSync(path.join(s.env.CODEX_HOME!, "config.toml"), "utf8");
      assert.ok(config.includes(`[hooks.state."${s.repo}/.codex/hooks.json:stop:0:0"]`), config);

      const two = spawnCodex(s, "two", "Work on two. SCRIPT:two");
      await pollUntil(s, seen, (m) => m.worker_id === two && m.message_type === "idle", "two's idle");
      assert.not.ok(seen.some((m) => m.worker_id === two && m.message_type === "blocked"), "two was not asked");
      assert.is(fs.readFileSync(ran, "utf8"), "stop\nstop\n");
      for (const worker of [one, two]) assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      await s.server.close();
    }
  });

  test("Codex's other questions at its start: a newer model than the configured one, and a sign-in for a user " +
    "with no credentials; each worker is blocked with the question and the way on", async () => {
    const s = await setup({ newer: [{ say: "newer done" }], signin: [{ say: "never asked" }] });
    try {
      // A model Codex 0.169's catalog has an upgrade for; nobody answered its question in this CODEX_HOME yet.
      editUserConfig(s, 'model = "scripted-model"', 'model = "gpt-5.5"');
      const newer = spawnCodex(s, "newer", "Work on newer. SCRIPT:newer");
      const seen: Polled[] = [];
      const blockedOf = (worker: string) => (m: Polled) => m.worker_id === worker && m.message_type === "blocked";
      const offer = await pollUntil(s, seen, blockedOf(newer), "its blocked");
      assert.is(offer.content.waiting_for, 'Codex: "Meet GPT-6 Sol"');
      assert.match(offer.content.summary ?? "", '"Use existing model" keeps yours');
      assert.match(offer.content.details ?? "", "2. Use existing model");
      assert.is(statusOf(s, newer).status, "blocked");
      tmux(["send-keys", "-t", workerRecord(s, newer).window_id, "Down", "Enter"], s.env);
      const idle = await pollUntil(s, seen, (m) => m.worker_id === newer && m.message_type === "idle", "its idle");
      assert.is(idle.content.details, "newer done");
      const first = await requestFor(s.server, "newer", 0, "its request");
      assert.is((first.body as { model?: string }).model, "gpt-5.5", "the configured model was kept");
      const answered = fs.readFileSync(path.join(s.env.CODEX_HOME!, "config.toml"), "utf8");
      assert.match(answered, '[notice.model_migrations]\n"gpt-5.5" = "gpt-6-sol"', "Codex keeps the answer");

      // A Codex home with no key and no login (its own, given to this spawn): OpenAI's provider asks to sign in.
      const home = path.join(path.dirname(s.env.CODEX_HOME!), ".codex-signed-out");
      fs.mkdirSync(home);
      fs.writeFileSync(path.join(home, "config.toml"), "check_for_update_on_startup = false\n");
      const env = { ...s.env, CODEX_HOME: home, OPENAI_API_KEY: undefined, CODEX_API_KEY: undefined };
      const args = ["spawn", "signin", "--agent", "codex", "--json", "--prompt", "SCRIPT:signin"];
      const r = orch(args, { cwd: s.repo, env });
      assert.is(r.code, 0, r.stderr);
      const signIn = await pollUntil(s, seen, blockedOf("signin"), "its blocked");
      assert.is(signIn.content.waiting_for, `Codex: "Welcome to Codex, OpenAI's command-line coding agent"`);
      assert.match(signIn.content.summary ?? "", "codex login");
      assert.is(statusOf(s, "signin").status, "blocked");
      for (const worker of [newer, "signin"]) assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
    } finally {
      await s.server.close();
    }
  });

  test("Codex's sign-in in a narrow window (24x12, where Codex wraps its title) and a tall one (80x45, where it draws " +
    "its moving logo above it): each worker is blocked with the whole title and the way on, the logo left out",
  async () => {
    const s = await setup({});
    try {
      const conf = path.join(scratch.users, "tmux.conf");
      fs.writeFileSync(conf, "set -g default-size 24x12\nset -g exit-empty off\n");
      tmux(["-f", conf, "start-server"], s.env);
      const seen: Polled[] = [];
      for (const [worker, size] of [["narrow", undefined], ["tall", ["80", "45"]]] as const) {
        const home = path.join(path.dirname(s.env.CODEX_HOME!), `.codex-signed-out-${worker}`);
        fs.mkdirSync(home);
        fs.writeFileSync(path.join(home, "config.toml"), "check_for_update_on_startup = false\n");
        const env = { ...s.env, CODEX_HOME: home, OPENAI_API_KEY: undefined, CODEX_API_KEY: undefined };
        const r = orch(["spawn", worker, "--agent", "codex", "--json", "--prompt", `SCRIPT:${worker}`], { cwd: s.repo, env });
        assert.is(r.code, 0, r.stderr);
        const window = workerRecord(s, worker).window_id;
        if (size) tmux(["resize-window", "-t", window, "-x", size[0], "-y", size[1]], s.env);
        const blocked = await pollUntil(s, seen, (m) => m.worker_id === worker && m.message_type === "blocked", "blocked");
        const shown = tmux(["display-message", "-p", "-t", window, "#{window_width}x#{window_height}"], s.env);
        assert.is(shown, size ? size.join("x") : "24x12");
        assert.is(blocked.content.waiting_for, `Codex: "Welcome to Codex, OpenAI's command-line coding agent"`, worker);
        assert.match(blocked.content.summary ?? "", "codex login");
        const details = blocked.content.details ?? "";
        assert.ok(details.startsWith("Welcome to Codex") && details.includes("Sign in"), `${worker}: ${details}`);
        assert.is(statusOf(s, worker).status, "blocked");
        assert.is(orch(["stop", worker], { cwd: s.repo, env: s.env }).code, 0);
      }
    } finally {
      await s.server.close();
    }
  });

  const missing = adminMachineMissing();
  if (missing) {
    const skip = `SKIP: no mount namespace with its own /etc here (${missing})`;
    test("an administrator's /etc/codex", () => console.log(skip));
  } else {
    test("an administrator's /etc/codex that allows only a read-only sandbox, turns hooks off and forbids orch: " +
      "spawn names the files, the worker starts read-only (orch leaves out its --add-dir, which Codex refuses " +
      "there), no idle comes from it even with --enable hooks, Codex refuses its orch notify; doctor says the same",
    async () => {
      const s = await setup({ admin: [{ exec: "orch notify --type progress --summary from-admin" }, { say: "done" }] });
      const rule = '{ pattern = [{ token = "orch" }], decision = "forbidden", justification = "not on this machine" }';
      const machine = await adminMachine({
        "requirements.toml": `allowed_sandbox_modes = ["read-only"]\n\n[rules]\nprefix_rules = [${rule}]\n`,
        "managed_config.toml": "[features]\nhooks = false\n",
      });
      try {
        const here = { cwd: s.repo, env: s.env };
        const args = ["spawn", "admin", "--agent", "codex --enable hooks", "--json", "--prompt", "SCRIPT:admin"];
        const r = machine.orch(args, here);
        assert.is(r.code, 0, r.stderr);
        assert.match(r.stderr, 'orch: /etc/codex/requirements.toml sets allowed_sandbox_modes = ["read-only"], which ' +
          "leaves out workspace-write (Codex runs it read-only): the Codex worker's commands cannot write");
        assert.match(r.stderr, "orch: /etc/codex/managed_config.toml sets features.hooks = false: Codex runs none of " +
          "orch's hooks in its workers");
        assert.match(r.stderr, "orch: /etc/codex/requirements.toml forbids commands starting with orch");
        await requestFor(s.server, "admin", 0, "the worker's first request: it started");
        const afterNotify = await requestFor(s.server, "admin", 1, "the request after orch notify");
        assert.match(s.server.lastToolOutput(afterNotify) ?? "", "rejected: not on this machine");
        await waitUntil(() => turnEnded(s, "admin"), LONG, "Codex's record of the turn's end");
        // Its Stop hook would have said idle as the turn ended.
        await sleep(2000);
        const polled = orch(["poll", "--json"], { cwd: s.repo, env: s.env });
        assert.is(polled.code, 0, polled.stderr);
        assert.equal((polled.json.messages as Polled[]).map((m) => m.message_type), [], "no idle, no failure");
        assert.is(statusOf(s, "admin").status, "running");

        const doctor = codexSettings(machine.orch(["doctor", "--agent", "codex", "--json"], here));
        assert.is(doctor.ok, false);
        assert.match(doctor.detail, "/etc/codex/requirements.toml sets allowed_sandbox_modes");
        assert.match(doctor.detail, "/etc/codex/managed_config.toml sets features.hooks = false");
        assert.match(doctor.detail, "/etc/codex/requirements.toml forbids commands starting with orch");
        assert.is(orch(["stop", "admin"], { cwd: s.repo, env: s.env }).code, 0);
      } finally {
        machine.end();
        await s.server.close();
      }
    });
  }

  test("what turns orch's hooks off or forbids its commands, in the user's config.toml and rules or the repository's " +
    ".codex/: doctor --agent codex names the file in one line, --enable hooks on the command line wins over the " +
    "user's config.toml, and spawn warns the same; Codex then refuses orch notify", async () => {
    const s = await setup({
      ruled: [{ exec: "orch notify --type progress --summary from-ruled" }, { say: "ruled done" }],
    });
    try {
      const here = { cwd: s.repo, env: s.env };
      const doctor = (agent = "codex") => codexSettings(orch(["doctor", "--agent", agent, "--json"], here));
      assert.is(doctor().ok, true, doctor().detail);

      const config = path.join(s.env.CODEX_HOME!, "config.toml");
      fs.appendFileSync(config, "[features]\nhooks = false\n");
      assert.match(doctor().detail, `${config} sets features.hooks = false: Codex runs none of orch's hooks`);
      assert.is(doctor("codex --enable hooks").ok, true, "the command line's --enable wins over config.toml");
      assert.match(doctor("codex -c features.hooks=false").detail, "-c features.hooks=false: Codex runs none");
      fs.writeFileSync(config, fs.readFileSync(config, "utf8").replace("hooks = false", "hooks = true"));
      assert.is(doctor().ok, true, doctor().detail);

      // The repository's own .codex/, read because orch trusts it for its workers, over the user's config.toml.
      const rules = 'prefix_rule(pattern = ["orch"], decision = "forbidden")\n';
      const files = { ".codex/config.toml": "features.hooks = false\n", ".codex/rules/team.rules": rules };
      commitFiles(s.repo, files, "the repository's Codex configuration");
      const repoConfig = path.join(s.repo, ".codex/config.toml");
      const repoRules = path.join(s.repo, ".codex/rules/team.rules");
      const detail = doctor().detail;
      assert.match(detail, `${repoConfig} sets features.hooks = false: Codex runs none of orch's hooks`);
      assert.match(detail, `${repoRules} forbids commands starting with orch`);

      const r = orch(["spawn", "ruled", "--agent", "codex", "--json", "--prompt", "SCRIPT:ruled"], here);
      assert.is(r.code, 0, r.stderr);
      const worktree = r.json.worktree_path as string;
      assert.match(r.stderr, `orch: ${worktree}/.codex/config.toml sets features.hooks = false`);
      assert.match(r.stderr, `orch: ${worktree}/.codex/rules/team.rules forbids commands starting with orch`);
      const afterNotify = await requestFor(s.server, "ruled", 1, "the request after orch notify");
      assert.match(s.server.lastToolOutput(afterNotify) ?? "", "policy forbids commands starting with `orch`");
      assert.is(orch(["stop", "ruled"], { cwd: s.repo, env: s.env }).code, 0);

      // A read-only sandbox a built-in permissions profile chooses is said by doctor too, as spawn says it.
      commitFiles(s.repo, { ".codex/config.toml": 'default_permissions = ":read-only"\n' }, "read-only");
      const readOnly = `${repoConfig} sets default_permissions = ":read-only": the Codex worker's commands cannot`;
      assert.match(doctor().detail, readOnly);
    } finally {
      await s.server.close();
    }
  });
}

test.run();
