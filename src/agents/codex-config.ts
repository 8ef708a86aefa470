// What Codex's own configuration decides about a worker that orch's command line cannot: the machine's files under
// /etc/codex, the user's, a profile's and the repository's. Read as Codex 0.169 layers them, line by line (orch carries
// no TOML parser), for the few keys orch needs: the sandbox, whether hooks run, rules that refuse orch's commands.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Codex's machine-wide folder on Linux and macOS (no variable moves it): config, managed config, requirements. */
export const CODEX_SYSTEM_DIR = "/etc/codex";

/** Codex's home folder (config.toml, sessions/): $CODEX_HOME, else ~/.codex. */
export function codexHome(env: NodeJS.ProcessEnv): string {
  return env.CODEX_HOME || path.join(env.HOME || os.homedir(), ".codex");
}

/** One `key = value` of a TOML file: the table it stands in ("" at the top) and its dotted key, unquoted. */
interface TomlEntry {
  table: string;
  key: string;
  value: string;
}

/** A configuration file Codex reads, with its entries. */
export interface ConfigFile {
  file: string;
  entries: TomlEntry[];
}

/** The parts of a dotted TOML key (`features.hooks`, `"a.b".c`), unquoted. */
function keyParts(key: string): string[] {
  return [...key.matchAll(/\s*(?:"([^"]*)"|'([^']*)'|([^.\s"']+))\s*(?:\.|$)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** A line `key = value` (the key bare, quoted or dotted). */
const KEY_VALUE = /^((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=\s*(.*)$/;

/** The entries of a TOML text; an array value spread over lines is joined into one. */
function tomlEntries(text: string): TomlEntry[] {
  const entries: TomlEntry[] = [];
  let table = "";
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[\[?([^\]]*)\]\]?/.exec(line);
    if (header) {
      table = keyParts(header[1]!).join(".");
      continue;
    }
    const pair = KEY_VALUE.exec(line);
    if (!pair) continue;
    let value = pair[2]!;
    while (value.startsWith("[") && !value.includes("]") && i + 1 < lines.length) value += ` ${lines[++i]!.trim()}`;
    entries.push({ table, key: keyParts(pair[1]!).join("."), value });
  }
  return entries;
}

/** The file's entries, or undefined when it is missing or cannot be read (Codex then reads nothing there either). */
export function readConfigFile(file: string): ConfigFile | undefined {
  try {
    return { file, entries: tomlEntries(fs.readFileSync(file, "utf8")) };
  } catch {
    return undefined;
  }
}

/** The raw value a file gives the dotted `name`: in its table, at the top, or in an inline table (`x = {…}`). */
export function settingIn(config: ConfigFile | undefined, name: string): string | undefined {
  for (const { table, key, value } of config?.entries ?? []) {
    const full = table ? `${table}.${key}` : key;
    if (full === name) return value;
    if (name.startsWith(`${full}.`) && value.startsWith("{")) {
      const inner = name.slice(full.length + 1);
      const found = new RegExp(`[{,]\\s*${inner.replace(/[.]/g, "\\.")}\\s*=\\s*([^,}]+)`).exec(value);
      if (found) return found[1]!.trim();
    }
  }
  return undefined;
}

/** A TOML boolean, or undefined for anything else. */
export function tomlBoolean(value: string | undefined): boolean | undefined {
  const word = /^(true|false)\b/.exec(value ?? "")?.[1];
  return word === undefined ? undefined : word === "true";
}

/** A TOML string (basic or literal), or undefined for anything else. */
export function tomlStringValue(value: string | undefined): string | undefined {
  const quoted = /^(?:"([^"]*)"|'([^']*)')/.exec(value ?? "");
  return quoted ? (quoted[1] ?? quoted[2]) : undefined;
}

/** The strings of a TOML array of strings, or undefined for anything else. */
export function tomlStrings(value: string | undefined): string[] | undefined {
  if (!value?.startsWith("[")) return undefined;
  return [...value.slice(0, value.indexOf("]") + 1).matchAll(/"([^"]*)"|'([^']*)'/g)].map((m) => m[1] ?? m[2]!);
}

/**
 * The configuration Codex reads for a session in `folder`, by precedence. Above orch's `-c` overrides: the
 * administrator's requirements.toml (constraints) and managed_config.toml (a layer over the command line, and its
 * approval_policy and sandbox_mode also constraints). Below them, highest first: the repository's .codex/config.toml
 * (read because orch trusts the repository), the profile of `-p NAME`, the user's config.toml, /etc/codex/config.toml.
 */
export interface CodexLayers {
  requirements?: ConfigFile;
  managed?: ConfigFile;
  belowCommandLine: ConfigFile[];
}

export function codexLayers(folder: string, env: NodeJS.ProcessEnv, profile?: string): CodexLayers {
  const home = codexHome(env);
  const files = [
    path.join(folder, ".codex", "config.toml"),
    ...(profile ? [path.join(home, `${profile}.config.toml`)] : []),
    path.join(home, "config.toml"),
    path.join(CODEX_SYSTEM_DIR, "config.toml"),
  ];
  const requirements = readConfigFile(path.join(CODEX_SYSTEM_DIR, "requirements.toml"));
  const managed = readConfigFile(path.join(CODEX_SYSTEM_DIR, "managed_config.toml"));
  return {
    ...(requirements ? { requirements } : {}),
    ...(managed ? { managed } : {}),
    belowCommandLine: files.map(readConfigFile).filter((file): file is ConfigFile => file !== undefined),
  };
}

/** Codex's name for each built-in permissions profile of `default_permissions`, as a sandbox mode. */
const BUILT_IN_PERMISSIONS: Record<string, string> = {
  ":read-only": "read-only",
  ":workspace": "workspace-write",
  ":danger-full-access": "danger-full-access",
};

/** A sandbox mode and what chose it (the options' words, or the file that sets it). */
export interface GivenSandbox {
  mode: string;
  source: string;
}

/** The sandbox a file chooses at its top: sandbox_mode, or a built-in profile named by default_permissions. */
export function sandboxIn(config: ConfigFile | undefined): GivenSandbox | undefined {
  if (!config) return undefined;
  const mode = tomlStringValue(settingIn(config, "sandbox_mode"));
  if (mode !== undefined) return { mode, source: `${config.file} sets sandbox_mode = ${JSON.stringify(mode)}` };
  const profile = tomlStringValue(settingIn(config, "default_permissions"));
  const builtIn = profile === undefined ? undefined : BUILT_IN_PERMISSIONS[profile];
  if (builtIn) return { mode: builtIn, source: `${config.file} sets default_permissions = ${JSON.stringify(profile)}` };
  return undefined;
}

/**
 * The sandbox modes the administrator allows, when restricted: requirements.toml's allowed_sandbox_modes, and the
 * sandbox_mode of managed_config.toml, which Codex takes as a requirement too (that mode, and read-only).
 */
export function allowedSandboxes(layers: CodexLayers): { modes: string[]; source: string } | undefined {
  const required = tomlStrings(settingIn(layers.requirements, "allowed_sandbox_modes"));
  const managed = tomlStringValue(settingIn(layers.managed, "sandbox_mode"));
  const fromManaged = managed === undefined ? undefined : [...new Set(["read-only", managed])];
  if (required && fromManaged) {
    const modes = required.filter((mode) => fromManaged.includes(mode));
    return { modes, source: `${layers.requirements!.file} and ${layers.managed!.file} allow only ${modes.join(", ")}` };
  }
  if (required) {
    const source = `${layers.requirements!.file} sets allowed_sandbox_modes = ${JSON.stringify(required)}`;
    return { modes: required, source };
  }
  if (fromManaged) {
    return { modes: fromManaged, source: `${layers.managed!.file} sets sandbox_mode = ${JSON.stringify(managed)}` };
  }
  return undefined;
}

/** Whether Codex runs hooks, and what decided it, when a file or option does. */
export interface HooksSwitch {
  on: boolean;
  source: string;
}

/** The hooks feature as a file sets it ([features] hooks, or the older name codex_hooks). */
export function hooksSwitchIn(config: ConfigFile | undefined): HooksSwitch | undefined {
  for (const name of ["features.hooks", "features.codex_hooks"]) {
    const on = tomlBoolean(settingIn(config, name));
    if (on !== undefined) return { on, source: `${config!.file} sets ${name} = ${on}` };
  }
  return undefined;
}

/** Why Codex runs none of orch's hooks in a worker whatever its command line says, or undefined when it runs them. */
export function hooksOffBy(layers: CodexLayers, commandLine: HooksSwitch | undefined): string | undefined {
  const pinned = hooksSwitchIn(layers.requirements);
  if (pinned && !pinned.on) return pinned.source;
  if (tomlBoolean(settingIn(layers.requirements, "allow_managed_hooks_only")) === true) {
    return `${layers.requirements!.file} sets allow_managed_hooks_only = true (only the administrator's hooks run)`;
  }
  const decided = pinned ?? hooksSwitchIn(layers.managed) ?? commandLine ??
    layers.belowCommandLine.map(hooksSwitchIn).find((found) => found !== undefined);
  return decided && !decided.on ? decided.source : undefined;
}

/** A rule's decision to refuse what it matches outright (not to ask). */
const FORBIDDEN = /decision\s*=\s*["']forbidden["']/;

/** The `prefix_rule(…)` calls of a Codex rules file (Starlark), each as one text. */
function prefixRules(text: string): string[] {
  return [...text.matchAll(/prefix_rule\s*\(([^)]*)\)/g)].map((m) => m[1]!);
}

/** Whether a rule's pattern starts with the word orch (alone, or among the first token's alternatives). */
function patternStartsWithOrch(rule: string): boolean {
  const pattern = /pattern\s*=\s*\[\s*(\[[^\]]*\]|"[^"]*"|'[^']*')/.exec(rule)?.[1];
  return pattern !== undefined && /["']orch["']/.test(pattern);
}

/**
 * The rules files that forbid commands starting with `orch` (the user's under $CODEX_HOME/rules, the repository's
 * under .codex/rules, read because orch trusts it; an administrator's requirements.toml [rules]): Codex refuses
 * orch notify and orch inbox there. One line each.
 */
export function rulesForbiddingOrch(folder: string, env: NodeJS.ProcessEnv): string[] {
  const found: string[] = [];
  for (const dir of [path.join(codexHome(env), "rules"), path.join(folder, ".codex", "rules")]) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((name) => name.endsWith(".rules")).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      let text: string;
      try {
        text = fs.readFileSync(path.join(dir, name), "utf8");
      } catch {
        continue;
      }
      const rule = prefixRules(text).find((r) => patternStartsWithOrch(r) && FORBIDDEN.test(r));
      if (rule) found.push(`${path.join(dir, name)} forbids commands starting with orch (prefix_rule(${rule.trim()}))`);
    }
  }
  const requirements = path.join(CODEX_SYSTEM_DIR, "requirements.toml");
  try {
    const text = fs.readFileSync(requirements, "utf8");
    if (text.split("\n").some((line) => /token\s*=\s*["']orch["']/.test(line) && /["']forbidden["']/.test(line))) {
      found.push(`${requirements} forbids commands starting with orch ([rules] prefix_rules)`);
    }
  } catch {
    // none there
  }
  return found;
}
