// Codex as a worker: the per-invocation settings that let it work unattended in its default
// workspace-write sandbox (trust, writable roots for the store and git, PATH), its own app server,
// orch's hooks (blocked, idle, a new turn, messages after a tool call, a compaction that begins a turn, the thread a
// /new starts), and `codex resume` with the session id it records.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { StringDecoder } from "node:string_decoder";
import { errnoCode, usage } from "../errors.ts";
import type { PassedEnv } from "./caller-env.ts";
import {
  allowedSandboxes, codexHome, codexLayers, hooksOffBy, readConfigFile, rulesForbiddingOrch, sandboxIn,
  tomlStringValue, type GivenSandbox, type HooksSwitch,
} from "./codex-config.ts";
import { CODEX_OPTIONS, CODEX_SUBCOMMANDS, given, readOptions, subcommandOf } from "./options.ts";
import type { AgentProfile, LaunchSpec, PermissionHook, SessionLookup, StartupQuestion } from "./profile.ts";

/** A TOML basic string: JSON's escapes (\", \\, \n, \uXXXX) are all valid TOML. */
function tomlString(text: string): string {
  return JSON.stringify(text);
}

/** The worktree's private git dir (`.git/worktrees/<id>` of the repository), from its `.git` file. */
function worktreeGitDir(worktree: string): string | undefined {
  try {
    const pointer = fs.readFileSync(path.join(worktree, ".git"), "utf8").trim();
    return pointer.startsWith("gitdir: ") ? path.resolve(worktree, pointer.slice("gitdir: ".length)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a worker writes outside its worktree: the store (notify, inbox) and the parts of the
 * repository's git dir that `git commit` in a linked worktree changes. Codex mounts a worktree's git
 * dir read-only; the hooks, config and info of the common dir stay read-only, so nothing written
 * there can run outside the sandbox later.
 */
export function codexWritableDirs(spec: LaunchSpec): string[] {
  const common = path.resolve(spec.worktreePath, spec.commonGitDir);
  const wanted = [spec.storeRoot, path.join(common, "objects"), path.join(common, "refs"), path.join(common, "logs")];
  const own = worktreeGitDir(spec.worktreePath);
  if (own) wanted.push(own);
  return wanted.filter((dir) => fs.existsSync(dir));
}

/** A word for the POSIX shell Codex runs hook commands with (`$SHELL -lc`). */
function shellWord(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** orch's hook handlers, by Codex's event name (it sends Claude Code's payloads and takes its answers). */
const CODEX_HOOKS = [
  { event: "PermissionRequest", key: "permission_request", handler: "permission-request", timeoutS: 600 },
  { event: "Stop", key: "stop", handler: "stop", timeoutS: 30 },
  { event: "UserPromptSubmit", key: "user_prompt_submit", handler: "user-prompt-submit", timeoutS: 30 },
  { event: "PostToolUse", key: "post_tool_use", handler: "post-tool-use", timeoutS: 30 },
  { event: "PreCompact", key: "pre_compact", handler: "pre-compact", timeoutS: 30 },
  { event: "SessionStart", key: "session_start", handler: "session-start", timeoutS: 30 },
] as const;

/**
 * The trust Codex requires before it runs a hook it has not reviewed: the SHA-256 of the hook's
 * identity (event, handler with Codex's defaults filled in) as JSON with sorted keys, which is what
 * Codex compares with `hooks.state."<source>:<event>:<group>:<handler>".trusted_hash`.
 */
export function codexHookTrustHash(eventKey: string, command: string, timeoutS: number): string {
  const handler = { async: false, command, timeout: timeoutS, type: "command" };
  const identity = JSON.stringify({ event_name: eventKey, hooks: [handler] });
  return `sha256:${createHash("sha256").update(identity).digest("hex")}`;
}

/** Where Codex says `-c` overrides come from, in a hook's trust key. */
const SESSION_FLAGS_SOURCE = "/<session-flags>/config.toml";

/**
 * orch's hooks as `-c` overrides, each trusted for this invocation only: nothing is written to
 * Codex's config, and the user's own hooks and their trust stay as they are (Codex merges the
 * hooks.state table of the overrides with the one of config.toml). The command names orch by its
 * absolute path: Codex runs hooks through a login shell, whose profile may reset PATH.
 */
export function codexHookArguments(orchProgram: string): string[] {
  const args: string[] = [];
  const trust: string[] = [];
  for (const hook of CODEX_HOOKS) {
    const command = `${shellWord(orchProgram)} hook ${hook.handler}`;
    const handler = `{type="command",command=${tomlString(command)},timeout=${hook.timeoutS}}`;
    args.push("-c", `hooks.${hook.event}=[{hooks=[${handler}]}]`);
    const key = `${SESSION_FLAGS_SOURCE}:${hook.key}:0:0`;
    trust.push(`${tomlString(key)}={trusted_hash=${tomlString(codexHookTrustHash(hook.key, command, hook.timeoutS))}}`);
  }
  args.push("-c", `hooks.state={${trust.join(",")}}`);
  return args;
}

/** Whether `value` (of a -c) is one of orch's hook overrides, as codexHookArguments writes them for any orch path. */
function isOrchHookOverride(value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value.startsWith("hooks.state={")) return value.includes(tomlString(`${SESSION_FLAGS_SOURCE}:`).slice(0, -1));
  return CODEX_HOOKS.some((hook) =>
    value.startsWith(`hooks.${hook.event}=[{hooks=[{type="command",command=`) &&
    value.endsWith(` hook ${hook.handler}",timeout=${hook.timeoutS}}]}]`));
}

/**
 * The recorded command with orch's hook overrides naming `orchProgram`: they named the shim of the orch that
 * spawned the worker, which an upgrade to an orch at another path (the old one removed) leaves running nothing.
 */
function withHooksOf(recorded: string[], orchProgram: string): string[] {
  const argv: string[] = [];
  let at = -1;
  for (let i = 0; i < recorded.length; i++) {
    if (recorded[i] === "-c" && isOrchHookOverride(recorded[i + 1])) {
      if (at < 0) at = argv.length;
      i++;
    } else {
      argv.push(recorded[i]!);
    }
  }
  if (at < 0) return [...recorded];
  argv.splice(at, 0, ...codexHookArguments(orchProgram));
  return argv;
}

/** What orch reads in the user's own codex options (`--agent "codex -s read-only"`). */
export interface CodexOptions {
  /**
   * -s/--sandbox or -c sandbox_mode=…: these win over every config file of the user's and the repository's; `flag`
   * (-s) also over the administrator's managed_config.toml, which Codex layers over -c.
   */
  sandbox?: GivenSandbox & { flag: boolean };
  /** -p/--profile NAME: $CODEX_HOME/NAME.config.toml, layered over the user's config. */
  profile?: string;
  /** --enable/--disable hooks (or codex_hooks), -c features.hooks=…: the last one given. */
  hooks?: HooksSwitch;
}

/** A `-c key=value` value as Codex reads it: TOML, else the raw text (`sandbox_mode=read-only`). */
function configValue(text: string): string {
  const quoted = /^\s*(?:"([^"]*)"|'([^']*)')\s*$/.exec(text);
  return quoted ? (quoted[1] ?? quoted[2]!) : text.trim();
}

/**
 * The user's codex options, read once: the sandbox and profile they choose, and a refusal (usage, exit 2)
 * for those that take the worker away from orch: a subcommand (`exec` runs one turn with no window to wake,
 * and takes none of orch's options), -C/--cd (another folder than its worktree), --worktree (a worktree
 * of Codex's own).
 */
export function readCodexOptions(line: string, words: string[]): CodexOptions {
  const options = readOptions(words, CODEX_OPTIONS, "clap");
  const refuse = (why: string) => usage(`--agent ${JSON.stringify(line)}: ${why}`);
  const subcommand = subcommandOf(options, CODEX_SUBCOMMANDS);
  if (subcommand !== undefined) {
    throw refuse(`orch starts Codex's interactive session with the task as its prompt, so --agent takes ` +
      `codex's options only, not its ${JSON.stringify(subcommand)} command (exec and the others run without a ` +
      "window that orch can wake, resume or stop)");
  }
  const away = given(options, "-C", "--cd", "--worktree")[0];
  if (away) {
    throw refuse(`${away.name} would have the worker work outside its worktree, where orch reads its ` +
      "commits; orch starts it in the worktree itself");
  }
  const result: CodexOptions = {};
  for (const option of options.options) {
    const value = option.values[0];
    if (value === undefined) continue;
    const source = option.words.join(" ");
    if ((option.name === "-c" || option.name === "--config") && /^\s*sandbox_mode\s*=/.test(value)) {
      result.sandbox = { mode: configValue(value.slice(value.indexOf("=") + 1)), source, flag: false };
    } else if ((option.name === "-c" || option.name === "--config") && /^\s*features\.(codex_)?hooks\s*=/.test(value)) {
      result.hooks = { on: configValue(value.slice(value.indexOf("=") + 1)) !== "false", source };
    } else if ((option.name === "--enable" || option.name === "--disable") && /^(codex_)?hooks$/.test(value)) {
      result.hooks = { on: option.name === "--enable", source };
    } else if (option.name === "-p" || option.name === "--profile") {
      result.profile = value;
    }
  }
  // -s wins over -c sandbox_mode whatever their order (Codex applies the flag after the overrides).
  const flag = given(options, "-s", "--sandbox").at(-1);
  if (flag?.values[0] !== undefined) {
    result.sandbox = { mode: flag.values[0], source: flag.words.join(" "), flag: true };
  }
  return result;
}

/**
 * The sandbox a worker in `folder` (its worktree, or the repository's root, which holds the same files) gets and
 * what set it, when anything does (undefined: Codex's workspace-write), as Codex 0.169 decides it: -s, else the
 * administrator's managed_config.toml, else -c sandbox_mode, else the first config file that sets it (codexLayers).
 * A mode the administrator does not allow (requirements.toml, managed_config.toml) is read-only instead.
 */
export function chosenSandbox(folder: string, env: NodeJS.ProcessEnv, options: CodexOptions): GivenSandbox | undefined {
  const layers = codexLayers(folder, env, options.profile);
  const flag = options.sandbox?.flag ? options.sandbox : undefined;
  const chosen = flag ?? sandboxIn(layers.managed) ?? options.sandbox ??
    layers.belowCommandLine.map(sandboxIn).find((found) => found !== undefined);
  const allowed = allowedSandboxes(layers);
  if (allowed && !allowed.modes.includes(chosen?.mode ?? "workspace-write")) {
    const wanted = chosen ? `${chosen.mode} (${chosen.source})` : "workspace-write";
    return { mode: "read-only", source: `${allowed.source}, which leaves out ${wanted} (Codex runs it read-only)` };
  }
  return chosen;
}

/**
 * What in Codex's configuration keeps orch from hearing a worker in `folder`, one line each: its hooks turned off
 * (by the administrator, the user, a profile, the repository or the options), rules that forbid orch's commands.
 */
export function codexSettingsProblems(folder: string, env: NodeJS.ProcessEnv, options: CodexOptions): string[] {
  const problems: string[] = [];
  const hooksOff = hooksOffBy(codexLayers(folder, env, options.profile), options.hooks);
  if (hooksOff) {
    problems.push(`${hooksOff}: Codex runs none of orch's hooks in its workers, so orch hears no idle or blocked ` +
      "from them (they show running until they report with orch notify) and orch send cannot wake one at its prompt");
  }
  for (const rule of rulesForbiddingOrch(folder, env)) {
    problems.push(`${rule}: Codex refuses orch notify and orch inbox in its workers, which report only idle`);
  }
  return problems;
}

/** What a read-only sandbox leaves a worker, and what chose it. */
function readOnlyProblem(sandbox: GivenSandbox, options: CodexOptions): string {
  const asked = sandbox === options.sandbox;
  const source = asked ? `--agent's ${sandbox.source} asks for a read-only sandbox` : sandbox.source;
  return `${source}: the Codex worker's commands cannot write its worktree, git or orch's store (no commits, no ` +
    "orch notify); orch hears it through its hooks only";
}

/**
 * What `orch doctor` says of Codex's configuration for workers in `mainRoot`: the problems spawn warns about
 * (codexSettingsProblems) and, as spawn does when it starts one, a read-only sandbox.
 */
function doctorProblems(mainRoot: string, env: NodeJS.ProcessEnv, options: CodexOptions): string[] {
  const sandbox = chosenSandbox(mainRoot, env, options);
  const readOnly = sandbox?.mode === "read-only" ? [readOnlyProblem(sandbox, options)] : [];
  return [...readOnly, ...codexSettingsProblems(mainRoot, env, options)];
}

/** The arguments before the prompt; nothing of them is written to Codex's config. */
export function codexArguments(spec: LaunchSpec, options: CodexOptions = {}): string[] {
  // Codex refuses to start with --add-dir in a read-only sandbox: the user's choice stands, without them.
  const sandbox = chosenSandbox(spec.worktreePath, spec.env, options);
  const readOnly = sandbox?.mode === "read-only";
  if (readOnly) spec.warn(readOnlyProblem(sandbox, options));
  const trustedDirs = [...new Set([spec.mainRoot, spec.worktreePath])];
  const trusted = trustedDirs.map((dir) => `${tomlString(dir)}={trust_level="trusted"}`);
  return [
    "codex",
    // Its own app server: the shared one would run this worker's commands with the environment of
    // whichever codex started it, and keep the turn going after orch stop ends this process.
    "--no-daemon",
    "-c",
    `projects={${trusted.join(",")}}`,
    // Login shells source /etc/profile, which resets PATH and loses orch's bin directory.
    "-c",
    "allow_login_shell=false",
    ...codexHookArguments(spec.orchProgram),
    ...(readOnly ? [] : codexWritableDirs(spec).flatMap((dir) => ["--add-dir", dir])),
  ];
}

/** The rollout files Codex wrote on or after `day` (sessions/YYYY/MM/DD/rollout-*.jsonl). */
function rolloutFiles(sessionsDir: string, since: Date): string[] {
  const files: string[] = [];
  for (const day of [since, new Date()]) {
    const two = (n: number) => String(n).padStart(2, "0");
    const dir = path.join(sessionsDir, String(day.getFullYear()), two(day.getMonth() + 1), two(day.getDate()));
    try {
      for (const name of fs.readdirSync(dir)) {
        if (name.startsWith("rollout-") && name.endsWith(".jsonl")) files.push(path.join(dir, name));
      }
    } catch {
      // no sessions that day
    }
  }
  return [...new Set(files)];
}

/**
 * Whether Codex's rollout of session `id` (rollout-<time>-<id>.jsonl, under $CODEX_HOME/sessions/YYYY/MM/DD or
 * archived_sessions) is there: false only when both folders were read (or are missing) and hold none. Checked
 * with 0.169: `codex resume` of a session whose rollout is gone exits 1 ("no rollout found for thread id").
 */
function rolloutSaved(home: string, id: string): boolean {
  let unreadable = false;
  const holds = (dir: string, depth: number): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") unreadable = true;
      return false;
    }
    return entries.some((entry) => entry.isDirectory()
      ? depth > 0 && holds(path.join(dir, entry.name), depth - 1)
      : entry.name.startsWith("rollout-") && entry.name.endsWith(`-${id}.jsonl`));
  };
  return holds(path.join(home, "sessions"), 3) || holds(path.join(home, "archived_sessions"), 3) || unreadable;
}

/** The id of the Codex session started in `worktreePath` at or after `startedAtMs`, once its rollout exists. */
export function findCodexSession(lookup: SessionLookup): string | undefined {
  const home = codexHome(lookup.env);
  for (const file of rolloutFiles(path.join(home, "sessions"), new Date(lookup.startedAtMs))) {
    try {
      if (fs.statSync(file).mtimeMs < lookup.startedAtMs - 1000) continue;
      const fd = fs.openSync(file, "r");
      const head = Buffer.alloc(64 * 1024);
      const length = fs.readSync(fd, head, 0, head.length, 0);
      fs.closeSync(fd);
      // The first line (session_meta) carries the base instructions too: read its head only.
      const text = head.subarray(0, length).toString("utf8");
      const id = /"type":"session_meta","payload":\{[^\n]*?"id":"([0-9a-f-]{36})"/.exec(text)?.[1];
      if (id && text.split("\n", 1)[0]!.includes(`"cwd":${JSON.stringify(lookup.worktreePath)}`)) return id;
    } catch {
      // being written, or not a rollout we can read: look at the next
    }
  }
  return undefined;
}

/**
 * Reads the turns of Codex session `sessionId` that a model API error ended (checked with 0.169: Codex runs no
 * Stop hook then, and its rollout records `task_complete` with an `error`, after its own request_max_retries and
 * stream_max_retries): each call reads what the rollout gained since the last one.
 */
export function codexFailedTurns(lookup: SessionLookup, sessionId: string): () => { kind: string; text?: string }[] {
  const home = codexHome(lookup.env);
  let file: string | undefined;
  let offset = 0;
  let partial = "";
  // Codex may be in the middle of writing a line: a read that ends inside a character keeps its first bytes
  // for the next read (toString would make them U+FFFD, and the rest of the character another).
  const decoder = new StringDecoder("utf8");
  return () => {
    file ??= rolloutFiles(path.join(home, "sessions"), new Date(lookup.startedAtMs))
      .find((name) => name.endsWith(`-${sessionId}.jsonl`));
    if (!file) return [];
    let text: string;
    try {
      const fd = fs.openSync(file, "r");
      try {
        const size = fs.fstatSync(fd).size;
        const chunk = Buffer.alloc(Math.max(0, size - offset));
        const length = fs.readSync(fd, chunk, 0, chunk.length, offset);
        offset += length;
        text = partial + decoder.write(chunk.subarray(0, length));
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return [];
    }
    const lines = text.split("\n");
    partial = lines.pop() ?? "";
    return lines.flatMap((line) => {
      if (!line.includes('"task_complete"') || !line.includes('"error"')) return [];
      try {
        const event = JSON.parse(line) as { timestamp?: string; payload?: Record<string, unknown> };
        const error = event.payload?.error as { message?: unknown; codex_error_info?: unknown } | undefined;
        if (event.payload?.type !== "task_complete" || !error) return [];
        // A resumed session's rollout holds the turns of its earlier lives too.
        if (Date.parse(event.timestamp ?? "") < lookup.startedAtMs - 1000) return [];
        const info = error.codex_error_info;
        const kind = typeof info === "string" ? info
          : info && typeof info === "object" ? Object.keys(info)[0] : undefined;
        return [{ kind: kind ?? "unknown", ...(typeof error.message === "string" ? { text: error.message } : {}) }];
      } catch {
        return [];
      }
    });
  };
}

/**
 * Codex's PermissionRequest decision (checked with 0.169): only `behavior` and, to deny, `message`;
 * a hook that sends updatedInput or updatedPermissions is treated as failed and Codex asks in its
 * window. So a hook can allow one call, never a kind of call for the rest of the session.
 */
export const codexPermissionHook: PermissionHook = {
  allowsAlways: false,
  decision: (answer) =>
    answer.behavior === "allow" ? { behavior: "allow" } : { behavior: "deny", message: answer.message },
};

/** An option of Codex's selection lists (its dialogs), "  2. Use existing model"; the highlighted one starts "› ". */
const LISTED_OPTION = /^(?:[›>]\s*)?[1-9]\.\s+\S/;
const HIGHLIGHTED_OPTION = /^[›>]\s*[1-9]\.\s+\S/;

/**
 * The way on for the questions Codex 0.169 asks at its start (checked with it), by their title: matched at the start
 * of the question's first paragraph, whose lines Codex wraps itself to a narrow window (\s takes a line's end).
 */
const STARTUP_WAYS_ON: { title: RegExp; wayOn: string }[] = [
  {
    title: /^Hooks need review/,
    wayOn: "hooks of yours or of the repository's .codex/ that you have not trusted in Codex, or changed since: " +
      "answer in the worker's window (\"Trust all and continue\" records them trusted in your config.toml, so " +
      "the workers after it are not asked; \"Continue without trusting\" runs it without them), or review them " +
      "once with /hooks in codex in the repository",
  },
  {
    title: /^Welcome to Codex,\s+OpenAI's\s+command-line\s+coding\s+agent|^Welcome to Codex/,
    wayOn: "Codex has no credentials here: sign in in the worker's window, or orch stop it, sign in with " +
      "codex login (or set the key its model provider's env_key names) and orch resume it",
  },
  {
    title: /^Meet [^\n]+/,
    wayOn: "Codex offers a newer model than the one your configuration names: answer in the worker's window " +
      "(\"Use existing model\" keeps yours; Codex records the answer in your config.toml, so the workers after " +
      "it are not asked)",
  },
];

/**
 * A selection list on Codex's screen before its session exists is a question at its start (nothing else of Codex's
 * shows numbered choices then): a sign-in, a review of hooks, a newer model, or another. Its title names it.
 */
export function codexStartupQuestion(screen: string[]): StartupQuestion | undefined {
  const all = screen.map((line) => line.trim());
  const options = all.filter((line) => LISTED_OPTION.test(line));
  if (options.length < 2 || !options.some((line) => HIGHLIGHTED_OPTION.test(line))) return undefined;
  // The question starts at its first line with words: in a tall window (45 lines; not in 40) Codex 0.169 draws its
  // logo above the sign-in (in braille, moving for its first seconds), which is no title, nor the same twice.
  const start = all.findIndex((line) => /\p{L}/u.test(line));
  const end = all.indexOf("", start);
  const paragraph = all.slice(start, end === -1 ? undefined : end).join("\n");
  const lines = all.slice(start).filter(Boolean);
  // Its dialogs take the whole screen; a conversation (a resumed one) starts with Codex's boxed header.
  if (/^[╭│╰]/.test(paragraph)) return undefined;
  const known = STARTUP_WAYS_ON.find((way) => way.title.test(paragraph));
  // A title Codex wrapped is joined again (tmux cannot: Codex, not the terminal, broke its lines).
  const title = known ? known.title.exec(paragraph)![0].replace(/\s+/g, " ") : lines[0]!;
  return {
    waitingFor: `Codex: ${JSON.stringify(title)}`,
    summary: `before it starts, Codex asks ${JSON.stringify(title)}: ${known?.wayOn ?? "answer in its window"}`,
    screen: lines.join("\n"),
  };
}

/** How codex starts on a new task: the user's own options (`words`, read as `options`), then orch's. */
function codexStart(spec: LaunchSpec, program = "codex", words: string[] = [], options: CodexOptions = {}) {
  if (spec.plan) spec.warn("--plan only changes how claude starts; ignored for --agent codex");
  const argv = [program, ...words, ...codexArguments(spec, options).slice(1)];
  return { argv, promptPlacement: "after-dashdash" as const, env: {} };
}

/**
 * The variables of the caller's environment Codex's workers get (caller-env.ts): its config folder (trust, hooks,
 * sandbox and providers are read there), credentials and endpoint, and its own CA certificate.
 */
export const CODEX_PASSED_ENV: PassedEnv = {
  names: [
    "CODEX_HOME", "CODEX_SQLITE_HOME", "CODEX_API_KEY", "CODEX_CA_CERTIFICATE", "OPENAI_API_KEY", "OPENAI_BASE_URL",
    "OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT", "AZURE_OPENAI_API_KEY",
  ],
  configured: providerKeys,
};

/** The env_key variables the model providers of the caller's $CODEX_HOME/config.toml name; none when unreadable. */
function providerKeys(env: NodeJS.ProcessEnv): string[] {
  const config = readConfigFile(path.join(codexHome(env), "config.toml"));
  return (config?.entries ?? [])
    .filter(({ key }) => key === "env_key" || key.endsWith(".env_key"))
    .map(({ value }) => tomlStringValue(value))
    .filter((name): name is string => name !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name));
}

export const codexProfile: AgentProfile = {
  name: "codex",
  testedVersion: "0.169.0",
  passedEnv: CODEX_PASSED_ENV,
  start: (spec) => codexStart(spec),
  resume(spec) {
    // `codex resume <id>` takes the same options as codex: the recorded trust, hooks and writable
    // roots stay as they were; the next user message follows "--".
    if (!spec.sessionId) return undefined;
    const [program = "codex", ...options] = withHooksOf(spec.recorded.argv, spec.orchProgram);
    const home = codexHome(spec.env);
    if (!rolloutSaved(home, spec.sessionId)) {
      // Its rollout is gone (the sessions folder removed): `codex resume` would exit 1, "no rollout found", and the
      // worker fail at once. It starts its task over in a new session, which its runner records as at spawn.
      return { argv: [program, ...options], promptPlacement: spec.recorded.promptPlacement, env: {}, startsOver: true };
    }
    return { argv: [program, "resume", ...options, spec.sessionId], promptPlacement: "after-dashdash", env: {} };
  },
  prepare: async (spec) => codexSettingsProblems(spec.worktreePath, spec.env, {}),
  checkSettings: (mainRoot, env) => doctorProblems(mainRoot, env, {}),
  findSessionId: findCodexSession,
  startupQuestion: codexStartupQuestion,
  failedTurns: codexFailedTurns,
  permissionHook: codexPermissionHook,
  // Checked with 0.169: its hooks' session_id is the thread `codex resume` takes, and /new starts a new thread
  // (SessionStart runs in it at once, with source "startup").
  hookSessionIds: true,
  withOptions(program, words) {
    const options = readCodexOptions([program, ...words].join(" "), words);
    return {
      ...codexProfile,
      start: (spec) => codexStart(spec, program, words, options),
      prepare: async (spec) => codexSettingsProblems(spec.worktreePath, spec.env, options),
      checkSettings: (mainRoot, env) => doctorProblems(mainRoot, env, options),
    };
  },
};
