// What a repository, the user's files or the machine make Claude Code ask as a worker starts, before it reads its
// prompt (checked with 2.1.331): with nobody at its window, a worker would wait there for good, shown running. orch
// answers none of these questions for the user, so a repository cannot approve its own MCP servers or reach files
// outside it through orch: the repository's MCP servers the user has not approved are left out of the worker's
// session (what the question's own default answer does, for that session only, written nowhere), and for each other
// question the worker shows blocked, naming it, until someone answers it in its window. A decision made once in the
// main checkout holds in every worktree: Claude Code keeps it under the main checkout's root.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { tracksSync } from "../adapters/git.ts";
import {
  bypassDisabled, claudeConfigFile, claudeUserDir, isObject, type JsonObject, readConfig, sessionLayers,
  sessionSettings, type SettingsLayer, type StartPlace,
} from "./claude-config.ts";
import type { StartQuestion } from "./profile.ts";

/** The repository's own MCP servers (.mcp.json in the worktree), by name. */
function projectMcpServers(worktree: string): string[] {
  const config = readConfig(path.join(worktree, ".mcp.json"));
  const servers = isObject(config) ? config.mcpServers : undefined;
  return isObject(servers) ? Object.keys(servers) : [];
}

/** Claude Code's match of two server names: the same, or the same once spelled as a tool name ("my.db" is "my_db"). */
function sameServer(a: string, b: string): boolean {
  const asToolName = (name: string) => name.replace(/[^a-zA-Z0-9_-]/g, "_");
  return a === b || (!a.startsWith("plugin:") && !b.startsWith("plugin:") && asToolName(a) === asToolName(b));
}

const names = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];

/** True when git tracks the worktree's .claude/settings.local.json: Claude Code then takes no approval from it. */
function localSettingsTracked(worktree: string): boolean {
  return tracksSync(worktree, path.join(".claude", "settings.local.json"));
}

/**
 * The repository's MCP servers (.mcp.json) that the user has neither approved nor rejected, which Claude Code would
 * ask about as the worker starts ("New MCP server found in this project"), or run on the repository's own say: an
 * approval (enabledMcpjsonServers, enableAllProjectMcpServers) counts from the user's, the local, the managed
 * settings, the user's --settings and the project's entry in ~/.claude.json (where Claude Code kept them before, and
 * moves them from), not from the repository's own settings, nor from a settings.local.json that git tracks (Claude
 * Code takes none from it either): orch marks the repository trusted without the trust dialog, and through that a
 * repository must not run its own servers. A rejection (disabledMcpjsonServers) anywhere wins. In Bypass Permissions
 * mode, with the prompt for it turned off in the user's or the managed settings, Claude Code approves every server.
 */
export function unapprovedMcpServers(place: StartPlace, own: JsonObject, bypass: boolean): string[] {
  const servers = projectMcpServers(place.worktree);
  if (servers.length === 0) return [];
  const config = readConfig(claudeConfigFile(place.env));
  const projects = isObject(config) ? config.projects : undefined;
  const entry = isObject(projects) ? projects[place.mainRoot] : undefined;
  const where = claudeConfigFile(place.env);
  const fromConfig: SettingsLayer[] = isObject(entry) ? [{ where, source: "config", settings: entry }] : [];
  const deciding = [...sessionLayers(place, own), ...fromConfig];
  let tracked: boolean | undefined;
  const approves = ({ source, settings }: SettingsLayer) =>
    (settings.enableAllProjectMcpServers === true || names(settings.enabledMcpjsonServers).length > 0) &&
    source !== "project" && (source !== "local" || !(tracked ??= localSettingsTracked(place.worktree)));
  const approving = deciding.filter(approves);
  const rejected = deciding.flatMap(({ settings }) => names(settings.disabledMcpjsonServers));
  const skipsBypassPrompt = deciding.some(({ source, settings }) =>
    (source === "user" || source === "managed") && settings.skipDangerousModePermissionPrompt === true);
  const allApproved = approving.some(({ settings }) => settings.enableAllProjectMcpServers === true) ||
    (bypass && skipsBypassPrompt && bypassDisabled(place, own) === undefined);
  const approved = approving.flatMap(({ settings }) => names(settings.enabledMcpjsonServers));
  const among = (list: string[], server: string) => list.some((name) => sameServer(name, server));
  return servers.filter((server) => !among(rejected, server) && !allApproved && !among(approved, server));
}

/** The line that says which of the repository's MCP servers the worker starts without, and how to let it have them. */
export function mcpServersLeftOut(place: StartPlace, servers: string[]): string {
  const one = servers.length === 1;
  const listed = servers.map((name) => JSON.stringify(name)).join(", ");
  const local = path.join(place.mainRoot, ".claude", "settings.local.json");
  return `the repository's MCP server${one ? "" : "s"} ${listed} (.mcp.json) ${one ? "is" : "are"} not approved ` +
    `by you: workers start without ${one ? "it" : "them"} (orch approves none for you, and takes no approval from ` +
    `the repository's own settings); to let workers use one, approve it in the main checkout: answer Claude Code's ` +
    `question there (run claude in ${place.mainRoot}), or list it in enabledMcpjsonServers of ${local}`;
}

/** The import syntax of CLAUDE.md (Claude Code 2.1.331): "@path" at the start of a line or after a blank. */
const IMPORT = /(?:^|\s)@((?:[^\s\\]|\\ )+)/g;
/** How deep imports of imports are followed, as Claude Code does. */
const IMPORT_DEPTH = 5;

/** The paths a memory file imports, outside code blocks, code spans and HTML comments, resolved from its folder. */
function importsOf(text: string, file: string, home: string): string[] {
  const prose = text
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?(^\1[^\n]*$|(?![\s\S]))/gm, "")
    .replace(/`[^`\n]*`/g, "")
    .replace(/<!--[\s\S]*?-->/g, "");
  const found: string[] = [];
  for (const match of prose.matchAll(IMPORT)) {
    const written = match[1]!.split("#")[0]!.replaceAll("\\ ", " ");
    const marked = written.startsWith("./") || written.startsWith("~/") || (written.startsWith("/") && written !== "/");
    const bare = !written.startsWith("@") && !/^[#%^&*()]+/.test(written) && /^[a-zA-Z0-9._-]/.test(written);
    if (!marked && !bare) continue;
    const fromHome = written.startsWith("~/");
    found.push(fromHome ? path.join(home, written.slice(2)) : path.resolve(path.dirname(file), written));
  }
  return found;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function within(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}

/** The markdown files under a .claude/rules folder. */
function rulesIn(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((name) => name.endsWith(".md"))
      .map((name) => path.join(dir, name))
      .filter(isFile);
  } catch {
    return [];
  }
}

/**
 * The memory files of the project Claude Code loads in the worktree: CLAUDE.md, .claude/CLAUDE.md, .claude/rules/
 * and CLAUDE.local.md in the worktree and each folder above it (not those between the main checkout and a worktree
 * inside it), but the user's own (~/.claude/CLAUDE.md and rules), whose imports it does not ask about.
 */
function memoryFiles(place: StartPlace): string[] {
  const userDir = claudeUserDir(place.env);
  const files: string[] = [];
  for (let dir = place.worktree; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const between = within(dir, place.mainRoot) && !within(dir, place.worktree);
    if (!between) {
      const own = path.join(dir, ".claude");
      const project = own === userDir ? [] : [path.join(own, "CLAUDE.md"), ...rulesIn(path.join(own, "rules"))];
      files.push(path.join(dir, "CLAUDE.md"), ...project);
    }
    files.push(path.join(dir, "CLAUDE.local.md"));
  }
  return files.filter(isFile);
}

/**
 * The files outside the worktree that the project's CLAUDE.md files import (@~/notes.md, @../shared.md, followed
 * through imports of imports): Claude Code asks "Allow external CLAUDE.md file imports?" as it starts, until it has
 * been answered for the repository. Only files that are there count, as in Claude Code.
 */
export function externalImports(place: StartPlace): string[] {
  const home = place.env.HOME || os.homedir();
  const external = new Set<string>();
  const seen = new Set<string>();
  const follow = (file: string, depth: number) => {
    if (seen.has(file) || depth > IMPORT_DEPTH) return;
    seen.add(file);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      return;
    }
    for (const imported of importsOf(text, file, home)) {
      if (!isFile(imported)) continue;
      if (within(imported, place.worktree)) follow(imported, depth + 1);
      else external.add(imported);
    }
  };
  for (const file of memoryFiles(place)) follow(file, 0);
  return [...external];
}

/** Whether the repository's answer to the external imports question is recorded (its main root's entry). */
function importsAnswered(place: StartPlace): boolean {
  const config = readConfig(claudeConfigFile(place.env));
  const projects = isObject(config) ? config.projects : undefined;
  const entry = isObject(projects) ? projects[place.mainRoot] : undefined;
  return isObject(entry) &&
    (entry.hasClaudeMdExternalIncludesApproved === true || entry.hasClaudeMdExternalIncludesWarningShown === true);
}

/** The providers other than Anthropic's API, for which Claude Code asks nothing about ANTHROPIC_API_KEY. */
const OTHER_PROVIDERS = [
  "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY", "CLAUDE_CODE_USE_MANTLE",
  "CLAUDE_CODE_USE_ANTHROPIC_AWS", "CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD", "CLAUDE_CODE_USE_GATEWAY",
];

/**
 * The ANTHROPIC_API_KEY the worker's Claude Code will use, and where it comes from: the `env` of the settings with the
 * highest precedence that sets it (Claude Code puts the settings' env over its own environment), else orch's
 * environment, which the worker gets. None for another provider than Anthropic's API (Bedrock, Vertex, …).
 */
function apiKeyOf(place: StartPlace, own: JsonObject): { key: string; from: string } | undefined {
  const envOf = (settings: JsonObject): JsonObject => (isObject(settings.env) ? settings.env : {});
  const ordered = sessionLayers(place, own);
  const merged: JsonObject = Object.assign({}, place.env, ...ordered.map(({ settings }) => envOf(settings)));
  const chosen = (value: unknown) => typeof value === "string" && !["", "0", "false"].includes(value.toLowerCase());
  if (OTHER_PROVIDERS.some((name) => chosen(merged[name]))) return undefined;
  const setter = [...ordered].reverse().find(({ settings }) => typeof envOf(settings).ANTHROPIC_API_KEY === "string");
  if (setter) return { key: String(envOf(setter.settings).ANTHROPIC_API_KEY), from: `the env of ${setter.where}` };
  const key = place.env.ANTHROPIC_API_KEY;
  return key ? { key, from: "the environment orch passes on" } : undefined;
}

/** Whether the user answered Claude Code's question about this key (it keeps the key's last 20 characters). */
function keyAnswered(env: NodeJS.ProcessEnv, key: string): boolean {
  const config = readConfig(claudeConfigFile(env));
  const responses = isObject(config) ? config.customApiKeyResponses : undefined;
  if (!isObject(responses)) return false;
  const tail = key.trim().slice(-20);
  return names(responses.approved).includes(tail) || names(responses.rejected).includes(tail);
}

/**
 * The questions Claude Code will ask as a worker starts in `place`, in the order it asks them, which orch answers
 * none of: CLAUDE.md imports from outside the worktree, an ANTHROPIC_API_KEY it has not been told to use or not, a
 * settings file it cannot read ("Settings Error"). (The repository's MCP servers are not asked about: orch
 * leaves out those the user has not approved, see unapprovedMcpServers.)
 */
export function startQuestions(place: StartPlace, own: JsonObject): StartQuestion[] {
  const questions: StartQuestion[] = [];
  const imports = importsAnswered(place) ? [] : externalImports(place);
  if (imports.length > 0) {
    const listed = imports.slice(0, 3).join(", ") + (imports.length > 3 ? ", …" : "");
    questions.push({
      asks: "Allow external CLAUDE.md file imports?",
      advice: `the project's CLAUDE.md imports ${listed}, outside the worktree; answer it once for the repository ` +
        `by running claude in ${place.mainRoot} (Claude Code keeps that answer for its worktrees too)`,
    });
  }
  const key = apiKeyOf(place, own);
  if (key && !keyAnswered(place.env, key.key)) {
    questions.push({
      asks: "Detected a custom API key in your environment: Do you want to use this API key?",
      advice: `Claude Code has not been told whether to use the ANTHROPIC_API_KEY from ${key.from}; answer it once ` +
        "by running claude with that key (Claude Code keeps that answer for every session)",
    });
  }
  // The user's and the repository's settings stop it, after the questions above. A worktree's session passes over
  // the main checkout's settings.local.json when it is unreadable, and over one that git tracks (checked with 2.1.331).
  for (const { file, source, unusable } of sessionSettings(place)) {
    if (unusable === undefined || (source !== "user" && source !== "project")) continue;
    questions.push({
      asks: `Settings Error (${file})`,
      advice: `Claude Code cannot read ${file} (${unusable}) and asks whether to go on without it; fix the file`,
    });
  }
  return questions;
}
