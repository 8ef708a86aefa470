// What the machine makes the real Claude Code (pinned, offline, scripted model) do with a worker as it starts, with
// nobody at its window: managed settings that leave orch's hooks and allow rule unread. orch says so, naming the file.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { step } from "./agents/anthropic-server.ts";
import { claudeWorkers } from "./claude-workers.ts";
import { baseEnv, orchCommand, tempDir, tmux, type Result } from "./helpers.ts";

const { server, session } = await claudeWorkers();

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** A check of `orch doctor --json`. */
function doctorCheck(run: (args: string[]) => Result, name: string): Check {
  const r = run(["doctor", "--json"]);
  const check = (r.json.checks as Check[]).find((c) => c.name === name);
  if (!check) throw new Error(`no ${name} check: ${r.stdout}${r.stderr}`);
  return check;
}

/** What a worker's pane shows, lines joined. */
const paneOf = (window: string, env: Record<string, string | undefined>) =>
  tmux(["capture-pane", "-p", "-J", "-t", window], env);

/**
 * orch run on a machine whose /etc/claude-code holds `files` (managed settings): in a private mount namespace with
 * /etc overlaid, so the real /etc is never touched; a tmux server it starts (and every agent in it) lives there too.
 * Where that cannot be made (not root, no overlay mounts), a line saying why.
 */
function managedMachine(files: Record<string, unknown>): ((args: string[], options: RunIn) => Result) | string {
  if (process.getuid?.() !== 0) return "managed settings in a private /etc need root";
  const upper = tempDir("orch-managed-");
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(upper, "claude-code", name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(content));
  }
  const script = 'set -e; mount -t tmpfs tmpfs "$1"; mkdir "$1/u" "$1/w"; cp -R "$2/." "$1/u/"; ' +
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/u,workdir=$1/w" /etc; shift 2; exec "$@"';
  const run = (args: string[], options: RunIn): Result => {
    const argv = ["-m", "--propagation", "private", "sh", "-c", script, "sh", tempDir("orch-overlay-"), upper,
      ...orchCommand(), ...args];
    const r = spawnSync("unshare", argv, { cwd: options.cwd, env: baseEnv(options.env), encoding: "utf8" });
    let json: unknown;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  };
  const probe = run(["--version"], { cwd: upper, env: {} });
  return probe.code === 0 ? run : `cannot overlay /etc here: ${probe.stderr.trim()}`;
}

interface RunIn {
  cwd: string;
  env: Record<string, string | undefined>;
}

test("managed settings that leave orch's hooks and allow rule unread, and turn Bypass Permissions off: doctor and " +
  "spawn name the file; the real worker waits at a permission prompt for orch notify, unheard", async () => {
  const machine = managedMachine({
    "managed-settings.json": { allowManagedHooksOnly: true, permissions: { disableBypassPermissionsMode: "disable" } },
    "managed-settings.d/50-rules.json": { allowManagedPermissionRulesOnly: true },
  });
  if (typeof machine === "string") return console.log(`SKIP: ${machine}`);
  const s = session();
  const managed = "/etc/claude-code/managed-settings.json";
  const dropIn = "/etc/claude-code/managed-settings.d/50-rules.json";
  const doctor = machine(["doctor", "--json"], { cwd: s.repo, env: s.env });
  const check = (doctor.json.checks as Check[]).find((c) => c.name === "claude settings")!;
  assert.is(check.ok, false);
  assert.match(check.detail, new RegExp(`${managed} sets allowManagedHooksOnly: Claude Code runs only the machine's`));
  assert.match(check.detail, new RegExp(`${dropIn} sets allowManagedPermissionRulesOnly: Claude Code ignores orch's`));
  assert.is(doctorCheck(s.run, "claude settings").ok, true, "outside that machine, nothing is said");

  server.script("feat-managed", [step.bash("orch notify --type progress --summary unheard"), step.say("Done.")]);
  const agent = "claude --dangerously-skip-permissions";
  const spawn = ["spawn", "feat/managed", "--agent", agent, "--prompt", "Work.", "--json"];
  const r = machine(spawn, { cwd: s.repo, env: s.env });
  assert.is(r.code, 0, r.stderr);
  const lines = r.stderr.split("\n");
  assert.ok(lines.some((l) => l.startsWith(`orch: ${managed} sets allowManagedHooksOnly`)), r.stderr);
  assert.ok(lines.some((l) => l.startsWith(`orch: ${dropIn} sets allowManagedPermissionRulesOnly`)), r.stderr);
  assert.ok(lines.some((l) => l.startsWith(`orch: ${managed} turns Bypass Permissions mode off`)), r.stderr);
  const window = r.json.window_id as string;
  await s.waitFor(() => /orch notify --type progress --summary unheard[\s\S]*Do you want to proceed\?/
    .test(paneOf(window, s.env)), "the permission prompt for orch notify");
  assert.equal(s.poll(), [], "no blocked, no progress: orch hears nothing from the worker");
  assert.is(s.status("feat-managed"), "running");
});

test.run();
