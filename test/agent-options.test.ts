// The user's own options for claude and codex in --agent ("codex -s read-only", "claude --settings x.json"):
// read once (src/agents/options.ts) and what orch starts with them: a read-only sandbox keeps orch's
// --add-dir out, the user's --settings are merged into orch's instead of replaced by them, and options that
// make orch's loop impossible are refused (exit 2) before spawn makes anything.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { callerAgentEnv } from "../src/agents/caller-env.ts";
import { profileFor } from "../src/agents/index.ts";
import { CODEX_OPTIONS, readOptions } from "../src/agents/options.ts";
import type { LaunchSpec } from "../src/agents/profile.ts";
import { git, orch, sessionRepo, tempDir } from "./helpers.ts";

/** A launch in a scratch worktree with a git dir, as spawn gives it; the warnings are collected. */
function launch(env: NodeJS.ProcessEnv = {}): { spec: LaunchSpec; warnings: string[] } {
  const root = tempDir("orch-options-");
  const worktree = path.join(root, "wt");
  const common = path.join(root, "repo.git");
  for (const dir of ["objects", "refs", "logs"]) fs.mkdirSync(path.join(common, dir), { recursive: true });
  fs.mkdirSync(path.join(common, "worktrees", "wt"), { recursive: true });
  fs.mkdirSync(worktree);
  fs.writeFileSync(path.join(worktree, ".git"), `gitdir: ${path.join(common, "worktrees", "wt")}\n`);
  fs.mkdirSync(path.join(root, "store"));
  const home = path.join(root, "home");
  fs.mkdirSync(path.join(home, ".codex"), { recursive: true });
  const warnings: string[] = [];
  const spec: LaunchSpec = {
    mainRoot: root, worktreePath: worktree, commonGitDir: common, storeRoot: path.join(root, "store"),
    orchestratorId: "orch_abcdefgh", workerId: "w", plan: false, sessionId: "11111111-2222-4333-8444-555555555555",
    env: { HOME: home, CODEX_HOME: path.join(home, ".codex"), ...env }, orchProgram: "/x/orch",
    warn: (line) => warnings.push(line),
  };
  return { spec, warnings };
}

async function argvOf(agent: string, spec: LaunchSpec): Promise<string[]> {
  return (await profileFor(agent)).start(spec).argv;
}

test("options are read as the agent reads them: values by any spelling, flags, positionals", () => {
  const read = readOptions(["-sread-only", "--model=o3", "-c", "a=b", "--yolo", "exec"], CODEX_OPTIONS, "clap");
  assert.equal(read.options.map((o) => [o.name, o.values]), [["-s", ["read-only"]], ["--model", ["o3"]],
    ["-c", ["a=b"]], ["--yolo", []]]);
  assert.equal(read.positionals, ["exec"]);
});

for (const given of ["-s read-only", "--sandbox read-only", "--sandbox=read-only", "-sread-only", "-s=read-only",
  `-c sandbox_mode="read-only"`, "-c 'sandbox_mode=read-only'", "--config sandbox_mode=read-only"]) {
  test(`codex ${given}: no --add-dir (Codex refuses it in a read-only sandbox), and spawn says why`, async () => {
    const { spec, warnings } = launch();
    const argv = await argvOf(`codex ${given}`, spec);
    assert.not.ok(argv.includes("--add-dir"), argv.join(" "));
    assert.is(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0]!, "asks for a read-only sandbox: the Codex worker's commands cannot write");
  });
}

test("codex --profile p whose file sets read-only: no --add-dir; -s workspace-write wins over a read-only config",
  async () => {
    const { spec, warnings } = launch();
    const home = spec.env.CODEX_HOME!;
    fs.writeFileSync(path.join(home, "p.config.toml"), 'sandbox_mode = "read-only"\n');
    assert.not.ok((await argvOf("codex --profile p", spec)).includes("--add-dir"));
    assert.match(warnings[0]!, `${path.join(home, "p.config.toml")} sets sandbox_mode = "read-only"`);
    assert.ok((await argvOf("codex -p other", spec)).includes("--add-dir"), "another profile: orch's dirs");

    fs.writeFileSync(path.join(home, "config.toml"), 'sandbox_mode = "read-only"\n');
    const asked = launch({ CODEX_HOME: home });
    const argv = await argvOf("codex -c sandbox_mode=read-only -s workspace-write", asked.spec);
    assert.ok(argv.includes("--add-dir"), "the command line's workspace-write wins: orch's writable dirs");
    assert.equal(asked.warnings, []);
    assert.ok((await argvOf("codex --dangerously-bypass-approvals-and-sandbox", launch().spec)).includes("--add-dir"));
  });

test("codex: the user's options come first, orch's after them, the prompt after --", async () => {
  const { spec } = launch();
  const argv = await argvOf("codex -c 'notify=[\"x\"]' -m o3", spec);
  assert.equal(argv.slice(0, 6), ["codex", "-c", 'notify=["x"]', "-m", "o3", "--no-daemon"]);
  assert.is((await profileFor("codex -m o3")).start(spec).promptPlacement, "after-dashdash");
});

test("claude --settings (a file, or inline JSON): merged into orch's one --settings, its problems said", async () => {
  const { spec, warnings } = launch();
  const stop = [{ hooks: [{ type: "command", command: "mine" }] }];
  const own = { env: { MY: "1" }, disableAllHooks: true, hooks: { Stop: stop } };
  fs.writeFileSync(path.join(spec.worktreePath, "team.json"), JSON.stringify(own));
  const inline = `claude --settings=${JSON.stringify(JSON.stringify(own))}`;
  for (const agent of ["claude --settings team.json --model opus", inline]) {
    warnings.length = 0;
    const argv = await argvOf(agent, spec);
    assert.is(argv.filter((word) => word === "--settings").length, 1, argv.join(" "));
    const settings = JSON.parse(argv[argv.indexOf("--settings") + 1]!);
    assert.is(settings.env.MY, "1", "the user's settings stay");
    const stops = JSON.stringify(settings.hooks.Stop);
    assert.ok(stops.includes('"mine"') && stops.includes("hook stop"), `both Stop hooks: ${stops}`);
    assert.ok(settings.permissions.allow.includes("Bash(orch:*)"));
    assert.is(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0]!, "sets disableAllHooks: orch's hooks will not run");
  }
});

test("claude --disallowedTools covering orch and --bare warn; the user's other options are kept", async () => {
  const { spec, warnings } = launch();
  const argv = await argvOf(`claude --disallowedTools "Bash(orch:*)" Edit --bare --dangerously-skip-permissions`, spec);
  assert.equal(argv.slice(0, 6), ["claude", "--disallowedTools", "Bash(orch:*)", "Edit", "--bare",
    "--dangerously-skip-permissions"]);
  assert.is(argv[6], "--session-id");
  assert.is(warnings.length, 2, warnings.join("\n"));
  assert.match(warnings.join("\n"), `disallows "Bash(orch:*)", which covers orch's own commands`);
  assert.match(warnings.join("\n"), "--bare skips the hooks");
  warnings.length = 0;
  await argvOf("claude --disallowedTools Edit,WebFetch --permission-mode plan --add-dir /x", spec);
  assert.equal(warnings, []);
});

test("claude's hidden options that take a value (--teammate-mode, --channels) are kept, their values too", async () => {
  const { spec } = launch();
  const given = ["--teammate-mode", "in-process", "--channels", "plugin:a@b", "--max-thinking-tokens", "8000"];
  const argv = await argvOf(`claude ${given.join(" ")}`, spec);
  assert.equal(argv.slice(0, 7), ["claude", ...given]);
  assert.is(argv[7], "--session-id");
});

test("an option newer than orch's tables keeps its value: the word is passed on as given, not refused", async () => {
  const { spec } = launch();
  // A value-taking option of a later Claude Code or Codex: its value is no subcommand, so it goes on as it is.
  const claude = await argvOf("claude --brand-new-option some-value --model opus", spec);
  assert.equal(claude.slice(0, 5), ["claude", "--brand-new-option", "some-value", "--model", "opus"]);
  const codex = await argvOf("codex --brand-new-option some-value", spec);
  assert.equal(codex.slice(0, 3), ["codex", "--brand-new-option", "some-value"]);
});

const refused: [string, RegExp][] = [
  ["codex exec", /codex's options only, not its "exec" command/],
  ["codex --model o3 e", /codex's options only, not its "e" command/],
  ["codex -C /elsewhere", /-C would have the worker work outside its worktree/],
  ["codex --cd=/elsewhere", /--cd would have the worker work outside its worktree/],
  ["codex --worktree", /--worktree would have the worker work outside its worktree/],
  ["claude -p", /-p answers once and exits/],
  ["claude --print --output-format json", /--print answers once and exits/],
  ["claude --session-id 11111111-2222-4333-8444-555555555555", /--session-id: orch gives each worker a new session/],
  ["claude --resume abc", /--resume: orch gives each worker/],
  ["claude -c", /-c: orch gives each worker/],
  ["claude --continue", /--continue: orch gives each worker/],
  ["claude -w", /-w would have the worker work in a worktree of Claude Code's own/],
  ["claude mcp", /claude's options only, not its "mcp" command/],
  ["claude --model opus update", /claude's options only, not its "update" command/],
];
for (const [agent, why] of refused) {
  test(`--agent "${agent}" is refused in one line`, async () => {
    await profileFor(agent).then(
      () => assert.unreachable("accepted"),
      (error: Error) => assert.match(error.message, why),
    );
  });
}

test("spawn with a refused --agent: exit 2, one line, no worktree, branch or worker made", () => {
  const { repo } = sessionRepo();
  const r = orch(["spawn", "feat/print", "--agent", "claude -p", "--prompt", "hi"], { cwd: repo });
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, "-p answers once and exits");
  assert.not.ok(fs.existsSync(path.join(path.dirname(repo), "repo-worktrees")), "no worktree");
  assert.is(orch(["list", "--json"], { cwd: repo }).json.workers.length, 0);
  const agent = "claude --settings nope.json";
  const missing = orch(["spawn", "feat/settings", "--agent", agent, "--prompt", "hi"], { cwd: repo });
  assert.is(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, "cannot read its --settings nope.json: no such file");
  assert.is(orch(["list", "--json"], { cwd: repo }).json.workers.length, 0);
  assert.is(git(["branch", "--list", "feat/*"], repo), "", "no branch left");
});

test("doctor refuses the options spawn refuses, in the same line (exit 2)", () => {
  const { repo } = sessionRepo();
  const r = orch(["doctor", "--agent", "codex --cd /elsewhere"], { cwd: repo });
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stderr.trim(), 'orch: --agent "codex --cd /elsewhere": --cd would have the worker work outside its ' +
    "worktree, where orch reads its commits; orch starts it in the worktree itself");
});

test("the caller's variables a worker gets: each agent's own and the proxies, never the orchestrator's session",
  async () => {
  const home = tempDir("orch-callerenv-");
  fs.writeFileSync(path.join(home, "config.toml"), '[model_providers.corp]\nenv_key = "CORP_LLM_KEY"\n');
  const caller: NodeJS.ProcessEnv = {
    ANTHROPIC_BASE_URL: "http://proxy", ANTHROPIC_API_KEY: "sk-a", ANTHROPIC_DEFAULT_OPUS_MODEL: "opus-x",
    CLAUDE_CONFIG_DIR: "/c", CLAUDE_CODE_USE_BEDROCK: "1", AWS_PROFILE: "work", VERTEX_REGION_CLAUDE_4_SONNET: "eu",
    CODEX_HOME: home, OPENAI_API_KEY: "sk-o", CORP_LLM_KEY: "sk-corp",
    HTTPS_PROXY: "http://p:3128", no_proxy: "localhost", NODE_EXTRA_CA_CERTS: "/ca.pem", SSL_CERT_FILE: "/ca2.pem",
    CLAUDECODE: "1", CLAUDE_CODE_ENTRYPOINT: "cli", CLAUDE_CODE_SSE_PORT: "1234", TMUX: "/tmp/t,1,0", TMUX_PANE: "%3",
    ORCH_ID: "orch_x", PATH: "/bin", HOME: "/home/u", SECRET_OF_ANOTHER_TOOL: "x", EMPTY: undefined,
  };
  const proxies = {
    HTTPS_PROXY: "http://p:3128", no_proxy: "localhost", NODE_EXTRA_CA_CERTS: "/ca.pem", SSL_CERT_FILE: "/ca2.pem",
  };
  assert.equal(callerAgentEnv(caller, (await profileFor("claude")).passedEnv), {
    ANTHROPIC_BASE_URL: "http://proxy", ANTHROPIC_API_KEY: "sk-a", ANTHROPIC_DEFAULT_OPUS_MODEL: "opus-x",
    CLAUDE_CONFIG_DIR: "/c", CLAUDE_CODE_USE_BEDROCK: "1", AWS_PROFILE: "work", VERTEX_REGION_CLAUDE_4_SONNET: "eu",
    ...proxies,
  });
  // With the user's options, the same agent, the same list.
  const withOptions = (await profileFor("/opt/claude --model opus")).passedEnv;
  assert.equal(callerAgentEnv(caller, withOptions).CLAUDE_CONFIG_DIR, "/c");
  assert.equal(callerAgentEnv(caller, (await profileFor("codex")).passedEnv), {
    CODEX_HOME: home, OPENAI_API_KEY: "sk-o", CORP_LLM_KEY: "sk-corp", ...proxies,
  });
  // Any other agent: the proxies alone.
  assert.equal(callerAgentEnv(caller, (await profileFor("aider --yes")).passedEnv), proxies);
  // A prefix never lets the orchestrator's own through.
  const family = { names: [], prefixes: ["CLAUDE", "TMUX", "ORCH_"] };
  assert.equal(callerAgentEnv(caller, family), { CLAUDE_CONFIG_DIR: "/c", CLAUDE_CODE_USE_BEDROCK: "1", ...proxies });
  // A config.toml that cannot be read names nothing more.
  const unreadable = callerAgentEnv({ ...caller, CODEX_HOME: "/nonexistent" }, (await profileFor("codex")).passedEnv);
  assert.not.ok("CORP_LLM_KEY" in unreadable);
});

test.run();
