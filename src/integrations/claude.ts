// Claude Code integration, install side: merging orch's allow rule and hooks into a settings file
// without disturbing anything else in it, and writing the orchestrator slash command.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode } from "../errors.ts";
import { ORCHESTRATOR_COMMAND } from "./claude-command.ts";

/** Matches `Bash(orch *)` too: Claude Code treats `:*` and ` *` at the end as the same wildcard. */
export const ALLOW_RULE = "Bash(orch:*)";
const ALLOW_EQUIVALENTS = new Set([ALLOW_RULE, "Bash(orch *)"]);

export const POST_TOOL_USE_COMMAND = "orch hook post-tool-use";
export const STOP_COMMAND = "orch hook stop";
export const STOP_FAILURE_COMMAND = "orch hook stop-failure";
export const USER_PROMPT_SUBMIT_COMMAND = "orch hook user-prompt-submit";
export const PERMISSION_REQUEST_COMMAND = "orch hook permission-request";
export const NOTIFICATION_COMMAND = "orch hook notification";
export const SESSION_START_COMMAND = "orch hook session-start";
/** Seconds. Claude Code's default for command hooks is 600; a stuck file system must not hold the agent that long. */
const HOOK_TIMEOUT = 30;
/**
 * The permission hook waits for orch approve/deny (up to 590 s, DEFAULT_APPROVAL_WAIT_S in
 * commands/hook.ts) while Claude Code shows its prompt in the window; a person can answer there too.
 */
const PERMISSION_HOOK_TIMEOUT = 600;

interface HookWish {
  event: string;
  matcher: string | undefined;
  command: string;
  timeout: number;
}

/**
 * PostToolUse fires only for Bash commands that exit 0, PostToolUseFailure for the others; both
 * accept additionalContext, so the worker sees the orchestrator's messages after either. Stop,
 * StopFailure and UserPromptSubmit have no matcher (StopFailure's, the kind of API error, would
 * leave some kinds unheard). PermissionRequest matches every tool (a
 * plan to approve is the ExitPlanMode tool); Notification only the notices of a person being needed.
 * SessionStart has none either: a /clear (source "clear") starts a new session, and so may what comes later.
 */
const HOOKS: HookWish[] = [
  { event: "PostToolUse", matcher: "Bash", command: POST_TOOL_USE_COMMAND, timeout: HOOK_TIMEOUT },
  { event: "PostToolUseFailure", matcher: "Bash", command: POST_TOOL_USE_COMMAND, timeout: HOOK_TIMEOUT },
  { event: "Stop", matcher: undefined, command: STOP_COMMAND, timeout: HOOK_TIMEOUT },
  // Claude Code runs it instead of Stop when a model API error (after its own retries) ended the turn.
  { event: "StopFailure", matcher: undefined, command: STOP_FAILURE_COMMAND, timeout: HOOK_TIMEOUT },
  { event: "UserPromptSubmit", matcher: undefined, command: USER_PROMPT_SUBMIT_COMMAND, timeout: HOOK_TIMEOUT },
  {
    event: "PermissionRequest",
    matcher: undefined,
    command: PERMISSION_REQUEST_COMMAND,
    timeout: PERMISSION_HOOK_TIMEOUT,
  },
  {
    event: "Notification",
    matcher: "permission_prompt|elicitation_dialog",
    command: NOTIFICATION_COMMAND,
    timeout: HOOK_TIMEOUT,
  },
  // A new session begins (a /clear in the window): resume continues it, not the one recorded at spawn.
  { event: "SessionStart", matcher: undefined, command: SESSION_START_COMMAND, timeout: HOOK_TIMEOUT },
];

/** Each hook event orch installs, with the command it runs: what `orch install claude --json` reports. */
export const INSTALLED_HOOK_COMMANDS: Record<string, string> =
  Object.fromEntries(HOOKS.map((h) => [h.event, h.command]));

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True when `command` runs orch's handler for the same event (also through a path such as ~/bin/orch). */
function isOrchHook(command: unknown, wanted: string): boolean {
  if (typeof command !== "string") return false;
  const words = command.trim().split(/\s+/);
  const want = wanted.split(" ");
  const sameProgram = path.basename(words[0]!) === want[0];
  const sameArguments = words.slice(1).join(" ") === want.slice(1).join(" ");
  return words.length === want.length && sameProgram && sameArguments;
}

function hasHook(groups: unknown[], command: string): boolean {
  const runsIt = (hook: unknown) => isObject(hook) && isOrchHook(hook.command, command);
  return groups.some((group) => isObject(group) && Array.isArray(group.hooks) && group.hooks.some(runsIt));
}

function shapeError(file: string, where: string, expected: string): OrchError {
  const why = `${where} is not ${expected}; fix it by hand, then run orch install claude again`;
  return new OrchError("refused", `cannot merge into ${file}: ${why}`);
}

export interface MergeResult {
  settings: JsonObject;
  changed: boolean;
}

/**
 * Adds the allow rule and the hooks that are missing; everything else stays as it was, in its
 * order. Refuses (changing nothing) when a part it must extend has an unexpected shape.
 */
export function mergeClaudeSettings(current: JsonObject, file: string): MergeResult {
  const settings: JsonObject = structuredClone(current);
  let changed = false;

  if (settings.permissions !== undefined && !isObject(settings.permissions)) {
    throw shapeError(file, '"permissions"', "an object");
  }
  const permissions: JsonObject = isObject(settings.permissions) ? settings.permissions : {};
  if (permissions.allow !== undefined && !Array.isArray(permissions.allow)) {
    throw shapeError(file, '"permissions.allow"', "an array");
  }
  const allow: unknown[] = Array.isArray(permissions.allow) ? permissions.allow : [];
  if (!allow.some((rule) => typeof rule === "string" && ALLOW_EQUIVALENTS.has(rule.trim()))) {
    allow.push(ALLOW_RULE);
    permissions.allow = allow;
    settings.permissions = permissions;
    changed = true;
  }

  if (settings.hooks !== undefined && !isObject(settings.hooks)) throw shapeError(file, '"hooks"', "an object");
  const hooks: JsonObject = isObject(settings.hooks) ? settings.hooks : {};
  for (const wish of HOOKS) {
    if (hooks[wish.event] !== undefined && !Array.isArray(hooks[wish.event])) {
      throw shapeError(file, `"hooks.${wish.event}"`, "an array");
    }
    const groups: unknown[] = Array.isArray(hooks[wish.event]) ? (hooks[wish.event] as unknown[]) : [];
    if (hasHook(groups, wish.command)) continue;
    const handler = { type: "command", command: wish.command, timeout: wish.timeout };
    groups.push(wish.matcher === undefined ? { hooks: [handler] } : { matcher: wish.matcher, hooks: [handler] });
    hooks[wish.event] = groups;
    settings.hooks = hooks;
    changed = true;
  }
  return { settings, changed };
}

type SettingsRead = { settings: JsonObject } | { problem: string; unreadable: boolean };

/** The settings object in `file` ({} when the file does not exist), or what keeps it from being one. */
function loadSettings(file: string): SettingsRead {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return { settings: {} };
    return { problem: `cannot read it: ${(error as Error).message}`, unreadable: true };
  }
  if (text.startsWith("\uFEFF")) {
    return { problem: "it is not valid JSON (it starts with a byte order mark)", unreadable: false };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `it is not valid JSON (${(error as Error).message.split("\n")[0]})`, unreadable: false };
  }
  if (!isObject(value)) return { problem: "it holds JSON but not an object", unreadable: false };
  return { settings: value };
}

/** The settings object in `file`: {} when the file does not exist; refused when it is not a JSON object. */
export function readSettingsFile(file: string): JsonObject {
  const read = loadSettings(file);
  if ("settings" in read) return read.settings;
  if (read.unreadable) {
    throw new OrchError("failed", `cannot read ${file}: ${read.problem.replace(/^cannot read it: /, "")}`);
  }
  const why = `cannot merge into ${file}: ${read.problem}; fix or move it, then run orch install claude again`;
  throw new OrchError("refused", why);
}

export interface PlannedFile {
  path: string;
  /** The new content, or undefined when the file already says what it should. */
  content: string | undefined;
}

/** Where install writes: the project's .claude/ (settings.local.json), or ~/.claude/ (settings.json). */
export interface InstallTarget {
  claudeDir: string;
  settingsFile: string;
}

/**
 * The main worktree's .claude/: Claude Code (2.1.211+) reads settings.local.json at the repository root
 * also when it runs in a linked worktree.
 */
export function projectTarget(mainRoot: string): InstallTarget {
  const claudeDir = path.join(mainRoot, ".claude");
  return { claudeDir, settingsFile: path.join(claudeDir, "settings.local.json") };
}

/** The user's ~/.claude ($HOME first, as Claude Code does). */
export function globalTarget(home: string): InstallTarget {
  const claudeDir = path.join(home, ".claude");
  return { claudeDir, settingsFile: path.join(claudeDir, "settings.json") };
}

/**
 * Works out both files before writing either, so a settings file that must be refused leaves the
 * slash command untouched too. The settings are rewritten only when something was added: an
 * unchanged file keeps its bytes, its formatting included.
 */
export function planInstall(target: InstallTarget): PlannedFile[] {
  const commandFile = path.join(target.claudeDir, "commands", "orchestrator-mode.md");
  let currentCommand: string | undefined;
  try {
    currentCommand = fs.readFileSync(commandFile, "utf8");
  } catch {
    currentCommand = undefined;
  }
  const merged = mergeClaudeSettings(readSettingsFile(target.settingsFile), target.settingsFile);
  return [
    { path: commandFile, content: currentCommand === ORCHESTRATOR_COMMAND ? undefined : ORCHESTRATOR_COMMAND },
    {
      path: target.settingsFile,
      content: merged.changed ? `${JSON.stringify(merged.settings, null, 2)}\n` : undefined,
    },
  ];
}

let tmpCounter = 0;

/** Where writing through `file` lands: itself, or the end of its chain of symbolic links, existing or not. */
function linkTarget(file: string): { target: string; linked: boolean } {
  let target = file;
  for (let hops = 0; hops < 40; hops++) {
    let link: string;
    try {
      if (!fs.lstatSync(target).isSymbolicLink()) break;
      link = fs.readlinkSync(target);
    } catch {
      break;
    }
    target = path.resolve(path.dirname(target), link);
  }
  // realpath also resolves links in the folders above; a dangling chain keeps its last name.
  try {
    target = fs.realpathSync(target);
  } catch {
    // does not exist (yet)
  }
  return { target, linked: target !== path.resolve(file) };
}

/** Gives the new content the old file's owner; refuses to take a file over from another user. */
function keepOwner(tmp: string, existing: fs.Stats): void {
  try {
    fs.chownSync(tmp, existing.uid, existing.gid);
  } catch {
    const owner = `uid ${existing.uid} (gid ${existing.gid})`;
    throw new Error(`it belongs to ${owner}, and the replacement could not be given that owner`);
  }
}

/**
 * Replaces a file atomically (temporary file in the same folder, then rename), keeping the mode and
 * the owner of the file it replaces. A symbolic link (git-gtr setups link settings.local.json into
 * worktrees) is followed, so the link stays a link and its target gets the new content; a dangling
 * link too: its target is created, in a folder that must exist, rather than the link replaced.
 * `newFileMode`: the mode of a file made anew (the umask's default otherwise), in a folder made 0700.
 */
export function writeFileReplacing(file: string, content: string, newFileMode?: number): void {
  const { target, linked } = linkTarget(file);
  let existing: fs.Stats | undefined;
  try {
    existing = fs.statSync(target);
  } catch {
    // A new file: the default mode under the user's umask.
  }
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${++tmpCounter}.tmp`);
  try {
    const folderMode = newFileMode === undefined ? undefined : 0o700;
    if (!linked) fs.mkdirSync(path.dirname(target), { recursive: true, mode: folderMode });
    fs.writeFileSync(tmp, content, { flag: "wx", mode: newFileMode });
    if (!existing && newFileMode !== undefined) fs.chmodSync(tmp, newFileMode);
    if (existing) {
      fs.chmodSync(tmp, existing.mode & 0o777);
      // A root (sudo) install must not leave the user a settings file they can no longer edit.
      const written = fs.statSync(tmp);
      if (existing.uid !== written.uid || existing.gid !== written.gid) keepOwner(tmp, existing);
    }
    fs.renameSync(tmp, target);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    const where = linked ? ` (a link to ${target})` : "";
    throw new OrchError("failed", `cannot write ${file}${where}: ${(error as Error).message}`);
  }
}
