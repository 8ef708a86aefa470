// orch spawn: a worktree in git-gtr's layout, the worker's marker and record, a tmux window running
// the agent with the prompt (mirrors start_worktree_session).

import fs from "node:fs";
import path from "node:path";
import { fullPrompt } from "../agents/command.ts";
import { profileFor } from "../agents/index.ts";
import type { AgentProfile } from "../agents/profile.ts";
import * as gitAdapter from "../adapters/git.ts";
import * as gtr from "../adapters/gtr.ts";
import { headBranchFromFiles, mainWorktreeOf, readRefFromFiles, type Repo } from "../adapters/repo.ts";
import { MARKER_FILE, requireRepo, resolveSession, type Context, type WorkerMarker } from "../context.ts";
import { guardInterrupts, throwIfInterrupted } from "../interrupt.ts";
import { openJournal, removeSpawnedWorktree, repairSpawn } from "./spawn-journal.ts";
import { OrchError, usage } from "../errors.ts";
import { booleanFlag, stringFlag, type Flags } from "../flags.ts";
import { checkBranchName, workerIdForBranch } from "../ids.ts";
import { MAX_PROMPT_BYTES, readPromptFile, readStdinBounded } from "../input.ts";
import { ensureShim, selfCommand } from "../runtime.ts";
import { toJson } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
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
}

export function parseSpawn(args: string[], flags: Flags): SpawnOptions {
  const branch = checkBranchName(args[0] ?? "");
  const source = args[1];
  if (source !== undefined && source !== "-") throw usage(`unexpected argument ${JSON.stringify(source)}: the prompt goes in --prompt, --prompt-file or - (stdin)`);
  const text = stringFlag(flags, "prompt");
  const file = stringFlag(flags, "promptFile");
  if ([text !== undefined, file !== undefined, source === "-"].filter(Boolean).length > 1) throw usage("give the prompt once: --prompt, --prompt-file or - (stdin)");
  let prompt = text ?? "";
  if (file !== undefined) prompt = readPromptFile(file);
  if (source === "-") prompt = readStdinBounded(MAX_PROMPT_BYTES, "the prompt on standard input");
  const backend = stringFlag(flags, "backend");
  if (backend !== undefined && backend !== "git" && backend !== "gtr") throw usage(`--backend must be git or gtr, not ${JSON.stringify(backend)}`);
  const from = stringFlag(flags, "from");
  if (from !== undefined && (from === "" || from.startsWith("-"))) throw new OrchError("invalid", `bad --from ${JSON.stringify(from)}`);
  return {
    orch: stringFlag(flags, "orch"),
    branch,
    from,
    plan: booleanFlag(flags, "plan"),
    prompt,
    agent: stringFlag(flags, "agent") ?? "claude",
    window: flags.window !== false,
    backend,
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

function tmuxSessionName(mainRoot: string): string {
  return `orch-${path.basename(mainRoot).replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

/** The window's program: the agent runner, then the user's shell, so the window stays usable. */
function windowArgv(record: WorkerRecord): string[] {
  // A constant script: the runner's argv arrives as "$@", never as text for sh to parse.
  return ["/bin/sh", "-c", '"$@"; exec "${SHELL:-/bin/sh}"', "orch-agent", ...selfCommand(), "__agent", "--orch", record.orchestrator_id, record.worker_id];
}

export function workerEnv(layout: StoreLayout, record: WorkerRecord, env: NodeJS.ProcessEnv): Record<string, string> {
  return {
    ORCH_ID: record.orchestrator_id,
    ORCH_WORKER: record.worker_id,
    ORCH_HOME: layout.root,
    ORCH_PROMPT_FILE: layout.promptFile(record.orchestrator_id, record.worker_id),
    PATH: `${layout.binDir}${path.delimiter}${env.PATH ?? ""}`,
  };
}

export async function runSpawn(options: SpawnOptions, ctx: Context): Promise<SpawnResult> {
  const { layout, session } = await resolveSession(ctx, options.orch);
  const repo = await requireRepo(ctx);
  return guardInterrupts(() => spawnWorker(options, layout, session.orchestrator_id, repo, ctx));
}

async function spawnWorker(options: SpawnOptions, layout: StoreLayout, orchestratorId: string, repo: Repo, ctx: Context): Promise<SpawnResult> {
  const main = mainWorktreeOf(repo);
  const workerId = workerIdForBranch(options.branch);
  const profile: AgentProfile = options.agentArgv
    ? { name: path.basename(options.agentArgv[0] ?? "agent"), start: () => ({ argv: options.agentArgv!, promptPlacement: "last", env: {} }), prepare: async () => [] }
    : await profileFor(options.agent);
  // What a spawn of this worker killed with -9 left (worktree, branch) goes first, so it can be made again.
  for (const line of await repairSpawn(layout, orchestratorId, workerId, main.root)) ctx.warn(line);
  if (findWorker(layout, orchestratorId, workerId)) {
    throw new OrchError("exists", `worker ${workerId} already exists in session ${orchestratorId} (orch rm ${workerId} first)`);
  }
  const [settings, exists, fromSha] = await Promise.all([
    gitAdapter.readSettings(main.root),
    localBranchExists(main, options.branch),
    resolveFrom(main, options.from),
  ]);
  const backend = options.backend ?? (gitAdapter.lastSetting(settings, "orch.backend") === "gtr" ? "gtr" : "git");
  if (backend === "gtr" && !(await gtr.gtrAvailable(ctx.env))) throw new OrchError("failed", "backend gtr was chosen but `git gtr` is not installed (see https://github.com/coderabbitai/git-worktree-runner)");
  throwIfInterrupted();

  const plannedPath = gtr.worktreePathFor(main.root, options.branch, settings, ctx.env);
  if (backend === "git" && fs.existsSync(plannedPath)) throw new OrchError("exists", `${plannedPath} already exists`);
  const journal = await openJournal(layout, orchestratorId, {
    worker_id: workerId, branch: options.branch, worktree_path: plannedPath, created_branch: !exists, from_sha: fromSha,
  }, main.root, ctx.warn);
  const undo: (() => Promise<unknown>)[] = [async () => journal.close()];
  try {
    let worktreePath: string;
    if (backend === "gtr") {
      worktreePath = await gtr.gtrNew(main.root, options.branch, options.from ?? fromSha, ctx.env);
      undo.push(() => gtr.gtrRemove(main.root, options.branch, { force: true, deleteBranch: !exists }, ctx.env));
    } else {
      worktreePath = plannedPath;
      fs.mkdirSync(path.dirname(worktreePath), { recursive: true });
      // Pushed before the add: an interrupted `git worktree add` leaves a partial worktree to remove.
      const spawned = { branch: options.branch, worktree_path: worktreePath, created_branch: !exists, from_sha: fromSha };
      undo.push(() => removeSpawnedWorktree(main.root, spawned, "this spawn"));
      await gitAdapter.worktreeAdd(main.root, worktreePath, options.branch, exists ? undefined : fromSha);
      throwIfInterrupted();
      const copied = await gtr.copyIncludedFiles(main.root, worktreePath, settings, ctx.warn);
      if (copied.length) ctx.warn(`copied ${copied.length} file(s) into the worktree: ${copied.slice(0, 5).join(", ")}${copied.length > 5 ? ", …" : ""}`);
      const failures = await gtr.runHooks("postCreate", settings, { cwd: worktreePath, repoRoot: main.root, worktreePath, branch: options.branch }, ctx.env);
      throwIfInterrupted();
      if (failures.length) throw new OrchError("failed", `${gtr.describeHookFailures("postCreate", failures)}; the worktree was removed again`);
    }
    throwIfInterrupted();
    const sessionId = crypto.randomUUID();
    const launchSpec = {
      mainRoot: main.root, worktreePath, commonGitDir: repo.commonDir, storeRoot: layout.root,
      orchestratorId, workerId, plan: options.plan, sessionId, env: ctx.env, warn: ctx.warn,
    };
    const start = profile.start(launchSpec);
    const baseCommit = exists ? (await gitAdapter.gitOut(["merge-base", fromSha, `refs/heads/${options.branch}`], main.root)) : fromSha;
    const record: WorkerRecord = {
      worker_id: workerId,
      branch: options.branch,
      orchestrator_id: orchestratorId,
      worktree_path: worktreePath,
      base_commit: baseCommit,
      base_branch: headBranchFromFiles(main) ?? (await gitAdapter.currentBranch(main.root)),
      backend,
      agent: profile.name,
      agent_argv: start.argv,
      agent_prompt_placement: start.promptPlacement,
      agent_env: start.env,
      agent_session_id: sessionId,
      window_id: null,
      tmux_session: null,
      created_at: new Date().toISOString(),
    };
    const marker: WorkerMarker = { orchestrator_id: orchestratorId, worker_id: workerId, branch: options.branch, base_commit: baseCommit, store: layout.root };
    fs.writeFileSync(path.join(gitAdapter.worktreeGitDir(worktreePath), MARKER_FILE), toJson(marker), { mode: 0o600 });
    const prompt = fullPrompt(options.prompt, { orchestratorId, workerId, branch: options.branch });
    throwIfInterrupted();
    if (!createWorker(layout, record, prompt)) throw new OrchError("exists", `worker ${workerId} was created by another spawn at the same time`);
    undo.push(async () => forgetWorker(layout, orchestratorId, workerId));
    // From here on the worker has a record: what a kill -9 leaves is a worker that rm, stop and status see.
    journal.close();

    let tmuxSession: string | null = null;
    if (options.window) {
      for (const change of await profile.prepare(launchSpec)) ctx.warn(change);
      const { openWindow } = await import("../adapters/tmux.ts");
      ensureShim(layout.binDir);
      throwIfInterrupted();
      const inTmux = Boolean(ctx.env.TMUX);
      const created = await openWindow({
        session: inTmux ? undefined : tmuxSessionName(main.root),
        name: workerId,
        cwd: worktreePath,
        env: workerEnv(layout, record, ctx.env),
        argv: windowArgv(record),
      }, ctx.env);
      record.window_id = created.windowId;
      record.tmux_session = created.sessionName;
      tmuxSession = created.sessionName;
      saveWorker(layout, record);
      undo.push(async () => {
        const { killWindow } = await import("../adapters/tmux.ts");
        await killWindow(created.windowId, ctx.env);
      });
      throwIfInterrupted();
    }
    return { record, tmuxSession };
  } catch (error) {
    for (const step of undo.reverse()) await step().catch((e: Error) => ctx.warn(`cleanup after the failed spawn: ${e.message}`));
    throw error;
  }
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const { record, tmuxSession } = await runSpawn(parseSpawn(args, flags), ctx);
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
    },
    human: (c) =>
      `${c.green("spawned")} ${c.bold(record.worker_id)} (${record.branch}) in ${record.worktree_path}\n` +
      (record.window_id ? `  window ${record.window_id} in tmux session ${tmuxSession}, agent: ${record.agent}\n` : "  no window (--no-window)\n"),
  };
}
