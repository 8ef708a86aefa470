// orch install claude: the slash command and the settings merge (kept settings, idempotence, refusal of invalid JSON).

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, scratchRepo, tempDir } from "./helpers.ts";

const SETTINGS = ".claude/settings.local.json";
const COMMAND = ".claude/commands/orchestrator-mode.md";

function readJsonFile(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** The commands of the handlers registered for `event`. */
function hookCommands(settings: Record<string, unknown>, event: string): string[] {
  const groups = ((settings.hooks as Record<string, unknown>)[event] ?? []) as { matcher?: string; hooks: { command: string }[] }[];
  return groups.flatMap((group) => group.hooks.map((h) => `${group.matcher ?? "*"} ${h.command}`));
}

/**
 * A minimal front-matter reader: the block between the first two `---` lines, made of `key: value`
 * lines and `- item` lists under a `key:` line. Anything else in the block is an error.
 */
function frontMatter(text: string): Record<string, string | string[]> {
  const lines = text.split("\n");
  assert.is(lines[0], "---", "the file starts with ---");
  const end = lines.indexOf("---", 1);
  assert.ok(end > 1, "the front matter is closed by ---");
  const fields: Record<string, string | string[]> = {};
  let listKey: string | undefined;
  for (const line of lines.slice(1, end)) {
    const item = /^\s+-\s+(.+)$/.exec(line);
    if (item && listKey) {
      (fields[listKey] as string[]).push(item[1]!);
      continue;
    }
    const pair = /^([A-Za-z][A-Za-z0-9_-]*):(?:\s+(.*))?$/.exec(line);
    assert.ok(pair, `front matter line is key: value: ${JSON.stringify(line)}`);
    const [, key, value] = pair!;
    assert.not.ok(key! in fields, `duplicate key ${key}`);
    if (value === undefined || value === "") {
      fields[key!] = [];
      listKey = key;
    } else {
      listKey = undefined;
      // A plain scalar must not start with a YAML indicator or hold ": " / " #"; quoted ones are unwrapped.
      if (/^["']/.test(value)) {
        assert.ok(value.endsWith(value[0]!), `closed quote in ${key}`);
        fields[key!] = value.slice(1, -1);
      } else {
        assert.not.ok(/^[[\]{}>|*&!%@`#,?:-]/.test(value), `${key} starts with a YAML indicator: ${value}`);
        assert.not.ok(/: | #/.test(value), `${key} holds ": " or " #": ${value}`);
        fields[key!] = value;
      }
    }
  }
  return fields;
}

test("into an empty project: the slash command and the settings with the allow rule and the hooks", () => {
  const repo = scratchRepo();
  const r = orch(["install", "claude", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.success, true);
  assert.equal(r.json.files, [
    { path: path.join(repo, COMMAND), changed: true },
    { path: path.join(repo, SETTINGS), changed: true },
  ]);
  const settings = readJsonFile(path.join(repo, SETTINGS));
  assert.equal((settings.permissions as { allow: string[] }).allow, ["Bash(orch:*)"]);
  assert.equal(hookCommands(settings, "PostToolUse"), ["Bash orch hook post-tool-use"]);
  assert.equal(hookCommands(settings, "PostToolUseFailure"), ["Bash orch hook post-tool-use"]);
  assert.equal(hookCommands(settings, "Stop"), ["* orch hook stop"]);
  assert.equal(hookCommands(settings, "UserPromptSubmit"), ["* orch hook user-prompt-submit"]);
  assert.equal(hookCommands(settings, "PermissionRequest"), ["* orch hook permission-request"]);
  assert.equal(hookCommands(settings, "Notification"), ["permission_prompt|elicitation_dialog orch hook notification"]);
  const permission = (settings.hooks as Record<string, { hooks: { timeout: number }[] }[]>).PermissionRequest![0]!;
  assert.ok(permission.hooks[0]!.timeout >= 590, "the permission hook may wait for orch approve");
  const stop = (settings.hooks as Record<string, { hooks: { type: string; timeout: number }[] }[]>).Stop![0]!;
  assert.is(stop.hooks[0]!.type, "command");
  assert.ok(stop.hooks[0]!.timeout > 0);
  assert.not.ok("matcher" in stop, "Stop takes no matcher");
  const writtenCommand = (event: string) => hookCommands(settings, event)[0]!.replace(/^\S+ /, "");
  const written = Object.fromEntries(Object.keys(settings.hooks as object).map((e) => [e, writtenCommand(e)]));
  assert.equal(r.json.hooks, written, "--json names every hook it wrote");
});

test("the slash command has valid front matter and walks through the orch workflow", () => {
  const repo = scratchRepo();
  assert.is(orch(["install", "claude"], { cwd: repo }).code, 0);
  const text = fs.readFileSync(path.join(repo, COMMAND), "utf8");
  const fields = frontMatter(text);
  assert.type(fields.description, "string");
  assert.ok((fields.description as string).length > 10);
  const tools = fields["allowed-tools"];
  const toolList = Array.isArray(tools) ? tools : tools!.split(/,\s*/);
  assert.ok(toolList.includes("Bash(orch:*)"), String(tools));
  assert.not.ok(toolList.some((t) => t.startsWith("mcp__")), "no MCP tools");
  const mentioned = [
    "orch init",
    "run_in_background: true",
    "orch poll --wait",
    "orch spawn",
    "--plan",
    "orch status",
    "orch list",
    "orch await",
    "orch reply",
    "orch diff",
    "orch pr",
    "orch apply",
    "orch merge",
    "orch land",
    "--test",
    "orch clean --merged --yes",
    "$ARGUMENTS",
    "ORCH_ID=$(orch init)",
    // Two orchestrators at one repository: a command without --orch says so on stderr; it is told to name its own.
    "If you see that line, run the command again with `--orch <id>`, your id",
  ];
  for (const needed of mentioned) {
    assert.ok(text.includes(needed), `the command mentions ${needed}`);
  }
});

test("existing settings and hooks are kept; a second run changes nothing, byte for byte", () => {
  const repo = scratchRepo();
  const file = path.join(repo, SETTINGS);
  const existing = {
    model: "opus",
    env: { FOO: "bar" },
    permissions: { allow: ["Bash(npm test:*)"], deny: ["Bash(rm:*)"] },
    hooks: {
      PostToolUse: [{ matcher: "Edit|Write", hooks: [{ type: "command", command: "prettier --write" }] }],
      Stop: [{ hooks: [{ type: "command", command: "say done" }] }],
      SessionStart: [{ hooks: [{ type: "command", command: "echo hi" }] }],
    },
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(existing));
  assert.is(orch(["install", "claude"], { cwd: repo }).code, 0);
  const merged = readJsonFile(file);
  assert.is(merged.model, "opus");
  assert.equal(merged.env, { FOO: "bar" });
  assert.equal(merged.permissions, { allow: ["Bash(npm test:*)", "Bash(orch:*)"], deny: ["Bash(rm:*)"] });
  assert.equal(hookCommands(merged, "PostToolUse"), ["Edit|Write prettier --write", "Bash orch hook post-tool-use"]);
  assert.equal(hookCommands(merged, "Stop"), ["* say done", "* orch hook stop"]);
  assert.equal(hookCommands(merged, "SessionStart"), ["* echo hi", "* orch hook session-start"]);

  const before = fs.readFileSync(file);
  const commandBefore = fs.readFileSync(path.join(repo, COMMAND));
  const again = orch(["install", "claude", "--json"], { cwd: repo });
  assert.is(again.code, 0, again.stderr);
  assert.equal(again.json.files.map((f: { changed: boolean }) => f.changed), [false, false]);
  assert.ok(fs.readFileSync(file).equals(before), "settings byte-identical");
  assert.ok(fs.readFileSync(path.join(repo, COMMAND)).equals(commandBefore), "command byte-identical");
});

test("a file that already has orch's rule and hooks is left exactly as written, formatting included", () => {
  const repo = scratchRepo();
  const file = path.join(repo, SETTINGS);
  const text = `{"permissions":{"allow":["Bash(orch *)"]},"hooks":{` +
    `"PostToolUse":[{"matcher":"*","hooks":[{"type":"command","command":"/usr/local/bin/orch hook post-tool-use"}]}],` +
    `"PostToolUseFailure":[{"matcher":"Bash","hooks":[{"type":"command","command":"orch hook post-tool-use"}]}],` +
    `"Stop":[{"hooks":[{"type":"command","command":"orch hook stop"}]}],` +
    `"StopFailure":[{"hooks":[{"type":"command","command":"orch hook stop-failure"}]}],` +
    `"UserPromptSubmit":[{"hooks":[{"type":"command","command":"orch hook user-prompt-submit"}]}],` +
    `"PermissionRequest":[{"hooks":[{"type":"command","command":"orch hook permission-request","timeout":600}]}],` +
    `"Notification":[{"matcher":"permission_prompt","hooks":[{"type":"command","command":"orch hook notification"}]}],` +
    `"SessionStart":[{"hooks":[{"type":"command","command":"orch hook session-start"}]}]}}`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  const r = orch(["install", "claude", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.files[1].changed, false);
  assert.is(fs.readFileSync(file, "utf8"), text);
});

test("invalid JSON or a non-object is refused with exit 1, one line, and nothing is touched", () => {
  for (const content of ["{ \"model\": \"opus\", }", "[1, 2]", "", "// comment\n{}"]) {
    const repo = scratchRepo();
    const file = path.join(repo, SETTINGS);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    const r = orch(["install", "claude", "--json"], { cwd: repo });
    assert.is(r.code, 1, `${JSON.stringify(content)}: ${r.stderr}`);
    assert.is(r.json.success, false);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /settings\.local\.json/);
    assert.is(fs.readFileSync(file, "utf8"), content, "file untouched");
    assert.not.ok(fs.existsSync(path.join(repo, COMMAND)), "no slash command written either");
    assert.equal(fs.readdirSync(path.dirname(file)).sort(), ["settings.local.json"], "no temp file left");
  }
});

test("a part of the settings with the wrong shape is refused, not overwritten", () => {
  const repo = scratchRepo();
  const file = path.join(repo, SETTINGS);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const content = JSON.stringify({ hooks: { PostToolUse: { matcher: "Bash" } } });
  fs.writeFileSync(file, content);
  const r = orch(["install", "claude"], { cwd: repo });
  assert.is(r.code, 1);
  assert.match(r.stderr, /hooks\.PostToolUse/);
  assert.is(fs.readFileSync(file, "utf8"), content);
});

test("from a linked worktree it installs into the main worktree's .claude/", () => {
  const repo = scratchRepo();
  const linked = path.join(path.dirname(repo), "linked");
  git(["worktree", "add", "-q", "-b", "side", linked], repo);
  assert.is(orch(["install", "claude"], { cwd: path.join(linked) }).code, 0);
  assert.ok(fs.existsSync(path.join(repo, SETTINGS)));
  assert.not.ok(fs.existsSync(path.join(linked, ".claude")));
});

test("--global writes ~/.claude/settings.json and ~/.claude/commands under $HOME, keeping what is there", () => {
  const home = tempDir();
  const file = path.join(home, ".claude/settings.json");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ theme: "dark", permissions: { allow: ["Read"] } }, null, 4));
  fs.chmodSync(file, 0o600);
  const r = orch(["install", "claude", "--global", "--json"], { cwd: home, env: { HOME: home } });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.scope, "global");
  const settings = readJsonFile(file);
  assert.is(settings.theme, "dark");
  assert.equal((settings.permissions as { allow: string[] }).allow, ["Read", "Bash(orch:*)"]);
  assert.equal(hookCommands(settings, "Stop"), ["* orch hook stop"]);
  assert.is(fs.statSync(file).mode & 0o777, 0o600, "the file keeps its mode");
  assert.ok(fs.existsSync(path.join(home, ".claude/commands/orchestrator-mode.md")));
});

test("other agents and bad usage exit 2; outside a repository without --global exits 1", () => {
  const repo = scratchRepo();
  assert.is(orch(["install", "codex"], { cwd: repo }).code, 2);
  assert.is(orch(["install"], { cwd: repo }).code, 2);
  const outside = tempDir();
  const r = orch(["install", "claude"], { cwd: outside, env: { HOME: outside } });
  assert.is(r.code, 1);
  assert.match(r.stderr, /git repository/);
});

test("a dangling link stays a link: its target is created, or, when its folder is missing, install fails", () => {
  const repo = scratchRepo();
  const outside = tempDir();
  const file = path.join(repo, SETTINGS);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.symlinkSync(path.join(outside, "shared-settings.json"), file);
  const r = orch(["install", "claude"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.ok(fs.lstatSync(file).isSymbolicLink(), "the link is still a link");
  assert.equal(hookCommands(readJsonFile(path.join(outside, "shared-settings.json")), "Stop"), ["* orch hook stop"]);

  const other = scratchRepo();
  const otherFile = path.join(other, SETTINGS);
  fs.mkdirSync(path.dirname(otherFile), { recursive: true });
  const missing = path.join(outside, "not-mounted", "settings.json");
  fs.symlinkSync(missing, otherFile);
  const refused = orch(["install", "claude"], { cwd: other });
  assert.is(refused.code, 1, refused.stderr);
  assert.is(refused.stderr.trim().split("\n").length, 1, refused.stderr);
  assert.match(refused.stderr, /a link to .*not-mounted/);
  assert.is(fs.readlinkSync(otherFile), missing, "the link is untouched");
  assert.not.ok(fs.existsSync(path.dirname(missing)), "no folder made where the link points");
});

test("a settings file of another user keeps its owner when root installs (sudo orch install claude --global)", () => {
  if (process.getuid?.() !== 0) return;
  const home = tempDir();
  const file = path.join(home, ".claude/settings.json");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ theme: "dark" }));
  fs.chownSync(file, 65534, 65534);
  const r = orch(["install", "claude", "--global"], { cwd: home, env: { HOME: home } });
  assert.is(r.code, 0, r.stderr);
  assert.is(readJsonFile(file).theme, "dark");
  assert.ok(fs.readFileSync(file, "utf8").includes("orch hook stop"));
  const stat = fs.statSync(file);
  assert.equal([stat.uid, stat.gid], [65534, 65534], "still the user's file");
});

test.run();
