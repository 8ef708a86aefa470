// Claude Code as a worker: how it starts unattended (orch's allow rule and hooks through --settings, a
// session id for resume, plan mode for --plan, the prompt after "--") and the trust record orch writes
// into Claude Code's own config so a new repository's workers start without the trust dialog.

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { asGiven, errnoCode, OrchError, usage } from "../errors.ts";
import { ALLOW_RULE, mergeClaudeSettings, writeFileReplacing } from "../integrations/claude.ts";
import { StoreLayout } from "../store/layout.ts";
import type { PassedEnv } from "./caller-env.ts";
import {
  bypassDisabled, claudeConfigFile, claudeUserDir, isObject, type JsonObject, readConfig, readSettings,
  sessionSettings, type StartPlace,
} from "./claude-config.ts";
import { mcpServersLeftOut, startQuestions, unapprovedMcpServers } from "./claude-start.ts";
import { CLAUDE_OPTIONS, CLAUDE_SUBCOMMANDS, given, readOptions, subcommandOf } from "./options.ts";
import type { AgentProfile, LaunchSpec, PermissionHook, TrustReport } from "./profile.ts";

/**
 * Whether Claude Code can resume session `id`: false when it saved no message of it, so `--resume` would answer
 * "No conversation found". Claude Code 2.1.330 keeps a session in <user folder>/projects/<the working directory,
 * spelled as a folder name>/<id>.jsonl: one it was stopped in before it saved a message (right after a /clear,
 * or as it began) holds only a "mode" line, or is not there. With no projects folder to look in, true: orch
 * cannot tell, and Claude Code says so itself if it cannot. Only the file's start is read: a long conversation's
 * file (hundreds of MB, over what one string or read can hold) was taken for one with nothing saved, and the
 * worker started its task over. A file orch cannot read (mode 000) is refused, naming it: Claude Code could
 * not read it either.
 */
function resumable(env: NodeJS.ProcessEnv, id: string): boolean {
  const projects = path.join(claudeUserDir(env), "projects");
  let folders: string[];
  try {
    folders = fs.readdirSync(projects);
  } catch {
    return true;
  }
  for (const folder of folders) {
    const file = path.join(projects, folder, `${id}.jsonl`);
    let head: string;
    let size: number;
    try {
      const fd = fs.openSync(file, "r");
      try {
        size = fs.fstatSync(fd).size;
        const buffer = Buffer.alloc(Math.min(size, SESSION_HEAD_BYTES));
        head = buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, 0)).toString("utf8");
      } finally {
        fs.closeSync(fd);
      }
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw new OrchError("refused", `cannot read Claude Code's session file ${file} (${code ?? String(error)}): ` +
        "fix its permissions, then resume again");
    }
    // A file holding only its mode line is a line long; one longer than what is read holds more.
    return /"type":\s*"(user|assistant)"/.test(head) || size > SESSION_HEAD_BYTES;
  }
  return false;
}

/** How much of a Claude Code session file resumable reads: its first lines, never all of a long one. */
const SESSION_HEAD_BYTES = 256 * 1024;

/** True when Claude Code would not ask about `root`: it, or a folder above it, is marked trusted. */
function trusted(config: JsonObject | undefined, root: string): boolean {
  const projects = config?.projects;
  if (!isObject(projects)) return false;
  for (let dir = root; ; dir = path.dirname(dir)) {
    const entry = projects[dir];
    if (isObject(entry) && entry.hasTrustDialogAccepted === true) return true;
    if (path.dirname(dir) === dir) return false;
  }
}

/**
 * Marks the main worktree's root trusted the way Claude Code's own dialog does
 * (projects[root].hasTrustDialogAccepted = true): linked worktrees of the repository are then trusted
 * too. Done under Claude Code's own lock on the file (proper-lockfile, <file>.lock), re-reading it
 * there, so a Claude Code writing at the same moment loses nothing and nothing else in it changes.
 */
export async function markTrusted(root: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const file = claudeConfigFile(env);
  const leftAlone = (why: string) => [
    `Claude Code's config ${file} was left alone (${why}): its workers will ask whether to trust ${root}`,
  ];
  const before = readConfig(file);
  if (typeof before === "string") return leftAlone(before);
  if (trusted(before, root)) return [];
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const { withLock } = await import("../store/lock.ts");
  return withLock(file, `Claude Code's config ${file}`, async () => {
    const config = readConfig(file);
    if (typeof config === "string") return leftAlone(config);
    if (trusted(config, root)) return [];
    const next: JsonObject = config ?? {};
    if (next.projects !== undefined && !isObject(next.projects)) return leftAlone('"projects" is not an object');
    const projects: JsonObject = isObject(next.projects) ? next.projects : {};
    const entry: JsonObject = isObject(projects[root]) ? projects[root] : {};
    entry.hasTrustDialogAccepted = true;
    projects[root] = entry;
    next.projects = projects;
    try {
      // 0600 when it is new, as Claude Code makes it: the config holds the user's ids.
      writeFileReplacing(file, `${JSON.stringify(next, null, 2)}\n`, 0o600);
    } catch (error) {
      const why = (error as Error).message;
      return [`could not mark ${root} trusted in Claude Code's config ${file} (${why}): its workers will ask`];
    }
    return [
      `marked ${root} trusted for Claude Code in ${file} (as its trust dialog would), so workers start unattended`,
    ];
  });
}

function checkTrust(mainRoot: string, env: NodeJS.ProcessEnv): TrustReport {
  const file = claudeConfigFile(env);
  const config = readConfig(file);
  if (typeof config === "string") {
    return {
      ok: false,
      detail: `cannot tell whether ${mainRoot} is trusted: ${file}: ${config}`,
      fix: `repair ${file} (Claude Code's config)`,
    };
  }
  if (trusted(config, mainRoot)) return { ok: true, detail: `${mainRoot} is trusted in ${file}` };
  // Nothing for the user to do, so no warning: spawn marks it before the first claude worker starts.
  return {
    ok: true,
    detail: `${mainRoot} is not marked trusted in ${file} yet; orch spawn marks it ` +
      "(projects[root].hasTrustDialogAccepted) before the first claude worker starts",
  };
}

/** Commands a worker must be able to run: a deny rule that matches one of them keeps it from reporting. */
const ORCH_COMMANDS = ["orch notify --type task_complete --summary done", "orch inbox"];

/** True when a permissions.deny rule of Claude Code's (`Bash`, `Bash(orch *)`, `Bash(orch:*)`, …) covers orch. */
function deniesOrch(rule: unknown): boolean {
  if (typeof rule !== "string") return false;
  const match = /^Bash(?:\((.*)\))?$/.exec(rule.trim());
  if (!match) return false;
  if (match[1] === undefined) return true;
  // "prefix:*" is the old spelling of "prefix *", which also matches "prefix" alone; "*" matches anything.
  const pattern = match[1].replace(/:\*$/, " *");
  const literal = (part: string) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  const regex = new RegExp(`^${pattern.split("*").map(literal).join(".*")}$`);
  return ORCH_COMMANDS.some((command) => regex.test(command) || regex.test(`${command} `));
}

/**
 * What in the Claude Code settings a worker reads keeps orch from hearing it, one line each: disableAllHooks
 * (orch's hooks then never run: no idle, no blocked, no wake-up) and a deny rule that covers orch's commands (deny
 * wins over orch's allow rule: orch notify is refused), in the user's, the project's, the local or the machine's
 * managed settings; and, in managed settings only (Claude Code honours them nowhere else), allowManagedHooksOnly and
 * allowManagedPermissionRulesOnly, which leave orch's hooks and its allow rule unread, and a managed file that is
 * not JSON, with which Claude Code does not start at all.
 */
export function settingsProblems(mainRoot: string, worktree: string, env: NodeJS.ProcessEnv): string[] {
  return sessionSettings({ mainRoot, worktree, env }).flatMap(({ file, source, settings, unusable }) => {
    // Checked with 2.1.331: Claude Code exits at once ("none of its settings are in effect"), so the worker fails.
    if (source === "managed" && unusable) return [`${file}: ${unusable}, and Claude Code refuses to start with it`];
    if (!settings) return [];
    return [...problemsOf(settings, file), ...(source === "managed" ? managedProblemsOf(settings, file) : [])];
  });
}

/** What the machine's managed settings (from `where`) keep orch's --settings from doing, one line each. */
function managedProblemsOf(settings: JsonObject, where: string): string[] {
  const problems: string[] = [];
  // Checked with 2.1.331: orch's hooks, passed with --settings, never run; orch notify waits at a permission prompt.
  if (settings.allowManagedHooksOnly === true) {
    problems.push(`${where} sets allowManagedHooksOnly: Claude Code runs only the machine's managed hooks, not ` +
      "orch's, so orch hears no idle or blocked from its workers and cannot wake them (only their own orch notify " +
      "reports); ask the machine's administrator to add orch's hooks there (those orch install claude writes)");
  }
  if (settings.allowManagedPermissionRulesOnly === true) {
    problems.push(`${where} sets allowManagedPermissionRulesOnly: Claude Code ignores orch's allow rule, so each ` +
      "orch notify and orch inbox of a worker waits for approval at a permission prompt; ask the machine's " +
      `administrator to allow ${JSON.stringify(ALLOW_RULE)} there`);
  }
  return problems;
}

/** What in one settings object (from `where`) keeps orch from hearing a worker, one line each. */
function problemsOf(settings: JsonObject, where: string): string[] {
  const problems: string[] = [];
  if (settings.disableAllHooks === true) {
    problems.push(`${where} sets disableAllHooks: orch's hooks will not run in Claude Code workers, so orch ` +
      "hears no idle or blocked from them and cannot wake them (only their own orch notify reports)");
  }
  const deny = isObject(settings.permissions) ? settings.permissions.deny : undefined;
  const rule = Array.isArray(deny) ? deny.find(deniesOrch) : undefined;
  if (rule !== undefined) {
    problems.push(`${where} denies ${JSON.stringify(rule)}, which covers orch's own commands: Claude Code ` +
      "workers cannot run orch notify or orch inbox (deny wins over orch's allow rule)");
  }
  return problems;
}

/**
 * The settings every worker gets on its command line, whatever the repository holds: the allow rule
 * for orch's own commands (so reports never wait at a permission prompt, in any permission mode that
 * asks) and orch's hooks (the same command lines `orch install claude` writes, which Claude Code then
 * runs once), plus reading the worker's own prompt file (ORCH_PROMPT_FILE, outside the worktree).
 */
export function workerSettings(spec: LaunchSpec, own: JsonObject = {}): JsonObject {
  const settings = mergeClaudeSettings(own, "--settings").settings;
  const workerDir = new StoreLayout(spec.storeRoot).workerDir(spec.orchestratorId, spec.workerId);
  const permissions = settings.permissions as { allow: string[] };
  // "//" starts an absolute path in Claude Code's permission rules.
  permissions.allow.push(`Read(/${workerDir}/**)`);
  return settings;
}

type Rule = Record<string, unknown>;

/** --always: the rules Claude Code suggested for this prompt, kept for this session only. */
function sessionRules(toolName: string, suggestions: unknown): Rule[] {
  const forThisSession = (rule: Rule): Rule => ({ ...rule, destination: "session" });
  const suggested = Array.isArray(suggestions)
    ? suggestions.filter((s): s is Rule => isObject(s) && s.type === "addRules").map(forThisSession)
    : [];
  const allowThisTool: Rule = { type: "addRules", rules: [{ toolName }], behavior: "allow", destination: "session" };
  return suggested.length > 0 ? suggested : [allowThisTool];
}

/**
 * Claude Code's PermissionRequest decision (checked with 2.1.328): allow hands the original input back
 * as updatedInput, which interactive tools such as ExitPlanMode need; --always adds the suggested rules
 * with destination "session", so nothing is written to a settings file.
 */
export const claudePermissionHook: PermissionHook = {
  allowsAlways: true,
  decision(answer, request) {
    if (answer.behavior === "deny") return { behavior: "deny", message: answer.message };
    const always = answer.always && request.toolName !== "ExitPlanMode";
    return {
      behavior: "allow",
      updatedInput: request.toolInput,
      ...(always ? { updatedPermissions: sessionRules(request.toolName, request.suggestions) } : {}),
    };
  },
};

/** What orch reads in the user's own claude options (`--agent "claude --settings team.json"`). */
export interface ClaudeOptions {
  /** The options as given, less their --settings, which orch merges into its own. */
  rest: string[];
  /** Their --settings (the last one counts, as in Claude Code): inline JSON or a file. */
  settings?: string;
  /** They start the session in Bypass Permissions mode (--dangerously-skip-permissions, bypassPermissions). */
  bypass?: boolean;
  /** They choose a permission mode (--permission-mode): the one of the user's settings then does not count. */
  choosesMode?: boolean;
}

/**
 * A --settings value as Claude Code reads it: JSON when it starts with "{", else a file from the worktree; and
 * how a warning names it.
 */
function ownSettings(value: string, worktree: string, line: string): { settings: JsonObject; named: string } {
  const inline = value.trimStart().startsWith("{");
  const where = inline ? "--settings" : path.resolve(worktree, value);
  let text = value;
  if (!inline) {
    try {
      text = fs.readFileSync(where, "utf8");
    } catch (error) {
      const why = errnoCode(error) === "ENOENT" ? "no such file (a relative one is read in the worker's worktree)"
        : (error as Error).message;
      throw usage(`--agent ${JSON.stringify(line)}: cannot read its --settings ${asGiven(value)}: ${why}`);
    }
  }
  try {
    const settings: unknown = JSON.parse(text);
    if (isObject(settings)) return { settings, named: `--agent's --settings${inline ? "" : ` ${where}`}` };
  } catch {
    // said below
  }
  throw usage(`--agent ${JSON.stringify(line)}: its --settings ${inline ? "" : `${where} `}is not a JSON object`);
}

/**
 * The user's claude options, read once. Refused (usage, exit 2): a subcommand (subcommandOf), -p/--print (one
 * answer and exit: no window to wake), --session-id, -r/--resume, -c/--continue, --fork-session (orch gives
 * each worker a session of its own, which resume continues), -w/--worktree and --tmux (a worktree of
 * Claude Code's own, not the worker's). Warned about: what keeps orch's hooks or commands from working.
 */
export function readClaudeOptions(line: string, words: string[], warn: (line: string) => void): ClaudeOptions {
  const options = readOptions(words, CLAUDE_OPTIONS, "commander");
  const refuse = (why: string) => usage(`--agent ${JSON.stringify(line)}: ${why}`);
  const subcommand = subcommandOf(options, CLAUDE_SUBCOMMANDS);
  if (subcommand !== undefined) {
    throw refuse(`orch starts Claude Code's interactive session with the task as its prompt, so --agent takes ` +
      `claude's options only, not its ${JSON.stringify(subcommand)} command`);
  }
  const print = given(options, "-p", "--print")[0];
  if (print) {
    throw refuse(`${print.name} answers once and exits: orch needs the interactive session, which it wakes with ` +
      "send and continues with resume");
  }
  const session = given(options, "--session-id", "-r", "--resume", "-c", "--continue", "--fork-session")[0];
  if (session) {
    throw refuse(`${session.name}: orch gives each worker a new session of its own (--session-id), which resume ` +
      "continues; to continue a worker's conversation use orch resume");
  }
  const away = given(options, "-w", "--worktree", "--tmux")[0];
  if (away) {
    throw refuse(`${away.name} would have the worker work in a worktree of Claude Code's own, not its own, where ` +
      "orch reads its commits");
  }
  if (given(options, "--bare").length > 0) {
    warn(`--agent ${JSON.stringify(line)}: --bare skips the hooks in settings, orch's too, so orch hears no idle ` +
      "or blocked from its workers and cannot wake them (only their own orch notify reports)");
  }
  for (const option of given(options, "--disallowedTools", "--disallowed-tools")) {
    const rule = option.values.flatMap((value) => value.split(/[,\s]+(?![^(]*\))/)).find(deniesOrch);
    if (rule !== undefined) {
      warn(`--agent ${JSON.stringify(line)} disallows ${JSON.stringify(rule.trim())}, which covers orch's own ` +
        "commands: its workers cannot run orch notify or orch inbox");
    }
  }
  const settings = given(options, "--settings").at(-1)?.values[0];
  // The words as given, less each --settings and its value (other words, an unknown option's value, stay).
  const merged = new Set(given(options, "--settings").flatMap((o) => o.words.map((_, k) => o.at + k)));
  const rest = words.filter((_, k) => !merged.has(k));
  const mode = given(options, "--permission-mode").at(-1)?.values[0];
  const bypass = given(options, "--dangerously-skip-permissions").length > 0 || mode === "bypassPermissions";
  return {
    rest,
    ...(settings === undefined ? {} : { settings }),
    ...(bypass ? { bypass } : {}),
    ...(mode ? { choosesMode: true } : {}),
  };
}

/** Whether the user's own settings.json (not a repository's) makes Bypass Permissions the default mode. */
function userDefaultsToBypass(env: NodeJS.ProcessEnv): boolean {
  const permissions = readSettings(path.join(claudeUserDir(env), "settings.json"))?.permissions;
  return isObject(permissions) && permissions.defaultMode === "bypassPermissions";
}

/** How claude starts on a new task: the user's options (with their --settings merged into orch's), then orch's. */
function claudeStart(spec: LaunchSpec, program = "claude", given: ClaudeOptions = { rest: [] }, line = "") {
  let own: JsonObject = {};
  if (given.settings !== undefined) {
    const read = ownSettings(given.settings, spec.worktreePath, line);
    own = read.settings;
    for (const problem of problemsOf(own, read.named)) spec.warn(problem);
  }
  let settings: JsonObject;
  try {
    settings = workerSettings(spec, own);
  } catch (error) {
    if (!(error instanceof OrchError)) throw error;
    throw usage(`--agent ${JSON.stringify(line)}: its --settings cannot take orch's hooks and allow rule: ` +
      error.message.replace(/^cannot merge into --settings: /, "").replace(/; fix it by hand.*$/, ""));
  }
  // Bypass Permissions mode, asked for on the command line the user gave orch or as the default mode of their own
  // settings.json: Claude Code first asks in the window to accept that mode (until skipDangerousModePermissionPrompt
  // is in the user's settings), and a worker would wait there for good, showing `running`. The user chose the mode
  // for an unattended worker; their settings stay as they are. (A repository cannot ask for the mode: Claude Code
  // 2.1.331 takes no defaultMode bypassPermissions from a project's settings, nor from settings.local.json.)
  const bypass = given.bypass || (!given.choosesMode && !spec.plan && userDefaultsToBypass(spec.env));
  if (bypass && settings.skipDangerousModePermissionPrompt === undefined) {
    settings.skipDangerousModePermissionPrompt = true;
  }
  const place = { mainRoot: spec.mainRoot, worktree: spec.worktreePath, env: spec.env };
  const offBy = bypass ? bypassDisabled(place, own) : undefined;
  if (offBy !== undefined) {
    spec.warn(`${offBy} turns Bypass Permissions mode off (disableBypassPermissionsMode): the worker runs in ` +
      "Claude Code's default mode instead, and asks before what its rules do not allow");
  }
  leaveOutUnapprovedServers(settings, place, own, bypass, spec.warn);
  const argv = [program, ...given.rest, "--session-id", spec.sessionId, "--settings", JSON.stringify(settings)];
  if (spec.plan) argv.push("--permission-mode", "plan");
  return { argv, promptPlacement: "after-dashdash" as const, env: {}, questions: startQuestions(place, own) };
}

/**
 * The repository's MCP servers the user has not approved are left out of the worker's session (disabledMcpjsonServers
 * in the settings it is given, beside those of `own`), with a line that says so: Claude Code would otherwise ask
 * about them as it starts, with nobody at the window (or run them on the repository's own say). Leaving them out is
 * what that question's default answer does, for this session only; approving them is the user's to do. True when
 * it left one out.
 */
function leaveOutUnapprovedServers(
  settings: JsonObject, place: StartPlace, own: JsonObject, bypass: boolean, warn: (line: string) => void,
): boolean {
  const unapproved = unapprovedMcpServers(place, own, bypass);
  if (unapproved.length === 0) return false;
  const already = Array.isArray(settings.disabledMcpjsonServers) ? settings.disabledMcpjsonServers : [];
  settings.disabledMcpjsonServers = [...already, ...unapproved];
  warn(mcpServersLeftOut(place, unapproved));
  return true;
}

/** The --settings of a recorded command, where it is; undefined when there is none orch can read (edited by hand). */
function recordedSettings(argv: string[]): { at: number; settings: JsonObject } | undefined {
  const at = argv.lastIndexOf("--settings");
  if (at < 1 || argv[at + 1] === undefined) return undefined;
  try {
    const settings: unknown = JSON.parse(argv[at + 1]!);
    return isObject(settings) ? { at: at + 1, settings } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The recorded command with orch's hooks that its --settings lacks added (a worker spawned by an older orch,
 * before orch had them: its resumed agent would not be blocked, woken or told its messages), and the repository's
 * MCP servers that are not approved now left out too (the worker's own commits may have added one to .mcp.json); as
 * recorded when there are no settings orch can read. With the questions Claude Code will ask as it starts again.
 */
function withCurrentSettings(recorded: string[], place: StartPlace, warn: (line: string) => void) {
  const argv = [...recorded];
  const found = recordedSettings(argv);
  if (!found) return { argv, questions: startQuestions(place, {}) };
  const own = structuredClone(found.settings);
  let merged: ReturnType<typeof mergeClaudeSettings>;
  try {
    merged = mergeClaudeSettings(found.settings, "--settings");
  } catch {
    // not orch's JSON (edited by hand): it stays as it was
    return { argv, questions: startQuestions(place, own) };
  }
  // orch gives a worker in Bypass Permissions mode skipDangerousModePermissionPrompt (claudeStart).
  const bypass = merged.settings.skipDangerousModePermissionPrompt === true;
  const leftOut = leaveOutUnapprovedServers(merged.settings, place, own, bypass, warn);
  if (merged.changed || leftOut) argv[found.at] = JSON.stringify(merged.settings);
  return { argv, questions: startQuestions(place, own) };
}

/**
 * The variables of the caller's environment Claude Code's workers get (caller-env.ts): provider, credentials,
 * config folder, model and traffic settings, as the pinned binary reads them (2.1.331); the ANTHROPIC_ family
 * (its API key, base URL, models, custom headers, Bedrock/Vertex/Foundry endpoints) and Vertex's per-model regions.
 */
export const CLAUDE_PASSED_ENV: PassedEnv = {
  names: [
    "CLAUDE_CONFIG_DIR", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_API_KEY_HELPER_TTL_MS",
    "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY", "CLAUDE_CODE_USE_MANTLE",
    "CLAUDE_CODE_USE_ANTHROPIC_AWS", "CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD", "CLAUDE_CODE_USE_GATEWAY",
    "CLAUDE_CODE_SKIP_BEDROCK_AUTH", "CLAUDE_CODE_SKIP_VERTEX_AUTH", "CLAUDE_CODE_SKIP_FOUNDRY_AUTH",
    "CLAUDE_CODE_CLIENT_CERT", "CLAUDE_CODE_CLIENT_KEY", "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE", "CLAUDE_CODE_CERT_STORE",
    "CLAUDE_CODE_SUBAGENT_MODEL", "CLAUDE_CODE_MAX_OUTPUT_TOKENS", "MAX_THINKING_TOKENS", "API_TIMEOUT_MS",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_TELEMETRY", "DISABLE_ERROR_REPORTING", "DISABLE_AUTOUPDATER",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "CLOUD_ML_REGION", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT",
    "GOOGLE_APPLICATION_CREDENTIALS",
  ],
  prefixes: ["ANTHROPIC_", "VERTEX_REGION_"],
};

export const claudeProfile: AgentProfile = {
  name: "claude",
  testedVersion: "2.1.328",
  passedEnv: CLAUDE_PASSED_ENV,
  start: (spec) => claudeStart(spec),
  withOptions(program, words) {
    const line = [program, ...words].join(" ");
    const warnings: string[] = [];
    const options = readClaudeOptions(line, words, (warning) => warnings.push(warning));
    return {
      ...claudeProfile,
      start(spec) {
        for (const warning of warnings) spec.warn(warning);
        return claudeStart(spec, program, options, line);
      },
    };
  },
  resume(spec) {
    // The session id orch gave claude at spawn, or the one its hooks reported since (a /clear in the window
    // starts a new one), names the conversation to continue; the rest of the recorded command (settings,
    // permission mode) stays as it was, with the hooks of this orch added. The spawn's --session-id goes:
    // Claude Code refuses it beside --resume.
    // A session Claude Code saved no message of (stopped just after a /clear, or as it began) cannot be resumed,
    // nor given again with --session-id ("already in use"): the agent starts in a new one, with its task again
    // when the spawn's own session never saved it (a resume's new session may have been stopped as it began too).
    if (!spec.sessionId) return undefined;
    const place = { mainRoot: spec.mainRoot, worktree: spec.worktreePath, env: spec.env };
    const { argv, questions } = withCurrentSettings(spec.recorded.argv, place, spec.warn);
    const at = argv.indexOf("--session-id");
    const spawned = at > 0 ? argv.splice(at, 2)[1] : undefined;
    const start = { argv, promptPlacement: spec.recorded.promptPlacement, env: {}, questions };
    if (resumable(spec.env, spec.sessionId)) {
      argv.splice(1, 0, "--resume", spec.sessionId);
      return start;
    }
    const sessionId = crypto.randomUUID();
    argv.splice(1, 0, "--session-id", sessionId);
    return { ...start, sessionId, startsOver: spawned !== undefined && !resumable(spec.env, spawned) };
  },
  prepare: async (spec) => [
    ...await markTrusted(spec.mainRoot, spec.env),
    ...settingsProblems(spec.mainRoot, spec.worktreePath, spec.env),
  ],
  checkTrust,
  checkSettings: (mainRoot, env) => settingsProblems(mainRoot, mainRoot, env),
  checkStart(mainRoot, env) {
    const place = { mainRoot, worktree: mainRoot, env };
    const unapproved = unapprovedMcpServers(place, {}, userDefaultsToBypass(env));
    return [
      ...(unapproved.length > 0 ? [mcpServersLeftOut(place, unapproved)] : []),
      ...startQuestions(place, {}).map((q) => `Claude Code will ask ${JSON.stringify(q.asks)} as it starts here: ` +
        q.advice),
    ];
  },
  permissionHook: claudePermissionHook,
  hookSessionIds: true,
};
