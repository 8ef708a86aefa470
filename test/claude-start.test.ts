// What a repository, the user's files or the machine make the real Claude Code (pinned, offline, scripted model) ask
// as a worker starts, with nobody at its window: the repository's MCP servers, CLAUDE.md imports from outside it, an
// API key it was not told about, a settings file it cannot read, and the machine's managed settings that leave
// orch's hooks and allow rule unread. orch answers none of these questions, and no worker waits unseen at one.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { API_KEY, firstUserText, step, userText } from "./agents/anthropic-server.ts";
import { readClaudeConfig, type ClaudeUser } from "./agents/harness.ts";
import { AGENT_WAIT, claudeWorkers } from "./claude-workers.ts";
import {
  baseEnv, commitFiles, orch, orchCommand, privateTmux, sessionRepo, tempDir, tmux, waitUntil, type Result,
} from "./helpers.ts";

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

/** The user of a session, found by the HOME of its environment. */
function userOf(env: Record<string, string | undefined>): ClaudeUser {
  const home = env.HOME!;
  return { home, configFile: path.join(home, ".claude.json"), env };
}

/** What a worker's pane shows, lines joined. */
const paneOf = (window: string, env: Record<string, string | undefined>) =>
  tmux(["capture-pane", "-p", "-J", "-t", window], env);

/**
 * A person's answer to the question on a worker's screen: `key`, typed again every 3 s until `question` is gone
 * (Claude Code takes no keys for a moment after it shows a question, and after a key it refused, so that keys typed
 * ahead do not answer it).
 */
async function answer(window: string, env: Record<string, string | undefined>, key: string, question: string) {
  const deadline = Date.now() + AGENT_WAIT;
  while (paneOf(window, env).includes(question)) {
    if (Date.now() > deadline) throw new Error(`no answer to ${question} was taken:\n${paneOf(window, env)}`);
    tmux(["send-keys", "-t", window, key], env);
    await waitUntil(() => !paneOf(window, env).includes(question), 3000).catch(() => undefined);
  }
}

/** An MCP server that only says it was started (touching `marker`) and then waits to be ended. */
const recordingServer = (marker: string) => ({ command: "sh", args: ["-c", `touch '${marker}'; exec sleep 600`] });

test("the repository's MCP servers: the one approved in the main checkout runs in the worker, the one rejected " +
  "there stays off, the one only the repository approves is left out with no question and nothing approved; doctor " +
  "says so first",
async () => {
  const marks = tempDir("orch-mcp-marks-");
  const mark = (name: string) => path.join(marks, name);
  const s = session();
  commitFiles(s.repo, {
    ".mcp.json": JSON.stringify({
      mcpServers: {
        approved: recordingServer(mark("approved")),
        rejected: recordingServer(mark("rejected")),
        "repo.tool": recordingServer(mark("repo.tool")),
      },
    }),
    // The repository approves its own server, which orch does not take for the user's approval; its own status line
    // runs with no question once the repository is trusted.
    ".claude/settings.json": JSON.stringify({
      enabledMcpjsonServers: ["repo.tool"],
      statusLine: { type: "command", command: `touch '${mark("status")}'` },
    }),
  }, "the repository's MCP servers");
  // The user's decisions in the main checkout: one server in its local settings (where Claude Code's dialog writes
  // it), one in the project's entry of ~/.claude.json (where older versions kept them).
  const local = path.join(s.repo, ".claude", "settings.local.json");
  fs.writeFileSync(local, `${JSON.stringify({ enabledMcpjsonServers: ["approved"] })}\n`);
  const user = userOf(s.env);
  const config = readClaudeConfig(user);
  config.projects = { [s.repo]: { disabledMcpjsonServers: ["rejected"] } };
  fs.writeFileSync(user.configFile, JSON.stringify(config));

  const before = doctorCheck(s.run, "claude start");
  assert.is(before.ok, false);
  assert.match(before.detail, /MCP server "repo\.tool" \(\.mcp\.json\) is not approved/);
  assert.not.match(before.detail, /"approved"|"rejected"/);

  server.script("feat-mcp", [step.bash("orch notify --type progress --summary started"), step.say("Done.")]);
  const r = s.run(["spawn", "feat/mcp", "--prompt", "Work.", "--json"]);
  assert.is(r.code, 0, r.stderr);
  const line = r.stderr.split("\n").find((l) => l.includes("MCP server"));
  const leftOut = /"repo\.tool" \(\.mcp\.json\) is not approved by you: workers start without it/;
  assert.match(line ?? r.stderr, leftOut);
  assert.not.match(line!, /"approved"|"rejected"/);
  await s.waitFor(() => s.poll().some((m) => m.message_type === "idle"), "the worker's turn, with no question first");
  assert.equal(s.polled.map((m) => m.message_type), ["progress", "idle"]);
  assert.ok(firstUserText(server.turns("feat-mcp")[0]!.body).includes("Work."));
  await waitUntil(() => fs.existsSync(mark("approved")), AGENT_WAIT, "the approved server to be started");
  await waitUntil(() => fs.existsSync(mark("status")), AGENT_WAIT, "the repository's status line");
  assert.not.ok(fs.existsSync(mark("repo.tool")), "the server only the repository approved was never started");
  assert.not.ok(fs.existsSync(mark("rejected")), "the rejected server was never started");
  // Nothing approved: the local settings hold the user's approval only (Claude Code moved the rejection there).
  const after = JSON.parse(fs.readFileSync(local, "utf8"));
  assert.equal(after.enabledMcpjsonServers, ["approved"]);
  assert.not.ok(JSON.stringify(after).includes("repo.tool"));
  assert.not.ok(JSON.stringify(readClaudeConfig(user)).includes("repo.tool"), "nothing about it in ~/.claude.json");
});

test("CLAUDE.md imports from outside the repository: the worker is blocked on Claude Code's question from its start, " +
  "until someone answers in its window; that answer holds for the next worker; nothing is approved", async () => {
  const s = session();
  const claudeMd = "# Project\n\nRead @~/notes.md first.\n\n```\n@~/in-a-code-block.md\n```\n";
  commitFiles(s.repo, { "CLAUDE.md": claudeMd }, "notes");
  const user = userOf(s.env);
  fs.writeFileSync(path.join(user.home, "notes.md"), "NOTES FROM HOME\n");
  fs.writeFileSync(path.join(user.home, "in-a-code-block.md"), "not an import\n");
  const notes = path.join(user.home, "notes.md");
  const before = doctorCheck(s.run, "claude start");
  assert.is(before.ok, false);
  assert.ok(before.detail.includes(`"Allow external CLAUDE.md file imports?" as it starts here: the project's ` +
    `CLAUDE.md imports ${notes}, outside the worktree`), before.detail);
  assert.not.ok(before.detail.includes("in-a-code-block"), before.detail);

  server.script("feat-asked", [step.say("Done after the question.")]);
  const r = s.run(["spawn", "feat/asked", "--prompt", "Work.", "--json"]);
  assert.is(r.code, 0, r.stderr);
  const said = `worker feat-asked will stop at claude's question "Allow external CLAUDE.md file imports?" as it ` +
    "starts, shown blocked until someone answers it in its window (orch does not): the project's CLAUDE.md imports";
  assert.ok(r.stderr.includes(said), r.stderr);
  const blocked = s.worker("feat-asked");
  assert.equal([blocked.status, blocked.waiting_for], ["blocked", "Allow external CLAUDE.md file imports?"]);
  assert.equal(s.poll().map((m) => [m.worker_id, m.message_type]), [["feat-asked", "blocked"]]);
  const window = r.json.window_id as string;
  await s.waitFor(() => paneOf(window, s.env).includes("Allow external CLAUDE.md file imports?"), "the question");
  assert.is(server.turns("feat-asked").length, 0, "no turn before the answer");
  assert.is(s.status("feat-asked"), "blocked");

  // The person answers with the question's default, "No, disable external imports".
  await answer(window, s.env, "Enter", "Allow external CLAUDE.md file imports?");
  await s.waitFor(() => s.poll().some((m) => m.message_type === "idle"), "the turn after the answer");
  assert.is(s.status("feat-asked"), "idle");
  assert.not.ok(userText(server.turns("feat-asked")[0]!.body).includes("NOTES FROM HOME"), "the import stayed out");
  const entry = (readClaudeConfig(user).projects as Record<string, Record<string, unknown>>)[s.repo]!;
  const answered = [entry.hasClaudeMdExternalIncludesApproved, entry.hasClaudeMdExternalIncludesWarningShown];
  assert.equal(answered, [false, true], "the person's no, as Claude Code records it");

  // Answered for the repository: the next worker is asked nothing, and doctor says nothing of it.
  assert.is(doctorCheck(s.run, "claude start").ok, true);
  server.script("feat-after", [step.say("Done, not asked.")]);
  const next = s.run(["spawn", "feat/after", "--prompt", "Work.", "--json"]);
  assert.is(next.code, 0, next.stderr);
  assert.not.match(next.stderr, /will stop at/);
  await s.waitFor(() => s.poll().some((m) => m.worker_id === "feat-after" && m.message_type === "idle"), "its turn");
  assert.equal(s.polled.filter((m) => m.worker_id === "feat-after").map((m) => m.message_type), ["idle"]);
});

test("a settings file Claude Code cannot read and an API key it was not told about: blocked on both, in the " +
  "order Claude Code asks them; nothing is answered for the user", async () => {
  const otherKey = "sk-ant-api03-a-key-claude-code-was-not-told-about-000000000000000000-ZZZZZZZZ";
  const s = session({ env: { ANTHROPIC_API_KEY: otherKey } });
  // A repository whose settings hold a merge conflict.
  commitFiles(s.repo, { ".claude/settings.json": "{ \"permissions\": <<<<<<< a merge conflict\n" }, "conflict");
  const user = userOf(s.env);
  const before = doctorCheck(s.run, "claude start");
  assert.is(before.ok, false);
  const settings = path.join(s.repo, ".claude", "settings.json");
  assert.ok(before.detail.includes(`Claude Code cannot read ${settings} (it is not valid JSON)`), before.detail);
  const keyLine = "has not been told whether to use the ANTHROPIC_API_KEY from the environment orch passes on";
  assert.ok(before.detail.includes(keyLine), before.detail);

  const r = s.run(["spawn", "feat/keyed", "--prompt", "Work.", "--json"]);
  assert.is(r.code, 0, r.stderr);
  const view = s.worker("feat-keyed");
  assert.is(view.status, "blocked");
  const inWorktree = path.join(r.json.worktree_path as string, ".claude", "settings.json");
  assert.is(view.waiting_for, "Detected a custom API key in your environment: Do you want to use this API key?; " +
    `Settings Error (${inWorktree})`);
  const window = r.json.window_id as string;
  const keyQuestion = "Detected a custom API key";
  await s.waitFor(() => paneOf(window, s.env).includes(keyQuestion), "the API key question");
  const responses = () => readClaudeConfig(user).customApiKeyResponses as { approved: string[]; rejected: string[] };
  assert.equal(responses(), { approved: [API_KEY.slice(-20)], rejected: [] }, "no answer was given for the user");
  // A person approves the key: Claude Code's next question is the settings file's, and the worker stays blocked.
  tmux(["send-keys", "-t", window, "Up"], s.env);
  await answer(window, s.env, "Enter", keyQuestion);
  await s.waitFor(() => paneOf(window, s.env).includes("Settings Error"), "Claude Code's Settings Error");
  assert.is(s.status("feat-keyed"), "blocked");
  assert.equal(responses().approved, [API_KEY.slice(-20), otherKey.slice(-20)]);
  assert.is(server.turns().filter((t) => JSON.stringify(t.body).includes("feat-keyed")).length, 0);
});

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
    fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
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

  // A managed file that is not JSON: Claude Code does not start at all; doctor says so.
  const broken = managedMachine({ "managed-settings.d/90-broken.json": "{ not json" });
  if (typeof broken === "string") throw new Error(broken);
  const said = broken(["doctor", "--json"], { cwd: s.repo, env: s.env });
  const settingsCheck = (said.json.checks as Check[]).find((c) => c.name === "claude settings")!;
  const brokenLine = "/etc/claude-code/managed-settings.d/90-broken.json: it is not valid JSON, and Claude Code " +
    "refuses to start with it";
  assert.ok(settingsCheck.detail.includes(brokenLine), settingsCheck.detail);
});

/**
 * A session whose `claude` only records its arguments (one file per run) and waits: for what orch decides before
 * Claude Code starts. Its user has used Claude Code with the scripted server's key.
 */
function recordingSession() {
  const { repo } = sessionRepo();
  const home = tempDir("orch-home-");
  fs.mkdirSync(path.join(home, ".claude"));
  fs.writeFileSync(path.join(home, ".claude.json"), JSON.stringify({
    customApiKeyResponses: { approved: [API_KEY.slice(-20)], rejected: [] },
  }));
  const bin = tempDir("orch-recording-claude-");
  const runs = tempDir("orch-runs-");
  // Written whole, then named: a run is read only once it is all there. Then it waits, as a claude at its prompt.
  const script = `#!/bin/sh\nrun='${runs}'/$(date +%s%N)\nprintf '%s\\0' "$@" > "$run.part"\nmv "$run.part" "$run"\n` +
    '[ "$1" = --version ] || exec sleep 600\n';
  fs.writeFileSync(path.join(bin, "claude"), script, { mode: 0o755 });
  const env = {
    ...privateTmux(), HOME: home, CLAUDE_CONFIG_DIR: undefined, PATH: `${bin}:${process.env.PATH}`,
    ANTHROPIC_API_KEY: API_KEY,
  };
  const run = (args: string[]) => orch(args, { cwd: repo, env });
  /** The --settings of each run so far that started a session (not `claude --version`), oldest first. */
  const settingsOfRuns = (): Record<string, unknown>[] => fs.readdirSync(runs).filter((name) => !name.endsWith(".part"))
    .sort().map((name) => fs.readFileSync(path.join(runs, name), "utf8").split("\0"))
    .filter((args) => args.includes("--settings"))
    .map((args) => JSON.parse(args[args.lastIndexOf("--settings") + 1]!) as Record<string, unknown>);
  return { repo, home, env, run, settingsOfRuns };
}

test("CLAUDE.md imports as Claude Code reads them: through imports of imports and rules, not in code, not missing " +
  "files, not the user's own CLAUDE.md's; the ANTHROPIC_API_KEY of the repository's settings over the caller's", () => {
  const s = recordingSession();
  const outside = tempDir("orch-outside-");
  const file = (name: string) => {
    fs.writeFileSync(path.join(outside, name), `${name}\n`);
    return path.join(outside, name);
  };
  const [deep, ruled, spanned, commented, fenced, users] =
    ["deep.md", "ruled.md", "spanned.md", "commented.md", "fenced.md", "users.md"].map(file);
  commitFiles(s.repo, {
    "CLAUDE.md": `See @./docs/guide.md and \`@${spanned}\`.\n<!-- @${commented} -->\n~~~\n@${fenced}\n~~~\n` +
      `And @${path.join(outside, "missing.md")}.\n`,
    "docs/guide.md": `Deeper: @${deep}\n`,
    ".claude/rules/style.md": `@${ruled}\n`,
    ".claude/settings.json": JSON.stringify({ env: { ANTHROPIC_API_KEY: "sk-ant-the-repository-s-own-key-QQQQQQQQ" } }),
  }, "memory files");
  fs.writeFileSync(path.join(s.home, ".claude", "CLAUDE.md"), `@${users}\n`);
  const check = doctorCheck(s.run, "claude start");
  assert.is(check.ok, false);
  const imports = /CLAUDE\.md imports (.*?), outside the worktree/.exec(check.detail)?.[1]?.split(", ").sort();
  assert.equal(imports, [deep, ruled].sort(), check.detail);
  const settings = path.join(s.repo, ".claude", "settings.json");
  assert.ok(check.detail.includes(`the ANTHROPIC_API_KEY from the env of ${settings}`), check.detail);

  // Another provider than Anthropic's API: nothing is asked about the key.
  const bedrock = orch(["doctor", "--json"], { cwd: s.repo, env: { ...s.env, CLAUDE_CODE_USE_BEDROCK: "1" } });
  const detail = (bedrock.json.checks as Check[]).find((c) => c.name === "claude start")!.detail;
  assert.not.match(detail, /ANTHROPIC_API_KEY/);
});

test("the repository's MCP servers: its own settings and a settings.local.json git tracks approve nothing, the " +
  "user's --settings rejects; resume leaves out a server the worker's own commits added, and is blocked on a question",
async () => {
  const s = recordingSession();
  const servers = { self: { command: "true" }, mine: { command: "true" }, "my.db": { command: "true" } };
  commitFiles(s.repo, {
    ".mcp.json": JSON.stringify({ mcpServers: servers }),
    // A repository that approves its own servers, in its settings and in local settings it commits.
    ".claude/settings.json": JSON.stringify({ enableAllProjectMcpServers: true }),
    ".claude/settings.local.json": JSON.stringify({ enabledMcpjsonServers: ["self"] }),
  }, "servers");
  fs.writeFileSync(path.join(s.home, ".claude", "settings.json"), JSON.stringify({ enabledMcpjsonServers: ["my_db"] }));
  const agent = `claude --settings '${JSON.stringify({ disabledMcpjsonServers: ["mine"] })}'`;
  const r = s.run(["spawn", "feat/servers", "--agent", agent, "--prompt", "Work.", "--json"]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /the repository's MCP server "self" \(\.mcp\.json\) is not approved/);
  await waitUntil(() => s.settingsOfRuns().length === 1, AGENT_WAIT, "claude to run");
  assert.equal(s.settingsOfRuns()[0]!.disabledMcpjsonServers, ["mine", "self"]);
  assert.is(doctorCheck(s.run, "claude start").ok, false);

  // The worker adds a server of its own, and an import from outside: its resume leaves the one out and is blocked
  // on the other.
  const worktree = r.json.worktree_path as string;
  const notes = path.join(s.home, "notes.md");
  fs.writeFileSync(notes, "notes\n");
  commitFiles(worktree, {
    ".mcp.json": JSON.stringify({ mcpServers: { ...servers, added: { command: "true" } } }),
    "CLAUDE.md": `@${notes}\n`,
  }, "a server and an import of my own");
  const stopped = s.run(["stop", "feat-servers"]);
  assert.is(stopped.code, 0, stopped.stderr);
  const resumed = s.run(["resume", "feat-servers", "--json"]);
  assert.is(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /the repository's MCP server "added" \(\.mcp\.json\) is not approved/);
  const said = `worker feat-servers will stop at claude's question "Allow external CLAUDE.md file imports?" as it ` +
    "starts, shown blocked";
  assert.ok(resumed.stderr.includes(said), resumed.stderr);
  await waitUntil(() => s.settingsOfRuns().length === 2, AGENT_WAIT, "claude to run again");
  assert.equal(s.settingsOfRuns()[1]!.disabledMcpjsonServers, ["mine", "self", "added"]);
  const view = s.run(["status", "--json"]).json.workers[0];
  assert.equal([view.status, view.waiting_for], ["blocked", "Allow external CLAUDE.md file imports?"]);
});

test.run();
