// Claude Code's own files as orch reads them: its config (~/.claude.json), its user folder, and the settings files a
// worker's session merges, the machine's managed ones included (checked with 2.1.331).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { errnoCode } from "../errors.ts";

export type JsonObject = Record<string, unknown>;
export const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Claude Code's global config: $CLAUDE_CONFIG_DIR/.claude.json, else ~/.claude.json (checked with 2.1.328). */
export function claudeConfigFile(env: NodeJS.ProcessEnv): string {
  if (env.CLAUDE_CONFIG_DIR) return path.join(path.resolve(env.CLAUDE_CONFIG_DIR), ".claude.json");
  return path.join(env.HOME || os.homedir(), ".claude.json");
}

/** Claude Code's user folder (settings.json, projects/): $CLAUDE_CONFIG_DIR, else ~/.claude. */
export function claudeUserDir(env: NodeJS.ProcessEnv): string {
  return env.CLAUDE_CONFIG_DIR ? path.resolve(env.CLAUDE_CONFIG_DIR) : path.join(env.HOME || os.homedir(), ".claude");
}

/** The config as an object; undefined when the file does not exist; a string saying why when it is unusable. */
export function readConfig(file: string): JsonObject | undefined | string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    return `cannot read it: ${(error as Error).message}`;
  }
  return parseObject(text);
}

/** JSON text as an object, or a string saying why it is not one. */
function parseObject(text: string): JsonObject | string {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : "it holds JSON but not an object";
  } catch {
    return "it is not valid JSON";
  }
}

/** A settings file's object, or undefined when it is missing or not a JSON object (Claude Code then ignores it too). */
export function readSettings(file: string): JsonObject | undefined {
  const settings = readConfig(file);
  return typeof settings === "object" ? settings : undefined;
}

/**
 * Where the machine's administrator puts Claude Code's managed settings: managed-settings.json and the drop-in
 * folder managed-settings.d beside it. Claude Code 2.1.331 has no variable that moves them.
 */
function managedSettingsDir(): string | undefined {
  if (process.platform === "linux") return "/etc/claude-code";
  if (process.platform === "darwin") return "/Library/Application Support/ClaudeCode";
  return undefined;
}

/** The managed settings files there are: managed-settings.json, then managed-settings.d's *.json in name order. */
export function managedSettingsFiles(): string[] {
  const dir = managedSettingsDir();
  if (dir === undefined) return [];
  const dropIns = path.join(dir, "managed-settings.d");
  let names: string[] = [];
  try {
    // As Claude Code lists them: files (or links) ending in .json that are not hidden.
    names = fs.readdirSync(dropIns, { withFileTypes: true })
      .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && entry.name.endsWith(".json"))
      .map((entry) => entry.name)
      .filter((name) => !name.startsWith("."))
      .sort();
  } catch {
    // no drop-in folder
  }
  return [path.join(dir, "managed-settings.json"), ...names.map((name) => path.join(dropIns, name))];
}

/** Where a worker's Claude Code starts: the repository's main root, the worker's worktree, orch's environment. */
export interface StartPlace {
  mainRoot: string;
  worktree: string;
  env: NodeJS.ProcessEnv;
}

/** One settings file of a worker's session, as Claude Code would find it. */
export interface SessionSettingsFile {
  file: string;
  /** user (~/.claude/settings.json), project (the repository's), local (settings.local.json), managed. */
  source: "user" | "project" | "local" | "managed";
  /** What it holds; undefined when it is not there or is unusable (then `unusable` says why). */
  settings?: JsonObject;
  /** Why Claude Code cannot use it (not JSON, not an object): it stops at its "Settings Error" then. */
  unusable?: string;
}

/**
 * The settings files a worker's Claude Code reads, lowest precedence first: the user's, the repository's (in the
 * worktree), the local ones (a worktree's session reads the repository root's settings.local.json since 2.1.211; its
 * own too), the machine's managed ones.
 */
export function sessionSettings(place: StartPlace): SessionSettingsFile[] {
  const files: Omit<SessionSettingsFile, "settings">[] = [
    { file: path.join(claudeUserDir(place.env), "settings.json"), source: "user" },
    { file: path.join(place.worktree, ".claude", "settings.json"), source: "project" },
    { file: path.join(place.worktree, ".claude", "settings.local.json"), source: "local" },
    { file: path.join(place.mainRoot, ".claude", "settings.local.json"), source: "local" },
    ...managedSettingsFiles().map((file) => ({ file, source: "managed" as const })),
  ];
  const seen = new Set<string>();
  return files.filter(({ file }) => !seen.has(file) && Boolean(seen.add(file))).map((entry) => {
    const read = readSettingsText(entry.file);
    return typeof read === "string" ? { ...entry, unusable: read } : { ...entry, settings: read };
  });
}

/** As Claude Code reads a settings file: blank is empty settings; otherwise a JSON object, or why it is not one. */
function readSettingsText(file: string): JsonObject | undefined | string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    // Missing, or not readable (Claude Code then goes on without it).
    return undefined;
  }
  return text.trim() === "" ? {} : parseObject(text);
}

/** Settings of a session, and where they come from. */
export interface SettingsLayer {
  /** The file, or "--agent's --settings". */
  where: string;
  /** A settings file's source, the user's --settings ("flag"), or the project's entry in ~/.claude.json ("config"). */
  source: SessionSettingsFile["source"] | "flag" | "config";
  settings: JsonObject;
}

/**
 * The settings of a worker's session that say something, lowest precedence first: its settings files, with the user's
 * own --settings (given to orch in --agent) before the machine's managed ones, which no one else overrides.
 */
export function sessionLayers(place: StartPlace, own: JsonObject): SettingsLayer[] {
  const read = sessionSettings(place)
    .flatMap(({ file, source, settings }): SettingsLayer[] => (settings ? [{ where: file, source, settings }] : []));
  const flag: SettingsLayer = { where: "--agent's --settings", source: "flag", settings: own };
  return [...read.filter((l) => l.source !== "managed"), flag, ...read.filter((l) => l.source === "managed")];
}

/** The settings file (or --settings) that turns Bypass Permissions mode off, if one does. */
export function bypassDisabled(place: StartPlace, own: JsonObject): string | undefined {
  return sessionLayers(place, own).find(({ settings }) =>
    isObject(settings.permissions) && settings.permissions.disableBypassPermissionsMode === "disable")?.where;
}
