// orch spawn: a worktree in git-gtr's layout, the worker's marker and record, a tmux window running
// the agent with the prompt (mirrors start_worktree_session).

import fs from "node:fs";
import path from "node:path";
import { fullPrompt } from "../agents/command.ts";
import { profileFor } from "../agents/index.ts";
import type { AgentProfile } from "../agents/profile.ts";
import * as gitAdapter from "../adapters/git.ts";
import { REPOSITORY_GIT_VARIABLES, programEnv } from "../adapters/exec.ts";
import * as gtr from "../adapters/gtr.ts";
import { headBranchFromFiles, mainWorktreeOf, readRefFromFiles, type Repo } from "../adapters/repo.ts";
import { MARKER_FILE, requireRepo, resolveSession, type Context, type WorkerMarker } from "../context.ts";
import { guardInterrupts, throwIfInterrupted } from "../interrupt.ts";
import { openJournal, removeSpawnedWorktree, repairSpawn } from "./spawn-journal.ts";
import { OrchError, usage } from "../errors.ts";
import { booleanFlag, stringFlag, type Flags } from "../flags.ts";
import { checkHostName } from "../hosts/destination.ts";
import { checkBranchName, workerIdForBranch } from "../ids.ts";
import { ensureShim, selfCommand } from "../runtime.ts";
import { NotRegularFileError, readUpTo, toJson, writeNewFile } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { newMessage, sendMessage } from "../store/messages.ts";
import { createWorker, findWorker, forgetWorker, saveWorker, type WorkerRecord } from "../store/workers.ts";
import type { CommandResult } from "./types.ts";

export interface SpawnOptions {
  orch: string | undefined;
  branch: string;
  from: string | undefined;
  plan: boolean;
  prompt: string;
  agent: string;
  /** An agent given as argv directly (the demo's scripted agent); overrides `agent`. */
  agentArgv?: string[];
  window: boolean;
  backend: "git" | "gtr" | undefined;
  /** --after: wait (pending, no worktree) until these workers have landed. */
  after: string[];
  /** The host to create it on (orch host add), else here. */
  host?: string;
}

/** --after A (repeatable) or --after A,B: the names as given, each a worker id or a branch. */
export function afterFlag(flags: Flags): string[] {
  const raw = flags.after;
  if (raw === undefined) return [];
  const values = (Array.isArray(raw) ? raw : [raw]).map((v) => (typeof v === "boolean" ? "" : String(v)));
  const names = values.flatMap((v) => v.split(",")).map((n) => n.trim());
  if (names.some((n) => n === "")) {
    throw usage("--after needs a worker (--after A, --after A,B or --after A --after B)");
  }
  return [...new Set(names)];
}

function hostFlag(flags: Flags): string | undefined {
  const host = stringFlag(flags, "host");
  return host === undefined ? undefined : checkHostName(host);
}

/** Far beyond any real task; a bound so that `--prompt-file /dev/stdin < /dev/zero` ends. */
const MAX_PROMPT_BYTES = 16 * 1024 * 1024;

/** Reads `fd` to its end; more than MAX_PROMPT_BYTES is refused (exit 2). */
function readBounded(fd: number, what: string): Buffer {
  try {
    return readUpTo(fd, MAX_PROMPT_BYTES, what);
  } catch (error) {
    if (error instanceof NotRegularFileError) {
      throw new OrchError("invalid", `${what} is larger than ${MAX_PROMPT_BYTES / 1024 / 1024} MiB`);
    }
    throw error;
  }
}

/**
 * The prompt from a regular file or from stdin, as text: refused (exit 2) when the file is anything
 * else (a device such as /dev/zero, a folder, a FIFO), larger than MAX_PROMPT_BYTES, or not UTF-8.
 */
function readPrompt(source: string): string {
  const what = source === "stdin" ? "the prompt on stdin" : `--prompt-file ${source}`;
  let bytes: Buffer;
  if (source === "stdin") {
    bytes = readBounded(0, what);
  } else {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(source);
    } catch {
      throw new OrchError("invalid", `${what}: no such readable file`);
    }
    if (!stat.isFile()) throw new OrchError("invalid", `${what}: not a regular file (give a file, or - for stdin)`);
    let fd: number;
    try {
      fd = fs.openSync(source, "r");
    } catch {
      throw new OrchError("invalid", `${what}: no such readable file`);
    }
    try {
      bytes = readBounded(fd, what);
    } finally {
      fs.closeSync(fd);
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new OrchError("invalid", `${what} is not valid UTF-8 text`);
  }
}

export function parseSpawn(args: string[], flags: Flags): SpawnOptions {
  const branch = checkBranchName(args[0] ?? "");
  const source = args[1];
  if (source !== undefined && source !== "-") {
    const where = "the prompt goes in --prompt, --prompt-file or - (stdin)";
    throw usage(`unexpected argument ${JSON.stringify(source)}: ${where}`);
  }
  const text = stringFlag(flags, "prompt");
  const file = stringFlag(flags, "promptFile");
  if ([text !== undefined, file !== undefined, source === "-"].filter(Boolean).length > 1) {
    throw usage("give the prompt once: --prompt, --prompt-file or - (stdin)");
  }
  let prompt = text ?? "";
  if (file !== undefined) prompt = readPrompt(file === "-" || file === "/dev/stdin" ? "stdin" : file);
  if (source === "-") prompt = readPrompt("stdin");
  if (prompt.includes("\0")) {
    throw new OrchError("invalid", "the prompt holds a NUL byte, which no program can receive as an argument");
  }
  const backend = stringFlag(flags, "backend");
  if (backend !== undefined && backend !== "git" && backend !== "gtr") {
    throw usage(`--backend must be git or gtr, not ${JSON.stringify(backend)}`);
  }
  const from = stringFlag(flags, "from");
  if (from !== undefined && (from === "" || from.startsWith("-"))) {
    throw new OrchError("invalid", `bad --from ${JSON.stringify(from)}`);
  }
  const after = afterFlag(flags);
  if (after.length && from !== undefined) {
    throw usage("--after starts the worker from the base as it is when its prerequisites have landed: " +
      "leave out --from");
  }
  return {
    orch: stringFlag(flags, "orch"),
    branch,
    from,
    plan: booleanFlag(flags, "plan"),
    prompt,
    agent: stringFlag(flags, "agent") ?? "claude",
    window: flags.window !== false,
    backend,
    after,
    host: hostFlag(flags),
  };
}

export interface SpawnResult {
  record: WorkerRecord;
  tmuxSession: string | null;
}

async function resolveFrom(main: Repo, from: string | undefined): Promise<string> {
  if (from === undefined || from === "HEAD") {
    const head = readRefFromFiles(main, "HEAD");
    if (head && "sha" in head) return head.sha;
  }
  const sha = await gitAdapter.resolveCommit(main.root, from ?? "HEAD");
  if (!sha) throw new OrchError("not_found", `--from ${from ?? "HEAD"} is not a commit in ${main.root}`);
  return sha;
}

async function localBranchExists(main: Repo, branch: string): Promise<boolean> {
  const fromFiles = readRefFromFiles(main, `refs/heads/${branch}`);
  if (fromFiles) return "sha" in fromFiles;
  return gitAdapter.branchExists(main.root, branch);
}

export function tmuxSessionName(mainRoot: string): string {
  return `orch-${path.basename(mainRoot).replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

/** The variables that redirect git (one list, in exec.ts); the window's shell unsets them too. */
const REPOSITORY_ENV: readonly string[] = REPOSITORY_GIT_VARIABLES;

export function withoutRepositoryEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return programEnv(env);
}

/**
 * The window's program: a constant sh script that puts orch's shim folder ($1) first on PATH, drops
 * the repository variables, runs the agent runner ("$@", never text for sh to parse), then execs the
 * user's shell, so the window stays usable. PATH is set here, in the window's own process, because
 * tmux gives a new window the PATH of the client's environment over `new-window -e PATH=…`.
 */
export function windowArgv(record: WorkerRecord, shimDir: string, runnerFlags: string[] = []): string[] {
  const script = `PATH="$1:$PATH"; export PATH; shift; unset ${REPOSITORY_ENV.join(" ")}; "$@"; ` +
    `exec "\${SHELL:-/bin/sh}"`;
  const runner = [...selfCommand(), "__agent", ...runnerFlags, "--orch", record.orchestrator_id, record.worker_id];
  return ["/bin/sh", "-c", script, "orch-agent", shimDir, ...runner];
}

export function workerEnv(layout: StoreLayout, record: WorkerRecord): Record<string, string> {
  return {
    ORCH_ID: record.orchestrator_id,
    ORCH_WORKER: record.worker_id,
    ORCH_HOME: layout.root,
    ORCH_PROMPT_FILE: layout.promptFile(record.orchestrator_id, record.worker_id),
  };
}

async function profileOf(options: Pick<SpawnOptions, "agent" | "agentArgv">): Promise<AgentProfile> {
  const argv = options.agentArgv;
  if (argv) {
    const start = () => ({ argv, promptPlacement: "last" as const, env: {} });
    return { name: path.basename(argv[0] ?? "agent"), start, prepare: async () => [] };
  }
  return profileFor(options.agent);
}

export async function runSpawn(options: SpawnOptions, ctx: Context): Promise<SpawnResult> {
  if (options.host !== undefined && options.after.length === 0) {
    const { spawnOnHost } = await import("../hosts/workers.ts");
    return spawnOnHost({ ...options, host: options.host }, ctx);
  }
  const { layout, session } = await resolveSession(ctx, options.orch);
  const orchestratorId = session.orchestrator_id;
  const workerId = workerIdForBranch(options.branch);
  // Every --after worker must exist before anything is looked at or made (bad input: exit 2).
  const prerequisites = options.after.map((name) => {
    const found = findWorker(layout, orchestratorId, name);
    if (!found) {
      const why = `no worker ${JSON.stringify(name)} in session ${orchestratorId}; nothing was created`;
      throw new OrchError("invalid", `--after ${name}: ${why}`);
    }
    if (found.worker_id === workerId) {
      throw new OrchError("invalid", `--after ${name}: a worker cannot wait for itself`);
    }
    return found.worker_id;
  });
  // An unknown host is bad input (exit 2) before anything is recorded. Its agent is the host's to
  // resolve (a name or a command there), so no profile is looked up here.
  if (options.host !== undefined) (await import("../hosts/store.ts")).loadHost(layout, options.host);
  const repo = await requireRepo(ctx);
  const profile = options.host === undefined ? await profileOf(options) : undefined;
  // What a spawn of this worker killed with -9 left (worktree, branch) goes first, so it can be made again.
  if (profile) for (const line of await repairSpawn(layout, orchestratorId, workerId, repo.mainRoot)) ctx.warn(line);
  if (findWorker(layout, orchestratorId, workerId)) {
    const message = `worker ${workerId} already exists in session ${orchestratorId} (orch rm ${workerId} first)`;
    throw new OrchError("exists", message);
  }
  const { baseTipsMoved } = await import("../store/coherence.ts");
  if (prerequisites.length || baseTipsMoved(layout, orchestratorId)) {
    const coherence = await import("./coherence.ts");
    await coherence.reconcile(layout, orchestratorId, repo, ctx);
    const landed = await coherence.landedAmong(layout, orchestratorId, repo, prerequisites);
    if (!prerequisites.every((id) => landed.has(id))) {
      const record = await recordPending(layout, orchestratorId, repo, options, profile, prerequisites);
      return { record, tmuxSession: null };
    }
  }
  if (!profile) {
    // Its prerequisites have all landed already: it starts on its host now, as spawn --host does.
    const { spawnOnHost } = await import("../hosts/workers.ts");
    return spawnOnHost({ ...options, host: options.host!, after: [] }, ctx);
  }
  return guardInterrupts(() => createAndStart(layout, orchestratorId, repo, options, profile, ctx, undefined));
}

function createdMeanwhile(workerId: string): OrchError {
  return new OrchError("exists", `worker ${workerId} was created by another spawn at the same time`);
}

/**
 * spawn --after: the worker is recorded pending, with its prompt and agent, and no worktree yet. With
 * --host (no profile here) the host is kept on the record, and the prompt as given, which goes to the
 * host's orch when it starts (as spawn --host records it).
 */
async function recordPending(
  layout: StoreLayout, orchestratorId: string, repo: Repo, options: SpawnOptions, profile: AgentProfile | undefined,
  after: string[],
): Promise<WorkerRecord> {
  const main = mainWorktreeOf(repo);
  const baseBranch = headBranchFromFiles(main) ?? (await gitAdapter.currentBranch(main.root));
  if (!baseBranch) {
    const message = `the main worktree ${main.root} has a detached HEAD: --after needs a base branch to start from`;
    throw new OrchError("refused", message);
  }
  const workerId = workerIdForBranch(options.branch);
  const record: WorkerRecord = {
    worker_id: workerId,
    branch: options.branch,
    orchestrator_id: orchestratorId,
    worktree_path: "",
    base_commit: "",
    base_branch: baseBranch,
    backend: options.backend ?? "git",
    agent: profile?.name ?? options.agent,
    agent_argv: [],
    window_id: null,
    tmux_session: null,
    created_at: new Date().toISOString(),
    ...(options.host !== undefined ? { host: options.host } : {}),
    after,
    after_landed: [],
    pending: true,
    pending_spawn: {
      agent: options.agent,
      ...(options.agentArgv ? { agent_argv: options.agentArgv } : {}),
      plan: options.plan,
      window: options.window,
      ...(options.backend ? { backend: options.backend } : {}),
    },
  };
  const prompt = profile
    ? fullPrompt(options.prompt, { orchestratorId, workerId, branch: options.branch })
    : options.prompt;
  if (!createWorker(layout, record, prompt)) throw createdMeanwhile(workerId);
  return record;
}

/**
 * Starts a pending worker whose prerequisites have landed: its worktree from the base branch as it is
 * now, its window and agent. Once only (an exclusive claim); a failed start makes it failed, reported.
 */
export async function startPendingWorker(
  layout: StoreLayout, pending: WorkerRecord, ctx: Context,
): Promise<WorkerRecord> {
  const spec = pending.pending_spawn;
  if (!spec || !pending.base_branch) {
    throw new OrchError("failed", `worker ${pending.worker_id} has no recorded spawn to start`);
  }
  try {
    const claim = path.join(layout.workerDir(pending.orchestrator_id, pending.worker_id), "starting");
    writeNewFile(claim, `${process.pid}\n`, false);
  } catch {
    throw new OrchError("exists", `worker ${pending.worker_id} is being started by another orch command`);
  }
  const options: SpawnOptions = {
    orch: pending.orchestrator_id, branch: pending.branch, from: `refs/heads/${pending.base_branch}`, plan: spec.plan,
    prompt: "", agent: spec.agent, agentArgv: spec.agent_argv, window: spec.window, backend: spec.backend, after: [],
  };
  try {
    if (pending.host !== undefined) {
      // On its host, through spawn --host's path, with the prompt as given (kept in prompt.txt).
      const prompt = fs.readFileSync(layout.promptFile(pending.orchestrator_id, pending.worker_id), "utf8");
      const { spawnOnHost } = await import("../hosts/workers.ts");
      const { record } = await spawnOnHost({ ...options, prompt, host: pending.host }, ctx, pending);
      return record;
    }
    const repo = await requireRepo(ctx);
    const profile = await profileOf(options);
    const { record } = await createAndStart(layout, pending.orchestrator_id, repo, options, profile, ctx, pending);
    return record;
  } catch (error) {
    const reason = (error as Error).message;
    saveWorker(layout, { ...pending, pending_spawn: { ...spec, start_error: reason } });
    const message = newMessage({
      orchestrator_id: pending.orchestrator_id,
      worker_id: pending.worker_id,
      message_type: "task_failed",
      content: {
        summary: `could not start after ${(pending.after ?? []).join(", ")} landed`,
        error: reason,
        branch: pending.branch,
      },
    });
    const events = layout.eventsDir(pending.orchestrator_id, pending.worker_id);
    sendMessage(layout.mailDir(pending.orchestrator_id), message, events);
    throw error;
  }
}

/** Creates the worktree, the record (or completes a pending one), the window and the agent. */
async function createAndStart(
  layout: StoreLayout,
  orchestratorId: string,
  repo: Repo,
  options: SpawnOptions,
  profile: AgentProfile,
  ctx: Context,
  pending: WorkerRecord | undefined,
): Promise<SpawnResult> {
  const main = mainWorktreeOf(repo);
  const workerId = workerIdForBranch(options.branch);
  const [settings, exists, fromSha] = await Promise.all([
    gitAdapter.readSettings(main.root),
    localBranchExists(main, options.branch),
    resolveFrom(main, options.from),
  ]);
  const backend = options.backend ?? (gitAdapter.lastSetting(settings, "orch.backend") === "gtr" ? "gtr" : "git");
  if (backend === "gtr" && !(await gtr.gtrAvailable(ctx.env))) {
    const where = "see https://github.com/coderabbitai/git-worktree-runner";
    throw new OrchError("failed", `backend gtr was chosen but \`git gtr\` is not installed (${where})`);
  }
  throwIfInterrupted();

  const plannedPath = gtr.worktreePathFor(main.root, options.branch, settings, ctx.env);
  if (backend === "git" && fs.existsSync(plannedPath)) throw new OrchError("exists", `${plannedPath} already exists`);
  // A pending worker has its record (and a "starting" claim) already; a new one is journaled until it has.
  const journal = pending ? undefined : await openJournal(layout, orchestratorId, {
    worker_id: workerId, branch: options.branch, worktree_path: plannedPath, created_branch: !exists, from_sha: fromSha,
  }, main.root, ctx.warn);
  const undo: (() => Promise<unknown>)[] = [async () => journal?.close()];
  try {
    let worktreePath: string;
    if (backend === "gtr") {
      worktreePath = await gtr.gtrNew(main.root, options.branch, options.from ?? fromSha, ctx.env);
      undo.push(() => gtr.gtrRemove(main.root, options.branch, { force: true, deleteBranch: !exists }, ctx.env));
    } else {
      worktreePath = plannedPath;
      fs.mkdirSync(path.dirname(worktreePath), { recursive: true });
      // Pushed before the add: an interrupted `git worktree add` leaves a partial worktree to remove.
      const spawned = {
        branch: options.branch, worktree_path: worktreePath, created_branch: !exists, from_sha: fromSha,
      };
      undo.push(() => removeSpawnedWorktree(main.root, spawned, "this spawn"));
      await gitAdapter.worktreeAdd(main.root, worktreePath, options.branch, exists ? undefined : fromSha);
      throwIfInterrupted();
      const copied = await gtr.copyIncludedFiles(main.root, worktreePath, settings, ctx.warn);
      if (copied.length) {
        const names = `${copied.slice(0, 5).join(", ")}${copied.length > 5 ? ", …" : ""}`;
        ctx.warn(`copied ${copied.length} file(s) into the worktree: ${names}`);
      }
      const hookContext = { cwd: worktreePath, repoRoot: main.root, worktreePath, branch: options.branch };
      const failures = await gtr.runHooks("postCreate", settings, hookContext, ctx.env);
      throwIfInterrupted();
      if (failures.length) {
        const what = gtr.describeHookFailures("postCreate", failures);
        throw new OrchError("failed", `${what}; the worktree was removed again`);
      }
    }
    throwIfInterrupted();
    const sessionId = crypto.randomUUID();
    const shimDir = ensureShim(ctx.env);
    const launchSpec = {
      mainRoot: main.root, worktreePath, commonGitDir: repo.commonDir, storeRoot: layout.root,
      orchestratorId, workerId, plan: options.plan, sessionId, env: ctx.env, warn: ctx.warn,
      orchProgram: path.join(shimDir, "orch"),
    };
    const start = profile.start(launchSpec);
    const baseCommit = exists
      ? await gitAdapter.gitOut(["merge-base", fromSha, `refs/heads/${options.branch}`], main.root)
      : fromSha;
    const baseBranch = pending
      ? pending.base_branch
      : headBranchFromFiles(main) ?? (await gitAdapter.currentBranch(main.root));
    const baseTip = baseBranch ? await gitAdapter.refCommit(main, `refs/heads/${baseBranch}`) : undefined;
    const record: WorkerRecord = {
      ...(pending?.after ? { after: pending.after, after_landed: pending.after_landed } : {}),
      worker_id: workerId,
      branch: options.branch,
      orchestrator_id: orchestratorId,
      worktree_path: worktreePath,
      base_commit: baseCommit,
      base_branch: baseBranch,
      backend,
      agent: profile.name,
      agent_argv: start.argv,
      agent_prompt_placement: start.promptPlacement,
      agent_env: start.env,
      // An agent that picks its own id (Codex) gets it recorded by the runner once it has started.
      ...(profile.findSessionId ? {} : { agent_session_id: sessionId }),
      window_id: null,
      tmux_session: null,
      created_at: pending?.created_at ?? new Date().toISOString(),
      ...(baseTip ? { base_tip: baseTip } : {}),
    };
    const marker: WorkerMarker = {
      orchestrator_id: orchestratorId, worker_id: workerId, branch: options.branch, base_commit: baseCommit,
      store: layout.root,
    };
    fs.writeFileSync(path.join(gitAdapter.worktreeGitDir(worktreePath), MARKER_FILE), toJson(marker), { mode: 0o600 });
    throwIfInterrupted();
    if (pending) {
      // The prompt was written when the worker was recorded pending.
      saveWorker(layout, record);
      undo.push(async () => saveWorker(layout, pending));
    } else {
      const prompt = fullPrompt(options.prompt, { orchestratorId, workerId, branch: options.branch });
      if (!createWorker(layout, record, prompt)) throw createdMeanwhile(workerId);
      undo.push(async () => forgetWorker(layout, orchestratorId, workerId));
    }
    // From here on the worker has a record: what a kill -9 leaves is a worker that rm, stop and status see.
    journal?.close();
    if (baseBranch && baseTip) {
      const { rememberBaseTipIfNew } = await import("../store/coherence.ts");
      rememberBaseTipIfNew(layout, orchestratorId, repo, baseBranch, baseTip);
    }

    let tmuxSession: string | null = null;
    if (options.window) {
      for (const change of await profile.prepare(launchSpec)) ctx.warn(change);
      const { openWindow } = await import("../adapters/tmux.ts");
      throwIfInterrupted();
      const inTmux = Boolean(ctx.env.TMUX);
      const created = await openWindow({
        session: inTmux ? undefined : tmuxSessionName(main.root),
        name: workerId,
        cwd: worktreePath,
        env: { ...workerEnv(layout, record), PATH: `${shimDir}${path.delimiter}${ctx.env.PATH ?? ""}` },
        argv: windowArgv(record, shimDir),
      }, ctx.env);
      record.window_id = created.windowId;
      record.tmux_server = created.server;
      record.tmux_session = created.sessionName;
      tmuxSession = created.sessionName;
      saveWorker(layout, record);
      undo.push(async () => {
        const { killWindow } = await import("../adapters/tmux.ts");
        await killWindow(created.windowId, ctx.env, created.server);
      });
      throwIfInterrupted();
    }
    return { record, tmuxSession };
  } catch (error) {
    for (const step of undo.reverse()) {
      await step().catch((e: Error) => ctx.warn(`cleanup after the failed spawn: ${e.message}`));
    }
    throw error;
  }
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const { record, tmuxSession } = await runSpawn(parseSpawn(args, flags), ctx);
  if (record.pending) {
    const after = (record.after ?? []).join(", ");
    return {
      json: {
        success: true, worker_id: record.worker_id, branch: record.branch, worktree_path: null, window_id: null,
        orchestrator_id: record.orchestrator_id, agent: record.agent, status: "pending", after: record.after,
        base_branch: record.base_branch, host: record.host ?? null,
      },
      human: (c) => {
        const have = (record.after ?? []).length > 1 ? "have" : "has";
        const where = record.host ? ` on host ${record.host}` : "";
        const when = `starts${where} from ${record.base_branch} when ${after} ${have} landed`;
        return `${c.cyan("pending")} ${c.bold(record.worker_id)} (${record.branch}): ${when}\n`;
      },
    };
  }
  return {
    json: {
      success: true,
      worker_id: record.worker_id,
      branch: record.branch,
      worktree_path: record.worktree_path,
      window_id: record.window_id,
      orchestrator_id: record.orchestrator_id,
      agent: record.agent,
      base_commit: record.base_commit,
      tmux_session: tmuxSession,
      host: record.host ?? null,
      status: "running",
    },
    human: (c) => {
      const where = `${record.host ? `${record.host}:` : ""}${record.worktree_path}`;
      const window = record.window_id
        ? `  window ${record.window_id} in tmux session ${tmuxSession}, agent: ${record.agent}\n`
        : "  no window (--no-window)\n";
      return `${c.green("spawned")} ${c.bold(record.worker_id)} (${record.branch}) in ${where}\n${window}`;
    },
  };
}
