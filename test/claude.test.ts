// Claude Code workers, with the real Claude Code (the pinned version .ci/install-agents caches) talking to a
// scripted Anthropic API on 127.0.0.1, started by orch spawn in a private tmux server exactly as a user
// gets it: unattended in a repository it has never seen, hooks, mid-turn messages, plan mode, any prompt.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnthropicServer, firstUserText, step, userText } from "./agents/anthropic-server.ts";
import { claudeUser, readClaudeConfig } from "./agents/harness.ts";
import { ghStandIn, orch, privateTmux, scratchRepo, tempDir, tmux, waitUntil } from "./helpers.ts";

/** Real agents start in seconds on a quiet machine; on a loaded 2-core one, give them a minute. */
const AGENT_WAIT = 90_000;

const server = await new AnthropicServer().start();
test.after(() => server.stop());

interface Message {
  worker_id: string;
  message_type: string;
  content: Record<string, string>;
}

/** A session in a fresh repository (the directory name may hold ":" and other specials). */
function session(name = "repo"): { repo: string; id: string } {
  const repo = scratchRepo(name);
  const init = orch(["init", "--json"], { cwd: repo });
  assert.is(init.code, 0, init.stderr);
  return { repo, id: init.json.orchestrator_id };
}

/** Polls until `done` holds for the messages taken so far (all of them are returned). */
async function pollUntil(
  repo: string,
  env: Record<string, string | undefined>,
  done: (all: Message[]) => boolean,
  what: string,
): Promise<Message[]> {
  const all: Message[] = [];
  try {
    await waitUntil(() => {
      const r = orch(["poll", "--json"], { cwd: repo, env });
      if (r.code === 0) all.push(...(r.json.messages as Message[]));
      return done(all);
    }, AGENT_WAIT, what);
  } catch (error) {
    const panes = tmux(["list-panes", "-a", "-F", "#{window_id}"], env).split("\n").map((w) => `${w}:\n${pane(w, env)}`);
    throw new Error(`${(error as Error).message}; messages: ${JSON.stringify(all)}\nrequests:\n${server.describe()}\n${panes.join("\n")}`);
  }
  return all;
}

function workerRecord(repo: string, id: string, worker: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(repo, ".orch/sessions", id, "workers", worker, "worker.json"), "utf8"));
}

/** What the pane shows, for a failing wait's message. */
function pane(window: string, env: Record<string, string | undefined>): string {
  try {
    return tmux(["capture-pane", "-p", "-t", window], env).replace(/\n{2,}/g, "\n");
  } catch {
    return "(no pane)";
  }
}

test("a worker starts with no dialog in a repository it has never seen; orch needs no approval; " +
  "orch on PATH before and after", async () => {
  const { repo, id } = session("new:repo");
  const user = claudeUser({ allow: ["Bash(command -v:*)"] });
  assert.not.ok(JSON.stringify(readClaudeConfig(user)).includes(repo), "Claude Code has never seen this repository");
  const env = { ...privateTmux(), ...user.env, ...server.env };
  server.script("feat-first", [
    step.bash('orch notify --type progress --summary "-from claude"'),
    step.bash("command -v orch"),
    step.say("All done."),
  ]);
  const r = orch(["spawn", "feat/first", "--prompt", "Report progress, then say where orch is.", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /marked .* trusted for Claude Code/);

  const messages = await pollUntil(repo, env, (all) => all.some((m) => m.message_type === "idle"), "the idle report of the Stop hook");
  assert.equal(messages.map((m) => [m.message_type, m.worker_id]), [["progress", "feat-first"], ["idle", "feat-first"]]);
  assert.is(messages[0]!.content.summary, "-from claude");
  assert.is(server.used("feat-first"), 3, "the whole script ran");

  const projects = readClaudeConfig(user).projects as Record<string, { hasTrustDialogAccepted?: boolean }>;
  assert.is(projects[repo]?.hasTrustDialogAccepted, true, "the main worktree's root is marked trusted");
  const [first, , third] = server.turns("feat-first");
  assert.ok(firstUserText(first!.body).includes("Report progress, then say where orch is."));
  const record = workerRecord(repo, id, "feat-first");
  const metadata = JSON.parse(String((first!.body?.metadata as { user_id?: string }).user_id)) as { session_id?: string };
  assert.is(metadata.session_id, record.agent_session_id, "claude runs with the session id orch recorded");
  const shimLine = userText(third!.body).split("\n").find((line) => line.endsWith("/orch"));
  const why = `orch on the PATH of claude's shell, from orch's private folder: ${userText(third!.body).slice(-300)}`;
  assert.ok(shimLine && shimLine.startsWith(user.home), why);
  assert.not.ok(shimLine!.includes(repo), "nothing on PATH lies in the repository");

  // The shell left in the window after claude exits has orch on its PATH too.
  const window = r.json.window_id as string;
  tmux(["send-keys", "-t", window, "/exit", "Enter"], env);
  await waitUntil(
    () => tmux(["list-panes", "-t", window, "-F", "#{pane_current_command}"], env) === "bash",
    AGENT_WAIT,
    `the shell after claude:\n${pane(window, env)}`,
  );
  const out = path.join(tempDir(), "orch-path");
  tmux(["send-keys", "-t", window, `command -v orch > ${out}`, "Enter"], env);
  await waitUntil(
    () => fs.existsSync(out) && fs.readFileSync(out, "utf8").endsWith("\n"),
    AGENT_WAIT,
    `the shell to answer:\n${pane(window, env)}`,
  );
  assert.is(fs.readFileSync(out, "utf8").trim(), shimLine);
});

test("the PR hook reports task_complete with the URL; orch send mid-turn reaches the model", async () => {
  const { repo } = session();
  const url = "https://github.com/acme/widgets/pull/42";
  const gh = ghStandIn([`echo ${url}`]);
  const go = path.join(tempDir(), "go");
  const user = claudeUser({
    allow: ["Bash(wait-for:*)", "Bash(gh pr create:*)"],
    scripts: { "wait-for": '#!/bin/sh\nuntil [ -e "$1" ]; do sleep 0.1; done\necho "$1 is there"\n' },
  });
  const env = { ...privateTmux(), ...user.env, PATH: `${gh.env.PATH.split(":")[0]}:${user.env.PATH}`, ...server.env };
  server.script("feat-pr", [
    step.bash(`wait-for ${go}`),
    step.bash('gh pr create --title "Blue widget" --body "As asked"'),
    step.say("The PR is open."),
  ]);
  // With orch's hooks also in the project's settings, Claude Code runs each hook command once.
  const installed = orch(["install", "claude"], { cwd: repo, env });
  assert.is(installed.code, 0, installed.stderr);
  const r = orch(["spawn", "feat/pr", "--prompt", "Open a PR.", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  await server.waitFor(() => server.used("feat-pr") >= 1, AGENT_WAIT, "the first turn");
  const sent = orch(["send", "feat-pr", "-n: use the blue widget"], { cwd: repo, env });
  assert.is(sent.code, 0, sent.stderr);
  fs.writeFileSync(go, "");

  const messages = await pollUntil(repo, env, (all) => all.some((m) => m.message_type === "task_complete"), "the PR report");
  await server.waitFor(() => server.used("feat-pr") === 3, AGENT_WAIT, "the whole script");
  const types = messages.concat(orch(["poll", "--json"], { cwd: repo, env }).json.messages).map((m) => m.message_type);
  assert.equal(types, ["task_complete"], "the PR is reported once; a done worker's Stop is no idle");
  const complete = messages.find((m) => m.message_type === "task_complete")!;
  assert.is(complete.content.pr_url, url);
  assert.is(complete.worker_id, "feat-pr");
  // Claude Code calls gh itself too (auth token, its own closed issues): only the agent's call counts here.
  assert.equal(gh.calls().filter((call) => call.startsWith("pr ")), ["pr create --title Blue widget --body As asked"]);
  const [, second] = server.turns("feat-pr");
  const timesSeen = userText(second!.body).split("-n: use the blue widget").length - 1;
  assert.is(timesSeen, 1, "the message reached the model after the Bash call, once");
  assert.is(server.turns("feat-pr").length, 3, "one request per step");
});

test("--plan starts claude in plan mode: the model is told so", async () => {
  const { repo } = session();
  const user = claudeUser();
  const env = { ...privateTmux(), ...user.env, ...server.env };
  server.script("feat-plan", [step.say("Here is my plan: nothing.")]);
  server.script("feat-noplan", [step.say("Done without a plan.")]);
  for (const [branch, flags] of [["feat/plan", ["--plan"]], ["feat/noplan", []]] as const) {
    const r = orch(["spawn", branch, "--prompt", "Plan the work.", ...flags, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
  }
  await server.waitFor(() => server.used("feat-plan") === 1 && server.used("feat-noplan") === 1, AGENT_WAIT, "both turns");
  const [plan] = server.turns("feat-plan");
  const [noPlan] = server.turns("feat-noplan");
  assert.match(plan!.raw, /plan mode is active/i);
  assert.not.match(noPlan!.raw, /plan mode is active/i);
});

test("--agent with the user's own --settings: Claude Code runs their Stop hook and orch's (one --settings, merged)",
  async () => {
    const { repo } = session();
    const user = claudeUser();
    const env = { ...privateTmux(), ...user.env, ...server.env };
    const marker = path.join(tempDir("orch-own-hook-"), "ran");
    const own = { hooks: { Stop: [{ hooks: [{ type: "command", command: `touch '${marker}'` }] }] } };
    server.script("feat-own", [step.say("Done with my own settings.")]);
    const agent = `claude --settings '${JSON.stringify(own)}'`;
    const r = orch(["spawn", "feat/own", "--agent", agent, "--prompt", "Work.", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    const all = await pollUntil(repo, env, (m) => m.some((x) => x.message_type === "idle"), "orch's idle");
    assert.is(all.find((m) => m.message_type === "idle")!.content.details, "Done with my own settings.");
    await waitUntil(() => fs.existsSync(marker), AGENT_WAIT, "the user's own Stop hook");
  });

test("prompts arrive whole: one starting with -, one of 60 KB, one of 300 KB (through ORCH_PROMPT_FILE)", async () => {
  const { repo, id } = session();
  const user = claudeUser();
  const env = { ...privateTmux(), ...user.env, ...server.env };
  const lines = (tag: string, kb: number) =>
    Array.from(
      { length: Math.ceil((kb * 1024) / 64) },
      (_, i) => `${tag} line ${String(i).padStart(6, "0")} ${"·".repeat(40)}`,
    ).join("\n");
  const prompts = {
    "feat-dash": "-n --help: a prompt that starts with a dash\n---\nfront: matter\n---",
    "feat-60k": `${lines("sixty", 60)}\nEND OF SIXTY`,
    "feat-300k": `-three hundred\n${lines("three-hundred", 300)}\nEND OF THREE HUNDRED`,
  };
  const bigFile = path.join(repo, ".orch/sessions", id, "workers/feat-300k/prompt.txt");
  server.script("feat-dash", [step.say("ok")]);
  server.script("feat-60k", [step.say("ok")]);
  server.script("feat-300k", [step.tool("Read", { file_path: bigFile, limit: 2 }), step.say("ok")]);
  for (const [worker, prompt] of Object.entries(prompts)) {
    const file = path.join(tempDir(), "prompt.md");
    fs.writeFileSync(file, prompt);
    const r = orch(["spawn", worker, "--prompt-file", file, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
  }
  await server.waitFor(
    () => server.used("feat-dash") === 1 && server.used("feat-60k") === 1 && server.used("feat-300k") === 2,
    AGENT_WAIT,
    "every prompt",
  );
  for (const worker of ["feat-dash", "feat-60k"] as const) {
    const text = firstUserText(server.turns(worker)[0]!.body);
    const promptThenInstructions = `${prompts[worker]}\n\n---\nYou are an orch worker: worker ${worker}`;
    assert.ok(text.includes(promptThenInstructions), `${worker}: the whole prompt, then orch's instructions`);
  }
  const [pointer, afterRead] = server.turns("feat-300k");
  assert.match(firstUserText(pointer!.body), new RegExp(`Your task is in the file ${bigFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  assert.ok(fs.readFileSync(bigFile, "utf8").startsWith(`${prompts["feat-300k"]}\n\n---\n`), "the file holds the whole prompt");
  assert.ok(userText(afterRead!.body).includes("three-hundred line 000000"), "claude read the file with no permission prompt");
});

/** A `claude` that only records it ran, for the tests of what orch does before it starts. */
function fakeClaudeEnv(home: string): Record<string, string | undefined> {
  const bin = tempDir("orch-fake-claude-");
  fs.writeFileSync(path.join(bin, "claude"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  return { HOME: home, CLAUDE_CONFIG_DIR: undefined, PATH: `${bin}:${process.env.PATH}` };
}

test("trust is written the way Claude Code records it: atomically, under its lock, nothing else changed", () => {
  const { repo } = session();
  const home = tempDir("orch-home-");
  const env = { ...privateTmux(), ...fakeClaudeEnv(home) };
  const config = {
    "ünïcode key": "日本 ✓", big: 1795360189732, nested: { deep: [1, { x: null }] },
    projects: { "/somewhere/else": { hasTrustDialogAccepted: false, allowedTools: ["Bash(ls)"] } },
  };
  const dotfiles = tempDir("orch-dotfiles-");
  fs.writeFileSync(path.join(dotfiles, "claude.json"), JSON.stringify(config), { mode: 0o640 });
  fs.symlinkSync(path.join(dotfiles, "claude.json"), path.join(home, ".claude.json"));
  const r = orch(["spawn", "feat/trust", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.ok(fs.lstatSync(path.join(home, ".claude.json")).isSymbolicLink(), "a linked config stays a link");
  const after = JSON.parse(fs.readFileSync(path.join(dotfiles, "claude.json"), "utf8"));
  assert.equal(after, { ...config, projects: { ...config.projects, [repo]: { hasTrustDialogAccepted: true } } });
  assert.is(fs.statSync(path.join(dotfiles, "claude.json")).mode & 0o777, 0o640, "its mode is kept");
  assert.equal(fs.readdirSync(dotfiles), ["claude.json"], "no temporary or lock file left");
  const doctor = orch(["doctor", "--json"], { cwd: repo, env });
  const trust = (doctor.json.checks as { name: string; ok: boolean; detail: string }[]).find((c) => c.name.includes("trust"));
  assert.ok(trust?.ok, JSON.stringify(doctor.json.checks));

  // A second spawn finds it trusted and changes nothing; no message about it either.
  const before = fs.readFileSync(path.join(dotfiles, "claude.json"), "utf8");
  const again = orch(["spawn", "feat/trust2", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.not.match(again.stderr, /trusted/);
  assert.is(fs.readFileSync(path.join(dotfiles, "claude.json"), "utf8"), before);
});

test("trust: CLAUDE_CONFIG_DIR is respected; a config that is not JSON is left alone with a warning; doctor says so", () => {
  const { repo } = session();
  const home = tempDir("orch-home-");
  const configDir = path.join(tempDir(), "claude-config");
  const env = { ...privateTmux(), ...fakeClaudeEnv(home), CLAUDE_CONFIG_DIR: configDir };
  const untrusted = orch(["doctor", "--json"], { cwd: repo, env });
  const check = (untrusted.json.checks as { name: string; ok: boolean; detail: string }[]).find((c) => c.name.includes("trust"));
  assert.is(check?.ok, true, "not trusted yet is no problem: spawn marks it");
  assert.match(check!.detail, /not marked trusted .* yet; orch spawn marks it/);
  const r = orch(["spawn", "feat/dir", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  const config = JSON.parse(fs.readFileSync(path.join(configDir, ".claude.json"), "utf8"));
  assert.equal(config, { projects: { [repo]: { hasTrustDialogAccepted: true } } });
  assert.is(fs.statSync(path.join(configDir, ".claude.json")).mode & 0o777, 0o600, "a new config is private");
  assert.not.ok(fs.existsSync(path.join(home, ".claude.json")), "HOME's config untouched");

  const broken = "{ not json, kept as it is\n";
  fs.writeFileSync(path.join(configDir, ".claude.json"), broken);
  const { repo: other } = session();
  const refused = orch(["spawn", "feat/broken", "--json"], { cwd: other, env });
  assert.is(refused.code, 0, refused.stderr);
  assert.match(refused.stderr, /left alone \(it is not valid JSON\)/);
  assert.is(fs.readFileSync(path.join(configDir, ".claude.json"), "utf8"), broken);
});

test("settings that keep workers from reporting (disableAllHooks, a deny of orch) are said in one line each; " +
  "nothing of the user's is changed", () => {
  const { repo } = session();
  const home = tempDir("orch-home-");
  const env = { ...privateTmux(), ...fakeClaudeEnv(home) };
  const clean = orch(["doctor", "--json"], { cwd: repo, env });
  const checkOf = (r: typeof clean) => (r.json.checks as { name: string; ok: boolean; detail: string }[])
    .find((c) => c.name === "claude settings");
  assert.is(checkOf(clean)?.ok, true, JSON.stringify(clean.json.checks));
  const userFile = path.join(home, ".claude", "settings.json");
  const localFile = path.join(repo, ".claude", "settings.local.json");
  fs.mkdirSync(path.dirname(userFile));
  fs.mkdirSync(path.dirname(localFile));
  const user = { disableAllHooks: true, hooks: { Stop: [{ hooks: [{ type: "command", command: "echo mine" }] }] } };
  const local = { permissions: { deny: ["Bash(rm:*)", "Bash(orch *)"] } };
  fs.writeFileSync(userFile, JSON.stringify(user));
  fs.writeFileSync(localFile, JSON.stringify(local));
  const r = orch(["spawn", "feat/unheard", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  const lines = r.stderr.split("\n");
  const disabled = `orch: ${userFile} sets disableAllHooks: orch's hooks will not run`;
  assert.ok(lines.some((l) => l.startsWith(disabled)), r.stderr);
  assert.ok(lines.some((l) => l.startsWith(`orch: ${localFile} denies "Bash(orch *)"`)), r.stderr);
  const doctor = checkOf(orch(["doctor", "--json"], { cwd: repo, env }));
  assert.is(doctor?.ok, false);
  assert.match(doctor!.detail, /disableAllHooks.*; .*denies "Bash\(orch \*\)"/);
  assert.is(fs.readFileSync(userFile, "utf8"), JSON.stringify(user), "the user's settings are left as they were");
  assert.is(fs.readFileSync(localFile, "utf8"), JSON.stringify(local));

  // A deny of something else is no problem; "Bash(orch:*)" and "Bash" cover orch as well.
  fs.writeFileSync(userFile, JSON.stringify({ permissions: { deny: ["Bash(rm:*)", "Bash(orchestrate *)"] } }));
  fs.rmSync(localFile);
  assert.is(checkOf(orch(["doctor", "--json"], { cwd: repo, env }))?.ok, true);
  for (const rule of ["Bash(orch:*)", "Bash", "Bash(orch notify:*)"]) {
    fs.writeFileSync(userFile, JSON.stringify({ permissions: { deny: [rule] } }));
    assert.is(checkOf(orch(["doctor", "--json"], { cwd: repo, env }))?.ok, false, rule);
  }
});

test("claude by a path with spaces and options of the user's is still claude: orch's settings, session id, trust", async () => {
  const { repo, id } = session();
  const home = tempDir("orch-home-");
  const bin = path.join(tempDir(), "my tools");
  fs.mkdirSync(bin);
  const argsFile = path.join(home, "args");
  fs.writeFileSync(path.join(bin, "claude"), `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsFile}'\n`, { mode: 0o755 });
  const env = { ...privateTmux(), ...fakeClaudeEnv(home) };
  const agent = `'${bin}/claude' --model opus`;
  const r = orch(["spawn", "feat/path", "--agent", agent, "--prompt", "hi", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /marked .* trusted for Claude Code/);
  await waitUntil(() => fs.existsSync(argsFile) && fs.readFileSync(argsFile, "utf8").endsWith("\n"), AGENT_WAIT, "the agent");
  const args = fs.readFileSync(argsFile, "utf8").split("\n");
  const record = workerRecord(repo, id, "feat-path");
  assert.equal(args.slice(0, 4), ["--model", "opus", "--session-id", record.agent_session_id]);
  assert.ok(args.includes("--settings"), args.join(" "));
  assert.is(record.agent, "claude");
});

test("the user's own hooks run beside orch's; a Stop hook of theirs that blocks: orch tells idle again, " +
  "with the last words, when the turn really ends", async () => {
  const { repo } = session();
  const user = claudeUser();
  const settingsFile = path.join(user.home, ".claude", "settings.json");
  const settings = JSON.parse(fs.readFileSync(settingsFile, "utf8"));
  const once = path.join(user.home, "linted");
  settings.hooks = {
    PostToolUse: [{ matcher: "Bash", hooks: [{ type: "command", command: `echo post >> '${user.home}/post.log'` }] }],
    Stop: [{ hooks: [{
      type: "command",
      command: `[ -e '${once}' ] || { touch '${once}'; echo '{"decision":"block","reason":"run the linter"}'; }`,
    }] }],
  };
  fs.writeFileSync(settingsFile, JSON.stringify(settings));
  const env = { ...privateTmux(), ...user.env, ...server.env };
  server.script("feat-lint", [step.bash("true"), step.say("first done"), step.say("lint ok")]);
  const r = orch(["spawn", "feat/lint", "--prompt", "Work, then lint.", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  const messages = await pollUntil(repo, env, (all) => all.some((m) => m.content.details === "lint ok"), "the last idle");
  assert.ok(fs.existsSync(once), "the user's Stop hook ran");
  assert.is(fs.readFileSync(path.join(user.home, "post.log"), "utf8"), "post\n", "the user's PostToolUse hook ran");
  assert.equal(messages.map((m) => m.message_type), ["idle", "idle"], JSON.stringify(messages));
});

test("a tmux server started before the caller chose its endpoint: the worker's claude gets the caller's " +
  "ANTHROPIC_BASE_URL and key, not the orchestrator's CLAUDECODE or TMUX_PANE; the session keeps none of them",
async () => {
  const { repo, id } = session();
  const user = claudeUser();
  const tmuxEnv = privateTmux();
  // The server, and so its global environment, from before the user pointed Claude Code at their endpoint.
  const before = { ...tmuxEnv, ...user.env, ANTHROPIC_BASE_URL: "http://127.0.0.1:9", ANTHROPIC_API_KEY: undefined };
  tmux(["new-session", "-d", "-s", "before"], before);
  const caller = { ...tmuxEnv, ...user.env, ...server.env, CLAUDECODE: "1", TMUX_PANE: "%4242" };
  server.script("feat-endpoint", [step.say("Done."), step.say("Went on.")]);
  const r = orch(["spawn", "feat/endpoint", "--prompt", "Say done.", "--json"], { cwd: repo, env: caller });
  assert.is(r.code, 0, r.stderr);
  const what = "the first model request at the caller's endpoint";
  await server.waitFor(() => server.used("feat-endpoint") >= 1, AGENT_WAIT, what);

  const pidFile = path.join(repo, ".orch/sessions", id, "workers", "feat-endpoint", "agent.pid");
  const pid = Number.parseInt(fs.readFileSync(pidFile, "utf8"), 10);
  const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  assert.ok(environ.includes(`ANTHROPIC_BASE_URL=${server.url}`), "claude runs with the caller's endpoint");
  assert.not.ok(environ.some((v) => v.startsWith("CLAUDECODE=")), "the orchestrator's CLAUDECODE stays behind");
  assert.not.ok(environ.includes("TMUX_PANE=%4242"), "the orchestrator's TMUX_PANE stays behind");
  const sessionEnv = tmux(["show-environment", "-t", r.json.tmux_session as string], caller);
  assert.not.ok(/ANTHROPIC|ORCH_/.test(sessionEnv), `the session's environment keeps none of them:\n${sessionEnv}`);
  const stored = fs.readdirSync(path.join(repo, ".orch"), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .filter((entry) => fs.readFileSync(path.join(entry.parentPath, entry.name), "utf8").includes(server.url));
  assert.equal(stored.map((entry) => entry.name), [], "orch's store holds none of the caller's values");

  // resume opens a new window the same way: the endpoint comes from the shell that resumes, not the server.
  const stopped = orch(["stop", "feat/endpoint", "--json"], { cwd: repo, env: caller });
  assert.is(stopped.code, 0, stopped.stderr);
  const resumed = orch(["resume", "feat/endpoint", "--prompt", "Go on.", "--json"], { cwd: repo, env: caller });
  assert.is(resumed.code, 0, resumed.stderr);
  await server.waitFor(() => server.used("feat-endpoint") >= 2, AGENT_WAIT, "the resumed request at the caller's endpoint");
  const again = Number.parseInt(fs.readFileSync(pidFile, "utf8"), 10);
  assert.is.not(again, pid, "a new agent");
  const resumedEnviron = fs.readFileSync(`/proc/${again}/environ`, "utf8").split("\0");
  assert.ok(resumedEnviron.includes(`ANTHROPIC_BASE_URL=${server.url}`), "the resumed claude has the caller's endpoint");
  assert.not.ok(resumedEnviron.some((v) => v.startsWith("CLAUDECODE=")), "and not the orchestrator's CLAUDECODE");
});

test.run();
