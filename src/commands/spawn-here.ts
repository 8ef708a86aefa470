// A worker made on this machine (orch spawn, and a pending worker's start): a worktree in git-gtr's
// layout, the worker's marker and record, a tmux window running the agent with the prompt. Loaded by
// spawn.ts while git reads what it needs (readSpawnInputs).

import fs from "node:fs";
import path from "node:path";
import { forgetCallerEnv, leaveCallerEnv } from "../agents/caller-env.ts";
import { fullPrompt } from "../agents/command.ts";
import { profileFor } from "../agents/index.ts";
import type { AgentProfile } from "../agents/profile.ts";
import * as gitAdapter from "../adapters/git.ts";
import { REPOSITORY_GIT_VARIABLES, programEnv } from "../adapters/exec.ts";
import * as gtr from "../adapters/gtr.ts";
import { headBranchFromFiles, mainWorktreeOf, readRefFromFiles, type Repo } from "../adapters/repo.ts";
import { MARKER_FILE, requireRepo, type Context, type WorkerMarker } from "../context.ts";
import { throwIfInterrupted } from "../interrupt.ts";
import { openJournal, removeSpawnedWorktree, repairSpawnsOf, type JournalHandle } from "./spawn-journal.ts";
import { OrchError } from "../errors.ts";
import { processStartTime } from "../proc.ts";
import { ensureShim, selfCommand, shimHome, shimNeedsWriting } from "../runtime.ts";
import { toJson } from "../store/files.ts";
import { workerIdForBranch } from "../ids.ts";
import type { StoreLayout } from "../store/layout.ts";
import { newMessage, sendMessage } from "../store/messages.ts";
import { pickableSessions } from "../store/sessions.ts";
import {
  createWorker, findWorker, forgetWorker, listWorkers, saveWorker, type WorkerRecord,
} from "../store/workers.ts";
import { claimResume, releaseResume, resumeClaimHeld } from "../store/worker-claims.ts";
import { reportStartQuestions } from "../store/worker-status.ts";
import {
  BRANCH_NOT_NEW, notACommit, readSpawnInputs, startingBase, type SpawnInputs, type SpawnOptions, type SpawnResult,
} from "./spawn.ts";

export { repairSpawnsOf } from "./spawn-journal.ts";

/** Removes `from` and the folders above it up to `top` (the first one this spawn made), while empty. */
function removeEmptyFolders(from: string, top: string): void {
  for (let folder = from; ; folder = path.dirname(folder)) {
    try {
      fs.rmdirSync(folder);
    } catch {
      return;
    }
    if (folder === top || path.dirname(folder) === folder) return;
  }
}

/** `sha` as the commit it names; not_found (the --from error) when it names none here. */
async function checkedBase(main: Repo, sha: string): Promise<string> {
  const commit = await gitAdapter.resolveCommit(main.root, sha);
  if (!commit) throw notACommit(sha, main);
  return commit;
}

/** Where `branch`, just created from `from`, points: from git's files, else git's answer. */
async function createdAt(main: Repo, branch: string, from: string): Promise<string> {
  const tip = readRefFromFiles(main, `refs/heads/${branch}`);
  return tip && "sha" in tip ? tip.sha : checkedBase(main, from);
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

/**
 * What a worker's window is opened with (by spawn and resume): orch's variables, and PATH with orch's shim folder
 * first. The agent's variables of the shell that runs the command (its provider, credentials, config folder),
 * which the window would otherwise take from the tmux server's environment, go to the runner another way
 * (leaveCallerEnv): tmux's command line is in the process list.
 */
export function windowEnv(layout: StoreLayout, record: WorkerRecord, shimDir: string, env: NodeJS.ProcessEnv) {
  return { ...workerEnv(layout, record), PATH: `${shimDir}${path.delimiter}${env.PATH ?? ""}` };
}

export async function profileOf(options: Pick<SpawnOptions, "agent" | "agentArgv">): Promise<AgentProfile> {
  const argv = options.agentArgv;
  if (argv) {
    const start = () => ({ argv, promptPlacement: "last" as const, env: {} });
    return { name: path.basename(argv[0] ?? "agent"), start, prepare: async () => [] };
  }
  return profileFor(options.agent);
}

/** The resume claim of a pending worker this command starts (see createAndStart); refused when another has it. */
function claimPendingStart(layout: StoreLayout, pending: WorkerRecord): void {
  const claim = claimResume(layout, pending, "spawn");
  if (claim === "gone") throw removedMeanwhile(pending.worker_id);
  if (claim === "held") throw resumeClaimHeld(layout, pending);
}

/** Saves a worker this command makes; one an rm removed meanwhile is said so, not as a raw ENOENT. */
function saveStarted(layout: StoreLayout, record: WorkerRecord): void {
  try {
    saveWorker(layout, record);
  } catch (error) {
    if (!findWorker(layout, record.orchestrator_id, record.worker_id)) throw removedMeanwhile(record.worker_id);
    throw error;
  }
}

function removedMeanwhile(workerId: string): OrchError {
  return new OrchError("not_found", `no worker ${workerId}: another orch command removed it meanwhile`);
}

function createdMeanwhile(workerId: string): OrchError {
  return new OrchError("exists", `worker ${workerId} was created by another spawn at the same time`);
}

/**
 * spawn --after: the worker is recorded pending, with its prompt and agent, and no worktree yet. With
 * --host (no profile here) the host is kept on the record, and the prompt as given, which goes to the
 * host's orch when it starts (as spawn --host records it).
 */
export async function recordPending(
  layout: StoreLayout, orchestratorId: string, repo: Repo, options: SpawnOptions, profile: AgentProfile | undefined,
  after: string[],
): Promise<WorkerRecord> {
  const main = mainWorktreeOf(repo);
  const baseBranch = headBranchFromFiles(main) ?? (await gitAdapter.currentBranch(main.root));
  if (!baseBranch) {
    const message = `the main worktree ${main.root} has a detached HEAD: --after needs a base branch to start from`;
    throw new OrchError("refused", message);
  }
  // Refused now rather than when it starts: a branch only a remote has (see refuseRemoteOnlyBranch).
  if (options.host === undefined && options.from === undefined && !(await localBranchExists(main, options.branch))) {
    refuseRemoteOnlyBranch(options.branch, await remoteBranchesOf(main, options.branch));
  }
  const workerId = options.workerId ?? workerIdForBranch(options.branch);
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
 * now, its window and agent. The caller holds its claim (claimStart), so it starts once; a failed start
 * makes it failed, reported.
 */
export async function startPendingWorker(
  layout: StoreLayout, pending: WorkerRecord, ctx: Context,
): Promise<WorkerRecord> {
  const spec = pending.pending_spawn;
  if (!spec || !pending.base_branch) {
    throw new OrchError("failed", `worker ${pending.worker_id} has no recorded spawn to start`);
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
    // A start of it killed with -9 half-way left its worktree and branch: removed first, so it starts anew.
    for (const line of await repairSpawnsOf(layout, pending.orchestrator_id, pending.branch, repo.mainRoot)) {
      ctx.warn(line);
    }
    const profile = await profileOf(options);
    const inputs = readSpawnInputs(repo, options.from);
    const start = { inputs, pending };
    const { record } = await createAndStart(layout, pending.orchestrator_id, repo, options, profile, ctx, start);
    return record;
  } catch (error) {
    // Removed meanwhile (an rm of it while it started): nothing is left to record the failure in.
    if (!findWorker(layout, pending.orchestrator_id, pending.worker_id)) throw error;
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

/** The remote-tracking branches of `branch` (origin/feat/x), which a spawn without --from must not hide. */
async function remoteBranchesOf(main: Repo, branch: string): Promise<string[]> {
  const pattern = `refs/remotes/*/${branch}`;
  const listed = await gitAdapter.gitOut(["for-each-ref", "--format=%(refname:short)", pattern], main.root);
  return listed.split("\n").filter(Boolean);
}

/**
 * A branch that is not here but is a remote's (origin/feat/x): git switch and git worktree add would make it
 * from the remote's, while spawn would start it over from HEAD and hide that work. Refused, naming both ways.
 */
function refuseRemoteOnlyBranch(branch: string, remotes: string[]): void {
  if (remotes.length === 0) return;
  const make = `git branch --track ${branch} ${remotes[0]}`;
  throw new OrchError("refused", `${branch} is no branch here, but ${remotes.join(" and ")} is: ${make} makes it ` +
    `(spawn then checks it out as it is), or --from HEAD starts a new ${branch}; nothing was made`);
}

/** git config orch.backend, as git takes a config value it does not know: refused, never read as "git". */
function configuredBackend(value: string | undefined): "git" | "gtr" {
  if (value === undefined || value === "git" || value === "gtr") return value ?? "git";
  throw new OrchError("invalid", `bad git config orch.backend ${JSON.stringify(value)}: it must be git or gtr`);
}

/**
 * Run in a sandbox (Codex as the orchestrator), spawn would make half a worker: what it must write (the git
 * dir, the worktrees folder, orch's shim) and tmux's socket are checked before anything is made.
 */
async function refuseSandboxed(
  repo: Repo, plannedPath: string, window: boolean, env: NodeJS.ProcessEnv,
): Promise<void> {
  const { insideCodex, refuseReadOnlyFolders, refuseBlockedTmux } = await import("../sandbox.ts");
  if (!insideCodex(env)) return; // nothing to ask (the shim's check reads a file) for anyone else
  refuseReadOnlyFolders([
    { dir: repo.commonDir, why: "git worktree add records the worktree and its branch in the git dir" },
    { dir: path.dirname(plannedPath), why: "the worker's worktree goes there" },
    ...(shimNeedsWriting(env) ? [{ dir: shimHome(env), why: "orch puts the shim its agents run there" }] : []),
  ], env);
  if (window) await refuseBlockedTmux(env);
}

/**
 * ": it is worker W of session S…" when the folder a spawn would create is the worktree of another session's worker
 * (two orchestrators at one repository spawning the same branch), else "": the other session is named, so that
 * its worker is not taken for a stale folder to remove.
 */
function otherSessionsWorker(layout: StoreLayout, orchestratorId: string, worktree: string): string {
  try {
    for (const session of pickableSessions(layout)) {
      if (session.orchestrator_id === orchestratorId) continue;
      const owner = listWorkers(layout, session.orchestrator_id).find((w) => w.worktree_path === worktree);
      if (owner) {
        return `: it is worker ${owner.worker_id} of session ${session.orchestrator_id}, another orchestrator session ` +
          "of this repository (spawn another branch, or leave that worker to its session)";
      }
    }
  } catch {
    // Only a better message is lost: the folder is there all the same.
  }
  return "";
}

/** Creates the worktree, the record (or completes a pending one), the window and the agent. */
export async function createAndStart(
  layout: StoreLayout,
  orchestratorId: string,
  repo: Repo,
  options: SpawnOptions,
  profile: AgentProfile,
  ctx: Context,
  start: { inputs: SpawnInputs; pending?: WorkerRecord },
): Promise<SpawnResult> {
  const { pending } = start;
  const main = mainWorktreeOf(repo);
  // A pending worker keeps the id it was recorded under (its digest id, or an earlier build's).
  const workerId = pending?.worker_id ?? options.workerId ?? workerIdForBranch(options.branch);
  // Asked at once; a branch only a remote has matters only when it is not here and no --from was given.
  const [settings, exists, base, remotes] = await Promise.all([
    start.inputs.settings,
    localBranchExists(main, options.branch),
    start.inputs.base,
    options.from === undefined ? remoteBranchesOf(main, options.branch) : [],
  ]);
  if (!exists) refuseRemoteOnlyBranch(options.branch, remotes);
  if (exists && options.newBranch) {
    throw new OrchError("exists", `branch ${options.branch} exists already in ${main.root} (${BRANCH_NOT_NEW})`);
  }
  // A base that git has not looked at yet is checked by the add; an existing branch's merge-base needs it now.
  let fromSha = exists && !base.checked ? await checkedBase(main, base.sha) : base.sha;
  const baseChecked = base.checked || exists;
  const backend = options.backend ?? configuredBackend(gitAdapter.lastSetting(settings, "orch.backend"));
  if (backend === "gtr" && !(await gtr.gtrAvailable(ctx.env))) {
    const where = "see https://github.com/coderabbitai/git-worktree-runner";
    throw new OrchError("failed", `backend gtr was chosen but \`git gtr\` is not installed (${where})`);
  }
  throwIfInterrupted();

  const plannedPath = gtr.worktreePathFor(repo.projectRoot, options.branch, settings, ctx.env);
  if (backend === "git" && fs.existsSync(plannedPath)) {
    const whose = otherSessionsWorker(layout, orchestratorId, plannedPath);
    throw new OrchError("exists", `${plannedPath} already exists${whose}`);
  }
  await refuseSandboxed(repo, plannedPath, options.window, ctx.env);
  // Journaled until its record says it was made (a pending worker's: until it is recorded started), so that
  // what a start killed with -9 left is removed before the next one (see repairSpawn).
  const journaled = {
    worker_id: workerId, branch: options.branch, worktree_path: plannedPath, created_branch: !exists, from_sha: fromSha,
  };
  let journal: JournalHandle | undefined = await openJournal(layout, orchestratorId, journaled, main.root, ctx.warn);
  let undoFailed = false;
  // Run last: an undo that failed (git or tmux could not start: the process limit) leaves the journal, written
  // again if the record had closed it, so that status names what is left and rm, clean or the next spawn removes it.
  const undo: (() => Promise<unknown>)[] = [async () => {
    if (!undoFailed) return journal?.close();
    journal ??= await openJournal(layout, orchestratorId, journaled, main.root, ctx.warn);
    const removedBy = `orch rm ${workerId}, orch clean or its next spawn`;
    ctx.warn(`what this spawn of ${options.branch} left is removed by ${removedBy}`);
  }];
  // The worker's resume claim, held from its started record until its window is recorded (see ResumeClaimer).
  let holdsResume = false;
  try {
    let worktreePath: string;
    if (backend === "gtr") {
      if (!baseChecked) fromSha = await checkedBase(main, fromSha);
      worktreePath = await gtr.gtrNew(main.root, options.branch, options.from ?? fromSha, ctx.env);
      undo.push(() => gtr.gtrRemove(main.root, options.branch, { force: true, deleteBranch: !exists }, ctx.env));
    } else {
      worktreePath = plannedPath;
      const madeFolder = fs.mkdirSync(path.dirname(worktreePath), { recursive: true });
      if (madeFolder !== undefined) undo.push(async () => removeEmptyFolders(path.dirname(worktreePath), madeFolder));
      // Pushed before the add: an interrupted `git worktree add` leaves a partial worktree to remove.
      const spawned = {
        branch: options.branch, worktree_path: worktreePath, created_branch: !exists, from_sha: fromSha,
      };
      undo.push(() => removeSpawnedWorktree(main.root, spawned, "this spawn"));
      try {
        const createFrom = exists ? undefined : fromSha;
        const hookSaid = await gitAdapter.worktreeAdd(main.root, worktreePath, options.branch, createFrom);
        if (hookSaid !== undefined) {
          ctx.warn(`your post-checkout hook failed in the new worktree (git's checkout is whole): ${hookSaid}`);
        }
      } catch (error) {
        // A base not checked yet that is no commit here is said as such (nothing was made).
        if (!baseChecked) await checkedBase(main, fromSha);
        throw error;
      }
      // The new branch is at the commit the id named (an annotated tag's id is peeled to it).
      if (!baseChecked) fromSha = await createdAt(main, options.branch, fromSha);
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
      const empty = await gitAdapter.submodulesNotCheckedOut(main.root, worktreePath);
      if (empty.length) {
        ctx.warn(`submodule(s) ${empty.join(", ")} are not checked out in the worktree (git worktree add does ` +
          "not check out submodules): in it, git submodule update --init --recursive checks them out");
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
    const { baseBranch, baseTip } = await startingBase(main, pending);
    // Kept until the window is recorded: a spawn killed in between leaves a record that says so (status reads it).
    const openingWindow = { pid: process.pid, start_time: processStartTime(process.pid) ?? null };
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
      ...(options.window ? { opening_window: openingWindow } : {}),
    };
    const marker: WorkerMarker = {
      orchestrator_id: orchestratorId, worker_id: workerId, branch: options.branch, base_commit: baseCommit,
      store: layout.root,
    };
    fs.writeFileSync(path.join(gitAdapter.worktreeGitDir(worktreePath), MARKER_FILE), toJson(marker), { mode: 0o600 });
    throwIfInterrupted();
    if (pending) {
      // With its window to come, under the resume claim until the window is recorded, as a new worker (a stop
      // or rm that read the started record before the window was there ended nothing). The prompt was written
      // when the worker was recorded pending.
      if (options.window) {
        claimPendingStart(layout, pending);
        holdsResume = true;
      }
      undo.push(async () => {
        if (findWorker(layout, orchestratorId, workerId)) saveWorker(layout, pending);
        // Only while this start holds it: a stop may have taken it since.
        if (holdsResume) releaseResume(layout, record);
      });
      saveStarted(layout, record);
    } else {
      const prompt = fullPrompt(options.prompt, { orchestratorId, workerId, branch: options.branch });
      // With its window to come, under the resume claim until the window is recorded (see ResumeClaimer).
      if (!createWorker(layout, record, prompt, options.window ? "spawn" : undefined)) throw createdMeanwhile(workerId);
      holdsResume = options.window;
      undo.push(async () => forgetWorker(layout, orchestratorId, workerId));
    }
    // From here on the worker has a record: what a kill -9 leaves is a worker that rm, stop and status see.
    journal.close();
    journal = undefined;
    if (baseBranch && baseTip) {
      const { rememberBaseTipIfNew } = await import("../store/coherence.ts");
      rememberBaseTipIfNew(layout, orchestratorId, repo, baseBranch, baseTip);
    }

    let tmuxSession: string | null = null;
    if (options.window) {
      for (const change of await profile.prepare(launchSpec)) ctx.warn(change);
      // Blocked before the agent starts: the first turn it takes once someone answered makes it running.
      if (start.questions?.length) reportStartQuestions(layout, record, profile.name, start.questions, ctx.warn);
      const { openWindow, killWindow } = await import("../adapters/tmux.ts");
      throwIfInterrupted();
      // Pushed before the window is asked for, and undone as stop does it: the worker is recorded stopped
      // first (its runner, hung up on, reports no failure for a worker that is going), then its window (by id,
      // once tmux said it) and every process that carries its ORCH_ID and ORCH_WORKER are ended.
      undo.push(async () => {
        if (!pending) {
          if (holdsResume) releaseResume(layout, record); // stopHere takes it again
          return (await import("./lifecycle.ts")).stopHere(layout, record, ctx);
        }
        // A pending worker's record goes back to pending: a stopped event would outlive its next start.
        if (record.window_id) await killWindow(record.window_id, ctx.env, record.tmux_server);
        const { planWorkerEnd } = await import("../adapters/processes.ts");
        return planWorkerEnd({ orchestratorId, workerId }, undefined)();
      });
      leaveCallerEnv(layout, record, ctx.env, profile.passedEnv);
      undo.push(async () => forgetCallerEnv(layout, record));
      const inTmux = Boolean(ctx.env.TMUX);
      const created = await openWindow({
        session: inTmux ? undefined : tmuxSessionName(main.root),
        name: workerId,
        cwd: worktreePath,
        env: windowEnv(layout, record, shimDir, ctx.env),
        argv: windowArgv(record, shimDir),
      }, ctx.env);
      record.window_id = created.windowId;
      record.tmux_pane = created.paneId;
      record.tmux_server = created.server;
      record.tmux_session = created.sessionName;
      delete record.opening_window;
      tmuxSession = created.sessionName;
      saveStarted(layout, record);
      // A stop or rm that waited for it now finds the window to close.
      releaseResume(layout, record);
      holdsResume = false;
      throwIfInterrupted();
    }
    return { record, tmuxSession };
  } catch (error) {
    for (const step of undo.reverse()) {
      await step().catch((e: Error) => {
        undoFailed = true;
        ctx.warn(`cleanup after the failed spawn: ${e.message}`);
      });
    }
    throw error;
  }
}

